//! The audit ledger: what the document flow leaves in it, that failed changes
//! leave nothing, and its pagination.

use serde_json::{json, Value};

use crate::support::{put_presigned, unique, App};

/// The patient's whole ledger, newest first, read page by page.
/// The ledger of `id`, every page, leaving out the entries of earlier
/// ledger reads (each read of it is itself recorded, as `audit.read`).
async fn ledger(app: &App, id: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/patients/{id}/audit?limit=3&cursor={c}"),
            None => format!("/patients/{id}/audit?limit=3"),
        };
        let r = app.get(&path).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        all.extend(r.body["items"].as_array().expect("items").iter().cloned());
        match r.body["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => {
                all.retain(|e| e["action"] != "audit.read");
                return all;
            }
        }
    }
}

fn actions(entries: &[Value]) -> Vec<&str> {
    entries
        .iter()
        .map(|e| e["action"].as_str().unwrap_or("?"))
        .collect()
}

#[tokio::test]
async fn the_document_flow_is_in_the_ledger_newest_first() {
    let app = App::new();
    let (uid, mrn) = app.create_patient().await;
    let presign = app
        .post(
            &format!("/patients/{uid}/files/presign-upload"),
            json!({"filename": "xray.jpg", "mimeType": "image/jpeg", "docType": "radiology"}),
        )
        .await;
    assert_eq!(presign.status, 200);
    assert_eq!(
        presign.calls.get("DynamoDB.TransactWriteItems"),
        1,
        "the presign is recorded with its upload intent"
    );
    assert_eq!(
        put_presigned(&presign.body, b"\xff\xd8xr\xff\xd9", None).await,
        200
    );
    let key = presign.body["key"].as_str().expect("key").to_string();
    let attach = app
        .post(
            &format!("/patients/{uid}/documents/attach"),
            json!({"category": "radiology", "key": key, "uploadedBy": "dr-x"}),
        )
        .await;
    assert_eq!(attach.status, 200, "{:?}", attach.body);
    assert_eq!(attach.calls.get("DynamoDB.TransactWriteItems"), 1);
    assert_eq!(attach.calls.total(), 4, "{}", attach.calls);
    let r = app
        .post(
            &format!("/patients/{uid}/files/presign-download"),
            json!({"key": key}),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = app
        .get(&format!(
            "/patients/{uid}/files?docType=radiology&presign=1"
        ))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = app
        .get(&format!("/patients/{uid}/files?docType=radiology"))
        .await;
    assert_eq!(r.status, 200, "a listing without URLs is recorded too");
    let r = app
        .post(
            &format!("/patients/{uid}/documents/detach"),
            json!({"category": "radiology", "key": key}),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = app
        .post(
            &format!("/patients/{uid}/files/delete"),
            json!({"key": key}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);

    // Read by MRN, page by page.
    let entries = ledger(&app, &mrn).await;
    assert_eq!(
        actions(&entries),
        vec![
            "files.delete",
            "documents.detach",
            "files.list",
            "files.list-links",
            "files.presign-download",
            "documents.attach",
            "files.presign-upload",
            "patient.create",
        ]
    );
    for e in &entries {
        assert_eq!(e["actor"], "anonymous");
        assert!(!e["requestId"].as_str().unwrap_or("").is_empty());
        assert!(e["at"].as_str().unwrap_or("").ends_with('Z'));
    }
    let times: Vec<&str> = entries.iter().map(|e| e["at"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
    // A listing names its folder, every other entry the key
    assert_eq!(entries[2]["target"], "optimized/docs/radiology/");
    assert_eq!(entries[3]["target"], "optimized/docs/radiology/");
    for e in entries[..7]
        .iter()
        .filter(|e| !e["action"].as_str().unwrap_or("").starts_with("files.list"))
    {
        assert!(
            e["keys"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k == key.as_str()),
            "{e}"
        );
    }
    assert_eq!(entries[1]["target"], "radiology");
    // The patient's creation lists the fields written, never their values.
    let created = &entries[7];
    let fields: Vec<&str> = created["fields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(fields.contains(&"name"), "{fields:?}");
    assert!(
        !created.to_string().contains("Test Patient"),
        "no PHI values"
    );
}

#[tokio::test]
async fn failed_changes_write_no_audit_entry() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let before = ledger(&app, &uid).await.len();
    let attach = format!("/patients/{uid}/documents/attach");
    // Never uploaded: 404, nothing written.
    let never = format!("patients/{uid}/optimized/docs/lab/1-never-q80-1600w.jpg");
    let r = app
        .post(&attach, json!({"category": "lab_reports", "key": never}))
        .await;
    assert_eq!(r.status, 404);
    // Another patient's key, or the wrong folder: 400.
    let r = app
        .post(
            &attach,
            json!({"category": "lab_reports", "key": "patients/other/optimized/docs/lab/a.jpg"}),
        )
        .await;
    assert_eq!(r.status, 400);
    // The preop cap refuses a fourth photo: 409, and no entry for it.
    let mut keys = Vec::new();
    for _ in 0..4 {
        keys.push(app.upload_doc(&uid, "preop").await);
    }
    let uploads = ledger(&app, &uid).await.len();
    assert_eq!(uploads, before + 4, "four presigns recorded");
    for key in &keys[..3] {
        let r = app
            .post(&attach, json!({"category": "preop_pics", "key": key}))
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
    }
    let r = app
        .post(&attach, json!({"category": "preop_pics", "key": keys[3]}))
        .await;
    assert_eq!(r.status, 409, "{:?}", r.body);
    // Re-attaching an attached key changes nothing; its answer hands out the
    // record's links, which is recorded as an access (not a change).
    let r = app
        .post(&attach, json!({"category": "preop_pics", "key": keys[0]}))
        .await;
    assert_eq!(r.status, 200);
    // A patient change refused by its checklist leaves nothing either.
    let (from, to) = ("onboarding", unique("stage"));
    let r = app
        .call(
            "PUT",
            &format!("/checklists/{from}/{to}"),
            Some(json!({"in_required": ["consent"]})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = app
        .call(
            "PATCH",
            &format!("/patients/{uid}/state"),
            Some(json!({"currentState": to})),
        )
        .await;
    assert_eq!(r.status, 409, "{:?}", r.body);
    let entries = ledger(&app, &uid).await;
    assert_eq!(entries.len(), uploads + 4, "{:?}", actions(&entries));
    assert_eq!(actions(&entries[..1]), vec!["documents.links"]);
    assert!(actions(&entries[1..4])
        .iter()
        .all(|a| *a == "documents.attach"));
}

#[tokio::test]
async fn patient_changes_record_the_fields_they_touched() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let r = app
        .call(
            "PUT",
            &format!("/patients/{uid}"),
            Some(json!({"name": "Renamed Person", "diagnosis": "Appendicitis"})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = app
        .call(
            "PATCH",
            &format!("/patients/{uid}/state"),
            Some(json!({"currentState": unique("ward"), "force": true})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.calls.total(), 2, "still one read and one transaction");
    let r = app.call("DELETE", &format!("/patients/{uid}"), None).await;
    assert_eq!(r.status, 200);
    let entries = ledger(&app, &uid).await;
    assert_eq!(
        actions(&entries),
        vec![
            "patient.delete",
            "patient.state",
            "patient.update",
            "patient.create"
        ]
    );
    let fields = |e: &Value| -> Vec<String> {
        e["fields"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|f| f.as_str().map(String::from))
            .collect()
    };
    assert_eq!(fields(&entries[2]), vec!["diagnosis", "name"]);
    assert!(fields(&entries[1]).contains(&"current_state".to_string()));
    assert!(fields(&entries[0]).contains(&"status".to_string()));
    assert!(
        !entries[2].to_string().contains("Renamed"),
        "names, not values"
    );
    assert!(!entries[2].to_string().contains("Appendicitis"));
}

#[tokio::test]
async fn entity_file_changes_name_their_entity() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let r = app
        .post(
            &format!("/patients/{uid}/tasks"),
            json!({"title": "Dress wound", "type": "procedure", "due": "2030-01-01T10:00:00Z", "assigneeId": "dr-a"}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let task_id = r.body["task"]["taskId"]
        .as_str()
        .expect("taskId")
        .to_string();
    let answer = app
        .upload(
            &uid,
            json!({"filename": "w.jpg", "mimeType": "image/jpeg", "kind": "task", "refId": task_id}),
            b"\xff\xd8w\xff\xd9",
        )
        .await;
    let key = answer["key"].as_str().expect("key");
    let base = format!("/patients/{uid}/tasks/{task_id}/files");
    let r = app
        .post(&format!("{base}/attach"), json!({"key": key}))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["task"]["files"], json!([key]));
    let r = app
        .post(&format!("{base}/detach"), json!({"key": key}))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["task"]["files"], json!([]));
    let entries = ledger(&app, &uid).await;
    assert_eq!(
        actions(&entries[..3]),
        vec![
            "entity.files.detach",
            "entity.files.attach",
            "files.presign-upload"
        ]
    );
    for e in &entries[..2] {
        assert_eq!(e["target"], format!("task:{task_id}"));
        assert_eq!(e["keys"], json!([key]));
    }
}

#[tokio::test]
async fn the_ledger_pages_with_cursors_that_stay_in_their_patient() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    for i in 0..4 {
        let r = app
            .call(
                "PUT",
                &format!("/patients/{uid}"),
                Some(json!({"diagnosis": format!("D{i}")})),
            )
            .await;
        assert_eq!(r.status, 200);
    }
    let r = app.get(&format!("/patients/{uid}/audit?limit=2")).await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 2);
    let cursor = r.body["nextCursor"].as_str().expect("cursor").to_string();
    assert_eq!(ledger(&app, &uid).await.len(), 5);
    // A cursor of this patient's ledger cannot page another patient's.
    let (other, _) = app.create_patient().await;
    let r = app
        .get(&format!("/patients/{other}/audit?cursor={cursor}"))
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    for bad in ["%%%", "bm90LWpzb24", "limit=0"] {
        let r = app
            .get(&format!("/patients/{uid}/audit?cursor={bad}"))
            .await;
        assert_eq!(r.status, 400, "{bad}: {:?}", r.body);
    }
    assert_eq!(
        app.get(&format!("/patients/{uid}/audit?limit=0"))
            .await
            .status,
        400
    );
    assert_eq!(app.get("/patients/nobody-here/audit").await.status, 404);
}
