//! Task fields as requests send them (camelCase or snake_case), validated
//! before anything is read or written, then applied onto a task item. Create
//! and patch share it: create additionally requires some fields.

use serde::Deserialize;
use serde_json::Value;

use super::model::{one_of, TaskItem, PRIORITIES, STATUSES, TYPES};
use crate::clock;
use crate::error::{ApiError, ApiResult};
use crate::http::input::key_text;
use crate::http::nullable;

const MAX_TITLE: usize = 500;
/// Free-form fields: characters of a string, or bytes of an object's JSON.
const MAX_RECURRENCE: usize = 2_000;
const MAX_DETAILS: usize = 20_000;
const MAX_ASSIGNEE: usize = 128;

/// The body of a create or a patch, as sent.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskBody {
    title: Option<String>,
    #[serde(rename = "type")]
    task_type: Option<String>,
    due: Option<String>,
    assignee_id: Option<String>,
    status: Option<String>,
    priority: Option<String>,
    recurring: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    recurrence: Option<Option<Value>>,
    #[serde(default, deserialize_with = "nullable")]
    details: Option<Option<Value>>,
    department: Option<String>,
}

/// Validated changes: every value is already in its stored form.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct TaskChanges {
    pub title: Option<String>,
    pub task_type: Option<String>,
    pub due: Option<String>,
    pub assignee_id: Option<String>,
    pub status: Option<String>,
    pub priority: Option<String>,
    pub recurring: Option<bool>,
    pub recurrence: Option<Option<Value>>,
    pub details: Option<Option<Value>>,
    pub department: Option<String>,
}

fn bounded(value: &str, field: &str, max: usize) -> ApiResult<String> {
    let v = value.trim();
    if v.is_empty() {
        return Err(ApiError::bad_request(format!("{field} must not be empty")));
    }
    if v.chars().count() > max {
        return Err(ApiError::bad_request(format!(
            "{field} must be at most {max} characters"
        )));
    }
    Ok(v.to_string())
}

/// A free-form field: a string or an object; null or an empty string clears
/// it. Bounded so an item stays far below DynamoDB's 400 KB.
fn free_form(
    value: Option<Option<Value>>,
    field: &str,
    max: usize,
) -> ApiResult<Option<Option<Value>>> {
    match value {
        None => Ok(None),
        Some(None) | Some(Some(Value::Null)) => Ok(Some(None)),
        Some(Some(Value::String(v))) if v.trim().is_empty() => Ok(Some(None)),
        Some(Some(Value::String(v))) => {
            bounded(&v, field, max).map(|v| Some(Some(Value::String(v))))
        }
        Some(Some(Value::Object(map))) => {
            if serde_json::to_vec(&map).map_or(true, |b| b.len() > max) {
                return Err(ApiError::bad_request(format!(
                    "{field} must be at most {max} bytes"
                )));
            }
            Ok(Some(Some(Value::Object(map))))
        }
        Some(Some(_)) => Err(ApiError::bad_request(format!(
            "{field} must be a string or an object"
        ))),
    }
}

/// Assignee ids are part of the dashboard sort key, whose `ASSIGNEE#{id}#`
/// prefix must not match another assignee: no `#`, no control characters.
pub fn assignee_id(value: &str) -> ApiResult<String> {
    let v = value.trim();
    if v.is_empty() || v.len() > MAX_ASSIGNEE || v.contains('#') || v.chars().any(char::is_control)
    {
        return Err(ApiError::bad_request(format!(
            "assigneeId must be 1-{MAX_ASSIGNEE} characters without '#' or control characters"
        )));
    }
    Ok(v.to_string())
}

pub fn status(value: &str) -> ApiResult<String> {
    one_of(value, STATUSES, "status")
}

impl TaskBody {
    pub fn validate(self) -> ApiResult<TaskChanges> {
        Ok(TaskChanges {
            title: self
                .title
                .map(|t| bounded(&t, "title", MAX_TITLE))
                .transpose()?,
            task_type: self
                .task_type
                .map(|t| one_of(&t, TYPES, "type"))
                .transpose()?,
            due: self
                .due
                .map(|d| {
                    clock::normalize_rfc3339(&d).ok_or_else(|| {
                        ApiError::bad_request(
                            "due must be an RFC 3339 timestamp (e.g. 2025-08-20T06:07:11.255Z)",
                        )
                    })
                })
                .transpose()?,
            assignee_id: self.assignee_id.map(|a| assignee_id(&a)).transpose()?,
            status: self.status.map(|s| status(&s)).transpose()?,
            priority: self
                .priority
                .map(|p| one_of(&p, PRIORITIES, "priority"))
                .transpose()?,
            recurring: self.recurring,
            recurrence: free_form(self.recurrence, "recurrence", MAX_RECURRENCE)?,
            details: free_form(self.details, "details", MAX_DETAILS)?,
            department: self
                .department
                .map(|d| key_text(&d, "department"))
                .transpose()?,
        })
    }
}

impl TaskChanges {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The fields a new task must have, in the order they are reported.
    pub fn require_for_create(&self) -> ApiResult<()> {
        let missing = [
            ("title", self.title.is_none()),
            ("type", self.task_type.is_none()),
            ("due", self.due.is_none()),
            ("assigneeId", self.assignee_id.is_none()),
        ]
        .into_iter()
        .find(|(_, missing)| *missing);
        match missing {
            Some((field, _)) => Err(ApiError::bad_request(format!("{field} is required"))),
            None => Ok(()),
        }
    }

    /// Applies the changes (the caller recomputes the index keys).
    pub fn apply(&self, task: &mut TaskItem) {
        if let Some(v) = &self.title {
            task.title = v.clone();
        }
        if let Some(v) = &self.task_type {
            task.task_type = v.clone();
        }
        if let Some(v) = &self.due {
            task.due = Some(v.clone());
        }
        if let Some(v) = &self.assignee_id {
            task.assignee_id = Some(v.clone());
        }
        if let Some(v) = &self.status {
            task.status = v.clone();
        }
        if let Some(v) = &self.priority {
            task.priority = v.clone();
        }
        if let Some(v) = self.recurring {
            task.recurring = v;
        }
        if let Some(v) = &self.recurrence {
            task.recurrence = v.clone();
        }
        if let Some(v) = &self.details {
            task.details = v.clone();
        }
        if let Some(v) = &self.department {
            task.department = Some(v.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn changes(body: serde_json::Value) -> ApiResult<TaskChanges> {
        serde_json::from_value::<TaskBody>(body)
            .expect("shape")
            .validate()
    }

    #[test]
    fn values_are_normalized_into_their_stored_form() {
        let c = changes(json!({
            "title": "  Draw CBC ", "type": "LAB", "due": "2025-08-20T08:00:00+02:00",
            "assigneeId": "dr-1", "status": "In-Progress", "priority": "urgent",
            "recurring": true, "recurrence": "daily", "department": "Surgery"
        }))
        .unwrap();
        assert_eq!(c.title.as_deref(), Some("Draw CBC"));
        assert_eq!(c.task_type.as_deref(), Some("lab"));
        assert_eq!(c.due.as_deref(), Some("2025-08-20T06:00:00.000Z"));
        assert_eq!(c.status.as_deref(), Some("in-progress"));
        assert_eq!(c.recurrence, Some(Some(json!("daily"))));
        assert_eq!(c.details, None);
        assert!(c.require_for_create().is_ok());
    }

    #[test]
    fn bad_values_are_400s_naming_the_field() {
        for (body, field) in [
            (json!({"type": "xray"}), "type"),
            (json!({"status": "closed"}), "status"),
            (json!({"priority": "asap"}), "priority"),
            (json!({"due": "tomorrow"}), "due"),
            (json!({"title": "   "}), "title"),
            (json!({"assigneeId": "a#b"}), "assigneeId"),
            (json!({"department": ""}), "department"),
            (json!({"details": [1, 2]}), "details"),
            (json!({"recurrence": 7}), "recurrence"),
            (json!({"details": "x".repeat(20_001)}), "details"),
            (
                json!({"recurrence": {"rule": "x".repeat(2_000)}}),
                "recurrence",
            ),
        ] {
            let err = changes(body.clone()).unwrap_err();
            assert_eq!(err.status().as_u16(), 400, "{body}");
            assert!(err.to_string().starts_with(field), "{body}: {err}");
        }
    }

    #[test]
    fn create_names_the_first_missing_required_field() {
        let c = changes(json!({"title": "x", "type": "lab"})).unwrap();
        assert_eq!(
            c.require_for_create().unwrap_err().to_string(),
            "due is required"
        );
        let c =
            changes(json!({"title": "x", "type": "lab", "due": "2025-01-01T00:00:00Z"})).unwrap();
        assert_eq!(
            c.require_for_create().unwrap_err().to_string(),
            "assigneeId is required"
        );
    }

    #[test]
    fn null_or_empty_clears_optional_text_and_absent_keeps_it() {
        // Given a task with details and a recurrence
        let mut t = TaskItem::new("u", "t", "now");
        t.details = Some(json!("fasting"));
        t.recurrence = Some(json!({"every": "day"}));
        // When a patch sends details: null and recurrence: ""
        let c = changes(json!({"details": null, "recurrence": ""})).unwrap();
        assert!(!c.is_empty());
        c.apply(&mut t);
        // Then both are cleared
        assert_eq!((&t.details, &t.recurrence), (&None, &None));
        // And an object is kept as sent
        let c = changes(json!({"recurrence": {"every": "week", "on": ["mon"]}})).unwrap();
        c.apply(&mut t);
        assert_eq!(t.recurrence, Some(json!({"every": "week", "on": ["mon"]})));
        // And an empty patch changes nothing
        assert!(changes(json!({"unknown": 1})).unwrap().is_empty());
    }
}

#[cfg(test)]
mod properties {
    //! Any body: a valid task, or a 400.

    use proptest::prelude::*;

    use super::TaskBody;

    use crate::proptest_support::{body, config, is_client_error, request};

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn any_task_body_is_valid_or_a_400(body in body(), query in ".{0,40}") {
            let req = request(body, &query);
            let task = req.json::<TaskBody>().and_then(|b| b.validate());
            prop_assert!(is_client_error(&task));
        }
    }
}
