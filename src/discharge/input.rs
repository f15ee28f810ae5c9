//! What a discharge summary save or version patch may carry, checked before
//! anything is read or written.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::model::{STATUSES, STATUS_DRAFT};
use crate::error::{ApiError, ApiResult};

/// A version's JSON is at most this many bytes (413 above).
pub const MAX_VERSION_BYTES: usize = 200 * 1024;

/// `POST /patients/{id}/discharge`, top-level names in either spelling;
/// section and field names inside `sections` are the client's own.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SaveBody {
    pub status: Option<String>,
    pub sections: Option<Value>,
    pub summary: Option<Value>,
    pub mdx: Option<String>,
    pub author_id: Option<String>,
    pub author_name: Option<String>,
    pub commit_message: Option<String>,
}

/// A save, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Save {
    pub status: String,
    pub sections: Value,
    pub summary: Value,
    pub mdx: Option<String>,
    pub author_id: Option<String>,
    pub author_name: Option<String>,
    pub commit_message: Option<String>,
}

impl SaveBody {
    pub fn validate(self) -> ApiResult<Save> {
        let status = match &self.status {
            Some(raw) => status(raw)?,
            None => STATUS_DRAFT.to_string(),
        };
        let sections = sections(self.sections)?;
        let has_sections = sections.as_object().is_some_and(|s| !s.is_empty());
        if !has_sections && self.mdx.is_none() {
            return Err(ApiError::bad_request(
                "sections (at least one) or mdx is required",
            ));
        }
        Ok(Save {
            status,
            sections,
            summary: summary(self.summary)?,
            mdx: self.mdx,
            author_id: text(self.author_id),
            author_name: text(self.author_name),
            commit_message: text(self.commit_message),
        })
    }
}

/// `PATCH .../discharge/versions/{versionId}`: only these two.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PatchBody {
    pub status: Option<String>,
    pub commit_message: Option<String>,
}

/// A patch, checked: at least one of the two.
#[derive(Debug, Clone, PartialEq)]
pub struct Patch {
    pub status: Option<String>,
    pub commit_message: Option<String>,
}

impl PatchBody {
    pub fn validate(self) -> ApiResult<Patch> {
        if self.status.is_none() && self.commit_message.is_none() {
            return Err(ApiError::bad_request(
                "Nothing to update: send status and/or commitMessage (content is immutable)",
            ));
        }
        Ok(Patch {
            status: self.status.as_deref().map(status).transpose()?,
            commit_message: self.commit_message,
        })
    }
}

fn text(value: Option<String>) -> Option<String> {
    value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn status(raw: &str) -> ApiResult<String> {
    let s = raw.trim().to_ascii_lowercase();
    if STATUSES.contains(&s.as_str()) {
        Ok(s)
    } else {
        Err(ApiError::bad_request(
            "status must be one of draft, published, archived",
        ))
    }
}

/// An object of sections, each an object of string fields; nothing deeper.
fn sections(value: Option<Value>) -> ApiResult<Value> {
    let map = match value {
        None | Some(Value::Null) => return Ok(Value::Object(Map::new())),
        Some(Value::Object(map)) => map,
        Some(_) => return Err(ApiError::bad_request("sections must be an object")),
    };
    for (name, section) in &map {
        let Value::Object(fields) = section else {
            return Err(ApiError::bad_request(format!(
                "sections.{name} must be an object of text fields"
            )));
        };
        if let Some((field, _)) = fields.iter().find(|(_, v)| !v.is_string()) {
            return Err(ApiError::bad_request(format!(
                "sections.{name}.{field} must be a string"
            )));
        }
    }
    Ok(Value::Object(map))
}

/// `{diagnosis, dod}` (strings or null) or null.
fn summary(value: Option<Value>) -> ApiResult<Value> {
    let bad = || ApiError::bad_request("summary must be {diagnosis, dod} of strings, or null");
    match value {
        None | Some(Value::Null) => Ok(Value::Null),
        Some(Value::Object(map)) => {
            let known = ["diagnosis", "dod"];
            if map
                .iter()
                .any(|(k, v)| !known.contains(&k.as_str()) || !(v.is_string() || v.is_null()))
            {
                return Err(bad());
            }
            Ok(Value::Object(map))
        }
        Some(_) => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn save(body: Value) -> ApiResult<Save> {
        serde_json::from_value::<SaveBody>(body)
            .map_err(|e| ApiError::bad_request(e.to_string()))?
            .validate()
    }

    #[test]
    fn sections_are_objects_of_strings_and_nothing_deeper() {
        // Given sections whose names are the client's own (snake_case kept)
        let ok = save(json!({"sections": {"chief_complaint": {"onset_date": "2 days"}}})).unwrap();
        assert_eq!(ok.sections["chief_complaint"]["onset_date"], "2 days");
        assert_eq!(ok.status, "draft");
        // Then a deeper value, a non-string field or a non-object is a 400
        for bad in [
            json!({"sections": {"a": {"b": {"c": "too deep"}}}}),
            json!({"sections": {"a": {"b": 1}}}),
            json!({"sections": {"a": "text"}}),
            json!({"sections": ["a"]}),
            json!({"sections": {}}),
            json!({}),
        ] {
            assert_eq!(
                save(bad.clone()).unwrap_err().status().as_u16(),
                400,
                "{bad}"
            );
        }
        // And mdx alone is a summary too
        assert!(save(json!({"mdx": "# Discharge"})).is_ok());
    }

    #[test]
    fn status_and_summary_are_closed() {
        let s = save(json!({"status": " Published ", "mdx": "x", "summary": {"diagnosis": "d", "dod": null}}))
            .unwrap();
        assert_eq!(s.status, "published");
        assert_eq!(s.summary["diagnosis"], "d");
        for bad in [
            json!({"status": "final", "mdx": "x"}),
            json!({"summary": {"diagnosis": 3}, "mdx": "x"}),
            json!({"summary": {"other": "x"}, "mdx": "x"}),
            json!({"summary": "text", "mdx": "x"}),
        ] {
            assert_eq!(
                save(bad.clone()).unwrap_err().status().as_u16(),
                400,
                "{bad}"
            );
        }
    }

    #[test]
    fn a_patch_names_status_or_message_only() {
        let patch = |v: Value| {
            serde_json::from_value::<PatchBody>(v)
                .map_err(|e| ApiError::bad_request(e.to_string()))
                .and_then(PatchBody::validate)
        };
        assert_eq!(
            patch(json!({"status": "archived"}))
                .unwrap()
                .status
                .as_deref(),
            Some("archived")
        );
        for bad in [json!({}), json!({"sections": {}}), json!({"status": "x"})] {
            assert!(patch(bad.clone()).is_err(), "{bad}");
        }
    }
}
