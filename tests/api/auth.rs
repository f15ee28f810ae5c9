//! Bearer-token authentication and the admin group, with keys generated here
//! (RSA and P-256): the real handler, emulators behind it.

use serde_json::{json, Value};

use crate::jwt::{self, JwksServer, Signer, AUDIENCE, ISSUER};
use crate::support::{put_presigned, unique, App, Reply};

struct Keys {
    rsa: Signer,
    ec: Signer,
}

/// A clinician of the department the patients here are registered in.
const STAFF: &[&str] = &["clinician", "dept:Surgery"];

fn keys() -> Keys {
    Keys {
        rsa: Signer::rsa(&unique("rsa")),
        ec: Signer::ec(&unique("ec")),
    }
}

fn app_trusting(keys: &Keys) -> App {
    let doc = jwt::jwks(&[keys.rsa.jwk(), keys.ec.jwk()]);
    App::with_env(&[
        ("AUTH_ISSUER", ISSUER),
        ("AUTH_AUDIENCE", AUDIENCE),
        ("AUTH_JWKS", &doc),
    ])
}

fn assert_unauthorized(r: &Reply, what: &str) {
    assert_eq!(r.status, 401, "{what}: {:?}", r.body);
    let challenge = r
        .headers
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(challenge.starts_with("Bearer"), "{what}: {challenge:?}");
    assert!(r.body["error"].is_string(), "{what}: JSON error body");
}

async fn create_patient_as(app: &App, token: &str) -> String {
    let r = app
        .call_as(
            Some(token),
            "POST",
            "/patients",
            Some(json!({"name": "Auth Patient", "registration":
                {"mrn": unique("MRN"), "scheme": "GENERAL", "department": "Surgery"}})),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["patientId"].as_str().expect("uid").to_string()
}

#[tokio::test]
async fn valid_rs256_and_es256_tokens_are_accepted() {
    let keys = keys();
    let app = app_trusting(&keys);
    let rsa = keys.rsa.token("dr-rsa", STAFF);
    let uid = create_patient_as(&app, &rsa).await;
    let ec = keys.ec.token("dr-ec", STAFF);
    let r = app
        .call_as(Some(&ec), "GET", &format!("/patients/{uid}"), None)
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    // An access token without `aud` passes when its client_id is the audience.
    let mut access = jwt::claims("dr-access", STAFF);
    access.as_object_mut().expect("claims").remove("aud");
    access["client_id"] = json!(AUDIENCE);
    access["token_use"] = json!("access");
    let r = app
        .call_as(
            Some(&keys.rsa.sign(&access)),
            "GET",
            &format!("/patients/{uid}"),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}

#[tokio::test]
async fn bad_tokens_are_401_and_change_nothing() {
    let keys = keys();
    let app = app_trusting(&keys);
    let good = keys.rsa.token("dr-a", STAFF);
    let uid = create_patient_as(&app, &good).await;
    let path = format!("/patients/{uid}");
    let now = jwt::now();
    let with = |changes: Value| {
        let mut c = jwt::claims("dr-a", STAFF);
        for (k, v) in changes.as_object().expect("object") {
            c[k] = v.clone();
        }
        c
    };
    let stranger = Signer::rsa(&keys.rsa.kid); // same kid, another key
    let unknown = Signer::ec(&unique("unknown"));
    let cases: Vec<(&str, Option<String>)> = vec![
        ("missing header", None),
        (
            "expired",
            Some(keys.rsa.sign(&with(json!({"exp": now - 120})))),
        ),
        (
            "not yet valid",
            Some(keys.ec.sign(&with(json!({"nbf": now + 600})))),
        ),
        (
            "wrong issuer",
            Some(keys.rsa.sign(&with(json!({"iss": "https://evil.test"})))),
        ),
        (
            "wrong audience",
            Some(keys.ec.sign(&with(json!({"aud": "other-app"})))),
        ),
        ("unknown kid", Some(unknown.token("dr-a", STAFF))),
        ("bad signature", Some(stranger.token("dr-a", STAFF))),
        (
            "alg none",
            Some(format!(
                "{}.",
                keys.rsa
                    .sign_raw(
                        &json!({"alg": "none", "kid": keys.rsa.kid, "typ": "JWT"}),
                        &jwt::claims("dr-a", STAFF)
                    )
                    .rsplit_once('.')
                    .expect("three parts")
                    .0
            )),
        ),
        (
            "HS256 with the public key as secret",
            Some(keys.rsa.hs256_with_public_key(&jwt::claims("dr-a", STAFF))),
        ),
        (
            "ES256 header on an RSA key",
            Some(keys.rsa.sign_raw(
                &json!({"alg": "ES256", "kid": keys.rsa.kid}),
                &jwt::claims("dr-a", STAFF),
            )),
        ),
        ("no subject", Some(keys.rsa.sign(&with(json!({"sub": ""}))))),
        ("garbage", Some("not-a-jwt".to_string())),
    ];
    for (what, token) in cases {
        let r = app
            .call_as(
                token.as_deref(),
                "PUT",
                &path,
                Some(json!({"name": "Changed By Intruder"})),
            )
            .await;
        assert_unauthorized(&r, what);
        assert_eq!(r.calls.total(), 0, "{what}: no AWS call before auth");
    }
    // A scheme other than Bearer is refused the same way.
    let basic = lambda_http::http::Request::builder()
        .method("GET")
        .uri(&path)
        .header("authorization", "Basic ZHI6cHc=")
        .body(lambda_http::Body::Empty)
        .expect("request");
    assert_unauthorized(&app.send(basic).await, "basic auth");
    let r = app.call_as(Some(&good), "GET", &path, None).await;
    assert_eq!(r.body["name"], "Auth Patient", "nothing was changed");
    // /health and OPTIONS stay open.
    assert_eq!(app.get("/health").await.status, 200);
    assert_eq!(app.call("OPTIONS", &path, None).await.status, 204);
}

#[tokio::test]
async fn the_subject_overrides_client_sent_names() {
    let keys = keys();
    let app = app_trusting(&keys);
    let token = keys.ec.token("dr-real", STAFF);
    let uid = create_patient_as(&app, &token).await;
    // Presign as the caller: the upload is signed as theirs.
    let r = app
        .call_as(
            Some(&token),
            "POST",
            &format!("/patients/{uid}/files/presign-upload"),
            Some(json!({"filename": "cbc.jpg", "mimeType": "image/jpeg", "docType": "lab"})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let key = r.body["key"].as_str().expect("key");
    let intent = app.upload_intent(&uid, key).await.expect("intent");
    assert_eq!(intent.uploaded_by.as_deref(), Some("dr-real"));
    assert_eq!(
        put_presigned(&r.body, b"\xff\xd8lab\xff\xd9", None).await,
        200
    );
    let r = app
        .call_as(
            Some(&token),
            "POST",
            &format!("/patients/{uid}/documents/attach"),
            Some(
                json!({"category": "lab_reports", "key": key, "uploadedBy": "dr-someone-else",
                        "stamp": {"label": "verified", "stampedBy": "dr-someone-else"}}),
            ),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let entry = &r.body["documents"]["labReports"][0];
    assert_eq!(entry["uploadedBy"], "dr-real");
    assert_eq!(entry["stamp"]["stampedBy"], "dr-real");
    let r = app
        .call_as(
            Some(&token),
            "POST",
            &format!("/patients/{uid}/notes"),
            Some(json!({"authorId": "dr-forged", "category": "doctorNote", "content": "ok"})),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["note"]["authorId"], "dr-real");
    let r = app
        .call_as(
            Some(&token),
            "PATCH",
            &format!("/patients/{uid}/state"),
            Some(json!({"currentState": "preop", "actorId": "dr-forged", "force": true})),
        )
        .await;
    assert_eq!(r.status, 403, "force needs the admin group: {:?}", r.body);
    let r = app
        .call_as(
            Some(&token),
            "PATCH",
            &format!("/patients/{uid}/state"),
            Some(json!({"currentState": "preop", "actorId": "dr-forged"})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = app
        .call_as(
            Some(&token),
            "GET",
            &format!("/patients/{uid}/timeline?desc=1"),
            None,
        )
        .await;
    assert_eq!(r.body[0]["actorId"], "dr-real", "{:?}", r.body);
    // The ledger names the subject too (a clinician reads it breaking glass).
    let r = app
        .call_with(
            Some(&token),
            &[("x-break-glass-reason", "checking my own entries")],
            "GET",
            &format!("/patients/{uid}/audit"),
            None,
        )
        .await;
    let items = r.body["items"].as_array().expect("items");
    assert!(!items.is_empty());
    assert!(items.iter().all(|i| i["actor"] == "dr-real"), "{items:?}");
}

#[tokio::test]
async fn rules_and_doctors_need_the_admin_group() {
    let keys = keys();
    let app = app_trusting(&keys);
    let doctor = keys.rsa.token("dr-plain", &["clinician", "dept:Surgery"]);
    let admin = keys
        .ec
        .token("dr-admin", &["clinician", "admin", "dept:Surgery"]);
    let rule = format!("/checklists/{}/{}", unique("a"), unique("b"));
    let body = json!({"in_required": ["consent"]});
    let r = app
        .call_as(Some(&doctor), "PUT", &rule, Some(body.clone()))
        .await;
    assert_eq!(r.status, 403, "{:?}", r.body);
    assert_eq!(
        app.call_as(Some(&doctor), "DELETE", &rule, None)
            .await
            .status,
        403
    );
    let r = app.call_as(Some(&doctor), "GET", &rule, None).await;
    assert_eq!(r.status, 404, "reading rules is open; none was written");
    let r = app.call_as(Some(&admin), "PUT", &rule, Some(body)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);

    let id = unique("doc");
    let new_doctor = json!({"userId": id, "name": "Dr. New", "email": "new@clinic.org"});
    let r = app
        .call_as(Some(&doctor), "POST", "/doctors", Some(new_doctor.clone()))
        .await;
    assert_eq!(r.status, 403, "{:?}", r.body);
    assert_eq!(r.calls.total(), 0);
    let r = app
        .call_as(Some(&admin), "POST", "/doctors", Some(new_doctor))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let path = format!("/doctors/{id}");
    let patch = json!({"name": "Dr. Renamed"});
    let r = app
        .call_as(Some(&doctor), "PATCH", &path, Some(patch.clone()))
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        app.call_as(Some(&doctor), "DELETE", &path, None)
            .await
            .status,
        403
    );
    let r = app.call_as(Some(&doctor), "GET", &path, None).await;
    assert_eq!(r.body["name"], "Dr. New", "{:?}", r.body);
    assert_eq!(
        app.call_as(Some(&admin), "PATCH", &path, Some(patch))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn keys_come_from_the_jwks_url_and_refresh_on_an_unknown_kid() {
    let first = Signer::rsa(&unique("k1"));
    let second = Signer::ec(&unique("k2"));
    let server = JwksServer::start(jwt::jwks(&[first.jwk()]));
    let app = App::with_env(&[
        ("AUTH_ISSUER", ISSUER),
        ("AUTH_AUDIENCE", AUDIENCE),
        ("AUTH_JWKS_URL", &server.url),
        ("AUTH_JWKS_MIN_REFRESH_SEC", "0"),
    ]);
    assert_eq!(server.hits(), 0, "nothing is fetched before it is needed");
    for _ in 0..3 {
        let r = app
            .call_as(
                Some(&first.token("dr-1", STAFF)),
                "GET",
                "/checklists",
                None,
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
    }
    assert_eq!(server.hits(), 1, "fetched once, then cached");
    // The issuer rotates in a new key: the unknown kid triggers one refresh.
    server.serve(jwt::jwks(&[first.jwk(), second.jwk()]));
    let r = app
        .call_as(
            Some(&second.token("dr-2", STAFF)),
            "GET",
            "/checklists",
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(server.hits(), 2);

    // With a refresh interval, a flood of unknown kids costs one fetch.
    let limited = App::with_env(&[
        ("AUTH_ISSUER", ISSUER),
        ("AUTH_AUDIENCE", AUDIENCE),
        ("AUTH_JWKS_URL", &server.url),
    ]);
    let before = server.hits();
    for _ in 0..5 {
        let stranger = Signer::ec(&unique("flood"));
        let r = limited
            .call_as(
                Some(&stranger.token("x", STAFF)),
                "GET",
                "/checklists",
                None,
            )
            .await;
        assert_eq!(r.status, 401);
    }
    assert_eq!(server.hits() - before, 1, "unknown kids are rate-limited");
}

#[tokio::test]
async fn aged_keys_are_re_read_so_a_retired_key_stops_working() {
    let old = Signer::rsa(&unique("old"));
    let new = Signer::ec(&unique("new"));
    let server = JwksServer::start(jwt::jwks(&[old.jwk()]));
    let aging = |max_age: &'static str| {
        App::with_env(&[
            ("AUTH_ISSUER", ISSUER),
            ("AUTH_AUDIENCE", AUDIENCE),
            ("AUTH_JWKS_URL", &server.url),
            ("AUTH_JWKS_MIN_REFRESH_SEC", "0"),
            ("AUTH_JWKS_MAX_AGE_SEC", max_age),
        ])
    };
    let (fresh, aged) = (aging("3600"), aging("0"));
    for app in [&fresh, &aged] {
        let r = app
            .call_as(Some(&old.token("dr", STAFF)), "GET", "/checklists", None)
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
    }
    // The issuer retires the old key.
    server.serve(jwt::jwks(&[new.jwk()]));
    let before = server.hits();
    let r = fresh
        .call_as(Some(&old.token("dr", STAFF)), "GET", "/checklists", None)
        .await;
    assert_eq!(
        r.status, 200,
        "keys younger than the max age are not re-read"
    );
    assert_eq!(server.hits(), before);
    let r = aged
        .call_as(Some(&old.token("dr", STAFF)), "GET", "/checklists", None)
        .await;
    assert_eq!(r.status, 401, "{:?}", r.body);
    assert_eq!(server.hits(), before + 1);
    let r = aged
        .call_as(Some(&new.token("dr", STAFF)), "GET", "/checklists", None)
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    // A key server that answers garbage: the aged keys held are still used.
    server.serve("not a key set".to_string());
    let r = aged
        .call_as(Some(&new.token("dr", STAFF)), "GET", "/checklists", None)
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}

#[tokio::test]
async fn an_unreachable_key_server_is_503_not_401() {
    let signer = Signer::rsa(&unique("k"));
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let app = App::with_env(&[
        ("AUTH_ISSUER", ISSUER),
        ("AUTH_AUDIENCE", AUDIENCE),
        (
            "AUTH_JWKS_URL",
            &format!("http://127.0.0.1:{closed}/jwks.json"),
        ),
    ]);
    let r = app
        .call_as(Some(&signer.token("dr", STAFF)), "GET", "/checklists", None)
        .await;
    assert_eq!(r.status, 503, "{:?}", r.body);
    assert!(r.headers.contains_key("retry-after"));
}

#[tokio::test]
async fn without_an_issuer_the_api_stays_open() {
    let app = App::new();
    let r = app.get("/checklists").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}

#[tokio::test]
async fn issuer_lists_long_lived_tokens_and_other_token_uses_are_refused() {
    let keys = keys();
    let app = app_trusting(&keys);
    let base = jwt::claims("dr-1", STAFF);
    let with = |patch: Value| {
        let mut claims = base.clone();
        claims
            .as_object_mut()
            .unwrap()
            .extend(patch.as_object().unwrap().clone());
        keys.rsa.sign(&claims)
    };
    let now = base["iat"].as_u64().unwrap();
    for (what, token) in [
        (
            "an iss list holding the issuer",
            with(json!({"iss": [ISSUER]})),
        ),
        (
            "a token valid until 2999",
            with(json!({"exp": 32_503_680_000u64})),
        ),
        (
            "a token minted for 13 hours",
            with(json!({"exp": now + 13 * 3600})),
        ),
        (
            "no iat and 13 hours to run",
            with(json!({"iat": null, "exp": now + 13 * 3600})),
        ),
        ("a refresh token", with(json!({"token_use": "refresh"}))),
    ] {
        let r = app.call_as(Some(&token), "GET", "/checklists", None).await;
        assert_unauthorized(&r, what);
    }
    // A token within 12 hours, an access token, and one without token_use pass
    for token in [
        with(json!({"exp": now + 11 * 3600})),
        with(json!({"token_use": "access"})),
        keys.rsa.sign(&{
            let mut c = base.clone();
            c.as_object_mut().unwrap().remove("token_use");
            c
        }),
    ] {
        let r = app.call_as(Some(&token), "GET", "/checklists", None).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
    }
}

#[tokio::test]
async fn an_issuer_without_an_audience_refuses_every_token() {
    let keys = keys();
    let doc = jwt::jwks(&[keys.rsa.jwk()]);
    let app = App::with_env(&[("AUTH_ISSUER", ISSUER), ("AUTH_JWKS", &doc)]);
    // A token of any client of the pool would pass an audience left
    // unchecked: nothing passes instead, and the answer names the setting
    // (a deployment fault, not the caller's)
    let token = keys.rsa.token("dr-1", STAFF);
    let r = app.call_as(Some(&token), "GET", "/checklists", None).await;
    assert_eq!(r.status, 500, "{:?}", r.body);
    assert!(
        r.body["error"]
            .as_str()
            .unwrap_or("")
            .contains("AUTH_AUDIENCE"),
        "{:?}",
        r.body
    );
    assert_eq!(r.calls.total(), 0);
    // The public route still answers
    assert_eq!(app.get("/health").await.status, 200);
}

#[tokio::test]
async fn a_cognito_issuer_requires_token_use() {
    let keys = keys();
    let doc = jwt::jwks(&[keys.rsa.jwk()]);
    let issuer = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_TestPool";
    let app = App::with_env(&[
        ("AUTH_ISSUER", issuer),
        ("AUTH_AUDIENCE", AUDIENCE),
        ("AUTH_JWKS", &doc),
    ]);
    let mut claims = jwt::claims("dr-1", STAFF);
    claims["iss"] = json!(issuer);
    claims.as_object_mut().expect("claims").remove("token_use");
    let r = app
        .call_as(Some(&keys.rsa.sign(&claims)), "GET", "/checklists", None)
        .await;
    assert_unauthorized(&r, "a Cognito token without token_use");
    claims["token_use"] = json!("id");
    let r = app
        .call_as(Some(&keys.rsa.sign(&claims)), "GET", "/checklists", None)
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}
