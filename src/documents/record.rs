//! The documents record (`PATIENT#{uid}` / `DOCS#PROFILE`): in the entry
//! layout the summary (counts, version, timestamps) of the entries kept as
//! items by `entries`; in the earlier layout the seven lists themselves.
//! Its JSON view is the Documents screen's, whichever the layout.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::category::Category;
use crate::error::ApiResult;
use crate::http::view_json;
use crate::keys;
use crate::store::{self, Item};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stamp {
    pub label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stamped_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stamped_by: Option<String>,
}

/// One attached document; stored with the same field names the API returns.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocEntry {
    pub key: String,
    #[serde(default)]
    pub uploaded_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uploaded_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stamp: Option<Stamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mrn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DocumentsRecord {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    #[serde(default)]
    pub preop_pics: Vec<DocEntry>,
    #[serde(default)]
    pub lab_reports: Vec<DocEntry>,
    #[serde(default)]
    pub radiology: Vec<DocEntry>,
    #[serde(default)]
    pub intraop_pics: Vec<DocEntry>,
    #[serde(default)]
    pub ot_notes: Vec<DocEntry>,
    #[serde(default)]
    pub postop_pics: Vec<DocEntry>,
    #[serde(default)]
    pub discharge_pics: Vec<DocEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// Bumped by every write; records written before it existed count as 0.
    #[serde(default)]
    pub version: u64,
    /// 2 once the entries are items of their own (`documents::entries`);
    /// before, they are the seven lists above.
    #[serde(default)]
    pub layout: u32,
    #[serde(flatten)]
    pub counts: Counts,
}

/// How many entries each category holds (`count_{category}`), kept in step
/// by every write of the entry layout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    #[serde(default, rename = "count_preop_pics")]
    pub preop_pics: u64,
    #[serde(default, rename = "count_lab_reports")]
    pub lab_reports: u64,
    #[serde(default, rename = "count_radiology")]
    pub radiology: u64,
    #[serde(default, rename = "count_intraop_pics")]
    pub intraop_pics: u64,
    #[serde(default, rename = "count_ot_notes")]
    pub ot_notes: u64,
    #[serde(default, rename = "count_postop_pics")]
    pub postop_pics: u64,
    #[serde(default, rename = "count_discharge_pics")]
    pub discharge_pics: u64,
}

impl Counts {
    /// `c`'s count, to read or change.
    fn slot(&mut self, c: Category) -> &mut u64 {
        match c {
            Category::PreopPics => &mut self.preop_pics,
            Category::LabReports => &mut self.lab_reports,
            Category::Radiology => &mut self.radiology,
            Category::IntraopPics => &mut self.intraop_pics,
            Category::OtNotes => &mut self.ot_notes,
            Category::PostopPics => &mut self.postop_pics,
            Category::DischargePics => &mut self.discharge_pics,
        }
    }

    /// `delta` onto `c`'s count (never below 0).
    pub fn add(&mut self, c: Category, delta: i64) {
        let slot = self.slot(c);
        *slot = slot.saturating_add_signed(delta);
    }

    pub fn get(&self, c: Category) -> u64 {
        // Counts is Copy: read through a copy's slot.
        let mut counts = *self;
        *counts.slot(c)
    }
}

impl DocumentsRecord {
    pub fn empty(uid: &str) -> Self {
        Self {
            pk: keys::patient_pk(uid),
            sk: keys::DOCS_SK.to_string(),
            ..Default::default()
        }
    }

    pub fn from_item(item: Option<Item>, uid: &str) -> ApiResult<Option<Self>> {
        item.map(store::from_item::<Self>).transpose().map(|r| {
            r.map(|mut rec| {
                rec.pk = keys::patient_pk(uid);
                rec
            })
        })
    }

    pub fn list(&self, c: Category) -> &Vec<DocEntry> {
        match c {
            Category::PreopPics => &self.preop_pics,
            Category::LabReports => &self.lab_reports,
            Category::Radiology => &self.radiology,
            Category::IntraopPics => &self.intraop_pics,
            Category::OtNotes => &self.ot_notes,
            Category::PostopPics => &self.postop_pics,
            Category::DischargePics => &self.discharge_pics,
        }
    }

    pub fn list_mut(&mut self, c: Category) -> &mut Vec<DocEntry> {
        match c {
            Category::PreopPics => &mut self.preop_pics,
            Category::LabReports => &mut self.lab_reports,
            Category::Radiology => &mut self.radiology,
            Category::IntraopPics => &mut self.intraop_pics,
            Category::OtNotes => &mut self.ot_notes,
            Category::PostopPics => &mut self.postop_pics,
            Category::DischargePics => &mut self.discharge_pics,
        }
    }

    /// Every attached key, for the links a response hands out.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        Category::ALL
            .into_iter()
            .flat_map(|c| self.list(c).iter().map(|e| e.key.as_str()))
    }

    /// The Documents screen's record, each entry with its link from `links`
    /// (key → link; a key without one answers null, as when no files bucket
    /// is configured). The same link is both `cdnUrl` and `url`.
    pub fn view<'a>(&'a self, uid: &'a str, links: &'a Links) -> DocumentsView<'a> {
        let entry = |e: &'a DocEntry| e.view(links);
        DocumentsView {
            uid,
            patient_id: uid,
            created_at: self.created_at.as_deref(),
            updated_at: self.updated_at.as_deref(),
            version: self.version,
            lists: Category::ALL
                .into_iter()
                .map(|c| (c.field(), self.list(c).iter().map(entry).collect()))
                .collect(),
        }
    }

    /// The Documents screen's JSON (see `view`).
    pub fn to_json(&self, uid: &str, links: &Links) -> Value {
        view_json(&self.view(uid, links))
    }
}

impl DocEntry {
    /// The entry as answered, with its link from `links` in both fields.
    pub fn view<'a>(&'a self, links: &'a Links) -> DocEntryView<'a> {
        let link = links.get(&self.key).map(String::as_str);
        DocEntryView {
            key: &self.key,
            uploaded_at: &self.uploaded_at,
            uploaded_by: self.uploaded_by.as_deref(),
            caption: self.caption.as_deref(),
            mime_type: self.mime_type.as_deref(),
            size: self.size,
            stamp: self.stamp.as_ref(),
            mrn: self.mrn.as_deref(),
            scheme: self.scheme.as_deref(),
            cdn_url: link,
            url: link,
        }
    }

    pub fn to_json(&self, links: &Links) -> Value {
        view_json(&self.view(links))
    }
}

/// The link of each attached key that has one: key → link.
pub type Links = HashMap<String, String>;

/// The Documents screen's record: every key, null where absent, and one
/// list per category under its response field name.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentsView<'a> {
    uid: &'a str,
    patient_id: &'a str,
    created_at: Option<&'a str>,
    updated_at: Option<&'a str>,
    version: u64,
    #[serde(flatten)]
    lists: BTreeMap<&'static str, Vec<DocEntryView<'a>>>,
}

/// An entry as answered: its stored fields (null where absent) and its link.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DocEntryView<'a> {
    key: &'a str,
    uploaded_at: &'a str,
    uploaded_by: Option<&'a str>,
    caption: Option<&'a str>,
    mime_type: Option<&'a str>,
    size: Option<i64>,
    stamp: Option<&'a Stamp>,
    mrn: Option<&'a str>,
    scheme: Option<&'a str>,
    cdn_url: Option<&'a str>,
    url: Option<&'a str>,
}

/// What a change did to a category list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Applied,
    /// Nothing to write (e.g. the key is already attached).
    Unchanged,
}

/// A second attach of a listed key (e.g. the ingest attached it first)
/// only gives the entry the caption, stamp and uploader it lacks, so the
/// client's attach that comes second loses nothing and a repeat changes
/// nothing.
pub fn fill_missing(existing: &mut DocEntry, entry: &DocEntry) -> Change {
    let mut change = Change::Unchanged;
    let mut fill = |slot: &mut Option<String>, value: &Option<String>| {
        if slot.is_none() && value.is_some() {
            slot.clone_from(value);
            change = Change::Applied;
        }
    };
    fill(&mut existing.caption, &entry.caption);
    fill(&mut existing.uploaded_by, &entry.uploaded_by);
    if existing.stamp.is_none() && entry.stamp.is_some() {
        existing.stamp.clone_from(&entry.stamp);
        change = Change::Applied;
    }
    change
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const LAB: &str = "patients/u1/optimized/docs/lab/cbc.jpg";
    const PREOP: &str = "patients/u1/optimized/docs/preop/front.jpg";
    const OT: &str = "patients/u1/originals/ot.pdf";

    /// Three categories in use: a stamped lab report with every field, a
    /// partly stamped photo, and an entry the ingest wrote with its key only.
    fn full_record() -> DocumentsRecord {
        let mut record = DocumentsRecord::empty("u1");
        record.created_at = Some("2025-01-01T00:00:00.000Z".into());
        record.updated_at = Some("2025-01-02T00:00:00.000Z".into());
        record.version = 3;
        record.lab_reports.push(DocEntry {
            key: LAB.into(),
            uploaded_at: "2025-01-01T00:00:00.000Z".into(),
            uploaded_by: Some("dr-1".into()),
            caption: Some("CBC".into()),
            mime_type: Some("image/jpeg".into()),
            size: Some(2048),
            stamp: Some(Stamp {
                label: "verified".into(),
                stamped_at: Some("2025-01-01T00:00:01.000Z".into()),
                stamped_by: Some("dr-2".into()),
            }),
            mrn: Some("M1".into()),
            scheme: Some("GEN".into()),
        });
        record.preop_pics.push(DocEntry {
            key: PREOP.into(),
            uploaded_at: "2025-01-01T00:00:02.000Z".into(),
            stamp: Some(Stamp {
                label: "reviewed".into(),
                ..Default::default()
            }),
            ..Default::default()
        });
        record.ot_notes.push(DocEntry {
            key: OT.into(),
            ..Default::default()
        });
        record
    }

    /// The record's JSON, with `link(key)` as each entry's link.
    fn expected(link: &dyn Fn(&str) -> Value) -> Value {
        json!({
            "createdAt": "2025-01-01T00:00:00.000Z",
            "dischargePics": [],
            "intraopPics": [],
            "labReports": [
                {
                    "caption": "CBC",
                    "cdnUrl": link(LAB),
                    "key": LAB,
                    "mimeType": "image/jpeg",
                    "mrn": "M1",
                    "scheme": "GEN",
                    "size": 2048,
                    "stamp": {
                        "label": "verified",
                        "stampedAt": "2025-01-01T00:00:01.000Z",
                        "stampedBy": "dr-2"
                    },
                    "uploadedAt": "2025-01-01T00:00:00.000Z",
                    "uploadedBy": "dr-1",
                    "url": link(LAB)
                }
            ],
            "otNotes": [
                {
                    "caption": null,
                    "cdnUrl": link(OT),
                    "key": OT,
                    "mimeType": null,
                    "mrn": null,
                    "scheme": null,
                    "size": null,
                    "stamp": null,
                    "uploadedAt": "",
                    "uploadedBy": null,
                    "url": link(OT)
                }
            ],
            "patientId": "u1",
            "postopPics": [],
            "preopPics": [
                {
                    "caption": null,
                    "cdnUrl": link(PREOP),
                    "key": PREOP,
                    "mimeType": null,
                    "mrn": null,
                    "scheme": null,
                    "size": null,
                    "stamp": {
                        "label": "reviewed"
                    },
                    "uploadedAt": "2025-01-01T00:00:02.000Z",
                    "uploadedBy": null,
                    "url": link(PREOP)
                }
            ],
            "radiology": [],
            "uid": "u1",
            "updatedAt": "2025-01-02T00:00:00.000Z",
            "version": 3
        })
    }

    #[test]
    fn the_record_answers_every_key_and_one_link_per_entry_in_both_fields() {
        // Given a link for each attached key
        let links: Links = [LAB, PREOP, OT]
            .into_iter()
            .map(|key| (key.to_string(), format!("https://cdn.example/{key}?sig=1")))
            .collect();
        // Then each entry carries its own, as cdnUrl and url
        assert_eq!(
            full_record().to_json("u1", &links),
            expected(&|key| json!(format!("https://cdn.example/{key}?sig=1")))
        );
        // And without links (no files bucket) every link is null
        assert_eq!(
            full_record().to_json("u1", &Links::new()),
            expected(&|_| Value::Null)
        );
        // And an empty record still lists every category
        assert_eq!(
            DocumentsRecord::empty("u7").to_json("u7", &Links::new()),
            json!({
                "createdAt": null,
                "dischargePics": [],
                "intraopPics": [],
                "labReports": [],
                "otNotes": [],
                "patientId": "u7",
                "postopPics": [],
                "preopPics": [],
                "radiology": [],
                "uid": "u7",
                "updatedAt": null,
                "version": 0
            })
        );
    }

    fn entry(key: &str, at: &str) -> DocEntry {
        DocEntry {
            key: key.into(),
            uploaded_at: at.into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_second_attach_fills_in_only_what_the_entry_lacks() {
        // Given an entry the ingest attached (no caption, stamp or uploader)
        let mut stored = entry("k1", "2025-01-01T00:00:00.000Z");
        // When the client's attach of the same key comes second
        let mut later = entry("k1", "2025-01-01T00:00:01.000Z");
        later.caption = Some("CBC".into());
        later.uploaded_by = Some("dr-a".into());
        later.stamp = Some(Stamp {
            label: "verified".into(),
            ..Default::default()
        });
        assert_eq!(fill_missing(&mut stored, &later), Change::Applied);
        // Then the entry gains them, keeps its time, and a repeat is a no-op
        assert_eq!(stored.caption.as_deref(), Some("CBC"));
        assert_eq!(
            stored.stamp.as_ref().map(|s| s.label.as_str()),
            Some("verified")
        );
        assert_eq!(stored.uploaded_at, "2025-01-01T00:00:00.000Z");
        later.caption = Some("other".into());
        assert_eq!(fill_missing(&mut stored, &later), Change::Unchanged);
        assert_eq!(stored.caption.as_deref(), Some("CBC"));
    }
}
