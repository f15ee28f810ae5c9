//! Request bodies of any shape, shared by the unit property tests of each
//! body parser (`src/proptest_support.rs`) and the API fuzz test
//! (`tests/api/fuzz.rs`): one list of the fields the API reads, each given
//! values of any JSON type.

use proptest::prelude::*;
use serde_json::{json, Value};

/// Every body field some route reads (either spelling where both are
/// accepted), so generated bodies reach the parsers' checks.
pub const BODY_FIELDS: &[&str] = &[
    "name",
    "key",
    "keys",
    "category",
    "filename",
    "mimeType",
    "mime_type",
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
    "scheduleTimes",
    "assigneeId",
    "type",
    "role",
    "invalidate",
    "includeSiblings",
    "firstState",
    "actorId",
    "timelineNotes",
];

/// Any JSON value, nested a few levels.
pub fn json_value() -> impl Strategy<Value = Value> {
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
pub fn api_body() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(prop::sample::select(BODY_FIELDS), json_value(), 0..6)
        .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
}

/// Body bytes: mostly API-shaped JSON, also any JSON, bytes that are not
/// JSON at all, and nothing.
pub fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => api_body().prop_map(|v| v.to_string().into_bytes()),
        1 => json_value().prop_map(|v| v.to_string().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..64),
        1 => Just(Vec::new()),
    ]
}
