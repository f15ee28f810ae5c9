//! Documents: the patient's files in seven categories, one item per entry
//! (`entries`) under a small summary (`record`), so attaching costs the same
//! however many a patient holds. Attach checks the object really exists in
//! S3 and takes its size and type from there.

pub mod category;
pub mod entries;
pub mod record;

use serde::Deserialize;
use serde_json::json;

use crate::audit::Audit;
use crate::clock;
use crate::context::Context;
use crate::error::{ApiError, ApiResult};
use crate::http::input::text_within;
use crate::http::{ApiRequest, Reply};
use crate::keys;
use crate::patients;
use crate::s3::content::SNIFF_BYTES;
use crate::s3::keys::{self as s3_keys, Owner};
use crate::s3::links;
use crate::s3::objects::{self as s3_objects, ObjectInfo};
use crate::store::{self, tx};
use crate::uploads::{self, intent_sk, Presigned, UploadIntent};
pub use category::Category;
use record::{Change, DocEntry, DocumentsRecord, Links, Stamp};

use crate::http::route::Route;

/// The routes of this domain (see `router`).
pub const ROUTES: &[Route] = &[
    Route::shared_read("GET /patients/{id}/documents", |c, r, p| {
        Box::pin(get(c, p.get("id"), r))
    }),
    Route::write("POST /patients/{id}/documents/init", |c, r, p| {
        Box::pin(init(c, p.get("id"), r))
    }),
    Route::write("POST /patients/{id}/documents/attach", |c, r, p| {
        Box::pin(attach(c, p.get("id"), r))
    }),
    Route::write("POST /patients/{id}/documents/detach", |c, r, p| {
        Box::pin(detach(c, p.get("id"), r))
    }),
];

/// The patient, their documents record (if any) and the other items of
/// theirs asked for, in one read for a UID.
async fn load(
    ctx: &Context,
    id: &str,
    extra_sks: &[&str],
) -> ApiResult<(Option<DocumentsRecord>, patients::Resolved)> {
    let sks: Vec<&str> = std::iter::once(keys::DOCS_SK)
        .chain(extra_sks.iter().copied())
        .collect();
    let mut resolved = patients::resolve_with(ctx, id, &sks).await?;
    let uid = resolved.patient.uid().to_string();
    let record = DocumentsRecord::from_item(resolved.items.remove(keys::DOCS_SK), &uid)?;
    Ok((record, resolved))
}

/// The documents JSON of a response, with the ledger entry of the access
/// (`documents.links` when it hands out links, else `documents.read`) unless
/// a change's own entry covers it.
async fn reply_json(
    ctx: &Context,
    req: &ApiRequest,
    uid: &str,
    summary: Option<DocumentsRecord>,
    audited: bool,
    own: Option<(Category, DocEntry)>,
) -> ApiResult<serde_json::Value> {
    let mut listing = entries::listing(ctx, uid, summary).await?;
    // An attach answers the record as of its own write: a detach that
    // raced in between is the answer of that detach.
    if let Some((category, entry)) = own {
        let list = listing.record.list_mut(category);
        if !list.iter().any(|e| e.key == entry.key) {
            list.push(entry);
        }
    }
    if !audited {
        let links = listing.record.keys().next().is_some();
        let action = if links {
            "documents.links"
        } else {
            "documents.read"
        };
        Audit::of(req, action)
            .target("documents")
            .write(ctx, uid)
            .await?;
    }
    documents_json(ctx, uid, &listing).await
}

/// A link per attached key; none without a files bucket (the rest of the
/// record still reads).
async fn links_of<'a>(ctx: &Context, keys: impl Iterator<Item = &'a str>) -> ApiResult<Links> {
    let mut out = Links::new();
    if ctx.settings.bucket.is_none() {
        return Ok(out);
    }
    for key in keys {
        if !out.contains_key(key) {
            out.insert(key.to_string(), links::link(ctx, key).await?);
        }
    }
    Ok(out)
}

/// The Documents screen's JSON. Each entry carries a link that renders and
/// expires (`cdnUrl`, and the same as `url`; see `links`), and each
/// category its count and, when it is answered in part, the cursor of the
/// rest (`nextCursors`).
async fn documents_json(
    ctx: &Context,
    uid: &str,
    listing: &entries::Listing,
) -> ApiResult<serde_json::Value> {
    let links = links_of(ctx, listing.record.keys()).await?;
    let mut json = listing.record.to_json(uid, &links);
    let mut counts = serde_json::Map::new();
    let mut cursors = serde_json::Map::new();
    for c in Category::ALL {
        counts.insert(
            c.field().to_string(),
            json!(listing.counts.get(&c).copied().unwrap_or(0)),
        );
        cursors.insert(c.field().to_string(), json!(listing.cursors.get(&c)));
    }
    json["counts"] = serde_json::Value::Object(counts);
    json["nextCursors"] = serde_json::Value::Object(cursors);
    Ok(json)
}

/// A `?category=` page: 50 entries unless `?limit=` (at most 200) says.
const PAGE_DEFAULT: usize = 50;
const PAGE_MAX: usize = 200;

/// `GET .../documents`: the record with a link per entry; with
/// `?category=`, one page of that category, newest first, after `?cursor=`.
/// The ledger entry for the links is written concurrently with the read.
pub async fn get(ctx: &Context, id: &str, req: &ApiRequest) -> ApiResult<Reply> {
    let category = req
        .query("category")
        .map(|c| category_of(Some(c)))
        .transpose()?;
    let limit = req.limit(PAGE_DEFAULT, PAGE_MAX)?;
    let cursor = req.cursor()?;
    let read = async {
        let (record, resolved) = load(ctx, id, &[]).await?;
        let patient = resolved.patient;
        let uid = patient.uid().to_string();
        Ok(((patient, record), uid))
    };
    let (patient, record) = Audit::of(req, "documents.read")
        .target("documents")
        .alongside(ctx, id, read)
        .await?;
    let uid = patient.uid();
    let Some(category) = category else {
        let listing = entries::listing(ctx, uid, record).await?;
        return Ok(Reply::ok(documents_json(ctx, uid, &listing).await?));
    };
    let (items, next, count) = match record {
        Some(r) if r.layout >= entries::LAYOUT_ENTRIES => {
            let (items, next) = entries::category_page(ctx, uid, category, limit, cursor).await?;
            (items, next, r.counts.get(category))
        }
        // The earlier layout holds each list whole: one page.
        other => {
            let list = other.map(|r| r.list(category).clone()).unwrap_or_default();
            let count = list.len() as u64;
            (list.into_iter().rev().collect(), None, count)
        }
    };
    let links = links_of(ctx, items.iter().map(|e| e.key.as_str())).await?;
    let items: Vec<serde_json::Value> = items.iter().map(|e| e.to_json(&links)).collect();
    Ok(Reply::ok(json!({
        "category": category.name(),
        "items": items,
        "count": count,
        "nextCursor": next,
    })))
}

pub async fn init(ctx: &Context, id: &str, req: &ApiRequest) -> ApiResult<Reply> {
    let (record, resolved) = load(ctx, id, &[]).await?;
    let patient = resolved.patient;
    let uid = patient.uid();
    if record.is_some() {
        let documents = reply_json(ctx, req, uid, record, false, None).await?;
        return Ok(Reply::ok(
            json!({"message": "exists", "documents": documents}),
        ));
    }
    let now = clock::now_rfc3339();
    let mut fresh = DocumentsRecord::empty(uid);
    fresh.created_at = Some(now.clone());
    fresh.updated_at = Some(now);
    fresh.version = 1;
    fresh.layout = entries::LAYOUT_ENTRIES;
    let table = ctx.table();
    let items = vec![
        tx::put_new(table, store::to_item(&fresh)?)?,
        Audit::of(req, "documents.init")
            .target("documents")
            .tx_item(table, uid)?,
    ];
    match store::transact(ctx, items).await? {
        Ok(()) => {
            let listing = entries::listing(ctx, uid, Some(fresh)).await?;
            Ok(Reply::created(
                json!({"message": "created", "documents": documents_json(ctx, uid, &listing).await?}),
            ))
        }
        Err(refused) if refused.failed(0) => {
            // Created by a concurrent request a moment ago.
            let existing =
                store::get::<DocumentsRecord>(ctx, &keys::patient_pk(uid), keys::DOCS_SK).await?;
            let documents = reply_json(ctx, req, uid, existing, false, None).await?;
            Ok(Reply::ok(
                json!({"message": "exists", "documents": documents}),
            ))
        }
        Err(err) => Err(err.into()),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AttachBody {
    category: Option<String>,
    key: Option<String>,
    uploaded_by: Option<String>,
    caption: Option<String>,
    mime_type: Option<String>,
    size: Option<i64>,
    stamp: Option<StampInput>,
    replace_oldest: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
/// A sent `stampedAt` is ignored: the server stamps the time.
struct StampInput {
    label: Option<String>,
    stamped_by: Option<String>,
}

/// Limits of an attach's free text (characters), stated in `openapi.yaml`.
const MAX_CAPTION: usize = 500;
const MAX_LABEL: usize = 64;
const MAX_PERSON: usize = 256;

fn category_of(raw: Option<&str>) -> ApiResult<Category> {
    let raw = raw.ok_or_else(|| ApiError::bad_request("category is required"))?;
    Category::parse(raw).ok_or_else(|| {
        ApiError::bad_request(
            "category must be one of preop_pics, lab_reports, radiology, intraop_pics, ot_notes, postop_pics, discharge_pics",
        )
    })
}

/// The key must be the patient's and lie in the category's docType folder.
fn check_key(uid: &str, key: &str, category: Category) -> ApiResult<()> {
    crate::attachments::check_owner_key(uid, key, &Owner::Doc(category.doc_type()))
}

/// Provenance of an attach: who and what, beyond the key.
#[derive(Debug, Clone)]
pub struct AttachInput {
    /// The audit entry written with the change (the key is added to it).
    pub audit: Audit,
    pub uploaded_by: Option<String>,
    pub caption: Option<String>,
    pub stamp: Option<Stamp>,
    pub replace_oldest: bool,
    pub mrn: Option<String>,
    pub scheme: Option<String>,
    /// Used only when S3 does not report them.
    pub mime_type: Option<String>,
    pub size: Option<i64>,
}

/// Attaches an existing S3 object (shared by the attach route and the S3
/// event ingest). `read`: the documents summary and the key's guard as
/// read with the patient. Returns the summary as it now stands, whether
/// anything changed, and the entry as attached.
pub async fn attach_object(
    ctx: &Context,
    uid: &str,
    read: entries::AsRead,
    category: Category,
    key: &str,
    object: &ObjectInfo,
    input: AttachInput,
) -> ApiResult<(DocumentsRecord, Change, DocEntry)> {
    let entry = DocEntry {
        key: key.to_string(),
        uploaded_at: clock::now_rfc3339(),
        uploaded_by: input.uploaded_by,
        caption: input.caption,
        mime_type: object.content_type.clone().or(input.mime_type),
        size: Some(object.size).filter(|s| *s > 0).or(input.size),
        stamp: input.stamp.filter(|_| category.keeps_stamp()),
        mrn: input.mrn,
        scheme: input.scheme,
    };
    let audit = input.audit.keys([key]);
    let read = entries::read_moved(ctx, uid, key, read).await?;
    let (summary, change) = entries::attach(
        ctx,
        uid,
        category,
        &entry,
        input.replace_oldest,
        read,
        &audit,
    )
    .await?;
    Ok((summary, change, entry))
}

pub async fn attach(ctx: &Context, id: &str, req: &ApiRequest) -> ApiResult<Reply> {
    let body: AttachBody = req.json()?;
    let category = category_of(body.category.as_deref())?;
    let key = body
        .key
        .filter(|k| !k.is_empty())
        .ok_or_else(|| ApiError::bad_request("key is required"))?;
    ctx.bucket()?;
    if key.len() > s3_keys::MAX_KEY_BYTES {
        return Err(ApiError::bad_request("key is longer than S3's 1024 bytes"));
    }
    let upload_sk = intent_sk(&key);
    let guard_sk = keys::doc_key_sk(&key);
    let mut extra: Vec<&str> = upload_sk.iter().map(String::as_str).collect();
    extra.push(&guard_sk);
    let (record, resolved) = load(ctx, id, &extra).await?;
    let patients::Resolved {
        patient, mut items, ..
    } = resolved;
    let uid = patient.uid().to_string();
    check_key(&uid, &key, category)?;
    let intent = upload_sk.and_then(|sk| UploadIntent::from_item(items.remove(&sk), &uid, &key));
    let read = entries::AsRead {
        summary: record,
        guard: entries::guard_of(items.remove(&guard_sk))?,
    };
    let (object, head) = s3_objects::peek(ctx, &key, SNIFF_BYTES)
        .await?
        .ok_or_else(|| {
            ApiError::not_found("File not found in storage; upload it before attaching")
        })?;
    let audit = Audit::of(req, "documents.attach");
    let presigned = Presigned::from(intent.as_ref());
    uploads::hold_to_rules(ctx, &uid, &key, (&object, &head), &presigned, &audit).await?;
    let now = clock::now_rfc3339();
    let uploaded_by = text_within(&body.uploaded_by, "uploadedBy", MAX_PERSON)?;
    let caption = text_within(&body.caption, "caption", MAX_CAPTION)?;
    // The stamp's time and signer are the server's: the time of this
    // request, and the caller (or the uploader named), never a sent time.
    let stamp = match body.stamp {
        Some(StampInput {
            label: Some(label),
            stamped_by,
        }) if !label.trim().is_empty() => Some(Stamp {
            label: text_within(&Some(label), "stamp.label", MAX_LABEL)?.unwrap_or_default(),
            stamped_at: Some(now),
            stamped_by: req.attributed(
                text_within(&stamped_by, "stamp.stampedBy", MAX_PERSON)?
                    .or_else(|| uploaded_by.clone()),
            ),
        }),
        Some(_) => return Err(ApiError::bad_request("stamp.label is required")),
        None => None,
    };
    let (mrn, scheme) = match &intent {
        Some(i) if i.mrn.is_some() => (i.mrn.clone(), i.scheme.clone()),
        _ => (
            patient.active_reg_mrn.clone(),
            patient.active_scheme.clone(),
        ),
    };
    let input = AttachInput {
        audit,
        uploaded_by: req
            .attributed(uploaded_by)
            .or_else(|| intent.and_then(|i| i.uploaded_by)),
        caption,
        stamp,
        replace_oldest: body.replace_oldest.unwrap_or(false),
        mrn,
        scheme,
        mime_type: body.mime_type,
        size: body.size,
    };
    let (summary, change, entry) =
        attach_object(ctx, &uid, read, category, &key, &object, input).await?;
    let applied = change == Change::Applied;
    let own = applied.then_some((category, entry));
    let documents = reply_json(ctx, req, &uid, Some(summary), applied, own).await?;
    Ok(Reply::ok(
        json!({"message": "attached", "documents": documents}),
    ))
}

#[derive(Debug, Deserialize)]
struct DetachBody {
    category: Option<String>,
    key: Option<String>,
}

pub async fn detach(ctx: &Context, id: &str, req: &ApiRequest) -> ApiResult<Reply> {
    let body: DetachBody = req.json()?;
    let category = category_of(body.category.as_deref())?;
    let key = body
        .key
        .filter(|k| !k.is_empty())
        .ok_or_else(|| ApiError::bad_request("key is required"))?;
    let guard_sk = keys::doc_key_sk(&key);
    let (record, mut resolved) = load(ctx, id, &[guard_sk.as_str()]).await?;
    let uid = resolved.patient.uid().to_string();
    let read = entries::AsRead {
        summary: record,
        guard: entries::guard_of(resolved.items.remove(&guard_sk))?,
    };
    let read = entries::read_moved(ctx, &uid, &key, read).await?;
    let audit = Audit::of(req, "documents.detach").keys([key.as_str()]);
    let summary = entries::detach(ctx, &uid, category, &key, read, &audit).await?;
    let documents = reply_json(ctx, req, &uid, Some(summary), true, None).await?;
    Ok(Reply::ok(
        json!({"message": "detached", "documents": documents}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record_with(keys: &[&str]) -> DocumentsRecord {
        let mut record = DocumentsRecord::empty("u1");
        for key in keys {
            record.lab_reports.push(DocEntry {
                key: key.to_string(),
                ..Default::default()
            });
        }
        record
    }

    #[tokio::test]
    async fn each_attached_key_gets_one_link_when_a_bucket_is_configured() {
        // Given a record with two lab reports
        let keys = [
            "patients/u1/optimized/docs/lab/a.jpg",
            "patients/u1/optimized/docs/lab/b.jpg",
        ];
        let record = record_with(&keys);
        // When the files bucket is configured, each key has a presigned link
        let ctx = Context::offline_for_tests();
        let links = links_of(&ctx, record.keys()).await.unwrap();
        assert_eq!(links.len(), 2);
        for key in keys {
            let link = &links[key];
            assert!(link.contains(&format!("/hms-test/{key}?")), "{link}");
            assert!(link.contains("X-Amz-Signature="), "{link}");
        }
        let json = record.to_json("u1", &links);
        assert_eq!(json["labReports"][0]["cdnUrl"], json!(links[keys[0]]));
        assert_eq!(json["labReports"][0]["url"], json!(links[keys[0]]));
        assert_eq!(json["labReports"][1]["url"], json!(links[keys[1]]));
    }

    #[tokio::test]
    async fn without_a_bucket_the_record_answers_with_null_links() {
        let mut ctx = Context::offline_for_tests();
        let mut settings = (*ctx.settings).clone();
        settings.bucket = None;
        ctx.settings = std::sync::Arc::new(settings);
        let record = record_with(&["patients/u1/optimized/docs/lab/a.jpg"]);
        assert!(links_of(&ctx, record.keys()).await.unwrap().is_empty());
        let listing = entries::Listing {
            record: record.clone(),
            ..Default::default()
        };
        let json = documents_json(&ctx, "u1", &listing).await.unwrap();
        let mut expected = record.to_json("u1", &Links::new());
        expected["counts"] = json["counts"].clone();
        expected["nextCursors"] = json["nextCursors"].clone();
        assert_eq!(json, expected);
        assert_eq!(
            json["counts"]["labReports"], 0,
            "counts come from the listing"
        );
        assert_eq!(json["nextCursors"]["labReports"], serde_json::Value::Null);
        assert_eq!(json["labReports"][0]["cdnUrl"], serde_json::Value::Null);
        assert_eq!(json["labReports"][0]["url"], serde_json::Value::Null);
        assert_eq!(
            json["labReports"][0]["key"],
            "patients/u1/optimized/docs/lab/a.jpg"
        );
    }

    #[test]
    fn attach_keys_must_lie_in_the_category_folder() {
        let uid = "u1";
        assert!(check_key(
            uid,
            "patients/u1/optimized/docs/lab/a.jpg",
            Category::LabReports
        )
        .is_ok());
        let wrong_folder = check_key(
            uid,
            "patients/u1/optimized/docs/preop/a.jpg",
            Category::LabReports,
        )
        .unwrap_err();
        assert_eq!(wrong_folder.status().as_u16(), 400);
        assert!(check_key(
            uid,
            "patients/u2/optimized/docs/lab/a.jpg",
            Category::LabReports
        )
        .is_err());
        assert!(check_key(
            uid,
            "patients/u1/optimized/docs/lab/../../u2/a.jpg",
            Category::LabReports
        )
        .is_err());
        assert!(check_key(uid, "patients/u1/originals/a.jpg", Category::LabReports).is_err());
    }
}
