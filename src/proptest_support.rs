//! What the property tests of client-facing parsers and guards share: the
//! proptest settings, "a rejection is a 4xx", request bodies of any shape.

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};

use crate::error::ApiResult;
use crate::http::{self, ApiRequest};

/// Cases per property: cheap, pure functions.
const CASES: u32 = 3_000;

pub fn config() -> Config {
    Config {
        cases: CASES,
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..Config::default()
    }
}

/// Accepted, or refused with a 4xx (never a 5xx, never a panic).
pub fn is_client_error<T>(result: &ApiResult<T>) -> bool {
    result
        .as_ref()
        .err()
        .is_none_or(|e| e.status().is_client_error())
}

/// JSON text of any shape, or bytes that may not be JSON at all.
pub fn body() -> impl Strategy<Value = Vec<u8>> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        ".{0,16}".prop_map(serde_json::Value::String),
    ];
    let fields = prop::sample::select(vec![
        "filename",
        "mimeType",
        "mime_type",
        "target",
        "kind",
        "docType",
        "refId",
        "quality",
        "maxW",
        "label",
        "title",
        "type",
        "due",
        "status",
        "assigneeId",
        "priority",
        "name",
        "dose",
        "start",
        "end",
        "scheduleTimes",
        "userId",
        "email",
        "role",
        "department",
    ]);
    let value = leaf.prop_recursive(2, 12, 4, |inner| {
        prop::collection::vec(inner, 0..3).prop_map(serde_json::Value::Array)
    });
    prop_oneof![
        3 => prop::collection::btree_map(fields, value, 0..8).prop_map(|m| {
            serde_json::Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
                .to_string()
                .into_bytes()
        }),
        1 => prop::collection::vec(any::<u8>(), 0..48),
    ]
}

/// A request carrying `body` and the query string `query`.
pub fn request(body: Vec<u8>, query: &str) -> ApiRequest {
    ApiRequest {
        body,
        query: http::parse_query(query),
        ..Default::default()
    }
}
