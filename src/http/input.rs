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
