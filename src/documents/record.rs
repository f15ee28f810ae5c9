//! The documents record (`PATIENT#{uid}` / `DOCS#PROFILE`) and its guarded
//! writes. Every write bumps `version`; a write succeeds only if the version
//! it read is still current, otherwise it re-reads and re-applies a bounded
//! number of times before answering 409. No attach is ever lost silently.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use aws_sdk_dynamodb::types::Update;

use super::category::Category;
use crate::audit::Audit;
use crate::clock;
use crate::context::Context;
use crate::error::{ApiError, ApiResult};
use crate::http::view_json;
use crate::keys;
use crate::store::{self, tx, Item};

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
    /// The concurrency token; records written before it existed count as 0.
    #[serde(default)]
    pub version: u64,
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
        let entry = |e: &'a DocEntry| {
            let link = links.get(&e.key).map(String::as_str);
            DocEntryView {
                key: &e.key,
                uploaded_at: &e.uploaded_at,
                uploaded_by: e.uploaded_by.as_deref(),
                caption: e.caption.as_deref(),
                mime_type: e.mime_type.as_deref(),
                size: e.size,
                stamp: e.stamp.as_ref(),
                mrn: e.mrn.as_deref(),
                scheme: e.scheme.as_deref(),
                cdn_url: link,
                url: link,
            }
        };
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

/// Reads (unless `first` was already read), applies `change` to one category
/// list and writes it back guarded by the version it read; retries on a lost
/// race. `first`: the record as already read (outer `None`: not read yet).
pub async fn modify<F>(
    ctx: &Context,
    uid: &str,
    category: Category,
    mut first: Option<Option<DocumentsRecord>>,
    audit: &Audit,
    change: F,
) -> ApiResult<(DocumentsRecord, Change)>
where
    F: Fn(&mut Vec<DocEntry>) -> ApiResult<Change>,
{
    let mut attempts = store::Attempts::new("documents record");
    while attempts.next().await {
        let current = match first.take() {
            Some(read) => read,
            None => {
                store::get::<DocumentsRecord>(ctx, &keys::patient_pk(uid), keys::DOCS_SK).await?
            }
        };
        let mut record = current.unwrap_or_else(|| DocumentsRecord::empty(uid));
        let before: Vec<String> = record
            .list(category)
            .iter()
            .map(|e| e.key.clone())
            .collect();
        if change(record.list_mut(category))? == Change::Unchanged {
            return Ok((record, Change::Unchanged));
        }
        // Entries the change dropped besides those it names (the oldest,
        // replaced under a cap) are named in its ledger entry too.
        let list = record.list(category);
        let dropped: Vec<String> = before
            .into_iter()
            .filter(|k| !list.iter().any(|e| &e.key == k) && !audit.keys.contains(k))
            .collect();
        if !dropped.is_empty() {
            tracing::info!(
                category = category.name(),
                replaced = dropped.len(),
                "oldest documents replaced"
            );
        }
        let audit = &audit.clone().keys(dropped);
        let expected = record.version;
        let now = clock::now_rfc3339();
        record.version = expected + 1;
        record.updated_at = Some(now.clone());
        record.created_at.get_or_insert(now.clone());
        if write(ctx, uid, category, &record, expected, &now, audit)
            .await?
            .is_ok()
        {
            return Ok((record, Change::Applied));
        }
        // Lost the race: read again.
    }
    tracing::info!(category = category.name(), "documents record contended");
    Err(attempts.exhausted())
}

/// One transaction: the update of the changed list, the version and the
/// timestamps, and the audit item.
async fn write(
    ctx: &Context,
    uid: &str,
    category: Category,
    record: &DocumentsRecord,
    expected: u64,
    now: &str,
    audit: &Audit,
) -> ApiResult<store::Outcome<()>> {
    let list = store::to_attr(record.list(category))?;
    let mut values: HashMap<String, _> = HashMap::from([
        (":list".to_string(), list),
        (
            ":next".to_string(),
            aws_sdk_dynamodb::types::AttributeValue::N(record.version.to_string()),
        ),
        (":now".to_string(), store::s(now)),
    ]);
    // A record written before versions existed (or not yet written) counts as 0.
    let condition = if expected == 0 {
        values.insert(
            ":zero".to_string(),
            aws_sdk_dynamodb::types::AttributeValue::N("0".into()),
        );
        "attribute_not_exists(#version) OR #version = :zero"
    } else {
        values.insert(
            ":expected".to_string(),
            aws_sdk_dynamodb::types::AttributeValue::N(expected.to_string()),
        );
        "#version = :expected"
    };
    let update = Update::builder()
        .table_name(ctx.table())
        .set_key(Some(store::key(keys::patient_pk(uid), keys::DOCS_SK)))
        .update_expression("SET #list = :list, #version = :next, updated_at = :now, created_at = if_not_exists(created_at, :now)")
        .condition_expression(condition)
        .expression_attribute_names("#list", category.name())
        .expression_attribute_names("#version", "version")
        .set_expression_attribute_values(Some(values))
        .build()
        .map_err(|e| ApiError::Internal(format!("documents update: {e}")))?;
    let audit = audit
        .clone()
        .target(category.name())
        .tx_item(ctx.table(), uid)?;
    store::transact(ctx, vec![tx::update(update), audit]).await
}

/// Adds `entry` unless its key is already listed; enforces the category cap,
/// dropping the oldest entries only when `replace_oldest` is set. A listed
/// key (e.g. attached by the S3 ingest first) only gains the caption, stamp
/// and uploader it lacks, so a client's attach that comes second loses
/// nothing and a repeat changes nothing.
pub fn attach_entry(
    list: &mut Vec<DocEntry>,
    category: Category,
    entry: &DocEntry,
    replace_oldest: bool,
) -> ApiResult<Change> {
    if let Some(existing) = list.iter_mut().find(|e| e.key == entry.key) {
        let mut change = Change::Unchanged;
        let mut fill = |slot: &mut Option<_>, value: &Option<_>| {
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
        return Ok(change);
    }
    if let Some(cap) = category.cap() {
        if list.len() >= cap {
            if !replace_oldest {
                return Err(ApiError::conflict(format!(
                    "{} holds at most {cap} documents; pass replaceOldest: true to replace the oldest",
                    category.name()
                )));
            }
            while list.len() >= cap {
                let oldest = list
                    .iter()
                    .enumerate()
                    .min_by(|a, b| a.1.uploaded_at.cmp(&b.1.uploaded_at))
                    .map(|(i, _)| i)
                    .unwrap_or(0);
                list.remove(oldest);
            }
        }
    }
    list.push(entry.clone());
    Ok(Change::Applied)
}

/// Removes the entry with `key`; 404 when it is not listed.
pub fn detach_entry(list: &mut Vec<DocEntry>, key: &str) -> ApiResult<Change> {
    let before = list.len();
    list.retain(|e| e.key != key);
    if list.len() == before {
        return Err(ApiError::not_found("Document not attached"));
    }
    Ok(Change::Applied)
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
    fn attaching_the_same_key_twice_is_a_no_op() {
        let mut list = vec![];
        let e = entry("k1", "2025-01-01T00:00:00.000Z");
        assert_eq!(
            attach_entry(&mut list, Category::LabReports, &e, false).unwrap(),
            Change::Applied
        );
        assert_eq!(
            attach_entry(&mut list, Category::LabReports, &e, false).unwrap(),
            Change::Unchanged
        );
        assert_eq!(list.len(), 1);
    }

    #[test]
    fn a_second_attach_fills_in_only_what_the_entry_lacks() {
        // Given an entry the ingest attached (no caption, stamp or uploader)
        let mut list = vec![entry("k1", "2025-01-01T00:00:00.000Z")];
        // When the client's attach of the same key comes second
        let mut later = entry("k1", "2025-01-01T00:00:01.000Z");
        later.caption = Some("CBC".into());
        later.uploaded_by = Some("dr-a".into());
        later.stamp = Some(Stamp {
            label: "verified".into(),
            ..Default::default()
        });
        assert_eq!(
            attach_entry(&mut list, Category::LabReports, &later, false).unwrap(),
            Change::Applied
        );
        // Then the entry gains them, keeps its time, and a repeat is a no-op
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].caption.as_deref(), Some("CBC"));
        assert_eq!(
            list[0].stamp.as_ref().map(|s| s.label.as_str()),
            Some("verified")
        );
        assert_eq!(list[0].uploaded_at, "2025-01-01T00:00:00.000Z");
        later.caption = Some("other".into());
        assert_eq!(
            attach_entry(&mut list, Category::LabReports, &later, false).unwrap(),
            Change::Unchanged
        );
        assert_eq!(list[0].caption.as_deref(), Some("CBC"));
    }

    #[test]
    fn preop_holds_three_unless_replacing_the_oldest() {
        // Given three preop photos, the second one the oldest
        let mut list = vec![
            entry("a", "2025-01-02T00:00:00.000Z"),
            entry("b", "2025-01-01T00:00:00.000Z"),
            entry("c", "2025-01-03T00:00:00.000Z"),
        ];
        let d = entry("d", "2025-01-04T00:00:00.000Z");
        // When a fourth arrives without replaceOldest, it is refused
        let err = attach_entry(&mut list, Category::PreopPics, &d, false).unwrap_err();
        assert_eq!(err.status().as_u16(), 409);
        assert!(err.to_string().contains("replaceOldest"));
        // When replaceOldest is set, the oldest goes
        attach_entry(&mut list, Category::PreopPics, &d, true).unwrap();
        let keys: Vec<_> = list.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, vec!["a", "c", "d"]);
        // Other categories have no cap
        let mut labs: Vec<DocEntry> = (0..5).map(|i| entry(&i.to_string(), "t")).collect();
        attach_entry(&mut labs, Category::LabReports, &d, false).unwrap();
        assert_eq!(labs.len(), 6);
    }

    #[test]
    fn detaching_an_absent_key_is_not_found() {
        let mut list = vec![entry("a", "t")];
        assert_eq!(
            detach_entry(&mut list, "b").unwrap_err().status().as_u16(),
            404
        );
        assert_eq!(detach_entry(&mut list, "a").unwrap(), Change::Applied);
        assert!(list.is_empty());
    }
}
