//! Counts AWS calls. An SDK interceptor records every attempt that went over
//! the wire (`Service.Operation`, after transmit: presigning stops before
//! transmit and is never counted), both into the current request's log (a
//! task-local, so concurrent requests never mix) and into process-wide totals
//! that tests and the benchmark read.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use std::time::SystemTime;

use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

/// Operation name → number of calls, ordered for stable output.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallCounts(pub BTreeMap<String, u32>);

impl CallCounts {
    pub fn total(&self) -> u32 {
        self.0.values().sum()
    }

    pub fn get(&self, op: &str) -> u32 {
        self.0.get(op).copied().unwrap_or(0)
    }

    fn record(&mut self, op: &str) {
        *self.0.entry(op.to_string()).or_insert(0) += 1;
    }

    /// Calls to one service, e.g. `DynamoDB` or `S3`.
    pub fn service_total(&self, service: &str) -> u32 {
        let prefix = format!("{service}.");
        self.0
            .iter()
            .filter(|(op, _)| op.starts_with(&prefix))
            .map(|(_, n)| n)
            .sum()
    }
}

impl fmt::Display for CallCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|(op, n)| format!("{op} x{n}")).collect();
        f.write_str(&parts.join(", "))
    }
}

/// One call over the wire: which, and when it was sent and answered (for
/// the request's X-Ray subsegments).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallSpan {
    pub service: String,
    pub operation: String,
    pub sent: SystemTime,
    pub answered: SystemTime,
}

#[derive(Debug, Default)]
struct RequestLog {
    counts: CallCounts,
    spans: Vec<CallSpan>,
}

type SharedLog = Arc<Mutex<RequestLog>>;

tokio::task_local! {
    static REQUEST_CALLS: SharedLog;
}

/// When an attempt was handed to the HTTP client.
#[derive(Debug, Clone, Copy)]
struct SentAt(SystemTime);

impl Storable for SentAt {
    type Storer = StoreReplace<Self>;
}

static PROCESS_CALLS: Mutex<CallCounts> = Mutex::new(CallCounts(BTreeMap::new()));

/// Runs `fut` with its own call log and returns its output with the calls
/// it made, counted and timed.
pub async fn scope<F: Future>(fut: F) -> (F::Output, CallCounts, Vec<CallSpan>) {
    let log: SharedLog = Arc::default();
    let out = REQUEST_CALLS.scope(log.clone(), fut).await;
    let (counts, spans) = log
        .lock()
        .map(|l| (l.counts.clone(), l.spans.clone()))
        .unwrap_or_default();
    (out, counts, spans)
}

/// Every call this process has made since it started.
pub fn process_totals() -> CallCounts {
    PROCESS_CALLS.lock().map(|c| c.clone()).unwrap_or_default()
}

#[cfg(test)]
fn record(op: &str) {
    record_call(op, None);
}

fn record_call(op: &str, span: Option<CallSpan>) {
    if let Ok(mut totals) = PROCESS_CALLS.lock() {
        totals.record(op);
    }
    let _ = REQUEST_CALLS.try_with(|log| {
        if let Ok(mut log) = log.lock() {
            log.counts.record(op);
            log.spans.extend(span);
        }
    });
}

/// The interceptor registered on every client the context builds.
#[derive(Debug, Default)]
pub struct CallCounter;

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "HmsCallCounter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().store_put(SentAt(SystemTime::now()));
        Ok(())
    }

    fn read_after_transmit(
        &self,
        _context: &BeforeDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = match cfg.load::<Metadata>() {
            Some(meta) => (meta.service().to_string(), meta.name().to_string()),
            None => ("unknown".to_string(), "unknown".to_string()),
        };
        let answered = SystemTime::now();
        let span = CallSpan {
            sent: cfg.load::<SentAt>().map_or(answered, |s| s.0),
            answered,
            operation: operation.clone(),
            service: service.clone(),
        };
        record_call(&format!("{service}.{operation}"), Some(span));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn calls_are_recorded_per_scope() {
        // Given two nested scopes recording different operations
        let ((_, inner, _), outer, _) = scope(async {
            record("DynamoDB.GetItem");
            scope(async {
                record("S3.HeadObject");
            })
            .await
        })
        .await;
        // Then each scope sees only its own calls
        assert_eq!(outer.get("DynamoDB.GetItem"), 1);
        assert_eq!(outer.get("S3.HeadObject"), 0);
        assert_eq!(inner.get("S3.HeadObject"), 1);
        assert_eq!(inner.to_string(), "S3.HeadObject x1");
        assert!(process_totals().get("DynamoDB.GetItem") >= 1);
    }
}
