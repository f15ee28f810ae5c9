//! Documents at hospital scale: one item per entry, so concurrent attaches
//! of distinct keys never conflict, the preop cap holds under races, a
//! patient with thousands of entries gets bounded answers with per-category
//! cursors, and records in the earlier single-item layout read the same and
//! move to entries without losing or doubling one.

use std::collections::{BTreeSet, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use futures::future::join_all;
use serde_json::{json, Value};

use crate::support::App;

fn keys_of(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap().to_string())
        .collect()
}

async fn attach_all(
    app: &App,
    uid: &str,
    category: &str,
    keys: &[String],
    replace: bool,
) -> Vec<u16> {
    let path = format!("/patients/{uid}/documents/attach");
    let results = join_all(keys.iter().map(|key| {
        let (app, path) = (app, &path);
        async move {
            app.post(
                path,
                json!({"category": category, "key": key, "replaceOldest": replace}),
            )
            .await
            .status
        }
    }))
    .await;
    results
}

#[tokio::test]
async fn thirty_concurrent_attaches_of_distinct_keys_all_land() {
    // Given thirty uploaded lab reports
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let mut keys = Vec::new();
    for _ in 0..30 {
        keys.push(app.upload_doc(&uid, "lab").await);
    }
    // When they are attached at once
    let statuses = attach_all(&app, &uid, "lab_reports", &keys, false).await;
    // Then every one is acknowledged and present, once
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let r = app.get(&format!("/patients/{uid}/documents")).await;
    let stored = keys_of(&r.body["labReports"]);
    assert_eq!(stored.len(), 30);
    assert_eq!(
        stored.iter().collect::<BTreeSet<_>>(),
        keys.iter().collect::<BTreeSet<_>>()
    );
    assert_eq!(r.body["counts"]["labReports"], 30);
    assert_eq!(r.body["version"], 30);
    // And attaching them again changes nothing
    let again = attach_all(&app, &uid, "lab_reports", &keys[..5], false).await;
    assert!(again.iter().all(|s| *s == 200));
    let r = app.get(&format!("/patients/{uid}/documents")).await;
    assert_eq!(keys_of(&r.body["labReports"]).len(), 30);
}

#[tokio::test]
async fn the_preop_cap_holds_under_twenty_racing_attaches() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let mut keys = Vec::new();
    for _ in 0..20 {
        keys.push(app.upload_doc(&uid, "preop").await);
    }
    // When twenty race without replaceOldest: three land, the rest are 409
    let statuses = attach_all(&app, &uid, "preop_pics", &keys, false).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        17,
        "{statuses:?}"
    );
    let r = app.get(&format!("/patients/{uid}/documents")).await;
    assert_eq!(keys_of(&r.body["preopPics"]).len(), 3);
    assert_eq!(r.body["counts"]["preopPics"], 3);
    // When they race again with replaceOldest: all land, three stay
    let statuses = attach_all(&app, &uid, "preop_pics", &keys, true).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let r = app.get(&format!("/patients/{uid}/documents")).await;
    let stored = keys_of(&r.body["preopPics"]);
    assert_eq!(stored.len(), 3, "{stored:?}");
    assert_eq!(r.body["counts"]["preopPics"], 3);
    // And a detach makes room for one more
    let detach = app
        .post(
            &format!("/patients/{uid}/documents/detach"),
            json!({"category": "preop_pics", "key": stored[0]}),
        )
        .await;
    assert_eq!(detach.status, 200, "{:?}", detach.body);
    assert_eq!(keys_of(&detach.body["documents"]["preopPics"]).len(), 2);
    let fresh = app.upload_doc(&uid, "preop").await;
    assert_eq!(app.attach_doc(&uid, "preop_pics", &fresh).await.status, 200);
}

/// A `DOCS#PROFILE` item in the earlier layout: `lab` lab reports (and one
/// preop photo), entries as that layout stored them.
pub(crate) async fn seed_legacy_record(app: &App, uid: &str, lab: usize) -> Vec<String> {
    let entry = |key: &str, i: usize| {
        AttributeValue::M(HashMap::from([
            ("key".to_string(), AttributeValue::S(key.to_string())),
            (
                "uploadedAt".to_string(),
                AttributeValue::S(format!(
                    "2025-01-01T00:{:02}:{:02}.000Z",
                    i / 60 % 60,
                    i % 60
                )),
            ),
            (
                "caption".to_string(),
                AttributeValue::S(format!("scan {i} of the series")),
            ),
            (
                "mimeType".to_string(),
                AttributeValue::S("image/jpeg".into()),
            ),
            ("size".to_string(), AttributeValue::N("2048".into())),
        ]))
    };
    let keys: Vec<String> = (0..lab)
        .map(|i| format!("patients/{uid}/optimized/docs/lab/{i:05}-scan-q80-1600w.jpg"))
        .collect();
    let list = AttributeValue::L(keys.iter().enumerate().map(|(i, k)| entry(k, i)).collect());
    let preop = format!("patients/{uid}/optimized/docs/preop/front-q80-1600w.jpg");
    app.ctx
        .ddb
        .put_item()
        .table_name(app.ctx.table())
        .item("PK", AttributeValue::S(format!("PATIENT#{uid}")))
        .item("SK", AttributeValue::S("DOCS#PROFILE".into()))
        .item("lab_reports", list)
        .item("preop_pics", AttributeValue::L(vec![entry(&preop, 0)]))
        .item("version", AttributeValue::N("7".into()))
        .item(
            "created_at",
            AttributeValue::S("2025-01-01T00:00:00.000Z".into()),
        )
        .send()
        .await
        .expect("seed the earlier record");
    keys
}

#[tokio::test]
async fn an_earlier_record_reads_the_same_and_moves_to_entries_on_its_next_write() {
    // Given a record in the single-item layout
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let keys = seed_legacy_record(&app, &uid, 12).await;
    let before = app.get(&format!("/patients/{uid}/documents")).await.body;
    assert_eq!(keys_of(&before["labReports"]), keys);
    assert_eq!(before["version"], 7);
    // When a new document is attached (the record moves to entries)
    let new = app.upload_doc(&uid, "lab").await;
    let r = app.attach_doc(&uid, "lab_reports", &new).await;
    // Then every earlier entry is there once, in order, with all its fields,
    // and the new one follows
    let mut expected = keys.clone();
    expected.push(new.clone());
    let after = &r.body["documents"];
    assert_eq!(keys_of(&after["labReports"]), expected);
    assert_eq!(
        after["labReports"][3]["caption"],
        before["labReports"][3]["caption"]
    );
    assert_eq!(
        after["labReports"][3]["uploadedAt"],
        before["labReports"][3]["uploadedAt"]
    );
    assert_eq!(keys_of(&after["preopPics"]), keys_of(&before["preopPics"]));
    assert_eq!(after["counts"]["labReports"], 13);
    assert_eq!(after["version"], 8);
    // And the summary item holds no lists any more; an earlier entry can be
    // detached, and a repeat attach of one is a no-op
    let items = app.partition(&format!("PATIENT#{uid}")).await;
    let summary = items
        .iter()
        .find(|i| i.get("SK") == Some(&AttributeValue::S("DOCS#PROFILE".into())))
        .unwrap();
    assert!(!summary.contains_key("lab_reports"), "{summary:?}");
    let detach = app
        .post(
            &format!("/patients/{uid}/documents/detach"),
            json!({"category": "lab_reports", "key": keys[0]}),
        )
        .await;
    assert_eq!(detach.status, 200, "{:?}", detach.body);
    assert_eq!(
        keys_of(&detach.body["documents"]["labReports"]),
        expected[1..].to_vec()
    );
}

#[tokio::test]
async fn a_patient_with_thousands_of_entries_gets_bounded_pages_by_category() {
    // Given a record near the single item's 400 KB limit, moved to entries
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let keys = seed_legacy_record(&app, &uid, 2000).await;
    let new = app.upload_doc(&uid, "lab").await;
    let r = app.attach_doc(&uid, "lab_reports", &new).await;
    assert_eq!(r.status, 200);
    // Then the documents answer each category's newest entries, its count
    // and a cursor, and the rest pages by category
    let doc = app.get(&format!("/patients/{uid}/documents")).await;
    assert_eq!(doc.status, 200);
    let labs = keys_of(&doc.body["labReports"]);
    assert_eq!(labs.len(), hms::documents::entries::CATEGORY_PAGE);
    assert_eq!(labs.last(), Some(&new), "newest last, in attach order");
    assert_eq!(doc.body["counts"]["labReports"], 2001);
    assert_eq!(doc.body["preopPics"].as_array().unwrap().len(), 1);
    assert_eq!(doc.body["nextCursors"]["preopPics"], Value::Null);
    let mut cursor = doc.body["nextCursors"]["labReports"]
        .as_str()
        .expect("a cursor for the rest")
        .to_string();
    let mut seen: Vec<String> = labs.iter().rev().cloned().collect();
    loop {
        let page = app
            .get(&format!(
                "/patients/{uid}/documents?category=lab_reports&limit=200&cursor={cursor}"
            ))
            .await;
        assert_eq!(page.status, 200, "{:?}", page.body);
        assert_eq!(page.body["count"], 2001);
        seen.extend(keys_of(&page.body["items"]));
        match page.body["nextCursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => break,
        }
    }
    let mut all = keys.clone();
    all.push(new);
    all.reverse();
    assert_eq!(seen, all, "every entry once, newest first");
}
