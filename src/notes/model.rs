//! A note as stored (snake_case, `PATIENT#{uid}` / `NOTE#{noteId}`) and as
//! answered (the contract's Note JSON), and the closed list of categories.
//! Items written by the old backend may lack `patient_uid` or `note_id`; both
//! are recovered from the keys, so old notes answer like new ones.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

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

    /// The Note JSON of the contract.
    pub fn to_json(&self) -> Value {
        json!({
            "noteId": self.note_id(),
            "patientId": self.patient_id(),
            "authorId": self.author_id,
            "mrn": self.mrn,
            "scheme": self.scheme,
            "category": self.category,
            "content": self.content,
            "files": self.files,
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
