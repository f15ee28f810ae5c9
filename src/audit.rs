//! The audit ledger: one append-only item per access to or change of a
//! patient's record (who, what, which keys or fields, request id, time),
//! under `AUDIT#{uid}`. A DynamoDB change writes its audit item in the same
//! transaction, so a failed change leaves none; an access that writes nothing
//! else (a presigned URL) is recorded before its answer is given.
//!
//! Items hold S3 keys and field *names*, never field values. Each names the
//! caller's roles and departments, the source IP and any break-glass reason.
//! Reads write their entry concurrently with the read (`alongside`); lists
//! write one entry per patient they answered (`write_each`).

use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::types::{ConditionCheck, TransactWriteItem};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::clock;
use crate::context::Context;
use crate::error::{ApiError, ApiResult};
use crate::http::{view_json, ApiRequest};
use crate::keys::{self, looks_like_uid};
use crate::policy::Principal;
use crate::store::{self, tx};

/// What an audit item records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audit {
    pub action: &'static str,
    pub actor: String,
    pub request_id: String,
    pub keys: Vec<String>,
    pub fields: Vec<String>,
    /// The entity acted on inside the record (e.g. `note:{id}`, a category).
    pub target: Option<String>,
    /// The caller's role and department groups (`policy`).
    pub roles: Vec<String>,
    pub departments: Vec<String>,
    pub source_ip: Option<String>,
    /// The reason a clinician stated to open a patient outside their
    /// departments (`X-Break-Glass-Reason`).
    pub break_glass: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct AuditItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    patient_uid: String,
    action: String,
    actor: String,
    request_id: String,
    at: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    keys: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    fields: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    target: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    departments: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    break_glass_reason: Option<String>,
}

impl Audit {
    /// An action of the request's caller.
    pub fn of(req: &ApiRequest, action: &'static str) -> Self {
        let mut audit = Self::by(req.actor(), &req.request_id, action);
        if let Some(caller) = &req.caller {
            let principal = Principal::of(caller);
            audit.roles = principal
                .roles
                .iter()
                .map(|r| r.group().to_string())
                .collect();
            audit.departments = principal.departments;
        }
        audit.source_ip = req.source_ip.clone();
        // As `policy::decide` checked it, before any handler ran.
        audit.break_glass = req.break_glass.clone();
        audit
    }

    /// An action of a named actor (e.g. the S3 event ingest).
    pub fn by(actor: &str, request_id: &str, action: &'static str) -> Self {
        Self {
            action,
            actor: actor.to_string(),
            request_id: request_id.to_string(),
            keys: Vec::new(),
            fields: Vec::new(),
            target: None,
            roles: Vec::new(),
            departments: Vec::new(),
            source_ip: None,
            break_glass: None,
        }
    }

    pub fn keys(mut self, keys: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.keys.extend(keys.into_iter().map(Into::into));
        self
    }

    pub fn fields(mut self, fields: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.fields.extend(fields.into_iter().map(Into::into));
        self
    }

    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    fn item(&self, uid: &str) -> ApiResult<store::Item> {
        let id = clock::new_id();
        store::to_item(&AuditItem {
            pk: keys::audit_pk(uid),
            sk: keys::audit_sk(&id),
            patient_uid: uid.to_string(),
            action: self.action.to_string(),
            actor: self.actor.clone(),
            request_id: self.request_id.clone(),
            at: clock::now_rfc3339(),
            keys: self.keys.clone(),
            fields: self.fields.clone(),
            target: self.target.clone(),
            roles: self.roles.clone(),
            departments: self.departments.clone(),
            source_ip: self.source_ip.clone(),
            break_glass_reason: self.break_glass.clone(),
        })
    }

    /// The audit item as a transaction member (never overwrites an entry).
    pub fn tx_item(&self, table: &str, uid: &str) -> ApiResult<TransactWriteItem> {
        tx::put_new(table, self.item(uid)?)
    }

    /// Writes the audit item on its own, for accesses that change nothing.
    pub async fn write(&self, ctx: &Context, uid: &str) -> ApiResult<()> {
        // A fresh UUIDv7 key: refused only if the id collided.
        Ok(store::put_new(ctx, self.item(uid)?).await??)
    }

    /// The update `e` of one item of `uid`'s record with this entry, in one
    /// transaction (so a refused change leaves no entry), then the item as
    /// it now stands (a transaction returns no attributes). A refused
    /// condition is member 0's.
    pub async fn with_update(
        &self,
        ctx: &Context,
        uid: &str,
        (pk, sk): (&str, &str),
        e: store::Expression,
    ) -> ApiResult<store::Outcome<store::Item>> {
        let table = ctx.table();
        let items = vec![
            tx::update_of(table, store::key(pk, sk), e)?,
            self.tx_item(table, uid)?,
        ];
        if let Err(refused) = store::transact(ctx, items).await? {
            return Ok(Err(refused));
        }
        let stored = store::get_raw(ctx, pk, sk).await?;
        // Deleted right after the change: as good as not found.
        Ok(stored.ok_or(store::Refused::Condition(vec![0])))
    }

    /// One entry for each of `uids` (the patients a list answered), in
    /// transactions of up to 100 new items, all at once. A transaction, not
    /// a BatchWriteItem: the roles may not batch-write in `AUDIT#`
    /// partitions (a batch could delete), and each put refuses to replace.
    pub async fn write_each(&self, ctx: &Context, uids: &[&str]) -> ApiResult<()> {
        let mut unique: Vec<&str> = uids.to_vec();
        unique.sort_unstable();
        unique.dedup();
        let table = ctx.table();
        let items = unique
            .iter()
            .map(|uid| self.tx_item(table, uid))
            .collect::<ApiResult<Vec<_>>>()?;
        let writes = items
            .chunks(store::MAX_TRANSACT_ITEMS)
            .map(|chunk| store::transact(ctx, chunk.to_vec()));
        for written in futures::future::join_all(writes).await {
            written??;
        }
        Ok(())
    }
}

/// The entry of a read addressed by MRN, waiting for its UID (see
/// [`Audit::alongside`] and [`alongside_resolution`]).
#[derive(Debug, Default)]
struct Pending {
    audit: Option<Audit>,
    written_for: Option<String>,
}

tokio::task_local! {
    static PENDING: Arc<Mutex<Pending>>;
}

/// For `patients::resolve` once an MRN has named the patient's `uid`: runs
/// `second` (the read of the patient's items) and, if a read's entry waits
/// for that UID, writes it concurrently; the read then gains no round trip.
pub async fn alongside_resolution<F: std::future::Future>(
    ctx: &Context,
    uid: &str,
    second: F,
) -> F::Output {
    let waiting = PENDING
        .try_with(|p| p.lock().ok().and_then(|mut p| p.audit.take()))
        .ok()
        .flatten();
    let Some(audit) = waiting else {
        return second.await;
    };
    let (out, written) = tokio::join!(second, audit.write_if_patient(ctx, uid));
    if written.is_ok() {
        let _ = PENDING.try_with(|p| {
            if let Ok(mut p) = p.lock() {
                p.written_for = Some(uid.to_string());
            }
        });
    }
    out
}

impl Audit {
    /// Runs `read` (which resolves `id` and returns its value and the
    /// patient's UID) and records this access. When `id` looks like a UID,
    /// the entry is written concurrently with the read, in a transaction
    /// that also checks the patient exists (so an unknown id or an MRN of
    /// that shape leaves nothing); the read then gains no sequential round
    /// trip. Otherwise, or if that write did not land (not a patient, a
    /// conflicting transaction, a fault), the entry is written once the read
    /// has named the patient. Nothing is returned unless the entry was
    /// written: a failed ledger write is the request's error. A read the
    /// policy refused after its entry was written adds `access.refused`
    /// (its target: the refused action), so the ledger tells the two apart.
    pub async fn alongside<T>(
        &self,
        ctx: &Context,
        id: &str,
        read: impl std::future::Future<Output = ApiResult<(T, String)>>,
    ) -> ApiResult<T> {
        let id = id.trim();
        // Addressed by MRN, the entry waits for the resolution to name the
        // UID, then goes out alongside the read of the patient's items.
        let pending = Arc::new(Mutex::new(Pending {
            audit: (!looks_like_uid(id)).then(|| self.clone()),
            written_for: None,
        }));
        let early = async {
            if !looks_like_uid(id) {
                return false;
            }
            match self.write_if_patient(ctx, id).await {
                Ok(()) => true,
                Err(err) => {
                    tracing::debug!(error = %err, "access entry deferred until the patient is resolved");
                    false
                }
            }
        };
        let (read, written) = tokio::join!(PENDING.scope(pending.clone(), read), early);
        // Written early means PATIENT#{id} exists, so `id` is the UID.
        let written_for = match written {
            true => Some(id.to_string()),
            false => pending.lock().ok().and_then(|p| p.written_for.clone()),
        };
        let (value, uid) = match (read, &written_for) {
            (Ok(read), _) => read,
            (Err(refused @ ApiError::Forbidden(_)), Some(uid)) => {
                // The entry of the attempt stands; say that it was refused.
                Audit {
                    action: "access.refused",
                    target: Some(self.action.to_string()),
                    ..self.clone()
                }
                .write(ctx, uid)
                .await?;
                return Err(refused);
            }
            (Err(err), _) => return Err(err),
        };
        if written_for.as_deref() != Some(uid.as_str()) {
            self.write(ctx, &uid).await?;
        }
        Ok(value)
    }

    /// The entry, in one transaction with a check that `uid` is a patient.
    async fn write_if_patient(&self, ctx: &Context, uid: &str) -> ApiResult<()> {
        let check = ConditionCheck::builder()
            .table_name(ctx.table())
            .set_key(Some(store::key(keys::patient_pk(uid), keys::META_SK)))
            .condition_expression("attribute_exists(PK)")
            .build()
            .map_err(|e| ApiError::Internal(format!("audit check: {e}")))?;
        let items = vec![tx::check(check), self.tx_item(ctx.table(), uid)?];
        Ok(store::transact(ctx, items).await??)
    }
}

/// An entry as the ledger listing shows it: its id without the key prefix.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AuditView<'a> {
    id: &'a str,
    at: &'a str,
    actor: &'a str,
    action: &'a str,
    request_id: &'a str,
    keys: &'a [String],
    fields: &'a [String],
    target: Option<&'a str>,
    roles: &'a [String],
    departments: &'a [String],
    source_ip: Option<&'a str>,
    break_glass_reason: Option<&'a str>,
}

impl AuditItem {
    pub(crate) fn view(&self) -> AuditView<'_> {
        AuditView {
            id: self.sk.strip_prefix(keys::AUDIT_PREFIX).unwrap_or(&self.sk),
            at: &self.at,
            actor: &self.actor,
            action: &self.action,
            request_id: &self.request_id,
            keys: &self.keys,
            fields: &self.fields,
            target: self.target.as_deref(),
            roles: &self.roles,
            departments: &self.departments,
            source_ip: self.source_ip.as_deref(),
            break_glass_reason: self.break_glass_reason.as_deref(),
        }
    }

    /// An entry as the ledger listing shows it.
    pub(crate) fn to_json(&self) -> Value {
        view_json(&self.view())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::AttributeValue;
    use serde_json::json;

    fn full_entry() -> AuditItem {
        AuditItem {
            pk: "AUDIT#u1".into(),
            sk: "AT#0190f5c0-0000-7000-8000-0000000000aa".into(),
            patient_uid: "u1".into(),
            action: "documents.attach".into(),
            actor: "dr-1".into(),
            request_id: "req-1".into(),
            at: "2025-01-01T00:00:00.000Z".into(),
            keys: vec!["patients/u1/optimized/docs/lab/a.jpg".into()],
            fields: vec!["caption".into(), "stamp".into()],
            target: Some("lab_reports".into()),
            roles: vec!["clinician".into()],
            departments: vec!["surgery".into()],
            source_ip: Some("203.0.113.7".into()),
            break_glass_reason: Some("transfer from ER".into()),
        }
    }

    /// Without keys, fields or target, and under a key without the prefix.
    fn legacy_entry() -> AuditItem {
        let item = store::to_item(&json!({
            "PK": "AUDIT#u1", "SK": "legacy-1", "patient_uid": "u1",
            "action": "patient.read", "actor": "anonymous", "request_id": "req-0",
            "at": "2024-01-01T00:00:00.000Z"
        }))
        .unwrap();
        store::from_item(item).unwrap()
    }

    #[test]
    fn a_ledger_entry_answers_its_id_without_the_key_prefix() {
        assert_eq!(
            full_entry().to_json(),
            json!({
                "action": "documents.attach",
                "actor": "dr-1",
                "at": "2025-01-01T00:00:00.000Z",
                "fields": ["caption", "stamp"],
                "id": "0190f5c0-0000-7000-8000-0000000000aa",
                "keys": ["patients/u1/optimized/docs/lab/a.jpg"],
                "requestId": "req-1",
                "target": "lab_reports",
                "roles": ["clinician"],
                "departments": ["surgery"],
                "sourceIp": "203.0.113.7",
                "breakGlassReason": "transfer from ER"
            })
        );
    }

    #[test]
    fn an_entry_without_keys_fields_or_target_answers_empty_lists_and_null() {
        // And a key without the prefix is the id as it is
        assert_eq!(
            legacy_entry().to_json(),
            json!({
                "action": "patient.read",
                "actor": "anonymous",
                "at": "2024-01-01T00:00:00.000Z",
                "fields": [],
                "id": "legacy-1",
                "keys": [],
                "requestId": "req-0",
                "target": null,
                "roles": [],
                "departments": [],
                "sourceIp": null,
                "breakGlassReason": null
            })
        );
    }

    #[test]
    fn uids_are_told_from_mrns_by_shape() {
        assert!(looks_like_uid("0190f5c0-0000-7000-8000-0000000000aa"));
        assert!(looks_like_uid("01ARZ3NDEKTSV4RRFFQ69G5FAV"));
        assert!(!looks_like_uid("MRN-001"));
        assert!(!looks_like_uid(""));
    }

    #[test]
    fn an_audit_item_names_who_what_and_when_but_no_values() {
        let req = ApiRequest {
            request_id: "req-1".into(),
            ..Default::default()
        };
        let audit = Audit::of(&req, "patient.update").fields(["name", "ward"]);
        let item = audit.item("u1").unwrap();
        let s = |name: &str| match item.get(name) {
            Some(AttributeValue::S(v)) => v.clone(),
            other => panic!("{name}: {other:?}"),
        };
        assert_eq!(s("PK"), "AUDIT#u1");
        assert!(s("SK").starts_with("AT#"));
        assert_eq!(s("actor"), "anonymous");
        assert_eq!(s("action"), "patient.update");
        assert_eq!(s("request_id"), "req-1");
        assert!(matches!(item.get("fields"), Some(AttributeValue::L(l)) if l.len() == 2));
        assert!(!item.contains_key("keys"));
        // Two entries of one request never share a key.
        assert_ne!(audit.item("u1").unwrap()["SK"], item["SK"]);
    }
}
