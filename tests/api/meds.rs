//! Medications: create with defaults and validation, creation-ordered pages
//! with cursors, `?active=1`, partial edits that never create items, stopping
//! (end = now) and files.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use crate::support::{unique, App};

fn med_body(name: &str) -> Value {
    json!({"name": name, "dose": "500 mg", "route": "PO", "freq": "TDS",
           "start": "2025-08-20T08:00:00Z"})
}

async fn create_med(app: &App, id: &str, body: Value) -> Value {
    let r = app.post(&format!("/patients/{id}/meds"), body).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["med"].clone()
}

fn id_of(med: &Value) -> String {
    med["medId"].as_str().expect("medId").to_string()
}

fn ids(items: &Value) -> Vec<String> {
    items.as_array().expect("items").iter().map(id_of).collect()
}

fn in_hours(hours: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::hours(hours))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[tokio::test]
async fn create_fills_defaults_and_normalises_times() {
    let app = App::new();
    let (uid, mrn) = app.create_patient().await;
    let r = app
        .post(
            &format!("/patients/{uid}/meds"),
            json!({"name": "Paracetamol", "dose": "1 g", "route": "IV", "freq": "QID",
                   "start": "2025-08-20T10:00:00+02:00"}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["message"], "created");
    let med = &r.body["med"];
    assert_eq!(med["patientId"], uid.as_str());
    assert_eq!(med["name"], "Paracetamol");
    assert_eq!(med["dose"], "1 g");
    assert_eq!(med["route"], "IV");
    assert_eq!(med["freq"], "QID");
    assert_eq!(med["start"], "2025-08-20T08:00:00.000Z");
    assert_eq!(med["end"], Value::Null);
    assert_eq!(med["priority"], "routine");
    assert_eq!(med["scheduleTimes"], json!([]));
    assert_eq!(med["files"], json!([]));
    assert_eq!(med["mrn"], mrn.as_str());
    assert_eq!(med["scheme"], "GENERAL");
    assert!(med["createdAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(med["createdAt"], med["updatedAt"]);
    assert_eq!(r.calls.get("DynamoDB.BatchGetItem"), 1, "{}", r.calls);
    // The medication and its ledger entry, in one transaction
    assert_eq!(r.calls.get("DynamoDB.TransactWriteItems"), 1, "{}", r.calls);

    // snake_case, an MRN for the patient, and every optional field
    let r = app
        .post(
            &format!("/patients/{mrn}/meds"),
            json!({"name": "Heparin", "dose": "5000 IU", "route": "SC", "freq": "BD",
                   "start": "2025-08-20T08:00:00.000Z", "end": "2025-08-27T08:00:00.000Z",
                   "priority": "critical", "schedule_times": ["08:00", "20:00"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let med = &r.body["med"];
    assert_eq!(med["patientId"], uid.as_str());
    assert_eq!(med["priority"], "critical");
    assert_eq!(med["scheduleTimes"], json!(["08:00", "20:00"]));
    assert_eq!(med["end"], "2025-08-27T08:00:00.000Z");
}

#[tokio::test]
async fn create_rejects_bad_input_and_writes_nothing() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let path = format!("/patients/{uid}/meds");
    let without = |field: &str| {
        let mut body = med_body("x");
        body.as_object_mut().unwrap().remove(field);
        (body, field.to_string())
    };
    let mut cases: Vec<(Value, String)> = ["name", "dose", "route", "freq", "start"]
        .into_iter()
        .map(without)
        .collect();
    let with = |field: &str, value: Value| {
        let mut body = med_body("x");
        body[field] = value;
        (body, field.to_string())
    };
    cases.extend([
        with("start", json!("next tuesday")),
        with("end", json!("2025-02-30T00:00:00Z")),
        with("end", json!("2025-08-19T00:00:00Z")),
        with("priority", json!("urgent")),
        with("name", json!("   ")),
        with("scheduleTimes", json!("08:00")),
        with("scheduleTimes", json!([""])),
    ]);
    for (body, named) in cases {
        let r = app.post(&path, body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {:?}", r.body);
        let error = r.body["error"].as_str().unwrap();
        assert!(
            error.contains(&named) || error.contains("Invalid request body"),
            "{body}: {error}"
        );
        assert_eq!(r.calls.total(), 0, "{body}");
    }
    let r = app.raw("POST", &path, "[]").await;
    assert_eq!(r.status, 400);
    let r = app.get(&path).await;
    assert_eq!(r.body["items"], json!([]));
}

#[tokio::test]
async fn the_list_is_in_creation_order_and_active_keeps_running_meds() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let open = id_of(&create_med(&app, &uid, med_body("open-ended")).await);
    let mut future_end = med_body("ends tomorrow");
    future_end["end"] = json!(in_hours(24));
    let future_end = id_of(&create_med(&app, &uid, future_end).await);
    let mut past_end = med_body("ended");
    past_end["start"] = json!(in_hours(-48));
    past_end["end"] = json!(in_hours(-24));
    let past_end = id_of(&create_med(&app, &uid, past_end).await);

    let r = app.get(&format!("/patients/{uid}/meds")).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        ids(&r.body["items"]),
        vec![open.clone(), future_end.clone(), past_end.clone()]
    );
    assert_eq!(r.body["nextCursor"], Value::Null);
    assert_eq!(r.calls.get("DynamoDB.BatchGetItem"), 1, "{}", r.calls);
    assert_eq!(r.calls.get("DynamoDB.Query"), 1, "{}", r.calls);

    let r = app.get(&format!("/patients/{uid}/meds?active=1")).await;
    assert_eq!(
        ids(&r.body["items"]),
        vec![open.clone(), future_end.clone()]
    );

    // Pages of one with an active filter: every running med once
    let mut seen = Vec::new();
    let mut path = format!("/patients/{uid}/meds?active=1&limit=1");
    loop {
        let r = app.get(&path).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert!(r.body["items"].as_array().unwrap().len() <= 1);
        seen.extend(ids(&r.body["items"]));
        match r.body["nextCursor"].as_str() {
            Some(c) => path = format!("/patients/{uid}/meds?active=1&limit=1&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, vec![open, future_end]);
}

#[tokio::test]
async fn cursors_page_through_and_tampered_ones_are_400() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let (other, _) = app.create_patient().await;
    let mut created = Vec::new();
    for i in 0..5 {
        created.push(id_of(
            &create_med(&app, &uid, med_body(&format!("m{i}"))).await,
        ));
    }
    let r = app.get(&format!("/patients/{uid}/meds?limit=2")).await;
    assert_eq!(ids(&r.body["items"]), created[..2].to_vec());
    let cursor = r.body["nextCursor"].as_str().unwrap().to_string();
    let r = app
        .get(&format!("/patients/{uid}/meds?limit=2&cursor={cursor}"))
        .await;
    assert_eq!(ids(&r.body["items"]), created[2..4].to_vec());
    let last = r.body["nextCursor"].as_str().unwrap().to_string();
    let r = app
        .get(&format!("/patients/{uid}/meds?limit=2&cursor={last}"))
        .await;
    assert_eq!(ids(&r.body["items"]), created[4..].to_vec());
    assert_eq!(r.body["nextCursor"], Value::Null);

    let plain = String::from_utf8(URL_SAFE_NO_PAD.decode(&cursor).unwrap()).unwrap();
    let moved = URL_SAFE_NO_PAD.encode(plain.replace(&uid, &other));
    let as_note = URL_SAFE_NO_PAD.encode(plain.replace("MED#", "NOTE#"));
    for bad in [moved, as_note, "x".to_string()] {
        let r = app.get(&format!("/patients/{uid}/meds?cursor={bad}")).await;
        assert_eq!(r.status, 400, "{bad}");
        assert_eq!(r.body["error"], "Invalid cursor");
    }
    let r = app.get(&format!("/patients/{uid}/meds?limit=zero")).await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn edits_set_only_what_is_sent_and_unknown_meds_stay_unknown() {
    let app = App::new();
    let (uid, mrn) = app.create_patient().await;
    let mut body = med_body("Ceftriaxone");
    body["end"] = json!("2025-08-25T08:00:00Z");
    body["scheduleTimes"] = json!(["08:00"]);
    let med = create_med(&app, &uid, body).await;
    let path = format!("/patients/{uid}/meds/{}", id_of(&med));

    let r = app
        .call(
            "PATCH",
            &path,
            Some(json!({"dose": "2 g", "priority": "important", "schedule_times": ["06:00", "18:00"]})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["message"], "updated");
    let edited = &r.body["med"];
    assert_eq!(edited["dose"], "2 g");
    assert_eq!(edited["priority"], "important");
    assert_eq!(edited["scheduleTimes"], json!(["06:00", "18:00"]));
    for unchanged in ["name", "route", "freq", "start", "end", "createdAt", "mrn"] {
        assert_eq!(edited[unchanged], med[unchanged], "{unchanged}");
    }
    // The update and its ledger entry in one transaction, then the item
    assert_eq!(r.calls.get("DynamoDB.TransactWriteItems"), 1, "{}", r.calls);
    assert_eq!(r.calls.get("DynamoDB.GetItem"), 1, "{}", r.calls);

    // end: null clears the end; an MRN addresses the patient
    let r = app
        .call(
            "PATCH",
            &format!("/patients/{mrn}/meds/{}", id_of(&med)),
            Some(json!({"end": null, "start": "2025-08-21T09:30:00+01:00"})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["med"]["end"], Value::Null);
    assert_eq!(r.body["med"]["start"], "2025-08-21T08:30:00.000Z");
    let listed = app.get(&format!("/patients/{uid}/meds")).await;
    assert_eq!(listed.body["items"][0], r.body["med"], "answer = stored");

    for bad in [
        json!({}),
        json!({"colour": "blue"}),
        json!({"priority": "low"}),
        json!({"start": "soon"}),
        json!({"dose": ""}),
        json!({"scheduleTimes": "08:00"}),
    ] {
        let r = app.call("PATCH", &path, Some(bad.clone())).await;
        assert_eq!(r.status, 400, "{bad}: {:?}", r.body);
        assert_eq!(r.calls.total(), 0, "{bad}");
    }

    // An unknown med is a 404 and does not appear afterwards
    let ghost = uuid::Uuid::now_v7().to_string();
    let r = app
        .call(
            "PATCH",
            &format!("/patients/{uid}/meds/{ghost}"),
            Some(json!({"dose": "1 g"})),
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["error"], "Medication not found");
    let listed = app.get(&format!("/patients/{uid}/meds")).await;
    assert_eq!(ids(&listed.body["items"]), vec![id_of(&med)]);
}

#[tokio::test]
async fn delete_stops_a_med_once_and_keeps_it_listed() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let mut body = med_body("Morphine");
    body["end"] = json!(in_hours(72));
    let med = create_med(&app, &uid, body).await;
    let path = format!("/patients/{uid}/meds/{}", id_of(&med));
    let before = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);

    let r = app.call("DELETE", &path, None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["message"], "stopped");
    let end = r.body["med"]["end"].as_str().unwrap().to_string();
    assert!(end >= before && end < in_hours(1), "end {end} is now");
    assert_eq!(r.body["med"]["name"], "Morphine");

    // Stopping again keeps the first end
    let r = app.call("DELETE", &path, None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["med"]["end"], end.as_str());

    let r = app.get(&format!("/patients/{uid}/meds?active=1")).await;
    assert_eq!(r.body["items"], json!([]));
    let r = app.get(&format!("/patients/{uid}/meds")).await;
    assert_eq!(ids(&r.body["items"]), vec![id_of(&med)]);

    let r = app
        .call(
            "DELETE",
            &format!("/patients/{uid}/meds/{}", uuid::Uuid::now_v7()),
            None,
        )
        .await;
    assert_eq!(r.status, 404);
    let r = app.get(&format!("/patients/{uid}/meds")).await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn files_attach_and_detach_on_a_med() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let med_id = id_of(&create_med(&app, &uid, med_body("Insulin")).await);
    let other_id = id_of(&create_med(&app, &uid, med_body("Saline")).await);
    let mut keys = Vec::new();
    for ref_id in [&med_id, &other_id] {
        let answer = app
            .upload(
                &uid,
                json!({"filename": "chart.png", "mimeType": "image/png", "kind": "med", "refId": ref_id}),
                b"\x89PNG bytes",
            )
            .await;
        keys.push(answer["key"].as_str().unwrap().to_string());
    }
    let (key, foreign) = (&keys[0], &keys[1]);
    let attach = format!("/patients/{uid}/meds/{med_id}/files/attach");
    let detach = format!("/patients/{uid}/meds/{med_id}/files/detach");

    let r = app.post(&attach, json!({"key": key})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["message"], "attached");
    assert_eq!(r.body["med"]["files"], json!([key]));
    let r = app.post(&attach, json!({"key": key})).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["med"]["files"], json!([key]), "one copy");
    let r = app.post(&attach, json!({"key": foreign})).await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    let never = format!("patients/{uid}/optimized/meds/{med_id}/1-never-q80-1600w.png");
    let r = app.post(&attach, json!({"key": never})).await;
    assert_eq!(r.status, 404);

    // A med that does not exist cannot get files, even with a real object
    let ghost = uuid::Uuid::now_v7().to_string();
    let answer = app
        .upload(
            &uid,
            json!({"filename": "x.png", "mimeType": "image/png", "kind": "med", "refId": ghost}),
            b"\x89PNG bytes",
        )
        .await;
    let r = app
        .post(
            &format!("/patients/{uid}/meds/{ghost}/files/attach"),
            json!({"key": answer["key"]}),
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["error"], "Medication not found");

    let r = app.post(&detach, json!({"key": key})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["message"], "detached");
    assert_eq!(r.body["med"]["files"], json!([]));
    let r = app.post(&detach, json!({"key": key})).await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn an_unknown_patient_is_404_on_every_meds_route() {
    let app = App::new();
    let ghost = unique("nobody");
    let routes = [
        (
            "POST",
            format!("/patients/{ghost}/meds"),
            Some(med_body("x")),
        ),
        ("GET", format!("/patients/{ghost}/meds"), None),
        (
            "PATCH",
            format!("/patients/{ghost}/meds/m1"),
            Some(json!({"dose": "x"})),
        ),
        ("DELETE", format!("/patients/{ghost}/meds/m1"), None),
        (
            "POST",
            format!("/patients/{ghost}/meds/m1/files/detach"),
            Some(json!({"key": "k"})),
        ),
    ];
    crate::support::assert_unknown_patient(&app, routes.into()).await;
}

#[tokio::test]
async fn an_old_med_with_a_null_end_counts_as_running_and_can_be_stopped() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    // As the old backend wrote it: no med_id or patient_uid, end stored as NULL
    let med_id = uuid::Uuid::now_v7().to_string();
    let mut item = hms::store::key(hms::keys::patient_pk(&uid), hms::keys::med_sk(&med_id));
    item.insert("name".into(), hms::store::s("Aspirin"));
    item.insert("end".into(), AttributeValue::Null(true));
    app.ctx
        .ddb
        .put_item()
        .table_name(app.ctx.table())
        .set_item(Some(item))
        .send()
        .await
        .expect("seeded");

    let r = app.get(&format!("/patients/{uid}/meds?active=1")).await;
    assert_eq!(ids(&r.body["items"]), vec![med_id.clone()]);
    let med = &r.body["items"][0];
    assert_eq!(med["patientId"], uid.as_str());
    assert_eq!(med["priority"], "routine");
    assert_eq!(med["end"], Value::Null);

    let r = app
        .call("DELETE", &format!("/patients/{uid}/meds/{med_id}"), None)
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(r.body["med"]["end"].is_string());
    let r = app.get(&format!("/patients/{uid}/meds?active=1")).await;
    assert_eq!(r.body["items"], json!([]));
}
