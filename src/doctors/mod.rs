//! Doctors: staff profiles (`USER#{doctorId}` / `PROFILE`) and the list of a
//! department's active doctors, read from the sparse GSI1 key that only an
//! active doctor with a department carries. Deletion is soft: the profile
//! stays readable, the list key goes in the same write.

pub mod input;
pub mod model;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{json, Value};

use crate::audit::Audit;
use crate::clock;
use crate::context::Context;
use crate::error::{ApiError, ApiResult};
use crate::http::input::key_text;
use crate::http::{ApiRequest, Reply};
use crate::keys;
use crate::store::{self, tx, Expression, Query};
use input::{valid_user_id, DoctorBody};
use model::{DoctorItem, CLEARABLE, INDEX_SOURCES};

use crate::http::route::Route;

/// The routes of this domain (see `router`).
pub const ROUTES: &[Route] = &[
    Route::configure("POST /doctors", |c, r, _| Box::pin(create(c, r))),
    Route::reference("GET /doctors", |c, r, _| Box::pin(list(c, r))),
    Route::reference("GET /doctors/{doctorId}", |c, _, p| {
        Box::pin(get(c, p.get("doctorId")))
    }),
    Route::configure("PATCH /doctors/{doctorId}", |c, r, p| {
        Box::pin(update(c, p.get("doctorId"), r))
    }),
    Route::configure("DELETE /doctors/{doctorId}", |c, r, p| {
        Box::pin(delete(c, p.get("doctorId"), r))
    }),
];

fn doctor_not_found() -> ApiError {
    ApiError::not_found("Doctor not found")
}

/// `POST /doctors`
pub async fn create(ctx: &Context, req: &ApiRequest) -> ApiResult<Reply> {
    let body: DoctorBody = req.json()?;
    let user_id = body.requested_id()?;
    let changes = body.validate()?;
    if changes.name.is_none() {
        return Err(ApiError::bad_request("name is required"));
    }
    if changes.email.is_none() {
        return Err(ApiError::bad_request("email is required"));
    }
    let user_id = user_id.unwrap_or_else(clock::new_id);
    let mut doctor = DoctorItem::new(&user_id, &clock::now_rfc3339());
    changes.apply(&mut doctor);
    doctor.sync_index_keys();
    let table = ctx.table();
    let audit = Audit::of(req, "doctor.create").target(format!("doctor:{user_id}"));
    let items = vec![
        tx::put_new(table, store::to_item(&doctor)?)?,
        audit.tx_item(table, keys::CONFIG_LEDGER)?,
    ];
    match store::transact(ctx, items).await? {
        Ok(()) => Ok(Reply::created(
            json!({"message": "created", "doctor": doctor.to_json()}),
        )),
        Err(refused) if refused.failed(0) => Err(ApiError::conflict(
            "A doctor with this userId already exists",
        )),
        Err(refused) => Err(refused.into()),
    }
}

/// `GET /doctors?department=X`: the department's active doctors, by name.
pub async fn list(ctx: &Context, req: &ApiRequest) -> ApiResult<Reply> {
    let department = req
        .query("department")
        .ok_or_else(|| ApiError::bad_request("department is required"))
        .and_then(|d| key_text(d, "department"))?;
    crate::policy::current()?.list_department(&department)?;
    let mut doctors = Vec::new();
    for item in Query::index(keys::GSI1_INDEX, keys::doctor_gsi1(&department))
        .all(ctx)
        .await?
    {
        let doctor = DoctorItem::from_item(item)?;
        // The index is eventually consistent: never show a profile that
        // is not (or no longer) listed.
        if doctor.sk == keys::PROFILE_SK && doctor.is_listed() {
            doctors.push(doctor);
        }
    }
    doctors.sort_by(|a, b| (&a.name, &a.user_id).cmp(&(&b.name, &b.user_id)));
    Ok(Reply::ok(Value::Array(
        doctors.iter().map(DoctorItem::to_json).collect(),
    )))
}

async fn read(ctx: &Context, doctor_id: &str) -> ApiResult<Option<store::Item>> {
    if !valid_user_id(doctor_id) {
        return Ok(None);
    }
    store::get_raw(ctx, &keys::user_pk(doctor_id), keys::PROFILE_SK).await
}

/// `GET /doctors/{doctorId}` (deleted doctors too, marked `deleted: true`).
pub async fn get(ctx: &Context, doctor_id: &str) -> ApiResult<Reply> {
    let item = read(ctx, doctor_id).await?.ok_or_else(doctor_not_found)?;
    Ok(Reply::ok(DoctorItem::from_item(item)?.to_json()))
}

/// `PATCH /doctors/{doctorId}`: fields and the department-list key change in
/// one guarded UpdateItem; a lost race re-reads and re-applies.
pub async fn update(ctx: &Context, doctor_id: &str, req: &ApiRequest) -> ApiResult<Reply> {
    let changes = req.json::<DoctorBody>()?.validate()?;
    if changes.is_empty() {
        return Err(ApiError::bad_request(
            "Request body has no doctor fields to update",
        ));
    }
    if !valid_user_id(doctor_id) {
        return Err(doctor_not_found());
    }
    let pk = keys::user_pk(doctor_id);
    let audit = Audit::of(req, "doctor.update")
        .target(format!("doctor:{doctor_id}"))
        .fields(req.field_names());
    let stored = store::modify_item(
        ctx,
        "doctor",
        (&pk, keys::PROFILE_SK),
        None,
        INDEX_SOURCES,
        doctor_not_found,
        &[audit.tx_item(ctx.table(), keys::CONFIG_LEDGER)?],
        |before| {
            let mut doctor = DoctorItem::from_item(before.clone())?;
            changes.apply(&mut doctor);
            doctor.updated_at = Some(clock::now_rfc3339());
            doctor.sync_index_keys();
            Ok(store::overlay(before, store::to_item(&doctor)?, CLEARABLE))
        },
    )
    .await?;
    Ok(Reply::ok(json!({
        "message": "updated",
        "doctor": DoctorItem::from_item(stored)?.to_json(),
    })))
}

/// `DELETE /doctors/{doctorId}`: soft delete. One UpdateItem sets the flag and
/// removes the list key; the profile stays readable.
pub async fn delete(ctx: &Context, doctor_id: &str, req: &ApiRequest) -> ApiResult<Reply> {
    if !valid_user_id(doctor_id) {
        return Err(doctor_not_found());
    }
    let soft_delete = Expression {
        update: "SET deleted = :yes, updated_at = :now REMOVE GSI1PK".to_string(),
        condition: "attribute_exists(PK)".to_string(),
        names: HashMap::new(),
        values: HashMap::from([
            (":yes".to_string(), AttributeValue::Bool(true)),
            (":now".to_string(), store::s(clock::now_rfc3339())),
        ]),
    };
    let key = store::key(keys::user_pk(doctor_id), keys::PROFILE_SK);
    let table = ctx.table();
    let items = vec![
        tx::update_of(table, key.clone(), soft_delete)?,
        Audit::of(req, "doctor.delete")
            .target(format!("doctor:{doctor_id}"))
            .tx_item(table, keys::CONFIG_LEDGER)?,
    ];
    match store::transact(ctx, items).await? {
        Ok(()) => {
            // The profile as it now stands (kept, flagged deleted).
            let stored = read(ctx, doctor_id).await?.ok_or_else(doctor_not_found)?;
            let doctor = DoctorItem::from_item(stored)?;
            Ok(Reply::ok(
                json!({"message": "deleted", "doctor": doctor.to_json()}),
            ))
        }
        Err(refused) if refused.failed(0) => Err(doctor_not_found()),
        Err(refused) => Err(refused.into()),
    }
}
