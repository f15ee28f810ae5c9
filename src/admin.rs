//! One-off operations on a table, for `hms-admin` (run by an operator with
//! credentials of their own, never by the API's role, which may not Scan):
//!
//! - [`backfill`]: the index keys this project adds (the all-active list,
//!   `GSI3PK`/`GSI3SK`) on active patients the Node.js version wrote, so
//!   they appear in `GET /patients` before their next write;
//! - [`migrate_documents`]: documents records still in the single-item
//!   layout moved to one item per entry (what their next write would do);
//! - [`replay_ingest`]: S3 events the ingest function failed on (the
//!   records its on-failure destination put in the dead-letter queue) run
//!   through the same ingest again; each is deleted from the queue once
//!   every record of it is attached or skipped;
//! - [`seed_fixtures`]: the patient the `events/` fixtures name, so they run
//!   against a local stack (`cargo lambda invoke`, `sam local invoke`).
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

/// Messages asked for at once (SQS's most).
const RECEIVE_BATCH: i32 = 10;

/// The S3 event a dead-letter message carries: Lambda's on-failure record
/// (`requestPayload`), or an S3 notification sent to the queue directly.
pub fn event_of(body: &str) -> Option<aws_lambda_events::event::s3::S3Event> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    let payload = match value.get("requestPayload") {
        Some(payload) => payload.clone(),
        None => value,
    };
    serde_json::from_value(payload)
        .ok()
        .filter(|e: &aws_lambda_events::event::s3::S3Event| !e.records.is_empty())
}

/// Replays what waits in the ingest's dead-letter queue `queue_url`.
/// `changed`: messages replayed and deleted; `skipped`: messages left in
/// the queue (a record failed again, or not an S3 event; with `--dry-run`,
/// every message, counted and left visible).
pub async fn replay_ingest(
    ctx: &Context,
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    opts: &RunOptions,
) -> ApiResult<Tally> {
    let mut tally = Tally::default();
    let mut seen = std::collections::HashSet::new();
    loop {
        let received = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(RECEIVE_BATCH)
            // A dry run leaves every message visible; a replay hides each
            // while it runs (then deletes it, or lets it come back).
            .visibility_timeout(if opts.dry_run { 0 } else { 120 })
            .send()
            .await?;
        let messages = received.messages.unwrap_or_default();
        let fresh: Vec<_> = messages
            .into_iter()
            .filter(|m| seen.insert(m.message_id.clone().unwrap_or_default()))
            .collect();
        if fresh.is_empty() {
            break;
        }
        for message in fresh {
            tally.scanned += 1;
            let event = message.body.as_deref().and_then(event_of);
            let (Some(event), false) = (event, opts.dry_run) else {
                tally.skipped += 1;
                continue;
            };
            let report = crate::s3_events::ingest(ctx, &event).await;
            if report.failed > 0 {
                tally.skipped += 1;
                continue;
            }
            sqs.delete_message()
                .queue_url(queue_url)
                .set_receipt_handle(message.receipt_handle)
                .send()
                .await?;
            tally.changed += 1;
        }
        println!(
            "{}",
            serde_json::json!({
                "scanned": tally.scanned, "changed": tally.changed, "skipped": tally.skipped,
                "dryRun": opts.dry_run,
            })
        );
    }
    Ok(tally)
}

/// The patient the `events/` fixtures name.
pub const FIXTURE_UID: &str = "0190f5c0-0000-7000-8000-00000000f1a7";
pub const FIXTURE_MRN: &str = "FIXTURE-MRN-1";

/// Registers the fixtures' patient (through the API's own registration,
/// under its fixed UID). `false`: it was there already.
pub async fn seed_fixtures(ctx: &Context) -> ApiResult<bool> {
    let body = serde_json::json!({
        "name": "Fixture Patient",
        "age": 40,
        "sex": "F",
        "registration": {"mrn": FIXTURE_MRN, "scheme": "GENERAL", "department": "Surgery"},
    });
    let req = crate::http::ApiRequest {
        body: body.to_string().into_bytes(),
        request_id: "hms-admin-seed-fixtures".to_string(),
        ..Default::default()
    };
    match crate::patients::create::create_as(ctx, &req, FIXTURE_UID.to_string()).await {
        Ok(_) => Ok(true),
        Err(ApiError::Conflict { .. }) => Ok(false),
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_letters_carry_the_s3_event() {
        let mut event: serde_json::Value =
            serde_json::from_str(include_str!("../events/s3-object-created.json")).unwrap();
        event["Records"][0]["s3"]["object"]["key"] =
            serde_json::json!("patients/u/optimized/docs/lab/a.jpg");
        let destination = serde_json::json!({
            "version": "1.0",
            "requestContext": {"condition": "RetriesExhausted", "approximateInvokeCount": 3},
            "requestPayload": event,
            "responsePayload": {"errorMessage": "1 record(s) failed"}
        });
        for body in [destination.to_string(), event.to_string()] {
            let parsed = event_of(&body).expect("an S3 event");
            assert_eq!(
                parsed.records[0].s3.object.key.as_deref(),
                Some("patients/u/optimized/docs/lab/a.jpg")
            );
        }
        assert!(event_of("not json").is_none());
        assert!(event_of(r#"{"Records": []}"#).is_none());
    }

    #[test]
    fn cursors_round_trip() {
        let key = store::key("PATIENT#u1", "META");
        let cursor = cursor_of(&key).unwrap();
        assert_eq!(cursor, "PATIENT#u1|META");
        assert_eq!(start_key(&cursor).unwrap(), key);
        assert!(start_key("no-separator").is_err());
    }
}
