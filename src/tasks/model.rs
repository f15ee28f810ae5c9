//! The task item (`PATIENT#{uid}` / `TASK#{taskId}`), its vocabularies and its
//! JSON shape. The dashboard keys (`GSI2PK`/`GSI2SK`) are always recomputed
//! from the fields they mirror, never set on their own.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::http::view_json;
use crate::keys;
use crate::store::{self, Item};

pub const TYPES: &[&str] = &["lab", "medication", "procedure", "assessment", "discharge"];
pub const STATUSES: &[&str] = &["open", "in-progress", "done", "cancelled"];
pub const PRIORITIES: &[&str] = &["low", "medium", "high", "urgent"];

pub const STATUS_OPEN: &str = "open";
pub const STATUS_CANCELLED: &str = "cancelled";
pub const PRIORITY_DEFAULT: &str = "medium";

/// Attributes the dashboard keys derive from: a write must find them as read.
pub const INDEX_SOURCES: &[&str] = &["status", "department", "assignee_id", "recurring"];

/// Optional attributes a patch may clear (absent from the item when `None`).
pub const CLEARABLE: &[&str] = &[
    "due",
    "assignee_id",
    "recurrence",
    "details",
    "department",
    "GSI2PK",
    "GSI2SK",
];

/// `value` (trimmed, case-insensitive) if it is one of `allowed`, else a 400
/// naming the field and the allowed values.
pub fn one_of(value: &str, allowed: &[&str], field: &str) -> ApiResult<String> {
    let v = value.trim().to_lowercase();
    if allowed.contains(&v.as_str()) {
        Ok(v)
    } else {
        Err(ApiError::bad_request(format!(
            "{field} must be one of {}",
            allowed.join(", ")
        )))
    }
}

/// Old items may hold `recurring` as a string; read them rather than fail.
fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Stored {
        Bool(bool),
        Text(String),
    }
    Ok(match Option::<Stored>::deserialize(d)? {
        Some(Stored::Bool(b)) => b,
        Some(Stored::Text(t)) => matches!(t.to_lowercase().as_str(), "true" | "yes" | "1"),
        None => false,
    })
}

fn default_status() -> String {
    STATUS_OPEN.to_string()
}

fn default_priority() -> String {
    PRIORITY_DEFAULT.to_string()
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    #[serde(default)]
    pub task_id: String,
    #[serde(default)]
    pub patient_uid: String,
    #[serde(default)]
    pub title: String,
    #[serde(rename = "type", default)]
    pub task_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee_id: Option<String>,
    #[serde(default = "default_status")]
    pub status: String,
    #[serde(default = "default_priority")]
    pub priority: String,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub recurring: bool,
    /// Free-form: a string (`"daily 08:00"`) or an object, as clients send it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurrence: Option<Value>,
    /// Free-form: a string or an object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    #[serde(default)]
    pub files: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    #[serde(rename = "GSI2PK", default, skip_serializing_if = "Option::is_none")]
    pub gsi2pk: Option<String>,
    #[serde(rename = "GSI2SK", default, skip_serializing_if = "Option::is_none")]
    pub gsi2sk: Option<String>,
}

impl TaskItem {
    /// A fresh open task of medium priority; the caller fills in the rest.
    pub fn new(uid: &str, task_id: &str, now: &str) -> Self {
        Self {
            pk: keys::patient_pk(uid),
            sk: keys::task_sk(task_id),
            task_id: task_id.to_string(),
            patient_uid: uid.to_string(),
            status: default_status(),
            priority: default_priority(),
            created_at: Some(now.to_string()),
            updated_at: Some(now.to_string()),
            ..Default::default()
        }
    }

    /// Reads a stored item; ids missing from old items come from its keys.
    pub fn from_item(item: Item) -> ApiResult<Self> {
        let mut task: Self = store::from_item(item)?;
        if task.task_id.is_empty() {
            task.task_id = task
                .sk
                .strip_prefix(keys::TASK_PREFIX)
                .unwrap_or_default()
                .to_string();
        }
        if task.patient_uid.is_empty() {
            task.patient_uid = task
                .pk
                .strip_prefix("PATIENT#")
                .unwrap_or_default()
                .to_string();
        }
        Ok(task)
    }

    /// Recomputes the dashboard keys. A task without a department or an
    /// assignee is on no dashboard (both keys absent: the index is sparse).
    pub fn sync_index_keys(&mut self) {
        match (&self.department, &self.assignee_id) {
            (Some(dept), Some(assignee)) => {
                self.gsi2pk = Some(keys::task_gsi2pk(&self.status, dept));
                self.gsi2sk = Some(keys::task_gsi2sk(assignee, self.recurring, &self.task_id));
            }
            _ => {
                self.gsi2pk = None;
                self.gsi2sk = None;
            }
        }
    }

    /// The Task of the contract.
    pub fn view(&self) -> TaskView<'_> {
        TaskView {
            task_id: &self.task_id,
            patient_id: &self.patient_uid,
            title: &self.title,
            task_type: &self.task_type,
            due: self.due.as_deref(),
            assignee_id: self.assignee_id.as_deref(),
            status: &self.status,
            priority: &self.priority,
            recurring: self.recurring,
            recurrence: self.recurrence.as_ref(),
            details: self.details.as_ref(),
            department: self.department.as_deref(),
            files: &self.files,
            created_at: self.created_at.as_deref(),
            updated_at: self.updated_at.as_deref(),
        }
    }

    /// The Task JSON of the contract.
    pub fn to_json(&self) -> Value {
        view_json(&self.view())
    }
}

/// The Task of the contract: every key, null where absent.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskView<'a> {
    task_id: &'a str,
    patient_id: &'a str,
    title: &'a str,
    #[serde(rename = "type")]
    task_type: &'a str,
    due: Option<&'a str>,
    assignee_id: Option<&'a str>,
    status: &'a str,
    priority: &'a str,
    recurring: bool,
    recurrence: Option<&'a Value>,
    details: Option<&'a Value>,
    department: Option<&'a str>,
    files: &'a [String],
    created_at: Option<&'a str>,
    updated_at: Option<&'a str>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn full_task() -> TaskItem {
        let mut t = task();
        t.title = "CBC before surgery".into();
        t.task_type = "lab".into();
        t.due = Some("2025-01-02T08:00:00.000Z".into());
        t.status = "in-progress".into();
        t.priority = "urgent".into();
        t.recurring = true;
        t.recurrence = Some(json!("daily 08:00"));
        t.details = Some(json!({"fasting": true, "notes": "8h", "tubes": [1, 2]}));
        t.files = vec!["patients/u1/optimized/tasks/a.jpg".into()];
        t.updated_at = Some("2025-01-01T01:00:00.000Z".into());
        t.sync_index_keys();
        t
    }

    fn legacy_task() -> TaskItem {
        let item: Item = [("PK", store::s("PATIENT#u9")), ("SK", store::s("TASK#t9"))]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        TaskItem::from_item(item).unwrap()
    }

    #[test]
    fn a_task_answers_the_contract_json() {
        assert_eq!(
            full_task().to_json(),
            json!({
                "assigneeId": "dr-a",
                "createdAt": "2025-01-01T00:00:00.000Z",
                "department": "Surgery",
                "details": {
                    "fasting": true,
                    "notes": "8h",
                    "tubes": [1, 2]
                },
                "due": "2025-01-02T08:00:00.000Z",
                "files": ["patients/u1/optimized/tasks/a.jpg"],
                "patientId": "u1",
                "priority": "urgent",
                "recurrence": "daily 08:00",
                "recurring": true,
                "status": "in-progress",
                "taskId": "t1",
                "title": "CBC before surgery",
                "type": "lab",
                "updatedAt": "2025-01-01T01:00:00.000Z"
            })
        );
    }

    #[test]
    fn an_old_task_answers_every_key_with_defaults() {
        assert_eq!(
            legacy_task().to_json(),
            json!({
                "assigneeId": null,
                "createdAt": null,
                "department": null,
                "details": null,
                "due": null,
                "files": [],
                "patientId": "u9",
                "priority": "medium",
                "recurrence": null,
                "recurring": false,
                "status": "open",
                "taskId": "t9",
                "title": "",
                "type": "",
                "updatedAt": null
            })
        );
        assert_eq!(
            TaskItem::default().to_json(),
            json!({
                "assigneeId": null,
                "createdAt": null,
                "department": null,
                "details": null,
                "due": null,
                "files": [],
                "patientId": "",
                "priority": "",
                "recurrence": null,
                "recurring": false,
                "status": "",
                "taskId": "",
                "title": "",
                "type": "",
                "updatedAt": null
            })
        );
    }

    fn task() -> TaskItem {
        let mut t = TaskItem::new("u1", "t1", "2025-01-01T00:00:00.000Z");
        t.department = Some("Surgery".into());
        t.assignee_id = Some("dr-a".into());
        t
    }

    #[test]
    fn index_keys_follow_status_department_assignee_and_recurrence() {
        // Given an open task of Surgery assigned to dr-a
        let mut t = task();
        t.sync_index_keys();
        assert_eq!(t.gsi2pk.as_deref(), Some("TASK#OPEN#DEPT#Surgery"));
        assert_eq!(
            t.gsi2sk.as_deref(),
            Some("ASSIGNEE#dr-a#RECURRING#NO#TASK#t1")
        );
        // When it is done, recurring and reassigned
        t.status = "done".into();
        t.recurring = true;
        t.assignee_id = Some("dr-b".into());
        t.sync_index_keys();
        // Then both keys move
        assert_eq!(t.gsi2pk.as_deref(), Some("TASK#DONE#DEPT#Surgery"));
        assert_eq!(
            t.gsi2sk.as_deref(),
            Some("ASSIGNEE#dr-b#RECURRING#YES#TASK#t1")
        );
        // And a task without a department leaves the dashboards
        t.department = None;
        t.sync_index_keys();
        assert_eq!((t.gsi2pk, t.gsi2sk), (None, None));
    }

    #[test]
    fn vocabularies_are_checked_case_insensitively() {
        assert_eq!(one_of(" Lab ", TYPES, "type").unwrap(), "lab");
        assert_eq!(
            one_of("IN-PROGRESS", STATUSES, "status").unwrap(),
            "in-progress"
        );
        let err = one_of("xray", TYPES, "type").unwrap_err();
        assert_eq!(err.status().as_u16(), 400);
        assert!(err.to_string().starts_with("type must be one of lab,"));
    }

    #[test]
    fn old_items_are_read_leniently() {
        // Given an item as an earlier version may have stored it
        let item: Item = [
            ("PK", store::s("PATIENT#u9")),
            ("SK", store::s("TASK#t9")),
            ("title", store::s("Check labs")),
            ("recurring", store::s("true")),
            (
                "details",
                store::to_attr(&json!({"fasting": true, "notes": "8h"})).unwrap(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        // When it is read
        let t = TaskItem::from_item(item).unwrap();
        // Then ids come from the keys and defaults fill the gaps
        assert_eq!(t.task_id, "t9");
        assert_eq!(t.patient_uid, "u9");
        assert!(t.recurring);
        assert_eq!(t.status, "open");
        assert_eq!(t.priority, "medium");
        assert!(t.files.is_empty());
        assert_eq!(
            t.to_json()["details"],
            json!({"fasting": true, "notes": "8h"})
        );
    }
}
