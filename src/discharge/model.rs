//! A discharge summary version (`PATIENT#{uid}` / `DS#{versionId}`, never
//! changed in content once written) and the pointer to the current one
//! (`DS#LATEST`), with the Version JSON of the contract.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ApiResult;
use crate::http::view_json;
use crate::keys;
use crate::store::{self, Item};

pub const STATUS_DRAFT: &str = "draft";
pub const STATUSES: [&str; 3] = [STATUS_DRAFT, "published", "archived"];

/// A version as stored. `sections` and `summary` are kept as the client's
/// JSON (maps of strings, checked on input).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VersionItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    #[serde(default)]
    pub version_id: String,
    #[serde(default)]
    pub patient_uid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default)]
    pub sections: Value,
    #[serde(default)]
    pub summary: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mdx: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mrn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    #[serde(default)]
    pub deleted: bool,
}

/// The Version JSON of the contract.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionView<'a> {
    version_id: &'a str,
    patient_id: &'a str,
    status: &'a str,
    sections: Value,
    summary: &'a Value,
    mdx: &'a Option<String>,
    author_id: &'a Option<String>,
    author_name: &'a Option<String>,
    commit_message: &'a Option<String>,
    mrn: &'a Option<String>,
    scheme: &'a Option<String>,
    created_at: &'a Option<String>,
    updated_at: &'a Option<String>,
    deleted: bool,
}

impl VersionItem {
    /// The version's id: its sort key after `DS#`, for versions written by
    /// the Node.js version (`DS#{iso}#{id}`) too, so a key lookup finds it.
    pub fn version_id(&self) -> &str {
        self.sk.strip_prefix("DS#").unwrap_or(&self.version_id)
    }

    pub fn patient_id(&self) -> &str {
        keys::stored_or_key_id(&self.patient_uid, &self.pk, keys::PATIENT_PREFIX)
    }

    pub fn view(&self) -> VersionView<'_> {
        VersionView {
            version_id: self.version_id(),
            patient_id: self.patient_id(),
            status: self.status.as_deref().unwrap_or(STATUS_DRAFT),
            sections: match &self.sections {
                Value::Null => Value::Object(Default::default()),
                other => other.clone(),
            },
            summary: &self.summary,
            mdx: &self.mdx,
            author_id: &self.author_id,
            author_name: &self.author_name,
            commit_message: &self.commit_message,
            mrn: &self.mrn,
            scheme: &self.scheme,
            created_at: &self.created_at,
            updated_at: &self.updated_at,
            deleted: self.deleted,
        }
    }

    pub fn to_json(&self) -> Value {
        view_json(&self.view())
    }

    pub fn from_item(item: Item) -> ApiResult<Self> {
        store::from_item(item)
    }
}

/// `DS#LATEST`: which version is current, how many live versions exist,
/// and a revision that every write moving it checks and bumps. A pointer
/// the Node.js version wrote (a copy of the latest summary, without a
/// version id, count or revision) is read as "not known": the current
/// version is then the newest live one.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Pointer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versions: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

impl Pointer {
    pub fn from_item(item: Option<Item>) -> ApiResult<Option<Self>> {
        item.map(store::from_item).transpose()
    }
}

/// A new version id: its creation time, then 12 random hex digits, so ids
/// sort by time and two saves in one millisecond still differ.
pub fn new_version_id(now: &str) -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{now}-{}", &random[..12])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn version_ids_sort_by_time_with_the_node_keys() {
        // Given a version id made now and a key the Node.js version wrote earlier
        let newer = keys::ds_sk(&new_version_id("2026-12-01T10:00:00.000Z"));
        let legacy = "DS#2026-11-30T09:00:00.000Z#abc";
        // Then both lie under the versions prefix, apart from the pointer,
        // and the newer sorts after the older
        assert!(newer.starts_with(keys::DS_VERSIONS_PREFIX));
        assert!(legacy.starts_with(keys::DS_VERSIONS_PREFIX));
        assert!(!keys::DS_LATEST_SK.starts_with(keys::DS_VERSIONS_PREFIX));
        assert!(newer.as_str() > legacy);
        assert_ne!(
            new_version_id("2026-12-01T10:00:00.000Z"),
            new_version_id("2026-12-01T10:00:00.000Z")
        );
    }

    #[test]
    fn a_node_written_version_reads_with_its_id_and_defaults() {
        // Given a version item as the Node.js version wrote it
        let item = VersionItem {
            pk: "PATIENT#u1".into(),
            sk: "DS#2025-01-02T03:04:05.000Z#n1".into(),
            sections: json!({"diagnosis": {"primary": "Appendicitis"}}),
            ..Default::default()
        };
        // Then its JSON names the id a key lookup uses, and the defaults
        let v = item.to_json();
        assert_eq!(v["versionId"], "2025-01-02T03:04:05.000Z#n1");
        assert_eq!(v["patientId"], "u1");
        assert_eq!(v["status"], "draft");
        assert_eq!(v["sections"]["diagnosis"]["primary"], "Appendicitis");
        assert_eq!(v["summary"], Value::Null);
        assert_eq!(v["deleted"], false);
        let empty = VersionItem::default().to_json();
        assert_eq!(empty["sections"], json!({}));
    }
}
