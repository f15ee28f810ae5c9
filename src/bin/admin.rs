//! `hms-admin`: one-off operations on the table, run by an operator with
//! credentials of their own (never the API's role, which may not Scan).
//! Reads the same settings as the API (`TABLE_NAME`, `AWS_*`).
//!
//! ```text
//! hms-admin backfill [--dry-run] [--from CURSOR]
//! hms-admin migrate-documents [--dry-run] [--from CURSOR]
//! hms-admin replay-ingest --queue-url URL [--dry-run]
//! hms-admin seed-fixtures
//! ```
//!
//! Each prints one JSON progress line per page (`scanned`, `changed`,
//! `skipped`, `next`) and a summary; `--from` resumes at a line's `next`.

use hms::admin::{self, RunOptions};

const USAGE: &str = "usage: hms-admin backfill|migrate-documents [--dry-run] [--from CURSOR]\n       hms-admin replay-ingest --queue-url URL [--dry-run]\n       hms-admin seed-fixtures";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    hms::logging::init();
    let mut args = std::env::args().skip(1);
    let command = args.next().ok_or(USAGE)?;
    let mut opts = RunOptions::default();
    let mut queue_url = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--dry-run" => opts.dry_run = true,
            "--from" => opts.from = Some(args.next().ok_or("--from needs a cursor")?),
            "--queue-url" => queue_url = Some(args.next().ok_or("--queue-url needs a URL")?),
            other => return Err(format!("unknown argument {other}; {USAGE}").into()),
        }
    }
    let ctx = hms::Context::from_env().await;
    // The operator's own grant: nothing here is a caller's request.
    let open = || hms::policy::Grant::open(hms::policy::Access::Write);
    if command == "seed-fixtures" {
        let created = hms::policy::within(open(), admin::seed_fixtures(&ctx))
            .await
            .map_err(|e| format!("seed-fixtures failed: {e}"))?;
        let (uid, mrn) = (admin::FIXTURE_UID, admin::FIXTURE_MRN);
        println!(
            "{}",
            serde_json::json!({"done": command, "created": created, "patient": uid, "mrn": mrn})
        );
        return Ok(());
    }
    let tally = match command.as_str() {
        "backfill" => hms::policy::within(open(), admin::backfill(&ctx, &opts)).await,
        "migrate-documents" => {
            hms::policy::within(open(), admin::migrate_documents(&ctx, &opts)).await
        }
        "replay-ingest" => {
            let queue_url = queue_url.ok_or(
                "replay-ingest needs --queue-url (the stack output IngestDeadLetterQueueUrl)",
            )?;
            let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
            let sqs = aws_sdk_sqs::Client::new(&sdk);
            admin::replay_ingest(&ctx, &sqs, &queue_url, &opts).await
        }
        _ => return Err(USAGE.into()),
    }
    .map_err(|e| format!("{command} failed: {e}"))?;
    println!(
        "{}",
        serde_json::json!({
            "done": command, "scanned": tally.scanned, "changed": tally.changed,
            "skipped": tally.skipped, "dryRun": opts.dry_run,
        })
    );
    Ok(())
}
