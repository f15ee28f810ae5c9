//! Test harness: real AWS-API servers on 127.0.0.1 (moto for DynamoDB,
//! CloudFront and SSM; the project's local S3, `hms-local-s3`, which verifies
//! SigV4 signatures as S3 does), started once per test run on free ports, and
//! helpers that call the real handler.
//!
//! Two S3 servers run: a plain one, and one that delivers ObjectCreated
//! events to the real ingest (served in this process, as `hms-local` serves
//! it), for the tests of uploads that attach themselves.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use hms::aws_calls::CallCounts;
use hms::context::{Endpoints, Limits, Settings};
use hms::Context;
use lambda_http::http::{Method, Request};
use lambda_http::Body;
use serde_json::{json, Value};

pub const ACCESS_KEY: &str = "hmstest";
pub const SECRET_KEY: &str = "hmstestsecret";
pub const BUCKET: &str = "hms-files-test";
pub const TABLE: &str = "HMS-test";

#[derive(Clone)]
pub struct Emulators {
    pub dynamodb: String,
    pub s3: String,
    /// An S3 whose ObjectCreated events reach the ingest.
    pub s3_ingest: String,
}

static EMULATORS: OnceLock<Emulators> = OnceLock::new();

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free local port")
}

fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} did not start on port {port}");
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tool(env_var: &str, default: PathBuf, install_hint: &str) -> PathBuf {
    let path = std::env::var_os(env_var)
        .map(PathBuf::from)
        .unwrap_or(default);
    assert!(
        path.exists(),
        "{} not found; {install_hint}",
        path.display()
    );
    path
}

/// Children die with the test process: PR_SET_PDEATHSIG fires when the thread
/// that spawned them ends, and that thread lives as long as the process.
fn spawn(cmd: &mut Command) -> Child {
    use std::os::unix::process::CommandExt;
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("emulator starts")
}

fn start_emulators() -> Emulators {
    if let (Ok(dynamodb), Ok(s3)) = (
        std::env::var("HMS_TEST_DYNAMODB_URL"),
        std::env::var("HMS_TEST_S3_URL"),
    ) {
        let s3_ingest = std::env::var("HMS_TEST_S3_INGEST_URL").unwrap_or_else(|_| s3.clone());
        return Emulators {
            dynamodb,
            s3,
            s3_ingest,
        };
    }
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let hint = "run ./setup.sh check (it installs and builds the emulators)";
        let python = tool("HMS_PYTHON", repo().join(".venv/bin/python"), hint);
        let s3_server = tool(
            "HMS_LOCAL_S3",
            repo().join("target/debug/hms-local-s3"),
            hint,
        );
        let ddb_port = free_port();
        let events = TcpListener::bind("127.0.0.1:0").expect("an ingest port");
        let events_url = format!("http://{}/", events.local_addr().expect("address"));
        let s3 = |port: u16, dir: &str, notify: Option<&str>| {
            let data = std::env::temp_dir().join(format!("hms-s3-{dir}-{}", std::process::id()));
            std::fs::create_dir_all(&data).expect("s3 data dir");
            let mut cmd = Command::new(&s3_server);
            cmd.args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--access-key",
                ACCESS_KEY,
                "--secret-key",
                SECRET_KEY,
                "--data",
                data.to_str().unwrap_or("/tmp"),
            ]);
            if let Some(url) = notify {
                cmd.args(["--notify-url", url, "--notify-prefix", "patients/"]);
            }
            spawn(&mut cmd)
        };
        let (s3_port, ingest_port) = (free_port(), free_port());
        let children = vec![
            spawn(
                Command::new(python).args([
                    repo()
                        .join("tests/emulator/moto_serial.py")
                        .to_str()
                        .unwrap_or_default(),
                    "--port",
                    &ddb_port.to_string(),
                ]),
            ),
            s3(s3_port, "plain", None),
            s3(ingest_port, "ingest", Some(&events_url)),
        ];
        wait_for_port(ddb_port, "moto");
        wait_for_port(s3_port, "hms-local-s3");
        wait_for_port(ingest_port, "hms-local-s3 (ingest)");
        let emulators = Emulators {
            dynamodb: format!("http://127.0.0.1:{ddb_port}"),
            s3: format!("http://127.0.0.1:{s3_port}"),
            s3_ingest: format!("http://127.0.0.1:{ingest_port}"),
        };
        let ingest_ctx = build_context(
            &Emulators {
                s3: emulators.s3_ingest.clone(),
                ..emulators.clone()
            },
            Settings::from_lookup(settings_lookup(&[])),
        );
        tx.send(emulators).ok();
        // Keep this thread (and so the children) alive until the process
        // exits, serving the ingest the second S3 notifies.
        let _children = children;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            events.set_nonblocking(true).expect("nonblocking");
            let listener = tokio::net::TcpListener::from_std(events).expect("listener");
            hms::local_server::serve_s3_events(ingest_ctx, listener, None, std::future::pending())
                .await
                .expect("ingest served");
        });
    });
    let emulators = rx.recv().expect("emulators started");
    provision(&emulators);
    emulators
}

/// Creates the table and the bucket (on both S3 servers) once, on a runtime
/// of its own.
fn provision(emulators: &Emulators) {
    let ctx = build_context(emulators, Settings::from_lookup(settings_lookup(&[])));
    let ingest = build_context(
        &Emulators {
            s3: emulators.s3_ingest.clone(),
            ..emulators.clone()
        },
        Settings::from_lookup(settings_lookup(&[])),
    );
    std::thread::scope(|s| {
        s.spawn(|| {
            let rt = tokio::runtime::Runtime::new().expect("runtime");
            rt.block_on(async {
                hms::provision::ensure_table(&ctx)
                    .await
                    .expect("table created");
                for ctx in [&ctx, &ingest] {
                    hms::provision::ensure_bucket(ctx)
                        .await
                        .expect("bucket created");
                }
            });
        });
    });
}

pub fn emulators() -> &'static Emulators {
    EMULATORS.get_or_init(start_emulators)
}

fn sdk_config() -> SdkConfig {
    SdkConfig::builder()
        .region(Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(
            aws_sdk_s3::config::Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "tests"),
        ))
        .behavior_version(BehaviorVersion::latest())
        .build()
}

fn settings_lookup(extra: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let mut vars: Vec<(String, String)> = vec![
        ("TABLE_NAME".into(), TABLE.into()),
        ("FILES_BUCKET".into(), BUCKET.into()),
    ];
    vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    move |name| {
        vars.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

/// The suite runs many tests at once against one emulator that answers one
/// request at a time: production's time bounds would cut slow answers off.
/// The fault tests use tight bounds of their own.
fn patient_limits() -> Limits {
    Limits {
        attempt_timeout: Duration::from_secs(60),
        operation_timeout: Duration::from_secs(120),
        request_timeout: Duration::from_secs(300),
        ..Limits::default()
    }
}

fn build_context(emulators: &Emulators, mut settings: Settings) -> Context {
    if settings.limits == Limits::default() {
        settings.limits = patient_limits();
    }
    let endpoints = Endpoints {
        dynamodb: Some(emulators.dynamodb.clone()),
        s3: Some(emulators.s3.clone()),
        cloudfront: Some(emulators.dynamodb.clone()),
    };
    Context::build(&sdk_config(), settings, &endpoints, true)
}

/// The handler as production builds it, pointed at the emulators.
pub struct App {
    pub ctx: Context,
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: lambda_http::http::HeaderMap,
    pub body: Value,
    pub calls: CallCounts,
    /// The request's metrics document (CloudWatch EMF).
    pub metrics: Value,
}

impl Reply {
    /// Write calls this request made, of any kind (see [`WRITE_OPS`]).
    pub fn writes(&self) -> u32 {
        writes(&self.calls)
    }
}

impl App {
    pub fn new() -> Self {
        Self::with_env(&[])
    }

    /// With extra settings (e.g. `CDN_DOMAIN`, or an empty `FILES_BUCKET`).
    pub fn with_env(extra: &[(&str, &str)]) -> Self {
        let ctx = build_context(emulators(), Settings::from_lookup(settings_lookup(extra)));
        Self { ctx }
    }

    /// Against the S3 whose ObjectCreated events reach the ingest.
    pub fn with_ingest() -> Self {
        let emulators = emulators();
        let ctx = build_context(
            &Emulators {
                s3: emulators.s3_ingest.clone(),
                ..emulators.clone()
            },
            Settings::from_lookup(settings_lookup(&[])),
        );
        Self { ctx }
    }

    /// With DynamoDB behind a proxy that answers overlapping writes with
    /// DynamoDB's transaction conflicts; the proxy tells how many it answered.
    pub fn with_conflicts() -> (Self, crate::fault_proxy::FaultProxy) {
        let proxy = crate::fault_proxy::FaultProxy::with_conflicts(&emulators().dynamodb);
        let e = emulators();
        let ctx = build_context(
            &Emulators {
                dynamodb: proxy.url.clone(),
                ..e.clone()
            },
            Settings::from_lookup(settings_lookup(&[])),
        );
        (Self { ctx }, proxy)
    }

    /// Settings as the suite builds them, plus `extra` variables.
    pub fn settings(extra: &[(&str, &str)]) -> Settings {
        Settings::from_lookup(settings_lookup(extra))
    }

    /// With settings and endpoints of the test's own (e.g. a fault proxy).
    pub fn with_endpoints(settings: Settings, dynamodb: &str, s3: &str) -> Self {
        emulators();
        let endpoints = Endpoints {
            dynamodb: Some(dynamodb.to_string()),
            s3: Some(s3.to_string()),
            cloudfront: Some(dynamodb.to_string()),
        };
        Self {
            ctx: Context::build(&sdk_config(), settings, &endpoints, true),
        }
    }

    /// A request with `Authorization: Bearer {token}` when a token is given.
    pub async fn call_as(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Reply {
        self.call_with(token, &[], method, path, body).await
    }

    /// [`App::call_as`] with extra headers (say, `x-break-glass-reason`).
    pub async fn call_with(
        &self,
        token: Option<&str>,
        headers: &[(&str, &str)],
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Reply {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json");
        if let Some(token) = token {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let body = body.map_or(Body::Empty, |b| Body::Text(b.to_string()));
        self.send(req.body(body).expect("request")).await
    }

    pub async fn send(&self, req: Request<Body>) -> Reply {
        let hms::Handled {
            response: resp,
            calls,
            metrics,
        } = hms::handle_observed(&self.ctx, req).await;
        // Every request of the suite passes here: none may scan the table.
        assert_eq!(
            calls.get("DynamoDB.Scan"),
            0,
            "a request sent a Scan: {calls}"
        );
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = match resp.body() {
            Body::Text(t) => serde_json::from_str(t).unwrap_or(Value::String(t.clone())),
            Body::Binary(b) => serde_json::from_slice(b).unwrap_or(Value::Null),
            _ => Value::Null,
        };
        Reply {
            status,
            headers,
            body,
            calls,
            metrics,
        }
    }

    pub async fn raw(&self, method: &str, path: &str, body: &str) -> Reply {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json")
            .body(if body.is_empty() {
                Body::Empty
            } else {
                Body::Text(body.to_string())
            })
            .expect("request");
        self.send(req).await
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        let text = body.map(|b| b.to_string()).unwrap_or_default();
        self.raw(method, path, &text).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call("GET", path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call("POST", path, Some(body)).await
    }

    /// Creates a patient with a fresh MRN; returns (uid, mrn).
    pub async fn create_patient(&self) -> (String, String) {
        let mrn = unique("MRN");
        let r = self
            .post(
                "/patients",
                json!({"name": "Test Patient", "age": 50, "sex": "M",
                       "registration": {"mrn": mrn, "scheme": "GENERAL", "department": unique("Dept")}}),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        (r.body["patientId"].as_str().expect("uid").to_string(), mrn)
    }

    /// Presigns an upload and PUTs `bytes` to S3 over real HTTP; returns the
    /// presign answer.
    pub async fn upload(&self, id: &str, body: Value, bytes: &[u8]) -> Value {
        let r = self
            .post(&format!("/patients/{id}/files/presign-upload"), body)
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        let status = put_presigned(&r.body, bytes, None).await;
        assert_eq!(status, 200, "presigned PUT accepted");
        r.body
    }

    /// Attaches an uploaded document; asserts a 200 and returns the answer.
    pub async fn attach_doc(&self, uid: &str, category: &str, key: &str) -> Reply {
        let r = self
            .post(
                &format!("/patients/{uid}/documents/attach"),
                json!({"category": category, "key": key}),
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        r
    }

    /// Every stored item under partition key `pk`, read straight from the
    /// table (not through the API).
    pub async fn partition(&self, pk: &str) -> Vec<hms::store::Item> {
        let mut pages = self
            .ctx
            .ddb
            .query()
            .table_name(self.ctx.table())
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(
                ":pk",
                aws_sdk_dynamodb::types::AttributeValue::S(pk.to_string()),
            )
            .into_paginator()
            .items()
            .send();
        let mut items = Vec::new();
        while let Some(item) = pages.next().await {
            items.push(item.expect("partition query"));
        }
        items
    }

    /// The upload intent recorded at presign time for `key`.
    pub async fn upload_intent(&self, uid: &str, key: &str) -> Option<hms::uploads::UploadIntent> {
        hms::store::get(
            &self.ctx,
            &hms::keys::patient_pk(uid),
            &hms::keys::upload_sk(key),
        )
        .await
        .expect("intent read")
    }

    /// Uploads a small JPEG-ish file for a document type; returns its key.
    pub async fn upload_doc(&self, id: &str, doc_type: &str) -> String {
        let answer = self
            .upload(
                id,
                json!({"filename": "scan.jpg", "mimeType": "image/jpeg", "docType": doc_type}),
                b"\xff\xd8test-bytes\xff\xd9",
            )
            .await;
        answer["key"].as_str().expect("key").to_string()
    }
}

/// PUTs to a presign answer's URL with its headers (one may be overridden).
pub async fn put_presigned(
    answer: &Value,
    bytes: &[u8],
    override_header: Option<(&str, &str)>,
) -> u16 {
    put_to(
        answer["uploadUrl"].as_str().expect("url"),
        answer,
        bytes,
        override_header,
    )
    .await
}

pub async fn put_to(
    url: &str,
    answer: &Value,
    bytes: &[u8],
    override_header: Option<(&str, &str)>,
) -> u16 {
    let client = reqwest::Client::new();
    let mut req = client.put(url).body(bytes.to_vec());
    for (name, value) in answer["headers"].as_object().expect("headers") {
        if override_header.is_some_and(|(n, _)| n.eq_ignore_ascii_case(name)) {
            continue;
        }
        req = req.header(name.as_str(), value.as_str().unwrap_or_default());
    }
    if let Some((n, v)) = override_header {
        req = req.header(n, v);
    }
    req.send().await.expect("PUT sent").status().as_u16()
}

/// The names of a presign answer's headers that the clinic's shared upload
/// helper would drop (it sends every header but `x-amz-meta-*`).
pub fn meta_headers(answer: &Value) -> Vec<String> {
    answer["headers"]
        .as_object()
        .expect("headers")
        .keys()
        .filter(|k| k.to_ascii_lowercase().starts_with("x-amz-meta-"))
        .cloned()
        .collect()
}

/// Calls each `(method, path, body)` and asserts a 404 `Patient not found`
/// that wrote nothing.
pub async fn assert_unknown_patient(app: &App, routes: Vec<(&str, String, Option<Value>)>) {
    for (method, path, body) in routes {
        let r = app.call(method, &path, body).await;
        assert_eq!(r.status, 404, "{method} {path}");
        assert_eq!(r.body["error"], "Patient not found", "{method} {path}");
        assert_eq!(r.writes(), 0, "{method} {path} wrote: {}", r.calls);
    }
}

/// An SSM client on the emulator (moto serves SSM as well).
/// An SQS client of the emulator (moto serves SQS beside DynamoDB).
pub fn sqs() -> aws_sdk_sqs::Client {
    let conf = aws_sdk_sqs::config::Builder::from(&sdk_config())
        .endpoint_url(&emulators().dynamodb)
        .build();
    aws_sdk_sqs::Client::from_conf(conf)
}

pub fn ssm() -> aws_sdk_ssm::Client {
    let conf = aws_sdk_ssm::config::Builder::from(&sdk_config())
        .endpoint_url(&emulators().dynamodb)
        .build();
    aws_sdk_ssm::Client::from_conf(conf)
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

#[allow(dead_code)]
pub fn method(m: &str) -> Method {
    Method::from_bytes(m.as_bytes()).expect("method")
}

/// What the suite counts when it asserts that a refused request wrote
/// nothing: every DynamoDB write operation, every S3 object change and
/// CloudFront invalidations (attempts, as [`CallCounts`] records them).
pub const WRITE_OPS: &[&str] = &[
    "DynamoDB.PutItem",
    "DynamoDB.UpdateItem",
    "DynamoDB.DeleteItem",
    "DynamoDB.TransactWriteItems",
    "DynamoDB.BatchWriteItem",
    "S3.PutObject",
    "S3.CopyObject",
    "S3.DeleteObject",
    "S3.DeleteObjects",
    "CloudFront.CreateInvalidation",
];

/// How many write calls (of [`WRITE_OPS`]) a request made.
pub fn writes(calls: &CallCounts) -> u32 {
    WRITE_OPS.iter().map(|op| calls.get(op)).sum()
}

/// The `events/` fixtures folder.
pub fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("events")
}

/// One fixture's text.
pub fn fixture(name: &str) -> String {
    std::fs::read_to_string(events_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// An ObjectCreated event (shaped as the fixture) for `keys` in the
/// suite's bucket.
pub fn s3_event(keys: &[&str]) -> aws_lambda_events::event::s3::S3Event {
    let template: Value = serde_json::from_str(&fixture("s3-object-created.json")).unwrap();
    let mut event = template.clone();
    let record = template["Records"][0].clone();
    event["Records"] = Value::Array(
        keys.iter()
            .map(|key| {
                let mut r = record.clone();
                r["s3"]["bucket"]["name"] = json!(BUCKET);
                r["s3"]["object"]["key"] = json!(key.replace(' ', "+"));
                r
            })
            .collect(),
    );
    serde_json::from_value(event).expect("S3 event")
}

/// Whether a ledger action records a read (a view of the record, a list,
/// links) rather than a change.
pub fn is_read_action(action: &str) -> bool {
    action.ends_with(".read")
        || action.ends_with(".list")
        || matches!(
            action,
            "files.list-links" | "files.presign-download" | "documents.links"
        )
}
