//! `GET /tasks`: a department's tasks of one status, optionally of one
//! assignee, straight from the dashboard index (one Query, no Scan). Pages
//! follow the index order (assignee, recurrence, task id); the next page's
//! cursor is in the `x-next-cursor` header so the body stays an array.

use serde_json::Value;

use super::input;
use super::model::{TaskItem, STATUS_OPEN};
use crate::context::Context;
use crate::error::{ApiError, ApiResult};
use crate::http::{ApiRequest, Reply};
use crate::keys;
use crate::patients::fields::key_text;
use crate::store;

const CURSOR_NAMES: &[&str] = &["PK", "SK", "GSI2PK", "GSI2SK"];

pub async fn dashboard(ctx: &Context, req: &ApiRequest) -> ApiResult<Reply> {
    let department = req
        .query("department")
        .ok_or_else(|| ApiError::bad_request("department is required"))
        .and_then(|d| key_text(d, "department"))?;
    let status = input::status(req.query("status").unwrap_or(STATUS_OPEN))?;
    let assignee = req
        .query("assigneeId")
        .or_else(|| req.query("assignee_id"))
        .map(input::assignee_id)
        .transpose()?;
    let limit = req.limit(100, 500)?;

    let partition = keys::task_gsi2pk(&status, &department);
    let mut q = ctx
        .ddb
        .query()
        .table_name(ctx.table())
        .index_name(keys::GSI2)
        .expression_attribute_values(":pk", store::s(&partition))
        .limit(i32::try_from(limit).unwrap_or(i32::MAX));
    let prefix = assignee.as_deref().map(keys::task_gsi2sk_assignee_prefix);
    q = match &prefix {
        Some(prefix) => q
            .key_condition_expression("GSI2PK = :pk AND begins_with(GSI2SK, :assignee)")
            .expression_attribute_values(":assignee", store::s(prefix)),
        None => q.key_condition_expression("GSI2PK = :pk"),
    };
    if let Some(raw) = req.query("cursor") {
        let start = store::decode_cursor(raw, CURSOR_NAMES, &[("GSI2PK", &partition)])?;
        // A cursor from another assignee's page would be refused by DynamoDB.
        let in_range = match (&prefix, start.get("GSI2SK")) {
            (Some(prefix), Some(aws_sdk_dynamodb::types::AttributeValue::S(sk))) => {
                sk.starts_with(prefix.as_str())
            }
            _ => true,
        };
        if !in_range {
            return Err(ApiError::bad_request("Invalid cursor"));
        }
        q = q.set_exclusive_start_key(Some(start));
    }
    let out = q.send().await?;
    let tasks = out
        .items
        .unwrap_or_default()
        .into_iter()
        .map(|item| TaskItem::from_item(item).map(|t| t.to_json()))
        .collect::<ApiResult<Vec<Value>>>()?;
    let mut reply = Reply::ok(Value::Array(tasks));
    if let Some(next) = out
        .last_evaluated_key
        .filter(|k| !k.is_empty())
        .and_then(|k| store::encode_cursor(&k))
    {
        reply = reply.header("x-next-cursor", next);
    }
    Ok(reply)
}
