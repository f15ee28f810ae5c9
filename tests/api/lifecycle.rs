//! The patient lifecycle: listing, updates, stage changes with checklist
//! rules, registration switches, MRN history and soft delete.

use serde_json::{json, Value};

use crate::support::{unique, App};

async fn patient_in(app: &App, dept: &str) -> (String, String) {
    let mrn = unique("MRN");
    let r = app
        .post(
            "/patients",
            json!({"name": "P", "registration": {"mrn": mrn, "scheme": "GEN", "department": dept}}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    (r.body["patientId"].as_str().unwrap().to_string(), mrn)
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect()
}

async fn timeline(app: &App, id: &str) -> Vec<Value> {
    let r = app.get(&format!("/patients/{id}/timeline")).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body.as_array().unwrap().clone()
}

#[tokio::test]
async fn department_lists_page_with_a_cursor_header() {
    let app = App::new();
    let dept = unique("Dept");
    let mut created = Vec::new();
    for _ in 0..3 {
        created.push(patient_in(&app, &dept).await.0);
    }
    let first = app
        .get(&format!("/patients?department={dept}&limit=2"))
        .await;
    assert_eq!(first.status, 200);
    assert_eq!(first.body.as_array().unwrap().len(), 2);
    // One Query, then one ledger entry per patient listed (a transaction)
    assert_eq!(
        first.calls.to_string(),
        "DynamoDB.Query x1, DynamoDB.TransactWriteItems x1"
    );
    let cursor = first.headers["x-next-cursor"].to_str().unwrap().to_string();
    let second = app
        .get(&format!(
            "/patients?department={dept}&limit=2&cursor={cursor}"
        ))
        .await;
    let mut all = ids(&first.body);
    all.extend(ids(&second.body));
    all.sort();
    created.sort();
    assert_eq!(all, created);
    let bad = app
        .get(&format!("/patients?department={dept}&cursor=AAAA"))
        .await;
    assert_eq!(bad.status, 400);
    // A cursor of another department's list is refused too
    let other = app
        .get(&format!(
            "/patients?department={}&cursor={cursor}",
            unique("Other")
        ))
        .await;
    assert_eq!(other.status, 400);
}

#[tokio::test]
async fn all_active_patients_come_from_an_index_and_exclude_deleted_ones() {
    let app = App::new();
    let dept = unique("Dept");
    let (kept, mrn) = patient_in(&app, &dept).await;
    let (gone, _) = patient_in(&app, &dept).await;
    let r = app.call("DELETE", &format!("/patients/{gone}"), None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["message"], "soft-deleted");
    assert_eq!(r.body["patient"]["status"], "INACTIVE");
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/patients?limit=1000&cursor={c}"),
            None => "/patients?limit=1000".to_string(),
        };
        let r = app.get(&path).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.calls.get("DynamoDB.Query"), 1, "{}", r.calls);
        assert_eq!(r.calls.get("DynamoDB.Scan"), 0);
        seen.extend(ids(&r.body));
        match r.headers.get("x-next-cursor") {
            Some(c) => cursor = Some(c.to_str().unwrap().to_string()),
            None => break,
        }
    }
    assert!(seen.contains(&kept));
    assert!(!seen.contains(&gone));
    assert_eq!(
        ids(&app.get(&format!("/patients?department={dept}")).await.body),
        vec![kept.clone()]
    );
    // A deleted patient is still readable
    assert_eq!(
        app.get(&format!("/patients/{gone}")).await.body["status"],
        "INACTIVE"
    );
    // ?mrn= behaves like GET /patients/{mrn}
    let by_query = app.get(&format!("/patients?mrn={mrn}")).await;
    assert_eq!(by_query.body["id"], kept.as_str());
}

#[tokio::test]
async fn put_updates_fields_in_either_case_and_keeps_index_keys_in_sync() {
    let app = App::new();
    let dept = unique("Dept");
    let new_dept = unique("Dept");
    let (uid, mrn) = patient_in(&app, &dept).await;
    let r = app
        .call(
            "PUT",
            &format!("/patients/{mrn}"),
            Some(json!({"diagnosis": "Appendicitis", "assigned_doctor": "Dr B", "assignedDoctorId": "d-2",
                        "department": new_dept, "isUrgent": true, "urgent_reason": "pain", "age": 33, "unknownField": 1})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["message"], "updated");
    let p = &r.body["patient"];
    assert_eq!(p["diagnosis"], "Appendicitis");
    assert_eq!(p["assignedDoctor"], "Dr B");
    assert_eq!(p["assignedDoctorId"], "d-2");
    assert_eq!(p["urgentReason"], "pain");
    assert_eq!(p["age"], 33);
    assert_eq!(p["updateCounter"], 1);
    assert!(ids(&app.get(&format!("/patients?department={dept}")).await.body).is_empty());
    assert_eq!(
        ids(&app
            .get(&format!("/patients?department={new_dept}"))
            .await
            .body),
        vec![uid.clone()]
    );

    for bad in [
        json!({}),
        json!({"unknown": 1}),
        json!({"status": "sleeping"}),
        json!({"name": ""}),
        json!({"age": "x"}),
    ] {
        let r = app
            .call("PUT", &format!("/patients/{uid}"), Some(bad.clone()))
            .await;
        assert_eq!(r.status, 400, "{bad}: {:?}", r.body);
    }
    let r = app
        .call(
            "PUT",
            &format!("/patients/{}", unique("ghost")),
            Some(json!({"diagnosis": "x"})),
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(
        app.get(&format!("/patients/{uid}")).await.body["updateCounter"],
        1,
        "failed updates wrote nothing"
    );
}

#[tokio::test]
async fn put_with_current_state_changes_stage_like_the_state_route() {
    let app = App::new();
    let (uid, _) = patient_in(&app, &unique("Dept")).await;
    let r = app
        .call(
            "PUT",
            &format!("/patients/{uid}"),
            Some(json!({"currentState": "preop", "diagnosis": "x"})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["patient"]["currentState"], "preop");
    assert_eq!(r.body["patient"]["diagnosis"], "x");
    let rows = timeline(&app, &uid).await;
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["state"], "onboarding");
    assert!(rows[0]["dateOut"].is_string());
    assert_eq!(rows[1]["state"], "preop");
    assert_eq!(rows[1]["dateOut"], Value::Null);
    // Same state again: fields only, no new row
    let r = app
        .call(
            "PUT",
            &format!("/patients/{uid}"),
            Some(json!({"current_state": "preop"})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(timeline(&app, &uid).await.len(), 2);
}

#[tokio::test]
async fn state_changes_follow_checklist_rules() {
    let app = App::new();
    let (uid, mrn) = patient_in(&app, &unique("Dept")).await;
    let (from, to) = (unique("ward"), unique("theatre"));
    // No rule: allowed; by UID a read and one transaction
    let r = app
        .call(
            "PATCH",
            &format!("/patients/{uid}/state"),
            Some(json!({"currentState": from})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["message"], "state-updated");
    assert_eq!(
        r.calls.to_string(),
        "DynamoDB.BatchGetItem x1, DynamoDB.TransactWriteItems x1"
    );
    let r = app
        .call(
            "PATCH",
            &format!("/patients/{uid}/state"),
            Some(json!({"currentState": from})),
        )
        .await;
    assert_eq!(r.body["message"], "no-op");
    assert_eq!(r.calls.get("DynamoDB.TransactWriteItems"), 0);

    let rule = app
        .call(
            "PUT",
            &format!("/checklists/{from}/{to}"),
            Some(json!({"inRequired": ["consent", "fasting"], "out_required": ["handover"]})),
        )
        .await;
    assert_eq!(rule.status, 200, "{:?}", rule.body);
    let path = format!("/patients/{mrn}/state");
    let r = app
        .call(
            "PATCH",
            &path,
            Some(json!({"currentState": to, "checklistInDone": ["consent"]})),
        )
        .await;
    assert_eq!(r.status, 409, "{:?}", r.body);
    assert_eq!(r.body["missingIn"], json!(["fasting"]));
    assert_eq!(r.body["missingOut"], json!(["handover"]));
    assert_eq!(
        app.get(&format!("/patients/{uid}")).await.body["currentState"],
        from.as_str()
    );

    let r = app
        .call(
            "PATCH",
            &path,
            Some(json!({"currentState": to, "checklistInDone": ["consent", "fasting"], "checklistOutDone": ["handover"],
                        "actorId": "doc-1", "timelineNotes": "to theatre"})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["patient"]["currentState"], to.as_str());
    let rows = timeline(&app, &uid).await;
    let closed = &rows[rows.len() - 2];
    let open = &rows[rows.len() - 1];
    assert_eq!(closed["requiredOut"], json!(["handover"]));
    assert_eq!(closed["checklistOut"], json!(["handover"]));
    assert_eq!(open["requiredIn"], json!(["consent", "fasting"]));
    assert_eq!(open["checklistIn"], json!(["consent", "fasting"]));
    assert_eq!(open["actorId"], "doc-1");
    assert_eq!(open["notes"], "to theatre");

    // force overrides a rule
    let (uid2, _) = patient_in(&app, &unique("Dept")).await;
    let r = app
        .call(
            "PATCH",
            &format!("/patients/{uid2}/state"),
            Some(json!({"currentState": from})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["message"], "state-updated");
    assert_eq!(r.body["patient"]["currentState"], from.as_str());
    let r = app
        .call(
            "PATCH",
            &format!("/patients/{uid2}/state"),
            Some(json!({"currentState": to, "force": true})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["message"], "state-updated");
    assert_eq!(r.body["patient"]["currentState"], to.as_str());
    // The forced row still records what the rule required
    let rows = timeline(&app, &uid2).await;
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[1]["requiredOut"], json!(["handover"]));
    assert_eq!(rows[1]["checklistOut"], json!([]));
    assert_eq!(rows[2]["state"], to.as_str());
    assert_eq!(rows[2]["requiredIn"], json!(["consent", "fasting"]));
    assert_eq!(rows[2]["checklistIn"], json!([]));
    assert_eq!(rows[2]["dateOut"], Value::Null);

    for bad in [
        json!({}),
        json!({"currentState": ""}),
        json!({"currentState": 5}),
    ] {
        assert_eq!(app.call("PATCH", &path, Some(bad)).await.status, 400);
    }
}

#[tokio::test]
async fn a_rule_written_before_the_summary_existed_is_still_enforced() {
    let app = App::new();
    let (uid, _) = patient_in(&app, &unique("Dept")).await;
    let to = unique("legacy");
    // Given a rule item as the earlier backend wrote it (no summary mirror)
    app.ctx
        .ddb
        .put_item()
        .table_name(crate::support::TABLE)
        .item("PK", hms::store::s("CHECKLIST"))
        .item("SK", hms::store::s(format!("STAGE#onboarding#TO#{to}")))
        .item(
            "in_required",
            aws_sdk_dynamodb::types::AttributeValue::L(vec![hms::store::s("consent")]),
        )
        .send()
        .await
        .unwrap();
    let r = app
        .call(
            "PATCH",
            &format!("/patients/{uid}/state"),
            Some(json!({"currentState": to})),
        )
        .await;
    assert_eq!(r.status, 409, "{:?}", r.body);
    assert_eq!(r.body["missingIn"], json!(["consent"]));
    let r = app
        .call(
            "PATCH",
            &format!("/patients/{uid}/state"),
            Some(json!({"currentState": to, "checklistInDone": ["consent"]})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}

#[tokio::test]
async fn registration_switch_moves_the_active_mrn() {
    let app = App::new();
    let (uid, old_mrn) = patient_in(&app, &unique("Dept")).await;
    let (_, taken) = patient_in(&app, &unique("Dept")).await;
    let path = format!("/patients/{uid}/registration");
    // An MRN of another patient: 409 and nothing changes
    let r = app
        .call(
            "PATCH",
            &path,
            Some(json!({"mrn": taken, "scheme": "PMJAY"})),
        )
        .await;
    assert_eq!(r.status, 409, "{:?}", r.body);
    let before = app.get(&format!("/patients/{uid}")).await.body;
    assert_eq!(before["mrn"], old_mrn.as_str());
    assert_eq!(before["mrnHistory"].as_array().unwrap().len(), 1);
    assert_eq!(timeline(&app, &uid).await.len(), 1);

    let new_mrn = unique("MRN");
    let r = app
        .call("PATCH", &path, Some(json!({"mrn": new_mrn, "scheme": "PMJAY", "department": "Ortho", "first_state": "admitted"})))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["message"], "registration-switched");
    assert_eq!(r.body["latestMrn"], new_mrn.as_str());
    let p = &r.body["patient"];
    assert_eq!(p["scheme"], "PMJAY");
    assert_eq!(p["department"], "Ortho");
    assert_eq!(p["currentState"], "admitted");
    assert_eq!(p["mrnHistory"].as_array().unwrap().len(), 2);
    // Both MRNs still lead to the patient
    assert_eq!(
        app.get(&format!("/patients/{new_mrn}")).await.body["id"],
        uid.as_str()
    );
    assert_eq!(
        app.get(&format!("/patients/{old_mrn}")).await.body["id"],
        uid.as_str()
    );
    let rows = timeline(&app, &uid).await;
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1]["mrn"], new_mrn.as_str());
    assert_eq!(rows[1]["scheme"], "PMJAY");
    assert_eq!(
        app.call("PATCH", &path, Some(json!({"scheme": "X"})))
            .await
            .status,
        400
    );
}

#[tokio::test]
async fn mrn_history_is_replaced_and_must_keep_the_active_mrn() {
    let app = App::new();
    let (uid, mrn) = patient_in(&app, &unique("Dept")).await;
    let path = format!("/patients/{uid}/mrn-history");
    let r = app
        .call("PATCH", &path, Some(json!({"mrnHistory": [{"mrn": "OLD-1", "date": "2020-01-01T00:00:00Z"}, {"scheme": "x"}, {"mrn": mrn, "scheme": "GEN"}]})))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["message"], "mrn-history-updated");
    let h = &r.body["patient"]["mrnHistory"];
    assert_eq!(h.as_array().unwrap().len(), 2);
    assert_eq!(
        h[0],
        json!({"mrn": "OLD-1", "scheme": "Unknown", "date": "2020-01-01T00:00:00.000Z"})
    );
    let r = app
        .call(
            "PATCH",
            &path,
            Some(json!({"mrnHistory": [{"mrn": "OTHER"}]})),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = app
        .call(
            "PATCH",
            &path,
            Some(json!({"mrnHistory": [{"mrn": mrn, "date": "last week"}]})),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(app.call("PATCH", &path, Some(json!({}))).await.status, 400);
}

#[tokio::test]
async fn mrn_overwrite_makes_the_latest_entry_active() {
    let app = App::new();
    let (uid, mrn) = patient_in(&app, &unique("Dept")).await;
    let setup = app
        .call(
            "PATCH",
            &format!("/patients/{uid}/state"),
            Some(json!({"currentState": "ward"})),
        )
        .await;
    assert_eq!(setup.status, 200, "{:?}", setup.body);
    let newest = unique("MRN");
    let r = app
        .call(
            "PATCH",
            &format!("/patients/{uid}/mrn-overwrite"),
            Some(json!({"mrnHistory": [{"mrn": mrn, "scheme": "GEN", "date": "2024-01-01T00:00:00.000Z"},
                                      {"mrn": newest, "scheme": "CGHS", "date": "2025-06-01T00:00:00.000Z"}]})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["message"], "mrn-overwrite-updated");
    assert_eq!(r.body["patient"]["mrn"], newest.as_str());
    assert_eq!(r.body["patient"]["scheme"], "CGHS");
    assert_eq!(
        r.body["patient"]["currentState"], "ward",
        "a correction keeps the stage"
    );
    assert_eq!(
        app.get(&format!("/patients/{newest}")).await.body["id"],
        uid.as_str()
    );
}

#[tokio::test]
async fn concurrent_updates_of_different_fields_are_all_kept() {
    // Under DynamoDB's transaction conflicts, five edits of one patient at once
    let (app, _proxy) = App::with_conflicts();
    let (uid, _) = patient_in(&app, &unique("Dept")).await;
    let path = format!("/patients/{uid}");
    let bodies = [
        json!({"diagnosis": "d"}),
        json!({"pathway": "p"}),
        json!({"sex": "F"}),
        json!({"filesUrl": "f"}),
        json!({"urgentReason": "u"}),
    ];
    let results = futures::future::join_all(
        bodies
            .iter()
            .map(|b| app.call("PUT", &path, Some(b.clone()))),
    )
    .await;
    // all succeed (re-read and re-applied on a lost race, never a 409 or 503)
    assert!(
        results.iter().all(|r| r.status == 200),
        "{:?}",
        results
            .iter()
            .map(|r| (r.status, &r.body))
            .collect::<Vec<_>>()
    );
    let ok = results.len();
    let p = app.get(&path).await.body;
    let kept = ["diagnosis", "pathway", "sex", "filesUrl", "urgentReason"]
        .iter()
        .filter(|f| !p[**f].is_null())
        .count();
    assert_eq!(kept, ok, "every acknowledged update is stored: {p}");
    assert_eq!(p["updateCounter"], ok as u64);
}

#[tokio::test]
async fn timeline_orders_and_limits() {
    let app = App::new();
    let (uid, _) = patient_in(&app, &unique("Dept")).await;
    for state in ["a", "b", "c"] {
        let r = app
            .call(
                "PATCH",
                &format!("/patients/{uid}/state"),
                Some(json!({"currentState": state})),
            )
            .await;
        assert_eq!(r.status, 200);
    }
    let states = |rows: &Value| {
        rows.as_array()
            .unwrap()
            .iter()
            .map(|r| r["state"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let asc = app.get(&format!("/patients/{uid}/timeline")).await;
    assert_eq!(states(&asc.body), vec!["onboarding", "a", "b", "c"]);
    let desc = app
        .get(&format!("/patients/{uid}/timeline?desc=1&limit=2"))
        .await;
    assert_eq!(states(&desc.body), vec!["c", "b"]);
    let row = &asc.body[1];
    for field in [
        "timelineId",
        "patientId",
        "mrn",
        "scheme",
        "dateIn",
        "createdAt",
        "updatedAt",
    ] {
        assert!(row[field].is_string(), "{field}");
    }
    assert_eq!(
        app.get(&format!("/patients/{uid}/timeline?limit=x"))
            .await
            .status,
        400
    );
    assert_eq!(
        app.get(&format!("/patients/{}/timeline", unique("ghost")))
            .await
            .status,
        404
    );
}
