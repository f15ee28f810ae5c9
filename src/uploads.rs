//! Upload intents: what a presigned upload is for, recorded at presign time
//! under the patient (`PATIENT#{uid}` / `UPLOAD#{key}`), in the same
//! transaction as the presign's audit entry. The attach route and the S3
//! ingest read it in the batch that resolves the patient, so provenance
//! (who asked, the MRN and scheme of the time, the original file name) needs
//! no S3 user metadata, which the client would have to send as headers and
//! which S3 encryption does not cover. Intents expire (DynamoDB TTL on
//! `expires_at`) a month after the presign; an attach after that still works,
//! without the presign caller as `uploadedBy`.

use serde::{Deserialize, Serialize};

use crate::audit::Audit;
use crate::context::Context;
use crate::error::{ApiError, ApiResult};
use crate::keys;
use crate::s3::content::looks_like;
use crate::s3::objects::{self as s3_objects, ObjectInfo};
use crate::store::{self, Item};

/// How long an intent is kept for a late attach.
const KEEP_SECS: u64 = 30 * 24 * 3600;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UploadIntent {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub patient_uid: String,
    pub key: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ref_id: Option<String>,
    pub content_type: String,
    pub original_filename: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uploaded_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mrn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    #[serde(default)]
    pub needs_optimization: bool,
    /// The size the PUT was signed for, when the client stated one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
    pub request_id: String,
    pub requested_at: String,
    /// Epoch seconds; the table's TTL attribute.
    pub expires_at: u64,
}

/// The sort key of `key`'s intent, if it fits DynamoDB's 1024-byte sort
/// key (every key presign mints does; a longer one has no intent).
pub fn intent_sk(key: &str) -> Option<String> {
    Some(keys::upload_sk(key)).filter(|sk| sk.len() <= 1024)
}

impl UploadIntent {
    /// An intent for `key` of patient `uid`, kept for a month from `now_secs`.
    pub fn new(uid: &str, key: &str, now_secs: u64) -> Self {
        Self {
            pk: keys::patient_pk(uid),
            sk: keys::upload_sk(key),
            patient_uid: uid.to_string(),
            key: key.to_string(),
            expires_at: now_secs + KEEP_SECS,
            ..Default::default()
        }
    }

    pub fn to_item(&self) -> ApiResult<Item> {
        store::to_item(self)
    }

    /// The intent read with the patient, if it names this patient and key.
    /// One that cannot be read (another shape) counts as absent.
    pub fn from_item(item: Option<Item>, uid: &str, key: &str) -> Option<Self> {
        let intent = match item.map(store::from_item::<Self>).transpose() {
            Ok(intent) => intent,
            Err(err) => {
                tracing::warn!(error = %err, "unreadable upload intent ignored");
                None
            }
        };
        intent.filter(|i| i.patient_uid == uid && i.key == key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_intent_round_trips_and_only_matches_its_own_patient_and_key() {
        let mut intent = UploadIntent::new("u1", "patients/u1/optimized/docs/lab/a.jpg", 100);
        intent.uploaded_by = Some("dr-a".into());
        intent.original_filename = "scan 1.jpg".into();
        assert_eq!(intent.sk, "UPLOAD#patients/u1/optimized/docs/lab/a.jpg");
        assert_eq!(intent.expires_at, 100 + KEEP_SECS);
        let item = intent.to_item().unwrap();
        let back = UploadIntent::from_item(Some(item.clone()), "u1", &intent.key);
        assert_eq!(back.as_ref(), Some(&intent));
        assert_eq!(
            UploadIntent::from_item(Some(item.clone()), "u2", &intent.key),
            None
        );
        assert_eq!(
            UploadIntent::from_item(Some(item), "u1", "patients/u1/other"),
            None
        );
        assert_eq!(UploadIntent::from_item(None, "u1", "k"), None);
        let junk = store::key("PATIENT#u1", "UPLOAD#k");
        assert_eq!(UploadIntent::from_item(Some(junk), "u1", "k"), None);
    }

    #[test]
    fn only_keys_that_fit_a_sort_key_have_an_intent() {
        assert!(intent_sk(&"k".repeat(1017)).is_some());
        assert!(intent_sk(&"k".repeat(1018)).is_none());
    }
}

/// What an upload was presigned as, to hold the stored object to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Presigned {
    pub content_type: Option<String>,
    pub size: Option<i64>,
}

impl From<Option<&UploadIntent>> for Presigned {
    fn from(intent: Option<&UploadIntent>) -> Self {
        Self {
            content_type: intent
                .map(|i| i.content_type.clone())
                .filter(|t| !t.is_empty()),
            size: intent.and_then(|i| i.size),
        }
    }
}

/// Why a stored object is not attached, if it is not: above the size limit
/// of its type, another type or size than presigned, or first bytes that
/// are not its type's.
fn refusal(
    limits: crate::context::UploadLimits,
    object: &ObjectInfo,
    presigned: &Presigned,
    head: &[u8],
) -> Option<String> {
    let stored_type = object.content_type.as_deref().unwrap_or_default();
    let limit = limits.for_type(stored_type);
    if object.size < 0 || object.size as u64 > limit {
        return Some(format!(
            "The file is {} bytes, above the {limit}-byte limit for {stored_type}",
            object.size
        ));
    }
    if let Some(t) = &presigned.content_type {
        if !t.eq_ignore_ascii_case(stored_type) {
            return Some(format!(
                "The file was stored as {stored_type}, not the {t} it was presigned for"
            ));
        }
    }
    if let Some(size) = presigned.size {
        if size != object.size {
            return Some(format!(
                "The file is {} bytes, not the {size} it was presigned for",
                object.size
            ));
        }
    }
    if !looks_like(stored_type, head) {
        return Some(format!("The file's content is not {stored_type}"));
    }
    None
}

/// Holds a stored object (as `s3::objects::peek` read it: its size, type
/// and first bytes) to its upload's rules before it is attached. A refused
/// object is deleted (it must not stay stored), the refusal is recorded in
/// the ledger under `audit`'s actor, and the answer is a 400.
pub async fn hold_to_rules(
    ctx: &Context,
    uid: &str,
    key: &str,
    (object, head): (&ObjectInfo, &[u8]),
    presigned: &Presigned,
    audit: &Audit,
) -> ApiResult<()> {
    let Some(reason) = refusal(ctx.settings.uploads, object, presigned, head) else {
        return Ok(());
    };
    tracing::warn!(reason = %reason, "upload refused and deleted");
    s3_objects::delete_many(ctx, [&key.to_string()]).await?;
    let mut refused = audit.clone().keys([key]);
    refused.action = "files.refused";
    refused.write(ctx, uid).await?;
    Err(ApiError::bad_request(reason))
}

#[cfg(test)]
mod verify_tests {
    use super::*;
    use crate::context::UploadLimits;

    fn object(size: i64, content_type: &str) -> ObjectInfo {
        ObjectInfo {
            size,
            content_type: Some(content_type.into()),
            metadata: Default::default(),
        }
    }

    #[test]
    fn an_upload_must_match_its_limit_its_presign_and_its_type() {
        let limits = UploadLimits {
            photo: 100,
            pdf: 1000,
        };
        let jpeg = b"\xff\xd8\xff\xe0";
        let none = Presigned::default();
        assert_eq!(
            refusal(limits, &object(50, "image/jpeg"), &none, jpeg),
            None
        );
        // Above the photo limit, though a PDF may be that large
        assert!(refusal(limits, &object(101, "image/jpeg"), &none, jpeg).is_some());
        assert_eq!(
            refusal(limits, &object(500, "application/pdf"), &none, b"%PDF-1.4"),
            None
        );
        // Another type or size than presigned
        let presigned = Presigned {
            content_type: Some("image/png".into()),
            size: Some(50),
        };
        assert!(refusal(limits, &object(50, "image/jpeg"), &presigned, jpeg).is_some());
        let presigned = Presigned {
            content_type: Some("image/jpeg".into()),
            size: Some(49),
        };
        assert!(refusal(limits, &object(50, "image/jpeg"), &presigned, jpeg).is_some());
        // An HTML page as a JPEG
        let reason = refusal(limits, &object(50, "image/jpeg"), &none, b"<!DOCTYPE html>").unwrap();
        assert!(reason.contains("not image/jpeg"), "{reason}");
    }
}
