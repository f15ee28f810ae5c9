//! X-Ray subsegments for the AWS calls of a sampled request: one document
//! per call (its service, operation, start and end), sent over UDP to the
//! daemon Lambda runs beside the function (`AWS_XRAY_DAEMON_ADDRESS`),
//! under the function's segment (the `Parent` of the invocation's trace
//! header). The call counter already times each call, so this costs a
//! datagram per call after the answer is sent and nothing at cold start
//! (the socket is opened on the first sampled request).

use std::net::UdpSocket;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::aws_calls::CallSpan;

/// The daemon's framing: a header line, then the document.
const HEADER: &str = "{\"format\": \"json\", \"version\": 1}";

/// `Root`, `Parent` of a sampled trace header (`Root=1-…;Parent=…;Sampled=1`).
fn sampled(header: &str) -> Option<(&str, &str)> {
    let field = |name: &str| {
        header
            .split(';')
            .find_map(|p| p.trim().strip_prefix(name)?.strip_prefix('='))
    };
    match (field("Root"), field("Parent"), field("Sampled")) {
        (Some(root), Some(parent), Some("1")) => Some((root, parent)),
        _ => None,
    }
}

fn epoch(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A fresh 16-hex-digit id, as X-Ray wants for a (sub)segment.
fn segment_id() -> String {
    let bytes = uuid::Uuid::new_v4();
    bytes.simple().to_string()[..16].to_string()
}

/// The datagrams of `spans` under `trace_header`; none unless it is sampled.
pub fn datagrams(trace_header: &str, spans: &[CallSpan]) -> Vec<String> {
    let Some((root, parent)) = sampled(trace_header) else {
        return Vec::new();
    };
    spans
        .iter()
        .map(|s| {
            let doc = json!({
                "type": "subsegment",
                "id": segment_id(),
                "trace_id": root,
                "parent_id": parent,
                "name": s.service,
                "namespace": "aws",
                "start_time": epoch(s.sent),
                "end_time": epoch(s.answered),
                "aws": {"operation": s.operation},
            });
            format!("{HEADER}\n{doc}")
        })
        .collect()
}

/// Sends the subsegments of a request's calls to `daemon` (`host:port`).
/// Best effort: a trace is never worth failing or delaying a request.
pub fn send(daemon: &str, trace_header: &str, spans: &[CallSpan]) {
    static SOCKET: OnceLock<Option<UdpSocket>> = OnceLock::new();
    let datagrams = datagrams(trace_header, spans);
    if datagrams.is_empty() {
        return;
    }
    let socket = SOCKET.get_or_init(|| {
        let socket = UdpSocket::bind("127.0.0.1:0").ok()?;
        socket.set_nonblocking(true).ok()?;
        Some(socket)
    });
    if let Some(socket) = socket {
        for d in datagrams {
            let _ = socket.send_to(d.as_bytes(), daemon);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn span() -> CallSpan {
        let sent = UNIX_EPOCH + Duration::from_millis(1_700_000_000_000);
        CallSpan {
            service: "DynamoDB".into(),
            operation: "BatchGetItem".into(),
            sent,
            answered: sent + Duration::from_millis(7),
        }
    }

    #[test]
    fn a_sampled_trace_gets_one_subsegment_per_call() {
        let header = "Root=1-6929be00-43cfa122e6205cfbaa3e09d3;Parent=53995c3f42cd8ad8;Sampled=1";
        let out = datagrams(header, &[span(), span()]);
        assert_eq!(out.len(), 2);
        let (head, doc) = out[0].split_once('\n').unwrap();
        assert_eq!(head, HEADER);
        let doc: serde_json::Value = serde_json::from_str(doc).unwrap();
        assert_eq!(doc["type"], "subsegment");
        assert_eq!(doc["trace_id"], "1-6929be00-43cfa122e6205cfbaa3e09d3");
        assert_eq!(doc["parent_id"], "53995c3f42cd8ad8");
        assert_eq!(doc["name"], "DynamoDB");
        assert_eq!(doc["namespace"], "aws");
        assert_eq!(doc["aws"]["operation"], "BatchGetItem");
        assert_eq!(doc["id"].as_str().unwrap().len(), 16);
        let took = doc["end_time"].as_f64().unwrap() - doc["start_time"].as_f64().unwrap();
        assert!((took - 0.007).abs() < 1e-6, "{took}");
    }

    #[test]
    fn unsampled_or_partial_headers_send_nothing() {
        for header in [
            "Root=1-a-b;Parent=53995c3f42cd8ad8;Sampled=0",
            "Root=1-a-b;Sampled=1",
            "",
        ] {
            assert!(datagrams(header, &[span()]).is_empty(), "{header}");
        }
    }
}
