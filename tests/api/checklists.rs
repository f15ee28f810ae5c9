//! The checklist rule routes.

use serde_json::json;

use crate::support::{unique, writes, App};

#[tokio::test]
async fn rules_are_upserted_listed_read_and_removed() {
    let app = App::new();
    let (from, to) = (unique("a"), unique("b"));
    let path = format!("/checklists/{from}/{to}");
    assert_eq!(app.get(&path).await.status, 404);
    let r = app
        .call(
            "PUT",
            &path,
            Some(json!({"inRequired": ["x", " x ", "y"], "outRequired": []})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["rule"]["inRequired"], json!(["x", "y"]));
    let r = app
        .call("PUT", &path, Some(json!({"in_required": ["z"]})))
        .await;
    assert_eq!(r.status, 200);
    let got = app.get(&path).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["from"], from.as_str());
    assert_eq!(got.body["to"], to.as_str());
    assert_eq!(got.body["inRequired"], json!(["z"]));
    assert_eq!(got.body["outRequired"], json!([]));
    let all = app.get("/checklists").await;
    assert!(all
        .body
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["from"] == from.as_str() && r["to"] == to.as_str()));
    assert_eq!(all.calls.get("DynamoDB.Query"), 1);

    // Given a patient in `from`, held back by the rule (in_required ["z"])
    let (uid, _) = app.create_patient().await;
    let state = format!("/patients/{uid}/state");
    let r = app
        .call("PATCH", &state, Some(json!({"currentState": from})))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["message"], "state-updated");
    assert_eq!(r.body["patient"]["currentState"], from.as_str());
    let r = app
        .call("PATCH", &state, Some(json!({"currentState": to})))
        .await;
    assert_eq!(r.status, 409, "the rule binds before removal: {:?}", r.body);
    assert_eq!(r.body["missingIn"], json!(["z"]));
    assert_eq!(writes(&r.calls), 0, "{}", r.calls);

    // When the rule is removed
    let r = app.call("DELETE", &path, None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(app.get(&path).await.status, 404);
    assert_eq!(app.call("DELETE", &path, None).await.status, 404);

    // Then the transition is free again
    let r = app
        .call("PATCH", &state, Some(json!({"currentState": to})))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["message"], "state-updated");
    assert_eq!(r.body["patient"]["currentState"], to.as_str());
}

#[tokio::test]
async fn rule_bodies_are_validated() {
    let app = App::new();
    let path = format!("/checklists/{}/{}", unique("a"), unique("b"));
    for bad in [
        json!({}),
        json!({"inRequired": "consent"}),
        json!({"inRequired": [1]}),
    ] {
        let r = app.call("PUT", &path, Some(bad.clone())).await;
        assert_eq!(r.status, 400, "{bad}");
    }
    assert_eq!(app.raw("PUT", &path, "not json").await.status, 400);
}
