//! One-off operations on a table, for `hms-admin` (run by an operator with
//! credentials of their own, never by the API's role, which may not Scan):
//!
//! - [`backfill`]: the index keys this project adds (the all-active list,
//!   `GSI3PK`/`GSI3SK`) on active patients the Node.js version wrote, so
//!   they appear in `GET /patients` before their next write;
//! - [`migrate_documents`]: documents records still in the single-item
//!   layout moved to one item per entry (what their next write would do).
//!
//! Both read the table once, page by page (the SDK's paginator), and are
//! idempotent: a guarded write skips an item changed meanwhile, a second
//! run finds nothing to do. `--from` resumes at the cursor a progress line
//! printed; `--dry-run` writes nothing.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::context::Context;
use crate::documents::entries;
use crate::documents::record::DocumentsRecord;
use crate::error::{ApiError, ApiResult};
use crate::keys;
use crate::patients::PatientItem;
use crate::store::{self, Item};

/// How a run goes.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub dry_run: bool,
    /// The `next` cursor of a progress line: resume after it.
    pub from: Option<String>,
}

/// What a run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub scanned: u64,
    pub changed: u64,
    /// Found wanting but changed by someone else meanwhile (or, with
    /// `--dry-run`, not written).
    pub skipped: u64,
}

/// Items per page of the scan.
const PAGE: i32 = 200;

/// The cursor of a page's last key (`PK|SK`, both strings).
fn cursor_of(key: &Item) -> Option<String> {
    match (key.get("PK"), key.get("SK")) {
        (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) => Some(format!("{pk}|{sk}")),
        _ => None,
    }
}

fn start_key(cursor: &str) -> ApiResult<Item> {
    let (pk, sk) = cursor
        .split_once('|')
        .ok_or_else(|| ApiError::bad_request("--from takes the `next` of a progress line"))?;
    Ok(store::key(pk, sk))
}

/// Scans the items of sort key `sk` matching `filter` (naming `values`), a
/// page at a time, giving each page to `each` and printing a progress line
/// after it.
async fn scan_items<F, Fut>(
    ctx: &Context,
    sk: &str,
    (filter, values): (&str, Item),
    opts: &RunOptions,
    mut each: F,
) -> ApiResult<Tally>
where
    F: FnMut(Vec<Item>) -> Fut,
    Fut: std::future::Future<Output = ApiResult<(u64, u64)>>,
{
    let mut values = values;
    values.insert(":sk".to_string(), store::s(sk));
    let mut pages = ctx
        .ddb
        .scan()
        .table_name(ctx.table())
        .filter_expression(format!("SK = :sk AND ({filter})"))
        .set_expression_attribute_values(Some(values))
        .set_exclusive_start_key(opts.from.as_deref().map(start_key).transpose()?)
        .limit(PAGE)
        .into_paginator()
        .send();
    let mut tally = Tally::default();
    while let Some(page) = pages.next().await {
        let page = page?;
        let items = page.items.unwrap_or_default();
        tally.scanned += items.len() as u64;
        let (changed, skipped) = each(items).await?;
        tally.changed += changed;
        tally.skipped += skipped;
        let next = page.last_evaluated_key.as_ref().and_then(cursor_of);
        println!(
            "{}",
            serde_json::json!({
                "scanned": tally.scanned, "changed": tally.changed, "skipped": tally.skipped,
                "next": next, "dryRun": opts.dry_run,
            })
        );
    }
    Ok(tally)
}

/// Sets the all-active index keys on active patients that lack them.
pub async fn backfill(ctx: &Context, opts: &RunOptions) -> ApiResult<Tally> {
    // Active or not is decided here (`PatientItem::is_active`: any case,
    // absent means active), not by the filter.
    scan_items(
        ctx,
        keys::META_SK,
        ("attribute_not_exists(GSI3PK)", Item::new()),
        opts,
        |items| async move {
            let mut changed = 0;
            let mut skipped = 0;
            for item in items {
                let mut patient: PatientItem = store::from_item(item)?;
                if !patient.is_active() {
                    continue;
                }
                if opts.dry_run {
                    skipped += 1;
                    continue;
                }
                patient.sync_index_keys();
                let e = store::Expression {
                    update: "SET GSI3PK = :pk, GSI3SK = :sk".to_string(),
                    condition: "attribute_exists(PK) AND attribute_not_exists(GSI3PK)".to_string(),
                    names: HashMap::new(),
                    values: HashMap::from([
                        (
                            ":pk".to_string(),
                            store::s(patient.gsi3pk.unwrap_or_default()),
                        ),
                        (
                            ":sk".to_string(),
                            store::s(patient.gsi3sk.unwrap_or_default()),
                        ),
                    ]),
                };
                match store::update(ctx, store::key(patient.pk.as_str(), patient.sk.as_str()), e)
                    .await?
                {
                    Ok(_) => changed += 1,
                    // Written by the API meanwhile (its write sets the keys).
                    Err(_) => skipped += 1,
                }
            }
            Ok((changed, skipped))
        },
    )
    .await
}

/// Moves every documents record still in the single-item layout.
pub async fn migrate_documents(ctx: &Context, opts: &RunOptions) -> ApiResult<Tally> {
    scan_items(
        ctx,
        keys::DOCS_SK,
        (
            "attribute_not_exists(layout) OR layout < :entries",
            HashMap::from([(
                ":entries".to_string(),
                AttributeValue::N(entries::LAYOUT_ENTRIES.to_string()),
            )]),
        ),
        opts,
        |items| async move {
            let mut changed = 0;
            let mut skipped = 0;
            for item in items {
                let uid = match item.get("PK") {
                    Some(AttributeValue::S(pk)) => pk
                        .strip_prefix(keys::PATIENT_PREFIX)
                        .unwrap_or(pk)
                        .to_string(),
                    _ => continue,
                };
                if opts.dry_run {
                    skipped += 1;
                    continue;
                }
                let record = DocumentsRecord::from_item(Some(item), &uid)?;
                match entries::ensure_entries(ctx, &uid, record).await {
                    Ok((_, true)) => changed += 1,
                    Ok((_, false)) => skipped += 1,
                    // Another writer moved it first: its next read is new.
                    Err(ApiError::Conflict { .. }) => skipped += 1,
                    Err(err) => return Err(err),
                }
            }
            Ok((changed, skipped))
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        let key = store::key("PATIENT#u1", "META");
        let cursor = cursor_of(&key).unwrap();
        assert_eq!(cursor, "PATIENT#u1|META");
        assert_eq!(start_key(&cursor).unwrap(), key);
        assert!(start_key("no-separator").is_err());
    }
}
