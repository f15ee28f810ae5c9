//! Metrics as CloudWatch embedded metric format (EMF): one JSON document per
//! request (and one per S3 event batch), written to stdout beside the log
//! lines; CloudWatch Logs turns each into metric points, no API call made.
//!
//! Dimensions are route patterns and status classes, never path values: a
//! metric never names a patient.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::aws_calls::CallCounts;

/// The CloudWatch namespace of every metric here.
pub const NAMESPACE: &str = "HMS";

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `2xx`, `4xx`, `5xx`, ...
pub fn status_class(status: u16) -> String {
    format!("{}xx", status / 100)
}

/// What one request measured.
#[derive(Debug, Clone)]
pub struct RequestMeasure<'a> {
    pub route: &'a str,
    pub status: u16,
    pub latency_ms: f64,
    pub calls: &'a CallCounts,
    pub request_id: &'a str,
    pub trace_id: Option<&'a str>,
}

/// The EMF document of one request: `Requests`, `ClientErrors`,
/// `ServerErrors`, `Latency`, `AwsCalls`, `DynamoDBCalls`, `S3Calls`, by
/// route and for the whole API; the request and trace ids as properties
/// (searchable in Logs Insights, not dimensions).
pub fn request_document(m: &RequestMeasure<'_>) -> Value {
    let metric = |name: &str, unit: &str| json!({"Name": name, "Unit": unit});
    json!({
        "_aws": {
            "Timestamp": now_ms(),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Route"], []],
                "Metrics": [
                    metric("Requests", "Count"),
                    metric("ClientErrors", "Count"),
                    metric("ServerErrors", "Count"),
                    metric("Latency", "Milliseconds"),
                    metric("AwsCalls", "Count"),
                    metric("DynamoDBCalls", "Count"),
                    metric("S3Calls", "Count"),
                ],
            }],
        },
        "Route": m.route,
        "StatusClass": status_class(m.status),
        "Status": m.status,
        "Requests": 1,
        "ClientErrors": u32::from((400..500).contains(&m.status)),
        "ServerErrors": u32::from(m.status >= 500),
        "Latency": m.latency_ms,
        "AwsCalls": m.calls.total(),
        "DynamoDBCalls": m.calls.service_total("DynamoDB"),
        "S3Calls": m.calls.service_total("S3"),
        "RequestId": m.request_id,
        "TraceId": m.trace_id,
    })
}

/// The EMF document of one S3 event batch of the ingest function.
pub fn ingest_document(attached: u32, skipped: u32, failed: u32) -> Value {
    let metric = |name: &str| json!({"Name": name, "Unit": "Count"});
    json!({
        "_aws": {
            "Timestamp": now_ms(),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Function"]],
                "Metrics": [metric("IngestAttached"), metric("IngestSkipped"), metric("IngestFailed")],
            }],
        },
        "Function": "ingest",
        "IngestAttached": attached,
        "IngestSkipped": skipped,
        "IngestFailed": failed,
    })
}

/// Writes a document as one stdout line (where Lambda's log capture, and
/// so EMF extraction, reads it).
pub fn emit(document: &Value) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{document}");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every metric a directive names is a number at the top level, and
    /// every dimension a string: what CloudWatch needs to extract it.
    fn assert_valid_emf(doc: &Value) {
        let directives = doc["_aws"]["CloudWatchMetrics"]
            .as_array()
            .expect("directives");
        assert!(doc["_aws"]["Timestamp"].as_u64().is_some());
        for d in directives {
            assert_eq!(d["Namespace"], NAMESPACE);
            for set in d["Dimensions"].as_array().expect("dimension sets") {
                for name in set.as_array().expect("set") {
                    let name = name.as_str().expect("dimension name");
                    assert!(doc[name].is_string(), "{name}");
                }
            }
            for m in d["Metrics"].as_array().expect("metrics") {
                let name = m["Name"].as_str().expect("name");
                assert!(doc[name].is_number(), "{name}: {}", doc[name]);
            }
        }
    }

    #[test]
    fn a_request_document_is_valid_emf_by_route() {
        let mut calls = CallCounts::default();
        calls.0.insert("DynamoDB.BatchGetItem".into(), 1);
        calls.0.insert("S3.GetObject".into(), 2);
        let doc = request_document(&RequestMeasure {
            route: "GET /patients/{id}",
            status: 503,
            latency_ms: 12.5,
            calls: &calls,
            request_id: "req-1",
            trace_id: Some("Root=1-abc"),
        });
        assert_valid_emf(&doc);
        assert_eq!(doc["Route"], "GET /patients/{id}");
        assert_eq!(doc["StatusClass"], "5xx");
        assert_eq!(doc["ServerErrors"], 1);
        assert_eq!(doc["ClientErrors"], 0);
        assert_eq!(doc["AwsCalls"], 3);
        assert_eq!(doc["DynamoDBCalls"], 1);
        assert_eq!(doc["S3Calls"], 2);
        assert_eq!(doc["TraceId"], "Root=1-abc");
    }

    #[test]
    fn an_ingest_document_is_valid_emf() {
        let doc = ingest_document(2, 1, 0);
        assert_valid_emf(&doc);
        assert_eq!(doc["IngestAttached"], 2);
    }

    #[test]
    fn status_classes() {
        assert_eq!(status_class(204), "2xx");
        assert_eq!(status_class(404), "4xx");
        assert_eq!(status_class(503), "5xx");
    }
}
