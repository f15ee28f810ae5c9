//! A patient's history as the API lists it: the timeline of stages and the
//! audit ledger. Both resolve `{id}` like every patient route; the items
//! themselves are defined in `timeline` and `audit`.

use serde_json::{json, Value};

use super::resolve;
use crate::audit::{self, AuditItem};
use crate::context::Context;
use crate::error::ApiResult;
use crate::http::{ApiRequest, Reply};
use crate::keys;
use crate::paging::{self, PageQuery};
use crate::store;
use crate::timeline::TimelineRow;

/// `GET /patients/{id}/timeline`: oldest first (`?desc=1` newest first),
/// `?limit=` up to 1000.
pub async fn timeline(ctx: &Context, id: &str, req: &ApiRequest) -> ApiResult<Reply> {
    let limit = req.limit(1000, 1000)?;
    let patient = resolve(ctx, id).await?;
    let pk = keys::patient_pk(patient.uid());
    let mut rows = Vec::new();
    let mut start = None;
    while rows.len() < limit {
        let out = ctx
            .ddb
            .query()
            .table_name(ctx.table())
            .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
            .expression_attribute_values(":pk", store::s(pk.as_str()))
            .expression_attribute_values(":prefix", store::s(keys::TIMELINE_PREFIX))
            .scan_index_forward(!req.flag("desc"))
            .limit((limit - rows.len()) as i32)
            .set_exclusive_start_key(start)
            .send()
            .await?;
        for item in out.items.unwrap_or_default() {
            rows.push(store::from_item::<TimelineRow>(item)?.to_json());
        }
        start = out.last_evaluated_key;
        if start.is_none() {
            break;
        }
    }
    Ok(Reply::ok(Value::Array(rows)))
}

/// `GET /patients/{id}/audit`: newest first, `?limit=` (default 50, at most
/// 200) and `?cursor=` from the previous page's `nextCursor`.
pub async fn ledger(ctx: &Context, id: &str, req: &ApiRequest) -> ApiResult<Reply> {
    let limit = req.limit(50, 200)?;
    let patient = resolve(ctx, id).await?;
    let query = PageQuery {
        pk: keys::audit_pk(patient.uid()),
        sk_prefix: keys::AUDIT_PREFIX,
        newest_first: true,
        filter: None,
    };
    let page = paging::query_page(ctx, &query, limit, req.query("cursor")).await?;
    let items = page
        .items
        .into_iter()
        .map(|item| store::from_item::<AuditItem>(item).map(|a| audit::to_json(&a)))
        .collect::<ApiResult<Vec<Value>>>()?;
    Ok(Reply::ok(
        json!({"items": items, "nextCursor": page.next_cursor}),
    ))
}
