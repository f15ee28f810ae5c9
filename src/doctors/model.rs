//! The doctor profile item (`USER#{doctorId}` / `PROFILE`) and its JSON shape.
//! `GSI1PK` puts an active doctor on their department's list; it is derived
//! from role, department and the deleted flag, and absent otherwise (the
//! index is sparse, so a deleted doctor simply drops out of it).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::ApiResult;
use crate::http::view_json;
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
    pub contact_info: Option<Map<String, Value>>,
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

    /// The Doctor of the contract.
    pub fn view(&self) -> DoctorView<'_> {
        DoctorView {
            doctor_id: &self.user_id,
            name: &self.name,
            role: &self.role,
            department: self.department.as_deref(),
            avatar: self.avatar.as_deref(),
            contact_info: self
                .contact_info
                .as_ref()
                .map_or_else(|| Cow::Owned(Map::new()), Cow::Borrowed),
            permissions: &self.permissions,
            email: &self.email,
            created_at: self.created_at.as_deref(),
            updated_at: self.updated_at.as_deref(),
            deleted: self.deleted,
        }
    }

    /// The Doctor JSON of the contract.
    pub fn to_json(&self) -> Value {
        view_json(&self.view())
    }
}

/// The Doctor of the contract: every key, null where absent; no contact
/// info answers as an empty object.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DoctorView<'a> {
    doctor_id: &'a str,
    name: &'a str,
    role: &'a str,
    department: Option<&'a str>,
    avatar: Option<&'a str>,
    contact_info: Cow<'a, Map<String, Value>>,
    permissions: &'a [String],
    email: &'a str,
    created_at: Option<&'a str>,
    updated_at: Option<&'a str>,
    deleted: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn full_doctor() -> DoctorItem {
        let mut d = DoctorItem::new("dr-1", "2025-01-01T00:00:00.000Z");
        d.name = "Dr. Mehta".into();
        d.department = Some("Cardiology".into());
        d.avatar = Some("patients/none/avatar.jpg".into());
        d.contact_info = serde_json::from_value(json!({
            "phone": "+91-900", "pager": 42, "extra": {"desk": ["a", "b"]}, "fax": null
        }))
        .unwrap();
        d.permissions = vec!["patients:write".into(), "admin".into()];
        d.email = "mehta@example.org".into();
        d.updated_at = Some("2025-01-02T00:00:00.000Z".into());
        d.sync_index_keys();
        d
    }

    fn legacy_doctor() -> DoctorItem {
        let item = store::to_item(&json!({"PK": "USER#dr-9", "SK": "PROFILE"})).unwrap();
        DoctorItem::from_item(item).unwrap()
    }

    #[test]
    fn a_doctor_answers_the_contract_json() {
        assert_eq!(
            full_doctor().to_json(),
            json!({
                "avatar": "patients/none/avatar.jpg",
                "contactInfo": {
                    "extra": {
                        "desk": ["a", "b"]
                    },
                    "fax": null,
                    "pager": 42,
                    "phone": "+91-900"
                },
                "createdAt": "2025-01-01T00:00:00.000Z",
                "deleted": false,
                "department": "Cardiology",
                "doctorId": "dr-1",
                "email": "mehta@example.org",
                "name": "Dr. Mehta",
                "permissions": ["patients:write", "admin"],
                "role": "doctor",
                "updatedAt": "2025-01-02T00:00:00.000Z"
            })
        );
        let mut gone = full_doctor();
        gone.deleted = true;
        assert_eq!(
            gone.to_json(),
            json!({
                "avatar": "patients/none/avatar.jpg",
                "contactInfo": {
                    "extra": {
                        "desk": ["a", "b"]
                    },
                    "fax": null,
                    "pager": 42,
                    "phone": "+91-900"
                },
                "createdAt": "2025-01-01T00:00:00.000Z",
                "deleted": true,
                "department": "Cardiology",
                "doctorId": "dr-1",
                "email": "mehta@example.org",
                "name": "Dr. Mehta",
                "permissions": ["patients:write", "admin"],
                "role": "doctor",
                "updatedAt": "2025-01-02T00:00:00.000Z"
            })
        );
    }

    #[test]
    fn an_old_doctor_answers_every_key_with_its_id_from_the_key() {
        assert_eq!(
            legacy_doctor().to_json(),
            json!({
                "avatar": null,
                "contactInfo": {},
                "createdAt": null,
                "deleted": false,
                "department": null,
                "doctorId": "dr-9",
                "email": "",
                "name": "",
                "permissions": [],
                "role": "doctor",
                "updatedAt": null
            })
        );
        assert_eq!(
            DoctorItem::default().to_json(),
            json!({
                "avatar": null,
                "contactInfo": {},
                "createdAt": null,
                "deleted": false,
                "department": null,
                "doctorId": "",
                "email": "",
                "name": "",
                "permissions": [],
                "role": "",
                "updatedAt": null
            })
        );
    }

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
