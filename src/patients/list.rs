//! `GET /patients`: active patients of a department (`GSI1PK-index`) or all
//! active patients (the sparse `GSI3PK-GSI3SK-index`): index queries, never a
//! Scan. The body stays a JSON array; the next cursor is in `x-next-cursor`.

use super::model::{PatientItem, STATUS_ACTIVE};
use crate::context::Context;
use crate::error::ApiResult;
use crate::http::{ApiRequest, Reply};
use crate::keys;
use crate::store::{self, Query};

pub async fn list(ctx: &Context, req: &ApiRequest) -> ApiResult<Reply> {
    if let Some(mrn) = req.query("mrn") {
        return super::read::get(ctx, mrn).await;
    }
    let limit = req.limit(100, 1000)?;
    let query = match req.query("department") {
        Some(dept) => Query::index(
            keys::GSI1_INDEX,
            keys::dept_status_gsi1(dept, STATUS_ACTIVE),
        ),
        None => Query::index(keys::GSI3_INDEX, keys::ACTIVE_PATIENTS),
    };
    let page = query.page(ctx, limit, req.query("cursor")).await?;
    let patients = page
        .items
        .into_iter()
        .map(|item| store::from_item::<PatientItem>(item).map(|p| p.to_json()))
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(Reply::array_page(patients, page.next_cursor))
}
