//! Uploads that cannot be swapped or inflated, checked against the local S3
//! that verifies signatures and conditional writes as real S3 does: a
//! presigned URL never overwrites stored bytes, a stated size is signed,
//! and an attach (or the ingest) refuses and deletes an object above its
//! type's limit, of another type than presigned, or whose bytes are not
//! its type's.

use serde_json::{json, Value};

use crate::support::{put_presigned, put_to, s3_event, writes, App};

async fn presign(app: &App, uid: &str, body: Value) -> Value {
    let r = app
        .post(&format!("/patients/{uid}/files/presign-upload"), body)
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body
}

async fn stored(app: &App, key: &str) -> bool {
    hms::s3::objects::head(&app.ctx, key)
        .await
        .unwrap()
        .is_some()
}

const JPEG: &[u8] = b"\xff\xd8\xff\xe0 a photo";

#[tokio::test]
async fn a_presigned_url_never_overwrites_and_a_stated_size_is_signed() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    // Given an upload URL used once and the document attached and stamped
    let answer = presign(
        &app,
        &uid,
        json!({"filename": "cbc.jpg", "mimeType": "image/jpeg", "docType": "lab"}),
    )
    .await;
    assert_eq!(answer["headers"]["if-none-match"], "*", "{answer:?}");
    assert_eq!(put_presigned(&answer, JPEG, None).await, 200);
    let key = answer["key"].as_str().unwrap();
    let r = app
        .post(
            &format!("/patients/{uid}/documents/attach"),
            json!({"category": "lab_reports", "key": key, "stamp": {"label": "verified"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    // When the same URL is used again, S3 refuses it and the bytes stay
    assert_eq!(put_presigned(&answer, b"\xff\xd8 swapped", None).await, 412);
    let url = r.body["documents"]["labReports"][0]["url"]
        .as_str()
        .unwrap();
    let got = reqwest::get(url).await.unwrap().bytes().await.unwrap();
    assert_eq!(got.to_vec(), JPEG);
    // And without the condition the signature no longer holds
    assert_eq!(
        put_presigned(&answer, JPEG, Some(("if-none-match", "x"))).await,
        403
    );
    // A stated size is signed: another size is refused, that size accepted
    let sized = presign(
        &app,
        &uid,
        json!({"filename": "b.jpg", "mimeType": "image/jpeg", "docType": "lab", "size": JPEG.len()}),
    )
    .await;
    let url = sized["uploadUrl"].as_str().unwrap();
    assert_eq!(
        put_to(url, &sized, b"\xff\xd8 larger than stated", None).await,
        403
    );
    assert_eq!(put_presigned(&sized, JPEG, None).await, 200);
    // A size above the type's limit, or no size at all, is a 400 at presign
    for size in [json!(10 * 1024 * 1024 + 1), json!(0), json!(-5)] {
        let r = app
            .post(
                &format!("/patients/{uid}/files/presign-upload"),
                json!({"filename": "c.jpg", "mimeType": "image/jpeg", "docType": "lab", "size": size}),
            )
            .await;
        assert_eq!(r.status, 400, "{size}: {:?}", r.body);
        assert_eq!(writes(&r.calls), 0);
    }
}

#[tokio::test]
async fn an_html_page_uploaded_as_a_photo_is_refused_and_deleted() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let answer = presign(
        &app,
        &uid,
        json!({"filename": "x.jpg", "mimeType": "image/jpeg", "docType": "lab"}),
    )
    .await;
    assert_eq!(
        put_presigned(&answer, b"<!DOCTYPE html><script>alert(1)</script>", None).await,
        200
    );
    let key = answer["key"].as_str().unwrap();
    let r = app
        .post(
            &format!("/patients/{uid}/documents/attach"),
            json!({"category": "lab_reports", "key": key}),
        )
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert!(r.body["error"].as_str().unwrap().contains("image/jpeg"));
    assert!(!stored(&app, key).await, "the refused object is deleted");
    let docs = app.get(&format!("/patients/{uid}/documents")).await.body;
    assert_eq!(docs["labReports"], json!([]));
    let ledger = app.get(&format!("/patients/{uid}/audit")).await.body;
    assert!(ledger["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == "files.refused" && e["keys"][0] == key));
}

#[tokio::test]
async fn an_oversized_or_mistyped_upload_is_not_attached_by_route_or_ingest() {
    // Given photos limited to 64 bytes
    let app = App::with_env(&[("MAX_PHOTO_BYTES", "64")]);
    let (uid, _) = app.create_patient().await;
    let big: Vec<u8> = JPEG.iter().copied().chain([0u8; 100]).collect();
    let answer = presign(
        &app,
        &uid,
        json!({"filename": "big.jpg", "mimeType": "image/jpeg", "docType": "radiology"}),
    )
    .await;
    assert_eq!(put_presigned(&answer, &big, None).await, 200);
    let key = answer["key"].as_str().unwrap().to_string();
    // When the ingest meets it, it is not attached, and it is deleted
    let report = hms::s3_events::ingest(&app.ctx, &s3_event(&[&key])).await;
    assert_eq!((report.attached, report.ignored), (0, 1), "{report:?}");
    assert!(!stored(&app, &key).await);
    // A PNG's bytes presigned as a JPEG are refused by the attach route
    let answer = presign(
        &app,
        &uid,
        json!({"filename": "p.jpg", "mimeType": "image/jpeg", "docType": "radiology"}),
    )
    .await;
    assert_eq!(
        put_presigned(&answer, b"\x89PNG\r\n\x1a\n", None).await,
        200
    );
    let key = answer["key"].as_str().unwrap();
    let r = app
        .post(
            &format!("/patients/{uid}/documents/attach"),
            json!({"category": "radiology", "key": key}),
        )
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    let docs = app.get(&format!("/patients/{uid}/documents")).await.body;
    assert_eq!(docs["radiology"], json!([]));
}
