//! Files attached to notes, medications and tasks: each item keeps a `files`
//! list of S3 keys. A key must be the patient's, lie under the entity's own
//! folder (`optimized/{notes|meds|tasks}/{id}/`) and exist in S3. Re-attaching
//! is a no-op; detaching an absent key is a 404. Both writes are conditional
//! transactions that also write the audit item, so concurrent attaches and
//! detaches never lose one another.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Update};
use serde::Deserialize;

use crate::audit::Audit;
use crate::clock;
use crate::context::Context;
use crate::error::{ApiError, ApiResult};
use crate::http::ApiRequest;
use crate::s3::content::SNIFF_BYTES;
use crate::s3::keys::{self as s3_keys, EntityKind, Owner};
use crate::s3::objects as s3_objects;
use crate::store::{self, tx, Item};
use crate::uploads::{self, Presigned};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileAction {
    Attach,
    Detach,
}

impl FileAction {
    pub fn parse(segment: &str) -> Option<Self> {
        match segment {
            "attach" => Some(FileAction::Attach),
            "detach" => Some(FileAction::Detach),
            _ => None,
        }
    }

    /// The `message` of the reply.
    pub fn done(self) -> &'static str {
        match self {
            FileAction::Attach => "attached",
            FileAction::Detach => "detached",
        }
    }

    /// The audit ledger's name for it (the entity is the entry's target).
    pub fn audit_action(self) -> &'static str {
        match self {
            FileAction::Attach => "entity.files.attach",
            FileAction::Detach => "entity.files.detach",
        }
    }
}

/// The item an attachment list lives on.
pub struct Target<'a> {
    pub uid: &'a str,
    pub kind: EntityKind,
    pub entity_id: &'a str,
    pub pk: String,
    pub sk: String,
    /// What to call the entity in a 404 (e.g. "Note").
    pub noun: &'static str,
}

/// Files one note, medication or task keeps (its item stays far below
/// DynamoDB's 400 KB).
pub const MAX_FILES: usize = 100;

#[derive(Deserialize)]
struct KeyBody {
    key: Option<String>,
}

/// The key must be the patient's and lie under the entity's own folder.
pub fn check_key(uid: &str, kind: EntityKind, entity_id: &str, key: &str) -> ApiResult<()> {
    check_owner_key(uid, key, &Owner::Entity(kind, entity_id.to_string()))
}

/// What an attach (of a document or of an entity's file) accepts: a key of
/// the patient under `owner`'s optimized folder. A wrong key in a body is
/// bad input, a 400 (the files routes answer 403: they are asked for a key
/// that is not the patient's).
pub fn check_owner_key(uid: &str, key: &str, owner: &Owner) -> ApiResult<()> {
    let in_folder = s3_keys::in_owner_folder(uid, key, owner)
        .map_err(|e| ApiError::bad_request(format!("Invalid key: {e}")))?;
    if !in_folder {
        return Err(ApiError::bad_request(format!(
            "key must be under optimized/{}",
            owner.folder()
        )));
    }
    Ok(())
}

/// Runs an attach or detach from the request body; returns the updated item.
pub async fn apply(
    ctx: &Context,
    target: &Target<'_>,
    action: FileAction,
    req: &ApiRequest,
) -> ApiResult<Item> {
    let body: KeyBody = req.json()?;
    let key = body
        .key
        .filter(|k| !k.is_empty())
        .ok_or_else(|| ApiError::bad_request("key is required"))?;
    check_key(target.uid, target.kind, target.entity_id, &key)?;
    let audit = Audit::of(req, action.audit_action())
        .keys([key.as_str()])
        .target(format!("{}:{}", target.kind.as_str(), target.entity_id));
    if action == FileAction::Attach {
        ctx.bucket()?;
        let (object, head) = s3_objects::peek(ctx, &key, SNIFF_BYTES)
            .await?
            .ok_or_else(|| {
                ApiError::not_found("File not found in storage; upload it before attaching")
            })?;
        let presigned = Presigned::default();
        uploads::hold_to_rules(ctx, target.uid, &key, (&object, &head), &presigned, &audit).await?;
    }
    let mut attempts = store::Attempts::new("item");
    while attempts.next().await {
        let mut item = read(ctx, target).await?.ok_or_else(|| not_found(target))?;
        let mut files: Vec<String> = match item.get("files") {
            Some(v) => serde_dynamo::from_attribute_value(v.clone())?,
            None => Vec::new(),
        };
        let now = clock::now_rfc3339();
        let update = match action {
            FileAction::Attach if files.contains(&key) => return Ok(item),
            FileAction::Attach if files.len() >= MAX_FILES => {
                return Err(ApiError::conflict(format!(
                    "{} holds at most {MAX_FILES} files; detach one first",
                    target.noun
                )))
            }
            FileAction::Attach => {
                files.push(key.clone());
                attach_update(ctx.table(), target, &key, &now)?
            }
            FileAction::Detach => {
                let index = files
                    .iter()
                    .position(|f| *f == key)
                    .ok_or_else(|| ApiError::not_found("File not attached"))?;
                files.remove(index);
                detach_update(ctx.table(), target, &key, index, &now)?
            }
        };
        let items = vec![tx::update(update), audit.tx_item(ctx.table(), target.uid)?];
        if store::transact(ctx, items).await?.is_ok() {
            item.insert("files".into(), store::to_attr(&files)?);
            item.insert("updated_at".into(), store::s(now));
            return Ok(item);
        }
        // The item changed underneath (or went away): read it again.
    }
    Err(attempts.exhausted())
}

fn not_found(target: &Target<'_>) -> ApiError {
    ApiError::not_found(format!("{} not found", target.noun))
}

/// Appends `key` unless a concurrent write attached it meanwhile.
fn attach_update(table: &str, target: &Target<'_>, key: &str, now: &str) -> ApiResult<Update> {
    Update::builder()
        .table_name(table)
        .set_key(Some(store::key(target.pk.as_str(), target.sk.as_str())))
        .update_expression(
            "SET files = list_append(if_not_exists(files, :empty), :one), updated_at = :now",
        )
        .condition_expression(
            "attribute_exists(PK) AND NOT contains(files, :key) AND (attribute_not_exists(files) OR size(files) < :max)",
        )
        .set_expression_attribute_values(Some(HashMap::from([
            (":max".to_string(), AttributeValue::N(MAX_FILES.to_string())),
            (":one".to_string(), AttributeValue::L(vec![store::s(key)])),
            (":empty".to_string(), AttributeValue::L(vec![])),
            (":key".to_string(), store::s(key)),
            (":now".to_string(), store::s(now)),
        ])))
        .build()
        .map_err(|e| ApiError::Internal(format!("attach update: {e}")))
}

/// Removes element `index`; the condition pins it to `key`, so if the list
/// moved underneath the write is refused and the caller re-reads.
fn detach_update(
    table: &str,
    target: &Target<'_>,
    key: &str,
    index: usize,
    now: &str,
) -> ApiResult<Update> {
    Update::builder()
        .table_name(table)
        .set_key(Some(store::key(target.pk.as_str(), target.sk.as_str())))
        .update_expression(format!("REMOVE files[{index}] SET updated_at = :now"))
        .condition_expression(format!("files[{index}] = :key"))
        .set_expression_attribute_values(Some(HashMap::from([
            (":key".to_string(), store::s(key)),
            (":now".to_string(), store::s(now)),
        ])))
        .build()
        .map_err(|e| ApiError::Internal(format!("detach update: {e}")))
}

async fn read(ctx: &Context, target: &Target<'_>) -> ApiResult<Option<Item>> {
    store::get_raw(ctx, &target.pk, &target.sk).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_keys_must_lie_in_the_entity_folder() {
        let ok = "patients/u1/optimized/notes/n1/1-x-q80-1600w.jpg";
        assert!(check_key("u1", EntityKind::Note, "n1", ok).is_ok());
        assert!(check_key("u1", EntityKind::Note, "n2", ok).is_err());
        assert!(check_key("u1", EntityKind::Med, "n1", ok).is_err());
        assert!(check_key("u2", EntityKind::Note, "n1", ok).is_err());
        assert!(check_key(
            "u1",
            EntityKind::Note,
            "n1",
            "patients/u1/optimized/notes/n1/../../x"
        )
        .is_err());
        assert_eq!(FileAction::parse("attach"), Some(FileAction::Attach));
        assert_eq!(FileAction::parse("remove"), None);
    }
}
