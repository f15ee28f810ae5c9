//! `POST /patients/{id}/files/presign-download`: a presigned GET for an
//! existing object of the patient.

use serde::Deserialize;
use serde_json::json;

use crate::audit::Audit;
use crate::context::Context;
use crate::error::{ApiError, ApiResult};
use crate::http::{ApiRequest, Reply};
use crate::keys;
use crate::patients;
use crate::s3::objects as s3_objects;

#[derive(Deserialize)]
struct KeyBody {
    key: Option<String>,
}

pub async fn presign_download(ctx: &Context, id: &str, req: &ApiRequest) -> ApiResult<Reply> {
    let body: KeyBody = req.json()?;
    let key = body
        .key
        .filter(|k| !k.is_empty())
        .ok_or_else(|| ApiError::bad_request("key is required"))?;
    ctx.bucket()?;
    // The key's shape first, so that the entry below never names a
    // malformed or unbounded key: it must lie in the folder of the patient
    // it names, and of the patient addressed when that is a UID (an MRN is
    // never UID-shaped); by MRN the read below checks it again.
    let id = id.trim();
    let named = key.split('/').nth(1).unwrap_or_default();
    super::guard(if keys::looks_like_uid(id) { id } else { named }, &key)?;
    // The ledger entry goes out alongside the patient's read (as every
    // read's does), so the link costs no round trip of its own; it records
    // the attempt even when the object turns out not to exist (404).
    let read = async {
        let patient = patients::resolve(ctx, id).await?;
        super::guard(patient.uid(), &key)?;
        if s3_objects::head(ctx, &key).await?.is_none() {
            return Err(ApiError::not_found("File not found"));
        }
        let url = s3_objects::presign_get(ctx, &key).await?;
        Ok((url, patient.uid().to_string()))
    };
    let url = Audit::of(req, "files.presign-download")
        .keys([key.as_str()])
        .alongside(ctx, id, read)
        .await?;
    Ok(Reply::ok(json!({
        "url": url,
        "method": "GET",
        "key": key,
        "expiresIn": ctx.settings.presign_expires.as_secs(),
    })))
}
