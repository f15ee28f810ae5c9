//! Every change to a patient goes through [`change`]: read the patient (and
//! the checklist rules, in the same batch), let the caller edit it, then write
//! the patient item, any timeline rows and any other items in ONE transaction
//! guarded by the `update_counter` that was read. A lost race re-reads and
//! re-applies (`store::Attempts`).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};

use super::model::{PatientItem, FIRST_STATE};
use super::resolve::resolve_full;
use crate::audit::Audit;
use crate::checklists::{self, Rule};
use crate::context::Context;
use crate::error::{ApiError, ApiResult};
use crate::store::{self, tx, Item, Refused};
use crate::timeline::{NewRow, TimelineRow};
use crate::{clock, keys};

/// A move to another stage: closes the open timeline row and opens a new one.
#[derive(Debug, Clone, Default)]
pub struct Transition {
    pub to: String,
    pub checklist_in_done: Vec<String>,
    pub checklist_out_done: Vec<String>,
    pub actor_id: Option<String>,
    pub notes: Option<String>,
    /// Skip the checklist rule's required items.
    pub force: bool,
    /// Apply the checklist rule at all (a new registration starts afresh).
    pub enforce_rules: bool,
}

/// Another item written in the same transaction, with the 409 message to give
/// when its condition fails (e.g. an MRN pointer owned by another patient).
pub struct Extra {
    pub item: TransactWriteItem,
    pub conflict: String,
}

/// What an edit asks to be written.
pub enum Step {
    Write {
        transition: Option<Transition>,
        extra: Vec<Extra>,
    },
    NoOp,
}

impl Step {
    pub fn fields_only() -> Self {
        Step::Write {
            transition: None,
            extra: Vec::new(),
        }
    }
}

/// Bookkeeping attributes left out of the audit's list of fields touched.
pub const UNAUDITED: [&str; 9] = [
    "updated_at",
    "last_updated",
    "update_counter",
    "timeline_open_sk",
    "GSI1PK",
    "GSI1SK",
    "GSI3PK",
    "GSI3SK",
    "LSI_CUR_MRN",
];

/// Reads the patient, applies `edit` and writes the result atomically, with
/// its audit item (`audit`, plus the fields the write touched). Returns the
/// patient as written (or as read, for a no-op) and whether anything was
/// written.
pub async fn change<F>(
    ctx: &Context,
    id: &str,
    audit: &Audit,
    mut edit: F,
) -> ApiResult<(PatientItem, bool)>
where
    F: FnMut(&mut PatientItem, &str) -> ApiResult<Step>,
{
    let summary_key = checklists::summary_key();
    // Set when a rule item exists that the summary does not mirror.
    let mut legacy_rule: Option<Option<Rule>> = None;
    let mut attempts = store::Attempts::new("patient");
    while attempts.next().await {
        let mut resolved = resolve_full(ctx, id, &[], std::slice::from_ref(&summary_key)).await?;
        let summary = resolved.shared.remove(&summary_key);
        let mut patient = resolved.patient;
        let before = store::to_item(&patient)?;
        let now = clock::now_rfc3339();
        let read_counter = patient.update_counter;
        let department = patient.department.clone();
        let (transition, extra) = match edit(&mut patient, &now)? {
            Step::NoOp => return Ok((patient, false)),
            Step::Write { transition, extra } => (transition, extra),
        };
        // A move to another department, whichever route asked for it.
        crate::policy::current()?.transfer(department.as_deref(), patient.department.as_deref())?;
        let mut items = Vec::new();
        let mut conflicts = HashMap::new();
        for (i, e) in extra.into_iter().enumerate() {
            conflicts.insert(i, e.conflict);
            items.push(e.item);
        }
        let mut no_rule_check_at = None;
        if let Some(t) = transition {
            let from = patient
                .current_state
                .clone()
                .unwrap_or_else(|| FIRST_STATE.to_string());
            let rule = if !t.enforce_rules {
                None
            } else if let Some(found) = &legacy_rule {
                found.clone()
            } else {
                let mirrored = checklists::rule_from_summary(summary.as_ref(), &from, &t.to)?;
                if mirrored.is_none() {
                    no_rule_check_at = Some((items.len(), from.clone(), t.to.clone()));
                    items.push(checklists::no_rule_check(ctx.table(), &from, &t.to)?);
                }
                mirrored
            };
            if let (Some(rule), false) = (&rule, t.force) {
                let (missing_in, missing_out) =
                    rule.missing(&t.checklist_in_done, &t.checklist_out_done);
                if !missing_in.is_empty() || !missing_out.is_empty() {
                    return Err(ApiError::Conflict {
                        message: format!(
                            "Checklist incomplete for {from} -> {}; pass force: true to override",
                            t.to
                        ),
                        details: Some(
                            serde_json::json!({"missingIn": missing_in, "missingOut": missing_out}),
                        ),
                    });
                }
            }
            items.extend(transition_items(
                ctx.table(),
                &mut patient,
                rule.as_ref(),
                &t,
                &now,
            )?);
        }
        let (update, touched) =
            meta_update(ctx.table(), &before, &mut patient, read_counter, &now)?;
        items.push(update);
        let touched = touched
            .into_iter()
            .filter(|f| !UNAUDITED.contains(&f.as_str()));
        items.push(
            audit
                .clone()
                .fields(touched)
                .tx_item(ctx.table(), patient.uid())?,
        );

        let failed = match store::transact(ctx, items).await? {
            Ok(()) => return Ok((patient, true)),
            Err(Refused::Condition(failed)) => failed,
            Err(Refused::Conflict) => continue,
        };
        if let Some(msg) = failed.iter().find_map(|i| conflicts.get(i)) {
            return Err(ApiError::conflict(msg.clone()));
        }
        if let Some((_, from, to)) = no_rule_check_at.filter(|(at, _, _)| failed.contains(at)) {
            tracing::info!("checklist rule not mirrored in the summary; reading it directly");
            legacy_rule = Some(checklists::get_rule(ctx, &from, &to).await?);
        }
        // Otherwise the patient changed since it was read: re-read.
    }
    Err(attempts.exhausted())
}

/// The timeline writes of a transition; updates the patient in memory.
fn transition_items(
    table: &str,
    patient: &mut PatientItem,
    rule: Option<&Rule>,
    t: &Transition,
    now: &str,
) -> ApiResult<Vec<TransactWriteItem>> {
    let mut items = Vec::new();
    let pk = keys::patient_pk(patient.uid());
    if let Some(open_sk) = &patient.timeline_open_sk {
        let required_out = rule.map(|r| r.out_required.clone()).unwrap_or_default();
        let close = Update::builder()
            .table_name(table)
            .set_key(Some(store::key(pk.as_str(), open_sk.as_str())))
            .update_expression(
                "SET date_out = :now, checklist_out_done = :done, required_out = :required, updated_at = :now",
            )
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":now", store::s(now))
            .expression_attribute_values(":done", store::to_attr(&t.checklist_out_done)?)
            .expression_attribute_values(":required", store::to_attr(&required_out)?)
            .build()
            .map_err(|e| ApiError::Internal(format!("close timeline row: {e}")))?;
        items.push(tx::update(close));
    }
    let mut row = TimelineRow::open(NewRow {
        uid: patient.uid(),
        state: &t.to,
        now,
        mrn: patient.active_reg_mrn.clone(),
        scheme: patient.active_scheme.clone(),
        actor_id: t.actor_id.clone(),
        notes: t.notes.clone(),
    });
    row.required_in = rule.map(|r| r.in_required.clone()).unwrap_or_default();
    row.checklist_in_done = t.checklist_in_done.clone();
    items.push(tx::put_new(table, store::to_item(&row)?)?);
    patient.current_state = Some(t.to.clone());
    patient
        .state_dates
        .entry(t.to.clone())
        .or_insert_with(|| now.to_string());
    patient.timeline_open_sk = Some(row.sk);
    Ok(items)
}

/// The patient item's write: only the attributes that changed (so attributes
/// this code does not model survive), guarded by the counter read and bumping
/// it. Also returns the names of the attributes it changes.
fn meta_update(
    table: &str,
    before: &Item,
    patient: &mut PatientItem,
    read_counter: u64,
    now: &str,
) -> ApiResult<(TransactWriteItem, Vec<String>)> {
    patient.update_counter = read_counter + 1;
    patient.updated_at = Some(now.to_string());
    patient.last_updated = Some(now.to_string());
    patient.sync_index_keys();
    let after = store::to_item(patient)?;
    let changes = store::changes::Changes::between(before, &after);
    let touched = changes.names();
    let mut e = store::changes::expression(&changes, before, &[]);
    // Records written before the counter existed count as 0.
    let counter = if read_counter == 0 {
        "(attribute_not_exists(#counter) OR #counter = :read)"
    } else {
        "#counter = :read"
    };
    e.condition = format!("{} AND {counter}", e.condition);
    e.names
        .insert("#counter".to_string(), "update_counter".to_string());
    e.values.insert(
        ":read".to_string(),
        AttributeValue::N(read_counter.to_string()),
    );
    let update = Update::builder()
        .table_name(table)
        .key("PK", store::s(patient.pk.as_str()))
        .key("SK", store::s(patient.sk.as_str()))
        .update_expression(e.update)
        .condition_expression(e.condition)
        .set_expression_attribute_names(Some(e.names))
        .set_expression_attribute_values(Some(e.values))
        .build()
        .map_err(|e| ApiError::Internal(format!("patient update: {e}")))?;
    Ok((tx::update(update), touched))
}
