//! Files routes: presign validation, listing with cursors, presigned
//! downloads and guarded deletes with siblings and CloudFront invalidation.

use serde_json::json;

use crate::support::{put_to, unique, App};

#[tokio::test]
async fn presign_upload_validates_its_body_and_the_patient() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let path = format!("/patients/{uid}/files/presign-upload");
    for body in [
        json!({"mimeType": "image/jpeg", "docType": "lab"}),
        json!({"filename": "a.jpg", "docType": "lab"}),
        json!({"filename": "a.jpg", "mimeType": "image/gif", "docType": "lab"}),
        json!({"filename": "a.jpg", "mimeType": "image/jpeg"}),
        json!({"filename": "a.jpg", "mimeType": "image/jpeg", "docType": "xray"}),
        json!({"filename": "a.jpg", "mimeType": "image/jpeg", "kind": "note"}),
        json!({"filename": "a.jpg", "mimeType": "image/jpeg", "kind": "blob", "refId": "x"}),
        json!({"filename": "a.jpg", "mimeType": "image/jpeg", "docType": "lab", "quality": 101}),
    ] {
        let r = app.post(&path, body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {:?}", r.body);
    }
    let r = app
        .post(
            &format!("/patients/{}/files/presign-upload", unique("ghost")),
            json!({"filename": "a.jpg", "mimeType": "image/jpeg", "docType": "lab"}),
        )
        .await;
    assert_eq!(r.status, 404, "no orphan keys for unknown patients");
}

#[tokio::test]
async fn entity_uploads_and_other_targets_follow_the_layout() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let path = format!("/patients/{uid}/files/presign-upload");
    let r = app.post(&path, json!({"filename": "x.pdf", "mimeType": "application/pdf", "kind": "note", "refId": "n-1", "quality": 70, "maxW": 800})).await;
    assert_eq!(r.status, 200);
    let key = r.body["key"].as_str().unwrap();
    assert!(
        key.starts_with(&format!("patients/{uid}/optimized/notes/n-1/"))
            && key.ends_with("-q70-800w.pdf"),
        "{key}"
    );
    let intent = app.upload_intent(&uid, key).await.expect("intent");
    assert_eq!(
        (intent.kind.as_str(), intent.ref_id.as_deref()),
        ("note", Some("n-1"))
    );
    assert_eq!(intent.content_type, "application/pdf");
    let r = app.post(&path, json!({"filename": "x.png", "mimeType": "image/png", "docType": "preop", "target": "originals"})).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["key"], r.body["hints"]["originalKey"]);
    assert!(r.body["key"].as_str().unwrap().ends_with(".png"));
}

#[tokio::test]
async fn listing_pages_with_opaque_cursors() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let mut uploaded = Vec::new();
    for _ in 0..3 {
        uploaded.push(app.upload_doc(&uid, "discharge").await);
    }
    let _other = app.upload_doc(&uid, "lab").await;
    uploaded.sort();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/patients/{uid}/files?kind=doc&docType=discharge&limit=2");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let r = app.get(&path).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        for item in r.body["items"].as_array().unwrap() {
            seen.push(item["key"].as_str().unwrap().to_string());
            assert!(item.get("url").is_none());
        }
        match r.body["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, uploaded);
    let all = app.get(&format!("/patients/{uid}/files")).await;
    assert_eq!(all.body["items"].as_array().unwrap().len(), 4);
    for bad in ["not-base64!", "cGF0aWVudHMvb3RoZXIva2V5"] {
        let r = app
            .get(&format!("/patients/{uid}/files?cursor={bad}"))
            .await;
        assert_eq!(r.status, 400, "{bad}");
    }
    let r = app
        .get(&format!("/patients/{uid}/files?scope=everything"))
        .await;
    assert_eq!(r.status, 400);
    let r = app.get(&format!("/patients/{uid}/files?limit=0")).await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn presign_download_guards_the_key_and_checks_existence() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let (other, _) = app.create_patient().await;
    let other_key = app.upload_doc(&other, "lab").await;
    let path = format!("/patients/{uid}/files/presign-download");
    // Refused before anything is read or recorded: the ledger never names
    // a key outside the patient's folder, or a malformed one
    let too_long = format!("patients/{uid}/optimized/docs/lab/{}.jpg", "a".repeat(1100));
    for key in [
        other_key.clone(),
        format!("patients/{uid}/../{other}/x"),
        too_long,
        "notes.txt".to_string(),
    ] {
        let r = app.post(&path, json!({ "key": key })).await;
        assert_eq!(r.status, 403, "{key}: {:?}", r.body);
        assert_eq!(r.calls.total(), 0, "{key}: {}", r.calls);
    }
    assert_eq!(
        app.post(
            &path,
            json!({"key": format!("patients/{uid}/optimized/docs/lab/missing.jpg")})
        )
        .await
        .status,
        404
    );
    assert_eq!(app.post(&path, json!({})).await.status, 400);
}

#[tokio::test]
async fn delete_refuses_foreign_keys_and_removes_siblings() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let (other, _) = app.create_patient().await;
    // Upload an optimized file and its original and thumbnail siblings
    let answer = app
        .upload(
            &uid,
            json!({"filename": "a.jpg", "mimeType": "image/jpeg", "docType": "intraop"}),
            b"optimized",
        )
        .await;
    let key = answer["key"].as_str().unwrap().to_string();
    for (target, hint) in [("originals", "originalKey"), ("thumb", "thumbKey")] {
        let r = app
            .post(&format!("/patients/{uid}/files/presign-upload"), json!({"filename": "a.jpg", "mimeType": "image/jpeg", "docType": "intraop", "target": target}))
            .await;
        assert_eq!(r.status, 200, "{target}: {:?}", r.body);
        // The presign for a sibling target uses a new stem; upload to the hint of the first answer instead
        let sibling = answer["hints"][hint].as_str().unwrap();
        let url = r.body["uploadUrl"]
            .as_str()
            .unwrap()
            .replace(r.body["key"].as_str().unwrap(), sibling);
        // A URL re-pointed at another key is refused: the signature covers the key
        assert_eq!(put_to(&url, &r.body, b"x", None).await, 403);
        let put = app
            .ctx
            .s3
            .put_object()
            .bucket(crate::support::BUCKET)
            .key(sibling)
            .body(b"sibling".to_vec().into())
            .send()
            .await;
        assert!(put.is_ok());
    }
    let other_key = app.upload_doc(&other, "lab").await;

    // One foreign key: 403 and nothing deleted
    let r = app
        .post(
            &format!("/patients/{uid}/files/delete"),
            json!({"keys": [key, other_key]}),
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.calls.service_total("S3"), 0);
    let listed = app.get(&format!("/patients/{uid}/files?scope=thumb")).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);

    let r = app
        .post(
            &format!("/patients/{uid}/files/delete"),
            json!({"key": key}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["ok"], true);
    assert_eq!(r.body["deleted"], 3);
    assert_eq!(r.body["invalidationId"], serde_json::Value::Null);
    for scope in ["optimized", "originals", "thumb"] {
        let listed = app
            .get(&format!("/patients/{uid}/files?scope={scope}"))
            .await;
        assert_eq!(listed.body["items"], json!([]), "{scope}");
    }
    assert_eq!(
        app.post(&format!("/patients/{uid}/files/delete"), json!({}))
            .await
            .status,
        400
    );
}

#[tokio::test]
async fn a_failed_invalidation_is_a_warning_not_an_error() {
    let app = App::with_env(&[("CF_DISTRIBUTION_ID", "EDOESNOTEXIST")]);
    let (uid, _) = app.create_patient().await;
    let key = app.upload_doc(&uid, "lab").await;
    let r = app
        .post(
            &format!("/patients/{uid}/files/delete"),
            json!({"key": key, "includeSiblings": false}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["deleted"], 1);
    assert!(r.body["warning"].as_str().unwrap().contains("invalidation"));
    assert_eq!(r.calls.get("CloudFront.CreateInvalidation"), 1);
    // invalidate: false skips CloudFront entirely
    let key = app.upload_doc(&uid, "lab").await;
    let r = app
        .post(
            &format!("/patients/{uid}/files/delete"),
            json!({"key": key, "invalidate": false}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.calls.get("CloudFront.CreateInvalidation"), 0);
}

#[tokio::test]
async fn without_a_bucket_only_file_routes_fail() {
    let app = App::with_env(&[("FILES_BUCKET", "")]);
    let (uid, _) = app.create_patient().await;
    let r = app
        .post(
            &format!("/patients/{uid}/files/presign-upload"),
            json!({"filename": "a.jpg", "mimeType": "image/jpeg", "docType": "lab"}),
        )
        .await;
    assert_eq!(r.status, 500);
    assert_eq!(r.body, json!({"error": "FILES_BUCKET not configured"}));
    assert_eq!(app.get(&format!("/patients/{uid}/files")).await.status, 500);
    assert_eq!(app.get(&format!("/patients/{uid}")).await.status, 200);
    assert_eq!(
        app.get(&format!("/patients/{uid}/documents")).await.status,
        200
    );
}

#[tokio::test]
async fn made_up_keys_delete_and_invalidate_nothing_and_at_most_100_are_taken() {
    let app = App::with_env(&[("CF_DISTRIBUTION_ID", "EDOESNOTEXIST")]);
    let (uid, _) = app.create_patient().await;
    let made_up: Vec<String> = (0..100)
        .map(|i| format!("patients/{uid}/optimized/docs/lab/{i}-made-up-q80-1600w.jpg"))
        .collect();
    // 100 keys that were never uploaded: nothing to delete, nothing to
    // invalidate (one HeadObject per key and per sibling it names)
    let r = app
        .post(
            &format!("/patients/{uid}/files/delete"),
            json!({"keys": made_up}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["deleted"], 0);
    assert_eq!(r.calls.get("S3.DeleteObjects"), 0, "{}", r.calls);
    assert_eq!(
        r.calls.get("CloudFront.CreateInvalidation"),
        0,
        "{}",
        r.calls
    );
    let heads = r.calls.get("S3.HeadObject");
    assert!((100..=300).contains(&heads), "{}", r.calls);
    // One real key among made-up ones: only it is deleted and invalidated
    let real = app.upload_doc(&uid, "lab").await;
    let r = app
        .post(
            &format!("/patients/{uid}/files/delete"),
            json!({"keys": [real, made_up[0]], "includeSiblings": false}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["deleted"], 1);
    assert_eq!(r.calls.get("S3.DeleteObjects"), 1);
    assert_eq!(r.calls.get("CloudFront.CreateInvalidation"), 1);
    // 101 keys: 400 before anything is read
    let mut too_many = made_up.clone();
    too_many.push(format!("patients/{uid}/optimized/docs/lab/x-q80-1600w.jpg"));
    let r = app
        .post(
            &format!("/patients/{uid}/files/delete"),
            json!({"keys": too_many}),
        )
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert!(r.body["error"].as_str().unwrap().contains("100"));
    assert_eq!(r.calls.total(), 0, "{}", r.calls);
}
