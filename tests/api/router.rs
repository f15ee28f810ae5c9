//! Routing, CORS, body parsing and error posture through the real handler.

use serde_json::json;

use crate::support::App;

#[tokio::test]
async fn health_answers_with_the_crate_version() {
    let app = App::new();
    let r = app.get("/health").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body,
        json!({"ok": true, "version": env!("CARGO_PKG_VERSION")})
    );
    assert_eq!(r.headers["content-type"], "application/json; charset=utf-8");
    assert_eq!(r.calls.total(), 0);
}

#[tokio::test]
async fn every_response_carries_cors_headers_and_options_is_204() {
    let app = App::new();
    let r = app.raw("OPTIONS", "/patients/anything/documents", "").await;
    assert_eq!(r.status, 204);
    assert_eq!(r.headers["access-control-allow-origin"], "*");
    assert_eq!(
        r.headers["access-control-allow-methods"],
        "GET,POST,PUT,PATCH,DELETE,OPTIONS"
    );
    assert_eq!(
        r.headers["access-control-allow-headers"],
        "Content-Type,Authorization,X-Break-Glass-Reason"
    );
    let r = app.get("/no/such/route").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body, json!({"error": "Not found"}));
    assert_eq!(r.headers["access-control-allow-origin"], "*");
    let app = App::with_env(&[("CORS_ALLOW_ORIGIN", "https://app.example.org")]);
    let r = app.get("/health").await;
    assert_eq!(
        r.headers["access-control-allow-origin"],
        "https://app.example.org"
    );
}

#[tokio::test]
async fn known_path_with_wrong_method_is_405() {
    let app = App::new();
    let r = app.call("DELETE", "/health", None).await;
    assert_eq!(r.status, 405);
    let r = app.get("/patients/x/documents/attach").await;
    assert_eq!(r.status, 405);
    assert!(r.body["error"].is_string());
}

#[tokio::test]
async fn malformed_or_misshapen_bodies_are_400_and_change_nothing() {
    let app = App::new();
    for body in ["{not json", "\"a string\"", "[1]", ""] {
        let r = app.raw("POST", "/patients", body).await;
        assert_eq!(r.status, 400, "body {body:?}: {:?}", r.body);
        assert!(
            r.body["error"].as_str().unwrap().contains("JSON"),
            "{:?}",
            r.body
        );
        assert_eq!(r.calls.total(), 0, "nothing was written");
    }
    let r = app.raw("POST", "/patients", r#"{"name": 5}"#).await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn bodies_over_one_mebibyte_are_413() {
    let app = App::new();
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(1024 * 1024));
    let r = app.raw("POST", "/patients", &big).await;
    assert_eq!(r.status, 413);
    assert_eq!(r.calls.total(), 0);
}

#[tokio::test]
async fn percent_encoded_ids_and_trailing_slashes_are_accepted() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let r = app.get(&format!("/patients/{uid}/")).await;
    assert_eq!(r.status, 200);
    let mrn = format!("A/B {}", uuid::Uuid::new_v4().simple());
    let r = app
        .post(
            "/patients",
            json!({"name": "P", "registration": {"mrn": mrn, "scheme": "S", "department": "D"}}),
        )
        .await;
    assert_eq!(r.status, 201);
    let encoded = mrn.replace('/', "%2F").replace(' ', "%20");
    let r = app.get(&format!("/patients/{encoded}")).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["mrn"], mrn);
}

#[tokio::test]
async fn no_request_of_the_suite_scans_the_table() {
    // Every request goes through `App::send`, which fails on a Scan; this
    // test also checks the process-wide totals after a mix of routes.
    let app = App::new();
    let (uid, mrn) = app.create_patient().await;
    for path in [
        format!("/patients/{uid}"),
        format!("/patients/{mrn}/documents"),
        format!("/patients/{uid}/files"),
    ] {
        assert_eq!(app.get(&path).await.status, 200);
    }
    assert_eq!(hms::aws_calls::process_totals().get("DynamoDB.Scan"), 0);
}
