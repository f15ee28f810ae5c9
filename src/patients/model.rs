//! The patient item (`PATIENT#{uid}` / `META_LATEST`), its MRN pointer, and
//! their JSON shapes.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::http::view_json;
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

/// An address as answered: all six keys, null where absent.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AddressView<'a> {
    line1: Option<&'a str>,
    line2: Option<&'a str>,
    city: Option<&'a str>,
    state: Option<&'a str>,
    postal_code: Option<&'a str>,
    country: Option<&'a str>,
}

impl Address {
    pub fn view(&self) -> AddressView<'_> {
        AddressView {
            line1: self.line1.as_deref(),
            line2: self.line2.as_deref(),
            city: self.city.as_deref(),
            state: self.state.as_deref(),
            postal_code: self.postal_code.as_deref(),
            country: self.country.as_deref(),
        }
    }
}

/// An emergency contact as answered: every key, null where absent, and an
/// address object even when none is stored.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EmergencyContactView<'a> {
    name: Option<&'a str>,
    relationship: Option<&'a str>,
    phone: Option<&'a str>,
    alt_phone: Option<&'a str>,
    email: Option<&'a str>,
    address: AddressView<'a>,
}

impl EmergencyContact {
    pub fn view(&self) -> EmergencyContactView<'_> {
        EmergencyContactView {
            name: self.name.as_deref(),
            relationship: self.relationship.as_deref(),
            phone: self.phone.as_deref(),
            alt_phone: self.alt_phone.as_deref(),
            email: self.email.as_deref(),
            address: self.address.as_ref().map(Address::view).unwrap_or_default(),
        }
    }

    pub fn to_json(&self) -> Value {
        view_json(&self.view())
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

/// An MRN history entry as answered (`date` null when unknown).
#[derive(Debug, Serialize)]
pub struct MrnEntryView<'a> {
    mrn: &'a str,
    scheme: &'a str,
    date: Option<&'a str>,
}

impl MrnEntry {
    pub fn view(&self) -> MrnEntryView<'_> {
        MrnEntryView {
            mrn: &self.mrn,
            scheme: &self.scheme,
            date: self.date.as_deref(),
        }
    }
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

    /// The Patient of the contract.
    pub fn view(&self) -> PatientView<'_> {
        let mrn = self.active_reg_mrn.as_deref();
        PatientView {
            id: &self.patient_uid,
            patient_id: &self.patient_uid,
            mrn,
            scheme: self.active_scheme.as_deref(),
            latest_mrn: mrn,
            mrn_history: self.mrn_history.iter().map(MrnEntry::view).collect(),
            name: self.name.as_deref(),
            age: self.age,
            sex: self.sex.as_deref(),
            emergency_contact: self.emergency_contact.as_ref().map(EmergencyContact::view),
            department: self.department.as_deref(),
            status: self.status.as_deref(),
            pathway: self.pathway.as_deref(),
            current_state: self.current_state.as_deref(),
            diagnosis: self.diagnosis.as_deref(),
            comorbidities: &self.comorbidities,
            assigned_doctor: self.assigned_doctor.as_deref(),
            assigned_doctor_id: self.assigned_doctor_id.as_deref(),
            files_url: self.files_url.as_deref(),
            is_urgent: self.is_urgent,
            urgent_reason: self.urgent_reason.as_deref(),
            urgent_until: self.urgent_until.as_deref(),
            room_number: self.room_number.as_deref(),
            procedure_name: self.procedure_name.as_deref(),
            tid_number: self.tid_number.as_deref(),
            tid_status: self.tid_status.as_deref(),
            surgery_code: self.surgery_code.as_deref(),
            surgery_date: self.surgery_date.as_deref(),
            gov_share: self.gov_share,
            update_counter: self.update_counter,
            last_updated: self.last_updated.as_deref(),
        }
    }

    /// The Patient JSON of the contract.
    pub fn to_json(&self) -> Value {
        view_json(&self.view())
    }
}

/// The Patient of the contract: every key, null where absent. `id` and
/// `patientId` are both the UID; `mrn` and `latestMrn` both the active MRN.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PatientView<'a> {
    id: &'a str,
    patient_id: &'a str,
    mrn: Option<&'a str>,
    scheme: Option<&'a str>,
    latest_mrn: Option<&'a str>,
    mrn_history: Vec<MrnEntryView<'a>>,
    name: Option<&'a str>,
    age: Option<u32>,
    sex: Option<&'a str>,
    emergency_contact: Option<EmergencyContactView<'a>>,
    department: Option<&'a str>,
    status: Option<&'a str>,
    pathway: Option<&'a str>,
    current_state: Option<&'a str>,
    diagnosis: Option<&'a str>,
    comorbidities: &'a [String],
    assigned_doctor: Option<&'a str>,
    assigned_doctor_id: Option<&'a str>,
    files_url: Option<&'a str>,
    is_urgent: bool,
    urgent_reason: Option<&'a str>,
    urgent_until: Option<&'a str>,
    room_number: Option<&'a str>,
    procedure_name: Option<&'a str>,
    tid_number: Option<&'a str>,
    tid_status: Option<&'a str>,
    surgery_code: Option<&'a str>,
    surgery_date: Option<&'a str>,
    gov_share: bool,
    update_counter: u64,
    last_updated: Option<&'a str>,
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
    use serde_json::json;

    fn full_contact() -> EmergencyContact {
        EmergencyContact {
            name: Some("Asha Rao".into()),
            relationship: Some("sister".into()),
            phone: Some("+91-900".into()),
            alt_phone: Some("+91-901".into()),
            email: Some("asha@example.org".into()),
            address: Some(Address {
                line1: Some("1 Main St".into()),
                line2: Some("Flat 2".into()),
                city: Some("Pune".into()),
                state: Some("MH".into()),
                postal_code: Some("411001".into()),
                country: Some("IN".into()),
            }),
        }
    }

    fn full_patient() -> PatientItem {
        let mut p = PatientItem {
            pk: "PATIENT#u1".into(),
            sk: keys::META_SK.into(),
            patient_uid: "u1".into(),
            name: Some("Ravi Kumar".into()),
            age: Some(54),
            sex: Some("M".into()),
            emergency_contact: Some(full_contact()),
            department: Some("Surgery".into()),
            status: Some("ACTIVE".into()),
            pathway: Some("surgical".into()),
            current_state: Some("preop".into()),
            diagnosis: Some("Cholelithiasis".into()),
            comorbidities: vec!["diabetes".into(), "hypertension".into()],
            assigned_doctor: Some("Dr. Mehta".into()),
            assigned_doctor_id: Some("dr-1".into()),
            files_url: Some("https://files.example/u1".into()),
            is_urgent: true,
            urgent_reason: Some("sepsis risk".into()),
            urgent_until: Some("2025-01-03T00:00:00.000Z".into()),
            room_number: Some("W3-12".into()),
            procedure_name: Some("Laparoscopic cholecystectomy".into()),
            tid_number: Some("TID-12345".into()),
            tid_status: Some("pending".into()),
            surgery_code: Some("LC-01".into()),
            surgery_date: Some("2025-01-04".into()),
            gov_share: true,
            active_reg_mrn: Some("M2".into()),
            active_scheme: Some("ASP".into()),
            mrn_history: vec![
                MrnEntry {
                    mrn: "M1".into(),
                    scheme: "GEN".into(),
                    date: Some("2024-12-01T00:00:00.000Z".into()),
                },
                MrnEntry {
                    mrn: "M2".into(),
                    scheme: "ASP".into(),
                    date: None,
                },
            ],
            state_dates: BTreeMap::from([("preop".into(), "2025-01-01".into())]),
            timeline_open_sk: Some("TL#2025-01-01#preop".into()),
            update_counter: 7,
            created_at: Some("2024-12-01T00:00:00.000Z".into()),
            updated_at: Some("2025-01-01T00:00:00.000Z".into()),
            last_updated: Some("2025-01-01T00:00:00.001Z".into()),
            ..Default::default()
        };
        p.sync_index_keys();
        p
    }

    /// As an earlier version stored it: no address, an MRN without scheme or date.
    fn legacy_patient() -> PatientItem {
        let item = crate::store::to_item(&json!({
            "PK": "PATIENT#u2", "SK": "META_LATEST", "patient_uid": "u2",
            "age": "41",
            "emergency_contact": {"name": "Kiran"},
            "mrn_history": [{"mrn": "M0"}],
        }))
        .unwrap();
        crate::store::from_item(item).unwrap()
    }

    #[test]
    fn an_emergency_contact_answers_every_key_and_a_full_address() {
        assert_eq!(
            full_contact().to_json(),
            json!({
                "address": {
                    "city": "Pune",
                    "country": "IN",
                    "line1": "1 Main St",
                    "line2": "Flat 2",
                    "postalCode": "411001",
                    "state": "MH"
                },
                "altPhone": "+91-901",
                "email": "asha@example.org",
                "name": "Asha Rao",
                "phone": "+91-900",
                "relationship": "sister"
            })
        );
        // Absent values are nulls, and the address object is always there
        assert_eq!(
            EmergencyContact::default().to_json(),
            json!({
                "address": {
                    "city": null,
                    "country": null,
                    "line1": null,
                    "line2": null,
                    "postalCode": null,
                    "state": null
                },
                "altPhone": null,
                "email": null,
                "name": null,
                "phone": null,
                "relationship": null
            })
        );
    }

    #[test]
    fn a_patient_answers_the_contract_json() {
        assert_eq!(
            full_patient().to_json(),
            json!({
                "age": 54,
                "assignedDoctor": "Dr. Mehta",
                "assignedDoctorId": "dr-1",
                "comorbidities": ["diabetes", "hypertension"],
                "currentState": "preop",
                "department": "Surgery",
                "diagnosis": "Cholelithiasis",
                "emergencyContact": {
                    "address": {
                        "city": "Pune",
                        "country": "IN",
                        "line1": "1 Main St",
                        "line2": "Flat 2",
                        "postalCode": "411001",
                        "state": "MH"
                    },
                    "altPhone": "+91-901",
                    "email": "asha@example.org",
                    "name": "Asha Rao",
                    "phone": "+91-900",
                    "relationship": "sister"
                },
                "filesUrl": "https://files.example/u1",
                "id": "u1",
                "isUrgent": true,
                "lastUpdated": "2025-01-01T00:00:00.001Z",
                "latestMrn": "M2",
                "mrn": "M2",
                "mrnHistory": [
                    {
                        "date": "2024-12-01T00:00:00.000Z",
                        "mrn": "M1",
                        "scheme": "GEN"
                    },
                    {
                        "date": null,
                        "mrn": "M2",
                        "scheme": "ASP"
                    }
                ],
                "name": "Ravi Kumar",
                "pathway": "surgical",
                "patientId": "u1",
                "scheme": "ASP",
                "sex": "M",
                "status": "ACTIVE",
                "govShare": true,
                "procedureName": "Laparoscopic cholecystectomy",
                "roomNumber": "W3-12",
                "surgeryCode": "LC-01",
                "surgeryDate": "2025-01-04",
                "tidNumber": "TID-12345",
                "tidStatus": "pending",
                "updateCounter": 7,
                "urgentReason": "sepsis risk",
                "urgentUntil": "2025-01-03T00:00:00.000Z"
            })
        );
    }

    #[test]
    fn an_old_patient_answers_nulls_defaults_and_a_full_contact_shape() {
        assert_eq!(
            legacy_patient().to_json(),
            json!({
                "age": 41,
                "assignedDoctor": null,
                "assignedDoctorId": null,
                "comorbidities": [],
                "currentState": null,
                "department": null,
                "diagnosis": null,
                "emergencyContact": {
                    "address": {
                        "city": null,
                        "country": null,
                        "line1": null,
                        "line2": null,
                        "postalCode": null,
                        "state": null
                    },
                    "altPhone": null,
                    "email": null,
                    "name": "Kiran",
                    "phone": null,
                    "relationship": null
                },
                "filesUrl": null,
                "id": "u2",
                "isUrgent": false,
                "lastUpdated": null,
                "latestMrn": null,
                "mrn": null,
                "mrnHistory": [
                    {
                        "date": null,
                        "mrn": "M0",
                        "scheme": "Unknown"
                    }
                ],
                "name": null,
                "pathway": null,
                "patientId": "u2",
                "scheme": null,
                "sex": null,
                "status": null,
                "govShare": false,
                "procedureName": null,
                "roomNumber": null,
                "surgeryCode": null,
                "surgeryDate": null,
                "tidNumber": null,
                "tidStatus": null,
                "updateCounter": 0,
                "urgentReason": null,
                "urgentUntil": null
            })
        );
        assert_eq!(
            PatientItem::default().to_json(),
            json!({
                "age": null,
                "assignedDoctor": null,
                "assignedDoctorId": null,
                "comorbidities": [],
                "currentState": null,
                "department": null,
                "diagnosis": null,
                "emergencyContact": null,
                "filesUrl": null,
                "id": "",
                "isUrgent": false,
                "lastUpdated": null,
                "latestMrn": null,
                "mrn": null,
                "mrnHistory": [],
                "name": null,
                "pathway": null,
                "patientId": "",
                "scheme": null,
                "sex": null,
                "status": null,
                "govShare": false,
                "procedureName": null,
                "roomNumber": null,
                "surgeryCode": null,
                "surgeryDate": null,
                "tidNumber": null,
                "tidStatus": null,
                "updateCounter": 0,
                "urgentReason": null,
                "urgentUntil": null
            })
        );
    }

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
