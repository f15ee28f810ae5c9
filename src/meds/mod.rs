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

use serde_json::json;

use crate::attachments::{self, FileAction, Target};
use crate::audit::Audit;
use crate::clock;
use crate::context::Context;
use crate::error::{ApiError, ApiResult};
use crate::http::{ApiRequest, Reply};
use crate::keys;
use crate::patients;
use crate::s3::keys::valid_ref_id;
use crate::s3::keys::EntityKind;
use crate::store::{self, tx, Changes, Expression, Filter, Item, Query, Refused};
pub use fields::{MedChanges, MedFields};
pub use model::{MedItem, Priority};

use crate::http::route::Route;

/// The routes of this domain (see `router`).
pub const ROUTES: &[Route] = &[
    Route::read("GET /patients/{id}/meds", |c, r, p| {
        Box::pin(list(c, p.get("id"), r))
    }),
    Route::write("POST /patients/{id}/meds", |c, r, p| {
        Box::pin(create(c, p.get("id"), r))
    }),
    Route::write("PATCH /patients/{id}/meds/{medId}", |c, r, p| {
        Box::pin(edit(c, p.get("id"), p.get("medId"), r))
    }),
    Route::write("DELETE /patients/{id}/meds/{medId}", |c, r, p| {
        Box::pin(stop(c, p.get("id"), p.get("medId"), r))
    }),
    Route::write(
        "POST /patients/{id}/meds/{medId}/files/attach",
        |c, r, p| Box::pin(files(c, p.get("id"), p.get("medId"), FileAction::Attach, r)),
    ),
    Route::write(
        "POST /patients/{id}/meds/{medId}/files/detach",
        |c, r, p| Box::pin(files(c, p.get("id"), p.get("medId"), FileAction::Detach, r)),
    ),
];

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
    let table = ctx.table();
    let audit = Audit::of(req, "med.create")
        .target(format!("med:{}", med.med_id))
        .fields(req.field_names());
    // A fresh UUIDv7 key: refused only if the id collided.
    store::transact(
        ctx,
        vec![
            tx::put_new(table, store::to_item(&med)?)?,
            audit.tx_item(table, uid)?,
        ],
    )
    .await??;
    Ok(Reply::created(
        json!({"message": "created", "med": med.to_json()}),
    ))
}

/// `GET /patients/{id}/meds`: in creation order.
pub async fn list(ctx: &Context, id: &str, req: &ApiRequest) -> ApiResult<Reply> {
    let limit = req.limit(DEFAULT_PAGE, MAX_PAGE)?;
    let cursor = req.cursor()?;
    let read = async {
        let patient = patients::resolve(ctx, id).await?;
        let filter = req.flag("active").then(|| Filter {
            expression: RUNNING.to_string(),
            names: end_name(),
            values: running_values(&clock::now_rfc3339()),
        });
        let page = Query::partition(keys::patient_pk(patient.uid()))
            .prefix(keys::MED_PREFIX)
            .filter(filter)
            .page(ctx, limit, cursor)
            .await?;
        let (items, next) = page.views(|item| Ok(store::from_item::<MedItem>(item)?.to_json()))?;
        let reply = Reply::items_page(items, next);
        Ok((reply, patient.uid().to_string()))
    };
    Audit::of(req, "meds.read").alongside(ctx, id, read).await
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
    // Only the fields sent are written, each on its own attribute, so two
    // edits of different fields both land and no token is needed.
    let (set, remove) = changes.update_parts();
    let mut update = Changes {
        set: set.into_iter().map(|(a, v)| (a.to_string(), v)).collect(),
        remove: remove.into_iter().map(String::from).collect(),
    };
    update
        .set
        .push(("updated_at".to_string(), store::s(clock::now_rfc3339())));
    let (pk, sk) = (keys::patient_pk(patient.uid()), keys::med_sk(med_id));
    let e = store::changes::expression(&update, &Item::new(), &[]);
    let audit = Audit::of(req, "med.update")
        .target(format!("med:{med_id}"))
        .fields(req.field_names());
    match audit.with_update(ctx, patient.uid(), (&pk, &sk), e).await? {
        Ok(stored) => {
            let med: MedItem = store::from_item(stored)?;
            Ok(Reply::ok(
                json!({"message": "updated", "med": med.to_json()}),
            ))
        }
        Err(Refused::Condition(_)) => Err(med_not_found()),
        Err(refused) => Err(refused.into()),
    }
}

/// `DELETE /patients/{id}/meds/{medId}`: stops it (end = now). A medication
/// already stopped keeps its earlier end.
pub async fn stop(ctx: &Context, id: &str, med_id: &str, req: &ApiRequest) -> ApiResult<Reply> {
    checked_id(med_id)?;
    let patient = patients::resolve(ctx, id).await?;
    let pk = keys::patient_pk(patient.uid());
    let sk = keys::med_sk(med_id);
    let stop = Expression {
        update: "SET #end = :now, updated_at = :now".to_string(),
        condition: format!("attribute_exists(PK) AND {RUNNING}"),
        names: end_name(),
        values: running_values(&clock::now_rfc3339()),
    };
    let audit = Audit::of(req, "med.stop").target(format!("med:{med_id}"));
    let item = match audit
        .with_update(ctx, patient.uid(), (&pk, &sk), stop)
        .await?
    {
        Ok(stored) => stored,
        Err(Refused::Condition(_)) => {
            // Unknown, or stopped before: answer with it as it is.
            store::get_raw(ctx, &pk, &sk)
                .await?
                .ok_or_else(med_not_found)?
        }
        Err(refused) => return Err(refused.into()),
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
