//! `hms-admin` operations against the emulator, on items in the shapes the
//! Node.js version wrote.

use aws_sdk_dynamodb::types::AttributeValue;
use hms::admin::{self, RunOptions};
use hms::policy::{self, Access, Grant};

use crate::support::{s3_event, sqs, unique, App};

/// An active patient as the Node.js version stored it: no index keys of
/// this project, a lower-case status.
async fn node_patient(app: &App, department: &str) -> String {
    let uid = uuid::Uuid::new_v4().to_string();
    let s = |v: &str| AttributeValue::S(v.to_string());
    app.ctx
        .ddb
        .put_item()
        .table_name(app.ctx.table())
        .item("PK", s(&format!("PATIENT#{uid}")))
        .item("SK", s(hms::keys::META_SK))
        .item("patient_uid", s(&uid))
        .item("name", s("Node Patient"))
        .item("status", s("active"))
        .item("department", s(department))
        .item("active_reg_mrn", s(&unique("NODE")))
        .item("current_state", s("onboarding"))
        .send()
        .await
        .expect("seed");
    uid
}

/// Every patient id `GET /patients` lists, all pages.
async fn listed(app: &App) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/patients?limit=1000&cursor={c}"),
            None => "/patients?limit=1000".to_string(),
        };
        let r = app.get(&path).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        for p in r.body.as_array().expect("array") {
            ids.push(p["id"].as_str().unwrap_or_default().to_string());
        }
        match r.headers.get("x-next-cursor") {
            Some(c) => cursor = Some(c.to_str().unwrap().to_string()),
            None => return ids,
        }
    }
}

async fn run_backfill(app: &App, opts: &RunOptions) -> admin::Tally {
    policy::within(Grant::open(Access::Write), admin::backfill(&app.ctx, opts))
        .await
        .expect("backfill")
}

#[tokio::test]
async fn backfill_lists_node_patients_once_and_a_second_run_changes_nothing() {
    let app = App::new();
    let ward = unique("NodeWard");
    let patients = [
        node_patient(&app, &ward).await,
        node_patient(&app, &ward).await,
    ];
    // Before: readable by id, missing from the all-active list
    for uid in &patients {
        assert_eq!(app.get(&format!("/patients/{uid}")).await.status, 200);
    }
    let before = listed(&app).await;
    assert!(patients.iter().all(|p| !before.contains(p)));

    // A dry run finds them and writes nothing
    let dry = run_backfill(
        &app,
        &RunOptions {
            dry_run: true,
            ..Default::default()
        },
    )
    .await;
    assert!(dry.skipped >= 2 && dry.changed == 0, "{dry:?}");
    assert!(listed(&app).await.iter().all(|p| !patients.contains(p)));

    // The run lists them
    let first = run_backfill(&app, &RunOptions::default()).await;
    assert!(first.changed >= 2, "{first:?}");
    let after = listed(&app).await;
    assert!(patients.iter().all(|p| after.contains(p)), "{after:?}");
    // And a second run finds nothing to do
    let second = run_backfill(&app, &RunOptions::default()).await;
    assert_eq!(second.changed, 0, "{second:?}");
}

/// A fresh queue on the emulator, standing for the ingest's dead letters.
async fn dead_letter_queue(sqs: &aws_sdk_sqs::Client) -> String {
    sqs.create_queue()
        .queue_name(unique("ingest-dlq"))
        .send()
        .await
        .expect("queue")
        .queue_url
        .expect("url")
}

/// A dead-letter message as Lambda's on-failure destination writes it.
fn dead_letter(event: &aws_lambda_events::event::s3::S3Event) -> String {
    serde_json::json!({
        "version": "1.0",
        "timestamp": "2026-12-01T10:00:00.000Z",
        "requestContext": {"requestId": "r-1", "condition": "RetriesExhausted", "approximateInvokeCount": 3},
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
        "responsePayload": {"errorMessage": "1 record(s) failed"}
    })
    .to_string()
}

#[tokio::test]
async fn replay_ingest_attaches_what_waits_in_the_dead_letter_queue() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let key = app.upload_doc(&uid, "lab").await;
    let sqs = sqs();
    let queue = dead_letter_queue(&sqs).await;
    // Given a failed ingest of an uploaded report, and a message that is no
    // S3 event at all
    for body in [
        dead_letter(&s3_event(&[&key])),
        "{\"not\": \"an event\"}".to_string(),
    ] {
        sqs.send_message()
            .queue_url(&queue)
            .message_body(body)
            .send()
            .await
            .expect("sent");
    }
    let run = |dry_run| {
        let (app, sqs, queue) = (&app, &sqs, &queue);
        async move {
            let opts = RunOptions {
                dry_run,
                ..Default::default()
            };
            admin::replay_ingest(&app.ctx, sqs, queue, &opts)
                .await
                .expect("replay")
        }
    };
    // A dry run counts both and attaches nothing
    let dry = run(true).await;
    assert_eq!((dry.scanned, dry.changed), (2, 0), "{dry:?}");
    let docs = app.get(&format!("/patients/{uid}/documents")).await.body;
    assert_eq!(docs["labReports"], serde_json::json!([]));
    // The replay attaches the report and removes its message; the other
    // stays for a person to look at
    let done = run(false).await;
    assert_eq!((done.changed, done.skipped), (1, 1), "{done:?}");
    let docs = app.get(&format!("/patients/{uid}/documents")).await.body;
    assert_eq!(docs["labReports"][0]["key"], key.as_str(), "{docs}");
    let ledger = app
        .get(&format!("/patients/{uid}/audit?limit=200"))
        .await
        .body;
    assert!(
        ledger["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "documents.attach" && e["actor"] == "system:s3-ingest"),
        "{ledger}"
    );
    // A second replay attaches nothing twice
    let again = run(false).await;
    assert_eq!(again.changed, 0, "{again:?}");
}

#[tokio::test]
async fn the_fixtures_run_as_they_are_against_a_seeded_table() {
    let app = App::new();
    let seed = || policy::within(Grant::open(Access::Write), admin::seed_fixtures(&app.ctx));
    // Seeding twice registers the fixtures' patient once
    seed().await.expect("seeded");
    let again = seed().await.expect("seeded again");
    assert!(!again, "the second run finds it");
    // The fixtures, unmodified, through the real handler
    for (name, status) in [
        ("patient-get.json", 200),
        ("patient-by-mrn.json", 200),
        ("documents-get.json", 200),
        ("notes-list.json", 200),
        ("timeline.json", 200),
    ] {
        let req = lambda_http::request::from_str(&crate::support::fixture(name)).expect("event");
        let r = app.send(req).await;
        assert_eq!(r.status, status, "{name}: {:?}", r.body);
        if name.starts_with("patient-") {
            assert_eq!(r.body["id"], admin::FIXTURE_UID, "{name}");
            assert_eq!(r.body["mrn"], admin::FIXTURE_MRN, "{name}");
        }
    }
}

#[tokio::test]
async fn a_failed_ingest_is_kept_in_the_dead_letter_queue_and_replayed() {
    use crate::fault_proxy::{Fault, FaultProxy, Match};
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let key = app.upload_doc(&uid, "lab").await;
    let sqs = sqs();
    let queue = dead_letter_queue(&sqs).await;
    let dead = hms::s3_events::DeadLetters {
        sqs: sqs.clone(),
        queue_url: queue.clone(),
    };
    // Given DynamoDB failing under the ingest
    let proxy = FaultProxy::start(&crate::support::emulators().dynamodb);
    let faulty = App::with_endpoints(
        App::settings(&[]),
        &proxy.url,
        &crate::support::emulators().s3,
    );
    proxy.fail(Match::Operation("BatchGetItem"), Fault::ServerError);
    // When the upload's event is ingested, it fails and is kept
    let event = s3_event(&[&key]);
    let report = hms::s3_events::ingest_keeping_failures(&faulty.ctx, &event, Some(&dead)).await;
    assert_eq!(report.failed, 1, "{report:?}");
    let waiting = sqs
        .receive_message()
        .queue_url(&queue)
        .visibility_timeout(0)
        .send()
        .await
        .expect("receive")
        .messages
        .unwrap_or_default();
    assert_eq!(waiting.len(), 1);
    let kept = admin::event_of(waiting[0].body.as_deref().unwrap_or("")).expect("an S3 event");
    assert_eq!(kept.records[0].s3.object.key.as_deref(), Some(key.as_str()));
    // Then, DynamoDB back, the replay attaches it and empties the queue
    let done = admin::replay_ingest(&app.ctx, &sqs, &queue, &RunOptions::default())
        .await
        .expect("replay");
    assert_eq!((done.scanned, done.changed), (1, 1), "{done:?}");
    let docs = app.get(&format!("/patients/{uid}/documents")).await.body;
    assert_eq!(docs["labReports"][0]["key"], key.as_str(), "{docs}");
    let left = sqs
        .receive_message()
        .queue_url(&queue)
        .send()
        .await
        .expect("receive")
        .messages
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn migrate_documents_moves_earlier_records_once_in_their_order() {
    // On a table of its own: a table-wide run would move the records other
    // tests seed in the earlier layout to test the lazy move.
    let app = App::with_env(&[("TABLE_NAME", &unique("HMS-migrate"))]);
    hms::provision::ensure_table(&app.ctx).await.expect("table");
    let (uid, _) = app.create_patient().await;
    let keys = crate::documents_scale::seed_legacy_record(&app, &uid, 12).await;
    let path = format!("/patients/{uid}/documents");
    let before = app.get(&path).await.body;
    let run = |dry_run| {
        let app = &app;
        async move {
            let opts = RunOptions {
                dry_run,
                ..Default::default()
            };
            policy::within(
                Grant::open(Access::Write),
                admin::migrate_documents(&app.ctx, &opts),
            )
            .await
            .expect("migrate")
        }
    };
    // A dry run finds the record and moves nothing
    let dry = run(true).await;
    assert_eq!((dry.scanned, dry.changed), (1, 0), "{dry:?}");
    // The run moves it: the same entries, in the same order, all fields kept
    let done = run(false).await;
    assert_eq!((done.scanned, done.changed), (1, 1), "{done:?}");
    let after = app.get(&path).await.body;
    let keys_of = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|e| e["key"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(keys_of(&after["labReports"]), keys);
    // (links are signed per time window: compared apart from them)
    let unlinked = |v: &serde_json::Value| -> Vec<serde_json::Value> {
        let mut list = v.as_array().unwrap().clone();
        for e in &mut list {
            let e = e.as_object_mut().unwrap();
            e.remove("url");
            e.remove("cdnUrl");
        }
        list
    };
    for category in ["labReports", "preopPics"] {
        assert_eq!(
            unlinked(&after[category]),
            unlinked(&before[category]),
            "{category}"
        );
    }
    assert_eq!(after["counts"]["labReports"], 12);
    let summary = app
        .partition(&format!("PATIENT#{uid}"))
        .await
        .into_iter()
        .find(|i| i.get("SK") == Some(&AttributeValue::S("DOCS#PROFILE".into())))
        .expect("summary");
    assert!(!summary.contains_key("lab_reports"), "{summary:?}");
    // And a second run finds nothing to move
    let again = run(false).await;
    assert_eq!((again.scanned, again.changed), (0, 0), "{again:?}");
}
