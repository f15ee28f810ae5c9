//! A note as stored (snake_case, `PATIENT#{uid}` / `NOTE#{noteId}`) and as
//! answered (the contract's Note JSON), and the closed list of categories.
//! Items written by the old backend may lack `patient_uid` or `note_id`; both
//! are recovered from the keys, so old notes answer like new ones.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::http::view_json;
use crate::keys;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Category {
    DoctorNote,
    NurseNote,
    Pharmacy,
    Discharge,
}

impl Category {
    pub const ALL: [Category; 4] = [
        Category::DoctorNote,
        Category::NurseNote,
        Category::Pharmacy,
        Category::Discharge,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::DoctorNote => "doctorNote",
            Category::NurseNote => "nurseNote",
            Category::Pharmacy => "pharmacy",
            Category::Discharge => "discharge",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == raw.trim())
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NoteItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    #[serde(default)]
    pub note_id: String,
    #[serde(default)]
    pub patient_uid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(default)]
    pub files: Vec<String>,
    #[serde(default)]
    pub deleted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mrn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

impl NoteItem {
    pub fn note_id(&self) -> &str {
        keys::stored_or_key_id(&self.note_id, &self.sk, keys::NOTE_PREFIX)
    }

    pub fn patient_id(&self) -> &str {
        keys::stored_or_key_id(&self.patient_uid, &self.pk, keys::PATIENT_PREFIX)
    }

    /// The Note of the contract.
    pub fn view(&self) -> NoteView<'_> {
        NoteView {
            note_id: self.note_id(),
            patient_id: self.patient_id(),
            author_id: self.author_id.as_deref(),
            mrn: self.mrn.as_deref(),
            scheme: self.scheme.as_deref(),
            category: self.category.as_deref(),
            content: self.content.as_deref(),
            files: &self.files,
            created_at: self.created_at.as_deref(),
            updated_at: self.updated_at.as_deref(),
            deleted: self.deleted,
        }
    }

    /// The Note JSON of the contract.
    pub fn to_json(&self) -> Value {
        view_json(&self.view())
    }
}

/// An earlier version of a note, kept when an edit replaced it: what it
/// said, who wrote it and when, and who replaced it when.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NoteVersionItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub version_id: String,
    pub note_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// When this version was written (the note's `updated_at` then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written_at: Option<String>,
    pub replaced_at: String,
    pub replaced_by: String,
}

impl NoteVersionItem {
    /// `note` as it stood before an edit by `by` at `at`.
    pub fn of(note: &NoteItem, by: &str, at: &str) -> Self {
        let version_id = crate::clock::new_id();
        Self {
            pk: note.pk.clone(),
            sk: keys::note_version_sk(note.note_id(), &version_id),
            version_id,
            note_id: note.note_id().to_string(),
            author_id: note.author_id.clone(),
            category: note.category.clone(),
            content: note.content.clone(),
            written_at: note.updated_at.clone(),
            replaced_at: at.to_string(),
            replaced_by: by.to_string(),
        }
    }

    pub fn view(&self) -> NoteVersionView<'_> {
        NoteVersionView {
            version_id: &self.version_id,
            note_id: &self.note_id,
            author_id: self.author_id.as_deref(),
            category: self.category.as_deref(),
            content: self.content.as_deref(),
            written_at: self.written_at.as_deref(),
            replaced_at: &self.replaced_at,
            replaced_by: &self.replaced_by,
        }
    }
}

/// A note's earlier version as `GET .../notes/{noteId}/versions` lists it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NoteVersionView<'a> {
    version_id: &'a str,
    note_id: &'a str,
    author_id: Option<&'a str>,
    category: Option<&'a str>,
    content: Option<&'a str>,
    written_at: Option<&'a str>,
    replaced_at: &'a str,
    replaced_by: &'a str,
}

/// The Note of the contract: every key, null where absent.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NoteView<'a> {
    note_id: &'a str,
    patient_id: &'a str,
    author_id: Option<&'a str>,
    mrn: Option<&'a str>,
    scheme: Option<&'a str>,
    category: Option<&'a str>,
    content: Option<&'a str>,
    files: &'a [String],
    created_at: Option<&'a str>,
    updated_at: Option<&'a str>,
    deleted: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn full_note() -> NoteItem {
        NoteItem {
            pk: "PATIENT#u1".into(),
            sk: "NOTE#n1".into(),
            note_id: "n1".into(),
            patient_uid: "u1".into(),
            author_id: Some("dr-1".into()),
            category: Some("doctorNote".into()),
            content: Some("Stable overnight.".into()),
            files: vec!["patients/u1/optimized/notes/a.jpg".into()],
            deleted: true,
            mrn: Some("M1".into()),
            scheme: Some("GEN".into()),
            created_at: Some("2025-01-01T00:00:00.000Z".into()),
            updated_at: Some("2025-01-02T00:00:00.000Z".into()),
        }
    }

    fn legacy_note() -> NoteItem {
        let item = crate::store::to_item(&json!({
            "PK": "PATIENT#u1", "SK": "NOTE#n1", "content": "text"
        }))
        .unwrap();
        crate::store::from_item(item).unwrap()
    }

    #[test]
    fn a_note_answers_the_contract_json() {
        assert_eq!(
            full_note().to_json(),
            json!({
                "authorId": "dr-1",
                "category": "doctorNote",
                "content": "Stable overnight.",
                "createdAt": "2025-01-01T00:00:00.000Z",
                "deleted": true,
                "files": ["patients/u1/optimized/notes/a.jpg"],
                "mrn": "M1",
                "noteId": "n1",
                "patientId": "u1",
                "scheme": "GEN",
                "updatedAt": "2025-01-02T00:00:00.000Z"
            })
        );
    }

    #[test]
    fn an_old_note_answers_every_key_with_ids_from_its_keys() {
        assert_eq!(
            legacy_note().to_json(),
            json!({
                "authorId": null,
                "category": null,
                "content": "text",
                "createdAt": null,
                "deleted": false,
                "files": [],
                "mrn": null,
                "noteId": "n1",
                "patientId": "u1",
                "scheme": null,
                "updatedAt": null
            })
        );
        assert_eq!(
            NoteItem::default().to_json(),
            json!({
                "authorId": null,
                "category": null,
                "content": null,
                "createdAt": null,
                "deleted": false,
                "files": [],
                "mrn": null,
                "noteId": "",
                "patientId": "",
                "scheme": null,
                "updatedAt": null
            })
        );
    }

    #[test]
    fn categories_are_the_closed_list_of_the_contract() {
        for c in Category::ALL {
            assert_eq!(Category::parse(c.as_str()), Some(c));
        }
        assert_eq!(Category::parse(" pharmacy "), Some(Category::Pharmacy));
        assert_eq!(Category::parse("DoctorNote"), None);
        assert_eq!(Category::parse("surgeonNote"), None);
    }

    #[test]
    fn an_old_note_without_ids_answers_with_ids_from_its_keys() {
        // Given a note as the old backend stored it
        let item = crate::store::to_item(&serde_json::json!({
            "PK": "PATIENT#u1", "SK": "NOTE#n1", "content": "text", "deleted": false
        }))
        .unwrap();
        // When it is read
        let note: NoteItem = crate::store::from_item(item).unwrap();
        // Then its ids come from the keys and missing values are null/[]
        let j = note.to_json();
        assert_eq!(j["noteId"], "n1");
        assert_eq!(j["patientId"], "u1");
        assert_eq!(j["files"], json!([]));
        assert_eq!(j["authorId"], Value::Null);
        assert_eq!(j["deleted"], false);
    }

    #[test]
    fn absent_optional_fields_are_not_stored_as_nulls() {
        let note = NoteItem {
            pk: "PATIENT#u1".into(),
            sk: "NOTE#n1".into(),
            ..Default::default()
        };
        let item = crate::store::to_item(&note).unwrap();
        assert!(!item.contains_key("mrn"));
        assert!(!item.contains_key("author_id"));
        assert!(item.contains_key("files"));
    }
}
