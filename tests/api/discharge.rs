//! Discharge summaries: append-only versions, the current one moved only by
//! guarded writes (concurrent saves, deletes), key lookups by id however
//! many versions exist, full pages, bounded size, checked sections, and the
//! items the Node.js version wrote.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use futures::future::join_all;
use serde_json::{json, Value};

use crate::support::{writes, App};

fn summary(text: &str) -> Value {
    json!({
        "sections": {"diagnosis": {"primary": text, "icd_code": "K35"}, "follow_up": {"clinic": "OPD"}},
        "summary": {"diagnosis": text, "dod": "2025-11-28"},
        "authorName": "Dr A",
        "commitMessage": format!("saved {text}"),
    })
}

async fn save(app: &App, id: &str, body: Value) -> Value {
    let r = app.post(&format!("/patients/{id}/discharge"), body).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["message"], "created");
    r.body["version"].clone()
}

fn vid(version: &Value) -> String {
    version["versionId"]
        .as_str()
        .expect("versionId")
        .to_string()
}

async fn current(app: &App, id: &str) -> Value {
    let r = app.get(&format!("/patients/{id}/discharge")).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body
}

async fn counter(app: &App, uid: &str) -> u64 {
    let r = app.get(&format!("/patients/{uid}")).await;
    r.body["updateCounter"].as_u64().expect("updateCounter")
}

/// Every version id of the patient, following cursors with `limit`.
async fn all_pages(app: &App, uid: &str, limit: usize, deleted: bool) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/patients/{uid}/discharge/versions?limit={limit}");
        if deleted {
            path.push_str("&includeDeleted=1");
        }
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let r = app.get(&path).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        pages.push(
            r.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(vid)
                .collect(),
        );
        match r.body["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return pages,
        }
    }
}

#[tokio::test]
async fn a_saved_summary_is_current_with_its_version_id_and_bumps_the_patient() {
    // Given a patient without a summary
    let app = App::new();
    let (uid, mrn) = app.create_patient().await;
    let empty = current(&app, &uid).await;
    assert_eq!(empty, json!({"latest": null, "versions": 0}));
    let before = counter(&app, &uid).await;
    // When a draft is saved by MRN
    let version = save(&app, &mrn, summary("Appendicitis")).await;
    // Then it is current, carries its id, the client's section names as sent,
    // and the patient's counter moved
    let now = current(&app, &uid).await;
    assert_eq!(now["versions"], 1);
    assert_eq!(now["latest"], version);
    assert!(!vid(&version).is_empty());
    assert_eq!(version["status"], "draft");
    assert_eq!(version["patientId"], uid.as_str());
    assert_eq!(version["mrn"], mrn.as_str());
    assert_eq!(version["sections"]["diagnosis"]["icd_code"], "K35");
    assert_eq!(version["summary"]["dod"], "2025-11-28");
    assert_eq!(version["deleted"], false);
    assert_eq!(counter(&app, &uid).await, before + 1);
    // And the ledger records the save
    let ledger = app.get(&format!("/patients/{uid}/audit")).await;
    assert!(ledger.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == "discharge.create"));
}

#[tokio::test]
async fn two_concurrent_saves_both_become_versions_and_the_newer_is_current() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    for round in 0..3 {
        // When several saves race
        let saved = join_all((0..4).map(|i| {
            let app = &app;
            let uid = uid.clone();
            async move {
                app.post(
                    &format!("/patients/{uid}/discharge"),
                    summary(&format!("r{round}-{i}")),
                )
                .await
            }
        }))
        .await;
        // Then every one is a version, and the current one is the newest
        let mut ids: Vec<String> = saved
            .iter()
            .map(|r| {
                assert_eq!(r.status, 201, "{:?}", r.body);
                vid(&r.body["version"])
            })
            .collect();
        ids.sort();
        let now = current(&app, &uid).await;
        assert_eq!(now["versions"], 4 * (round + 1), "{now:?}");
        let pages = all_pages(&app, &uid, 200, false).await;
        let listed: Vec<String> = pages.concat();
        assert_eq!(listed.len(), 4 * (round + 1));
        assert_eq!(vid(&now["latest"]), listed[0], "the newest is current");
        assert_eq!(&listed[0], ids.last().unwrap());
        for id in &ids {
            assert!(listed.contains(id), "{id} is a version");
        }
    }
}

#[tokio::test]
async fn deleting_the_current_version_makes_the_previous_one_current() {
    // Given three versions
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let v1 = save(&app, &uid, summary("one")).await;
    let v2 = save(&app, &uid, summary("two")).await;
    let v3 = save(&app, &uid, summary("three")).await;
    let path = |v: &Value| format!("/patients/{uid}/discharge/versions/{}", vid(v));
    // When a version that is not current is deleted, the current one stays
    let r = app.call("DELETE", &path(&v2), None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["message"], "deleted");
    let now = current(&app, &uid).await;
    assert_eq!(vid(&now["latest"]), vid(&v3));
    assert_eq!(now["versions"], 2);
    // When the current one is deleted, the newest remaining is current
    assert_eq!(app.call("DELETE", &path(&v3), None).await.status, 200);
    let now = current(&app, &uid).await;
    assert_eq!(vid(&now["latest"]), vid(&v1));
    assert_eq!(now["versions"], 1);
    // A deleted version is still found by id (flagged), listed only on request
    let gone = app.get(&path(&v3)).await;
    assert_eq!(gone.status, 200);
    assert_eq!(gone.body["deleted"], true);
    assert_eq!(all_pages(&app, &uid, 50, false).await.concat(), [vid(&v1)]);
    assert_eq!(all_pages(&app, &uid, 50, true).await.concat().len(), 3);
    // Deleting it again is a 404 that writes nothing
    let again = app.call("DELETE", &path(&v3), None).await;
    assert_eq!(again.status, 404);
    assert_eq!(writes(&again.calls), 0, "{}", again.calls);
    // And deleting the last one leaves no current summary
    assert_eq!(app.call("DELETE", &path(&v1), None).await.status, 200);
    assert_eq!(
        current(&app, &uid).await,
        json!({"latest": null, "versions": 0})
    );
}

#[tokio::test]
async fn a_delete_racing_a_save_never_hides_the_save() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    for i in 0..4 {
        // Given a current version
        let old = save(&app, &uid, summary(&format!("old {i}"))).await;
        // When it is deleted while another version is saved
        let path = format!("/patients/{uid}/discharge/versions/{}", vid(&old));
        let save_path = format!("/patients/{uid}/discharge");
        let (deleted, saved) = tokio::join!(
            app.call("DELETE", &path, None),
            app.post(&save_path, summary(&format!("new {i}")))
        );
        assert_eq!(deleted.status, 200, "{:?}", deleted.body);
        assert_eq!(saved.status, 201, "{:?}", saved.body);
        // Then the saved one is current
        let now = current(&app, &uid).await;
        assert_eq!(
            vid(&now["latest"]),
            vid(&saved.body["version"]),
            "round {i}"
        );
        assert_eq!(now["versions"], i + 1);
    }
}

#[tokio::test]
async fn a_version_older_than_the_newest_200_is_found_by_id_and_pages_are_full() {
    // Given 205 versions
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let first = save(&app, &uid, json!({"mdx": "# first"})).await;
    for i in 1..205 {
        save(&app, &uid, json!({"mdx": format!("# v{i}")})).await;
    }
    // Then the oldest is found by a key read
    let r = app
        .get(&format!(
            "/patients/{uid}/discharge/versions/{}",
            vid(&first)
        ))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["mdx"], "# first");
    // One read by key, and the ledger entry alongside it
    assert_eq!(
        r.calls.to_string(),
        "DynamoDB.BatchGetItem x1, DynamoDB.TransactWriteItems x1"
    );
    // And pages of 200 and of 7 are full unless last, newest first, each once
    for limit in [200, 7] {
        let pages = all_pages(&app, &uid, limit, false).await;
        let (last, full) = pages.split_last().unwrap();
        assert!(full.iter().all(|p| p.len() == limit), "limit {limit}");
        assert!(!last.is_empty() && last.len() <= limit);
        let all: Vec<String> = pages.concat();
        assert_eq!(all.len(), 205);
        let mut sorted = all.clone();
        sorted.sort();
        sorted.reverse();
        assert_eq!(all, sorted, "newest first");
        assert_eq!(all.last(), Some(&vid(&first)));
    }
}

#[tokio::test]
async fn limits_outside_1_to_200_and_bad_cursors_are_400() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    save(&app, &uid, summary("x")).await;
    for bad in ["0", "abc", "-1", "201", "1.5"] {
        let r = app
            .get(&format!("/patients/{uid}/discharge/versions?limit={bad}"))
            .await;
        assert_eq!(r.status, 400, "limit={bad}: {:?}", r.body);
        assert!(r.body["error"].is_string());
    }
    for ok in ["1", "200"] {
        let r = app
            .get(&format!("/patients/{uid}/discharge/versions?limit={ok}"))
            .await;
        assert_eq!(r.status, 200, "limit={ok}");
        assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
    }
    // A cursor of another patient's versions is refused
    let (other, _) = app.create_patient().await;
    save(&app, &other, summary("a")).await;
    save(&app, &other, summary("b")).await;
    let page = app
        .get(&format!("/patients/{other}/discharge/versions?limit=1"))
        .await;
    let cursor = page.body["nextCursor"]
        .as_str()
        .expect("cursor")
        .to_string();
    let r = app
        .get(&format!(
            "/patients/{uid}/discharge/versions?cursor={cursor}"
        ))
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
}

#[tokio::test]
async fn bad_bodies_are_refused_and_change_nothing() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let path = format!("/patients/{uid}/discharge");
    let big = "x".repeat(210 * 1024);
    for (body, status) in [
        (json!({}), 400),
        (json!({"sections": {}}), 400),
        (json!({"sections": {"a": {"b": {"c": "deep"}}}}), 400),
        (json!({"sections": {"a": {"b": 3}}}), 400),
        (json!({"sections": {"a": ["x"]}}), 400),
        (json!({"sections": "text"}), 400),
        (json!({"mdx": "x", "status": "final"}), 400),
        (json!({"mdx": "x", "summary": {"diagnosis": 1}}), 400),
        (json!({"mdx": 3}), 400),
        (json!({"mdx": big}), 413),
        (json!({"sections": {"notes": {"text": big}}}), 413),
    ] {
        let r = app.post(&path, body).await;
        assert_eq!(r.status, status, "{:?}", r.body);
        assert_eq!(writes(&r.calls), 0, "{}", r.calls);
    }
    let r = app.raw("POST", &path, "{not json").await;
    assert_eq!(r.status, 400);
    assert_eq!(
        current(&app, &uid).await,
        json!({"latest": null, "versions": 0})
    );
    // An unknown patient is a 404 on every route
    for (method, p) in [
        ("GET", "/patients/nobody/discharge".to_string()),
        ("POST", "/patients/nobody/discharge".to_string()),
        ("GET", "/patients/nobody/discharge/versions".to_string()),
    ] {
        let r = app.call(method, &p, Some(summary("x"))).await;
        assert_eq!(r.status, 404, "{method} {p}: {:?}", r.body);
    }
}

#[tokio::test]
async fn a_patch_changes_status_and_message_only() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let v = save(&app, &uid, summary("one")).await;
    let path = format!("/patients/{uid}/discharge/versions/{}", vid(&v));
    let r = app
        .call(
            "PATCH",
            &path,
            Some(json!({"status": "Published", "commit_message": "signed off"})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["message"], "updated");
    assert_eq!(r.body["version"]["status"], "published");
    assert_eq!(r.body["version"]["commitMessage"], "signed off");
    let read = app.get(&path).await.body;
    assert_eq!(read["status"], "published");
    assert_eq!(read["sections"], v["sections"], "content unchanged");
    // Content, unknown statuses and empty patches are refused
    for body in [
        json!({"sections": {"a": {"b": "c"}}}),
        json!({"status": "final"}),
        json!({}),
    ] {
        let r = app.call("PATCH", &path, Some(body)).await;
        assert_eq!(r.status, 400, "{:?}", r.body);
        assert_eq!(writes(&r.calls), 0);
    }
    // Unknown versions, and the pointer's key, are not versions
    for id in ["2020-01-01T00:00:00.000Z-nope", "LATEST", "x"] {
        let p = format!("/patients/{uid}/discharge/versions/{id}");
        assert_eq!(app.get(&p).await.status, 404, "{id}");
        let r = app
            .call("PATCH", &p, Some(json!({"status": "archived"})))
            .await;
        assert_eq!(r.status, 404, "{id}");
        assert_eq!(app.call("DELETE", &p, None).await.status, 404, "{id}");
    }
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

#[tokio::test]
async fn versions_the_nodejs_version_wrote_are_read() {
    // Given a patient whose summaries the Node.js version wrote: versions
    // under DS#{iso}#{id} and a DS#LATEST copy without a version id
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let pk = format!("PATIENT#{uid}");
    for (iso, id, deleted) in [
        ("2025-01-01T10:00:00.000Z", "a1", false),
        ("2025-01-02T10:00:00.000Z", "b2", false),
        ("2025-01-03T10:00:00.000Z", "c3", true),
    ] {
        let sections = AttributeValue::M(HashMap::from([(
            "diagnosis".to_string(),
            AttributeValue::M(HashMap::from([("primary".to_string(), s(id))])),
        )]));
        app.ctx
            .ddb
            .put_item()
            .table_name(app.ctx.table())
            .item("PK", s(&pk))
            .item("SK", s(&format!("DS#{iso}#{id}")))
            .item("status", s("published"))
            .item("sections", sections)
            .item("created_at", s(iso))
            .item("deleted", AttributeValue::Bool(deleted))
            .send()
            .await
            .expect("seed version");
    }
    app.ctx
        .ddb
        .put_item()
        .table_name(app.ctx.table())
        .item("PK", s(&pk))
        .item("SK", s("DS#LATEST"))
        .item("status", s("published"))
        .item("created_at", s("2025-01-02T10:00:00.000Z"))
        .send()
        .await
        .expect("seed pointer");
    // Then the newest live one is current, with its id, and the count is right
    let now = current(&app, &uid).await;
    assert_eq!(now["versions"], 2, "{now:?}");
    let latest_id = vid(&now["latest"]);
    assert_eq!(latest_id, "2025-01-02T10:00:00.000Z#b2");
    assert_eq!(now["latest"]["sections"]["diagnosis"]["primary"], "b2");
    // And each is found by its id and listed newest first
    let one = app
        .get(&format!(
            "/patients/{uid}/discharge/versions/{}",
            "2025-01-01T10:00:00.000Z%23a1"
        ))
        .await;
    assert_eq!(one.status, 200, "{:?}", one.body);
    assert_eq!(one.body["status"], "published");
    assert_eq!(
        all_pages(&app, &uid, 50, false).await.concat(),
        ["2025-01-02T10:00:00.000Z#b2", "2025-01-01T10:00:00.000Z#a1"]
    );
    // When a new version is saved, it becomes current and the count includes
    // the old ones; deleting it brings back the newest Node.js version
    let new = save(&app, &uid, summary("new")).await;
    let now = current(&app, &uid).await;
    assert_eq!(vid(&now["latest"]), vid(&new));
    assert_eq!(now["versions"], 3);
    let r = app
        .call(
            "DELETE",
            &format!("/patients/{uid}/discharge/versions/{}", vid(&new)),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let now = current(&app, &uid).await;
    assert_eq!(vid(&now["latest"]), latest_id);
    assert_eq!(now["versions"], 2);
}
