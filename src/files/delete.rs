//! `POST /patients/{id}/files/delete`: batch delete of the patient's objects
//! (with their siblings), then one CloudFront invalidation when configured.
//! Only objects that exist are deleted, counted and invalidated: made-up
//! keys cost a HeadObject each and nothing more (at most 100 keys, so at
//! most 300 objects with siblings).

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::json;

use crate::audit::Audit;
use crate::context::Context;
use crate::error::{ApiError, ApiResult};
use crate::http::{ApiRequest, Reply};
use crate::patients;
use crate::s3::keys as s3_keys;
use crate::s3::objects as s3_objects;

/// Keys per request (with their siblings, at most 300 objects).
pub const MAX_KEYS: usize = 100;

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
    ctx.bucket()?;
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
    let all = s3_objects::existing(ctx, &all).await?;
    // Recorded before anything is deleted: a delete never goes unrecorded
    // (if the delete then fails, the client retries and it is recorded again).
    Audit::of(req, "files.delete")
        .keys(all.iter().map(String::as_str))
        .write(ctx, patient.uid())
        .await?;
    let failed = if all.is_empty() {
        BTreeSet::new()
    } else {
        s3_objects::delete_many(ctx, &all).await?
    };
    if !failed.is_empty() {
        tracing::warn!(failed = failed.len(), "some objects could not be deleted");
    }
    let deleted: Vec<&String> = all.iter().filter(|k| !failed.contains(*k)).collect();

    let mut invalidation_id = None;
    let mut warning = None;
    if let (Some(dist), true) = (
        &ctx.settings.cf_distribution_id,
        body.invalidate.unwrap_or(true),
    ) {
        if !deleted.is_empty() {
            match s3_objects::invalidate(ctx, dist, &deleted).await {
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
