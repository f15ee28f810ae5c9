//! Documents record rules: lazy creation, folder checks, S3 existence,
//! idempotency, the preop cap, stamps and optimistic concurrency.

use serde_json::{json, Value};

use crate::support::App;

fn keys_of(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_patient_without_a_record_gets_empty_lists_and_no_record_is_written() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let r = app.get(&format!("/patients/{uid}/documents")).await;
    assert_eq!(r.status, 200);
    for field in [
        "preopPics",
        "labReports",
        "radiology",
        "intraopPics",
        "otNotes",
        "postopPics",
        "dischargePics",
    ] {
        assert_eq!(r.body[field], json!([]), "{field}");
    }
    assert_eq!(r.body["uid"], uid.as_str());
    assert_eq!(r.body["createdAt"], Value::Null);
    // Only the access is recorded (one ledger write, with the read); no
    // record is created
    assert_eq!(r.calls.get("DynamoDB.UpdateItem"), 0);
    assert_eq!(
        r.calls.get("DynamoDB.PutItem") + r.calls.get("DynamoDB.TransactWriteItems"),
        1,
        "{}",
        r.calls
    );
    let record = hms::store::get_raw(&app.ctx, &hms::keys::patient_pk(&uid), hms::keys::DOCS_SK)
        .await
        .expect("read");
    assert!(record.is_none(), "no documents record was written");
}

#[tokio::test]
async fn init_is_idempotent() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let r = app
        .post(&format!("/patients/{uid}/documents/init"), json!({}))
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body["message"], "created");
    assert_eq!(r.body["documents"]["preopPics"], json!([]));
    let r = app
        .post(&format!("/patients/{uid}/documents/init"), json!({}))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["message"], "exists");
    // Attaching after init works on the initialised record
    let key = app.upload_doc(&uid, "radiology").await;
    app.attach_doc(&uid, "radiology", &key).await;
}

#[tokio::test]
async fn attach_validates_category_key_folder_and_existence() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let (other, _) = app.create_patient().await;
    let lab_key = app.upload_doc(&uid, "lab").await;
    let other_key = app.upload_doc(&other, "lab").await;
    let path = format!("/patients/{uid}/documents/attach");
    let cases = [
        (json!({"key": lab_key}), 400),
        (json!({"category": "xrays", "key": lab_key}), 400),
        (json!({"category": "lab_reports"}), 400),
        (json!({"category": "lab_reports", "key": other_key}), 400),
        (json!({"category": "preop_pics", "key": lab_key}), 400),
        (
            json!({"category": "lab_reports", "key": format!("patients/{uid}/optimized/docs/lab/../../../{other}/x.jpg")}),
            400,
        ),
        (
            json!({"category": "lab_reports", "key": format!("patients/{uid}/optimized/docs/lab/never-uploaded.jpg")}),
            404,
        ),
        (
            json!({"category": "lab_reports", "key": lab_key, "stamp": {"stampedBy": "x"}}),
            400,
        ),
    ];
    for (body, status) in cases {
        let r = app.post(&path, body.clone()).await;
        assert_eq!(r.status, status, "{body}: {:?}", r.body);
        assert_eq!(r.writes(), 0, "nothing written for {body}: {}", r.calls);
    }
    let r = app.get(&format!("/patients/{uid}/documents")).await;
    assert_eq!(r.body["labReports"], json!([]));
}

#[tokio::test]
async fn re_attaching_a_key_is_a_no_op_and_detach_removes_it() {
    let app = App::new();
    let (uid, mrn) = app.create_patient().await;
    let key = app.upload_doc(&uid, "postop").await;
    let path = format!("/patients/{mrn}/documents/attach");
    let first = app
        .post(&path, json!({"category": "postop_pics", "key": key}))
        .await;
    assert_eq!(first.status, 200);
    let again = app
        .post(&path, json!({"category": "postopPics", "key": key}))
        .await;
    assert_eq!(again.status, 200);
    assert_eq!(
        keys_of(&again.body["documents"]["postopPics"]),
        vec![key.clone()]
    );
    // The record is not written; only the access to its links is recorded
    assert_eq!(again.writes(), 1, "{}", again.calls);
    assert_eq!(again.calls.get("DynamoDB.PutItem"), 1, "{}", again.calls);

    let detach = format!("/patients/{uid}/documents/detach");
    let r = app
        .post(&detach, json!({"category": "postop_pics", "key": key}))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["message"], "detached");
    assert_eq!(r.body["documents"]["postopPics"], json!([]));
    let r = app
        .post(&detach, json!({"category": "postop_pics", "key": key}))
        .await;
    assert_eq!(r.status, 404);
    // The object stays in S3
    let r = app
        .post(
            &format!("/patients/{uid}/files/presign-download"),
            json!({"key": key}),
        )
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn preop_holds_three_and_replace_oldest_drops_the_oldest() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let path = format!("/patients/{uid}/documents/attach");
    let mut keys = Vec::new();
    for _ in 0..4 {
        keys.push(app.upload_doc(&uid, "preop").await);
    }
    for key in &keys[..3] {
        let r = app
            .post(
                &path,
                json!({"category": "preop_pics", "key": key, "stamp": {"label": "verified"}}),
            )
            .await;
        assert_eq!(r.status, 200);
        assert_eq!(
            r.body["documents"]["preopPics"]
                .as_array()
                .unwrap()
                .last()
                .unwrap()["stamp"],
            Value::Null
        );
    }
    let r = app
        .post(&path, json!({"category": "preop_pics", "key": keys[3]}))
        .await;
    assert_eq!(r.status, 409);
    assert!(r.body["error"].as_str().unwrap().contains("replaceOldest"));
    let r = app
        .post(
            &path,
            json!({"category": "preop_pics", "key": keys[3], "replaceOldest": true}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        keys_of(&r.body["documents"]["preopPics"]),
        keys[1..].to_vec()
    );
}

#[tokio::test]
async fn a_record_written_without_a_version_counts_as_version_zero() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    // Given a record as the earlier backend wrote it: no version attribute
    app.ctx
        .ddb
        .put_item()
        .table_name(crate::support::TABLE)
        .item("PK", hms::store::s(format!("PATIENT#{uid}")))
        .item("SK", hms::store::s("DOCS#PROFILE"))
        .item(
            "lab_reports",
            aws_sdk_dynamodb::types::AttributeValue::L(vec![]),
        )
        .send()
        .await
        .unwrap();
    let key = app.upload_doc(&uid, "lab").await;
    let r = app.attach_doc(&uid, "lab_reports", &key).await;
    assert_eq!(r.body["documents"]["version"], 1);
    assert_eq!(keys_of(&r.body["documents"]["labReports"]), vec![key]);
}

#[tokio::test]
async fn twenty_concurrent_attaches_lose_nothing() {
    // Given DynamoDB's transaction conflicts (the emulator alone never shows
    // them) and twenty uploaded documents
    let (app, proxy) = App::with_conflicts();
    let (uid, _) = app.create_patient().await;
    let mut keys = Vec::new();
    for _ in 0..20 {
        keys.push(app.upload_doc(&uid, "lab").await);
    }
    let path = format!("/patients/{uid}/documents/attach");
    let attaches = keys.iter().map(|key| {
        let app = &app;
        let path = &path;
        async move {
            (
                key.clone(),
                app.post(path, json!({"category": "lab_reports", "key": key}))
                    .await,
            )
        }
    });
    // When all are attached at once
    let results = futures::future::join_all(attaches).await;
    // Then the races really happened, and every attach was retried to success
    assert!(
        proxy.conflicts() > 0,
        "no transaction conflict was answered"
    );
    let record = app.get(&format!("/patients/{uid}/documents")).await;
    let stored = keys_of(&record.body["labReports"]);
    for (key, r) in &results {
        assert_eq!(r.status, 200, "{key}: {:?}", r.body);
        assert!(
            stored.contains(key),
            "acknowledged attach of {key} was lost"
        );
    }
    assert_eq!(stored.len(), 20, "exactly the attaches are stored");
    assert_eq!(record.body["version"], 20);
}

#[tokio::test]
async fn an_unknown_patient_with_a_uid_shaped_id_leaves_no_ledger_entry() {
    // Given an id shaped like a patient UID that names nobody
    let app = App::new();
    let ghost = uuid::Uuid::now_v7().to_string();
    // When its documents are asked for (the ledger entry is tried alongside)
    let r = app.get(&format!("/patients/{ghost}/documents")).await;
    // Then it is a 404 and the ledger holds nothing under that id
    assert_eq!(r.status, 404, "{:?}", r.body);
    let entries = app.partition(&hms::keys::audit_pk(&ghost)).await;
    assert_eq!(entries.len(), 0);
}

#[tokio::test]
async fn keys_longer_than_s3_allows_are_400_not_500() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let prefix = format!("patients/{uid}/optimized/docs/lab/");
    let long = format!("{prefix}{}.jpg", "a".repeat(1100 - prefix.len()));
    let r = app
        .post(
            &format!("/patients/{uid}/documents/attach"),
            json!({"category": "lab_reports", "key": long}),
        )
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    let r = app
        .post(
            &format!("/patients/{uid}/files/presign-download"),
            json!({"key": long}),
        )
        .await;
    assert_eq!(r.status, 403, "{:?}", r.body);
    // A key S3 allows but whose intent key would not fit a sort key (1020
    // bytes) is simply one without an intent: not found in S3 here, a 404
    let edge = format!("{prefix}{}.jpg", "b".repeat(1020 - prefix.len() - 4));
    assert_eq!(edge.len(), 1020);
    let r = app
        .post(
            &format!("/patients/{uid}/documents/attach"),
            json!({"category": "lab_reports", "key": edge}),
        )
        .await;
    assert_eq!(r.status, 404, "{:?}", r.body);
}
