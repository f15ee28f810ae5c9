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
    // Every request goes through `App::send`, which fails on a Scan (the
    // calls of each request are counted apart: `hms-admin`, whose tests
    // share this process, scans by design, outside any request).
    let app = App::new();
    let (uid, mrn) = app.create_patient().await;
    for path in [
        format!("/patients/{uid}"),
        format!("/patients/{mrn}/documents"),
        format!("/patients/{uid}/files"),
    ] {
        let r = app.get(&path).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.calls.get("DynamoDB.Scan"), 0, "{}", r.calls);
        assert!(r.calls.total() > 0, "{}", r.calls);
    }
}

#[tokio::test]
async fn every_request_gives_one_metrics_document_by_route_pattern() {
    let app = App::new();
    let (uid, _) = app.create_patient().await;
    let r = app.get(&format!("/patients/{uid}")).await;
    assert_eq!(r.status, 200);
    let m = &r.metrics;
    // A CloudWatch EMF document: namespace, dimension sets, metric names
    let directive = &m["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(directive["Namespace"], "HMS");
    assert_eq!(directive["Dimensions"], json!([["Route"], []]));
    let names: Vec<&str> = directive["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["Name"].as_str())
        .collect();
    for name in [
        "Requests",
        "ClientErrors",
        "ServerErrors",
        "Latency",
        "AwsCalls",
        "DynamoDBCalls",
        "S3Calls",
    ] {
        assert!(names.contains(&name), "{name}: {names:?}");
        assert!(m[name].is_number(), "{name}: {m}");
    }
    assert!(m["_aws"]["Timestamp"].as_u64().is_some());
    // Of this request: its route pattern, never the patient's id
    assert_eq!(m["Route"], "GET /patients/{id}");
    assert_eq!(m["StatusClass"], "2xx");
    assert_eq!(m["Requests"], 1);
    assert_eq!(m["ServerErrors"], 0);
    assert_eq!(m["DynamoDBCalls"], r.calls.service_total("DynamoDB"));
    assert_eq!(m["AwsCalls"], r.calls.total());
    assert!(m["Latency"].as_f64().is_some_and(|l| l > 0.0));
    assert!(!m.to_string().contains(&uid), "{m}");
    // A refused request counts as a client error; an unknown path is "unmatched"
    let r = app.get("/patients/nobody-here/notes").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.metrics["ClientErrors"], 1);
    assert_eq!(r.metrics["StatusClass"], "4xx");
    let r = app.get("/no/such/path").await;
    assert_eq!(r.metrics["Route"], "unmatched");
}

#[tokio::test]
async fn a_sampled_request_sends_one_xray_subsegment_per_aws_call() {
    // Given a daemon listening where Lambda's would
    let daemon = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    daemon
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let addr = daemon.local_addr().unwrap().to_string();
    let app = App::with_env(&[("AWS_XRAY_DAEMON_ADDRESS", &addr)]);
    let (uid, _) = app.create_patient().await;
    // When a sampled request runs
    let trace = "Root=1-6929be00-43cfa122e6205cfbaa3e09d3;Parent=53995c3f42cd8ad8;Sampled=1";
    let r = app
        .call_with(
            None,
            &[("x-amzn-trace-id", trace)],
            "GET",
            &format!("/patients/{uid}/notes"),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    // Then each of its AWS calls arrives as a subsegment of the trace
    let mut operations = Vec::new();
    let mut buf = [0u8; 4096];
    for _ in 0..r.calls.total() {
        let n = daemon.recv(&mut buf).expect("a subsegment");
        let text = std::str::from_utf8(&buf[..n]).unwrap();
        let (head, doc) = text.split_once('\n').unwrap();
        assert_eq!(head, r#"{"format": "json", "version": 1}"#);
        let doc: serde_json::Value = serde_json::from_str(doc).unwrap();
        assert_eq!(doc["trace_id"], "1-6929be00-43cfa122e6205cfbaa3e09d3");
        assert_eq!(doc["parent_id"], "53995c3f42cd8ad8");
        assert!(doc["end_time"].as_f64() >= doc["start_time"].as_f64());
        operations.push(format!(
            "{}.{}",
            doc["name"].as_str().unwrap(),
            doc["aws"]["operation"].as_str().unwrap()
        ));
    }
    operations.sort();
    let mut expected: Vec<String> = r
        .calls
        .0
        .iter()
        .flat_map(|(op, n)| std::iter::repeat_n(op.clone(), *n as usize))
        .collect();
    expected.sort();
    assert_eq!(operations, expected);
    // And the trace id is the request's, in its metrics document too
    assert_eq!(r.metrics["TraceId"], trace);
    // An unsampled request sends none
    let unsampled = "Root=1-6929be00-43cfa122e6205cfbaa3e09d3;Parent=53995c3f42cd8ad8;Sampled=0";
    app.call_with(
        None,
        &[("x-amzn-trace-id", unsampled)],
        "GET",
        &format!("/patients/{uid}"),
        None,
    )
    .await;
    daemon
        .set_read_timeout(Some(std::time::Duration::from_millis(300)))
        .unwrap();
    assert!(
        daemon.recv(&mut buf).is_err(),
        "nothing for an unsampled trace"
    );
}
