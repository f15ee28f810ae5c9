//! ObjectCreated notifications: the S3 event document, POSTed to a URL.
//!
//! Events are queued in commit order (the store calls [`Notifier::queue`]
//! under its lock) onto a few delivery workers; a key always goes to the same
//! worker, so the events of one key arrive in order. A delivery is tried three
//! times (0 s, 0.5 s, 1.5 s) and then dropped with a line on stderr.

use crate::store::ObjectMeta;

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tokio::sync::mpsc;

const WORKERS: usize = 4;
const BACKOFF: [Duration; 2] = [Duration::from_millis(500), Duration::from_millis(1000)];
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// Encodes a key the way S3 writes it in event documents: form encoding,
/// with `/` kept (a space is `+`, every other byte outside `A-Za-z0-9-_.*` is `%XX`).
pub fn event_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for &b in key.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' | b'/' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `2025-11-28T12:00:00.000Z`.
pub fn event_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// What an event says besides the object itself.
pub struct EventContext<'a> {
    pub region: &'a str,
    pub bucket: &'a str,
    pub event_name: &'a str,
    pub principal: &'a str,
    pub request_id: &'a str,
    pub sequence: u64,
}

/// The document S3 sends to Lambda for one created object.
pub fn event_document(cx: &EventContext<'_>, meta: &ObjectMeta, at: OffsetDateTime) -> Value {
    let id2 = hex::encode(Sha256::digest(cx.request_id.as_bytes()));
    json!({
        "Records": [{
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": cx.region,
            "eventTime": event_time(at),
            "eventName": cx.event_name,
            "userIdentity": { "principalId": format!("AWS:{}", cx.principal) },
            "requestParameters": { "sourceIPAddress": "127.0.0.1" },
            "responseElements": {
                "x-amz-request-id": cx.request_id,
                "x-amz-id-2": id2,
            },
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": "local",
                "bucket": {
                    "name": cx.bucket,
                    "ownerIdentity": { "principalId": "LOCALOWNER" },
                    "arn": format!("arn:aws:s3:::{}", cx.bucket),
                },
                "object": {
                    "key": event_key(&meta.key),
                    "size": meta.size,
                    "eTag": meta.etag_hex(),
                    "sequencer": format!("{:016X}", cx.sequence),
                }
            }
        }]
    })
}

struct Job {
    body: Vec<u8>,
    key_len: usize,
}

pub struct Notifier {
    region: String,
    prefix: String,
    workers: Vec<mpsc::UnboundedSender<Job>>,
}

impl Notifier {
    /// Starts the delivery workers (inside a Tokio runtime).
    pub fn start(url: hyper::Uri, region: String, prefix: String) -> Notifier {
        // A new connection per delivery: a listener that closes idle
        // connections cannot make a delivery fail on a stale one.
        let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build_http();
        let workers = (0..WORKERS)
            .map(|_| {
                let (tx, rx) = mpsc::unbounded_channel();
                tokio::spawn(deliver_all(client.clone(), url.clone(), rx));
                tx
            })
            .collect();
        Notifier {
            region,
            prefix,
            workers,
        }
    }

    /// Queues the event for a committed object, if its key is under the prefix.
    /// Does not block: meant to be called under the store's lock.
    pub fn queue(
        &self,
        bucket: &str,
        meta: &ObjectMeta,
        event_name: &str,
        principal: &str,
        request_id: &str,
        sequence: u64,
    ) {
        if !meta.key.starts_with(&self.prefix) {
            return;
        }
        let cx = EventContext {
            region: &self.region,
            bucket,
            event_name,
            principal,
            request_id,
            sequence,
        };
        let doc = event_document(&cx, meta, OffsetDateTime::now_utc());
        let body = serde_json::to_vec(&doc).unwrap_or_default();
        let shard = Sha256::digest(format!("{bucket}/{}", meta.key).as_bytes())[0] as usize
            % self.workers.len();
        let _ = self.workers[shard].send(Job {
            body,
            key_len: meta.key.len(),
        });
    }
}

async fn deliver_all(
    client: Client<HttpConnector, Full<Bytes>>,
    url: hyper::Uri,
    mut rx: mpsc::UnboundedReceiver<Job>,
) {
    while let Some(job) = rx.recv().await {
        deliver(&client, &url, job).await;
    }
}

async fn deliver(client: &Client<HttpConnector, Full<Bytes>>, url: &hyper::Uri, job: Job) {
    let body = Bytes::from(job.body);
    for attempt in 0..=BACKOFF.len() {
        let req = hyper::Request::post(url.clone())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(body.clone()));
        let req = match req {
            Ok(req) => req,
            Err(e) => {
                eprintln!("notify: cannot build request: {e}");
                return;
            }
        };
        let outcome = match tokio::time::timeout(ATTEMPT_TIMEOUT, client.request(req)).await {
            Ok(Ok(resp)) => {
                let status = resp.status();
                // Read the answer so the connection can be reused.
                let _ = resp.into_body().collect().await;
                if status.is_success() {
                    eprintln!(
                        "notify: delivered ObjectCreated (key {} bytes): {status}",
                        job.key_len
                    );
                    return;
                }
                format!("answered {status}")
            }
            Ok(Err(e)) => format!("failed: {e}"),
            Err(_) => "timed out".to_owned(),
        };
        eprintln!(
            "notify: delivery {} of {} (key {} bytes) {outcome}",
            attempt + 1,
            BACKOFF.len() + 1,
            job.key_len
        );
        if let Some(wait) = BACKOFF.get(attempt) {
            tokio::time::sleep(*wait).await;
        }
    }
    eprintln!("notify: dropped ObjectCreated (key {} bytes)", job.key_len);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn keys_are_form_encoded_with_slashes_kept() {
        assert_eq!(event_key("patients/u1/a.jpg"), "patients/u1/a.jpg");
        assert_eq!(event_key("a b+c"), "a+b%2Bc");
        assert_eq!(event_key("x(1)&y=z~"), "x%281%29%26y%3Dz%7E");
        assert_eq!(event_key("é"), "%C3%A9");
        assert_eq!(event_key("keep-_.*"), "keep-_.*");
    }

    #[test]
    fn the_document_has_the_shape_s3_sends() {
        let meta = ObjectMeta {
            key: "patients/p 1/a.jpg".into(),
            size: 1024,
            etag: "\"0f343b0931126a20f133d67c2b018a3b\"".into(),
            last_modified: OffsetDateTime::UNIX_EPOCH,
            content_type: "image/jpeg".into(),
            cache_control: None,
            content_disposition: None,
            content_encoding: None,
            content_language: None,
            metadata: BTreeMap::new(),
        };
        let cx = EventContext {
            region: "eu-west-1",
            bucket: "hms-files-local",
            event_name: "ObjectCreated:Put",
            principal: "AKID",
            request_id: "REQ1",
            sequence: 0x692991C0B5F2A1D7,
        };
        let at = OffsetDateTime::from_unix_timestamp_nanos(1_764_331_200_123_456_789).unwrap();
        let doc = event_document(&cx, &meta, at);
        let r = &doc["Records"][0];
        assert_eq!(r["eventVersion"], "2.1");
        assert_eq!(r["eventSource"], "aws:s3");
        assert_eq!(r["awsRegion"], "eu-west-1");
        assert_eq!(r["eventTime"], "2025-11-28T12:00:00.123Z");
        assert_eq!(r["eventName"], "ObjectCreated:Put");
        assert_eq!(r["userIdentity"]["principalId"], "AWS:AKID");
        assert_eq!(r["requestParameters"]["sourceIPAddress"], "127.0.0.1");
        assert_eq!(r["responseElements"]["x-amz-request-id"], "REQ1");
        assert!(r["responseElements"]["x-amz-id-2"].is_string());
        let s3 = &r["s3"];
        assert_eq!(s3["s3SchemaVersion"], "1.0");
        assert_eq!(s3["configurationId"], "local");
        assert_eq!(s3["bucket"]["name"], "hms-files-local");
        assert_eq!(s3["bucket"]["arn"], "arn:aws:s3:::hms-files-local");
        assert!(s3["bucket"]["ownerIdentity"]["principalId"].is_string());
        assert_eq!(s3["object"]["key"], "patients/p+1/a.jpg");
        assert_eq!(s3["object"]["size"], 1024);
        assert_eq!(s3["object"]["eTag"], "0f343b0931126a20f133d67c2b018a3b");
        assert_eq!(s3["object"]["sequencer"], "692991C0B5F2A1D7");
    }
}
