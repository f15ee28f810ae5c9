//! The document workflow end to end against an S3 server that verifies
//! presigned signatures: presign, PUT the bytes, attach, list, presign a GET
//! and download the same bytes.

use serde_json::json;

use crate::support::{meta_headers, put_presigned, put_to, App};

#[tokio::test]
async fn upload_attach_list_and_download_the_same_bytes() {
    let app = App::new();
    let (uid, mrn) = app.create_patient().await;
    // A JPEG's start, then bytes of every value
    let bytes: Vec<u8> = [0xFF, 0xD8, 0xFF, 0xE0]
        .into_iter()
        .chain((0..4092u32).map(|i| (i % 251) as u8))
        .collect();

    // Presign (addressed by MRN, as the frontend may)
    let r = app
        .post(
            &format!("/patients/{mrn}/files/presign-upload"),
            json!({"filename": "CBC report.jpg", "mimeType": "image/jpeg", "docType": "lab", "label": "CBC"}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        r.calls.service_total("S3"),
        0,
        "presigning sends nothing to S3"
    );
    let answer = r.body;
    let key = answer["key"].as_str().unwrap().to_string();
    assert!(
        key.starts_with(&format!("patients/{uid}/optimized/docs/lab/")),
        "{key}"
    );
    assert!(key.ends_with("-cbc-q80-1600w.jpg"), "{key}");
    assert_eq!(answer["method"], "PUT");
    assert_eq!(answer["contentType"], "image/jpeg");
    assert_eq!(answer["expiresIn"], 900);
    assert_eq!(answer["headers"]["Content-Type"], "image/jpeg");
    // Nothing the client must send is an x-amz-meta-* header: provenance is
    // in the upload intent, not in S3 metadata
    assert_eq!(meta_headers(&answer), Vec::<String>::new());
    let intent = app.upload_intent(&uid, &key).await.expect("intent");
    assert_eq!(intent.doc_type.as_deref(), Some("lab"));
    assert_eq!(intent.original_filename, "CBC report.jpg");
    assert_eq!(intent.mrn.as_deref(), Some(mrn.as_str()));
    assert_eq!(answer["hints"]["optimizedKey"], key.as_str());
    let stem = key
        .rsplit('/')
        .next()
        .unwrap()
        .trim_end_matches("-q80-1600w.jpg");
    assert_eq!(
        answer["hints"]["originalKey"],
        format!("patients/{uid}/originals/{stem}.jpg")
    );
    assert_eq!(
        answer["hints"]["thumbKey"],
        format!("patients/{uid}/thumb/{stem}-thumb.jpg")
    );
    let url = answer["uploadUrl"].as_str().unwrap();
    assert!(
        !url.contains("x-amz-checksum"),
        "no empty-body checksum in {url}"
    );

    // The signature binds the Content-Type, the URL and the key
    assert_eq!(
        put_presigned(&answer, &bytes, Some(("Content-Type", "image/png"))).await,
        403
    );
    let tampered = url.replace("X-Amz-Expires=900", "X-Amz-Expires=901");
    assert_ne!(tampered, url);
    assert_eq!(put_to(&tampered, &answer, &bytes, None).await, 403);
    let other_key = url.replace("-cbc-q80-1600w.jpg", "-other-q80-1600w.jpg");
    assert_eq!(put_to(&other_key, &answer, &bytes, None).await, 403);
    // Nothing was stored by the refused PUTs
    let r = app
        .post(
            &format!("/patients/{uid}/documents/attach"),
            json!({"category": "lab_reports", "key": key}),
        )
        .await;
    assert_eq!(r.status, 404, "{:?}", r.body);

    // The real upload works
    assert_eq!(put_presigned(&answer, &bytes, None).await, 200);

    // Attach: size and type come from S3
    let r = app
        .post(
            &format!("/patients/{uid}/documents/attach"),
            json!({"category": "lab_reports", "key": key, "uploadedBy": "doc-1", "caption": "CBC", "size": 1, "mimeType": "application/pdf",
                   "stamp": {"label": "verified"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["message"], "attached");
    let entry = &r.body["documents"]["labReports"][0];
    assert_eq!(entry["key"], key.as_str());
    assert_eq!(entry["size"], bytes.len());
    assert_eq!(entry["mimeType"], "image/jpeg");
    assert_eq!(entry["uploadedBy"], "doc-1");
    assert_eq!(entry["mrn"], mrn.as_str());
    assert_eq!(entry["stamp"]["label"], "verified");
    assert_eq!(entry["stamp"]["stampedBy"], "doc-1");
    // The entry's link renders the same bytes, and `url` carries it too
    let link = entry["cdnUrl"].as_str().expect("a link");
    assert_eq!(entry["url"], link);
    assert!(link.contains("X-Amz-Expires=990"), "{link}");
    let shown = reqwest::get(link).await.unwrap();
    assert_eq!(shown.status(), 200);
    assert_eq!(shown.bytes().await.unwrap().to_vec(), bytes);
    // The batch read, the ranged GET of the object, the write and the Query of the entries
    // the answer lists.
    assert!(r.calls.total() <= 4, "attach used {}", r.calls);
    assert_eq!(r.calls.get("S3.GetObject"), 1);

    // List with presigned GETs
    let r = app
        .get(&format!("/patients/{uid}/files?docType=lab&presign=1"))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        r.body["prefix"],
        format!("patients/{uid}/optimized/docs/lab/")
    );
    let items = r.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["key"], key.as_str());
    assert_eq!(items[0]["size"], bytes.len());
    assert_eq!(items[0]["kind"], "doc");
    assert_eq!(items[0]["docType"], "lab");
    assert_eq!(items[0]["target"], "optimized");
    assert_eq!(items[0]["uid"], uid.as_str());
    let listed_url = items[0]["url"].as_str().unwrap();
    let listed = reqwest::get(listed_url).await.unwrap();
    assert_eq!(listed.status(), 200);
    assert_eq!(listed.bytes().await.unwrap().to_vec(), bytes);

    // Presigned download returns the same bytes
    let r = app
        .post(
            &format!("/patients/{uid}/files/presign-download"),
            json!({"key": key}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["method"], "GET");
    let got = reqwest::get(r.body["url"].as_str().unwrap()).await.unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.unwrap().to_vec(), bytes);
    // A tampered GET URL is refused
    let tampered = r.body["url"]
        .as_str()
        .unwrap()
        .replace("X-Amz-Expires=990", "X-Amz-Expires=60");
    assert_eq!(reqwest::get(&tampered).await.unwrap().status(), 403);

    // The Documents screen shows it with one read of the patient and one
    // Query of the entries (its links' ledger entry is written alongside)
    let r = app.get(&format!("/patients/{uid}/documents")).await;
    assert_eq!(r.body["labReports"].as_array().unwrap().len(), 1);
    assert_eq!(
        r.calls.to_string(),
        "DynamoDB.BatchGetItem x1, DynamoDB.Query x1, DynamoDB.TransactWriteItems x1"
    );
    let r = app.get(&format!("/patients/{mrn}/documents")).await;
    assert_eq!(r.body["labReports"].as_array().unwrap().len(), 1);
    assert_eq!(
        r.calls.to_string(),
        "DynamoDB.BatchGetItem x2, DynamoDB.Query x1, DynamoDB.TransactWriteItems x1"
    );
}
