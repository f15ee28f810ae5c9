//! The stage timeline: one row per stay in a stage (`TL#{dateIn}#{state}`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::http::view_json;
use crate::keys;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TimelineRow {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub timeline_id: String,
    pub patient_uid: String,
    pub state: String,
    pub date_in: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_out: Option<String>,
    #[serde(default)]
    pub required_in: Vec<String>,
    #[serde(default)]
    pub required_out: Vec<String>,
    #[serde(default)]
    pub checklist_in_done: Vec<String>,
    #[serde(default)]
    pub checklist_out_done: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mrn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

/// What opening a new row needs to know.
pub struct NewRow<'a> {
    pub uid: &'a str,
    pub state: &'a str,
    pub now: &'a str,
    pub mrn: Option<String>,
    pub scheme: Option<String>,
    pub actor_id: Option<String>,
    pub notes: Option<String>,
}

impl TimelineRow {
    pub fn open(new: NewRow<'_>) -> Self {
        Self {
            pk: keys::patient_pk(new.uid),
            sk: keys::timeline_sk(new.now, new.state),
            timeline_id: crate::clock::new_id(),
            patient_uid: new.uid.to_string(),
            state: new.state.to_string(),
            date_in: new.now.to_string(),
            actor_id: new.actor_id,
            notes: new.notes,
            mrn: new.mrn,
            scheme: new.scheme,
            created_at: Some(new.now.to_string()),
            updated_at: Some(new.now.to_string()),
            ..Default::default()
        }
    }

    /// A row as the timeline listing shows it (the done lists as
    /// `checklistIn`/`checklistOut`).
    pub fn view(&self) -> TimelineView<'_> {
        TimelineView {
            timeline_id: &self.timeline_id,
            patient_id: &self.patient_uid,
            mrn: self.mrn.as_deref(),
            scheme: self.scheme.as_deref(),
            state: &self.state,
            date_in: &self.date_in,
            date_out: self.date_out.as_deref(),
            date_in_snake: &self.date_in,
            date_out_snake: self.date_out.as_deref(),
            checklist_in: &self.checklist_in_done,
            checklist_out: &self.checklist_out_done,
            required_in: &self.required_in,
            required_out: &self.required_out,
            actor_id: self.actor_id.as_deref(),
            notes: self.notes.as_deref(),
            created_at: self.created_at.as_deref(),
            updated_at: self.updated_at.as_deref(),
        }
    }

    pub fn to_json(&self) -> Value {
        view_json(&self.view())
    }
}

/// A timeline row as answered: every key, null where absent.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TimelineView<'a> {
    timeline_id: &'a str,
    patient_id: &'a str,
    mrn: Option<&'a str>,
    scheme: Option<&'a str>,
    state: &'a str,
    date_in: &'a str,
    date_out: Option<&'a str>,
    /// The same dates by their snake_case names (a client's export reads them).
    #[serde(rename = "date_in")]
    date_in_snake: &'a str,
    #[serde(rename = "date_out")]
    date_out_snake: Option<&'a str>,
    checklist_in: &'a [String],
    checklist_out: &'a [String],
    required_in: &'a [String],
    required_out: &'a [String],
    actor_id: Option<&'a str>,
    notes: Option<&'a str>,
    created_at: Option<&'a str>,
    updated_at: Option<&'a str>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn full_row() -> TimelineRow {
        let mut row = TimelineRow::open(NewRow {
            uid: "u1",
            state: "preop",
            now: "2025-01-01T00:00:00.000Z",
            mrn: Some("M1".into()),
            scheme: Some("GEN".into()),
            actor_id: Some("dr-1".into()),
            notes: Some("admitted".into()),
        });
        row.timeline_id = "tl-1".into();
        row.date_out = Some("2025-01-02T00:00:00.000Z".into());
        row.required_in = vec!["consent".into(), "fasting".into()];
        row.required_out = vec!["handover".into()];
        row.checklist_in_done = vec!["consent".into()];
        row.checklist_out_done = vec!["handover".into()];
        row.updated_at = Some("2025-01-02T00:00:00.000Z".into());
        row
    }

    fn legacy_row() -> TimelineRow {
        let item = crate::store::to_item(&serde_json::json!({
            "PK": "PATIENT#u1", "SK": "TL#2024-01-01#onboarding", "timeline_id": "tl-0",
            "patient_uid": "u1", "state": "onboarding", "date_in": "2024-01-01"
        }))
        .unwrap();
        crate::store::from_item(item).unwrap()
    }

    #[test]
    fn a_timeline_row_answers_its_json() {
        assert_eq!(
            full_row().to_json(),
            json!({
                "actorId": "dr-1",
                "checklistIn": ["consent"],
                "checklistOut": ["handover"],
                "createdAt": "2025-01-01T00:00:00.000Z",
                "dateIn": "2025-01-01T00:00:00.000Z",
                "dateOut": "2025-01-02T00:00:00.000Z",
                "date_in": "2025-01-01T00:00:00.000Z",
                "date_out": "2025-01-02T00:00:00.000Z",
                "mrn": "M1",
                "notes": "admitted",
                "patientId": "u1",
                "requiredIn": ["consent", "fasting"],
                "requiredOut": ["handover"],
                "scheme": "GEN",
                "state": "preop",
                "timelineId": "tl-1",
                "updatedAt": "2025-01-02T00:00:00.000Z"
            })
        );
    }

    #[test]
    fn an_open_row_answers_nulls_and_empty_lists() {
        assert_eq!(
            legacy_row().to_json(),
            json!({
                "actorId": null,
                "checklistIn": [],
                "checklistOut": [],
                "createdAt": null,
                "dateIn": "2024-01-01",
                "dateOut": null,
                "date_in": "2024-01-01",
                "date_out": null,
                "mrn": null,
                "notes": null,
                "patientId": "u1",
                "requiredIn": [],
                "requiredOut": [],
                "scheme": null,
                "state": "onboarding",
                "timelineId": "tl-0",
                "updatedAt": null
            })
        );
    }
}
