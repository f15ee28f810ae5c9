//! S3 `ObjectCreated` ingest: a new object under
//! `patients/{uid}/optimized/docs/{docType}/` is attached to the patient's
//! documents record with the same rules as the attach route (idempotent,
//! concurrency-guarded), with provenance from the upload intent recorded at
//! presign time (or, for objects presigned before intents existed, the
//! object's metadata). Other
//! keys are ignored. One bad record never fails the batch; only a record that
//! hit an internal error makes the invocation fail, so Lambda retries it (a
//! retry re-attaches nothing that is already attached).

use aws_lambda_events::event::s3::{S3Event, S3EventRecord};
use percent_encoding::percent_decode_str;

use crate::audit::Audit;
use crate::context::Context;
use crate::documents::record::{Change, DocumentsRecord};
use crate::documents::{self, AttachInput, Category};
use crate::error::ApiError;
use crate::keys;
use crate::patients;
use crate::policy;
use crate::s3::content::SNIFF_BYTES;
use crate::s3::keys::{self as s3_keys, Owner, Target};
use crate::s3::objects as s3_objects;
use crate::uploads::{self, intent_sk, Presigned, UploadIntent};

/// What happened to each record of an event.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct IngestReport {
    pub attached: usize,
    pub unchanged: usize,
    pub ignored: usize,
    pub failed: usize,
}

/// Keys in S3 events are form-encoded (`+` for a space).
pub fn decode_key(raw: &str) -> Option<String> {
    percent_decode_str(&raw.replace('+', " "))
        .decode_utf8()
        .ok()
        .map(|k| k.into_owned())
}

/// The document a created key names, if it is one (`None`: ignore it).
pub fn document_of(key: &str) -> Option<(String, Category)> {
    let parsed = s3_keys::parse(key)?;
    match (parsed.target, parsed.owner) {
        (Target::Optimized, Some(Owner::Doc(doc_type))) => {
            Some((parsed.uid, Category::for_doc_type(doc_type)))
        }
        _ => None,
    }
}

enum Outcome {
    Attached,
    Unchanged,
    Ignored(&'static str),
}

pub async fn ingest(ctx: &Context, event: &S3Event) -> IngestReport {
    let mut report = IngestReport::default();
    // The ingest is a system actor: S3 names the object, no caller does.
    let open = || policy::Grant::open(policy::Access::Write);
    for record in &event.records {
        match policy::within(open(), ingest_record(ctx, record)).await {
            Ok(Outcome::Attached) => report.attached += 1,
            Ok(Outcome::Unchanged) => report.unchanged += 1,
            Ok(Outcome::Ignored(why)) => {
                tracing::info!(reason = why, "S3 record ignored");
                report.ignored += 1;
            }
            Err(err) if err.status().is_client_error() => {
                // Bad for this record only (e.g. preop already full): skip it.
                tracing::warn!(status = err.status().as_u16(), error = %err, "S3 record skipped");
                report.ignored += 1;
            }
            Err(err) => {
                tracing::error!(error = %err, "S3 record failed");
                report.failed += 1;
            }
        }
    }
    tracing::info!(
        attached = report.attached,
        unchanged = report.unchanged,
        ignored = report.ignored,
        failed = report.failed,
        "S3 event ingested"
    );
    report
}

impl IngestReport {
    /// The batch's metrics document (CloudWatch EMF).
    pub fn metrics(&self) -> serde_json::Value {
        crate::metrics::ingest_document(
            self.attached as u32,
            (self.unchanged + self.ignored) as u32,
            self.failed as u32,
        )
    }
}

/// Where failed events go (the local stand-in for the Lambda on-failure
/// destination the template configures): an SQS queue.
#[derive(Debug, Clone)]
pub struct DeadLetters {
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
}

impl DeadLetters {
    /// Keeps `event` as Lambda's on-failure destination does: the whole
    /// event as `requestPayload`, the failure as `responsePayload`.
    pub async fn keep(
        &self,
        event: &S3Event,
        report: &IngestReport,
    ) -> crate::error::ApiResult<()> {
        let record = serde_json::json!({
            "version": "1.0",
            "timestamp": crate::clock::now_rfc3339(),
            "requestContext": {"condition": "RetriesExhausted", "approximateInvokeCount": 1},
            "requestPayload": event,
            "responseContext": {"functionError": "Unhandled"},
            "responsePayload": {"errorMessage": format!("{} record(s) failed", report.failed)},
        });
        self.sqs
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(record.to_string())
            .send()
            .await?;
        Ok(())
    }
}

/// [`ingest`], keeping an event with a failed record in `dead` (if given)
/// so that nothing a user uploaded is dropped.
pub async fn ingest_keeping_failures(
    ctx: &Context,
    event: &S3Event,
    dead: Option<&DeadLetters>,
) -> IngestReport {
    let report = ingest(ctx, event).await;
    if let (true, Some(dead)) = (report.failed > 0, dead) {
        if let Err(err) = dead.keep(event, &report).await {
            tracing::error!(error = %err, "failed event could not be kept");
        }
    }
    report
}

/// Who the audit ledger names for documents attached by the ingest.
pub const INGEST_ACTOR: &str = "system:s3-ingest";

async fn ingest_record(ctx: &Context, record: &S3EventRecord) -> Result<Outcome, ApiError> {
    if !record
        .event_name
        .as_deref()
        .unwrap_or("")
        .starts_with("ObjectCreated")
    {
        return Ok(Outcome::Ignored("not an ObjectCreated event"));
    }
    let bucket = ctx.bucket()?;
    if record.s3.bucket.name.as_deref() != Some(bucket) {
        return Ok(Outcome::Ignored("another bucket"));
    }
    let Some(key) = record.s3.object.key.as_deref().and_then(decode_key) else {
        return Ok(Outcome::Ignored("no key"));
    };
    if s3_keys::check_belongs(key.split('/').nth(1).unwrap_or(""), &key).is_err() {
        return Ok(Outcome::Ignored("malformed key"));
    }
    let Some((uid, category)) = document_of(&key) else {
        return Ok(Outcome::Ignored("not an optimized document"));
    };
    let Some((object, head)) = s3_objects::peek(ctx, &key, SNIFF_BYTES).await? else {
        return Ok(Outcome::Ignored("object no longer exists"));
    };
    let meta = |name: &str| {
        object
            .metadata
            .get(name)
            .and_then(|v| percent_decode_str(v).decode_utf8().ok())
            .map(|v| v.into_owned())
    };
    if meta("patient-uid").is_some_and(|owner| owner != uid) {
        return Ok(Outcome::Ignored("metadata names another patient"));
    }
    let upload_sk = intent_sk(&key);
    let guard_sk = keys::doc_key_sk(&key);
    let mut wanted = vec![keys::DOCS_SK, guard_sk.as_str()];
    wanted.extend(upload_sk.as_deref());
    let mut resolved = match patients::resolve_with(ctx, &uid, &wanted).await {
        Ok(r) => r,
        Err(ApiError::NotFound(_)) => return Ok(Outcome::Ignored("unknown patient")),
        Err(err) => return Err(err),
    };
    let record = DocumentsRecord::from_item(resolved.items.remove(keys::DOCS_SK), &uid)?;
    let read = documents::entries::AsRead {
        summary: record,
        guard: documents::entries::guard_of(resolved.items.remove(&guard_sk))?,
    };
    let intent =
        upload_sk.and_then(|sk| UploadIntent::from_item(resolved.items.remove(&sk), &uid, &key));
    let request_id = intent.as_ref().map_or_else(
        || uuid::Uuid::new_v4().to_string(),
        |i| i.request_id.clone(),
    );
    let (mrn, scheme) = match &intent {
        Some(i) if i.mrn.is_some() => (i.mrn.clone(), i.scheme.clone()),
        _ => (
            meta("mrn").or(resolved.patient.active_reg_mrn.clone()),
            meta("scheme").or(resolved.patient.active_scheme.clone()),
        ),
    };
    let audit = Audit::by(INGEST_ACTOR, &request_id, "documents.attach");
    let presigned = Presigned::from(intent.as_ref());
    uploads::hold_to_rules(ctx, &uid, &key, (&object, &head), &presigned, &audit).await?;
    let input = AttachInput {
        audit,
        uploaded_by: intent
            .and_then(|i| i.uploaded_by)
            .or_else(|| meta("uploaded-by")),
        mrn,
        scheme,
        caption: None,
        stamp: None,
        // Never drop an upload: a full category lets its oldest entry go
        // (its object stays in S3; the ledger entry names it).
        replace_oldest: true,
        mime_type: None,
        size: None,
    };
    let (_, change, _) =
        documents::attach_object(ctx, &uid, read, category, &key, &object, input).await?;
    Ok(match change {
        Change::Applied => Outcome::Attached,
        Change::Unchanged => Outcome::Unchanged,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_keys_are_form_decoded() {
        assert_eq!(
            decode_key("patients/u1/a+b%2Bc.jpg").as_deref(),
            Some("patients/u1/a b+c.jpg")
        );
        assert_eq!(decode_key("%ff"), None);
    }

    #[test]
    fn only_optimized_documents_are_ingested() {
        let id = "0190f5c0-0000-7000-8000-0000000000aa";
        let (uid, category) = document_of(&format!(
            "patients/u1/optimized/docs/radiology/1-{id}-q80-1600w.jpg"
        ))
        .unwrap();
        assert_eq!((uid.as_str(), category), ("u1", Category::Radiology));
        assert!(document_of(&format!("patients/u1/originals/1-{id}.jpg")).is_none());
        assert!(document_of(&format!("patients/u1/thumb/1-{id}-thumb.jpg")).is_none());
        assert!(document_of("patients/u1/optimized/notes/n1/a.jpg").is_none());
        assert!(document_of("elsewhere/u1/optimized/docs/lab/a.jpg").is_none());
    }
}
