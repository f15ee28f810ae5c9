//! Notes: create (with the patient's update counter bumped in the same
//! transaction), newest-first pages with cursors, edits, soft delete, files,
//! and lookup by id with one key read however many notes a patient has.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use futures::future::join_all;
use serde_json::{json, Value};

use crate::support::{unique, App};

fn note_body(content: &str) -> Value {
    json!({"authorId": "doc-1", "category": "doctorNote", "content": content})
}

async fn create_note(app: &App, id: &str, content: &str) -> Value {
    let r = app
        .post(&format!("/patients/{id}/notes"), note_body(content))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["note"].clone()
}

fn id_of(note: &Value) -> String {
    note["noteId"].as_str().expect("noteId").to_string()
}

fn ids(items: &Value) -> Vec<String> {
    items.as_array().expect("items").iter().map(id_of).collect()
}

async fn update_counter(app: &App, uid: &str) -> (u64, String) {
    let r = app.get(&format!("/patients/{uid}")).await;
    assert_eq!(r.status, 200);
    (
        r.body["updateCounter"].as_u64().expect("updateCounter"),
        r.body["lastUpdated"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

#[tokio::test]
async fn create_answers_the_note_and_bumps_the_patient_counter() {
    let app = App::new();
    let (uid, mrn) = app.create_patient().await;
    let (before, last_before) = update_counter(&app, &uid).await;

    let r = app
        .post(
            &format!("/patients/{uid}/notes"),
            json!({"authorId": "doc-7", "category": "nurseNote", "content": "Slept well"}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["message"], "created");
    let note = &r.body["note"];
    assert_eq!(note["patientId"], uid.as_str());
    assert_eq!(note["authorId"], "doc-7");
    assert_eq!(note["category"], "nurseNote");
    assert_eq!(note["content"], "Slept well");
    assert_eq!(note["mrn"], mrn.as_str());
    assert_eq!(note["scheme"], "GENERAL");
    assert_eq!(note["files"], json!([]));
    assert_eq!(note["deleted"], false);
    assert_eq!(note["createdAt"], note["updatedAt"]);
    assert!(note["createdAt"].as_str().unwrap().ends_with('Z'));
    // One resolve and one transaction (note + patient counter)
    assert_eq!(r.calls.get("DynamoDB.BatchGetItem"), 1, "{}", r.calls);
    assert_eq!(r.calls.get("DynamoDB.TransactWriteItems"), 1, "{}", r.calls);

    let (after, last_after) = update_counter(&app, &uid).await;
    assert_eq!(after, before + 1);
    assert!(last_after > last_before, "{last_after} > {last_before}");
    assert_eq!(last_after, note["createdAt"].as_str().unwrap());

    // An edit bumps it again
    let r = app
        .call(
            "PATCH",
            &format!("/patients/{uid}/notes/{}", id_of(note)),
            Some(json!({"content": "Slept badly"})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(update_counter(&app, &uid).await.0, before + 2);
}

#[tokio::test]
async fn an_mrn_addresses_the_patient_and_snake_case_bodies_are_accepted() {
    let app = App::new();
    let (uid, mrn) = app.create_patient().await;
    let r = app
        .post(
            &format!("/patients/{mrn}/notes"),
            json!({"author_id": "ph-2", "category": "pharmacy", "content": "Dose checked"}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["note"]["patientId"], uid.as_str());
    assert_eq!(r.body["note"]["authorId"], "ph-2");
    let note_id = id_of(&r.body["note"]);

    let r = app.get(&format!("/patients/{mrn}/notes")).await;
    assert_eq!(r.status, 200);
    assert_eq!(ids(&r.body["items"]), vec![note_id.clone()]);
    // An MRN costs one more batch read (pointer, then patient)
    assert_eq!(r.calls.get("DynamoDB.BatchGetItem"), 2, "{}", r.calls);
    assert_eq!(r.calls.get("DynamoDB.Query"), 1, "{}", r.calls);

    let r = app
        .call(
            "PATCH",
            &format!("/patients/{mrn}/notes/{note_id}"),
            Some(json!({"category": "discharge"})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["note"]["category"], "discharge");
    assert_eq!(r.body["note"]["content"], "Dose checked");
}

#[tokio::test]
async fn create_rejects_missing_fields_and_unknown_categories_writing_nothing() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let path = format!("/patients/{uid}/notes");
    let cases = [
        (
            json!({"category": "doctorNote", "content": "x"}),
            "authorId",
        ),
        (json!({"authorId": "d", "content": "x"}), "category"),
        (
            json!({"authorId": "d", "category": "doctorNote"}),
            "content",
        ),
        (
            json!({"authorId": "d", "category": "doctorNote", "content": "  "}),
            "content",
        ),
        (
            json!({"authorId": "d", "category": "surgeonNote", "content": "x"}),
            "category",
        ),
        (
            json!({"authorId": "d", "category": "doctorNote", "content": 5}),
            "Invalid request body",
        ),
    ];
    for (body, named) in cases {
        let r = app.post(&path, body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {:?}", r.body);
        let error = r.body["error"].as_str().unwrap();
        assert!(error.contains(named), "{body}: {error}");
        assert_eq!(r.calls.total(), 0, "nothing read or written for {body}");
    }
    for raw in ["{oops", "\"text\"", ""] {
        let r = app.raw("POST", &path, raw).await;
        assert_eq!(r.status, 400, "{raw:?}");
    }
    let r = app.get(&format!("{path}?includeDeleted=1")).await;
    assert_eq!(r.body["items"], json!([]));
    assert_eq!(update_counter(&app, &uid).await.0, 0);
}

#[tokio::test]
async fn an_unknown_patient_is_404_on_every_notes_route() {
    let app = App::new();
    let ghost = unique("nobody");
    let routes = [
        (
            "POST",
            format!("/patients/{ghost}/notes"),
            Some(note_body("x")),
        ),
        ("GET", format!("/patients/{ghost}/notes"), None),
        (
            "PATCH",
            format!("/patients/{ghost}/notes/n1"),
            Some(json!({"content": "x"})),
        ),
        ("DELETE", format!("/patients/{ghost}/notes/n1"), None),
        (
            "POST",
            format!("/patients/{ghost}/notes/n1/files/attach"),
            Some(json!({"key": "k"})),
        ),
    ];
    crate::support::assert_unknown_patient(&app, routes.into()).await;
}

#[tokio::test]
async fn the_list_is_newest_first_in_one_query() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let mut created = Vec::new();
    for i in 0..3 {
        created.push(id_of(&create_note(&app, &uid, &format!("note {i}")).await));
    }
    let r = app.get(&format!("/patients/{uid}/notes")).await;
    assert_eq!(r.status, 200);
    created.reverse();
    assert_eq!(ids(&r.body["items"]), created);
    assert_eq!(r.body["nextCursor"], Value::Null);
    assert_eq!(r.body["items"][0]["content"], "note 2");
    // Resolve by UID: one BatchGetItem; the list: one Query; the ledger
    // entry alongside: one transaction; nothing else
    assert_eq!(r.calls.get("DynamoDB.BatchGetItem"), 1, "{}", r.calls);
    assert_eq!(r.calls.get("DynamoDB.Query"), 1, "{}", r.calls);
    assert_eq!(r.calls.get("DynamoDB.TransactWriteItems"), 1, "{}", r.calls);
    assert_eq!(r.calls.total(), 3, "{}", r.calls);
}

#[tokio::test]
async fn pages_follow_cursors_and_tampered_cursors_are_400() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let (other, _) = app.create_patient().await;
    create_note(&app, &other, "other patient's note").await;
    let mut created = Vec::new();
    for i in 0..5 {
        created.push(id_of(&create_note(&app, &uid, &format!("n{i}")).await));
    }
    created.reverse();

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut sizes = Vec::new();
    loop {
        let path = match &cursor {
            Some(c) => format!("/patients/{uid}/notes?limit=2&cursor={c}"),
            None => format!("/patients/{uid}/notes?limit=2"),
        };
        let r = app.get(&path).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        let page = ids(&r.body["items"]);
        sizes.push(page.len());
        seen.extend(page);
        match r.body["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(sizes, vec![2, 2, 1]);
    assert_eq!(seen, created, "every note once, newest first");

    // A cursor moved to another patient's partition, or junk, is a 400
    let r = app.get(&format!("/patients/{uid}/notes?limit=2")).await;
    let good = r.body["nextCursor"].as_str().unwrap().to_string();
    let plain = String::from_utf8(URL_SAFE_NO_PAD.decode(&good).unwrap()).unwrap();
    assert!(plain.contains(&uid));
    let moved = URL_SAFE_NO_PAD.encode(plain.replace(&uid, &other));
    let as_med = URL_SAFE_NO_PAD.encode(plain.replace("NOTE#", "MED#"));
    for bad in [
        moved,
        as_med,
        "not-a-cursor".to_string(),
        good[..good.len() / 2].to_string(),
    ] {
        let r = app
            .get(&format!("/patients/{uid}/notes?cursor={bad}"))
            .await;
        assert_eq!(r.status, 400, "{bad}: {:?}", r.body);
        assert_eq!(r.body["error"], "Invalid cursor");
        assert_eq!(r.calls.get("DynamoDB.Query"), 0);
    }
    for bad_limit in ["0", "-1", "many"] {
        let r = app
            .get(&format!("/patients/{uid}/notes?limit={bad_limit}"))
            .await;
        assert_eq!(r.status, 400, "limit={bad_limit}");
    }
}

#[tokio::test]
async fn soft_deleted_notes_are_hidden_unless_asked_for() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let keep = id_of(&create_note(&app, &uid, "keep").await);
    let gone = id_of(&create_note(&app, &uid, "gone").await);
    let counter = update_counter(&app, &uid).await.0;

    let r = app
        .call("DELETE", &format!("/patients/{uid}/notes/{gone}"), None)
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body, json!({"message": "deleted"}));
    assert_eq!(update_counter(&app, &uid).await.0, counter + 1);

    let r = app.get(&format!("/patients/{uid}/notes")).await;
    assert_eq!(ids(&r.body["items"]), vec![keep.clone()]);
    for flag in ["includeDeleted=1", "includeDeleted=true"] {
        let r = app.get(&format!("/patients/{uid}/notes?{flag}")).await;
        assert_eq!(ids(&r.body["items"]), vec![gone.clone(), keep.clone()]);
        assert_eq!(r.body["items"][0]["deleted"], true);
        assert_eq!(r.body["items"][1]["deleted"], false);
    }

    // A deleted note is gone for edits, files and a second delete
    let r = app
        .call(
            "PATCH",
            &format!("/patients/{uid}/notes/{gone}"),
            Some(json!({"content": "revived?"})),
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["error"], "Note not found");
    let r = app
        .post(
            &format!("/patients/{uid}/notes/{gone}/files/attach"),
            json!({"key": format!("patients/{uid}/optimized/notes/{gone}/x.pdf")}),
        )
        .await;
    assert_eq!(r.status, 404);
    let r = app
        .call("DELETE", &format!("/patients/{uid}/notes/{gone}"), None)
        .await;
    assert_eq!(r.status, 404);
    let r = app
        .get(&format!("/patients/{uid}/notes?includeDeleted=1"))
        .await;
    assert_eq!(r.body["items"][0]["content"], "gone", "content kept");
}

#[tokio::test]
async fn a_page_stays_full_when_deleted_notes_are_filtered_out() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let mut live = Vec::new();
    for i in 0..6 {
        let id = id_of(&create_note(&app, &uid, &format!("n{i}")).await);
        // Delete every other note
        if i % 2 == 1 {
            let r = app
                .call("DELETE", &format!("/patients/{uid}/notes/{id}"), None)
                .await;
            assert_eq!(r.status, 200);
        } else {
            live.push(id);
        }
    }
    live.reverse();
    let r = app.get(&format!("/patients/{uid}/notes?limit=2")).await;
    assert_eq!(ids(&r.body["items"]), live[..2].to_vec());
    let cursor = r.body["nextCursor"]
        .as_str()
        .expect("more follow")
        .to_string();
    let r = app
        .get(&format!("/patients/{uid}/notes?limit=2&cursor={cursor}"))
        .await;
    assert_eq!(ids(&r.body["items"]), live[2..].to_vec());
    assert_eq!(r.body["nextCursor"], Value::Null, "nothing follows");
}

#[tokio::test]
async fn edits_change_only_what_is_sent_and_reject_bad_input() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let note = create_note(&app, &uid, "first").await;
    let path = format!("/patients/{uid}/notes/{}", id_of(&note));

    let r = app
        .call("PATCH", &path, Some(json!({"category": "pharmacy"})))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["message"], "updated");
    assert_eq!(r.body["note"]["category"], "pharmacy");
    assert_eq!(r.body["note"]["content"], "first");
    assert_eq!(r.body["note"]["authorId"], "doc-1");
    assert_eq!(r.body["note"]["createdAt"], note["createdAt"]);
    assert!(r.body["note"]["updatedAt"].as_str() >= note["updatedAt"].as_str());

    let r = app
        .call(
            "PATCH",
            &path,
            Some(json!({"content": "second", "category": "discharge"})),
        )
        .await;
    assert_eq!(r.status, 200);
    // The answer is what is stored
    let listed = app.get(&format!("/patients/{uid}/notes")).await;
    assert_eq!(listed.body["items"][0], r.body["note"]);
    assert_eq!(listed.body["items"][0]["content"], "second");

    for body in [
        json!({}),
        json!({"color": "red"}),
        json!({"category": "poem"}),
        json!({"content": ""}),
        json!({"content": 3}),
    ] {
        let r = app.call("PATCH", &path, Some(body.clone())).await;
        assert_eq!(r.status, 400, "{body}: {:?}", r.body);
        assert_eq!(r.calls.total(), 0, "{body}");
    }
}

#[tokio::test]
async fn unknown_notes_are_404_and_never_become_items() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let real = id_of(&create_note(&app, &uid, "real").await);
    let counter = update_counter(&app, &uid).await.0;
    let ghost = uuid::Uuid::now_v7().to_string();
    let r = app
        .call(
            "PATCH",
            &format!("/patients/{uid}/notes/{ghost}"),
            Some(json!({"content": "ghost"})),
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["error"], "Note not found");
    assert_eq!(r.calls.get("DynamoDB.TransactWriteItems"), 0);
    let r = app
        .call("DELETE", &format!("/patients/{uid}/notes/{ghost}"), None)
        .await;
    assert_eq!(r.status, 404);
    for weird in ["..", "a%2Fb", "n%20x"] {
        let r = app
            .call("DELETE", &format!("/patients/{uid}/notes/{weird}"), None)
            .await;
        assert_eq!(r.status, 404, "{weird}");
    }
    // Nothing was created, nothing was counted
    let r = app
        .get(&format!("/patients/{uid}/notes?includeDeleted=1"))
        .await;
    assert_eq!(ids(&r.body["items"]), vec![real]);
    assert_eq!(update_counter(&app, &uid).await.0, counter);
}

#[tokio::test]
async fn files_attach_and_detach_on_a_note() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let note_id = id_of(&create_note(&app, &uid, "with a scan").await);
    let other_id = id_of(&create_note(&app, &uid, "another").await);
    let upload = |ref_id: String| {
        let app = &app;
        let uid = uid.clone();
        async move {
            let answer = app
                .upload(
                    &uid,
                    json!({"filename": "a.pdf", "mimeType": "application/pdf", "kind": "note", "refId": ref_id}),
                    b"%PDF-1.4 bytes",
                )
                .await;
            answer["key"].as_str().expect("key").to_string()
        }
    };
    let key = upload(note_id.clone()).await;
    let foreign = upload(other_id.clone()).await;
    let attach = format!("/patients/{uid}/notes/{note_id}/files/attach");
    let detach = format!("/patients/{uid}/notes/{note_id}/files/detach");

    let r = app.post(&attach, json!({"key": key})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["message"], "attached");
    assert_eq!(r.body["note"]["files"], json!([key]));
    assert_eq!(r.body["note"]["noteId"], note_id.as_str());

    // Re-attaching is a no-op that keeps one copy
    let r = app.post(&attach, json!({"key": key})).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["note"]["files"], json!([key]));

    // Another note's folder is refused; a never-uploaded key is a 404
    let r = app.post(&attach, json!({"key": foreign})).await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    let never = format!("patients/{uid}/optimized/notes/{note_id}/1-never-q80-1600w.pdf");
    let r = app.post(&attach, json!({"key": never})).await;
    assert_eq!(r.status, 404, "{:?}", r.body);
    let r = app.post(&attach, json!({})).await;
    assert_eq!(r.status, 400);

    let r = app.get(&format!("/patients/{uid}/notes")).await;
    let listed = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["noteId"] == note_id.as_str())
        .cloned()
        .unwrap();
    assert_eq!(listed["files"], json!([key]));

    let r = app.post(&detach, json!({"key": key})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["message"], "detached");
    assert_eq!(r.body["note"]["files"], json!([]));
    let r = app.post(&detach, json!({"key": key})).await;
    assert_eq!(r.status, 404);

    // Unknown action: not a route
    let r = app
        .post(
            &format!("/patients/{uid}/notes/{note_id}/files/remove"),
            json!({"key": key}),
        )
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn the_oldest_of_more_than_200_notes_is_found_with_one_key_read() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let mut created = Vec::new();
    for chunk in 0..5 {
        let contents: Vec<String> = (0..41).map(|i| format!("note {chunk}-{i}")).collect();
        let batch = join_all(contents.iter().map(|c| create_note(&app, &uid, c))).await;
        created.extend(batch.iter().map(id_of));
    }
    assert_eq!(created.len(), 205);
    assert_eq!(update_counter(&app, &uid).await.0, 205, "no bump lost");
    let oldest = created.iter().min().unwrap().clone();

    // The old backend only looked at the newest 200: this one is beyond them
    let r = app
        .call(
            "PATCH",
            &format!("/patients/{uid}/notes/{oldest}"),
            Some(json!({"content": "amended"})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["note"]["content"], "amended");
    assert_eq!(r.body["note"]["noteId"], oldest.as_str());
    // One key read (patient and note together), one transaction, no Query
    let reads = r.calls.get("DynamoDB.GetItem") + r.calls.get("DynamoDB.BatchGetItem");
    assert_eq!(reads, 1, "{}", r.calls);
    assert_eq!(r.calls.get("DynamoDB.Query"), 0, "{}", r.calls);
    assert_eq!(r.calls.get("DynamoDB.TransactWriteItems"), 1, "{}", r.calls);

    let key = app
        .upload(
            &uid,
            json!({"filename": "a.pdf", "mimeType": "application/pdf", "kind": "note", "refId": oldest}),
            b"%PDF-1.4 bytes",
        )
        .await["key"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app
        .post(
            &format!("/patients/{uid}/notes/{oldest}/files/attach"),
            json!({"key": key}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["note"]["files"], json!([key]));
    assert_eq!(r.body["note"]["content"], "amended");
    assert_eq!(r.calls.get("DynamoDB.Query"), 0, "{}", r.calls);

    // Page sizes: 50 by default, at most 200, and the rest after the cursor
    let r = app.get(&format!("/patients/{uid}/notes")).await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 50);
    let r = app.get(&format!("/patients/{uid}/notes?limit=500")).await;
    let first = ids(&r.body["items"]);
    assert_eq!(first.len(), 200);
    let mut newest_first = created.clone();
    newest_first.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(first, newest_first[..200].to_vec());
    let cursor = r.body["nextCursor"].as_str().unwrap().to_string();
    let r = app
        .get(&format!("/patients/{uid}/notes?limit=500&cursor={cursor}"))
        .await;
    assert_eq!(ids(&r.body["items"]), newest_first[200..].to_vec());
    assert_eq!(r.body["nextCursor"], Value::Null);
    assert_eq!(ids(&r.body["items"]).last(), Some(&oldest));
}

#[tokio::test]
async fn concurrent_edits_and_an_attach_on_one_note_all_land() {
    let (app, _proxy) = App::with_conflicts();
    let (uid, _) = app.create_patient().await;
    let note_id = id_of(&create_note(&app, &uid, "draft").await);
    let key = app
        .upload(
            &uid,
            json!({"filename": "a.pdf", "mimeType": "application/pdf", "kind": "note", "refId": note_id}),
            b"%PDF-1.4 bytes",
        )
        .await["key"]
        .as_str()
        .unwrap()
        .to_string();
    let before = update_counter(&app, &uid).await.0;
    let path = format!("/patients/{uid}/notes/{note_id}");
    let contents: Vec<String> = (0..4).map(|i| format!("version {i}")).collect();
    let edits = join_all(
        contents
            .iter()
            .map(|c| app.call("PATCH", &path, Some(json!({"content": c})))),
    );
    let attach_path = format!("{path}/files/attach");
    let attach = app.post(&attach_path, json!({"key": key}));
    let (edits, attached) = futures::join!(edits, attach);
    assert_eq!(attached.status, 200, "{:?}", attached.body);
    for (r, content) in edits.iter().zip(&contents) {
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(r.body["note"]["content"], content.as_str());
    }
    // Every edit counted once, the file kept, one of the edits last
    assert_eq!(update_counter(&app, &uid).await.0, before + 4);
    let r = app.get(&format!("/patients/{uid}/notes")).await;
    let stored = &r.body["items"][0];
    assert_eq!(stored["files"], json!([key]));
    assert!(contents.iter().any(|c| stored["content"] == c.as_str()));
}
