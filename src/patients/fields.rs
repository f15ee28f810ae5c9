//! Person and episode fields as requests send them (camelCase or snake_case),
//! applied onto a patient item. Shared by create, update and registration.

use serde::Deserialize;

use super::model::{lenient_u32, EmergencyContact, PatientItem};
use crate::error::{ApiError, ApiResult};
use crate::http::input::{clean, key_text, present, required};

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

/// Free-text scheduling fields stop here.
const MAX_SCHEDULING_TEXT: usize = 200;

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
                *field = bounded(value, name)?;
            }
        }
        if let Some(value) = &self.tid_status {
            p.tid_status = bounded(value, "tidStatus")?
                .map(|s| s.to_ascii_lowercase())
                .map(|s| match s.as_str() {
                    "pending" | "done" => Ok(s),
                    _ => Err(ApiError::bad_request("tidStatus must be pending or done")),
                })
                .transpose()?;
        }
        if let Some(value) = &self.surgery_date {
            p.surgery_date = bounded(value, "surgeryDate")?
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

/// Trimmed text, `None` when empty, at most [`MAX_SCHEDULING_TEXT`] bytes.
fn bounded(value: &Option<String>, field: &str) -> ApiResult<Option<String>> {
    let value = clean(value);
    if value
        .as_ref()
        .is_some_and(|v| v.len() > MAX_SCHEDULING_TEXT)
    {
        return Err(ApiError::bad_request(format!(
            "{field} is longer than {MAX_SCHEDULING_TEXT} characters"
        )));
    }
    Ok(value)
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
            p.name = Some(required(&self.name, "name")?);
        }
        if self.age.is_some() {
            p.age = self.age;
        }
        if self.sex.is_some() {
            p.sex = clean(&self.sex);
        }
        if let Some(ec) = &self.emergency_contact {
            p.emergency_contact = Some(ec.clone());
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
            (&self.pathway, &mut p.pathway),
            (&self.diagnosis, &mut p.diagnosis),
            (&self.assigned_doctor, &mut p.assigned_doctor),
            (&self.assigned_doctor_id, &mut p.assigned_doctor_id),
            (&self.files_url, &mut p.files_url),
            (&self.urgent_reason, &mut p.urgent_reason),
            (&self.urgent_until, &mut p.urgent_until),
        ];
        for (input, field) in texts {
            if input.is_some() {
                *field = clean(input);
            }
        }
        if let Some(list) = &self.comorbidities {
            p.comorbidities = list
                .iter()
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty())
                .collect();
        }
        if let Some(u) = self.is_urgent {
            p.is_urgent = u;
        }
        self.scheduling.apply(p)?;
        p.sync_index_keys();
        Ok(())
    }
}
