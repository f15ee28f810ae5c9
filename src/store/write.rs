//! Every write to the table: one item (PutItem, UpdateItem) or one
//! TransactWriteItems, answering what a route acts on. A refused write (a
//! failed condition, or a running transaction met after the SDK's retries)
//! is a value, [`Refused`]; any other failure is the error type's (503 when
//! transient, 500 otherwise).

use aws_sdk_dynamodb::types::{ReturnValue, TransactWriteItem};

use super::changes::Expression;
use super::{failed_conditions, is_condition_failure, is_lost_race, Item};
use crate::context::Context;
use crate::error::{ApiError, ApiResult};

/// Why DynamoDB wrote nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Conditions failed: these members of a transaction, by position
    /// (`[0]` for a single-item write; empty when DynamoDB named none).
    Condition(Vec<usize>),
    /// The write met a running transaction on one of its items, even after
    /// the SDK's own retries; no condition failed.
    Conflict,
}

impl Refused {
    /// Whether member `index` of the write failed its condition.
    pub fn failed(&self, index: usize) -> bool {
        matches!(self, Refused::Condition(failed) if failed.contains(&index))
    }
}

/// A refused write outside a guarded-write loop: a conflict is transient
/// (503, retry later); a failed condition the route did not expect is a
/// fault of ours.
impl From<Refused> for ApiError {
    fn from(refused: Refused) -> Self {
        match refused {
            Refused::Conflict => ApiError::Unavailable("write met a concurrent transaction".into()),
            Refused::Condition(failed) => {
                ApiError::Internal(format!("write condition failed: members {failed:?}"))
            }
        }
    }
}

pub type Outcome<T> = Result<T, Refused>;

fn refused<E, R, T>(
    err: aws_smithy_runtime_api::client::result::SdkError<E, R>,
    members: impl FnOnce(&aws_smithy_runtime_api::client::result::SdkError<E, R>) -> Vec<usize>,
) -> ApiResult<Outcome<T>>
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata
        + std::error::Error
        + Send
        + Sync
        + 'static,
    R: 'static,
    ApiError: From<aws_smithy_runtime_api::client::result::SdkError<E, R>>,
{
    if is_condition_failure(&err) {
        Ok(Err(Refused::Condition(members(&err))))
    } else if is_lost_race(&err) {
        Ok(Err(Refused::Conflict))
    } else {
        Err(err.into())
    }
}

/// PutItem of an item that must not exist yet.
pub async fn put_new(ctx: &Context, item: Item) -> ApiResult<Outcome<()>> {
    let result = ctx
        .ddb
        .put_item()
        .table_name(ctx.table())
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(PK)")
        .send()
        .await;
    match result {
        Ok(_) => Ok(Ok(())),
        Err(err) => refused(err, |_| vec![0]),
    }
}

/// UpdateItem of `key` by `e`; returns the item as stored afterwards.
pub async fn update(ctx: &Context, key: Item, e: Expression) -> ApiResult<Outcome<Item>> {
    let result = ctx
        .ddb
        .update_item()
        .table_name(ctx.table())
        .set_key(Some(key))
        .update_expression(e.update)
        .set_condition_expression(Some(e.condition).filter(|c| !c.is_empty()))
        .set_expression_attribute_names(Some(e.names).filter(|n| !n.is_empty()))
        .set_expression_attribute_values(Some(e.values).filter(|v| !v.is_empty()))
        .return_values(ReturnValue::AllNew)
        .send()
        .await;
    match result {
        Ok(out) => Ok(Ok(out.attributes.unwrap_or_default())),
        Err(err) => refused(err, |_| vec![0]),
    }
}

/// DynamoDB's limit on the members of one TransactWriteItems.
pub const MAX_TRANSACT_ITEMS: usize = 100;

/// One TransactWriteItems: all of `items` or none.
pub async fn transact(ctx: &Context, items: Vec<TransactWriteItem>) -> ApiResult<Outcome<()>> {
    let result = ctx
        .ddb
        .transact_write_items()
        .set_transact_items(Some(items))
        .send()
        .await;
    match result {
        Ok(_) => Ok(Ok(())),
        Err(err) => refused(err, |e| failed_conditions(e).unwrap_or_default()),
    }
}
