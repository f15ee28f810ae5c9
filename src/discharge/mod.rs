//! Discharge summaries: a JSON document per patient, saved as append-only
//! versions (`PATIENT#{uid}` / `DS#{versionId}`), the newest live one being
//! current. `DS#LATEST` names the current version and counts the live ones;
//! every write that moves it is one transaction guarded by the pointer's
//! revision as read (so two concurrent saves both land and the newer is
//! current, and a delete never hides a save made meanwhile), and bumps the
//! patient's `update_counter`. Versions are found by key; lists are pages
//! of the partition, newest first.

pub mod input;
pub mod model;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, TransactWriteItem};
use serde_json::{json, Value};

use crate::audit::Audit;
use crate::clock;
use crate::context::Context;
use crate::error::{ApiError, ApiResult};
use crate::http::route::Route;
use crate::http::{ApiRequest, Reply};
use crate::keys;
use crate::patients::bump::bump_patient;
use crate::patients::{self, PatientItem};
use crate::store::{self, tx, Filter, Item, Query};
use input::{PatchBody, SaveBody, MAX_VERSION_BYTES};
use model::{new_version_id, Pointer, VersionItem};

/// The routes of this domain (see `router`).
pub const ROUTES: &[Route] = &[
    Route::shared_read("GET /patients/{id}/discharge", |c, r, p| {
        Box::pin(current(c, p.get("id"), r))
    }),
    Route::write("POST /patients/{id}/discharge", |c, r, p| {
        Box::pin(save(c, p.get("id"), r))
    }),
    Route::shared_read("GET /patients/{id}/discharge/versions", |c, r, p| {
        Box::pin(list(c, p.get("id"), r))
    }),
    Route::shared_read(
        "GET /patients/{id}/discharge/versions/{versionId}",
        |c, r, p| Box::pin(get(c, p.get("id"), p.get("versionId"), r)),
    ),
    Route::write(
        "PATCH /patients/{id}/discharge/versions/{versionId}",
        |c, r, p| Box::pin(patch(c, p.get("id"), p.get("versionId"), r)),
    ),
    Route::write(
        "DELETE /patients/{id}/discharge/versions/{versionId}",
        |c, r, p| Box::pin(delete(c, p.get("id"), p.get("versionId"), r)),
    ),
];

const DEFAULT_PAGE: usize = 50;
const MAX_PAGE: usize = 200;
/// Matches versions that are not soft-deleted.
const LIVE: &str = "(attribute_not_exists(deleted) OR deleted <> :true)";

fn version_not_found() -> ApiError {
    ApiError::not_found("Discharge summary version not found")
}

/// A version id names a version key (never the pointer), bounded.
fn version_sk(version_id: &str) -> ApiResult<String> {
    let sk = keys::ds_sk(version_id);
    let valid = sk.starts_with(keys::DS_VERSIONS_PREFIX)
        && version_id.len() <= 128
        && !version_id.chars().any(char::is_control);
    if valid {
        Ok(sk)
    } else {
        Err(version_not_found())
    }
}

/// The patient's versions, newest first; live ones only unless `deleted`.
fn versions(uid: &str, deleted: bool) -> Query {
    let live = (!deleted).then(|| Filter {
        expression: LIVE.to_string(),
        names: HashMap::new(),
        values: HashMap::from([(":true".to_string(), AttributeValue::Bool(true))]),
    });
    Query::partition(keys::patient_pk(uid))
        .prefix(keys::DS_VERSIONS_PREFIX)
        .newest_first(true)
        .filter(live)
}

/// The newest live version, other than `except`.
async fn newest_live(ctx: &Context, uid: &str, except: &str) -> ApiResult<Option<VersionItem>> {
    let page = versions(uid, false).page(ctx, 2, None).await?;
    for item in page.items {
        let version = VersionItem::from_item(item)?;
        if version.version_id() != except {
            return Ok(Some(version));
        }
    }
    Ok(None)
}

/// The id of the current version: the pointer's, or (a pointer the Node.js
/// version wrote, or none) the newest live version's.
async fn current_id(
    ctx: &Context,
    uid: &str,
    pointer: Option<&Pointer>,
) -> ApiResult<Option<String>> {
    match pointer.and_then(|p| p.version_id.clone()) {
        Some(id) => Ok(Some(id)),
        None => Ok(newest_live(ctx, uid, "")
            .await?
            .map(|v| v.version_id().to_string())),
    }
}

/// How many live versions exist: the pointer's count, or counted.
async fn live_count(ctx: &Context, uid: &str, pointer: Option<&Pointer>) -> ApiResult<u64> {
    match pointer.and_then(|p| p.versions) {
        Some(n) => Ok(n),
        None => versions(uid, false).count(ctx).await,
    }
}

/// The pointer's write, guarded by the pointer as read.
fn pointer_put(
    table: &str,
    uid: &str,
    read: Option<&Pointer>,
    next: &Pointer,
) -> ApiResult<TransactWriteItem> {
    let mut item = store::to_item(next)?;
    item.extend(store::key(keys::patient_pk(uid), keys::DS_LATEST_SK));
    let (condition, values): (&str, Item) = match read.map(|p| p.revision) {
        None => ("attribute_not_exists(PK)", Item::new()),
        Some(None) => (
            "attribute_exists(PK) AND attribute_not_exists(revision)",
            Item::new(),
        ),
        Some(Some(rev)) => (
            "revision = :rev",
            HashMap::from([(":rev".to_string(), AttributeValue::N(rev.to_string()))]),
        ),
    };
    tx::put(table, item, Some((condition, values)))
}

fn next_revision(read: Option<&Pointer>) -> Option<u64> {
    Some(read.and_then(|p| p.revision).unwrap_or(0) + 1)
}

async fn read_pointer(ctx: &Context, uid: &str) -> ApiResult<Option<Pointer>> {
    Pointer::from_item(store::get_raw(ctx, &keys::patient_pk(uid), keys::DS_LATEST_SK).await?)
}

/// `GET /patients/{id}/discharge`: the current version and the count.
pub async fn current(ctx: &Context, id: &str, req: &ApiRequest) -> ApiResult<Reply> {
    let read = async {
        let mut resolved = patients::resolve_with(ctx, id, &[keys::DS_LATEST_SK]).await?;
        let uid = resolved.patient.uid().to_string();
        let pointer = Pointer::from_item(resolved.items.remove(keys::DS_LATEST_SK))?;
        let mut latest = match pointer.as_ref().and_then(|p| p.version_id.as_deref()) {
            Some(vid) => store::get::<VersionItem>(ctx, &keys::patient_pk(&uid), &keys::ds_sk(vid))
                .await?
                .filter(|v| !v.deleted),
            None => None,
        };
        if latest.is_none() {
            latest = newest_live(ctx, &uid, "").await?;
        }
        let count = live_count(ctx, &uid, pointer.as_ref()).await?;
        let latest = latest.map(|v| v.to_json());
        Ok((Reply::ok(json!({"latest": latest, "versions": count})), uid))
    };
    Audit::of(req, "discharge.read")
        .alongside(ctx, id, read)
        .await
}

/// `POST /patients/{id}/discharge`: a new version, made current.
pub async fn save(ctx: &Context, id: &str, req: &ApiRequest) -> ApiResult<Reply> {
    let save = req.json_document::<SaveBody>()?.validate()?;
    let author_id = req.attributed(save.author_id.clone());
    let mut resolved = patients::resolve_with(ctx, id, &[keys::DS_LATEST_SK]).await?;
    let patient = resolved.patient;
    let uid = patient.uid().to_string();
    let mut pointer = Pointer::from_item(resolved.items.remove(keys::DS_LATEST_SK))?;
    let table = ctx.table();
    let mut attempts = store::Attempts::new("discharge summary");
    while attempts.next().await {
        if !attempts.first() {
            pointer = read_pointer(ctx, &uid).await?;
        }
        let count = live_count(ctx, &uid, pointer.as_ref()).await?;
        let now = clock::now_rfc3339();
        let version = new_version(&patient, &save, author_id.clone(), &now);
        let json = version.to_json();
        if serde_json::to_vec(&json)?.len() > MAX_VERSION_BYTES {
            return Err(ApiError::PayloadTooLarge {
                limit: MAX_VERSION_BYTES,
            });
        }
        // The newer of the two is current (clocks of two writers may differ).
        let current = match pointer.as_ref().and_then(|p| p.version_id.clone()) {
            Some(read) if read.as_str() > version.version_id() => read,
            _ => version.version_id().to_string(),
        };
        let next = Pointer {
            version_id: Some(current.clone()),
            versions: Some(count + 1),
            revision: next_revision(pointer.as_ref()),
            updated_at: Some(now.clone()),
        };
        let audit = Audit::of(req, "discharge.create")
            .target(format!("discharge:{}", version.version_id()));
        let items = vec![
            tx::put_new(table, store::to_item(&version)?)?,
            pointer_put(table, &uid, pointer.as_ref(), &next)?,
            tx::update(bump_patient(table, &uid, &now)?),
            audit.tx_item(table, &uid)?,
        ];
        match store::transact(ctx, items).await? {
            Ok(()) => {
                let latest = if current == version.version_id() {
                    json.clone()
                } else {
                    store::get::<VersionItem>(ctx, &keys::patient_pk(&uid), &keys::ds_sk(&current))
                        .await?
                        .map(|v| v.to_json())
                        .unwrap_or(Value::Null)
                };
                return Ok(Reply::created(
                    json!({"message": "created", "latest": latest, "version": json}),
                ));
            }
            Err(refused) if refused.failed(2) => return Err(ApiError::patient_not_found()),
            // Another write moved the pointer: read it again.
            Err(_) => continue,
        }
    }
    Err(attempts.exhausted())
}

fn new_version(
    patient: &PatientItem,
    save: &input::Save,
    author_id: Option<String>,
    now: &str,
) -> VersionItem {
    let version_id = new_version_id(now);
    VersionItem {
        pk: keys::patient_pk(patient.uid()),
        sk: keys::ds_sk(&version_id),
        version_id,
        patient_uid: patient.uid().to_string(),
        status: Some(save.status.clone()),
        sections: save.sections.clone(),
        summary: save.summary.clone(),
        mdx: save.mdx.clone(),
        author_id,
        author_name: save.author_name.clone(),
        commit_message: save.commit_message.clone(),
        mrn: patient.active_reg_mrn.clone(),
        scheme: patient.active_scheme.clone(),
        created_at: Some(now.to_string()),
        updated_at: Some(now.to_string()),
        deleted: false,
    }
}

/// `GET /patients/{id}/discharge/versions`: newest first, full pages.
pub async fn list(ctx: &Context, id: &str, req: &ApiRequest) -> ApiResult<Reply> {
    let limit = req.strict_limit(DEFAULT_PAGE, MAX_PAGE)?;
    let include_deleted = req.flag("includeDeleted") || req.flag("include_deleted");
    let cursor = req.cursor()?;
    let read = async {
        let patient = patients::resolve(ctx, id).await?;
        let page = versions(patient.uid(), include_deleted)
            .page(ctx, limit, cursor)
            .await?;
        let (items, next) = page.views(|item| Ok(VersionItem::from_item(item)?.to_json()))?;
        let reply = Reply::items_page(items, next);
        Ok((reply, patient.uid().to_string()))
    };
    Audit::of(req, "discharge.list")
        .alongside(ctx, id, read)
        .await
}

/// The patient and one version (deleted ones too), in one read for a UID.
async fn load(ctx: &Context, id: &str, version_id: &str) -> ApiResult<(PatientItem, VersionItem)> {
    let sk = version_sk(version_id)?;
    let mut resolved = patients::resolve_with(ctx, id, &[sk.as_str()]).await?;
    let version = resolved
        .items
        .remove(&sk)
        .map(VersionItem::from_item)
        .transpose()?
        .ok_or_else(version_not_found)?;
    Ok((resolved.patient, version))
}

/// `GET /patients/{id}/discharge/versions/{versionId}`: by key.
pub async fn get(ctx: &Context, id: &str, version_id: &str, req: &ApiRequest) -> ApiResult<Reply> {
    let read = async {
        let (patient, version) = load(ctx, id, version_id).await?;
        Ok((Reply::ok(version.to_json()), patient.uid().to_string()))
    };
    Audit::of(req, "discharge.read")
        .target(format!("discharge:{version_id}"))
        .alongside(ctx, id, read)
        .await
}

/// `PATCH .../versions/{versionId}`: status and commit message only.
pub async fn patch(
    ctx: &Context,
    id: &str,
    version_id: &str,
    req: &ApiRequest,
) -> ApiResult<Reply> {
    let patch = req.json_document::<PatchBody>()?.validate()?;
    let (patient, mut version) = load(ctx, id, version_id).await?;
    if version.deleted {
        return Err(version_not_found());
    }
    let uid = patient.uid();
    let now = clock::now_rfc3339();
    let mut set = vec!["updated_at = :now"];
    let mut values = HashMap::from([
        (":now".to_string(), store::s(now.as_str())),
        (":true".to_string(), AttributeValue::Bool(true)),
    ]);
    let mut fields = Vec::new();
    if let Some(status) = &patch.status {
        set.push("#status = :status");
        values.insert(":status".to_string(), store::s(status.as_str()));
        version.status = Some(status.clone());
        fields.push("status");
    }
    if let Some(message) = &patch.commit_message {
        set.push("commit_message = :message");
        values.insert(":message".to_string(), store::s(message.as_str()));
        version.commit_message = Some(message.clone());
        fields.push("commit_message");
    }
    version.updated_at = Some(now.clone());
    let names = if patch.status.is_some() {
        HashMap::from([("#status".to_string(), "status".to_string())])
    } else {
        HashMap::new()
    };
    let update = store::Expression {
        update: format!("SET {}", set.join(", ")),
        condition: format!("attribute_exists(PK) AND {LIVE}"),
        names,
        values,
    }
    .into_update(
        ctx.table(),
        store::key(version.pk.as_str(), version.sk.as_str()),
    )?;
    let audit = Audit::of(req, "discharge.update")
        .target(format!("discharge:{}", version.version_id()))
        .fields(fields);
    let table = ctx.table();
    let items = vec![
        tx::update(update),
        tx::update(bump_patient(table, uid, &now)?),
        audit.tx_item(table, uid)?,
    ];
    match store::transact(ctx, items).await? {
        Ok(()) => Ok(Reply::ok(
            json!({"message": "updated", "version": version.to_json()}),
        )),
        // Deleted meanwhile.
        Err(refused) if refused.failed(0) => Err(version_not_found()),
        Err(refused) if refused.failed(1) => Err(ApiError::patient_not_found()),
        Err(refused) => Err(refused.into()),
    }
}

/// `DELETE .../versions/{versionId}`: soft delete; when it was current,
/// the newest remaining version becomes current in the same write.
pub async fn delete(
    ctx: &Context,
    id: &str,
    version_id: &str,
    req: &ApiRequest,
) -> ApiResult<Reply> {
    let sk = version_sk(version_id)?;
    let mut resolved = patients::resolve_with(ctx, id, &[sk.as_str(), keys::DS_LATEST_SK]).await?;
    let uid = resolved.patient.uid().to_string();
    let pk = keys::patient_pk(&uid);
    let mut version = resolved.items.remove(&sk);
    let mut pointer = Pointer::from_item(resolved.items.remove(keys::DS_LATEST_SK))?;
    let table = ctx.table();
    let mut attempts = store::Attempts::new("discharge summary");
    while attempts.next().await {
        if !attempts.first() {
            let wanted = [
                (pk.clone(), sk.clone()),
                (pk.clone(), keys::DS_LATEST_SK.to_string()),
            ];
            let mut found = store::batch_get(ctx, &wanted).await?;
            version = found.remove(&wanted[0]);
            pointer = Pointer::from_item(found.remove(&wanted[1]))?;
        }
        let live = version
            .clone()
            .map(VersionItem::from_item)
            .transpose()?
            .filter(|v| !v.deleted)
            .ok_or_else(version_not_found)?;
        let vid = live.version_id().to_string();
        let count = live_count(ctx, &uid, pointer.as_ref()).await?;
        let current = current_id(ctx, &uid, pointer.as_ref()).await?;
        let replacement = if current.as_deref() == Some(vid.as_str()) {
            newest_live(ctx, &uid, &vid).await?
        } else {
            None
        };
        let now = clock::now_rfc3339();
        let next = Pointer {
            version_id: match (&replacement, current.as_deref() == Some(vid.as_str())) {
                (Some(r), _) => Some(r.version_id().to_string()),
                (None, true) => None,
                (None, false) => current.clone(),
            },
            versions: Some(count.saturating_sub(1)),
            revision: next_revision(pointer.as_ref()),
            updated_at: Some(now.clone()),
        };
        let soft_delete = store::Expression {
            update: "SET deleted = :true, updated_at = :now".to_string(),
            condition: format!("attribute_exists(PK) AND {LIVE}"),
            names: HashMap::new(),
            values: HashMap::from([
                (":true".to_string(), AttributeValue::Bool(true)),
                (":now".to_string(), store::s(now.as_str())),
            ]),
        }
        .into_update(table, store::key(pk.as_str(), sk.as_str()))?;
        let mut items = vec![
            tx::update(soft_delete),
            pointer_put(table, &uid, pointer.as_ref(), &next)?,
        ];
        if let Some(r) = &replacement {
            // The version made current must still be live.
            let check = ConditionCheck::builder()
                .table_name(table)
                .set_key(Some(store::key(r.pk.as_str(), r.sk.as_str())))
                .condition_expression(format!("attribute_exists(PK) AND {LIVE}"))
                .expression_attribute_values(":true", AttributeValue::Bool(true))
                .build()
                .map_err(|e| ApiError::Internal(format!("replacement check: {e}")))?;
            items.push(tx::check(check));
        }
        let bump_at = items.len();
        items.push(tx::update(bump_patient(table, &uid, &now)?));
        let audit = Audit::of(req, "discharge.delete").target(format!("discharge:{vid}"));
        items.push(audit.tx_item(table, &uid)?);
        match store::transact(ctx, items).await? {
            Ok(()) => return Ok(Reply::ok(json!({"message": "deleted"}))),
            Err(refused) if refused.failed(bump_at) => return Err(ApiError::patient_not_found()),
            // The version, the pointer or the replacement changed: read again.
            Err(_) => continue,
        }
    }
    Err(attempts.exhausted())
}
