//! `POST /patients/{id}/files/delete`: batch delete of the patient's objects
//! (with their siblings), then one CloudFront invalidation when configured.

use std::collections::BTreeSet;

use aws_sdk_cloudfront::types::{InvalidationBatch, Paths};
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use serde::Deserialize;
use serde_json::json;

use crate::audit::Audit;
use crate::context::Context;
use crate::error::{ApiError, ApiResult};
use crate::http::{ApiRequest, Reply};
use crate::patients;
use crate::s3_keys;

/// Keys per request; with siblings that stays within S3's 1,000 per call.
const MAX_KEYS: usize = 300;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeleteBody {
    key: Option<String>,
    keys: Option<Vec<String>>,
    invalidate: Option<bool>,
    include_siblings: Option<bool>,
}

pub async fn delete(ctx: &Context, id: &str, req: &ApiRequest) -> ApiResult<Reply> {
    let body: DeleteBody = req.json()?;
    let requested: Vec<String> = body
        .key
        .into_iter()
        .chain(body.keys.unwrap_or_default())
        .collect();
    if requested.is_empty() {
        return Err(ApiError::bad_request("key or keys is required"));
    }
    if requested.len() > MAX_KEYS {
        return Err(ApiError::bad_request(format!(
            "at most {MAX_KEYS} keys per request"
        )));
    }
    let bucket = ctx.bucket()?.to_string();
    let patient = patients::resolve(ctx, id).await?;
    // Every key is checked before anything is deleted.
    for key in &requested {
        super::guard(patient.uid(), key)?;
    }
    let mut all: BTreeSet<String> = requested.iter().cloned().collect();
    if body.include_siblings.unwrap_or(true) {
        for key in &requested {
            all.extend(s3_keys::siblings_of(key));
        }
    }
    let objects = all
        .iter()
        .map(|k| ObjectIdentifier::builder().key(k).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::Internal(format!("delete request: {e}")))?;
    let delete = Delete::builder()
        .set_objects(Some(objects))
        .quiet(true)
        .build()
        .map_err(|e| ApiError::Internal(format!("delete request: {e}")))?;
    // Recorded before anything is deleted: a delete never goes unrecorded
    // (if the delete then fails, the client retries and it is recorded again).
    Audit::of(req, "files.delete")
        .keys(all.iter().map(String::as_str))
        .write(ctx, patient.uid())
        .await?;
    let out = ctx
        .s3
        .delete_objects()
        .bucket(&bucket)
        .delete(delete)
        .send()
        .await?;
    let failed: BTreeSet<&str> = out.errors().iter().filter_map(|e| e.key()).collect();
    if !failed.is_empty() {
        tracing::warn!(failed = failed.len(), "some objects could not be deleted");
    }
    let deleted: Vec<&String> = all
        .iter()
        .filter(|k| !failed.contains(k.as_str()))
        .collect();

    let mut invalidation_id = None;
    let mut warning = None;
    if let (Some(dist), true) = (
        &ctx.settings.cf_distribution_id,
        body.invalidate.unwrap_or(true),
    ) {
        if !deleted.is_empty() {
            match invalidate(ctx, dist, &deleted).await {
                Ok(id) => invalidation_id = id,
                Err(err) => {
                    tracing::warn!(error = %err, "CloudFront invalidation failed");
                    warning = Some("CloudFront invalidation failed; cached copies may persist until they expire");
                }
            }
        }
    }
    let mut reply =
        json!({ "ok": true, "deleted": deleted.len(), "invalidationId": invalidation_id });
    if let Some(w) = warning {
        reply["warning"] = json!(w);
    }
    if !failed.is_empty() {
        reply["failed"] = json!(failed);
    }
    Ok(Reply::ok(reply))
}

async fn invalidate(
    ctx: &Context,
    distribution: &str,
    keys: &[&String],
) -> ApiResult<Option<String>> {
    let items: Vec<String> = keys.iter().map(|k| format!("/{k}")).collect();
    let paths = Paths::builder()
        .quantity(items.len() as i32)
        .set_items(Some(items))
        .build()
        .map_err(|e| ApiError::Internal(format!("invalidation paths: {e}")))?;
    let batch = InvalidationBatch::builder()
        .paths(paths)
        .caller_reference(uuid::Uuid::new_v4().to_string())
        .build()
        .map_err(|e| ApiError::Internal(format!("invalidation batch: {e}")))?;
    let out = ctx
        .cloudfront
        .create_invalidation()
        .distribution_id(distribution)
        .invalidation_batch(batch)
        .send()
        .await?;
    Ok(out.invalidation().map(|i| i.id().to_string()))
}
