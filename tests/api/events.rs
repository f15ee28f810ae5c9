//! The `events/` fixtures (what `sam local invoke` uses) fed through the real
//! handlers, and the S3 ObjectCreated ingest.

use aws_lambda_events::event::s3::S3Event;
use serde_json::{json, Value};

use crate::support::{
    events_dir, fixture, meta_headers, put_presigned, s3_event, unique, writes, App, BUCKET,
};

const FIXTURE_UID: &str = "0190f5c0-0000-7000-8000-00000000f1a7";
const FIXTURE_MRN: &str = "FIXTURE-MRN-1";

/// The status each Function URL fixture must get (after its placeholders
/// are replaced by a patient of this run).
const EXPECTED: &[(&str, u16)] = &[
    ("health.json", 200),
    ("patients-create.json", 201),
    ("patients-list.json", 200),
    ("patient-get.json", 200),
    ("patient-by-mrn.json", 200),
    ("patient-get-encoded-mrn.json", 200),
    ("patient-by-mrn-encoded.json", 200),
    ("patient-update-base64-encoded-mrn.json", 200),
    ("patient-update.json", 200),
    ("patient-state.json", 200),
    ("timeline.json", 200),
    ("documents-get.json", 200),
    ("documents-init.json", 201),
    ("documents-gov-share.json", 200),
    ("discharge-save.json", 201),
    ("discharge-get.json", 200),
    ("discharge-versions.json", 200),
    ("files-presign-upload.json", 200),
    ("files-list.json", 200),
    ("checklists-list.json", 200),
    ("notes-create.json", 201),
    ("notes-create-base64.json", 201),
    ("notes-list.json", 200),
    ("meds-create.json", 201),
    ("meds-list.json", 200),
    ("tasks-create.json", 201),
    ("tasks-dashboard.json", 200),
    ("doctors-create.json", 201),
    ("doctors-list.json", 200),
    ("options-preflight.json", 204),
    ("unknown-route.json", 404),
];

/// The MRN the percent-encoded fixtures name (`MRN%20007%2B1-FIXTURE-MRN-3`
/// in their paths), with the placeholder replaced by `tag`.
fn encoded_fixture_mrn(tag: &str) -> String {
    format!("MRN 007+1-{tag}")
}

/// A Function URL fixture as a request, its placeholders replaced: the
/// patient `uid`/`mrn`, and `tag` for the patient of the encoded MRN.
fn fixture_request(name: &str, uid: &str, mrn: &str, tag: &str) -> lambda_http::Request {
    let text = fixture(name)
        .replace(FIXTURE_UID, uid)
        .replace(FIXTURE_MRN, mrn)
        .replace("FIXTURE-MRN-2", &unique("MRN"))
        .replace("FIXTURE-MRN-3", tag)
        .replace("fixture-doc-1", &unique("doc"));
    lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{name} parses: {e}"))
}

/// Creates the patient whose MRN the percent-encoded fixtures name.
async fn encoded_mrn_patient(app: &App) -> (String, String) {
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let r = app
        .post(
            "/patients",
            json!({"name": "Encoded", "registration": {"mrn": encoded_fixture_mrn(&tag),
                   "scheme": "GENERAL", "department": unique("Dept")}}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    (r.body["patientId"].as_str().expect("uid").to_string(), tag)
}

#[tokio::test]
async fn every_function_url_fixture_runs_through_the_real_handler() {
    let app = App::new();
    let (uid, mrn) = app.create_patient().await;
    let (_, tag) = encoded_mrn_patient(&app).await;
    let mut covered = Vec::new();
    for (name, status) in EXPECTED {
        let r = app.send(fixture_request(name, &uid, &mrn, &tag)).await;
        assert_eq!(r.status, *status, "{name}: {:?}", r.body);
        covered.push(name.to_string());
    }
    // Every Function URL fixture in events/ is listed above
    let mut on_disk: Vec<String> = std::fs::read_dir(events_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".json") && !n.starts_with("s3-"))
        .collect();
    on_disk.sort();
    covered.sort();
    assert_eq!(on_disk, covered, "fixtures without an expected status");
}

#[tokio::test]
async fn percent_encoded_mrns_and_base64_bodies_are_decoded_by_the_handler() {
    // Given a patient whose MRN holds a space and a '+'
    let app = App::new();
    let (uid, tag) = encoded_mrn_patient(&app).await;
    let mrn = encoded_fixture_mrn(&tag);
    let send = |name: &'static str| app.send(fixture_request(name, &uid, "unused", &tag));

    // When the fixtures name it percent-encoded (MRN%20007%2B1-...), as
    // {id} and through by-mrn, then the segment is decoded once
    for name in [
        "patient-get-encoded-mrn.json",
        "patient-by-mrn-encoded.json",
    ] {
        let r = send(name).await;
        assert_eq!(r.status, 200, "{name}: {:?}", r.body);
        assert_eq!(r.body["id"], uid.as_str(), "{name}");
        assert_eq!(r.body["mrn"], mrn.as_str(), "{name}");
        assert_eq!(
            r.calls.total(),
            3,
            "{name}: the MRN pointer, then the patient, then its ledger entry"
        );
    }

    // When a PUT by the encoded MRN carries a base64 body (with non-ASCII text)
    let r = send("patient-update-base64-encoded-mrn.json").await;
    // Then the body is decoded and applied to that patient
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["message"], "updated");
    assert_eq!(r.body["patient"]["id"], uid.as_str());
    assert_eq!(r.body["patient"]["diagnosis"], "Cholecystitis");
    assert_eq!(r.body["patient"]["assignedDoctor"], "Dr. \u{d6}kten");
    assert_eq!(r.body["patient"]["updateCounter"], 1);
    let stored = app.get(&format!("/patients/{uid}")).await.body;
    assert_eq!(stored["diagnosis"], "Cholecystitis");
    assert_eq!(stored["assignedDoctor"], "Dr. \u{d6}kten");

    // When a note is created with a base64 body
    let r = send("notes-create-base64.json").await;
    // Then the note holds the decoded fields, UTF-8 intact
    assert_eq!(r.status, 201, "{:?}", r.body);
    let note = &r.body["note"];
    assert_eq!(note["authorId"], "nurse-4");
    assert_eq!(note["category"], "nurseNote");
    let content = "Base64 body: vitals stable, SpO\u{2082} 98 %, caf\u{e9} diet";
    assert_eq!(note["content"], content);
    assert_eq!(note["patientId"], uid.as_str());
    assert_eq!(note["mrn"], mrn.as_str());
    let listed = app.get(&format!("/patients/{uid}/notes")).await.body;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["items"][0]["content"], content);
}

/// The S3 fixture, pointed at `key` in the test bucket.

#[tokio::test]
async fn the_s3_fixture_runs_through_what_the_s3_lambda_calls() {
    // Given the fixture as `sam local invoke` sends it, for a patient of this
    // run and the test bucket, and its object stored at the fixture's key
    let app = App::new();
    let (uid, mrn) = app.create_patient().await;
    let text = fixture("s3-object-created.json")
        .replace(FIXTURE_UID, &uid)
        .replace("hms-files-local", BUCKET);
    let raw: Value = serde_json::from_str(&text).unwrap();
    let key = raw["Records"][0]["s3"]["object"]["key"]
        .as_str()
        .expect("the fixture's key")
        .to_string();
    assert!(
        key.starts_with(&format!("patients/{uid}/optimized/docs/lab/")),
        "{key}"
    );
    store_object(&app, &key, None).await;
    // When the bytes are decoded as the runtime decodes them into the
    // binary's `LambdaEvent<S3Event>` and its payload is ingested
    let event: lambda_runtime::LambdaEvent<S3Event> = lambda_runtime::LambdaEvent::new(
        serde_json::from_slice(text.as_bytes()).expect("the fixture is an S3Event"),
        lambda_runtime::Context::default(),
    );
    let (report, calls, _) =
        hms::aws_calls::scope(hms::s3_events::ingest(&app.ctx, &event.payload)).await;
    // Then the record is attached (failed = 0: the binary answers Ok)
    assert_eq!(
        report,
        hms::s3_events::IngestReport {
            attached: 1,
            ..Default::default()
        }
    );
    assert_eq!(calls.get("S3.GetObject"), 1, "{calls}");
    assert_eq!(calls.get("DynamoDB.TransactWriteItems"), 1, "{calls}");
    let docs = app.get(&format!("/patients/{uid}/documents")).await.body;
    let list = docs["labReports"].as_array().expect("labReports");
    assert_eq!(list.len(), 1, "{docs}");
    assert_eq!(list[0]["key"], key.as_str());
    assert_eq!(list[0]["mrn"], mrn.as_str());
    assert_eq!(list[0]["mimeType"], "image/jpeg");
    // And a redelivery of the same event changes nothing
    let (report, calls, _) =
        hms::aws_calls::scope(hms::s3_events::ingest(&app.ctx, &event.payload)).await;
    assert_eq!(report.unchanged, 1, "{report:?}");
    assert_eq!(writes(&calls), 0, "{calls}");
}

/// A key in a patient's optimized `docType` folder, as presign would name it.
fn doc_key(uid: &str, doc_type: &str) -> String {
    format!(
        "patients/{uid}/optimized/docs/{doc_type}/{}-{}-q80-1600w.jpg",
        hms::clock::now_millis(),
        uuid::Uuid::now_v7()
    )
}

/// Stores an object with the SDK (no presign, so no upload intent), with
/// the legacy `x-amz-meta-patient-uid` metadata when `owner` is given.
async fn store_object(app: &App, key: &str, owner: Option<&str>) {
    let mut put = app
        .ctx
        .s3
        .put_object()
        .bucket(BUCKET)
        .key(key)
        .content_type("image/jpeg")
        .body(b"\xff\xd8legacy\xff\xd9".to_vec().into());
    if let Some(owner) = owner {
        put = put.metadata("patient-uid", owner);
    }
    put.send().await.expect("object stored");
}

#[tokio::test]
async fn an_object_whose_metadata_names_another_patient_is_ignored() {
    // Given two patients, and an object in A's lab folder whose legacy
    // metadata names B
    let app = App::new();
    let (a, _) = app.create_patient().await;
    let (b, _) = app.create_patient().await;
    let key = doc_key(&a, "lab");
    store_object(&app, &key, Some(&b)).await;
    // When its ObjectCreated event is ingested
    let (report, calls, _) =
        hms::aws_calls::scope(hms::s3_events::ingest(&app.ctx, &s3_event(&[&key]))).await;
    // Then it is ignored, nothing is written, and neither record lists it
    assert_eq!(
        report,
        hms::s3_events::IngestReport {
            ignored: 1,
            ..Default::default()
        }
    );
    assert_eq!(writes(&calls), 0, "{calls}");
    for uid in [&a, &b] {
        let docs = app.get(&format!("/patients/{uid}/documents")).await;
        assert_eq!(docs.status, 200);
        assert_eq!(docs.body["labReports"], json!([]), "{uid}");
        assert_eq!(docs.body["createdAt"], Value::Null, "no record for {uid}");
    }
    // While the same kind of object whose metadata names A is attached to A
    let own = doc_key(&a, "lab");
    store_object(&app, &own, Some(&a)).await;
    let report = hms::s3_events::ingest(&app.ctx, &s3_event(&[&own])).await;
    assert_eq!(report.attached, 1, "{report:?}");
    let docs = app.get(&format!("/patients/{a}/documents")).await.body;
    assert_eq!(docs["labReports"].as_array().unwrap().len(), 1);
    assert_eq!(docs["labReports"][0]["key"], own.as_str());
}

#[tokio::test]
async fn an_object_under_the_prefix_of_no_patient_is_ignored() {
    // Given an existing patient, and a stored object under the uid-shaped
    // prefix of a patient that does not exist (with and without metadata
    // naming the existing patient)
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let ghost = uuid::Uuid::now_v7().to_string();
    let bare = doc_key(&ghost, "radiology");
    let claimed = doc_key(&ghost, "radiology");
    store_object(&app, &bare, None).await;
    store_object(&app, &claimed, Some(&uid)).await;
    // When their events are ingested
    let (report, calls, _) = hms::aws_calls::scope(hms::s3_events::ingest(
        &app.ctx,
        &s3_event(&[&bare, &claimed]),
    ))
    .await;
    // Then both are ignored and nothing is written anywhere
    assert_eq!(
        report,
        hms::s3_events::IngestReport {
            ignored: 2,
            ..Default::default()
        }
    );
    assert_eq!(writes(&calls), 0, "{calls}");
    let ghost_record =
        hms::store::get_raw(&app.ctx, &hms::keys::patient_pk(&ghost), hms::keys::DOCS_SK)
            .await
            .unwrap();
    assert!(ghost_record.is_none(), "{ghost_record:?}");
    let docs = app.get(&format!("/patients/{uid}/documents")).await.body;
    assert_eq!(docs["radiology"], json!([]));
    assert_eq!(
        app.get(&format!("/patients/{ghost}/documents"))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn new_documents_are_attached_once_with_provenance() {
    let app = App::new();
    let (uid, mrn) = app.create_patient().await;
    let key = app
        .upload(
            &uid,
            json!({"filename": "chest.jpg", "mimeType": "image/jpeg", "docType": "radiology", "uploadedBy": "nurse-7"}),
            b"\xff\xd8xray\xff\xd9",
        )
        .await["key"]
        .as_str()
        .expect("key")
        .to_string();
    let report = hms::s3_events::ingest(&app.ctx, &s3_event(&[&key])).await;
    assert_eq!(
        report,
        hms::s3_events::IngestReport {
            attached: 1,
            ..Default::default()
        }
    );
    // A replay of the same event attaches nothing new
    let report = hms::s3_events::ingest(&app.ctx, &s3_event(&[&key])).await;
    assert_eq!(report.unchanged, 1);
    let docs = app.get(&format!("/patients/{uid}/documents")).await.body;
    let list = docs["radiology"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["key"], key.as_str());
    // Provenance from the upload intent: who asked for the presign
    assert_eq!(list[0]["uploadedBy"], "nurse-7");
    assert_eq!(list[0]["mrn"], mrn.as_str());
    assert_eq!(list[0]["scheme"], "GENERAL");
    assert_eq!(list[0]["mimeType"], "image/jpeg");
    let link = list[0]["cdnUrl"].as_str().expect("a link");
    assert_eq!(list[0]["url"], link);
    assert_eq!(reqwest::get(link).await.unwrap().status(), 200);
    // The attach route then sees it as already attached
    let r = app
        .post(
            &format!("/patients/{uid}/documents/attach"),
            json!({"category": "radiology", "key": key}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body["documents"]["radiology"].as_array().unwrap().len(),
        1
    );
}

#[tokio::test]
async fn an_upload_without_attach_appears_within_a_second_through_the_s3_event() {
    // Given the S3 that notifies the ingest, as the deployed bucket does
    let app = App::with_ingest();
    let (uid, mrn) = app.create_patient().await;
    // When a document is uploaded (presign, then PUT without the
    // x-amz-meta-* headers, as the clinic's helper sends it) and never attached
    let answer = app
        .post(
            &format!("/patients/{uid}/files/presign-upload"),
            json!({"filename": "cbc.jpg", "mimeType": "image/jpeg", "docType": "lab", "uploadedBy": "nurse-9"}),
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(meta_headers(&answer.body), Vec::<String>::new());
    let key = answer.body["key"].as_str().expect("key").to_string();
    let uploaded = std::time::Instant::now();
    assert_eq!(
        put_presigned(&answer.body, b"\xff\xd8cbc\xff\xd9", None).await,
        200
    );
    // Then it is in the record within a second, credited to the presign caller
    let entry = loop {
        let docs = app.get(&format!("/patients/{uid}/documents")).await.body;
        let found = docs["labReports"]
            .as_array()
            .and_then(|l| l.iter().find(|e| e["key"] == key.as_str()).cloned());
        if let Some(entry) = found {
            break entry;
        }
        assert!(
            uploaded.elapsed() < std::time::Duration::from_secs(1),
            "not ingested within 1 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(entry["uploadedBy"], "nurse-9");
    assert_eq!(entry["mrn"], mrn.as_str());
    let link = entry["cdnUrl"].as_str().expect("link");
    assert_eq!(reqwest::get(link).await.expect("GET").status(), 200);
    // And the ledger names the ingest, under the presign's request id
    let ledger = app.get(&format!("/patients/{uid}/audit")).await.body;
    let attach = ledger["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|e| e["action"] == "documents.attach")
        .expect("the ingest's entry")
        .clone();
    assert_eq!(attach["actor"], hms::s3_events::INGEST_ACTOR);
    let presign = ledger["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|e| e["action"] == "files.presign-upload")
        .expect("the presign's entry");
    assert_eq!(attach["requestId"], presign["requestId"]);
}

#[tokio::test]
async fn unrelated_and_bad_records_do_not_fail_the_batch() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let good = app.upload_doc(&uid, "discharge").await;
    let note_file = app
        .upload(&uid, json!({"filename": "n.pdf", "mimeType": "application/pdf", "kind": "note", "refId": "n1"}), b"x")
        .await["key"]
        .as_str()
        .unwrap()
        .to_string();
    let ghost = format!(
        "patients/{}/optimized/docs/lab/1-0190f5c0-0000-7000-8000-0000000000aa-q80-1600w.jpg",
        unique("ghost")
    );
    let missing = format!("patients/{uid}/optimized/docs/lab/never-uploaded.jpg");
    let event = s3_event(&[
        &format!("patients/{uid}/originals/x.jpg"),
        &note_file,
        &ghost,
        &missing,
        "patients/../etc/passwd",
        "not-a-patient-key.jpg",
        &good,
    ]);
    let report = hms::s3_events::ingest(&app.ctx, &event).await;
    assert_eq!(report.attached, 1, "{report:?}");
    assert_eq!(report.ignored, 6, "{report:?}");
    assert_eq!(report.failed, 0);
    let docs = app.get(&format!("/patients/{uid}/documents")).await.body;
    assert_eq!(docs["dischargePics"].as_array().unwrap().len(), 1);
    assert_eq!(docs["labReports"], json!([]));
}

#[tokio::test]
async fn a_full_preop_list_lets_its_oldest_go_for_an_ingested_photo() {
    // Given three pre-op photos, the most the category holds
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let mut attached = Vec::new();
    for _ in 0..3 {
        let key = app.upload_doc(&uid, "preop").await;
        app.attach_doc(&uid, "preop_pics", &key).await;
        attached.push(key);
    }
    // When a fourth arrives by the S3 event (the newer client calls no attach)
    let newest = app.upload_doc(&uid, "preop").await;
    let report = hms::s3_events::ingest(&app.ctx, &s3_event(&[&newest])).await;
    // Then it is attached and the oldest leaves the list, never the upload
    assert_eq!(report.attached, 1, "{report:?}");
    let docs = app.get(&format!("/patients/{uid}/documents")).await.body;
    let keys: Vec<&str> = docs["preopPics"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|e| e["key"].as_str())
        .collect();
    assert_eq!(
        keys,
        vec![attached[1].as_str(), attached[2].as_str(), newest.as_str()]
    );
    // And the replaced photo's object stays in S3
    let kept = app
        .ctx
        .s3
        .head_object()
        .bucket(BUCKET)
        .key(&attached[0])
        .send()
        .await;
    assert!(kept.is_ok(), "the replaced object is kept");
    // And the ingest's ledger entry names the new key and the replaced one
    let ledger = app.get(&format!("/patients/{uid}/audit")).await.body;
    let entry = ledger["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|e| e["actor"] == hms::s3_events::INGEST_ACTOR)
        .expect("the ingest's entry")
        .clone();
    let named: Vec<&str> = entry["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(|k| k.as_str())
        .collect();
    assert_eq!(named, vec![newest.as_str(), attached[0].as_str()]);
}
