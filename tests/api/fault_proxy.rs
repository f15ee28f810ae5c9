//! A loopback proxy in front of an emulator that fails chosen operations:
//! throttling, a 500, or a slow answer. Everything else is forwarded byte for
//! byte (so S3 signatures, which cover the Host header, stay valid).
//!
//! In conflict mode it gives DynamoDB's transaction isolation, which the
//! emulator (one request at a time) never shows: while a TransactWriteItems
//! is in flight, another transaction touching one of its items is cancelled
//! with `TransactionConflict` for that member, and a PutItem, UpdateItem or
//! DeleteItem of one of them fails with `TransactionConflictException`, as
//! DynamoDB documents for concurrent writes.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Copy, Debug)]
pub enum Fault {
    /// 400 ThrottlingException (DynamoDB's JSON protocol).
    Throttle,
    /// 500 with an S3/DynamoDB-shaped error body.
    ServerError,
    /// Forward, but only after this long.
    Slow(Duration),
    /// 400 TransactionCanceledException, the first member cancelled for
    /// this reason code (e.g. `TransactionConflict`), the others `None`.
    Cancelled(&'static str),
    /// BatchGetItem: 200 with every requested key unprocessed (DynamoDB short
    /// of capacity).
    Unprocessed,
    /// S3 DeleteObjects: 200 with an error for every key (e.g. AccessDenied).
    DeleteErrors,
}

/// Which requests a fault applies to: a DynamoDB operation (`X-Amz-Target`
/// suffix) or an HTTP method (S3: `HEAD` is HeadObject).
#[derive(Clone, Debug)]
pub enum Match {
    Operation(&'static str),
    /// Any of these operations.
    Operations(&'static [&'static str]),
    Method(&'static str),
    /// A path containing this (e.g. CloudFront's `/invalidation`).
    Path(&'static str),
}

struct Rule {
    on: Match,
    fault: Fault,
}

pub struct FaultProxy {
    pub url: String,
    rule: Arc<Mutex<Option<Rule>>>,
    faulted: Arc<AtomicUsize>,
    conflicts: Option<Arc<Conflicts>>,
}

/// The items of the transactions in flight, and how many conflicts were
/// answered.
#[derive(Default)]
struct Conflicts {
    in_flight: Mutex<HashMap<String, usize>>,
    answered: AtomicUsize,
    /// Held before forwarding a transaction, so that overlaps happen at the
    /// rates they do against DynamoDB (whose transactions take milliseconds).
    hold: Duration,
}

/// The items a DynamoDB write names, as `table|PK|SK` (attribute values as
/// JSON), one per transaction member.
fn written_items(req: &Request) -> Option<(bool, Vec<String>)> {
    let op = req.header("x-amz-target")?.rsplit('.').next()?.to_string();
    let body: serde_json::Value = serde_json::from_slice(&req.body).ok()?;
    let id = |table: &serde_json::Value, key: &serde_json::Value| {
        format!("{}|{}|{}", table, key["PK"], key["SK"])
    };
    match op.as_str() {
        "TransactWriteItems" => {
            let members = body["TransactItems"].as_array()?;
            let ids = members
                .iter()
                .filter_map(|m| {
                    let (kind, part) = m.as_object()?.iter().next()?;
                    let key = if kind == "Put" {
                        &part["Item"]
                    } else {
                        &part["Key"]
                    };
                    Some(id(&part["TableName"], key))
                })
                .collect();
            Some((true, ids))
        }
        "PutItem" => Some((false, vec![id(&body["TableName"], &body["Item"])])),
        "UpdateItem" | "DeleteItem" => Some((false, vec![id(&body["TableName"], &body["Key"])])),
        _ => None,
    }
}

impl Conflicts {
    /// Forwards `req`, or answers the conflict DynamoDB would.
    fn serve(&self, req: &Request, upstream: &str, client: &mut TcpStream) {
        let Some((transaction, items)) = written_items(req) else {
            return forward(req, upstream, client);
        };
        let mut in_flight = self.in_flight.lock().expect("in flight");
        let busy: Vec<bool> = items.iter().map(|i| in_flight.contains_key(i)).collect();
        if busy.contains(&true) {
            drop(in_flight);
            self.answered.fetch_add(1, Ordering::SeqCst);
            let body = if transaction {
                let reasons: Vec<String> = busy
                    .iter()
                    .map(|b| {
                        let code = if *b { "TransactionConflict" } else { "None" };
                        format!(r#"{{"Code":"{code}"}}"#)
                    })
                    .collect();
                let codes: Vec<&str> = busy
                    .iter()
                    .map(|b| if *b { "TransactionConflict" } else { "None" })
                    .collect();
                format!(
                    r#"{{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","Message":"Transaction cancelled, please refer cancellation reasons for specific reasons [{}]","CancellationReasons":[{}]}}"#,
                    codes.join(", "),
                    reasons.join(",")
                )
            } else {
                r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionConflictException","message":"Transaction is ongoing for the item"}"#.to_string()
            };
            return respond(
                client,
                "400 Bad Request",
                "application/x-amz-json-1.0",
                &body,
            );
        }
        if !transaction {
            drop(in_flight);
            return forward(req, upstream, client);
        }
        for item in &items {
            *in_flight.entry(item.clone()).or_default() += 1;
        }
        drop(in_flight);
        std::thread::sleep(self.hold);
        forward(req, upstream, client);
        let mut in_flight = self.in_flight.lock().expect("in flight");
        for item in &items {
            if let Some(n) = in_flight.get_mut(item) {
                *n -= 1;
                if *n == 0 {
                    in_flight.remove(item);
                }
            }
        }
    }
}

struct Request {
    head: String,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    fn method(&self) -> &str {
        self.head.split(' ').next().unwrap_or("")
    }

    fn matches(&self, on: &Match) -> bool {
        match on {
            Match::Operation(op) => self
                .header("x-amz-target")
                .is_some_and(|t| t.rsplit('.').next() == Some(op)),
            Match::Operations(ops) => ops.iter().any(|op| self.matches(&Match::Operation(op))),
            Match::Method(m) => self.method() == *m,
            Match::Path(p) => self
                .head
                .split(' ')
                .nth(1)
                .is_some_and(|path| path.contains(p)),
        }
    }

    /// The request as sent, asking the upstream to close after answering.
    fn bytes_closing(&self) -> Vec<u8> {
        let mut head: Vec<&str> = self
            .head
            .split("\r\n")
            .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
            .collect();
        head.retain(|l| !l.is_empty());
        let mut out = head.join("\r\n").into_bytes();
        out.extend_from_slice(b"\r\nconnection: close\r\n\r\n");
        out.extend_from_slice(&self.body);
        out
    }
}

fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let n = stream.read(&mut buf).ok().filter(|n| *n > 0)?;
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let mut body = data[head_end + 4..].to_vec();
    let req = Request {
        head,
        body: Vec::new(),
    };
    let length: usize = req
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while body.len() < length {
        let n = stream.read(&mut buf).ok().filter(|n| *n > 0)?;
        body.extend_from_slice(&buf[..n]);
    }
    Some(Request { body, ..req })
}

fn respond(stream: &mut TcpStream, status: &str, content_type: &str, body: &str) {
    let reply = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(reply.as_bytes()).ok();
}

fn forward(req: &Request, upstream: &str, client: &mut TcpStream) {
    let Ok(mut up) = TcpStream::connect(upstream) else {
        return;
    };
    if up.write_all(&req.bytes_closing()).is_err() {
        return;
    }
    let mut answer = Vec::new();
    up.read_to_end(&mut answer).ok();
    client.write_all(&answer).ok();
}

fn serve(
    mut client: TcpStream,
    upstream: &str,
    rule: &Mutex<Option<Rule>>,
    faulted: &AtomicUsize,
    conflicts: Option<&Conflicts>,
) {
    let Some(req) = read_request(&mut client) else {
        return;
    };
    let fault = rule
        .lock()
        .ok()
        .and_then(|r| r.as_ref().filter(|r| req.matches(&r.on)).map(|r| r.fault));
    if fault.is_some() {
        faulted.fetch_add(1, Ordering::SeqCst);
    }
    let is_dynamodb = req.header("x-amz-target").is_some();
    match fault {
        None => match conflicts {
            Some(c) => c.serve(&req, upstream, &mut client),
            None => forward(&req, upstream, &mut client),
        },
        Some(Fault::Slow(delay)) => {
            std::thread::sleep(delay);
            forward(&req, upstream, &mut client);
        }
        Some(Fault::Throttle) => respond(
            &mut client,
            "400 Bad Request",
            "application/x-amz-json-1.0",
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate of requests exceeds the allowed throughput."}"#,
        ),
        Some(Fault::Cancelled(reason)) => respond(
            &mut client,
            "400 Bad Request",
            "application/x-amz-json-1.0",
            &format!(
                r#"{{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","Message":"Transaction cancelled, please refer cancellation reasons for specific reasons [{reason}, None]","CancellationReasons":[{{"Code":"{reason}","Message":"cancelled"}},{{"Code":"None"}}]}}"#
            ),
        ),
        Some(Fault::Unprocessed) => {
            let asked: serde_json::Value =
                serde_json::from_slice(&req.body).unwrap_or_default();
            let tables: serde_json::Map<String, serde_json::Value> = asked["RequestItems"]
                .as_object()
                .map(|t| t.keys().map(|k| (k.clone(), serde_json::json!([]))).collect())
                .unwrap_or_default();
            let body = serde_json::json!({
                "Responses": tables,
                "UnprocessedKeys": asked["RequestItems"],
            });
            respond(
                &mut client,
                "200 OK",
                "application/x-amz-json-1.0",
                &body.to_string(),
            )
        }
        Some(Fault::DeleteErrors) => {
            let body = String::from_utf8_lossy(&req.body);
            let errors: String = body
                .split("<Key>")
                .skip(1)
                .filter_map(|rest| rest.split("</Key>").next())
                .map(|key| {
                    format!("<Error><Key>{key}</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error>")
                })
                .collect();
            respond(
                &mut client,
                "200 OK",
                "application/xml",
                &format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">{errors}</DeleteResult>"),
            )
        }
        Some(Fault::ServerError) if is_dynamodb => respond(
            &mut client,
            "500 Internal Server Error",
            "application/x-amz-json-1.0",
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"Internal server error"}"#,
        ),
        Some(Fault::ServerError) => respond(
            &mut client,
            "500 Internal Server Error",
            "application/xml",
            "<?xml version=\"1.0\"?><Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>",
        ),
    }
}

impl FaultProxy {
    /// A proxy to `upstream` (`http://127.0.0.1:port`), passing everything.
    pub fn start(upstream: &str) -> Self {
        Self::launch(upstream, None)
    }

    /// A proxy to a DynamoDB emulator that answers overlapping writes with
    /// DynamoDB's transaction conflicts (see the module docs).
    pub fn with_conflicts(upstream: &str) -> Self {
        Self::launch(
            upstream,
            Some(Arc::new(Conflicts {
                hold: Duration::from_millis(5),
                ..Conflicts::default()
            })),
        )
    }

    fn launch(upstream: &str, conflicts: Option<Arc<Conflicts>>) -> Self {
        let upstream = upstream.trim_start_matches("http://").to_string();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let rule: Arc<Mutex<Option<Rule>>> = Arc::new(Mutex::new(None));
        let faulted = Arc::new(AtomicUsize::new(0));
        let (r, f, c) = (rule.clone(), faulted.clone(), conflicts.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (r, f, c, upstream) = (r.clone(), f.clone(), c.clone(), upstream.clone());
                std::thread::spawn(move || serve(client, &upstream, &r, &f, c.as_deref()));
            }
        });
        Self {
            url,
            rule,
            faulted,
            conflicts,
        }
    }

    /// Conflicts answered so far (conflict mode).
    pub fn conflicts(&self) -> usize {
        self.conflicts
            .as_ref()
            .map_or(0, |c| c.answered.load(Ordering::SeqCst))
    }

    /// From now on, `fault` for requests matching `on`.
    pub fn fail(&self, on: Match, fault: Fault) {
        *self.rule.lock().expect("rule") = Some(Rule { on, fault });
    }

    pub fn heal(&self) {
        *self.rule.lock().expect("rule") = None;
    }

    /// Requests the fault applied to so far.
    pub fn faulted(&self) -> usize {
        self.faulted.load(Ordering::SeqCst)
    }
}
