//! Person and episode fields as requests send them (camelCase or snake_case),
//! applied onto a patient item. Shared by create, update and registration.

use serde::Deserialize;

use super::model::{lenient_u32, EmergencyContact, PatientItem};
use crate::error::{ApiError, ApiResult};
use crate::http::input::{key_text, present, required, text_within, texts_within};

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersonFields {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient_u32")]
    pub age: Option<u32>,
    pub sex: Option<String>,
    pub emergency_contact: Option<EmergencyContact>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EpisodeFields {
    pub department: Option<String>,
    pub status: Option<String>,
    pub pathway: Option<String>,
    pub diagnosis: Option<String>,
    pub comorbidities: Option<Vec<String>>,
    pub assigned_doctor: Option<String>,
    pub assigned_doctor_id: Option<String>,
    pub files_url: Option<String>,
    pub is_urgent: Option<bool>,
    pub urgent_reason: Option<String>,
    pub urgent_until: Option<String>,
    #[serde(flatten)]
    pub scheduling: SchedulingFields,
}

/// Theatre and surgery details, and the government share. `null` or an
/// empty string clears a field; a field not sent is left as it is.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchedulingFields {
    #[serde(default, deserialize_with = "present")]
    pub room_number: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub procedure_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub tid_number: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub tid_status: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub surgery_code: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub surgery_date: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub gov_share: Option<Option<bool>>,
}

/// Limits of the free-text fields (characters), stated in `openapi.yaml`.
const MAX_SCHEDULING_TEXT: usize = 200;
const MAX_NAME: usize = 200;
const MAX_SHORT: usize = 64;
const MAX_TEXT: usize = 200;
const MAX_DIAGNOSIS: usize = 4_000;
const MAX_REASON: usize = 1_000;
const MAX_URL: usize = 2_048;
const MAX_COMORBIDITIES: usize = 100;

impl SchedulingFields {
    pub fn is_empty(&self) -> bool {
        self.room_number.is_none()
            && self.procedure_name.is_none()
            && self.tid_number.is_none()
            && self.tid_status.is_none()
            && self.surgery_code.is_none()
            && self.surgery_date.is_none()
            && self.gov_share.is_none()
    }

    /// The fields sent, checked, onto `p`.
    pub fn apply(&self, p: &mut PatientItem) -> ApiResult<()> {
        let texts = [
            (&self.room_number, &mut p.room_number, "roomNumber"),
            (&self.procedure_name, &mut p.procedure_name, "procedureName"),
            (&self.tid_number, &mut p.tid_number, "tidNumber"),
            (&self.surgery_code, &mut p.surgery_code, "surgeryCode"),
        ];
        for (input, field, name) in texts {
            if let Some(value) = input {
                *field = text_within(value, name, MAX_SCHEDULING_TEXT)?;
            }
        }
        if let Some(value) = &self.tid_status {
            p.tid_status = text_within(value, "tidStatus", MAX_SCHEDULING_TEXT)?
                .map(|s| s.to_ascii_lowercase())
                .map(|s| match s.as_str() {
                    "pending" | "done" => Ok(s),
                    _ => Err(ApiError::bad_request("tidStatus must be pending or done")),
                })
                .transpose()?;
        }
        if let Some(value) = &self.surgery_date {
            p.surgery_date = text_within(value, "surgeryDate", MAX_SCHEDULING_TEXT)?
                .map(|d| {
                    let is_date = chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d").is_ok();
                    if is_date || chrono::DateTime::parse_from_rfc3339(&d).is_ok() {
                        Ok(d)
                    } else {
                        Err(ApiError::bad_request(
                            "surgeryDate must be a date (YYYY-MM-DD) or an RFC 3339 time",
                        ))
                    }
                })
                .transpose()?;
        }
        if let Some(share) = self.gov_share {
            p.gov_share = share.unwrap_or(false);
        }
        Ok(())
    }
}

/// The contact with every field within its limit.
fn bounded_contact(ec: &EmergencyContact) -> ApiResult<EmergencyContact> {
    let t = |v: &Option<String>, f: &str| text_within(v, f, MAX_TEXT);
    let address = match &ec.address {
        Some(a) => Some(crate::patients::model::Address {
            line1: t(&a.line1, "emergencyContact.address.line1")?,
            line2: t(&a.line2, "emergencyContact.address.line2")?,
            city: t(&a.city, "emergencyContact.address.city")?,
            state: t(&a.state, "emergencyContact.address.state")?,
            postal_code: t(&a.postal_code, "emergencyContact.address.postalCode")?,
            country: t(&a.country, "emergencyContact.address.country")?,
        }),
        None => None,
    };
    Ok(EmergencyContact {
        name: t(&ec.name, "emergencyContact.name")?,
        relationship: t(&ec.relationship, "emergencyContact.relationship")?,
        phone: t(&ec.phone, "emergencyContact.phone")?,
        alt_phone: t(&ec.alt_phone, "emergencyContact.altPhone")?,
        email: t(&ec.email, "emergencyContact.email")?,
        address,
    })
}

/// An MRN: text fit for a key that cannot be mistaken for a patient UID
/// (`{id}` is tried as a UID first, so such an MRN would open another
/// patient).
pub fn mrn_text(raw: &str, field: &str) -> ApiResult<String> {
    let mrn = key_text(raw, field)?;
    if crate::keys::looks_like_uid(&mrn) {
        return Err(ApiError::bad_request(format!(
            "{field} has the form of a patient id (a UUID or ULID); an MRN may not"
        )));
    }
    Ok(mrn)
}

impl PersonFields {
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.age.is_none()
            && self.sex.is_none()
            && self.emergency_contact.is_none()
    }

    pub fn apply(&self, p: &mut PatientItem) -> ApiResult<()> {
        if self.name.is_some() {
            required(&self.name, "name")?;
            p.name = text_within(&self.name, "name", MAX_NAME)?;
        }
        if self.age.is_some() {
            p.age = self.age;
        }
        if self.sex.is_some() {
            p.sex = text_within(&self.sex, "sex", MAX_SHORT)?;
        }
        if let Some(ec) = &self.emergency_contact {
            p.emergency_contact = Some(bounded_contact(ec)?);
        }
        Ok(())
    }
}

impl EpisodeFields {
    pub fn is_empty(&self) -> bool {
        self.department.is_none()
            && self.status.is_none()
            && self.pathway.is_none()
            && self.diagnosis.is_none()
            && self.comorbidities.is_none()
            && self.assigned_doctor.is_none()
            && self.assigned_doctor_id.is_none()
            && self.files_url.is_none()
            && self.is_urgent.is_none()
            && self.urgent_reason.is_none()
            && self.urgent_until.is_none()
            && self.scheduling.is_empty()
    }

    pub fn apply(&self, p: &mut PatientItem) -> ApiResult<()> {
        if let Some(d) = &self.department {
            p.department = Some(key_text(d, "department")?);
        }
        if let Some(s) = &self.status {
            let s = s.trim().to_uppercase();
            if s != "ACTIVE" && s != "INACTIVE" {
                return Err(ApiError::bad_request("status must be ACTIVE or INACTIVE"));
            }
            p.status = Some(s);
        }
        let texts = [
            (&self.pathway, &mut p.pathway, "pathway", MAX_TEXT),
            (
                &self.diagnosis,
                &mut p.diagnosis,
                "diagnosis",
                MAX_DIAGNOSIS,
            ),
            (
                &self.assigned_doctor,
                &mut p.assigned_doctor,
                "assignedDoctor",
                MAX_TEXT,
            ),
            (
                &self.assigned_doctor_id,
                &mut p.assigned_doctor_id,
                "assignedDoctorId",
                MAX_TEXT,
            ),
            (&self.files_url, &mut p.files_url, "filesUrl", MAX_URL),
            (
                &self.urgent_reason,
                &mut p.urgent_reason,
                "urgentReason",
                MAX_REASON,
            ),
            (
                &self.urgent_until,
                &mut p.urgent_until,
                "urgentUntil",
                MAX_SHORT,
            ),
        ];
        for (input, field, name, max) in texts {
            if input.is_some() {
                *field = text_within(input, name, max)?;
            }
        }
        if let Some(list) = &self.comorbidities {
            p.comorbidities = texts_within(list, "comorbidities", MAX_COMORBIDITIES, MAX_TEXT)?;
        }
        if let Some(u) = self.is_urgent {
            p.is_urgent = u;
        }
        self.scheduling.apply(p)?;
        p.sync_index_keys();
        Ok(())
    }
}
