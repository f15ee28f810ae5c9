//! Every DynamoDB call of the service: typed items through serde_dynamo,
//! consistent key reads, batched reads that finish their unprocessed keys,
//! writes that answer what was refused (`write`), the one guarded-write loop
//! (`modify::Attempts`), the one pager (`pager`) and partial updates as data
//! (`changes`). No Scan exists here: everything is keyed. Domains own their
//! expressions; only this layer sends them.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use serde::de::DeserializeOwned;
use serde::Serialize;

pub mod changes;
pub mod modify;
pub mod pager;
pub mod provision;
pub mod retry;
pub mod sdk_errors;
pub mod write;

pub use changes::{overlay, Changes, Expression};
pub use modify::{modify_item, Attempts};
pub use pager::{Filter, Index, Page, Query};
pub use retry::back_off;
pub use write::{put_new, transact, update, Outcome, Refused, MAX_TRANSACT_ITEMS};

pub use sdk_errors::{
    cancellation_codes, failed_conditions, is_condition_failure, is_lost_race,
    is_transaction_conflict, ConflictRetry,
};

use crate::context::Context;
use crate::error::{ApiError, ApiResult};

pub type Item = HashMap<String, AttributeValue>;

pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([("PK".to_string(), s(pk)), ("SK".to_string(), s(sk))])
}

pub fn to_item<T: Serialize>(value: &T) -> ApiResult<Item> {
    Ok(serde_dynamo::to_item(value)?)
}

pub fn from_item<T: DeserializeOwned>(item: Item) -> ApiResult<T> {
    Ok(serde_dynamo::from_item(item)?)
}

pub fn to_attr<T: Serialize>(value: &T) -> ApiResult<AttributeValue> {
    Ok(serde_dynamo::to_attribute_value(value)?)
}

/// One strongly consistent GetItem, typed.
pub async fn get<T: DeserializeOwned>(ctx: &Context, pk: &str, sk: &str) -> ApiResult<Option<T>> {
    get_raw(ctx, pk, sk).await?.map(from_item).transpose()
}

/// One strongly consistent GetItem, as stored.
pub async fn get_raw(ctx: &Context, pk: &str, sk: &str) -> ApiResult<Option<Item>> {
    let out = ctx
        .ddb
        .get_item()
        .table_name(ctx.table())
        .set_key(Some(key(pk, sk)))
        .consistent_read(true)
        .send()
        .await?;
    Ok(out.item)
}

/// Strongly consistent BatchGetItem of up to 100 keys; unprocessed keys are
/// retried (a bounded number of times) so the answer is complete. Returns items
/// by `(PK, SK)`.
pub async fn batch_get(
    ctx: &Context,
    keys: &[(String, String)],
) -> ApiResult<HashMap<(String, String), Item>> {
    let mut found = HashMap::new();
    if keys.is_empty() {
        return Ok(found);
    }
    let mut pending: Vec<Item> = keys
        .iter()
        .map(|(pk, sk)| key(pk.as_str(), sk.as_str()))
        .collect();
    for attempt in 0..5 {
        let request = KeysAndAttributes::builder()
            .set_keys(Some(pending))
            .consistent_read(true)
            .build()
            .map_err(|e| ApiError::Internal(format!("batch request: {e}")))?;
        let out = ctx
            .ddb
            .batch_get_item()
            .request_items(ctx.table(), request)
            .send()
            .await?;
        for item in out
            .responses
            .and_then(|mut r| r.remove(ctx.table()))
            .unwrap_or_default()
        {
            if let (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) =
                (item.get("PK"), item.get("SK"))
            {
                found.insert((pk.clone(), sk.clone()), item);
            }
        }
        pending = out
            .unprocessed_keys
            .and_then(|mut u| u.remove(ctx.table()))
            .map(|k| k.keys)
            .unwrap_or_default();
        if pending.is_empty() {
            return Ok(found);
        }
        back_off(attempt).await;
    }
    // DynamoDB leaves keys unprocessed when it is short of capacity: transient.
    Err(ApiError::Unavailable(
        "BatchGetItem left keys unprocessed".into(),
    ))
}

/// Builders for transaction parts, so call sites read as what they do.
pub mod tx {
    use aws_sdk_dynamodb::types::{ConditionCheck, Put, TransactWriteItem, Update};

    use super::{ApiError, ApiResult, Item};

    fn built<T, E: std::fmt::Display>(r: Result<T, E>) -> ApiResult<T> {
        r.map_err(|e| ApiError::Internal(format!("transaction item: {e}")))
    }

    /// Put that must not overwrite an existing item.
    pub fn put_new(table: &str, item: Item) -> ApiResult<TransactWriteItem> {
        let put = built(
            Put::builder()
                .table_name(table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(PK)")
                .build(),
        )?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Put guarded by an arbitrary condition (`None`: unconditional).
    pub fn put(
        table: &str,
        item: Item,
        condition: Option<(&str, Item)>,
    ) -> ApiResult<TransactWriteItem> {
        let mut b = Put::builder().table_name(table).set_item(Some(item));
        if let Some((expr, values)) = condition {
            b = b.condition_expression(expr);
            if !values.is_empty() {
                b = b.set_expression_attribute_values(Some(values));
            }
        }
        Ok(TransactWriteItem::builder().put(built(b.build())?).build())
    }

    pub fn update(update: Update) -> TransactWriteItem {
        TransactWriteItem::builder().update(update).build()
    }

    /// The update of `key` that `e` describes, as a transaction member.
    pub fn update_of(table: &str, key: Item, e: super::Expression) -> ApiResult<TransactWriteItem> {
        let update = built(
            Update::builder()
                .table_name(table)
                .set_key(Some(key))
                .update_expression(e.update)
                .set_condition_expression(Some(e.condition).filter(|c| !c.is_empty()))
                .set_expression_attribute_names(Some(e.names).filter(|n| !n.is_empty()))
                .set_expression_attribute_values(Some(e.values).filter(|v| !v.is_empty()))
                .build(),
        )?;
        Ok(self::update(update))
    }

    pub fn check(check: ConditionCheck) -> TransactWriteItem {
        TransactWriteItem::builder().condition_check(check).build()
    }
}
