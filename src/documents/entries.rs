//! Document entries, one item each (`PATIENT#{uid}` / `DOC#{category}#{id}`),
//! each with a guard item per object key (`DOCKEY#{sha256(key)}`) so a key
//! is attached once. The `DOCS#PROFILE` item is the summary: per-category
//! counts (the preop cap is a condition on its count), the version every
//! write bumps, and the timestamps. Every write is one transaction of a
//! constant number of small items, whatever the patient holds; attaches of
//! distinct keys touch distinct entries and only add to the counts.
//!
//! A record in the earlier layout (seven lists inside `DOCS#PROFILE`, as the
//! Node.js version and earlier releases wrote it) reads as it is, and moves
//! to entries on its next write: every entry is written under an id that
//! keeps its list order (idempotent, so an interrupted move just runs
//! again), then one guarded write of the summary drops the lists.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Delete, TransactWriteItem};
use serde::{Deserialize, Serialize};

use super::category::Category;
use super::record::{Change, DocEntry, DocumentsRecord};
use crate::audit::Audit;
use crate::clock;
use crate::context::Context;
use crate::error::{ApiError, ApiResult};
use crate::keys;
use crate::store::{self, tx, Expression, Item, Query};

/// Up to this many entries in all, the Documents screen gets every entry
/// (well under Lambda's 6 MB response, links included). Above it, each
/// category answers its newest [`CATEGORY_PAGE`] entries, its count and a
/// cursor for the rest (`GET .../documents?category=&cursor=`).
pub const INLINE_MAX: u64 = 1000;
pub const CATEGORY_PAGE: usize = 20;

/// Entries moved in one transaction (two items each, of at most 100).
const MOVE_CHUNK: usize = 40;

/// The summary's layout once entries are items.
pub const LAYOUT_ENTRIES: u32 = 2;

/// One entry as stored.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EntryItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub category: String,
    #[serde(flatten)]
    pub entry: DocEntry,
}

/// The guard of one object key: which entry holds it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KeyGuard {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub key: String,
    pub entry_sk: String,
    pub category: String,
}

/// The summary attribute counting `category`'s entries.
pub fn count_attr(category: Category) -> String {
    format!("count_{}", category.name())
}

/// What a read of the documents gives: the record's lists filled from the
/// entries (or as stored, in the earlier layout), every category's count,
/// and the cursor of each category answered in part.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub record: DocumentsRecord,
    pub counts: HashMap<Category, u64>,
    pub cursors: HashMap<Category, String>,
}

/// The documents of `uid` as the screen shows them, from the summary as
/// read (`None`: nothing attached yet).
pub async fn listing(
    ctx: &Context,
    uid: &str,
    summary: Option<DocumentsRecord>,
) -> ApiResult<Listing> {
    let mut record = summary.unwrap_or_else(|| DocumentsRecord::empty(uid));
    let mut out = Listing::default();
    if record.layout < LAYOUT_ENTRIES {
        for c in Category::ALL {
            out.counts.insert(c, record.list(c).len() as u64);
        }
        out.record = record;
        return Ok(out);
    }
    for c in Category::ALL {
        out.counts.insert(c, record.counts.get(c));
    }
    let total: u64 = out.counts.values().sum();
    if total == 0 {
        out.record = record;
        return Ok(out);
    }
    if total <= INLINE_MAX {
        let items = Query::partition(keys::patient_pk(uid))
            .prefix(keys::DOC_PREFIX)
            .all(ctx)
            .await?;
        for item in items {
            let entry: EntryItem = store::from_item(item)?;
            if let Some(c) = Category::parse(&entry.category) {
                record.list_mut(c).push(entry.entry);
            }
        }
    } else {
        for c in Category::ALL.into_iter().filter(|c| out.counts[c] > 0) {
            let page = category_query(uid, c)
                .page(ctx, CATEGORY_PAGE, None)
                .await?;
            let mut list = entries_of(page.items)?;
            // The newest entries, in attach order like a whole list.
            list.reverse();
            *record.list_mut(c) = list;
            if let Some(cursor) = page.next_cursor {
                out.cursors.insert(c, cursor);
            }
        }
    }
    out.record = record;
    Ok(out)
}

fn category_query(uid: &str, category: Category) -> Query {
    Query::partition(keys::patient_pk(uid))
        .prefix(keys::doc_category_prefix(category.name()))
        .newest_first(true)
}

fn entries_of(items: Vec<Item>) -> ApiResult<Vec<DocEntry>> {
    items
        .into_iter()
        .map(|i| store::from_item::<EntryItem>(i).map(|e| e.entry))
        .collect()
}

/// One page of one category, newest first, after `cursor`.
pub async fn category_page(
    ctx: &Context,
    uid: &str,
    category: Category,
    limit: usize,
    cursor: Option<&str>,
) -> ApiResult<(Vec<DocEntry>, Option<String>)> {
    let page = category_query(uid, category)
        .page(ctx, limit, cursor)
        .await?;
    Ok((entries_of(page.items)?, page.next_cursor))
}

/// Moves a record in the earlier layout to entries (a no-op for one that
/// is not): the summary as it now stands, and whether it moved.
pub async fn ensure_entries(
    ctx: &Context,
    uid: &str,
    summary: Option<DocumentsRecord>,
) -> ApiResult<(Option<DocumentsRecord>, bool)> {
    let record = match summary {
        Some(r) if r.layout < LAYOUT_ENTRIES => r,
        other => return Ok((other, false)),
    };
    let table = ctx.table();
    let mut items = Vec::new();
    let mut counts = Vec::new();
    for c in Category::ALL {
        let list = record.list(c);
        counts.push((c, list.len() as u64));
        for (i, entry) in list.iter().enumerate() {
            // Ids below every UUIDv7 keep the list's order before new entries.
            let sk = keys::doc_entry_sk(c.name(), &format!("0000000000-{i:06}"));
            items.push(entry_put(table, uid, c, &sk, entry)?);
            items.push(guard_put(table, uid, c, &sk, &entry.key, false)?);
        }
    }
    for chunk in items.chunks(MOVE_CHUNK * 2) {
        store::transact(ctx, chunk.to_vec()).await??;
    }
    let mut values = HashMap::from([
        (
            ":layout".to_string(),
            AttributeValue::N(LAYOUT_ENTRIES.to_string()),
        ),
        (
            ":read".to_string(),
            AttributeValue::N(record.version.to_string()),
        ),
    ]);
    let mut names = HashMap::new();
    let mut sets = vec!["layout = :layout".to_string()];
    for (i, (c, n)) in counts.iter().enumerate() {
        names.insert(format!("#n{i}"), count_attr(*c));
        values.insert(format!(":n{i}"), AttributeValue::N(n.to_string()));
        sets.push(format!("#n{i} = :n{i}"));
    }
    let lists: Vec<&str> = Category::ALL.iter().map(|c| c.name()).collect();
    let update = Expression {
        update: format!("SET {} REMOVE {}", sets.join(", "), lists.join(", ")),
        condition: if record.version == 0 {
            "attribute_not_exists(version) OR version = :read".to_string()
        } else {
            "version = :read".to_string()
        },
        names,
        values,
    };
    let key = store::key(keys::patient_pk(uid), keys::DOCS_SK);
    let stored = match store::update(ctx, key, update).await? {
        Ok(stored) => {
            tracing::info!(
                entries = items.len() / 2,
                "documents record moved to entries"
            );
            Some(stored)
        }
        // Moved (or changed) by another request meanwhile: read it again.
        Err(_) => store::get_raw(ctx, &keys::patient_pk(uid), keys::DOCS_SK).await?,
    };
    Ok((DocumentsRecord::from_item(stored, uid)?, true))
}

/// `read` once the record is in the entry layout: moved first if it was
/// not, and then the key's guard as the move wrote it.
pub async fn read_moved(ctx: &Context, uid: &str, key: &str, read: AsRead) -> ApiResult<AsRead> {
    let (summary, moved) = ensure_entries(ctx, uid, read.summary).await?;
    let guard = if moved {
        guard_of(store::get_raw(ctx, &keys::patient_pk(uid), &keys::doc_key_sk(key)).await?)?
    } else {
        read.guard
    };
    Ok(AsRead { summary, guard })
}

fn entry_put(
    table: &str,
    uid: &str,
    category: Category,
    sk: &str,
    entry: &DocEntry,
) -> ApiResult<TransactWriteItem> {
    let item = store::to_item(&EntryItem {
        pk: keys::patient_pk(uid),
        sk: sk.to_string(),
        category: category.name().to_string(),
        entry: entry.clone(),
    })?;
    tx::put(table, item, None)
}

/// The guard of `key`; `new`: it must not exist yet.
fn guard_put(
    table: &str,
    uid: &str,
    category: Category,
    entry_sk: &str,
    key: &str,
    new: bool,
) -> ApiResult<TransactWriteItem> {
    let item = store::to_item(&KeyGuard {
        pk: keys::patient_pk(uid),
        sk: keys::doc_key_sk(key),
        key: key.to_string(),
        entry_sk: entry_sk.to_string(),
        category: category.name().to_string(),
    })?;
    if new {
        tx::put_new(table, item)
    } else {
        tx::put(table, item, None)
    }
}

fn delete_existing(table: &str, pk: &str, sk: &str) -> ApiResult<TransactWriteItem> {
    let delete = Delete::builder()
        .table_name(table)
        .set_key(Some(store::key(pk, sk)))
        .condition_expression("attribute_exists(PK)")
        .build()
        .map_err(|e| ApiError::Internal(format!("delete: {e}")))?;
    Ok(TransactWriteItem::builder().delete(delete).build())
}

/// The summary's part of a write: `delta` on `category`'s count (guarded
/// by the cap when it grows), a new version and the timestamps.
fn summary_update(
    table: &str,
    uid: &str,
    category: Category,
    delta: i64,
    now: &str,
) -> ApiResult<TransactWriteItem> {
    let mut values = HashMap::from([
        (":delta".to_string(), AttributeValue::N(delta.to_string())),
        (":one".to_string(), AttributeValue::N("1".into())),
        (":now".to_string(), store::s(now)),
        (
            ":layout".to_string(),
            AttributeValue::N(LAYOUT_ENTRIES.to_string()),
        ),
    ]);
    let mut condition = String::new();
    if let (Some(cap), true) = (category.cap(), delta > 0) {
        values.insert(":cap".to_string(), AttributeValue::N(cap.to_string()));
        condition = "(attribute_not_exists(#n) OR #n < :cap)".to_string();
    }
    let update = Expression {
        update: "ADD #n :delta, version :one SET updated_at = :now, created_at = if_not_exists(created_at, :now), layout = :layout".to_string(),
        condition,
        names: HashMap::from([("#n".to_string(), count_attr(category))]),
        values,
    };
    Ok(tx::update(update.into_update(
        table,
        store::key(keys::patient_pk(uid), keys::DOCS_SK),
    )?))
}

/// What was read with the patient: the documents summary and the guard of
/// the key a write names.
#[derive(Debug, Clone, Default)]
pub struct AsRead {
    pub summary: Option<DocumentsRecord>,
    pub guard: Option<KeyGuard>,
}

impl AsRead {
    /// The summary and the guard `guard_sk` read afresh (one BatchGetItem),
    /// for a write that lost its race.
    async fn reread(ctx: &Context, uid: &str, guard_sk: &str) -> ApiResult<Self> {
        let pk = keys::patient_pk(uid);
        let wanted = [
            (pk.clone(), guard_sk.to_string()),
            (pk, keys::DOCS_SK.to_string()),
        ];
        let mut found = store::batch_get(ctx, &wanted).await?;
        Ok(Self {
            guard: guard_of(found.remove(&wanted[0]))?,
            summary: DocumentsRecord::from_item(found.remove(&wanted[1]), uid)?,
        })
    }
}

/// What the patient's batch read gave for one key: its guard, if any.
pub fn guard_of(item: Option<Item>) -> ApiResult<Option<KeyGuard>> {
    item.map(store::from_item).transpose()
}

/// Attaches `entry` to `category`: a new entry, or (its key attached
/// already) the caption, stamp and uploader the entry lacks. A full capped
/// category lets its oldest entry go when `replace_oldest`, else 409.
/// `read`: the summary and the key's guard as read with the patient.
pub async fn attach(
    ctx: &Context,
    uid: &str,
    category: Category,
    entry: &DocEntry,
    replace_oldest: bool,
    read: AsRead,
    audit: &Audit,
) -> ApiResult<(DocumentsRecord, Change)> {
    let table = ctx.table();
    let pk = keys::patient_pk(uid);
    let guard_sk = keys::doc_key_sk(&entry.key);
    let AsRead {
        mut summary,
        mut guard,
    } = read;
    let mut attempts = store::Attempts::new("documents record");
    while attempts.next().await {
        if !attempts.first() {
            AsRead { summary, guard } = AsRead::reread(ctx, uid, &guard_sk).await?;
        }
        let now = clock::now_rfc3339();
        if let Some(g) = &guard {
            // Attached already (by the ingest, or a repeat): fill what it lacks.
            let Some(item) = store::get_raw(ctx, &pk, &g.entry_sk).await? else {
                continue;
            };
            let mut stored: EntryItem = store::from_item(item)?;
            if g.category != category.name() {
                return Err(ApiError::conflict(format!(
                    "This file is attached under {} already",
                    g.category
                )));
            }
            let read = summary
                .clone()
                .unwrap_or_else(|| DocumentsRecord::empty(uid));
            if super::record::fill_missing(&mut stored.entry, entry) == Change::Unchanged {
                return Ok((read, Change::Unchanged));
            }
            let items = vec![
                tx::put(
                    table,
                    store::to_item(&stored)?,
                    Some(("attribute_exists(PK)", Item::new())),
                )?,
                audit.clone().target(category.name()).tx_item(table, uid)?,
            ];
            if store::transact(ctx, items).await?.is_ok() {
                return Ok((read, Change::Applied));
            }
            continue;
        }
        let count = summary.as_ref().map_or(0, |s| s.counts.get(category));
        let sk = keys::doc_entry_sk(category.name(), &clock::new_id());
        let mut items = vec![
            guard_put(table, uid, category, &sk, &entry.key, true)?,
            entry_put(table, uid, category, &sk, entry)?,
        ];
        let mut audit = audit.clone();
        let full = category.cap().is_some_and(|cap| count >= cap as u64);
        if full {
            if !replace_oldest {
                return Err(ApiError::conflict(format!(
                    "{} holds at most {} documents; pass replaceOldest: true to replace the oldest",
                    category.name(),
                    category.cap().unwrap_or_default()
                )));
            }
            let oldest = Query::partition(pk.clone())
                .prefix(keys::doc_category_prefix(category.name()))
                .page(ctx, 1, None)
                .await?
                .items
                .into_iter()
                .next()
                .map(store::from_item::<EntryItem>)
                .transpose()?;
            let Some(oldest) = oldest else { continue };
            tracing::info!(category = category.name(), "oldest document replaced");
            items.push(delete_existing(table, &pk, &oldest.sk)?);
            items.push(delete_existing(
                table,
                &pk,
                &keys::doc_key_sk(&oldest.entry.key),
            )?);
            items.push(summary_update(table, uid, category, 0, &now)?);
            audit = audit.keys([oldest.entry.key.clone()]);
        } else {
            items.push(summary_update(table, uid, category, 1, &now)?);
        }
        items.push(audit.target(category.name()).tx_item(table, uid)?);
        if store::transact(ctx, items).await?.is_ok() {
            let mut after = summary.unwrap_or_else(|| DocumentsRecord::empty(uid));
            after.layout = LAYOUT_ENTRIES;
            after.version += 1;
            after.updated_at = Some(now.clone());
            after.created_at.get_or_insert(now);
            if !full {
                after.counts.add(category, 1);
            }
            return Ok((after, Change::Applied));
        }
        // The key was attached, the cap reached or the oldest replaced
        // meanwhile: read again.
    }
    Err(attempts.exhausted())
}

/// Detaches `key` from `category` (404 when it is not attached there).
pub async fn detach(
    ctx: &Context,
    uid: &str,
    category: Category,
    key: &str,
    read: AsRead,
    audit: &Audit,
) -> ApiResult<DocumentsRecord> {
    let AsRead {
        mut summary,
        mut guard,
    } = read;
    let table = ctx.table();
    let pk = keys::patient_pk(uid);
    let guard_sk = keys::doc_key_sk(key);
    let mut attempts = store::Attempts::new("documents record");
    while attempts.next().await {
        if !attempts.first() {
            AsRead { summary, guard } = AsRead::reread(ctx, uid, &guard_sk).await?;
        }
        let g = guard
            .as_ref()
            .filter(|g| g.category == category.name() && g.key == key)
            .ok_or_else(|| ApiError::not_found("Document not attached"))?;
        let now = clock::now_rfc3339();
        let items = vec![
            delete_existing(table, &pk, &g.entry_sk)?,
            delete_existing(table, &pk, &guard_sk)?,
            summary_update(table, uid, category, -1, &now)?,
            audit.clone().target(category.name()).tx_item(table, uid)?,
        ];
        if store::transact(ctx, items).await?.is_ok() {
            let mut after = summary.unwrap_or_else(|| DocumentsRecord::empty(uid));
            after.version += 1;
            after.updated_at = Some(now);
            after.counts.add(category, -1);
            return Ok(after);
        }
    }
    Err(attempts.exhausted())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moved_entries_sort_before_new_ones_in_list_order() {
        let moved = |i: usize| keys::doc_entry_sk("lab_reports", &format!("0000000000-{i:06}"));
        let new = keys::doc_entry_sk("lab_reports", &clock::new_id());
        assert!(moved(0) < moved(1) && moved(1) < moved(999_999));
        assert!(moved(999_999) < new);
        assert!(new.starts_with(&keys::doc_category_prefix("lab_reports")));
        assert!(!keys::doc_key_sk("k").starts_with(keys::DOC_PREFIX));
        assert_eq!(keys::doc_key_sk(&"x".repeat(1024)).len(), 7 + 64);
    }

    #[test]
    fn the_cap_guards_only_a_growing_capped_count() {
        let grow = summary_update("T", "u1", Category::PreopPics, 1, "now").unwrap();
        let update = grow.update().unwrap();
        assert!(update.condition_expression().unwrap().contains("#n < :cap"));
        assert_eq!(
            update.expression_attribute_names().unwrap()["#n"],
            "count_preop_pics"
        );
        let shrink = summary_update("T", "u1", Category::PreopPics, -1, "now").unwrap();
        assert!(shrink.update().unwrap().condition_expression().is_none());
        let lab = summary_update("T", "u1", Category::LabReports, 1, "now").unwrap();
        assert!(lab.update().unwrap().condition_expression().is_none());
    }
}
