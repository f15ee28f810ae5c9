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
const CASES: u32 = 1_000;

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

/// Calls of the API (method and path) with their parameters filled: the
/// patient's uid or MRN, an id-like word, or anything at all.
fn api_call(uid: String, mrn: String) -> impl Strategy<Value = (String, String)> {
    let template = prop::sample::select(vec![
        ("GET", "patients"),
        ("POST", "patients"),
        ("GET", "patients/{p}"),
        ("PUT", "patients/{p}"),
        ("DELETE", "patients/{p}"),
        ("GET", "patients/by-mrn/{x}"),
        ("PATCH", "patients/{p}/state"),
        ("PATCH", "patients/{p}/registration"),
        ("PATCH", "patients/{p}/mrn-history"),
        ("PATCH", "patients/{p}/mrn-overwrite"),
        ("GET", "patients/{p}/timeline"),
        ("GET", "patients/{p}/audit"),
        ("GET", "checklists"),
        ("GET", "checklists/{x}/{x}"),
        ("PUT", "checklists/{x}/{x}"),
        ("DELETE", "checklists/{x}/{x}"),
        ("GET", "patients/{p}/files"),
        ("POST", "patients/{p}/files/presign-upload"),
        ("POST", "patients/{p}/files/presign-download"),
        ("POST", "patients/{p}/files/delete"),
        ("GET", "patients/{p}/documents"),
        ("POST", "patients/{p}/documents/init"),
        ("POST", "patients/{p}/documents/attach"),
        ("POST", "patients/{p}/documents/detach"),
        ("GET", "patients/{p}/notes"),
        ("POST", "patients/{p}/notes"),
        ("PATCH", "patients/{p}/notes/{x}"),
        ("DELETE", "patients/{p}/notes/{x}"),
        ("POST", "patients/{p}/notes/{x}/files/attach"),
        ("GET", "patients/{p}/meds"),
        ("POST", "patients/{p}/meds"),
        ("PATCH", "patients/{p}/meds/{x}"),
        ("DELETE", "patients/{p}/meds/{x}"),
        ("POST", "patients/{p}/meds/{x}/files/detach"),
        ("GET", "patients/{p}/tasks"),
        ("POST", "patients/{p}/tasks"),
        ("PATCH", "patients/{p}/tasks/{x}"),
        ("DELETE", "patients/{p}/tasks/{x}"),
        ("POST", "patients/{p}/tasks/{x}/files/attach"),
        ("GET", "tasks"),
        ("GET", "doctors"),
        ("POST", "doctors"),
        ("GET", "doctors/{x}"),
        ("PATCH", "doctors/{x}"),
        ("DELETE", "doctors/{x}"),
    ]);
    let patient = prop_oneof![
        3 => prop::sample::select(vec![uid, mrn]),
        1 => "[a-zA-Z0-9%._~-]{0,40}",
    ];
    let word = prop_oneof![
        3 => "fuzz-[a-z0-9]{1,8}",
        1 => "[a-zA-Z0-9%._~-]{0,300}",
    ];
    (template, patient, word)
        .prop_map(|((m, t), p, x)| (m.to_string(), t.replace("{p}", &p).replace("{x}", &x)))
}

fn query() -> impl Strategy<Value = String> {
    let pair = (
        prop::sample::select(vec![
            "limit",
            "cursor",
            "presign",
            "department",
            "docType",
            "kind",
            "refId",
            "scope",
            "desc",
            "includeDeleted",
            "active",
            "status",
            "x",
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
        "name",
        "key",
        "keys",
        "category",
        "filename",
        "mimeType",
        "docType",
        "kind",
        "refId",
        "target",
        "quality",
        "maxW",
        "label",
        "currentState",
        "force",
        "mrn",
        "scheme",
        "registration",
        "mrnHistory",
        "content",
        "authorId",
        "title",
        "status",
        "due",
        "in_required",
        "out_required",
        "stamp",
        "replaceOldest",
        "uploadedBy",
        "userId",
        "email",
        "department",
        "age",
        "sex",
        "emergencyContact",
        "checklistInDone",
        "dose",
        "freq",
        "route",
        "start",
        "end",
        "priority",
        "assigneeId",
        "type",
        "role",
        "invalidate",
        "includeSiblings",
        "firstState",
        "actorId",
        "timelineNotes",
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
        prop::sample::select(vec![
            "application/json",
            "text/plain",
            "",
            "application/json; charset=latin1"
        ])
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
    let call = prop_oneof![
        4 => api_call(uid.clone(), mrn.clone()),
        1 => (method(), prop::collection::vec(segment(uid, mrn), 0..7).prop_map(|s| s.join("/"))),
    ];
    let strategy = (call, query(), headers(), body());
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    });
    let statuses = std::sync::Mutex::new(std::collections::BTreeMap::new());
    runner
        .run(&strategy, |((method, path), query, headers, body)| {
            let mut uri = format!("/{path}");
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
            *statuses
                .lock()
                .expect("tally")
                .entry(r.status)
                .or_insert(0u32) += 1;
            if r.status >= 500 {
                return Err(TestCaseError::fail(format!(
                    "{method} {uri} -> {}: {:?}",
                    r.status, r.body
                )));
            }
            if r.status != 204 && !r.body.is_object() && !r.body.is_array() {
                return Err(TestCaseError::fail(format!(
                    "{method} {uri}: body {:?}",
                    r.body
                )));
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let statuses = statuses.into_inner().expect("tally");
    println!("fuzz: {CASES} requests, statuses {statuses:?}");
}
