//! A patient's history as the API lists it: the timeline of stages and the
//! audit ledger. Both resolve `{id}` like every patient route; the items
//! themselves are defined in `timeline` and `audit`.

use std::collections::HashMap;

use serde_json::Value;

use super::resolve;
use crate::audit::{Audit, AuditItem};
use crate::context::Context;
use crate::error::ApiResult;
use crate::http::{ApiRequest, Reply};
use crate::keys;
use crate::store::{self, Filter, Query};
use crate::timeline::TimelineRow;

/// `GET /patients/{id}/timeline`: oldest first (`?desc=1` newest first),
/// `?limit=` up to 1000.
pub async fn timeline(ctx: &Context, id: &str, req: &ApiRequest) -> ApiResult<Reply> {
    let limit = req.limit(1000, 1000)?;
    let read = async {
        let patient = resolve(ctx, id).await?;
        let page = Query::partition(keys::patient_pk(patient.uid()))
            .prefix(keys::TIMELINE_PREFIX)
            .newest_first(req.flag("desc"))
            .page(ctx, limit, None)
            .await?;
        let (rows, _) = page.views(|item| Ok(store::from_item::<TimelineRow>(item)?.to_json()))?;
        Ok((Reply::ok(Value::Array(rows)), patient.uid().to_string()))
    };
    Audit::of(req, "timeline.read")
        .alongside(ctx, id, read)
        .await
}

/// `GET /patients/{id}/audit`: newest first, `?limit=` (default 50, at most
/// 200) and `?cursor=` from the previous page's `nextCursor`.
/// Reading the ledger is itself recorded in it.
pub async fn ledger(ctx: &Context, id: &str, req: &ApiRequest) -> ApiResult<Reply> {
    let limit = req.limit(50, 200)?;
    let cursor = req.cursor()?;
    let read = async {
        let patient = resolve(ctx, id).await?;
        // This read's own entry, written alongside, is not part of it.
        let own = Filter {
            expression: "request_id <> :own".to_string(),
            names: HashMap::new(),
            values: HashMap::from([(":own".to_string(), store::s(req.request_id.as_str()))]),
        };
        let page = Query::partition(keys::audit_pk(patient.uid()))
            .prefix(keys::AUDIT_PREFIX)
            .newest_first(true)
            .filter(Some(own))
            .page(ctx, limit, cursor)
            .await?;
        let (items, next) =
            page.views(|item| Ok(store::from_item::<AuditItem>(item)?.to_json()))?;
        let reply = Reply::items_page(items, next);
        Ok((reply, patient.uid().to_string()))
    };
    Audit::of(req, "audit.read").alongside(ctx, id, read).await
}
