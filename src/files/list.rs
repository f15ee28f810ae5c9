//! `GET /patients/{id}/files`: one page of the patient's objects under a
//! folder chosen by scope/kind/docType/refId, optionally with presigned GETs.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use crate::audit::Audit;
use crate::context::Context;
use crate::error::{ApiError, ApiResult};
use crate::http::{ApiRequest, Reply};
use crate::patients;
use crate::s3::keys::{self as s3_keys, DocType, EntityKind, Owner, Target};
use crate::s3::links;
use crate::s3::objects as s3_objects;

/// The folder to list, below `patients/{uid}/`.
pub fn folder(req: &ApiRequest) -> ApiResult<String> {
    let scope = match req.query("scope") {
        None => Target::Optimized,
        Some(s) => Target::parse(s)
            .ok_or_else(|| ApiError::bad_request("scope must be optimized, originals or thumb"))?,
    };
    let doc_type = match req.query("docType") {
        None => None,
        Some(d) => Some(DocType::parse(d).ok_or_else(|| ApiError::bad_request("unknown docType"))?),
    };
    let ref_id = req.query("refId");
    if let Some(r) = ref_id {
        if !s3_keys::valid_ref_id(r) {
            return Err(ApiError::bad_request(
                "refId may only contain letters, digits, '-' and '_'",
            ));
        }
    }
    let kind = req.query("kind").or(doc_type.map(|_| "doc"));
    let mut folder = format!("{}/", scope.as_str());
    if scope != Target::Optimized {
        return Ok(folder);
    }
    let entity = |k: EntityKind| match ref_id {
        Some(r) => Owner::Entity(k, r.to_string()).folder(),
        None => format!("{}/", k.folder()),
    };
    match kind {
        None => {}
        Some("doc") => match doc_type {
            Some(dt) => folder.push_str(&Owner::Doc(dt).folder()),
            None => folder.push_str("docs/"),
        },
        Some("note") => folder.push_str(&entity(EntityKind::Note)),
        Some("med") => folder.push_str(&entity(EntityKind::Med)),
        Some("task") => folder.push_str(&entity(EntityKind::Task)),
        Some(_) => return Err(ApiError::bad_request("kind must be doc, note, med or task")),
    }
    Ok(folder)
}

pub async fn list(ctx: &Context, id: &str, req: &ApiRequest) -> ApiResult<Reply> {
    ctx.bucket()?;
    let folder = folder(req)?;
    let limit = req.limit(50, 1000)?;
    let patient = patients::resolve(ctx, id).await?;
    let prefix = format!("{}{folder}", s3_keys::patient_prefix(patient.uid()));
    // The cursor is the last key of the previous page, so it cannot point
    // outside this listing.
    let start_after = match req.query("cursor") {
        None => None,
        Some(c) => {
            let bytes = URL_SAFE_NO_PAD
                .decode(c)
                .map_err(|_| ApiError::bad_request("Invalid cursor"))?;
            let key =
                String::from_utf8(bytes).map_err(|_| ApiError::bad_request("Invalid cursor"))?;
            if !key.starts_with(&prefix) {
                return Err(ApiError::bad_request("Invalid cursor"));
            }
            Some(key)
        }
    };
    let presign = req.flag("presign");
    let listing = s3_objects::list_page(ctx, &prefix, limit, start_after.clone());
    // The ledger entry (the listing's folder, page size and position, which
    // determine the keys it lists) is written concurrently with the listing.
    let after = start_after.as_deref().unwrap_or("");
    let action = if presign {
        "files.list-links"
    } else {
        "files.list"
    };
    let audit = Audit::of(req, action)
        .target(folder.clone())
        .fields([format!("limit={limit}"), format!("after={after}")]);
    let (out, written) = tokio::join!(listing, audit.write(ctx, patient.uid()));
    written?;
    let out = out?;
    let mut items = Vec::new();
    let mut last_key = None;
    for obj in out.contents() {
        let Some(key) = obj.key() else { continue };
        last_key = Some(key.to_string());
        let mut item = describe(key);
        item["size"] = json!(obj.size());
        item["etag"] = json!(obj.e_tag().map(|e| e.trim_matches('"')));
        item["lastModified"] = json!(obj.last_modified().map(|t| t.to_string()));
        if presign {
            match links::link(ctx, key).await {
                Ok(url) => {
                    item["cdnUrl"] = json!(url);
                    item["url"] = json!(url);
                    item["expiresIn"] = json!(ctx.settings.presign_expires.as_secs());
                }
                Err(err) => {
                    tracing::warn!(error = %err, "link signing failed; item skipped");
                    continue;
                }
            }
        }
        items.push(item);
    }
    let next_cursor = if out.is_truncated().unwrap_or(false) {
        last_key.map(|k| URL_SAFE_NO_PAD.encode(k))
    } else {
        None
    };
    Ok(Reply::ok(
        json!({ "prefix": prefix, "items": items, "nextCursor": next_cursor }),
    ))
}

/// What the key layout says about one object.
fn describe(key: &str) -> Value {
    let parsed = s3_keys::parse(key);
    let (doc_type, ref_id, kind) = match parsed.as_ref().and_then(|p| p.owner.clone()) {
        Some(Owner::Doc(dt)) => (Some(dt.as_str().to_string()), None, Some("doc")),
        Some(Owner::Entity(k, r)) => (None, Some(r), Some(k.as_str())),
        None => (None, None, None),
    };
    json!({
        "key": key,
        "uid": parsed.as_ref().map(|p| p.uid.clone()),
        "target": parsed.as_ref().map(|p| p.target.as_str()),
        "kind": kind,
        "docType": doc_type,
        "refId": ref_id,
        "filename": parsed.as_ref().map(|p| p.filename.clone()).or_else(|| key.rsplit('/').next().map(str::to_string)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn req(query: &[(&str, &str)]) -> ApiRequest {
        ApiRequest {
            method: lambda_http::http::Method::GET,
            segments: vec![],
            query: query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<HashMap<_, _>>(),
            ..Default::default()
        }
    }

    #[test]
    fn folder_follows_scope_kind_doc_type_and_ref_id() {
        assert_eq!(folder(&req(&[])).unwrap(), "optimized/");
        assert_eq!(folder(&req(&[("scope", "thumb")])).unwrap(), "thumb/");
        assert_eq!(folder(&req(&[("kind", "doc")])).unwrap(), "optimized/docs/");
        assert_eq!(
            folder(&req(&[("docType", "lab")])).unwrap(),
            "optimized/docs/lab/"
        );
        assert_eq!(
            folder(&req(&[("kind", "note"), ("refId", "n1")])).unwrap(),
            "optimized/notes/n1/"
        );
        assert_eq!(
            folder(&req(&[("kind", "task")])).unwrap(),
            "optimized/tasks/"
        );
        assert!(folder(&req(&[("scope", "all")])).is_err());
        assert!(folder(&req(&[("kind", "x")])).is_err());
        assert!(folder(&req(&[("docType", "x")])).is_err());
        assert!(folder(&req(&[("kind", "note"), ("refId", "../a")])).is_err());
    }
}
