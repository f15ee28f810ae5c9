//! Person and episode fields as requests send them (camelCase or snake_case),
//! applied onto a patient item. Shared by create, update and registration.

use serde::Deserialize;

use super::model::{lenient_u32, EmergencyContact, PatientItem};
use crate::error::{ApiError, ApiResult};
use crate::http::input::{clean, key_text, required};

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
        p.sync_index_keys();
        Ok(())
    }
}
