//! Clinical notes of a patient: `PATIENT#{uid}` / `NOTE#{noteId}` with UUIDv7
//! ids, so the partition lists newest first by sort key alone and a note is
//! found by id with one key read however many notes exist (the old backend
//! searched only the newest 200).
//!
//! Every write that changes what the notes list shows (create, edit, delete)
//! bumps the patient's `update_counter` / `last_updated` and writes its
//! ledger entry in the same transaction, so a client polling the patient
//! sees the change. Deletes are soft: the note stays, flagged `deleted`,
//! listed only with `?includeDeleted=1`; a deleted note cannot be edited or
//! given files.
//!
//! Only a note's author (or an admin) edits or deletes it, or attaches and
//! detaches its files. An edit keeps the text it replaces as a version
//! (`NOTEV#{noteId}#{versionId}`, in the same transaction), listed by
//! `GET .../notes/{noteId}/versions`: the amendment history.

pub mod model;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Update};
use serde::Deserialize;
use serde_json::json;

use crate::attachments::{self, FileAction, Target};
use crate::audit::Audit;
use crate::clock;
use crate::context::Context;
use crate::error::{ApiError, ApiResult};
use crate::http::input::{key_text, required};
use crate::http::{view_json, ApiRequest, Reply};
use crate::keys;
use crate::patients::bump::bump_patient;
use crate::patients::{self, PatientItem};
use crate::s3::keys::valid_ref_id;
use crate::s3::keys::EntityKind;
use crate::store::{self, tx, Filter, Item, Query};
pub use model::{Category, NoteItem, NoteVersionItem};

use crate::http::route::Route;

/// The routes of this domain (see `router`).
pub const ROUTES: &[Route] = &[
    Route::read("GET /patients/{id}/notes", |c, r, p| {
        Box::pin(list(c, p.get("id"), r))
    }),
    Route::write("POST /patients/{id}/notes", |c, r, p| {
        Box::pin(create(c, p.get("id"), r))
    }),
    Route::write("PATCH /patients/{id}/notes/{noteId}", |c, r, p| {
        Box::pin(edit(c, p.get("id"), p.get("noteId"), r))
    }),
    Route::write("DELETE /patients/{id}/notes/{noteId}", |c, r, p| {
        Box::pin(delete(c, p.get("id"), p.get("noteId"), r))
    }),
    Route::read("GET /patients/{id}/notes/{noteId}/versions", |c, r, p| {
        Box::pin(versions(c, p.get("id"), p.get("noteId"), r))
    }),
    Route::write(
        "POST /patients/{id}/notes/{noteId}/files/attach",
        |c, r, p| {
            Box::pin(files(
                c,
                p.get("id"),
                p.get("noteId"),
                FileAction::Attach,
                r,
            ))
        },
    ),
    Route::write(
        "POST /patients/{id}/notes/{noteId}/files/detach",
        |c, r, p| {
            Box::pin(files(
                c,
                p.get("id"),
                p.get("noteId"),
                FileAction::Detach,
                r,
            ))
        },
    ),
];

/// Notes are text; DynamoDB items stop at 400 KB, files list included.
pub const MAX_CONTENT_BYTES: usize = 100_000;
const DEFAULT_PAGE: usize = 50;
const MAX_PAGE: usize = 200;
/// Matches notes that are not soft-deleted (old items may lack the flag).
const NOT_DELETED: &str = "(attribute_not_exists(deleted) OR deleted <> :true)";

fn note_not_found() -> ApiError {
    ApiError::not_found("Note not found")
}

fn category_of(raw: &str) -> ApiResult<Category> {
    Category::parse(raw).ok_or_else(|| {
        ApiError::bad_request("category must be one of doctorNote, nurseNote, pharmacy, discharge")
    })
}

fn checked_content(raw: &str) -> ApiResult<String> {
    if raw.trim().is_empty() {
        return Err(ApiError::bad_request("content must not be empty"));
    }
    if raw.len() > MAX_CONTENT_BYTES {
        return Err(ApiError::bad_request(format!(
            "content is longer than {MAX_CONTENT_BYTES} bytes"
        )));
    }
    Ok(raw.to_string())
}

/// Only the author of a note, or an admin, changes it.
fn check_author(note: &NoteItem) -> ApiResult<()> {
    let grant = crate::policy::current()?;
    if grant.is_admin() || grant.is(note.author_id.as_deref()) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "Only the note's author (or an admin) may change it".into(),
        ))
    }
}

/// The patient and one live (not deleted) note, in one read for a UID.
async fn load(ctx: &Context, id: &str, note_id: &str) -> ApiResult<(PatientItem, NoteItem)> {
    if !valid_ref_id(note_id) {
        return Err(note_not_found());
    }
    let sk = keys::note_sk(note_id);
    let mut resolved = patients::resolve_with(ctx, id, &[sk.as_str()]).await?;
    let note: NoteItem = resolved
        .items
        .remove(&sk)
        .map(store::from_item)
        .transpose()?
        .filter(|n: &NoteItem| !n.deleted)
        .ok_or_else(note_not_found)?;
    Ok((resolved.patient, note))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateBody {
    author_id: Option<String>,
    category: Option<String>,
    content: Option<String>,
}

/// `POST /patients/{id}/notes`
pub async fn create(ctx: &Context, id: &str, req: &ApiRequest) -> ApiResult<Reply> {
    let body: CreateBody = req.json()?;
    // With authentication on the author is the caller, whatever was sent.
    let author_id = req.attributed(body.author_id);
    let author_id = key_text(&required(&author_id, "authorId")?, "authorId")?;
    let category = category_of(&required(&body.category, "category")?)?;
    let content = checked_content(&required(&body.content, "content")?)?;
    let patient = patients::resolve(ctx, id).await?;
    let uid = patient.uid();
    let now = clock::now_rfc3339();
    let note_id = clock::new_id();
    let note = NoteItem {
        pk: keys::patient_pk(uid),
        sk: keys::note_sk(&note_id),
        note_id,
        patient_uid: uid.to_string(),
        author_id: Some(author_id),
        category: Some(category.as_str().to_string()),
        content: Some(content),
        files: Vec::new(),
        deleted: false,
        mrn: patient.active_reg_mrn.clone(),
        scheme: patient.active_scheme.clone(),
        created_at: Some(now.clone()),
        updated_at: Some(now.clone()),
    };
    let table = ctx.table();
    let audit = Audit::of(req, "note.create")
        .target(format!("note:{}", note.note_id))
        .fields(req.field_names());
    let written = store::transact(
        ctx,
        vec![
            tx::put_new(table, store::to_item(&note)?)?,
            tx::update(bump_patient(table, uid, &now)?),
            audit.tx_item(table, uid)?,
        ],
    )
    .await?;
    match written {
        Ok(()) => {}
        // The patient item vanished between resolve and write.
        Err(refused) if refused.failed(1) => return Err(ApiError::patient_not_found()),
        Err(refused) => return Err(refused.into()),
    }
    Ok(Reply::created(
        json!({"message": "created", "note": note.to_json()}),
    ))
}

/// `GET /patients/{id}/notes`: newest first.
pub async fn list(ctx: &Context, id: &str, req: &ApiRequest) -> ApiResult<Reply> {
    let limit = req.limit(DEFAULT_PAGE, MAX_PAGE)?;
    let include_deleted = req.flag("includeDeleted") || req.flag("include_deleted");
    let cursor = req.cursor()?;
    let read = async {
        let patient = patients::resolve(ctx, id).await?;
        let filter = (!include_deleted).then(|| Filter {
            expression: NOT_DELETED.to_string(),
            names: HashMap::new(),
            values: HashMap::from([(":true".to_string(), AttributeValue::Bool(true))]),
        });
        let page = Query::partition(keys::patient_pk(patient.uid()))
            .prefix(keys::NOTE_PREFIX)
            .newest_first(true)
            .filter(filter)
            .page(ctx, limit, cursor)
            .await?;
        let (items, next) = page.views(|item| Ok(store::from_item::<NoteItem>(item)?.to_json()))?;
        let reply = Reply::items_page(items, next);
        Ok((reply, patient.uid().to_string()))
    };
    Audit::of(req, "notes.read").alongside(ctx, id, read).await
}

/// `GET /patients/{id}/notes/{noteId}/versions`: the texts earlier edits
/// replaced, oldest first (the note itself is the current version).
pub async fn versions(
    ctx: &Context,
    id: &str,
    note_id: &str,
    req: &ApiRequest,
) -> ApiResult<Reply> {
    let limit = req.limit(DEFAULT_PAGE, MAX_PAGE)?;
    let cursor = req.cursor()?;
    let read = async {
        if !valid_ref_id(note_id) {
            return Err(note_not_found());
        }
        let sk = keys::note_sk(note_id);
        let resolved = patients::resolve_with(ctx, id, &[sk.as_str()]).await?;
        if !resolved.items.contains_key(&sk) {
            return Err(note_not_found());
        }
        let uid = resolved.patient.uid().to_string();
        let page = Query::partition(keys::patient_pk(&uid))
            .prefix(keys::note_versions_prefix(note_id))
            .page(ctx, limit, cursor)
            .await?;
        let (items, next) = page.views(|item| {
            Ok(view_json(
                &store::from_item::<NoteVersionItem>(item)?.view(),
            ))
        })?;
        Ok((Reply::items_page(items, next), uid))
    };
    Audit::of(req, "note.versions.read")
        .target(format!("note:{note_id}"))
        .alongside(ctx, id, read)
        .await
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EditBody {
    category: Option<String>,
    content: Option<String>,
}

/// The note write of an edit, guarded by the `updated_at` the edit was based
/// on: a concurrent write (another edit, an attach, a delete) makes it fail,
/// and the edit is re-applied to a fresh read instead of answering stale data.
fn edit_update(table: &str, note: &NoteItem, seen_updated_at: Option<&str>) -> ApiResult<Update> {
    let mut values: Item = HashMap::from([
        (":true".to_string(), AttributeValue::Bool(true)),
        (
            ":now".to_string(),
            store::s(note.updated_at.clone().unwrap_or_default()),
        ),
    ]);
    let mut set = vec!["updated_at = :now"];
    // An old note may lack a field: it stays absent rather than becoming "".
    if let Some(category) = &note.category {
        values.insert(":category".to_string(), store::s(category.as_str()));
        set.push("category = :category");
    }
    if let Some(content) = &note.content {
        values.insert(":content".to_string(), store::s(content.as_str()));
        set.push("content = :content");
    }
    let guard = match seen_updated_at {
        Some(seen) => {
            values.insert(":seen".to_string(), store::s(seen));
            "updated_at = :seen"
        }
        None => "attribute_exists(PK) AND attribute_not_exists(updated_at)",
    };
    Update::builder()
        .table_name(table)
        .set_key(Some(store::key(note.pk.as_str(), note.sk.as_str())))
        .update_expression(format!("SET {}", set.join(", ")))
        .condition_expression(format!("{guard} AND {NOT_DELETED}"))
        .set_expression_attribute_values(Some(values))
        .build()
        .map_err(|e| ApiError::Internal(format!("note update: {e}")))
}

/// `PATCH /patients/{id}/notes/{noteId}`: category and/or content.
pub async fn edit(ctx: &Context, id: &str, note_id: &str, req: &ApiRequest) -> ApiResult<Reply> {
    let body: EditBody = req.json()?;
    if body.category.is_none() && body.content.is_none() {
        return Err(ApiError::bad_request(
            "Nothing to update: send category and/or content",
        ));
    }
    let category = body.category.as_deref().map(category_of).transpose()?;
    let content = body.content.as_deref().map(checked_content).transpose()?;
    let (patient, first) = load(ctx, id, note_id).await?;
    check_author(&first)?;
    let (pk, sk) = (first.pk.clone(), first.sk.clone());
    let audit = Audit::of(req, "note.update")
        .target(format!("note:{note_id}"))
        .fields(req.field_names());
    let mut first = Some(first);
    let table = ctx.table();
    let mut attempts = store::Attempts::new("note");
    while attempts.next().await {
        let mut note = match first.take() {
            Some(note) => note,
            // Changed or deleted since it was read, or met another write of
            // this note or patient: read it again.
            None => store::get::<NoteItem>(ctx, &pk, &sk)
                .await?
                .filter(|n| !n.deleted)
                .ok_or_else(note_not_found)?,
        };
        let seen = note.updated_at.clone();
        let now = clock::now_rfc3339();
        let earlier = NoteVersionItem::of(&note, req.actor(), &now);
        if let Some(c) = category {
            note.category = Some(c.as_str().to_string());
        }
        if let Some(c) = &content {
            note.content = Some(c.clone());
        }
        note.updated_at = Some(now.clone());
        let items = vec![
            tx::update(edit_update(table, &note, seen.as_deref())?),
            tx::update(bump_patient(table, patient.uid(), &now)?),
            tx::put_new(table, store::to_item(&earlier)?)?,
            audit.tx_item(table, patient.uid())?,
        ];
        match store::transact(ctx, items).await? {
            Ok(()) => {
                return Ok(Reply::ok(
                    json!({"message": "updated", "note": note.to_json()}),
                ))
            }
            Err(refused) if refused.failed(1) => return Err(ApiError::patient_not_found()),
            Err(_) => continue,
        }
    }
    Err(attempts.exhausted())
}

/// `DELETE /patients/{id}/notes/{noteId}`: soft delete.
pub async fn delete(ctx: &Context, id: &str, note_id: &str, req: &ApiRequest) -> ApiResult<Reply> {
    let (patient, note) = load(ctx, id, note_id).await?;
    check_author(&note)?;
    let uid = patient.uid();
    let now = clock::now_rfc3339();
    let table = ctx.table();
    let soft_delete = Update::builder()
        .table_name(table)
        .set_key(Some(store::key(
            keys::patient_pk(uid),
            keys::note_sk(note_id),
        )))
        .update_expression("SET deleted = :true, updated_at = :now")
        .condition_expression(format!("attribute_exists(PK) AND {NOT_DELETED}"))
        .set_expression_attribute_values(Some(HashMap::from([
            (":true".to_string(), AttributeValue::Bool(true)),
            (":now".to_string(), store::s(now.as_str())),
        ])))
        .build()
        .map_err(|e| ApiError::Internal(format!("note delete: {e}")))?;
    let items = vec![
        tx::update(soft_delete),
        tx::update(bump_patient(table, uid, &now)?),
        Audit::of(req, "note.delete")
            .target(format!("note:{note_id}"))
            .tx_item(table, uid)?,
    ];
    match store::transact(ctx, items).await? {
        Ok(()) => Ok(Reply::ok(json!({"message": "deleted"}))),
        // Unknown, or already deleted.
        Err(refused) if refused.failed(0) => Err(note_not_found()),
        Err(refused) if refused.failed(1) => Err(ApiError::patient_not_found()),
        Err(refused) => Err(refused.into()),
    }
}

/// `POST /patients/{id}/notes/{noteId}/files/{attach|detach}`
pub async fn files(
    ctx: &Context,
    id: &str,
    note_id: &str,
    action: FileAction,
    req: &ApiRequest,
) -> ApiResult<Reply> {
    let (patient, note) = load(ctx, id, note_id).await?;
    // A note's files are part of it: its author (or an admin) changes them.
    check_author(&note)?;
    let target = Target {
        uid: patient.uid(),
        kind: EntityKind::Note,
        entity_id: note.note_id(),
        pk: note.pk.clone(),
        sk: note.sk.clone(),
        noun: "Note",
    };
    let item = attachments::apply(ctx, &target, action, req).await?;
    let note: NoteItem = store::from_item(item)?;
    Ok(Reply::ok(
        json!({"message": action.done(), "note": note.to_json()}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_must_be_present_and_bounded() {
        assert!(checked_content("Patient comfortable").is_ok());
        for bad in ["", "   \n"] {
            assert_eq!(checked_content(bad).unwrap_err().status().as_u16(), 400);
        }
        let long = "x".repeat(MAX_CONTENT_BYTES + 1);
        assert_eq!(checked_content(&long).unwrap_err().status().as_u16(), 400);
    }

    #[test]
    fn an_edit_is_guarded_by_the_version_it_was_based_on() {
        // Given a note read with an updated_at
        let note = NoteItem {
            pk: keys::patient_pk("u1"),
            sk: keys::note_sk("n1"),
            category: Some("pharmacy".into()),
            content: Some("c".into()),
            updated_at: Some("2025-01-01T00:00:01.000Z".into()),
            ..Default::default()
        };
        // When the edit write is built
        let seen = edit_update("T", &note, Some("2025-01-01T00:00:00.000Z")).unwrap();
        let legacy = edit_update("T", &note, None).unwrap();
        // Then it only applies to that version of a live note
        assert!(seen
            .condition_expression()
            .unwrap()
            .contains("updated_at = :seen"));
        assert!(seen.condition_expression().unwrap().contains(NOT_DELETED));
        assert_eq!(
            seen.expression_attribute_values().unwrap()[":seen"],
            store::s("2025-01-01T00:00:00.000Z")
        );
        assert!(legacy
            .condition_expression()
            .unwrap()
            .contains("attribute_not_exists(updated_at)"));
        assert_eq!(
            seen.update_expression(),
            "SET updated_at = :now, category = :category, content = :content"
        );
        // A field the note lacks is not written as an empty string
        let partial = NoteItem {
            content: None,
            ..note.clone()
        };
        let partial = edit_update("T", &partial, None).unwrap();
        assert_eq!(
            partial.update_expression(),
            "SET updated_at = :now, category = :category"
        );
    }
}
