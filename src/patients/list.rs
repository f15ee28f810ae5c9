//! `GET /patients`: active patients of a department (`GSI1PK-index`) or all
//! active patients (the sparse `GSI3PK-GSI3SK-index`): index queries, never a
//! Scan. The body stays a JSON array; the next cursor is in `x-next-cursor`.

use serde_json::Value;

use super::model::{PatientItem, STATUS_ACTIVE};
use crate::context::Context;
use crate::error::ApiResult;
use crate::http::{ApiRequest, Reply};
use crate::keys;
use crate::store;

pub async fn list(ctx: &Context, req: &ApiRequest) -> ApiResult<Reply> {
    if let Some(mrn) = req.query("mrn") {
        return super::read::get(ctx, mrn).await;
    }
    let limit = req.limit(100, 1000)?;
    let (index, hash_name, hash, names): (&str, &str, String, &[&str]) =
        match req.query("department") {
            Some(dept) => (
                keys::GSI1,
                "GSI1PK",
                keys::dept_status_gsi1(dept, STATUS_ACTIVE),
                &["PK", "SK", "GSI1PK"],
            ),
            None => (
                keys::GSI3,
                "GSI3PK",
                keys::ACTIVE_PATIENTS.to_string(),
                &["PK", "SK", "GSI3PK", "GSI3SK"],
            ),
        };
    let start = match req.query("cursor") {
        Some(c) => Some(store::decode_cursor(
            c,
            names,
            &[(hash_name, hash.as_str())],
        )?),
        None => None,
    };
    let out = ctx
        .ddb
        .query()
        .table_name(ctx.table())
        .index_name(index)
        .key_condition_expression("#h = :h")
        .expression_attribute_names("#h", hash_name)
        .expression_attribute_values(":h", store::s(hash.as_str()))
        .limit(limit as i32)
        .set_exclusive_start_key(start)
        .send()
        .await?;
    let patients = out
        .items
        .unwrap_or_default()
        .into_iter()
        .map(|item| store::from_item::<PatientItem>(item).map(|p| p.to_json()))
        .collect::<ApiResult<Vec<_>>>()?;
    let mut reply = Reply::ok(Value::Array(patients));
    if let Some(cursor) = out
        .last_evaluated_key
        .as_ref()
        .and_then(store::encode_cursor)
    {
        reply = reply.header("x-next-cursor", cursor);
    }
    Ok(reply)
}
