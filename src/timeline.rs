//! The stage timeline: one row per stay in a stage (`TL#{dateIn}#{state}`).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

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

    pub fn to_json(&self) -> Value {
        json!({
            "timelineId": self.timeline_id,
            "patientId": self.patient_uid,
            "mrn": self.mrn,
            "scheme": self.scheme,
            "state": self.state,
            "dateIn": self.date_in,
            "dateOut": self.date_out,
            "checklistIn": self.checklist_in_done,
            "checklistOut": self.checklist_out_done,
            "requiredIn": self.required_in,
            "requiredOut": self.required_out,
            "actorId": self.actor_id,
            "notes": self.notes,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        })
    }
}
