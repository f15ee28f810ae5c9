//! Starts the `hms-local-s3` binary on a free port and talks to it with
//! aws-sdk-s3 and with plain HTTP (reqwest), as the app and a browser do.

use std::net::TcpListener as StdListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CorsConfiguration, CorsRule, Delete, ObjectIdentifier};
use aws_sdk_s3::Client;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

const AK: &str = "local-access-key";
const SK: &str = "local-secret-key";
const BUCKET: &str = "hms-files-local";
const ORIGIN: &str = "http://localhost:5173";

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn temp_dir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!(
        "hms-local-s3-it-{name}-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

struct Server {
    child: Child,
    url: String,
    data: PathBuf,
}

impl Server {
    fn start(data: PathBuf, extra: &[&str]) -> Server {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_hms-local-s3"))
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", AK, "--secret-key", SK])
            .arg("--data")
            .arg(&data)
            .args(extra)
            .stdout(Stdio::null())
            // The server's own lines (notify deliveries, --verbose) only on request.
            .stderr(if std::env::var_os("HMS_S3_TEST_LOG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()
            .expect("start hms-local-s3");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "hms-local-s3 did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Server {
            child,
            url: format!("http://127.0.0.1:{port}"),
            data,
        }
    }

    fn client(&self) -> Client {
        self.client_with(AK, SK)
    }

    fn client_with(&self, ak: &str, sk: &str) -> Client {
        let conf = aws_sdk_s3::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&self.url)
            .credentials_provider(Credentials::new(ak, sk, None, None, "test"))
            .force_path_style(true)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .build();
        Client::from_conf(conf)
    }

    fn stop(mut self) -> PathBuf {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::mem::take(&mut self.data)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // `stop` hands the directory on (and leaves an empty path here).
        if !self.data.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.data);
        }
    }
}

async fn with_bucket(extra: &[&str]) -> (Server, Client) {
    let server = Server::start(temp_dir("srv"), extra);
    let client = server.client();
    client.create_bucket().bucket(BUCKET).send().await.unwrap();
    (server, client)
}

fn status<E>(e: &aws_sdk_s3::error::SdkError<E, HttpResponse>) -> u16 {
    e.raw_response().map(|r| r.status().as_u16()).unwrap_or(0)
}

fn md5_hex(body: &[u8]) -> String {
    use md5::{Digest, Md5};
    hex::encode(Md5::digest(body))
}

#[tokio::test]
async fn a_1024_byte_key_round_trips_and_survives_a_restart() {
    // Given a bucket and a key of exactly 1024 bytes (S3's limit)
    let (server, client) = with_bucket(&[]).await;
    let key = format!("patients/{}", "k".repeat(1024 - "patients/".len()));
    let body = b"hello long key".to_vec();

    // When it is put with a content type and user metadata
    let put = client
        .put_object()
        .bucket(BUCKET)
        .key(&key)
        .content_type("text/plain")
        .metadata("patient-uid", "u1")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap();
    let etag = format!("\"{}\"", md5_hex(&body));
    assert_eq!(put.e_tag(), Some(etag.as_str()));

    // Then HEAD, GET and LIST see it
    let head = client
        .head_object()
        .bucket(BUCKET)
        .key(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(body.len() as i64));
    assert_eq!(head.content_type(), Some("text/plain"));
    assert_eq!(head.e_tag(), Some(etag.as_str()));
    assert!(head.last_modified().is_some());
    assert_eq!(
        head.metadata()
            .unwrap()
            .get("patient-uid")
            .map(String::as_str),
        Some("u1")
    );
    let get = client
        .get_object()
        .bucket(BUCKET)
        .key(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(get.content_type(), Some("text/plain"));
    assert_eq!(
        get.metadata()
            .unwrap()
            .get("patient-uid")
            .map(String::as_str),
        Some("u1")
    );
    assert_eq!(
        get.body.collect().await.unwrap().into_bytes().as_ref(),
        body.as_slice()
    );
    let list = client
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix("patients/")
        .send()
        .await
        .unwrap();
    assert_eq!(list.key_count(), Some(1));
    assert_eq!(list.contents()[0].key(), Some(key.as_str()));
    assert_eq!(list.contents()[0].size(), Some(body.len() as i64));

    // And a 1025-byte key is refused as S3 does
    let long = format!("{key}x");
    let err = client
        .put_object()
        .bucket(BUCKET)
        .key(&long)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("KeyTooLongError"), "{err:?}");
    assert_eq!(status(&err), 400);

    // When the server restarts on the same directory, the object is still there
    let data = server.stop();
    let server = Server::start(data, &[]);
    let client = server.client();
    let buckets = client.list_buckets().send().await.unwrap();
    assert_eq!(buckets.buckets()[0].name(), Some(BUCKET));
    let get = client
        .get_object()
        .bucket(BUCKET)
        .key(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(get.e_tag(), Some(etag.as_str()));
    assert_eq!(
        get.body.collect().await.unwrap().into_bytes().as_ref(),
        body.as_slice()
    );

    // And after a delete it is gone: HEAD is 404
    client
        .delete_object()
        .bucket(BUCKET)
        .key(&key)
        .send()
        .await
        .unwrap();
    let err = client
        .head_object()
        .bucket(BUCKET)
        .key(&key)
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&err), 404);
    assert!(err.into_service_error().is_not_found());
    let err = client
        .get_object()
        .bucket(BUCKET)
        .key(&key)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("NoSuchKey"));
}

async fn presign_put(
    client: &Client,
    key: &str,
    expires: Duration,
) -> (String, Vec<(String, String)>) {
    let presigned = client
        .put_object()
        .bucket(BUCKET)
        .key(key)
        .content_type("image/jpeg")
        .metadata("patient-uid", "u1")
        .presigned(PresigningConfig::expires_in(expires).unwrap())
        .await
        .unwrap();
    let headers = presigned
        .headers()
        .filter(|(n, _)| !n.eq_ignore_ascii_case("host"))
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    (presigned.uri().to_string(), headers)
}

async fn send_put(
    url: &str,
    headers: &[(String, String)],
    body: &'static [u8],
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut req = reqwest::Client::new().put(url).body(body);
    for (n, v) in headers {
        req = req.header(n, v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.text().await.unwrap())
}

#[tokio::test]
async fn signatures_are_verified_for_presigned_urls_and_headers() {
    let (server, client) = with_bucket(&[]).await;
    let key = "patients/u1/optimized/docs/lab/a.jpg";
    let (url, headers) = presign_put(&client, key, Duration::from_secs(900)).await;
    assert!(
        url.contains("X-Amz-SignedHeaders=content-type%3Bhost%3Bx-amz-meta-patient-uid"),
        "{url}"
    );

    // A presigned PUT with its signed headers, plus unsigned ones a browser adds, is accepted
    let mut with_extra = headers.clone();
    with_extra.push(("Accept".into(), "*/*".into()));
    with_extra.push(("Origin".into(), "http://localhost:5173".into()));
    let (code, _, text) = send_put(&url, &with_extra, b"jpeg bytes").await;
    assert_eq!(code, 200, "{text}");
    let head = client
        .head_object()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_type(), Some("image/jpeg"));
    assert_eq!(
        head.metadata()
            .unwrap()
            .get("patient-uid")
            .map(String::as_str),
        Some("u1")
    );

    // A presigned GET works without any header, and with an unsigned Range
    let get = client
        .get_object()
        .bucket(BUCKET)
        .key(key)
        .presigned(PresigningConfig::expires_in(Duration::from_secs(60)).unwrap())
        .await
        .unwrap();
    let resp = reqwest::get(get.uri()).await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.bytes().await.unwrap().as_ref(), b"jpeg bytes");
    let resp = reqwest::Client::new()
        .get(get.uri())
        .header("Range", "bytes=5-")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 206);
    assert_eq!(resp.bytes().await.unwrap().as_ref(), b"bytes");

    // A changed signed header (Content-Type) is refused
    let changed: Vec<_> = headers
        .iter()
        .map(|(n, v)| {
            if n.eq_ignore_ascii_case("content-type") {
                (n.clone(), "text/html".to_owned())
            } else {
                (n.clone(), v.clone())
            }
        })
        .collect();
    let (code, _, text) = send_put(&url, &changed, b"x").await;
    assert_eq!(code, 403);
    assert!(text.contains("SignatureDoesNotMatch"), "{text}");

    // A tampered signature is refused
    let sig_at = url.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
    let mut tampered = url.clone();
    let c = if &url[sig_at..sig_at + 1] == "0" {
        "1"
    } else {
        "0"
    };
    tampered.replace_range(sig_at..sig_at + 1, c);
    let (code, _, text) = send_put(&tampered, &headers, b"x").await;
    assert_eq!(code, 403);
    assert!(text.contains("SignatureDoesNotMatch"), "{text}");

    // An unsigned request is refused
    let resp = reqwest::get(format!("{}/{BUCKET}/{key}", server.url))
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);

    // A header-signed request with a wrong secret or an unknown access key is refused
    let err = server
        .client_with(AK, "wrong")
        .list_buckets()
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (status(&err), err.code()),
        (403, Some("SignatureDoesNotMatch"))
    );
    let err = server
        .client_with("nobody", SK)
        .list_buckets()
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (status(&err), err.code()),
        (403, Some("InvalidAccessKeyId"))
    );

    // A presigned URL used after its expiry is refused
    let (url, headers) = presign_put(&client, "patients/u1/b.jpg", Duration::from_secs(1)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (code, _, text) = send_put(&url, &headers, b"late").await;
    assert_eq!(code, 403);
    assert!(text.contains("Request has expired"), "{text}");
    assert!(client
        .head_object()
        .bucket(BUCKET)
        .key("patients/u1/b.jpg")
        .send()
        .await
        .is_err());
}

#[tokio::test]
async fn conditional_put_ranged_get_listing_and_multi_delete() {
    let (_server, client) = with_bucket(&[]).await;
    let put = |key: &'static str, body: &'static [u8]| {
        client
            .put_object()
            .bucket(BUCKET)
            .key(key)
            .body(ByteStream::from_static(body))
            .send()
    };
    put("a/1", b"0123456789").await.unwrap();

    // If-None-Match: * on an existing key is 412, on a new key it writes
    let err = client
        .put_object()
        .bucket(BUCKET)
        .key("a/1")
        .if_none_match("*")
        .body(ByteStream::from_static(b"other"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (status(&err), err.code()),
        (412, Some("PreconditionFailed"))
    );
    client
        .put_object()
        .bucket(BUCKET)
        .key("a/2")
        .if_none_match("*")
        .body(ByteStream::from_static(b"new"))
        .send()
        .await
        .unwrap();

    // A ranged GET is 206 with Content-Range
    let get = client
        .get_object()
        .bucket(BUCKET)
        .key("a/1")
        .range("bytes=2-5")
        .send()
        .await
        .unwrap();
    assert_eq!(get.content_range(), Some("bytes 2-5/10"));
    assert_eq!(get.content_length(), Some(4));
    assert_eq!(
        get.body.collect().await.unwrap().into_bytes().as_ref(),
        b"2345"
    );
    let err = client
        .get_object()
        .bucket(BUCKET)
        .key("a/1")
        .range("bytes=20-30")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&err), 416);

    // Listing with a delimiter, pages of two, continuation tokens and start-after
    for key in ["b", "c/x/1", "c/y", "d"] {
        put(key, b"z").await.unwrap();
    }
    let p1 = client
        .list_objects_v2()
        .bucket(BUCKET)
        .delimiter("/")
        .max_keys(2)
        .send()
        .await
        .unwrap();
    let prefixes = |o: &aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output| {
        o.common_prefixes()
            .iter()
            .filter_map(|p| p.prefix().map(str::to_owned))
            .collect::<Vec<_>>()
    };
    let keys = |o: &aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output| {
        o.contents()
            .iter()
            .filter_map(|c| c.key().map(str::to_owned))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        (prefixes(&p1), keys(&p1)),
        (vec!["a/".to_owned()], vec!["b".to_owned()])
    );
    assert_eq!((p1.key_count(), p1.is_truncated()), (Some(2), Some(true)));
    let p2 = client
        .list_objects_v2()
        .bucket(BUCKET)
        .delimiter("/")
        .max_keys(2)
        .continuation_token(p1.next_continuation_token().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        (prefixes(&p2), keys(&p2)),
        (vec!["c/".to_owned()], vec!["d".to_owned()])
    );
    assert_eq!(p2.is_truncated(), Some(false));
    assert_eq!(p2.next_continuation_token(), None);
    let after = client
        .list_objects_v2()
        .bucket(BUCKET)
        .start_after("c/x/1")
        .send()
        .await
        .unwrap();
    assert_eq!(keys(&after), ["c/y", "d"]);
    let all = client
        .list_objects_v2()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    assert_eq!(all.max_keys(), Some(1000));
    assert_eq!(all.key_count(), Some(6));

    // Multi-object delete: a missing key counts as deleted
    let ids = ["a/1", "a/2", "never-there"]
        .iter()
        .map(|k| ObjectIdentifier::builder().key(*k).build().unwrap())
        .collect::<Vec<_>>();
    let out = client
        .delete_objects()
        .bucket(BUCKET)
        .delete(Delete::builder().set_objects(Some(ids)).build().unwrap())
        .send()
        .await
        .unwrap();
    let mut deleted: Vec<_> = out.deleted().iter().filter_map(|d| d.key()).collect();
    deleted.sort_unstable();
    assert_eq!(deleted, ["a/1", "a/2", "never-there"]);
    assert!(out.errors().is_empty());
    let left = client
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix("a/")
        .send()
        .await
        .unwrap();
    assert_eq!(left.key_count(), Some(0));

    // CopyObject keeps the body and metadata
    client
        .copy_object()
        .bucket(BUCKET)
        .key("e")
        .copy_source(format!("{BUCKET}/d"))
        .send()
        .await
        .unwrap();
    let e = client
        .get_object()
        .bucket(BUCKET)
        .key("e")
        .send()
        .await
        .unwrap();
    assert_eq!(e.body.collect().await.unwrap().into_bytes().as_ref(), b"z");
}

async fn preflight(
    url: &str,
    origin: &str,
    method: &str,
    headers: Option<&str>,
) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, url)
        .header("Origin", origin)
        .header("Access-Control-Request-Method", method);
    if let Some(h) = headers {
        req = req.header("Access-Control-Request-Headers", h);
    }
    req.send().await.unwrap()
}

fn header<'a>(resp: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn bucket_cors_answers_preflights_and_decorates_answers() {
    let (server, client) = with_bucket(&[]).await;
    let object_url = format!("{}/{BUCKET}/patients/u1/a.jpg", server.url);

    // Without a CORS configuration, a preflight is refused
    let resp = preflight(&object_url, ORIGIN, "PUT", None).await;
    assert_eq!(resp.status().as_u16(), 403);
    assert!(resp.text().await.unwrap().contains("CORSResponse"));

    // Given a CORS rule for the app's origin
    let rule = CorsRule::builder()
        .allowed_origins(ORIGIN)
        .allowed_methods("PUT")
        .allowed_methods("GET")
        .allowed_headers("content-type")
        .allowed_headers("x-amz-meta-*")
        .expose_headers("ETag")
        .max_age_seconds(3000)
        .build()
        .unwrap();
    client
        .put_bucket_cors()
        .bucket(BUCKET)
        .cors_configuration(
            CorsConfiguration::builder()
                .cors_rules(rule)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let got = client
        .get_bucket_cors()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    assert_eq!(got.cors_rules()[0].allowed_origins(), [ORIGIN]);
    assert_eq!(got.cors_rules()[0].max_age_seconds(), Some(3000));

    // Then a preflight for that origin, method and headers is allowed, on a key and on the bucket
    let resp = preflight(
        &object_url,
        ORIGIN,
        "PUT",
        Some("content-type,x-amz-meta-patient-uid"),
    )
    .await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(header(&resp, "access-control-allow-origin"), Some(ORIGIN));
    assert!(header(&resp, "access-control-allow-methods")
        .unwrap()
        .contains("PUT"));
    assert_eq!(
        header(&resp, "access-control-allow-headers"),
        Some("content-type, x-amz-meta-patient-uid")
    );
    assert_eq!(header(&resp, "access-control-max-age"), Some("3000"));
    assert_eq!(header(&resp, "access-control-expose-headers"), Some("ETag"));
    assert!(header(&resp, "vary").unwrap().contains("Origin"));
    let resp = preflight(&format!("{}/{BUCKET}", server.url), ORIGIN, "GET", None).await;
    assert_eq!(resp.status().as_u16(), 200);

    // And refused for another origin, a method not allowed, or a header not allowed
    let resp = preflight(&object_url, "http://evil.test", "PUT", Some("content-type")).await;
    assert_eq!(resp.status().as_u16(), 403);
    assert!(header(&resp, "access-control-allow-origin").is_none());
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("This CORS request is not allowed"));
    let resp = preflight(&object_url, ORIGIN, "DELETE", None).await;
    assert_eq!(resp.status().as_u16(), 403);
    let resp = preflight(&object_url, ORIGIN, "PUT", Some("authorization")).await;
    assert_eq!(resp.status().as_u16(), 403);

    // An actual presigned PUT from that origin carries the CORS headers, success or failure
    let (url, mut headers) =
        presign_put(&client, "patients/u1/a.jpg", Duration::from_secs(60)).await;
    headers.push(("Origin".into(), ORIGIN.into()));
    let (code, h, text) = send_put(&url, &headers, b"img").await;
    assert_eq!(code, 200, "{text}");
    assert_eq!(h.get("access-control-allow-origin").unwrap(), ORIGIN);
    assert_eq!(h.get("access-control-expose-headers").unwrap(), "ETag");
    assert!(h.get("etag").is_some());
    let mut bad = headers.clone();
    bad.retain(|(n, _)| !n.eq_ignore_ascii_case("content-type"));
    bad.push(("Content-Type".into(), "text/plain".into()));
    let (code, h, _) = send_put(&url, &bad, b"img").await;
    assert_eq!(code, 403);
    assert_eq!(h.get("access-control-allow-origin").unwrap(), ORIGIN);
    // Not for an origin the rules do not allow
    let mut other = headers.clone();
    other.retain(|(n, _)| n != "Origin");
    other.push(("Origin".into(), "http://evil.test".into()));
    let (_, h, _) = send_put(&url, &other, b"img").await;
    assert!(h.get("access-control-allow-origin").is_none());

    // After DeleteBucketCors, preflights are refused again
    client
        .delete_bucket_cors()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    let resp = preflight(&object_url, ORIGIN, "PUT", None).await;
    assert_eq!(resp.status().as_u16(), 403);
}

/// A tiny HTTP listener: answers 200 to every request and passes its body on.
async fn listener() -> (String, mpsc::UnboundedReceiver<(String, Vec<u8>)>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/events", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    // Read one request: headers, then Content-Length bytes.
                    let head_end = loop {
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        let mut chunk = [0u8; 4096];
                        match conn.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            let (n, v) = l.split_once(':')?;
                            n.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse().ok())?
                        })
                        .unwrap_or(0);
                    while buf.len() < head_end + len {
                        let mut chunk = [0u8; 4096];
                        match conn.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let body = buf[head_end..head_end + len].to_vec();
                    buf.drain(..head_end + len);
                    let _ = tx.send((head, body));
                    if conn
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    (url, rx)
}

#[tokio::test]
async fn object_created_is_posted_within_a_second() {
    let (url, mut events) = listener().await;
    let (_server, client) = with_bucket(&[
        "--notify-url",
        &url,
        "--notify-prefix",
        "patients/",
        "--region",
        "eu-west-1",
    ])
    .await;

    // When an object under the prefix is put
    let key = "patients/p 1/a(1).jpg";
    let body = b"eleven byte";
    let started = Instant::now();
    client
        .put_object()
        .bucket(BUCKET)
        .key(key)
        .body(ByteStream::from_static(body))
        .send()
        .await
        .unwrap();

    // Then its event arrives within a second, in the shape S3 sends to Lambda
    let (head, doc) = tokio::time::timeout(Duration::from_secs(1), events.recv())
        .await
        .expect("event within 1 s")
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(head.starts_with("POST /events "), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    let doc: serde_json::Value = serde_json::from_slice(&doc).unwrap();
    let r = &doc["Records"][0];
    assert_eq!(r["eventName"], "ObjectCreated:Put");
    assert_eq!(r["eventSource"], "aws:s3");
    assert_eq!(r["awsRegion"], "eu-west-1");
    assert!(r["eventTime"].as_str().unwrap().ends_with('Z'));
    assert_eq!(r["s3"]["bucket"]["name"], BUCKET);
    assert_eq!(r["s3"]["bucket"]["arn"], format!("arn:aws:s3:::{BUCKET}"));
    assert_eq!(r["s3"]["object"]["key"], "patients/p+1/a%281%29.jpg");
    assert_eq!(r["s3"]["object"]["size"], body.len());
    assert_eq!(r["s3"]["object"]["eTag"], md5_hex(body));
    let first_seq = r["s3"]["object"]["sequencer"].as_str().unwrap().to_owned();

    // A key outside the prefix sends nothing; a second write of the key sends a later sequencer
    client
        .put_object()
        .bucket(BUCKET)
        .key("other/x")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    client
        .put_object()
        .bucket(BUCKET)
        .key(key)
        .body(ByteStream::from_static(b"again"))
        .send()
        .await
        .unwrap();
    let (_, doc) = tokio::time::timeout(Duration::from_secs(1), events.recv())
        .await
        .unwrap()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&doc).unwrap();
    let obj = &doc["Records"][0]["s3"]["object"];
    assert_eq!(obj["key"], "patients/p+1/a%281%29.jpg");
    assert_eq!(obj["size"], 5);
    assert!(obj["sequencer"].as_str().unwrap() > first_seq.as_str());
    assert!(
        tokio::time::timeout(Duration::from_millis(300), events.recv())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn an_unreachable_listener_does_not_delay_the_put() {
    let dead = format!("http://127.0.0.1:{}/events", free_port());
    let (_server, client) = with_bucket(&["--notify-url", &dead]).await;
    let started = Instant::now();
    client
        .put_object()
        .bucket(BUCKET)
        .key("patients/x")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_millis(500));
}
