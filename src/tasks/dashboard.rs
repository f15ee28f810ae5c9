//! `GET /tasks`: a department's tasks of one status, optionally of one
//! assignee, straight from the dashboard index (one Query, no Scan). Pages
//! follow the index order (assignee, recurrence, task id); the next page's
//! cursor is in the `x-next-cursor` header so the body stays an array.

use serde_json::Value;

use super::input;
use super::model::{TaskItem, STATUS_OPEN};
use crate::audit::Audit;
use crate::context::Context;
use crate::error::{ApiError, ApiResult};
use crate::http::input::key_text;
use crate::http::{ApiRequest, Reply};
use crate::keys;
use crate::store::Query;

pub async fn dashboard(ctx: &Context, req: &ApiRequest) -> ApiResult<Reply> {
    let department = req
        .query("department")
        .ok_or_else(|| ApiError::bad_request("department is required"))
        .and_then(|d| key_text(d, "department"))?;
    crate::policy::current()?.list_department(&department)?;
    let status = input::status(req.query("status").unwrap_or(STATUS_OPEN))?;
    let assignee = req
        .query("assigneeId")
        .or_else(|| req.query("assignee_id"))
        .map(input::assignee_id)
        .transpose()?;
    let limit = req.limit(100, 500)?;

    let mut query = Query::index(keys::GSI2_INDEX, keys::task_gsi2pk(&status, &department));
    if let Some(assignee) = &assignee {
        query = query.prefix(keys::task_gsi2sk_assignee_prefix(assignee));
    }
    let page = query.page(ctx, limit, req.query("cursor")).await?;
    let tasks = page
        .items
        .into_iter()
        .map(TaskItem::from_item)
        .collect::<ApiResult<Vec<TaskItem>>>()?;
    // Each patient whose tasks the dashboard shows gets a ledger entry.
    let uids: Vec<&str> = tasks.iter().map(|t| t.patient_uid.as_str()).collect();
    Audit::of(req, "tasks.list").write_each(ctx, &uids).await?;
    let tasks = tasks.iter().map(TaskItem::to_json).collect::<Vec<Value>>();
    Ok(Reply::array_page(tasks, page.next_cursor))
}
