//! The patient item (`PATIENT#{uid}` / `META_LATEST`), its MRN pointer, and
//! their JSON shapes.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{json, Value};

use crate::keys;

pub const STATUS_ACTIVE: &str = "ACTIVE";
pub const STATUS_INACTIVE: &str = "INACTIVE";
pub const FIRST_STATE: &str = "onboarding";

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line1: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmergencyContact {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relationship: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alt_phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
}

impl EmergencyContact {
    pub fn to_json(&self) -> Value {
        let a = self.address.clone().unwrap_or_default();
        json!({
            "name": self.name, "relationship": self.relationship, "phone": self.phone,
            "altPhone": self.alt_phone, "email": self.email,
            "address": {
                "line1": a.line1, "line2": a.line2, "city": a.city, "state": a.state,
                "postalCode": a.postal_code, "country": a.country,
            },
        })
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MrnEntry {
    pub mrn: String,
    #[serde(default = "unknown_scheme")]
    pub scheme: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
}

pub fn unknown_scheme() -> String {
    "Unknown".to_string()
}

/// Accepts a number, a numeric string or null (old records and form inputs
/// send ages as strings); anything else is an error.
pub fn lenient_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    use serde::de::Error;
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|v| u32::try_from(v).ok())
            .map(Some)
            .ok_or_else(|| D::Error::custom("expected a non-negative whole number")),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .trim()
            .parse::<u32>()
            .map(Some)
            .map_err(|_| D::Error::custom("expected a non-negative whole number")),
        Some(_) => Err(D::Error::custom("expected a non-negative whole number")),
    }
}

/// `PATIENT#{uid}` / `META_LATEST`, snake_case as the table layout says.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PatientItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub patient_uid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_u32"
    )]
    pub age: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sex: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emergency_contact: Option<EmergencyContact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pathway: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnosis: Option<String>,
    #[serde(default)]
    pub comorbidities: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned_doctor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned_doctor_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files_url: Option<String>,
    #[serde(default)]
    pub is_urgent: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urgent_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urgent_until: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub procedure_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tid_number: Option<String>,
    /// `pending` or `done`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tid_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub surgery_code: Option<String>,
    /// A date (`YYYY-MM-DD`) or an RFC 3339 time, as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub surgery_date: Option<String>,
    /// A read-only government reviewer may see this patient.
    #[serde(default)]
    pub gov_share: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_reg_mrn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_scheme: Option<String>,
    #[serde(default)]
    pub mrn_history: Vec<MrnEntry>,
    #[serde(default)]
    pub state_dates: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeline_open_sk: Option<String>,
    #[serde(default)]
    pub update_counter: u64,
    #[serde(rename = "GSI1PK", default, skip_serializing_if = "Option::is_none")]
    pub gsi1pk: Option<String>,
    #[serde(rename = "GSI3PK", default, skip_serializing_if = "Option::is_none")]
    pub gsi3pk: Option<String>,
    #[serde(rename = "GSI3SK", default, skip_serializing_if = "Option::is_none")]
    pub gsi3sk: Option<String>,
    #[serde(
        rename = "LSI_CUR_MRN",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub lsi_cur_mrn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<String>,
}

impl PatientItem {
    pub fn uid(&self) -> &str {
        &self.patient_uid
    }

    pub fn is_active(&self) -> bool {
        self.status
            .as_deref()
            .unwrap_or(STATUS_ACTIVE)
            .eq_ignore_ascii_case(STATUS_ACTIVE)
    }

    /// Recomputes the index keys from the fields they mirror, so they can never
    /// drift: department/status (GSI1), the active list (GSI3), current MRN (LSI).
    pub fn sync_index_keys(&mut self) {
        let status = self
            .status
            .clone()
            .unwrap_or_else(|| STATUS_ACTIVE.to_string())
            .to_uppercase();
        self.status = Some(status.clone());
        self.gsi1pk = self
            .department
            .as_deref()
            .map(|d| keys::dept_status_gsi1(d, &status));
        if self.is_active() {
            self.gsi3pk = Some(keys::ACTIVE_PATIENTS.to_string());
            self.gsi3sk = Some(keys::patient_pk(&self.patient_uid));
        } else {
            self.gsi3pk = None;
            self.gsi3sk = None;
        }
        self.lsi_cur_mrn = self.active_reg_mrn.as_deref().map(keys::current_mrn_lsi);
    }

    /// The Patient JSON of the contract.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.patient_uid,
            "patientId": self.patient_uid,
            "mrn": self.active_reg_mrn,
            "scheme": self.active_scheme,
            "latestMrn": self.active_reg_mrn,
            "mrnHistory": self.mrn_history.iter().map(|e| json!({"mrn": e.mrn, "scheme": e.scheme, "date": e.date})).collect::<Vec<_>>(),
            "name": self.name,
            "age": self.age,
            "sex": self.sex,
            "emergencyContact": self.emergency_contact.as_ref().map(EmergencyContact::to_json),
            "department": self.department,
            "status": self.status,
            "pathway": self.pathway,
            "currentState": self.current_state,
            "diagnosis": self.diagnosis,
            "comorbidities": self.comorbidities,
            "assignedDoctor": self.assigned_doctor,
            "assignedDoctorId": self.assigned_doctor_id,
            "filesUrl": self.files_url,
            "isUrgent": self.is_urgent,
            "urgentReason": self.urgent_reason,
            "urgentUntil": self.urgent_until,
            "updateCounter": self.update_counter,
            "lastUpdated": self.last_updated,
        })
    }
}

/// `MRN#{mrn}` / `MRN`: which patient an MRN belongs to.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MrnPointer {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub mrn: String,
    pub patient_uid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

impl MrnPointer {
    pub fn new(mrn: &str, patient: &PatientItem) -> Self {
        Self {
            pk: keys::mrn_pk(mrn),
            sk: keys::MRN_SK.to_string(),
            mrn: mrn.to_string(),
            patient_uid: patient.patient_uid.clone(),
            scheme: patient.active_scheme.clone(),
            department: patient.department.clone(),
            status: patient.status.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_keys_follow_department_status_and_mrn() {
        let mut p = PatientItem {
            patient_uid: "u1".into(),
            department: Some("Surgery".into()),
            active_reg_mrn: Some("M1".into()),
            ..Default::default()
        };
        p.sync_index_keys();
        assert_eq!(p.gsi1pk.as_deref(), Some("DEPT#Surgery#ACTIVE"));
        assert_eq!(p.gsi3pk.as_deref(), Some(keys::ACTIVE_PATIENTS));
        assert_eq!(p.lsi_cur_mrn.as_deref(), Some("CUR#M1"));
        // When the patient becomes inactive, it leaves the active lists
        p.status = Some("inactive".into());
        p.sync_index_keys();
        assert_eq!(p.gsi1pk.as_deref(), Some("DEPT#Surgery#INACTIVE"));
        assert_eq!(p.gsi3pk, None);
        assert_eq!(p.gsi3sk, None);
    }

    #[test]
    fn json_uses_nulls_and_empty_lists_for_missing_values() {
        let p = PatientItem {
            patient_uid: "u1".into(),
            ..Default::default()
        };
        let j = p.to_json();
        assert_eq!(j["id"], "u1");
        assert_eq!(j["name"], Value::Null);
        assert_eq!(j["comorbidities"], json!([]));
        assert_eq!(j["isUrgent"], false);
        assert_eq!(j["emergencyContact"], Value::Null);
    }

    #[test]
    fn ages_are_read_leniently() {
        #[derive(Deserialize)]
        struct A {
            #[serde(default, deserialize_with = "lenient_u32")]
            age: Option<u32>,
        }
        let parse = |s: &str| serde_json::from_str::<A>(s).map(|a| a.age);
        assert_eq!(parse(r#"{"age": 41}"#).unwrap(), Some(41));
        assert_eq!(parse(r#"{"age": "41"}"#).unwrap(), Some(41));
        assert_eq!(parse(r#"{"age": null}"#).unwrap(), None);
        assert_eq!(parse(r#"{}"#).unwrap(), None);
        assert!(parse(r#"{"age": "old"}"#).is_err());
        assert!(parse(r#"{"age": -3}"#).is_err());
    }
}
