//! A medication as stored (snake_case, `PATIENT#{uid}` / `MED#{medId}`) and as
//! answered (the contract's Med JSON), and its priorities. Old items may lack
//! `patient_uid`, `med_id` or `priority`; ids come from the keys and the
//! priority defaults to routine, as it does on create.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::keys;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Priority {
    #[default]
    Routine,
    Important,
    Critical,
}

impl Priority {
    pub const ALL: [Priority; 3] = [Priority::Routine, Priority::Important, Priority::Critical];

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Routine => "routine",
            Priority::Important => "important",
            Priority::Critical => "critical",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == raw.trim())
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MedItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    #[serde(default)]
    pub med_id: String,
    #[serde(default)]
    pub patient_uid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dose: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freq: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    #[serde(default)]
    pub schedule_times: Vec<String>,
    #[serde(default)]
    pub files: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mrn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

impl MedItem {
    pub fn med_id(&self) -> &str {
        keys::stored_or_key_id(&self.med_id, &self.sk, keys::MED_PREFIX)
    }

    pub fn patient_id(&self) -> &str {
        keys::stored_or_key_id(&self.patient_uid, &self.pk, keys::PATIENT_PREFIX)
    }

    /// The Med JSON of the contract.
    pub fn to_json(&self) -> Value {
        json!({
            "medId": self.med_id(),
            "patientId": self.patient_id(),
            "name": self.name,
            "dose": self.dose,
            "route": self.route,
            "freq": self.freq,
            "start": self.start,
            "end": self.end,
            "priority": self.priority.as_deref().unwrap_or(Priority::default().as_str()),
            "scheduleTimes": self.schedule_times,
            "files": self.files,
            "mrn": self.mrn,
            "scheme": self.scheme,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities_are_the_closed_list_of_the_contract() {
        for p in Priority::ALL {
            assert_eq!(Priority::parse(p.as_str()), Some(p));
        }
        assert_eq!(Priority::default(), Priority::Routine);
        assert_eq!(Priority::parse("urgent"), None);
        assert_eq!(Priority::parse("Critical"), None);
    }

    #[test]
    fn an_old_med_answers_with_ids_from_its_keys_and_nulls_for_gaps() {
        let item = crate::store::to_item(&json!({
            "PK": "PATIENT#u1", "SK": "MED#m1", "name": "Paracetamol"
        }))
        .unwrap();
        let med: MedItem = crate::store::from_item(item).unwrap();
        let j = med.to_json();
        assert_eq!(j["medId"], "m1");
        assert_eq!(j["patientId"], "u1");
        assert_eq!(j["end"], Value::Null);
        assert_eq!(j["priority"], "routine");
        assert_eq!(j["scheduleTimes"], json!([]));
        assert_eq!(j["files"], json!([]));
    }

    #[test]
    fn an_open_ended_med_is_stored_without_an_end_attribute() {
        let med = MedItem {
            pk: "PATIENT#u1".into(),
            sk: "MED#m1".into(),
            ..Default::default()
        };
        let item = crate::store::to_item(&med).unwrap();
        assert!(!item.contains_key("end"));
        assert!(item.contains_key("schedule_times"));
    }
}
