//! Theatre and surgery details on the patient, the government-share switch,
//! and the snake_case date names of timeline rows.

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{json, Value};

use crate::support::{unique, writes, App};

const FIELDS: [&str; 6] = [
    "roomNumber",
    "procedureName",
    "tidNumber",
    "tidStatus",
    "surgeryCode",
    "surgeryDate",
];

async fn patient(app: &App, id: &str) -> Value {
    let r = app.get(&format!("/patients/{id}")).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body
}

#[tokio::test]
async fn scheduling_fields_are_set_read_back_and_cleared_on_every_write_route() {
    // Given a patient created with the fields at the top level (snake_case)
    // and inside the registration (camelCase)
    let app = App::new();
    let r = app
        .post(
            "/patients",
            json!({"name": "Sched", "room_number": "W3-12", "tid_number": "TID-12345",
                   "registration": {"mrn": unique("MRN"), "scheme": "ASP", "department": unique("Dept"),
                                    "tidStatus": "PENDING", "surgeryCode": "APP-01",
                                    "surgeryDate": "2026-12-03", "procedureName": "Appendicectomy"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let uid = r.body["patientId"].as_str().unwrap().to_string();
    // Then each is answered and read back (tidStatus normalised)
    let p = patient(&app, &uid).await;
    for (field, value) in [
        ("roomNumber", "W3-12"),
        ("tidNumber", "TID-12345"),
        ("tidStatus", "pending"),
        ("surgeryCode", "APP-01"),
        ("surgeryDate", "2026-12-03"),
        ("procedureName", "Appendicectomy"),
    ] {
        assert_eq!(p[field], value, "{field}: {p:?}");
    }
    assert_eq!(p["govShare"], false);
    // When PUT sends both spellings of one field (they agree), an RFC 3339
    // date, and clears two fields with null and ""
    let r = app
        .call(
            "PUT",
            &format!("/patients/{uid}"),
            Some(json!({"tidStatus": "done", "tid_status": "done",
                        "surgeryDate": "2026-12-04T08:30:00+05:30",
                        "roomNumber": null, "procedure_name": ""})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let p = patient(&app, &uid).await;
    assert_eq!(p["tidStatus"], "done");
    assert_eq!(p["surgeryDate"], "2026-12-04T08:30:00+05:30");
    assert_eq!(p["roomNumber"], Value::Null);
    assert_eq!(p["procedureName"], Value::Null);
    assert_eq!(p["tidNumber"], "TID-12345", "a field not sent stays");
    // When the registration PATCH carries them
    let mrn = p["mrn"].as_str().unwrap().to_string();
    let r = app
        .call(
            "PATCH",
            &format!("/patients/{uid}/registration"),
            Some(json!({"mrn": mrn, "scheme": "EHS", "room_number": "ICU-2", "surgeryCode": null})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["patient"]["roomNumber"], "ICU-2");
    assert_eq!(r.body["patient"]["surgeryCode"], Value::Null);
    assert_eq!(r.body["patient"]["scheme"], "EHS");
}

#[tokio::test]
async fn bad_scheduling_values_are_400_and_change_nothing() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let before = patient(&app, &uid).await;
    for body in [
        json!({"tidStatus": "scheduled"}),
        json!({"surgeryDate": "03/12/2026"}),
        json!({"surgeryDate": "2026-13-40"}),
        json!({"roomNumber": "x".repeat(201)}),
        json!({"tidNumber": 12345}),
        json!({"govShare": "yes"}),
    ] {
        let r = app
            .call("PUT", &format!("/patients/{uid}"), Some(body.clone()))
            .await;
        assert_eq!(r.status, 400, "{body}: {:?}", r.body);
        assert_eq!(writes(&r.calls), 0, "{}", r.calls);
    }
    let r = app
        .post(
            "/patients",
            json!({"name": "Bad", "tidStatus": "later",
                   "registration": {"mrn": unique("MRN"), "scheme": "ASP", "department": "D"}}),
        )
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert_eq!(patient(&app, &uid).await, before);
}

#[tokio::test]
async fn fields_the_nodejs_version_wrote_are_read_back() {
    // Given a patient item carrying the snake_case attributes the Node.js
    // version stored
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let s = |v: &str| AttributeValue::S(v.to_string());
    app.ctx
        .ddb
        .update_item()
        .table_name(app.ctx.table())
        .key("PK", s(&format!("PATIENT#{uid}")))
        .key("SK", s("META_LATEST"))
        .update_expression(
            "SET room_number = :r, procedure_name = :p, tid_number = :t, tid_status = :ts, \
             surgery_code = :c, surgery_date = :d, gov_share = :g",
        )
        .expression_attribute_values(":r", s("B-7"))
        .expression_attribute_values(":p", s("Hernia repair"))
        .expression_attribute_values(":t", s("TID-9"))
        .expression_attribute_values(":ts", s("done"))
        .expression_attribute_values(":c", s("HR-2"))
        .expression_attribute_values(":d", s("2025-06-01"))
        .expression_attribute_values(":g", AttributeValue::Bool(true))
        .send()
        .await
        .expect("seed");
    // Then the Patient JSON shows them
    let p = patient(&app, &uid).await;
    let values: Vec<&Value> = FIELDS.iter().map(|f| &p[*f]).collect();
    assert_eq!(
        values,
        [
            "B-7",
            "Hernia repair",
            "TID-9",
            "done",
            "HR-2",
            "2025-06-01"
        ]
    );
    assert_eq!(p["govShare"], true);
}

#[tokio::test]
async fn the_gov_share_switch_is_one_write_and_refuses_anything_but_a_boolean() {
    // Given a patient, not shared
    let app = App::new();
    let (uid, mrn) = app.create_patient().await;
    let path = format!("/patients/{mrn}/documents/gov-share");
    // When sharing is switched on by MRN
    let r = app.call("PATCH", &path, Some(json!({"share": true}))).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["message"], "gov-share-updated");
    assert_eq!(r.body["shared"], true);
    assert_eq!(r.body["patient"]["govShare"], true);
    assert_eq!(
        r.calls.0.get("DynamoDB.TransactWriteItems"),
        Some(&1),
        "{}",
        r.calls
    );
    assert_eq!(patient(&app, &uid).await["govShare"], true);
    // Then anything but {share: boolean} is a 400 that leaves it on
    for body in [
        "{not json",
        "",
        "{}",
        r#"{"share": "false"}"#,
        r#"{"share": 0}"#,
        "[]",
    ] {
        let r = app.raw("PATCH", &path, body).await;
        assert_eq!(r.status, 400, "{body}: {:?}", r.body);
        assert_eq!(writes(&r.calls), 0, "{}", r.calls);
    }
    assert_eq!(patient(&app, &uid).await["govShare"], true);
    // And switching it off is recorded in the ledger
    let r = app
        .call("PATCH", &path, Some(json!({"share": false})))
        .await;
    assert_eq!(r.body["shared"], false);
    let ledger = app.get(&format!("/patients/{uid}/audit")).await;
    let actions: Vec<&Value> = ledger.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["action"])
        .collect();
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == "patient.gov-share")
            .count(),
        2
    );
    let r = app
        .call(
            "PATCH",
            "/patients/nobody/documents/gov-share",
            Some(json!({"share": true})),
        )
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn timeline_rows_also_carry_snake_case_dates() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let r = app
        .call(
            "PATCH",
            &format!("/patients/{uid}/state"),
            Some(json!({"currentState": "preop"})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let rows = app.get(&format!("/patients/{uid}/timeline")).await.body;
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for row in rows {
        assert_eq!(row["date_in"], row["dateIn"], "{row:?}");
        assert_eq!(row["date_out"], row["dateOut"], "{row:?}");
    }
    assert!(rows[0]["date_out"].is_string());
    assert!(rows[1]["date_out"].is_null());
}
