//! Property-based fuzzing of the whole handler against the emulators: any
//! method, path, query, headers and body, and valid calls with the ids of
//! real entities, so success paths run too. Oracle: no 5xx; a JSON answer
//! (or an empty 204) with CORS headers; an error is `{"error": "..."}`; and a
//! refused request (4xx) changes nothing (the patient's items, its ledger,
//! the checklist rules and the doctor are compared before and after).
//!
//! It runs twice: with authentication off, and with it on, where every
//! request carries a token of a random caller (any role set, in the
//! patient's department or not, breaking glass or not), a malformed or
//! foreign one, or none; valid calls carry an admin's.
//!
//! Seeded and replayable: `HMS_FUZZ_SEED=<u64>` replays a run (the seed is
//! printed; a fixed one is the default, so CI runs the same cases).

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::AttributeValue;
use hms::store::Item;
use lambda_http::http::Request;
use lambda_http::Body;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use serde_json::{json, Value};

use crate::support::{is_read_action, App};

#[path = "../common/strategies.rs"]
mod strategies;
use strategies::body;

/// The run's seed, from `HMS_FUZZ_SEED` or the default.
fn seed() -> u64 {
    std::env::var("HMS_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x4853_4d46_555a_5a31)
}

/// Real entities of the fuzzed patient, so paths and bodies can name them.
#[derive(Clone, Debug)]
struct Ids {
    uid: String,
    mrn: String,
    note: String,
    med: String,
    task: String,
    doctor: String,
    document: String,
    /// The patient's department (its staff's `dept:` group).
    department: String,
}

/// Cases per run; each is one real request through the emulators.
const CASES: u32 = 1_000;
/// Cases of the run with authentication on.
const AUTH_CASES: u32 = 600;

/// How the fuzzed app authenticates.
enum Mode {
    Open,
    /// Tokens of these callers are drawn for random requests; `admin` (an
    /// admin and clinician of the patient's department) signs valid calls.
    Tokens {
        callers: Vec<String>,
        admin: String,
    },
}

/// Authorization headers for a random request: a caller's token (with or
/// without a break-glass reason), a token of an unknown key, garbage, none.
fn authorization(callers: Vec<String>) -> impl Strategy<Value = Vec<(String, String)>> {
    let stranger = crate::jwt::Signer::rsa("fuzz-stranger").token("x", &["admin"]);
    let bearer = |t: String| ("authorization".to_string(), format!("Bearer {t}"));
    let glass = (
        "x-break-glass-reason".to_string(),
        "fuzz emergency".to_string(),
    );
    prop_oneof![
        4 => (prop::sample::select(callers), any::<bool>()).prop_map(move |(t, g)| {
            let mut headers = vec![bearer(t)];
            if g {
                headers.push(glass.clone());
            }
            headers
        }),
        1 => Just(vec![bearer(stranger)]),
        1 => "[ -~]{0,60}".prop_map(|v| vec![("authorization".to_string(), v)]),
        1 => Just(Vec::new()),
    ]
}

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
/// patient's uid or MRN, a real entity's id, an id-like word, or anything at
/// all. The third element names the route template, for the tally.
fn api_call(ids: &Ids) -> impl Strategy<Value = (String, String, String)> {
    let (uid, mrn) = (ids.uid.clone(), ids.mrn.clone());
    let real = vec![
        ids.note.clone(),
        ids.med.clone(),
        ids.task.clone(),
        ids.doctor.clone(),
    ];
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
        ("GET", "patients/{p}/notes/{x}/versions"),
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
        3 => prop::sample::select(real),
        2 => "fuzz-[a-z0-9]{1,8}",
        1 => "[a-zA-Z0-9%._~-]{0,300}",
    ];
    (template, patient, word).prop_map(|((m, t), p, x)| {
        (
            m.to_string(),
            t.replace("{p}", &p).replace("{x}", &x),
            format!("{m} {t}"),
        )
    })
}

/// Valid calls with valid bodies naming real entities: each should succeed.
fn valid_call(ids: &Ids) -> impl Strategy<Value = (String, String, Value)> {
    let p = format!("patients/{}", ids.uid);
    let calls: Vec<(&str, String, Value)> = vec![
        ("GET", p.clone(), Value::Null),
        ("PUT", p.clone(), json!({"diagnosis": "fuzz"})),
        (
            "PATCH",
            format!("{p}/state"),
            json!({"currentState": "fuzz-stage"}),
        ),
        (
            "PATCH",
            format!("{p}/state"),
            json!({"currentState": "onboarding"}),
        ),
        ("GET", format!("{p}/timeline"), Value::Null),
        ("GET", format!("{p}/audit"), Value::Null),
        (
            "POST",
            format!("{p}/notes"),
            json!({"authorId": "dr-f", "category": "nurseNote", "content": "fuzz"}),
        ),
        (
            "PATCH",
            format!("{p}/notes/{}", ids.note),
            json!({"content": "fuzz edit"}),
        ),
        ("GET", format!("{p}/notes"), Value::Null),
        (
            "POST",
            format!("{p}/meds"),
            json!({"name": "Drug", "dose": "1 mg", "route": "oral", "freq": "OD", "start": "2030-01-01T00:00:00Z"}),
        ),
        (
            "PATCH",
            format!("{p}/meds/{}", ids.med),
            json!({"dose": "2 mg"}),
        ),
        ("GET", format!("{p}/meds"), Value::Null),
        (
            "POST",
            format!("{p}/tasks"),
            json!({"title": "Fuzz", "type": "lab", "due": "2030-01-01T10:00:00Z", "assigneeId": "dr-f"}),
        ),
        (
            "PATCH",
            format!("{p}/tasks/{}", ids.task),
            json!({"status": "in-progress"}),
        ),
        ("GET", format!("{p}/tasks"), Value::Null),
        (
            "POST",
            format!("{p}/files/presign-upload"),
            json!({"filename": "a.jpg", "mimeType": "image/jpeg", "docType": "lab"}),
        ),
        ("GET", format!("{p}/files?presign=1"), Value::Null),
        (
            "POST",
            format!("{p}/files/presign-download"),
            json!({"key": ids.document}),
        ),
        ("GET", format!("{p}/documents"), Value::Null),
        ("POST", format!("{p}/documents/init"), Value::Null),
        (
            "POST",
            format!("{p}/documents/attach"),
            json!({"category": "lab_reports", "key": ids.document}),
        ),
        ("GET", format!("doctors/{}", ids.doctor), Value::Null),
        (
            "PATCH",
            format!("doctors/{}", ids.doctor),
            json!({"role": "nurse"}),
        ),
        ("GET", "checklists".to_string(), Value::Null),
    ];
    let calls: Vec<(String, String, Value)> = calls
        .into_iter()
        .map(|(m, path, body)| (m.to_string(), path, body))
        .collect();
    prop::sample::select(calls)
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

/// What a refused request must leave as it was: the patient's partition,
/// its ledger, the checklist rules and the doctor.
async fn snapshot(app: &App, ids: &Ids) -> Vec<Item> {
    let mut items = Vec::new();
    for pk in [
        hms::keys::patient_pk(&ids.uid),
        hms::keys::audit_pk(&ids.uid),
        hms::keys::CHECKLIST_PK.to_string(),
        hms::keys::user_pk(&ids.doctor),
    ] {
        items.extend(app.partition(&pk).await);
    }
    // Other tests change rules of their own at the same time: keep the ones
    // the fuzz can name (its words and ids), not the shared summary.
    let ours = |sk: &str| {
        sk.contains("fuzz")
            || [&ids.note, &ids.med, &ids.task, &ids.doctor]
                .iter()
                .any(|id| sk.contains(id.as_str()))
    };
    items.retain(|item| match (item.get("PK"), item.get("SK")) {
        (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk)))
            if pk == hms::keys::CHECKLIST_PK =>
        {
            ours(sk)
        }
        _ => true,
    });
    items
}

/// The fuzzed patient, with a note, a medication, a task, a doctor and an
/// uploaded document of its own.
async fn setup(app: &App) -> Ids {
    let (uid, mrn) = app.create_patient().await;
    let id = |r: crate::support::Reply, field: &str, key: &str| {
        assert_eq!(r.status, 201, "{:?}", r.body);
        r.body[field][key].as_str().expect("id").to_string()
    };
    let p = format!("/patients/{uid}");
    let note = id(
        app.post(
            &format!("{p}/notes"),
            json!({"authorId": "dr-f", "category": "doctorNote", "content": "n"}),
        )
        .await,
        "note",
        "noteId",
    );
    let med = id(
        app.post(&format!("{p}/meds"), json!({"name": "M", "dose": "1", "route": "oral", "freq": "OD", "start": "2030-01-01T00:00:00Z"}))
            .await,
        "med",
        "medId",
    );
    let task = id(
        app.post(&format!("{p}/tasks"), json!({"title": "T", "type": "lab", "due": "2030-01-01T10:00:00Z", "assigneeId": "dr-f"}))
            .await,
        "task",
        "taskId",
    );
    let doctor = crate::support::unique("fuzz-dr");
    let r = app
        .post("/doctors", json!({"userId": doctor, "name": "Dr Fuzz", "email": "f@example.org", "department": "Fuzz"}))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let document = app.upload_doc(&uid, "lab").await;
    let department = app.get(&format!("/patients/{uid}")).await.body["department"]
        .as_str()
        .expect("department")
        .to_string();
    Ids {
        department,
        uid,
        mrn,
        note,
        med,
        task,
        doctor,
        document,
    }
}

/// What a refused request left changed: nothing outside the ledger, and
/// at most the ledger entry of a read (a recorded attempt), with the
/// `access.refused` entry that says the policy refused it.
fn refused_change(before: &[Item], after: &[Item]) -> Result<(), String> {
    let ledger = |item: &&Item| matches!(item.get("PK"), Some(AttributeValue::S(pk)) if pk.starts_with(hms::keys::AUDIT_PK_PREFIX));
    let rest = |items: &[Item]| {
        items
            .iter()
            .filter(|i| !ledger(i))
            .cloned()
            .collect::<Vec<_>>()
    };
    if rest(before) != rest(after) {
        return Err("changed stored items".into());
    }
    let added: Vec<&Item> = after
        .iter()
        .filter(ledger)
        .filter(|i| !before.contains(i))
        .collect();
    let removed = before.iter().filter(ledger).any(|i| !after.contains(i));
    let action = |i: &Item| match i.get("action") {
        Some(AttributeValue::S(a)) => a.clone(),
        _ => String::new(),
    };
    let attempt = |i: &&Item| is_read_action(&action(i));
    let refusal = |i: &&Item| action(i) == "access.refused";
    match added.as_slice() {
        _ if removed => Err("removed a ledger entry".into()),
        [] => Ok(()),
        [one] if attempt(one) => Ok(()),
        [a, b] if (attempt(a) && refusal(b)) || (refusal(a) && attempt(b)) => Ok(()),
        more => Err(format!(
            "added ledger entries {:?}",
            more.iter().map(|i| action(i)).collect::<Vec<_>>()
        )),
    }
}

fn sorted(mut items: Vec<Item>) -> Vec<Item> {
    let key = |i: &Item| format!("{:?}{:?}", i.get("PK"), i.get("SK"));
    items.sort_by_key(key);
    items
}

#[test]
fn any_request_gets_a_json_answer_and_a_refused_one_changes_nothing() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let app = App::new();
    let ids = rt.block_on(setup(&app));
    fuzz(&rt, &app, &ids, Mode::Open, CASES);
}

#[test]
fn with_authentication_on_any_token_gets_a_json_answer_and_a_refused_one_changes_nothing() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    // The fixtures are made without authentication, in the same table.
    let ids = rt.block_on(setup(&App::new()));
    let signer = crate::jwt::Signer::rsa(&crate::support::unique("fuzz"));
    let app = App::with_env(&[
        ("AUTH_ISSUER", crate::jwt::ISSUER),
        ("AUTH_AUDIENCE", crate::jwt::AUDIENCE),
        ("AUTH_JWKS", &crate::jwt::jwks(&[signer.jwk()])),
    ]);
    let home = format!("dept:{}", ids.department);
    let mut callers = Vec::new();
    for roles in [
        &["admin"][..],
        &["clinician"],
        &["readonly"],
        &["reviewer"],
        &[],
        &["admin", "clinician"],
    ] {
        for dept in [home.as_str(), "dept:Elsewhere"] {
            let mut groups = roles.to_vec();
            groups.push(dept);
            callers.push(signer.token(&format!("fuzz-{}", callers.len()), &groups));
        }
    }
    let admin = signer.token("fuzz-admin", &["admin", "clinician", home.as_str()]);
    fuzz(&rt, &app, &ids, Mode::Tokens { callers, admin }, AUTH_CASES);
}

fn fuzz(rt: &tokio::runtime::Runtime, app: &App, ids: &Ids, mode: Mode, cases: u32) {
    let (callers, admin) = match &mode {
        Mode::Open => (Vec::new(), None),
        Mode::Tokens { callers, admin } => (callers.clone(), Some(admin.clone())),
    };
    let auth_headers = if callers.is_empty() {
        Just(Vec::new()).boxed()
    } else {
        authorization(callers).boxed()
    };
    let random = prop_oneof![
        4 => api_call(ids),
        1 => (method(), prop::collection::vec(segment(ids.uid.clone(), ids.mrn.clone()), 0..7).prop_map(|s| s.join("/")))
            .prop_map(|(m, p)| (m, p, "any path".to_string())),
    ];
    let random = (random, query(), auth_headers, headers(), body()).prop_map(
        |((m, path, label), q, mut auth, h, b)| {
            auth.extend(h);
            (m, path, label, q, auth, b)
        },
    );
    let valid = valid_call(ids).prop_map(move |(m, path, body)| {
        let label = format!("valid {m} {}", path.split('?').next().unwrap_or(""));
        let bytes = if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        };
        let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
        if let Some(token) = &admin {
            headers.push(("authorization".to_string(), format!("Bearer {token}")));
        }
        (m, path, label, String::new(), headers, bytes)
    });
    let strategy = prop_oneof![3 => random, 1 => valid];
    let seed = seed();
    println!("fuzz: seed {seed} (replay with HMS_FUZZ_SEED={seed})");
    let mut bytes = [0u8; 32];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = (seed >> ((i % 8) * 8)) as u8;
    }
    let mut runner = TestRunner::new_with_rng(
        Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::from_seed(RngAlgorithm::ChaCha, &bytes),
    );
    // The stored state before each request: it changes only when a request
    // succeeds, so it is read again only then.
    let stored = std::sync::Mutex::new(sorted(rt.block_on(snapshot(app, ids))));
    let statuses = std::sync::Mutex::new(BTreeMap::new());
    let routes = std::sync::Mutex::new(BTreeMap::<String, (u32, u32)>::new());
    runner
        .run(&strategy, |(method, path, label, query, headers, body)| {
            let mut uri = format!("/{path}");
            if !query.is_empty() {
                uri = if uri.contains('?') {
                    format!("{uri}&{query}")
                } else {
                    format!("{uri}?{query}")
                };
            }
            let mut builder = Request::builder().method(method.as_str()).uri(uri.as_str());
            for (name, value) in &headers {
                builder = builder.header(name.as_str(), value.as_str());
            }
            // A request the HTTP layer cannot even build never reaches a
            // handler: draw another case instead of counting it.
            let Ok(req) = builder.body(if body.is_empty() {
                Body::Empty
            } else {
                Body::Binary(body.clone())
            }) else {
                return Err(TestCaseError::reject("not a buildable request"));
            };
            let r = rt.block_on(app.send(req));
            *statuses
                .lock()
                .expect("tally")
                .entry(r.status)
                .or_insert(0u32) += 1;
            let mut tally = routes.lock().expect("tally");
            let entry = tally.entry(label).or_default();
            entry.0 += 1;
            if (200..300).contains(&r.status) {
                entry.1 += 1;
            }
            drop(tally);
            let what = format!("{method} {uri} -> {}", r.status);
            if r.status >= 500 {
                return Err(TestCaseError::fail(format!("{what}: {:?}", r.body)));
            }
            if !r.headers.contains_key("access-control-allow-origin") {
                return Err(TestCaseError::fail(format!("{what}: no CORS header")));
            }
            if r.status != 204 && !r.body.is_object() && !r.body.is_array() {
                return Err(TestCaseError::fail(format!("{what}: body {:?}", r.body)));
            }
            if r.status >= 400 {
                if r.body["error"].as_str().is_none_or(|e| e.is_empty()) {
                    return Err(TestCaseError::fail(format!(
                        "{what}: error shape {:?}",
                        r.body
                    )));
                }
                let after = sorted(rt.block_on(snapshot(app, ids)));
                let mut before = stored.lock().expect("stored");
                // A refused read may leave the entry of its attempt (written
                // alongside the read); nothing else may change.
                let added = refused_change(&before, &after);
                if let Err(change) = added {
                    return Err(TestCaseError::fail(format!("{what} {change}")));
                }
                *before = after;
            } else {
                *stored.lock().expect("stored") = sorted(rt.block_on(snapshot(app, ids)));
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    let statuses = statuses.into_inner().expect("tally");
    let routes = routes.into_inner().expect("tally");
    println!("fuzz: {cases} requests, statuses {statuses:?}");
    // Every route was reached, and every valid call succeeded at least once
    for (label, (reached, succeeded)) in &routes {
        assert!(*reached >= 1, "{label}");
        if label.starts_with("valid ") {
            assert!(
                *succeeded >= 1,
                "{label}: reached {reached}, never succeeded"
            );
        }
    }
    let templates = routes
        .keys()
        .filter(|l| !l.starts_with("valid ") && *l != "any path")
        .count();
    assert!(
        templates >= 40,
        "only {templates} route templates reached: {routes:?}"
    );
    let valid = routes.keys().filter(|l| l.starts_with("valid ")).count();
    assert!(valid >= 20, "only {valid} valid calls reached");
    let ok: u32 = statuses.range(200..300).map(|(_, n)| n).sum();
    let refused: u32 = statuses.range(400..500).map(|(_, n)| n).sum();
    assert!(ok >= cases / 10 && refused >= cases / 3, "{statuses:?}");
    if let Mode::Tokens { .. } = mode {
        // Unauthenticated and unauthorised requests were both met
        assert!(statuses.contains_key(&401), "{statuses:?}");
        assert!(statuses.contains_key(&403), "{statuses:?}");
    }
}
