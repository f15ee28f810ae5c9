//! A medication as stored (snake_case, `PATIENT#{uid}` / `MED#{medId}`) and as
//! answered (the contract's Med JSON), and its priorities. Old items may lack
//! `patient_uid`, `med_id` or `priority`; ids come from the keys and the
//! priority defaults to routine, as it does on create.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::http::view_json;
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

    /// The Med of the contract; a stored item without a priority is routine.
    pub fn view(&self) -> MedView<'_> {
        MedView {
            med_id: self.med_id(),
            patient_id: self.patient_id(),
            name: self.name.as_deref(),
            dose: self.dose.as_deref(),
            route: self.route.as_deref(),
            freq: self.freq.as_deref(),
            start: self.start.as_deref(),
            end: self.end.as_deref(),
            priority: self
                .priority
                .as_deref()
                .unwrap_or(Priority::default().as_str()),
            schedule_times: &self.schedule_times,
            files: &self.files,
            mrn: self.mrn.as_deref(),
            scheme: self.scheme.as_deref(),
            created_at: self.created_at.as_deref(),
            updated_at: self.updated_at.as_deref(),
        }
    }

    /// The Med JSON of the contract.
    pub fn to_json(&self) -> Value {
        view_json(&self.view())
    }
}

/// The Med of the contract: every key, null where absent.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MedView<'a> {
    med_id: &'a str,
    patient_id: &'a str,
    name: Option<&'a str>,
    dose: Option<&'a str>,
    route: Option<&'a str>,
    freq: Option<&'a str>,
    start: Option<&'a str>,
    end: Option<&'a str>,
    priority: &'a str,
    schedule_times: &'a [String],
    files: &'a [String],
    mrn: Option<&'a str>,
    scheme: Option<&'a str>,
    created_at: Option<&'a str>,
    updated_at: Option<&'a str>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn full_med() -> MedItem {
        MedItem {
            pk: "PATIENT#u1".into(),
            sk: "MED#m1".into(),
            med_id: "m1".into(),
            patient_uid: "u1".into(),
            name: Some("Ceftriaxone".into()),
            dose: Some("1 g".into()),
            route: Some("IV".into()),
            freq: Some("BD".into()),
            start: Some("2025-01-01".into()),
            end: Some("2025-01-07".into()),
            priority: Some("critical".into()),
            schedule_times: vec!["08:00".into(), "20:00".into()],
            files: vec!["patients/u1/optimized/meds/a.jpg".into()],
            mrn: Some("M1".into()),
            scheme: Some("GEN".into()),
            created_at: Some("2025-01-01T00:00:00.000Z".into()),
            updated_at: Some("2025-01-02T00:00:00.000Z".into()),
        }
    }

    fn legacy_med() -> MedItem {
        let item = crate::store::to_item(&json!({
            "PK": "PATIENT#u1", "SK": "MED#m1", "name": "Paracetamol"
        }))
        .unwrap();
        crate::store::from_item(item).unwrap()
    }

    #[test]
    fn a_med_answers_the_contract_json() {
        assert_eq!(
            full_med().to_json(),
            json!({
                "createdAt": "2025-01-01T00:00:00.000Z",
                "dose": "1 g",
                "end": "2025-01-07",
                "files": ["patients/u1/optimized/meds/a.jpg"],
                "freq": "BD",
                "medId": "m1",
                "mrn": "M1",
                "name": "Ceftriaxone",
                "patientId": "u1",
                "priority": "critical",
                "route": "IV",
                "scheduleTimes": ["08:00", "20:00"],
                "scheme": "GEN",
                "start": "2025-01-01",
                "updatedAt": "2025-01-02T00:00:00.000Z"
            })
        );
    }

    #[test]
    fn an_old_med_answers_every_key_with_ids_from_its_keys() {
        assert_eq!(
            legacy_med().to_json(),
            json!({
                "createdAt": null,
                "dose": null,
                "end": null,
                "files": [],
                "freq": null,
                "medId": "m1",
                "mrn": null,
                "name": "Paracetamol",
                "patientId": "u1",
                "priority": "routine",
                "route": null,
                "scheduleTimes": [],
                "scheme": null,
                "start": null,
                "updatedAt": null
            })
        );
        assert_eq!(
            MedItem::default().to_json(),
            json!({
                "createdAt": null,
                "dose": null,
                "end": null,
                "files": [],
                "freq": null,
                "medId": "",
                "mrn": null,
                "name": null,
                "patientId": "",
                "priority": "routine",
                "route": null,
                "scheduleTimes": [],
                "scheme": null,
                "start": null,
                "updatedAt": null
            })
        );
    }

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
