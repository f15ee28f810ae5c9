//! Doctor fields as requests send them (camelCase or snake_case), validated
//! before anything is read or written. Create and patch share them.

use serde::Deserialize;
use serde_json::Value;

use super::model::DoctorItem;
use crate::error::{ApiError, ApiResult};
use crate::http::input::key_text;
use crate::http::nullable;

const MAX_ID: usize = 128;
const MAX_NAME: usize = 200;
const MAX_ROLE: usize = 64;
const MAX_AVATAR: usize = 2048;
const MAX_EMAIL: usize = 254;
const MAX_PERMISSIONS: usize = 100;
const MAX_PERMISSION: usize = 100;
/// Contact details are a small map; bounded so an item stays far below
/// DynamoDB's 400 KB.
const MAX_CONTACT_INFO_BYTES: usize = 10 * 1024;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DoctorBody {
    pub user_id: Option<String>,
    pub doctor_id: Option<String>,
    name: Option<String>,
    role: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    department: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    avatar: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    contact_info: Option<Option<serde_json::Map<String, Value>>>,
    permissions: Option<Vec<String>>,
    email: Option<String>,
}

/// Validated changes, in their stored form.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct DoctorChanges {
    pub name: Option<String>,
    pub role: Option<String>,
    pub department: Option<Option<String>>,
    pub avatar: Option<Option<String>>,
    pub contact_info: Option<Option<serde_json::Map<String, Value>>>,
    pub permissions: Option<Vec<String>>,
    pub email: Option<String>,
}

/// Ids end up in keys and URLs: letters, digits, `-`, `_`, `.`, `@`; ≤ 128.
pub fn valid_user_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@'))
}

/// A basic shape check: `local@domain.tld`, no spaces, one `@`.
pub fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    email.len() <= MAX_EMAIL
        && !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn text(value: &str, field: &str, max: usize) -> ApiResult<String> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > max || v.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "{field} must be 1-{max} characters without control characters"
        )));
    }
    Ok(v.to_string())
}

impl DoctorBody {
    /// The id a create asked for (`userId`, or `doctorId`), validated.
    pub fn requested_id(&self) -> ApiResult<Option<String>> {
        match self.user_id.as_deref().or(self.doctor_id.as_deref()) {
            None => Ok(None),
            Some(id) if valid_user_id(id.trim()) => Ok(Some(id.trim().to_string())),
            Some(_) => Err(ApiError::bad_request(format!(
                "userId must be 1-{MAX_ID} letters, digits, '-', '_', '.' or '@'"
            ))),
        }
    }

    pub fn validate(&self) -> ApiResult<DoctorChanges> {
        let role = self
            .role
            .as_deref()
            .map(|r| {
                let r = text(r, "role", MAX_ROLE)?.to_lowercase();
                if r.contains('#') {
                    return Err(ApiError::bad_request("role must not contain '#'"));
                }
                Ok(r)
            })
            .transpose()?;
        let department = match &self.department {
            None => None,
            Some(None) => Some(None),
            Some(Some(d)) => Some(Some(key_text(d, "department")?)),
        };
        let avatar = match &self.avatar {
            None => None,
            Some(None) => Some(None),
            Some(Some(a)) if a.trim().is_empty() => Some(None),
            Some(Some(a)) => Some(Some(text(a, "avatar", MAX_AVATAR)?)),
        };
        if let Some(Some(info)) = &self.contact_info {
            if serde_json::to_vec(info).map_or(true, |b| b.len() > MAX_CONTACT_INFO_BYTES) {
                return Err(ApiError::bad_request(format!(
                    "contactInfo must be at most {MAX_CONTACT_INFO_BYTES} bytes"
                )));
            }
        }
        let permissions = self
            .permissions
            .as_ref()
            .map(|list| {
                if list.len() > MAX_PERMISSIONS {
                    return Err(ApiError::bad_request(format!(
                        "permissions holds at most {MAX_PERMISSIONS} entries"
                    )));
                }
                let mut out: Vec<String> = Vec::with_capacity(list.len());
                for p in list {
                    let p = text(p, "permissions entries", MAX_PERMISSION)?;
                    if !out.contains(&p) {
                        out.push(p);
                    }
                }
                Ok(out)
            })
            .transpose()?;
        let email = self
            .email
            .as_deref()
            .map(|e| {
                let e = e.trim();
                if valid_email(e) {
                    Ok(e.to_string())
                } else {
                    Err(ApiError::bad_request(
                        "email must look like name@example.org",
                    ))
                }
            })
            .transpose()?;
        Ok(DoctorChanges {
            name: self
                .name
                .as_deref()
                .map(|n| text(n, "name", MAX_NAME))
                .transpose()?,
            role,
            department,
            avatar,
            contact_info: self.contact_info.clone(),
            permissions,
            email,
        })
    }
}

impl DoctorChanges {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Applies the changes (the caller recomputes the index key).
    pub fn apply(&self, d: &mut DoctorItem) {
        if let Some(v) = &self.name {
            d.name = v.clone();
        }
        if let Some(v) = &self.role {
            d.role = v.clone();
        }
        if let Some(v) = &self.department {
            d.department = v.clone();
        }
        if let Some(v) = &self.avatar {
            d.avatar = v.clone();
        }
        if let Some(v) = &self.contact_info {
            d.contact_info = v.clone();
        }
        if let Some(v) = &self.permissions {
            d.permissions = v.clone();
        }
        if let Some(v) = &self.email {
            d.email = v.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: Value) -> DoctorBody {
        serde_json::from_value(v).expect("shape")
    }

    #[test]
    fn ids_allow_only_key_safe_characters() {
        assert!(valid_user_id("dr.jane-doe_2@clinic.org"));
        for bad in ["", "a b", "a/b", "a#b", "ü", &"x".repeat(129)] {
            assert!(!valid_user_id(bad), "{bad:?}");
        }
        assert!(body(json!({"userId": "a/b"})).requested_id().is_err());
        assert_eq!(
            body(json!({"doctorId": "d-1"})).requested_id().unwrap(),
            Some("d-1".into())
        );
    }

    #[test]
    fn emails_need_a_basic_shape() {
        assert!(valid_email("jane@clinic.org"));
        for bad in [
            "jane",
            "@clinic.org",
            "jane@clinic",
            "jane@@clinic.org",
            "ja ne@x.org",
            "j@.org",
            "j@x.org.",
        ] {
            assert!(!valid_email(bad), "{bad:?}");
        }
    }

    #[test]
    fn fields_are_normalized_and_null_clears() {
        // Given a patch with a role in capitals, duplicated permissions and null avatar
        let c = body(json!({
            "role": " Doctor ", "permissions": ["read", "read", "write"],
            "avatar": null, "department": "Cardiology", "contactInfo": {"phone": "1"}
        }))
        .validate()
        .unwrap();
        // Then they are in their stored form
        assert_eq!(c.role.as_deref(), Some("doctor"));
        assert_eq!(c.permissions, Some(vec!["read".into(), "write".into()]));
        assert_eq!(c.avatar, Some(None));
        assert_eq!(c.department, Some(Some("Cardiology".into())));
        assert!(body(json!({"other": 1})).validate().unwrap().is_empty());
    }

    #[test]
    fn bad_values_are_400s() {
        for v in [
            json!({"email": "nope"}),
            json!({"name": "  "}),
            json!({"department": ""}),
            json!({"role": "a#b"}),
            json!({"permissions": [""]}),
            json!({"contactInfo": {"notes": "x".repeat(20_000)}}),
        ] {
            let err = body(v.clone()).validate().unwrap_err();
            assert_eq!(err.status().as_u16(), 400, "{v}");
        }
    }
}

#[cfg(test)]
mod properties {
    //! Any body: a valid doctor, or a 400.

    use proptest::prelude::*;

    use super::DoctorBody;

    use crate::proptest_support::{body, config, is_client_error, request};

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn any_doctor_body_is_valid_or_a_400(body in body(), query in ".{0,40}") {
            let req = request(body, &query);
            let doctor = req
                .json::<DoctorBody>()
                .and_then(|b| b.requested_id().and_then(|_| b.validate()));
            prop_assert!(is_client_error(&doctor));
        }
    }
}
