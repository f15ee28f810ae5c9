//! Doctors: staff profiles (`USER#{doctorId}` / `PROFILE`) and the list of a
//! department's active doctors, read from the sparse GSI1 key that only an
//! active doctor with a department carries. Deletion is soft: the profile
//! stays readable, the list key goes in the same write.

pub mod input;
pub mod model;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{json, Value};

use crate::clock;
use crate::context::Context;
use crate::error::{ApiError, ApiResult};
use crate::http::input::key_text;
use crate::http::{ApiRequest, Reply};
use crate::keys;
use crate::store::{self, Expression, Query, Refused};
use input::{valid_user_id, DoctorBody};
use model::{DoctorItem, CLEARABLE, INDEX_SOURCES};

use crate::http::route::Route;

/// The routes of this domain (see `router`).
pub const ROUTES: &[Route] = &[
    Route::admin("POST /doctors", |c, r, _| Box::pin(create(c, r))),
    Route::staff("GET /doctors", |c, r, _| Box::pin(list(c, r))),
    Route::staff("GET /doctors/{doctorId}", |c, _, p| {
        Box::pin(get(c, p.get("doctorId")))
    }),
    Route::admin("PATCH /doctors/{doctorId}", |c, r, p| {
        Box::pin(update(c, p.get("doctorId"), r))
    }),
    Route::admin("DELETE /doctors/{doctorId}", |c, _, p| {
        Box::pin(delete(c, p.get("doctorId")))
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
    match store::put_new(ctx, store::to_item(&doctor)?).await? {
        Ok(()) => Ok(Reply::created(
            json!({"message": "created", "doctor": doctor.to_json()}),
        )),
        Err(Refused::Condition(_)) => Err(ApiError::conflict(
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
    let stored = store::modify_item(
        ctx,
        "doctor",
        (&pk, keys::PROFILE_SK),
        None,
        INDEX_SOURCES,
        doctor_not_found,
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
pub async fn delete(ctx: &Context, doctor_id: &str) -> ApiResult<Reply> {
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
    match store::update(ctx, key, soft_delete).await? {
        Ok(stored) => {
            let doctor = DoctorItem::from_item(stored)?;
            Ok(Reply::ok(
                json!({"message": "deleted", "doctor": doctor.to_json()}),
            ))
        }
        Err(Refused::Condition(_)) => Err(doctor_not_found()),
        Err(refused) => Err(refused.into()),
    }
}
