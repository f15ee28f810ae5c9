//! Failing dependencies: throttling, 5xx and slow answers from DynamoDB and
//! S3 (through the fault proxy) give a 503 with Retry-After, within the time
//! bounds, and never a partial change.

use std::time::{Duration, Instant};

use hms::context::Limits;
use serde_json::{json, Value};

use crate::fault_proxy::{Fault, FaultProxy, Match};
use crate::support::{emulators, is_read_action, s3_event, unique, App, Reply};

/// Tight bounds: two attempts per call, short back-off and timeouts.
fn tight() -> Limits {
    Limits {
        attempt_timeout: Duration::from_millis(800),
        operation_timeout: Duration::from_secs(2),
        max_attempts: 2,
        initial_backoff: Duration::from_millis(10),
        request_timeout: Duration::from_secs(5),
    }
}

/// An app whose DynamoDB (`ddb: true`) or S3 calls pass through a proxy.
fn app_behind(proxy: &FaultProxy, ddb: bool) -> App {
    let mut settings = App::settings(&[]);
    settings.limits = tight();
    let e = emulators();
    if ddb {
        App::with_endpoints(settings, &proxy.url, &e.s3)
    } else {
        App::with_endpoints(settings, &e.dynamodb, &proxy.url)
    }
}

fn assert_unavailable(r: &Reply) {
    assert_eq!(r.status, 503, "{:?}", r.body);
    let retry = r
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u32>().ok());
    assert!(retry.is_some_and(|s| s >= 1), "Retry-After: {retry:?}");
    assert!(r.body["error"].is_string());
}

/// The ledger entries of changes (reads are recorded too, and the checks
/// around a faulted change read).
async fn audit_len(app: &App, uid: &str) -> usize {
    let r = app.get(&format!("/patients/{uid}/audit?limit=200")).await;
    assert_eq!(r.status, 200, "ledger read: {:?}", r.body);
    let items = r.body["items"].as_array().expect("items");
    items
        .iter()
        .filter(|e| !is_read_action(e["action"].as_str().unwrap_or("")))
        .count()
}

#[tokio::test]
async fn a_throttled_state_change_is_503_and_writes_nothing() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let before = app.get(&format!("/patients/{uid}")).await.body;
    let audit_before = audit_len(&app, &uid).await;
    let proxy = FaultProxy::start(&emulators().dynamodb);
    let faulty = app_behind(&proxy, true);
    proxy.fail(Match::Operation("TransactWriteItems"), Fault::Throttle);
    let r = faulty
        .call(
            "PATCH",
            &format!("/patients/{uid}/state"),
            Some(json!({"currentState": unique("stage"), "force": true})),
        )
        .await;
    assert_unavailable(&r);
    assert_eq!(proxy.faulted(), 2, "the SDK retried before giving up");
    let after = app.get(&format!("/patients/{uid}")).await.body;
    assert_eq!(after["currentState"], before["currentState"]);
    assert_eq!(after["updateCounter"], before["updateCounter"]);
    let timeline = app.get(&format!("/patients/{uid}/timeline")).await.body;
    assert_eq!(timeline.as_array().map(Vec::len), Some(1));
    assert_eq!(audit_len(&app, &uid).await, audit_before);
    // Healed, the same request goes through.
    proxy.heal();
    let r = faulty
        .call(
            "PATCH",
            &format!("/patients/{uid}/state"),
            Some(json!({"currentState": "ward", "force": true})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}

#[tokio::test]
async fn a_failed_create_leaves_no_trace_and_can_be_retried() {
    let proxy = FaultProxy::start(&emulators().dynamodb);
    let faulty = app_behind(&proxy, true);
    proxy.fail(Match::Operation("TransactWriteItems"), Fault::ServerError);
    let mrn = unique("MRN");
    let body = json!({"name": "Retry Me", "registration":
        {"mrn": mrn, "scheme": "GENERAL", "department": "Surgery"}});
    assert_unavailable(&faulty.post("/patients", body.clone()).await);
    let app = App::new();
    assert_eq!(app.get(&format!("/patients/{mrn}")).await.status, 404);
    proxy.heal();
    let r = faulty.post("/patients", body).await;
    assert_eq!(r.status, 201, "the MRN was never taken: {:?}", r.body);
}

#[tokio::test]
async fn server_errors_and_throttling_on_reads_are_503() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let proxy = FaultProxy::start(&emulators().dynamodb);
    let faulty = app_behind(&proxy, true);
    for fault in [Fault::ServerError, Fault::Throttle] {
        proxy.fail(Match::Operation("BatchGetItem"), fault);
        for path in [
            format!("/patients/{uid}"),
            format!("/patients/{uid}/documents"),
            format!("/patients/{uid}/notes"),
        ] {
            assert_unavailable(&faulty.get(&path).await);
        }
    }
    proxy.fail(Match::Operation("Query"), Fault::ServerError);
    assert_unavailable(&faulty.get("/patients").await);
    proxy.heal();
    assert_eq!(faulty.get(&format!("/patients/{uid}")).await.status, 200);
}

#[tokio::test]
async fn a_slow_dependency_is_cut_off_with_a_503() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let proxy = FaultProxy::start(&emulators().dynamodb);
    let faulty = app_behind(&proxy, true);
    let stall = Duration::from_secs(20);
    proxy.fail(Match::Operation("BatchGetItem"), Fault::Slow(stall));
    let started = Instant::now();
    let r = faulty.get(&format!("/patients/{uid}")).await;
    let took = started.elapsed();
    assert_unavailable(&r);
    // Bounded by the SDK's time limits, far below the stalled answer.
    assert!(took < stall / 2, "answered after {took:?}");
}

#[tokio::test]
async fn a_timed_out_transaction_lands_whole_or_not_at_all() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let audit_before = audit_len(&app, &uid).await;
    let proxy = FaultProxy::start(&emulators().dynamodb);
    let faulty = app_behind(&proxy, true);
    // The write reaches DynamoDB only after the client gave up on it.
    proxy.fail(
        Match::Operation("TransactWriteItems"),
        Fault::Slow(Duration::from_millis(1500)),
    );
    let stage = unique("stage");
    let r = faulty
        .call(
            "PATCH",
            &format!("/patients/{uid}/state"),
            Some(json!({"currentState": stage, "force": true})),
        )
        .await;
    assert_unavailable(&r);
    // The proxy still delivers what the client gave up on: the change lands,
    // whole (its timeline row and audit entry with it) and once, although
    // the SDK sent it twice (the retry finds its guard changed).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let patient = app.get(&format!("/patients/{uid}")).await.body;
        if patient["currentState"] == Value::String(stage.clone()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the late transaction never landed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1600)).await; // the second copy
    let timeline = app.get(&format!("/patients/{uid}/timeline")).await.body;
    let rows = timeline.as_array().map_or(0, Vec::len);
    let audits = audit_len(&app, &uid).await - audit_before;
    assert_eq!((rows, audits), (2, 1), "{timeline}");
}

#[tokio::test]
async fn s3_failures_on_attach_are_503_and_write_nothing() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let key = app.upload_doc(&uid, "lab").await;
    let audit_before = audit_len(&app, &uid).await;
    let proxy = FaultProxy::start(&emulators().s3);
    let faulty = app_behind(&proxy, false);
    let attach = format!("/patients/{uid}/documents/attach");
    let body = json!({"category": "lab_reports", "key": key});
    proxy.fail(Match::Method("GET"), Fault::ServerError);
    assert_unavailable(&faulty.post(&attach, body.clone()).await);
    assert_eq!(audit_len(&app, &uid).await, audit_before);
    let docs = app.get(&format!("/patients/{uid}/documents")).await.body;
    assert_eq!(docs["labReports"], json!([]), "{docs}");
    // Presigning needs no S3 call, and S3 stays reachable through the proxy.
    proxy.heal();
    let r = faulty.post(&attach, body).await;
    assert_eq!(
        r.status, 200,
        "forwarded calls keep valid signatures: {:?}",
        r.body
    );
}

#[tokio::test]
async fn a_conflict_that_never_clears_is_retried_then_409_writing_nothing() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let before = app.get(&format!("/patients/{uid}")).await.body;
    let audit_before = audit_len(&app, &uid).await;
    let proxy = FaultProxy::start(&emulators().dynamodb);
    let faulty = app_behind(&proxy, true);
    proxy.fail(
        Match::Operation("TransactWriteItems"),
        Fault::Cancelled("TransactionConflict"),
    );
    let state = format!("/patients/{uid}/state");
    let body = json!({"currentState": unique("stage"), "force": true});
    // A conflict is a lost race: the SDK resends the transaction, the change
    // is re-read and re-applied, and only when the budget is spent is it a
    // 409 asking the client to refetch (never a 503 or a partial change)
    let r = faulty.call("PATCH", &state, Some(body.clone())).await;
    assert_eq!(r.status, 409, "{:?}", r.body);
    assert!(r.body["error"]
        .as_str()
        .unwrap_or("")
        .contains("refetch and retry"));
    assert!(
        proxy.faulted() >= 8,
        "retried before answering: {}",
        proxy.faulted()
    );
    let after = app.get(&format!("/patients/{uid}")).await.body;
    assert_eq!(after["updateCounter"], before["updateCounter"]);
    assert_eq!(audit_len(&app, &uid).await, audit_before);
    proxy.heal();
    let r = faulty.call("PATCH", &state, Some(body)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}

#[tokio::test]
async fn an_attach_cancelled_by_throttling_is_503_and_writes_nothing() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let key = app.upload_doc(&uid, "lab").await;
    let proxy = FaultProxy::start(&emulators().dynamodb);
    let faulty = app_behind(&proxy, true);
    proxy.fail(
        Match::Operation("TransactWriteItems"),
        Fault::Cancelled("ThrottlingError"),
    );
    let attach = format!("/patients/{uid}/documents/attach");
    let body = json!({"category": "lab_reports", "key": key});
    // Not taken for a lost race (which would be retried, then 409).
    assert_unavailable(&faulty.post(&attach, body.clone()).await);
    let docs = app.get(&format!("/patients/{uid}/documents")).await.body;
    assert_eq!(docs["labReports"], json!([]), "{docs}");
    proxy.heal();
    assert_eq!(faulty.post(&attach, body).await.status, 200);
}

#[tokio::test]
async fn links_are_not_handed_out_when_their_ledger_entry_cannot_be_written() {
    // Given a patient with an attached document
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let key = app.upload_doc(&uid, "lab").await;
    app.attach_doc(&uid, "lab_reports", &key).await;
    // When the ledger write fails (a transaction concurrent with the read,
    // and the PutItem it falls back to)
    let proxy = FaultProxy::start(&emulators().dynamodb);
    let faulty = app_behind(&proxy, true);
    proxy.fail(
        Match::Operations(&["PutItem", "TransactWriteItems"]),
        Fault::ServerError,
    );
    // Then the Documents screen, a listing with links and a presigned
    // download answer 503 and carry no link
    for r in [
        faulty.get(&format!("/patients/{uid}/documents")).await,
        faulty
            .get(&format!("/patients/{uid}/files?docType=lab&presign=1"))
            .await,
        faulty
            .post(
                &format!("/patients/{uid}/files/presign-download"),
                json!({"key": key}),
            )
            .await,
    ] {
        assert_unavailable(&r);
        assert!(
            !r.body.to_string().contains("X-Amz-Signature"),
            "{:?}",
            r.body
        );
    }
    // And once the ledger is reachable, the same read answers with links
    proxy.heal();
    let r = faulty.get(&format!("/patients/{uid}/documents")).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(r.body["labReports"][0]["cdnUrl"].is_string());
}

#[tokio::test]
async fn no_record_is_read_out_when_its_ledger_entry_cannot_be_written() {
    // Given a patient with a note, a medication and a task
    let app = App::new();
    let (uid, mrn) = app.create_patient().await;
    let p = format!("/patients/{uid}");
    let secret = "Secret diagnosis text";
    assert_eq!(
        app.call("PUT", &p, Some(json!({"diagnosis": secret})))
            .await
            .status,
        200
    );
    let note = app
        .post(
            &format!("{p}/notes"),
            json!({"authorId": "dr-a", "category": "doctorNote", "content": secret}),
        )
        .await;
    assert_eq!(note.status, 201, "{:?}", note.body);
    // When no ledger write can land
    let proxy = FaultProxy::start(&emulators().dynamodb);
    let faulty = app_behind(&proxy, true);
    proxy.fail(
        Match::Operations(&["PutItem", "TransactWriteItems"]),
        Fault::ServerError,
    );
    // Then every read of the record answers 503 and carries none of it
    for path in [
        p.clone(),
        format!("/patients/{mrn}"),
        format!("/patients/by-mrn/{mrn}"),
        format!("{p}/notes"),
        format!("{p}/meds"),
        format!("{p}/tasks"),
        format!("{p}/timeline"),
        format!("{p}/discharge"),
        format!("{p}/discharge/versions"),
        format!("{p}/files"),
        "/patients?limit=1000".to_string(),
    ] {
        let r = faulty.get(&path).await;
        assert_unavailable(&r);
        let text = r.body.to_string();
        assert!(
            !text.contains(secret) && !text.contains("Test Patient"),
            "{path}: {text}"
        );
    }
    // And once the ledger is reachable the same read answers
    proxy.heal();
    let r = faulty.get(&p).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["diagnosis"], secret);
}

#[tokio::test]
async fn keys_dynamodb_leaves_unprocessed_are_retried_then_503() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let proxy = FaultProxy::start(&emulators().dynamodb);
    let faulty = app_behind(&proxy, true);
    proxy.fail(Match::Operation("BatchGetItem"), Fault::Unprocessed);
    let r = faulty.get(&format!("/patients/{uid}")).await;
    assert_unavailable(&r);
    assert_eq!(r.calls.get("DynamoDB.BatchGetItem"), 5, "{}", r.calls);
    assert_eq!(proxy.faulted(), 5);
    proxy.heal();
    assert_eq!(faulty.get(&format!("/patients/{uid}")).await.status, 200);
}

#[tokio::test]
async fn failed_puts_and_updates_are_503_and_change_nothing() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let proxy = FaultProxy::start(&emulators().dynamodb);
    let faulty = app_behind(&proxy, true);
    // A create (the profile and its ledger entry, one transaction)
    let doctor = unique("dr");
    proxy.fail(Match::Operation("TransactWriteItems"), Fault::ServerError);
    let r = faulty
        .post(
            "/doctors",
            json!({"userId": doctor, "name": "Dr Fault", "email": "f@example.org"}),
        )
        .await;
    assert_unavailable(&r);
    assert_eq!(app.get(&format!("/doctors/{doctor}")).await.status, 404);
    // Patches of a task and a medication (each a transaction with its
    // ledger entry)
    let task = app
        .post(
            &format!("/patients/{uid}/tasks"),
            json!({"title": "Check", "type": "lab", "due": "2030-01-01T10:00:00Z", "assigneeId": "dr-a"}),
        )
        .await;
    assert_eq!(task.status, 201, "{:?}", task.body);
    let task_id = task.body["task"]["taskId"]
        .as_str()
        .expect("id")
        .to_string();
    let med = app
        .post(
            &format!("/patients/{uid}/meds"),
            json!({"name": "Drug", "dose": "1 mg", "route": "oral", "freq": "OD", "start": "2030-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(med.status, 201, "{:?}", med.body);
    let med_id = med.body["med"]["medId"].as_str().expect("id").to_string();
    proxy.fail(Match::Operation("TransactWriteItems"), Fault::Throttle);
    let r = faulty
        .call(
            "PATCH",
            &format!("/patients/{uid}/tasks/{task_id}"),
            Some(json!({"title": "Changed"})),
        )
        .await;
    assert_unavailable(&r);
    proxy.fail(Match::Operation("TransactWriteItems"), Fault::ServerError);
    let r = faulty
        .call(
            "PATCH",
            &format!("/patients/{uid}/meds/{med_id}"),
            Some(json!({"dose": "2 mg"})),
        )
        .await;
    assert_unavailable(&r);
    proxy.heal();
    let tasks = app.get(&format!("/patients/{uid}/tasks")).await.body;
    assert_eq!(tasks[0]["title"], "Check");
    let meds = app.get(&format!("/patients/{uid}/meds")).await.body;
    assert_eq!(meds["items"][0]["dose"], "1 mg");
}

#[tokio::test]
async fn s3_listing_and_delete_failures_are_503_or_reported_per_key() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let key = app.upload_doc(&uid, "lab").await;
    let proxy = FaultProxy::start(&emulators().s3);
    let faulty = app_behind(&proxy, false);
    let exists = |key: String| {
        let app = &app;
        async move {
            app.ctx
                .s3
                .head_object()
                .bucket(crate::support::BUCKET)
                .key(key)
                .send()
                .await
                .is_ok()
        }
    };
    // ListObjectsV2 fails
    proxy.fail(Match::Method("GET"), Fault::ServerError);
    assert_unavailable(&faulty.get(&format!("/patients/{uid}/files")).await);
    // DeleteObjects fails outright: 503, the object stays
    proxy.fail(Match::Method("POST"), Fault::ServerError);
    let delete = format!("/patients/{uid}/files/delete");
    assert_unavailable(&faulty.post(&delete, json!({"key": key})).await);
    assert!(exists(key.clone()).await);
    // DeleteObjects answers 200 with an error per key: none counts as deleted
    proxy.fail(Match::Method("POST"), Fault::DeleteErrors);
    let r = faulty.post(&delete, json!({"key": key})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["deleted"], 0);
    assert!(r.body["failed"]
        .as_array()
        .expect("failed keys")
        .iter()
        .any(|k| k == key.as_str()));
    assert!(exists(key.clone()).await);
    proxy.heal();
    let r = faulty.post(&delete, json!({"key": key})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(!exists(key).await);
}

#[tokio::test]
async fn a_cloudfront_failure_is_a_warning_after_its_retries() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let key = app.upload_doc(&uid, "lab").await;
    let proxy = FaultProxy::start(&emulators().dynamodb);
    let mut settings = App::settings(&[("CF_DISTRIBUTION_ID", "EDFDVBD6EXAMPLE")]);
    settings.limits = tight();
    // CloudFront shares the emulator (and so the proxy) with DynamoDB
    let faulty = App::with_endpoints(settings, &proxy.url, &emulators().s3);
    proxy.fail(Match::Path("/invalidation"), Fault::ServerError);
    let r = faulty
        .post(
            &format!("/patients/{uid}/files/delete"),
            json!({"key": key}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(r.body["deleted"].as_u64().unwrap_or(0) >= 1);
    assert_eq!(r.body["invalidationId"], Value::Null);
    assert!(r.body["warning"].is_string(), "{:?}", r.body);
    assert_eq!(proxy.faulted(), 2, "the SDK retried the 5xx once");
}

#[tokio::test]
async fn a_fault_inside_the_ingest_fails_the_record_so_lambda_retries_it() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let key = app.upload_doc(&uid, "radiology").await;
    // S3 fails the read of the object (a ranged GET)
    let s3 = FaultProxy::start(&emulators().s3);
    let faulty = app_behind(&s3, false);
    s3.fail(Match::Method("GET"), Fault::ServerError);
    let report = hms::s3_events::ingest(&faulty.ctx, &s3_event(&[&key])).await;
    assert_eq!((report.failed, report.attached), (1, 0), "{report:?}");
    // DynamoDB fails the read of the record
    let ddb = FaultProxy::start(&emulators().dynamodb);
    let faulty = app_behind(&ddb, true);
    ddb.fail(Match::Operation("BatchGetItem"), Fault::ServerError);
    let report = hms::s3_events::ingest(&faulty.ctx, &s3_event(&[&key])).await;
    assert_eq!((report.failed, report.attached), (1, 0), "{report:?}");
    // Nothing was attached; the retried event then attaches it once
    let docs = app.get(&format!("/patients/{uid}/documents")).await.body;
    assert_eq!(docs["radiology"], json!([]));
    let report = hms::s3_events::ingest(&app.ctx, &s3_event(&[&key])).await;
    assert_eq!(report.attached, 1, "{report:?}");
}

#[tokio::test]
async fn the_production_time_limits_serve_a_whole_document_flow() {
    // Given the limits a deployment runs with (not the suite's generous ones)
    let settings = App::settings(&[]);
    assert_eq!(settings.limits, Limits::default());
    let e = emulators();
    let app = App::with_endpoints(settings, &e.dynamodb, &e.s3);
    // Then a patient, an upload, an attach and the Documents screen all answer
    let (uid, _) = app.create_patient().await;
    let key = app.upload_doc(&uid, "lab").await;
    app.attach_doc(&uid, "lab_reports", &key).await;
    let r = app.get(&format!("/patients/{uid}/documents")).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["labReports"][0]["key"], key.as_str());
}

#[tokio::test]
async fn a_reads_ledger_entry_adds_no_round_trip_by_uid_or_by_mrn() {
    // Given every BatchGetItem and TransactWriteItems taking 300 ms
    let app = App::new();
    let (uid, mrn) = app.create_patient().await;
    let key = app.upload_doc(&uid, "lab").await;
    let proxy = FaultProxy::start(&emulators().dynamodb);
    let slow = app_behind(&proxy, true);
    let delay = Duration::from_millis(300);
    proxy.fail(
        Match::Operations(&["BatchGetItem", "TransactWriteItems"]),
        Fault::Slow(delay),
    );
    // Then a read by UID takes one delay (its entry goes out with the read),
    // and by MRN two (the pointer, then the patient's items with the entry);
    // written one after the other they would take two and three
    // A download link the same: its entry goes out with the read, and the
    // object's HEAD (not slowed) follows
    for (id, reads) in [(uid.as_str(), 1u32), (mrn.as_str(), 2)] {
        for link in [false, true] {
            let started = Instant::now();
            let r = if link {
                slow.post(
                    &format!("/patients/{id}/files/presign-download"),
                    json!({"key": key}),
                )
                .await
            } else {
                slow.get(&format!("/patients/{id}")).await
            };
            let took = started.elapsed();
            assert_eq!(r.status, 200, "{:?}", r.body);
            assert_eq!(r.calls.get("DynamoDB.TransactWriteItems"), 1, "{}", r.calls);
            assert!(
                took >= delay * reads && took < delay * reads + delay * 2 / 3,
                "{id} (link: {link}): {took:?} for {reads} sequential reads"
            );
        }
    }
}
