//! `GET /patients`: active patients of a department (`GSI1PK-index`) or all
//! active patients (the sparse `GSI3PK-GSI3SK-index`): index queries, never a
//! Scan. The body stays a JSON array; the next cursor is in `x-next-cursor`.
//!
//! With authentication on, a list holds only patients of the caller's
//! departments (a reviewer's: shared patients); a page filtered so may be
//! short, or empty with a cursor, like a DynamoDB filter. Each patient
//! answered gets a ledger entry.

use super::model::{PatientItem, STATUS_ACTIVE};
use crate::audit::Audit;
use crate::context::Context;
use crate::error::ApiResult;
use crate::http::{ApiRequest, Reply};
use crate::keys;
use crate::policy;
use crate::store::{self, Query};

pub async fn list(ctx: &Context, req: &ApiRequest) -> ApiResult<Reply> {
    if let Some(mrn) = req.query("mrn") {
        return super::read::get(ctx, mrn, req).await;
    }
    let limit = req.limit(100, 1000)?;
    let grant = policy::current()?;
    let query = match req.query("department") {
        Some(dept) => {
            grant.list_patients_of(dept)?;
            Query::index(
                keys::GSI1_INDEX,
                keys::dept_status_gsi1(dept, STATUS_ACTIVE),
            )
        }
        None => Query::index(keys::GSI3_INDEX, keys::ACTIVE_PATIENTS),
    };
    let page = query.page(ctx, limit, req.query("cursor")).await?;
    let patients = page
        .items
        .into_iter()
        .map(store::from_item::<PatientItem>)
        .filter(|p| {
            p.as_ref()
                .map_or(true, |p| grant.sees(p.department.as_deref(), p.gov_share))
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let uids: Vec<&str> = patients.iter().map(PatientItem::uid).collect();
    Audit::of(req, "patients.list")
        .write_each(ctx, &uids)
        .await?;
    let patients = patients.iter().map(PatientItem::to_json).collect();
    Ok(Reply::array_page(patients, page.next_cursor))
}
