//! `POST /patients/{id}/files/presign-upload`: a presigned PUT with only the
//! Content-Type signed (so the clinic's uploader, which drops `x-amz-meta-*`
//! headers, and one that sends them all both succeed), the upload's
//! provenance recorded as an upload intent with the audit entry, and the keys
//! of the upload's siblings.

use serde::Deserialize;
use serde_json::json;

use crate::audit::Audit;
use crate::clock;
use crate::context::Context;
use crate::error::{ApiError, ApiResult};
use crate::http::{ApiRequest, Reply};
use crate::patients::{self, PatientItem};
use crate::s3::keys::{self as s3_keys, valid_ref_id, DocType, EntityKind, Owner, Target};
use crate::s3::objects as s3_objects;
use crate::store::{self, tx};
use crate::uploads::UploadIntent;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UploadBody {
    filename: Option<String>,
    mime_type: Option<String>,
    target: Option<String>,
    kind: Option<String>,
    doc_type: Option<String>,
    ref_id: Option<String>,
    quality: Option<u32>,
    max_w: Option<u32>,
    label: Option<String>,
    needs_optimization: Option<bool>,
    uploaded_by: Option<String>,
    /// The file's size in bytes, when the client knows it: then the PUT is
    /// signed for exactly that size.
    size: Option<i64>,
}

/// A validated upload request.
#[derive(Debug, PartialEq)]
pub struct UploadPlan {
    pub filename: String,
    pub content_type: &'static str,
    pub ext: &'static str,
    pub target: Target,
    pub owner: Owner,
    pub quality: u32,
    pub max_w: u32,
    pub label: Option<String>,
    pub needs_optimization: bool,
    /// Who the client says uploads (the token's subject wins when auth is on).
    pub uploaded_by: Option<String>,
    pub size: Option<i64>,
}

impl UploadPlan {
    /// The plan a request body asks for; anything invalid is a 400.
    pub fn from_request(req: &ApiRequest) -> ApiResult<Self> {
        Self::from_body(req.json()?)
    }

    fn from_body(body: UploadBody) -> ApiResult<Self> {
        let filename = body
            .filename
            .map(|f| f.trim().to_string())
            .filter(|f| !f.is_empty())
            .ok_or_else(|| ApiError::bad_request("filename is required"))?;
        if filename.len() > 255 || filename.chars().any(char::is_control) {
            return Err(ApiError::bad_request(
                "filename must be at most 255 printable characters",
            ));
        }
        let mime = body
            .mime_type
            .ok_or_else(|| ApiError::bad_request("mimeType is required"))?;
        let content_type = s3_keys::canonical_mime(&mime).ok_or_else(|| {
            ApiError::bad_request(
                "mimeType must be one of image/avif, image/webp, image/jpeg, image/png, application/pdf",
            )
        })?;
        let ext = s3_keys::ext_for_mime(content_type).unwrap_or("bin");
        let target = match body.target.as_deref() {
            None => Target::Optimized,
            Some(t) => Target::parse(t).ok_or_else(|| {
                ApiError::bad_request("target must be optimized, originals or thumb")
            })?,
        };
        let ref_id = || -> ApiResult<String> {
            let id = body.ref_id.as_deref().map(str::trim).unwrap_or("");
            if id.is_empty() {
                return Err(ApiError::bad_request(
                    "refId is required for note, med and task uploads",
                ));
            }
            if !valid_ref_id(id) {
                return Err(ApiError::bad_request(
                    "refId may only contain letters, digits, '-' and '_'",
                ));
            }
            Ok(id.to_string())
        };
        let owner = match body.kind.as_deref().unwrap_or("doc") {
            "doc" => {
                let dt = body
                    .doc_type
                    .as_deref()
                    .ok_or_else(|| ApiError::bad_request("docType is required for kind=doc"))?;
                Owner::Doc(DocType::parse(dt).ok_or_else(|| {
                    ApiError::bad_request(
                        "docType must be one of preop, lab, radiology, intraop, otnotes, postop, discharge",
                    )
                })?)
            }
            "note" => Owner::Entity(EntityKind::Note, ref_id()?),
            "med" => Owner::Entity(EntityKind::Med, ref_id()?),
            "task" => Owner::Entity(EntityKind::Task, ref_id()?),
            _ => return Err(ApiError::bad_request("kind must be doc, note, med or task")),
        };
        let quality = body.quality.unwrap_or(80);
        if !(1..=100).contains(&quality) {
            return Err(ApiError::bad_request("quality must be between 1 and 100"));
        }
        let max_w = body.max_w.unwrap_or(1600);
        if !(16..=10_000).contains(&max_w) {
            return Err(ApiError::bad_request("maxW must be between 16 and 10000"));
        }
        let uploaded_by = body
            .uploaded_by
            .map(|u| u.trim().to_string())
            .filter(|u| !u.is_empty());
        if uploaded_by
            .as_ref()
            .is_some_and(|u| u.len() > 256 || u.chars().any(char::is_control))
        {
            return Err(ApiError::bad_request(
                "uploadedBy must be at most 256 printable characters",
            ));
        }
        Ok(Self {
            filename,
            content_type,
            ext,
            target,
            owner,
            quality,
            max_w,
            label: body.label.as_deref().and_then(s3_keys::slug),
            needs_optimization: body.needs_optimization.unwrap_or(false),
            uploaded_by,
            size: body.size,
        })
    }

    /// The upload intent for `key`: provenance as the attach and the ingest
    /// will read it.
    pub fn intent(
        &self,
        patient: &PatientItem,
        key: &str,
        content_type: &str,
        req: &ApiRequest,
    ) -> UploadIntent {
        let mut intent = UploadIntent::new(patient.uid(), key, clock::now_epoch_secs());
        intent.kind = self.owner.kind().to_string();
        match &self.owner {
            Owner::Doc(dt) => intent.doc_type = Some(dt.as_str().to_string()),
            Owner::Entity(_, ref_id) => intent.ref_id = Some(ref_id.clone()),
        }
        intent.content_type = content_type.to_string();
        intent.original_filename = self.filename.clone();
        intent.uploaded_by = req.attributed(self.uploaded_by.clone());
        intent.mrn = patient.active_reg_mrn.clone();
        intent.scheme = patient.active_scheme.clone();
        intent.needs_optimization = self.needs_optimization;
        intent.size = self.size;
        intent.request_id = req.request_id.clone();
        intent.requested_at = clock::now_rfc3339();
        intent
    }
}

pub async fn presign_upload(ctx: &Context, id: &str, req: &ApiRequest) -> ApiResult<Reply> {
    let plan = UploadPlan::from_request(req)?;
    ctx.bucket()?;
    let patient = patients::resolve(ctx, id).await?;

    let stem = s3_keys::stem(
        clock::now_millis(),
        &uuid::Uuid::new_v4(),
        plan.label.as_deref(),
    );
    let keys = s3_keys::upload_keys(
        patient.uid(),
        &plan.owner,
        &stem,
        plan.quality,
        plan.max_w,
        plan.ext,
    );
    let key = keys.for_target(plan.target).to_string();
    let content_type = if plan.target == Target::Thumb {
        "image/jpeg"
    } else {
        plan.content_type
    };

    let limit = ctx.settings.uploads.for_type(content_type);
    if let Some(size) = plan.size {
        if size < 1 || size as u64 > limit {
            return Err(ApiError::bad_request(format!(
                "size must be between 1 and {limit} bytes for {content_type}"
            )));
        }
    }
    let put = s3_objects::presign_put(ctx, &key, content_type, plan.size).await?;
    // The intent and the audit entry of this presign, in one write.
    let intent = plan.intent(&patient, &key, content_type, req);
    let audit = Audit::of(req, "files.presign-upload").keys([key.as_str()]);
    let items = vec![
        audit.tx_item(ctx.table(), patient.uid())?,
        tx::put(ctx.table(), intent.to_item()?, None)?,
    ];
    store::transact(ctx, items).await??;
    let mut headers: serde_json::Map<String, serde_json::Value> = put
        .headers
        .into_iter()
        .map(|(k, v)| (k, json!(v)))
        .collect();
    headers.insert("Content-Type".to_string(), json!(content_type));

    Ok(Reply::ok(json!({
        "key": key,
        "uploadUrl": put.url,
        "method": "PUT",
        "headers": headers,
        "contentType": content_type,
        "expiresIn": ctx.settings.presign_expires.as_secs(),
        "hints": {
            "optimizedKey": keys.optimized,
            "originalKey": keys.original,
            "thumbKey": keys.thumb,
        },
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(body: serde_json::Value) -> ApiResult<UploadPlan> {
        UploadPlan::from_body(serde_json::from_value(body).unwrap())
    }

    #[test]
    fn defaults_are_optimized_doc_q80_1600() {
        let p =
            plan(json!({"filename": "a.jpg", "mimeType": "image/jpeg", "docType": "lab"})).unwrap();
        assert_eq!(p.target, Target::Optimized);
        assert_eq!(p.owner, Owner::Doc(DocType::Lab));
        assert_eq!((p.quality, p.max_w, p.ext), (80, 1600, "jpg"));
    }

    #[test]
    fn doc_needs_a_valid_doc_type_and_entities_need_a_ref_id() {
        assert!(plan(json!({"filename": "a", "mimeType": "image/png"})).is_err());
        assert!(
            plan(json!({"filename": "a", "mimeType": "image/png", "docType": "xray"})).is_err()
        );
        assert!(plan(json!({"filename": "a", "mimeType": "image/png", "kind": "note"})).is_err());
        assert!(plan(
            json!({"filename": "a", "mimeType": "image/png", "kind": "note", "refId": "../x"})
        )
        .is_err());
        let p =
            plan(json!({"filename": "a", "mimeType": "image/png", "kind": "med", "refId": "m-1"}))
                .unwrap();
        assert_eq!(p.owner, Owner::Entity(EntityKind::Med, "m-1".into()));
    }

    #[test]
    fn unsupported_types_and_ranges_are_rejected() {
        assert!(plan(json!({"filename": "a", "mimeType": "text/html", "docType": "lab"})).is_err());
        assert!(plan(
            json!({"filename": "a", "mimeType": "image/png", "docType": "lab", "quality": 0})
        )
        .is_err());
        assert!(plan(
            json!({"filename": "a", "mimeType": "image/png", "docType": "lab", "maxW": 1})
        )
        .is_err());
        assert!(plan(json!({"filename": "", "mimeType": "image/png", "docType": "lab"})).is_err());
        assert!(plan(
            json!({"filename": "a", "mimeType": "image/png", "docType": "lab", "target": "x"})
        )
        .is_err());
    }

    #[test]
    fn the_intent_carries_provenance_and_the_callers_name() {
        let p = plan(
            json!({"filename": "Röntgen 1.jpg", "mimeType": "image/jpeg",
                            "docType": "radiology", "uploadedBy": "nurse-a"}),
        )
        .unwrap();
        let patient = PatientItem {
            patient_uid: "u1".into(),
            active_reg_mrn: Some("M 1".into()),
            active_scheme: Some("GEN".into()),
            ..Default::default()
        };
        let req = ApiRequest {
            request_id: "req-1".into(),
            ..Default::default()
        };
        let key = "patients/u1/optimized/docs/radiology/1-a-q80-1600w.jpg";
        let intent = p.intent(&patient, key, "image/jpeg", &req);
        assert_eq!(intent.sk, format!("UPLOAD#{key}"));
        assert_eq!(intent.patient_uid, "u1");
        assert_eq!(intent.kind, "doc");
        assert_eq!(intent.doc_type.as_deref(), Some("radiology"));
        assert_eq!(intent.original_filename, "Röntgen 1.jpg");
        assert_eq!(intent.mrn.as_deref(), Some("M 1"));
        assert_eq!(intent.uploaded_by.as_deref(), Some("nurse-a"));
        assert_eq!(intent.request_id, "req-1");
    }
}

#[cfg(test)]
mod properties {
    //! Any body: an upload plan, or a 400.

    use proptest::prelude::*;

    use super::UploadPlan;

    use crate::proptest_support::{body, config, is_client_error, request};

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn any_upload_body_is_a_plan_or_a_400(body in body(), query in ".{0,40}") {
            let req = request(body, &query);
            prop_assert!(is_client_error(&UploadPlan::from_request(&req)));
        }
    }
}
