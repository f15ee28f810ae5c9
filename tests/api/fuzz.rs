//! Property-based fuzzing of the whole handler against the emulators: any
//! method, path, query, headers and body. Client input never gets a 5xx, and
//! the answer is always a JSON object (or an empty 204).

use lambda_http::http::Request;
use lambda_http::Body;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Value};

use crate::support::App;

/// Cases per run; each is one real request through the emulators.
const CASES: u32 = 400;

fn segment(uid: String, mrn: String) -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "patients", "by-mrn", "documents", "init", "attach", "detach", "files",
            "presign-upload", "presign-download", "delete", "notes", "meds", "tasks",
            "doctors", "checklists", "timeline", "audit", "state", "registration",
            "mrn-history", "mrn-overwrite", "health", "n1", "fuzz-from", "fuzz-to",
        ])
        .prop_map(String::from),
        2 => prop::sample::select(vec![uid, mrn]),
        1 => "[a-zA-Z0-9%._~-]{0,12}",
        1 => any::<String>().prop_map(|s| s.chars().take(20).collect()),
        1 => prop::sample::select(vec!["..", ".", "%2e%2e", "%00", "%ff", "%", "a%2Fb", "\u{202e}"])
            .prop_map(String::from),
    ]
}

fn query() -> impl Strategy<Value = String> {
    let pair = (
        prop::sample::select(vec![
            "limit", "cursor", "presign", "department", "docType", "kind", "refId", "scope",
            "desc", "includeDeleted", "active", "status", "x",
        ]),
        prop_oneof![
            "[a-zA-Z0-9=_-]{0,16}",
            Just("-1".to_string()),
            Just("99999999999999999999".to_string()),
            Just("%zz".to_string()),
        ],
    )
        .prop_map(|(k, v)| format!("{k}={v}"));
    prop::collection::vec(pair, 0..4).prop_map(|pairs| pairs.join("&"))
}

/// JSON values of any shape, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,24}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Bodies shaped like the API's, with fields of any type.
fn api_body() -> impl Strategy<Value = Value> {
    let field = prop::sample::select(vec![
        "name", "key", "keys", "category", "filename", "mimeType", "docType", "kind", "refId",
        "target", "quality", "maxW", "label", "currentState", "force", "mrn", "scheme",
        "registration", "mrnHistory", "content", "authorId", "title", "status", "due",
        "in_required", "out_required", "stamp", "replaceOldest", "uploadedBy", "userId",
        "email", "department", "age", "sex", "emergencyContact", "checklistInDone", "dose",
    ]);
    prop::collection::btree_map(field, json_value(), 0..6)
        .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => api_body().prop_map(|v| v.to_string().into_bytes()),
        1 => json_value().prop_map(|v| v.to_string().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..64),
        1 => Just(Vec::new()),
    ]
}

fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::sample::select(vec!["GET", "POST", "PUT", "PATCH", "DELETE"]).prop_map(String::from),
        1 => prop::sample::select(vec!["HEAD", "OPTIONS", "TRACE", "CONNECT", "FUZZ"]).prop_map(String::from),
    ]
}

fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    let header = prop_oneof![
        prop::sample::select(vec!["application/json", "text/plain", "", "application/json; charset=latin1"])
            .prop_map(|v| ("content-type".to_string(), v.to_string())),
        "[ -~]{0,40}".prop_map(|v| ("authorization".to_string(), v)),
        "[ -~]{0,20}".prop_map(|v| ("x-fuzz".to_string(), v)),
    ];
    prop::collection::vec(header, 0..3)
}

#[test]
fn any_request_gets_a_json_answer_and_never_a_5xx() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let app = App::new();
    let (uid, mrn) = rt.block_on(app.create_patient());
    let strategy = (
        method(),
        prop::collection::vec(segment(uid, mrn), 0..7),
        query(),
        headers(),
        body(),
    );
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    });
    let statuses = std::sync::Mutex::new(std::collections::BTreeMap::new());
    runner
        .run(&strategy, |(method, segments, query, headers, body)| {
            let mut uri = format!("/{}", segments.join("/"));
            if !query.is_empty() {
                uri = format!("{uri}?{query}");
            }
            let mut builder = Request::builder().method(method.as_str()).uri(uri.as_str());
            for (name, value) in &headers {
                builder = builder.header(name.as_str(), value.as_str());
            }
            // Paths the HTTP layer itself refuses never reach a handler.
            let Ok(req) = builder.body(if body.is_empty() {
                Body::Empty
            } else {
                Body::Binary(body.clone())
            }) else {
                return Ok(());
            };
            let r = rt.block_on(app.send(req));
            *statuses.lock().expect("tally").entry(r.status).or_insert(0u32) += 1;
            if r.status >= 500 {
                return Err(TestCaseError::fail(format!(
                    "{method} {uri} -> {}: {:?}",
                    r.status, r.body
                )));
            }
            if r.status != 204 && !r.body.is_object() && !r.body.is_array() {
                return Err(TestCaseError::fail(format!("{method} {uri}: body {:?}", r.body)));
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let statuses = statuses.into_inner().expect("tally");
    println!("fuzz: {CASES} requests, statuses {statuses:?}");
}
