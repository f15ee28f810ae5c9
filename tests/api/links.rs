//! Links with a CDN configured: CloudFront signed URLs (canned policy,
//! RSA-SHA256) made with the key whose private half is read from SSM at
//! start-up; files the CDN does not serve get presigned S3 GETs.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
use aws_sdk_ssm::types::ParameterType;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::json;

use crate::support::{ssm, unique, App};

fn pem(key: &KeyPair) -> String {
    let body = STANDARD.encode(key.as_der().expect("der").as_ref());
    let lines: Vec<String> = body
        .as_bytes()
        .chunks(64)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    )
}

fn param<'a>(url: &'a str, name: &str) -> &'a str {
    url.split_once('?')
        .expect("query")
        .1
        .split('&')
        .find_map(|p| p.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("{name} in {url}"))
}

/// An app whose CDN key is a SecureString in the emulator's SSM.
async fn app_with_cdn(key: &KeyPair) -> App {
    let name = format!("/hms/test/{}", unique("cdn"));
    ssm()
        .put_parameter()
        .name(&name)
        .r#type(ParameterType::SecureString)
        .value(pem(key))
        .send()
        .await
        .expect("parameter stored");
    let app = App::with_env(&[
        ("CDN_DOMAIN", "cdn.example.org"),
        ("CDN_KEY_PAIR_ID", "KTESTKEY"),
        ("CDN_PRIVATE_KEY_PARAM", &name),
    ]);
    App {
        ctx: app.ctx.with_cdn_key_from(&ssm()).await,
    }
}

#[tokio::test]
async fn with_a_cdn_every_document_link_is_a_signed_cloudfront_url() {
    // Given a CDN whose signing key is read from SSM
    let key = KeyPair::generate(KeySize::Rsa2048).expect("key");
    let app = app_with_cdn(&key).await;
    assert!(app.ctx.cdn.is_some(), "the signing key was loaded");
    let (uid, _) = app.create_patient().await;
    let object = app.upload_doc(&uid, "lab").await;
    // When the document is attached and the Documents screen read
    let r = app.attach_doc(&uid, "lab_reports", &object).await;
    let shown = app.get(&format!("/patients/{uid}/documents")).await;
    for entry in [
        &r.body["documents"]["labReports"][0],
        &shown.body["labReports"][0],
    ] {
        // Then the link is a CloudFront URL for the key, expiring with the
        // presign lifetime, signed by the key CloudFront trusts
        let link = entry["cdnUrl"].as_str().expect("link");
        assert_eq!(entry["url"], link);
        let resource = format!("https://cdn.example.org/{object}");
        assert!(link.starts_with(&format!("{resource}?Expires=")), "{link}");
        assert_eq!(param(link, "Key-Pair-Id"), "KTESTKEY");
        assert_eq!(param(link, "Hash-Algorithm"), "SHA256");
        let expires: u64 = param(link, "Expires").parse().expect("epoch");
        let now = hms::clock::now_epoch_secs();
        assert!((now + 890..=now + 990).contains(&expires), "{expires}");
        let signature = param(link, "Signature")
            .replace('-', "+")
            .replace('_', "=")
            .replace('~', "/");
        let signature = STANDARD.decode(signature).expect("base64");
        let policy = hms::s3::cdn::canned_policy(&resource, expires);
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, key.public_key().as_ref())
            .verify(policy.as_bytes(), &signature)
            .expect("CloudFront would accept the signature");
    }
}

#[tokio::test]
async fn originals_which_the_cdn_cannot_read_get_presigned_gets() {
    let key = KeyPair::generate(KeySize::Rsa2048).expect("key");
    let app = app_with_cdn(&key).await;
    let (uid, _) = app.create_patient().await;
    let answer = app
        .upload(
            &uid,
            json!({"filename": "a.jpg", "mimeType": "image/jpeg", "docType": "lab", "target": "originals"}),
            b"\xff\xd8orig\xff\xd9",
        )
        .await;
    let r = app
        .get(&format!("/patients/{uid}/files?scope=originals&presign=1"))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let item = &r.body["items"][0];
    assert_eq!(item["key"], answer["key"]);
    let link = item["cdnUrl"].as_str().expect("link");
    assert!(!link.starts_with("https://cdn.example.org/"), "{link}");
    assert_eq!(reqwest::get(link).await.expect("GET").status(), 200);
}

#[tokio::test]
async fn an_unreadable_signing_key_falls_back_to_presigned_gets() {
    let app = App::with_env(&[
        ("CDN_DOMAIN", "cdn.example.org"),
        ("CDN_KEY_PAIR_ID", "KTESTKEY"),
        ("CDN_PRIVATE_KEY_PARAM", "/hms/test/no-such-parameter"),
    ]);
    let app = App {
        ctx: app.ctx.with_cdn_key_from(&ssm()).await,
    };
    assert!(app.ctx.cdn.is_none());
    let (uid, _) = app.create_patient().await;
    let object = app.upload_doc(&uid, "lab").await;
    let r = app
        .post(
            &format!("/patients/{uid}/documents/attach"),
            json!({"category": "lab_reports", "key": object}),
        )
        .await;
    let link = r.body["documents"]["labReports"][0]["cdnUrl"]
        .as_str()
        .expect("link");
    assert!(link.contains("X-Amz-Signature="), "{link}");
    assert_eq!(reqwest::get(link).await.expect("GET").status(), 200);
}
