//! Input rules shared by every domain: text that must be present, and text
//! that ends up inside a table key (bounded, no control characters).

use serde::{Deserialize, Deserializer};

use crate::error::{ApiError, ApiResult};

/// For `#[serde(default, deserialize_with = "present")]`: tells a field
/// sent as `null` (`Some(None)`: clear it) from one not sent (`None`).
pub fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

pub fn clean(v: &Option<String>) -> Option<String> {
    v.as_ref()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// A required, non-empty text field.
pub fn required(value: &Option<String>, field: &str) -> ApiResult<String> {
    clean(value).ok_or_else(|| ApiError::bad_request(format!("{field} is required")))
}

/// MRNs and department names end up in keys: bounded and free of control characters.
pub fn key_text(value: &str, field: &str) -> ApiResult<String> {
    let v = value.trim();
    if v.is_empty() || v.len() > 128 || v.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "{field} must be 1-128 characters without control characters"
        )));
    }
    Ok(v.to_string())
}

/// Trimmed text, `None` when empty, at most `max` characters: above, a 400
/// naming the field and its limit. Every free-text field goes through this
/// (or a rule of its own with a limit), so no item can outgrow DynamoDB's
/// 400 KB through the API.
pub fn text_within(value: &Option<String>, field: &str, max: usize) -> ApiResult<Option<String>> {
    let value = clean(value);
    if value.as_ref().is_some_and(|v| v.chars().count() > max) {
        return Err(ApiError::bad_request(format!(
            "{field} is longer than {max} characters"
        )));
    }
    Ok(value)
}

/// A list of short texts: at most `max_items`, each within `max_len`;
/// blanks dropped.
pub fn texts_within(
    values: &[String],
    field: &str,
    max_items: usize,
    max_len: usize,
) -> ApiResult<Vec<String>> {
    if values.len() > max_items {
        return Err(ApiError::bad_request(format!(
            "{field} holds at most {max_items} items"
        )));
    }
    let mut out = Vec::new();
    for v in values {
        if let Some(v) = text_within(&Some(v.clone()), field, max_len)? {
            out.push(v);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_trimmed_and_bounded_by_characters() {
        assert_eq!(
            text_within(&Some("  a ".into()), "f", 1)
                .unwrap()
                .as_deref(),
            Some("a")
        );
        assert_eq!(text_within(&Some("   ".into()), "f", 1).unwrap(), None);
        // Characters, not bytes: two Devanagari letters fit a limit of 2
        assert!(text_within(&Some("अब".into()), "f", 2).is_ok());
        let err = text_within(&Some("abc".into()), "caption", 2).unwrap_err();
        assert_eq!(err.status().as_u16(), 400);
        assert!(err.to_string().contains("caption"));
        let many = vec!["x".to_string(); 3];
        assert!(texts_within(&many, "items", 2, 5).is_err());
        assert_eq!(
            texts_within(&["a ".into(), "".into()], "items", 2, 5).unwrap(),
            ["a"]
        );
    }
}
