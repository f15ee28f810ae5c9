//! The doctor profile item (`USER#{doctorId}` / `PROFILE`) and its JSON shape.
//! `GSI1PK` puts an active doctor on their department's list; it is derived
//! from role, department and the deleted flag, and absent otherwise (the
//! index is sparse, so a deleted doctor simply drops out of it).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::ApiResult;
use crate::keys;
use crate::store::{self, Item};

pub const ROLE_DOCTOR: &str = "doctor";

/// Attributes the department-list key derives from: a write must find them
/// as read.
pub const INDEX_SOURCES: &[&str] = &["deleted", "department", "role"];

/// Optional attributes a patch may clear (absent from the item when `None`).
pub const CLEARABLE: &[&str] = &["department", "avatar", "contact_info", "GSI1PK"];

fn default_role() -> String {
    ROLE_DOCTOR.to_string()
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DoctorItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    #[serde(default)]
    pub user_id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default = "default_role")]
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_info: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    pub permissions: Vec<String>,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub deleted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    #[serde(rename = "GSI1PK", default, skip_serializing_if = "Option::is_none")]
    pub gsi1pk: Option<String>,
}

impl DoctorItem {
    pub fn new(user_id: &str, now: &str) -> Self {
        Self {
            pk: keys::user_pk(user_id),
            sk: keys::PROFILE_SK.to_string(),
            user_id: user_id.to_string(),
            role: default_role(),
            created_at: Some(now.to_string()),
            updated_at: Some(now.to_string()),
            ..Default::default()
        }
    }

    /// Reads a stored item; an id missing from an old item comes from its key.
    pub fn from_item(item: Item) -> ApiResult<Self> {
        let mut doctor: Self = store::from_item(item)?;
        if doctor.user_id.is_empty() {
            doctor.user_id = doctor
                .pk
                .strip_prefix("USER#")
                .unwrap_or_default()
                .to_string();
        }
        Ok(doctor)
    }

    pub fn is_listed(&self) -> bool {
        !self.deleted && self.role.eq_ignore_ascii_case(ROLE_DOCTOR) && self.department.is_some()
    }

    /// Recomputes the department-list key from the fields it mirrors.
    pub fn sync_index_keys(&mut self) {
        self.gsi1pk = if self.is_listed() {
            self.department.as_deref().map(keys::doctor_gsi1)
        } else {
            None
        };
    }

    /// The Doctor JSON of the contract.
    pub fn to_json(&self) -> Value {
        json!({
            "doctorId": self.user_id,
            "name": self.name,
            "role": self.role,
            "department": self.department,
            "avatar": self.avatar,
            "contactInfo": self.contact_info.clone().unwrap_or_default(),
            "permissions": self.permissions,
            "email": self.email,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "deleted": self.deleted,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_active_doctors_with_a_department_are_listed() {
        // Given a doctor of Cardiology
        let mut d = DoctorItem::new("dr-1", "2025-01-01T00:00:00.000Z");
        d.department = Some("Cardiology".into());
        d.sync_index_keys();
        assert_eq!(d.gsi1pk.as_deref(), Some("DEPT#Cardiology#ROLE#DOCTOR"));
        // When the role is another one, or the doctor is deleted, or has no department
        for change in [
            |d: &mut DoctorItem| d.role = "nurse".into(),
            |d: &mut DoctorItem| d.deleted = true,
            |d: &mut DoctorItem| d.department = None,
        ] {
            let mut other = d.clone();
            change(&mut other);
            other.sync_index_keys();
            // Then the key is absent
            assert_eq!(other.gsi1pk, None);
        }
        // And the stored item carries no GSI1PK attribute at all (not a NULL)
        let mut gone = d.clone();
        gone.deleted = true;
        gone.sync_index_keys();
        assert!(!store::to_item(&gone).unwrap().contains_key("GSI1PK"));
    }

    #[test]
    fn json_has_empty_contact_info_and_permissions_by_default() {
        let d = DoctorItem::new("dr-1", "t");
        let j = d.to_json();
        assert_eq!(j["doctorId"], "dr-1");
        assert_eq!(j["contactInfo"], json!({}));
        assert_eq!(j["permissions"], json!([]));
        assert_eq!(j["role"], "doctor");
        assert_eq!(j["deleted"], false);
    }
}
