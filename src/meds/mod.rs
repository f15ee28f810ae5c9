//! Medications of a patient: `PATIENT#{uid}` / `MED#{medId}` with UUIDv7 ids,
//! so a medication is one key away and the list comes in creation order
//! (oldest first, by sort key) without an index.
//!
//! A medication is never removed: stopping it sets `end` to now, which keeps
//! the history of what was given. `?active=1` lists those without an end or
//! with an end still in the future. Edits are one conditional UpdateItem
//! (only the fields sent), so an unknown medication is a 404 and never a new
//! half-empty item.

pub mod fields;
pub mod model;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::ReturnValue;
use serde_json::json;

use crate::attachments::{self, FileAction, Target};
use crate::clock;
use crate::context::Context;
use crate::error::{ApiError, ApiResult};
use crate::http::{ApiRequest, Reply};
use crate::keys;
use crate::paging::{self, Filter, PageQuery};
use crate::patients;
use crate::s3::keys::valid_ref_id;
use crate::s3::keys::EntityKind;
use crate::store::{self, Item};
pub use fields::{MedChanges, MedFields};
pub use model::{MedItem, Priority};

const DEFAULT_PAGE: usize = 50;
const MAX_PAGE: usize = 200;
/// A medication still running at `:now` (an end stored as NULL by the old
/// backend means "no end").
const RUNNING: &str =
    "(attribute_not_exists(#end) OR attribute_type(#end, :null_type) OR #end > :now)";

fn med_not_found() -> ApiError {
    ApiError::not_found("Medication not found")
}

fn running_values(now: &str) -> Item {
    HashMap::from([
        (":null_type".to_string(), store::s("NULL")),
        (":now".to_string(), store::s(now)),
    ])
}

fn end_name() -> HashMap<String, String> {
    HashMap::from([("#end".to_string(), "end".to_string())])
}

fn checked_id(med_id: &str) -> ApiResult<()> {
    if valid_ref_id(med_id) {
        Ok(())
    } else {
        Err(med_not_found())
    }
}

/// `POST /patients/{id}/meds`
pub async fn create(ctx: &Context, id: &str, req: &ApiRequest) -> ApiResult<Reply> {
    let changes = MedChanges::from_fields(req.json::<MedFields>()?)?;
    changes.require_for_create()?;
    let patient = patients::resolve(ctx, id).await?;
    let uid = patient.uid();
    let now = clock::now_rfc3339();
    let med_id = clock::new_id();
    let mut med = MedItem {
        pk: keys::patient_pk(uid),
        sk: keys::med_sk(&med_id),
        med_id,
        patient_uid: uid.to_string(),
        mrn: patient.active_reg_mrn.clone(),
        scheme: patient.active_scheme.clone(),
        created_at: Some(now.clone()),
        updated_at: Some(now),
        ..Default::default()
    };
    changes.apply(&mut med);
    ctx.ddb
        .put_item()
        .table_name(ctx.table())
        .set_item(Some(store::to_item(&med)?))
        .condition_expression("attribute_not_exists(PK)")
        .send()
        .await?;
    Ok(Reply::created(
        json!({"message": "created", "med": med.to_json()}),
    ))
}

/// `GET /patients/{id}/meds`: in creation order.
pub async fn list(ctx: &Context, id: &str, req: &ApiRequest) -> ApiResult<Reply> {
    let limit = req.limit(DEFAULT_PAGE, MAX_PAGE)?;
    let patient = patients::resolve(ctx, id).await?;
    let filter = req.flag("active").then(|| Filter {
        expression: RUNNING.to_string(),
        names: end_name(),
        values: running_values(&clock::now_rfc3339()),
    });
    let query = PageQuery {
        pk: keys::patient_pk(patient.uid()),
        sk_prefix: keys::MED_PREFIX,
        newest_first: false,
        filter,
    };
    let page = paging::query_page(ctx, &query, limit, req.query("cursor")).await?;
    let items = page
        .items
        .into_iter()
        .map(|item| store::from_item::<MedItem>(item).map(|m| m.to_json()))
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(Reply::ok(
        json!({"items": items, "nextCursor": page.next_cursor}),
    ))
}

/// `PATCH /patients/{id}/meds/{medId}`: the fields sent, nothing else.
pub async fn edit(ctx: &Context, id: &str, med_id: &str, req: &ApiRequest) -> ApiResult<Reply> {
    let changes = MedChanges::from_fields(req.json::<MedFields>()?)?;
    if changes.is_empty() {
        return Err(ApiError::bad_request(
            "Nothing to update: send any of name, dose, route, freq, start, end, priority, scheduleTimes",
        ));
    }
    checked_id(med_id)?;
    let patient = patients::resolve(ctx, id).await?;
    let (set, remove) = changes.update_parts();
    let mut names = HashMap::new();
    let mut values = HashMap::from([(":now".to_string(), store::s(clock::now_rfc3339()))]);
    let mut set_parts = vec!["updated_at = :now".to_string()];
    for (i, (attr, value)) in set.into_iter().enumerate() {
        names.insert(format!("#s{i}"), attr.to_string());
        values.insert(format!(":s{i}"), value);
        set_parts.push(format!("#s{i} = :s{i}"));
    }
    let mut expression = format!("SET {}", set_parts.join(", "));
    if !remove.is_empty() {
        let mut remove_parts = Vec::new();
        for (i, attr) in remove.into_iter().enumerate() {
            names.insert(format!("#r{i}"), attr.to_string());
            remove_parts.push(format!("#r{i}"));
        }
        expression.push_str(&format!(" REMOVE {}", remove_parts.join(", ")));
    }
    let result = ctx
        .ddb
        .update_item()
        .table_name(ctx.table())
        .set_key(Some(store::key(
            keys::patient_pk(patient.uid()),
            keys::med_sk(med_id),
        )))
        .update_expression(expression)
        .condition_expression("attribute_exists(PK)")
        .set_expression_attribute_names(Some(names))
        .set_expression_attribute_values(Some(values))
        .return_values(ReturnValue::AllNew)
        .send()
        .await;
    match result {
        Ok(out) => {
            let med: MedItem = store::from_item(out.attributes.unwrap_or_default())?;
            Ok(Reply::ok(
                json!({"message": "updated", "med": med.to_json()}),
            ))
        }
        Err(err) if store::is_condition_failure(&err) => Err(med_not_found()),
        Err(err) => Err(err.into()),
    }
}

/// `DELETE /patients/{id}/meds/{medId}`: stops it (end = now). A medication
/// already stopped keeps its earlier end.
pub async fn stop(ctx: &Context, id: &str, med_id: &str) -> ApiResult<Reply> {
    checked_id(med_id)?;
    let patient = patients::resolve(ctx, id).await?;
    let pk = keys::patient_pk(patient.uid());
    let sk = keys::med_sk(med_id);
    let result = ctx
        .ddb
        .update_item()
        .table_name(ctx.table())
        .set_key(Some(store::key(pk.as_str(), sk.as_str())))
        .update_expression("SET #end = :now, updated_at = :now")
        .condition_expression(format!("attribute_exists(PK) AND {RUNNING}"))
        .set_expression_attribute_names(Some(end_name()))
        .set_expression_attribute_values(Some(running_values(&clock::now_rfc3339())))
        .return_values(ReturnValue::AllNew)
        .send()
        .await;
    let item = match result {
        Ok(out) => out.attributes.unwrap_or_default(),
        Err(err) if store::is_condition_failure(&err) => {
            // Unknown, or stopped before: answer with it as it is.
            store::get_raw(ctx, &pk, &sk)
                .await?
                .ok_or_else(med_not_found)?
        }
        Err(err) => return Err(err.into()),
    };
    let med: MedItem = store::from_item(item)?;
    Ok(Reply::ok(
        json!({"message": "stopped", "med": med.to_json()}),
    ))
}

/// `POST /patients/{id}/meds/{medId}/files/{attach|detach}`
pub async fn files(
    ctx: &Context,
    id: &str,
    med_id: &str,
    action: FileAction,
    req: &ApiRequest,
) -> ApiResult<Reply> {
    checked_id(med_id)?;
    let patient = patients::resolve(ctx, id).await?;
    let target = Target {
        uid: patient.uid(),
        kind: EntityKind::Med,
        entity_id: med_id,
        pk: keys::patient_pk(patient.uid()),
        sk: keys::med_sk(med_id),
        noun: "Medication",
    };
    let item = attachments::apply(ctx, &target, action, req).await?;
    let med: MedItem = store::from_item(item)?;
    Ok(Reply::ok(
        json!({"message": action.done(), "med": med.to_json()}),
    ))
}
