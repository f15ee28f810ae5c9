//! Property tests (proptest) of the pure parsers and guards that client
//! input reaches: routing, query and body parsing, the S3 key guard and the
//! cursor decoder. None may panic, a rejection is always a 4xx, and the key
//! guard never accepts a key outside the patient's prefix.

use lambda_http::http::Method;
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};

use crate::error::ApiResult;
use crate::http::{self, ApiRequest};
use crate::s3::keys as s3_keys;
use crate::{doctors, files, meds, router, store, tasks};

/// Cases per property: cheap, pure functions.
const CASES: u32 = 3_000;

fn config() -> Config {
    Config {
        cases: CASES,
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..Config::default()
    }
}

fn is_client_error<T>(result: &ApiResult<T>) -> bool {
    result
        .as_ref()
        .err()
        .is_none_or(|e| e.status().is_client_error())
}

fn path() -> impl Strategy<Value = String> {
    let segment = prop_oneof![
        prop::sample::select(vec![
            "patients",
            "by-mrn",
            "documents",
            "attach",
            "files",
            "notes",
            "meds",
            "tasks",
            "doctors",
            "checklists",
            "audit",
            "state",
            "health",
            "u1",
            "..",
            "%2F",
            "%",
        ])
        .prop_map(String::from),
        any::<String>(),
    ];
    prop::collection::vec(segment, 0..8).prop_map(|s| format!("/{}", s.join("/")))
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::GET),
        Just(Method::POST),
        Just(Method::PUT),
        Just(Method::PATCH),
        Just(Method::DELETE),
        Just(Method::HEAD),
        "[A-Z]{1,8}".prop_map(|m| Method::from_bytes(m.as_bytes()).unwrap_or(Method::TRACE)),
    ]
}

/// JSON text of any shape, or bytes that may not be JSON at all.
fn body() -> impl Strategy<Value = Vec<u8>> {
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

fn request(body: Vec<u8>, query: &str) -> ApiRequest {
    ApiRequest {
        body,
        query: http::parse_query(query),
        ..Default::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn routing_any_path_is_a_route_or_a_4xx(method in method(), path in path()) {
        match http::path_segments(&path) {
            Ok(segments) => {
                let routed = router::route(&method, &segments);
                prop_assert!(is_client_error(&routed));
                if let Ok(route) = routed {
                    prop_assert!(route.pattern().starts_with(method.as_str()));
                }
            }
            Err(e) => prop_assert!(e.status().is_client_error()),
        }
    }

    #[test]
    fn bodies_and_queries_parse_or_are_a_400(body in body(), query in ".{0,40}") {
        let req = request(body, &query);
        prop_assert!(is_client_error(&req.limit(50, 200)));
        prop_assert!(is_client_error(&req.json_object()));
        prop_assert!(is_client_error(&files::upload::UploadPlan::from_request(&req)));
        let task = req.json::<tasks::input::TaskBody>().and_then(|b| b.validate());
        prop_assert!(is_client_error(&task));
        let doctor = req
            .json::<doctors::input::DoctorBody>()
            .and_then(|b| b.requested_id().and_then(|_| b.validate()));
        prop_assert!(is_client_error(&doctor));
        let med = req
            .json::<meds::fields::MedFields>()
            .and_then(meds::fields::MedChanges::from_fields);
        prop_assert!(is_client_error(&med));
    }

    #[test]
    fn the_key_guard_keeps_keys_inside_the_patient(
        uid in "[a-z0-9-]{1,36}",
        other in "[a-z0-9-]{1,36}",
        tail in prop::collection::vec(
            prop_oneof![
                Just("..".to_string()), Just(".".to_string()), Just(String::new()),
                Just("%2e%2e".to_string()), Just("a\\b".to_string()), ".{0,12}",
            ],
            0..5,
        ),
        raw in any::<String>(),
    ) {
        let prefix = s3_keys::patient_prefix(&uid);
        for owner in [&uid, &other] {
            let key = format!("{}{}", s3_keys::patient_prefix(owner), tail.join("/"));
            for candidate in [key.as_str(), raw.as_str()] {
                let _ = s3_keys::parse(candidate);
                if s3_keys::check_belongs(&uid, candidate).is_ok() {
                    let rest = candidate.strip_prefix(&prefix);
                    prop_assert!(rest.is_some(), "accepted outside the prefix: {candidate:?}");
                    let rest = rest.unwrap_or_default();
                    prop_assert!(rest.split('/').all(|s| !s.is_empty() && s != "." && s != ".."));
                    prop_assert!(!candidate.contains('\\'));
                    prop_assert!(!candidate.chars().any(char::is_control));
                }
            }
        }
    }

    #[test]
    fn keys_the_service_builds_pass_its_own_guard(
        uid in "[a-z0-9-]{1,36}",
        label in ".{0,40}",
        ref_id in "[A-Za-z0-9_-]{1,64}",
        millis in 0i64..4_102_444_800_000,
    ) {
        // Labels reach the key only through the slug, as in presign-upload.
        let slug = s3_keys::slug(&label);
        let stem = s3_keys::stem(millis, &uuid::Uuid::new_v4(), slug.as_deref());
        let owner = s3_keys::Owner::Entity(s3_keys::EntityKind::Note, ref_id);
        let keys = s3_keys::upload_keys(&uid, &owner, &stem, 80, 1600, "jpg");
        for key in [&keys.optimized, &keys.original, &keys.thumb] {
            prop_assert!(s3_keys::check_belongs(&uid, key).is_ok(), "{key}");
            prop_assert!(s3_keys::parse(key).is_some(), "{key}");
        }
    }

    #[test]
    fn cursors_decode_only_into_their_own_partition(raw in ".{0,80}", pk in ".{1,20}", sk in ".{0,20}") {
        let decoded = store::decode_cursor(&raw, &["PK", "SK"], &[("PK", pk.as_str())]);
        prop_assert!(is_client_error(&decoded));
        if let Ok(item) = decoded {
            prop_assert_eq!(item.get("PK"), Some(&store::s(pk.as_str())));
        }
        let made = store::encode_cursor(&store::key(pk.as_str(), sk.as_str()));
        let made = made.unwrap_or_default();
        let back = store::decode_cursor(&made, &["PK", "SK"], &[("PK", pk.as_str())]);
        prop_assert_eq!(back.ok(), Some(store::key(pk.as_str(), sk.as_str())));
    }
}
