//! The transactions of note writes: the note change and the patient's
//! `update_counter` / `last_updated` bump succeed or fail together.
//! DynamoDB cancels a transaction that overlaps another one on the same item
//! (two notes of one patient written at once both touch the patient); the
//! SDK retries those (see `store::ConflictRetry`).

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use aws_smithy_runtime_api::client::result::SdkError;

use crate::context::Context;
use crate::error::{ApiError, ApiResult};
use crate::keys;
use crate::store;

/// `SET update_counter += 1, last_updated` on the patient, inside a note write.
pub(super) fn bump_patient(table: &str, uid: &str, now: &str) -> ApiResult<Update> {
    Update::builder()
        .table_name(table)
        .set_key(Some(store::key(keys::patient_pk(uid), keys::META_SK)))
        .update_expression(
            "SET update_counter = if_not_exists(update_counter, :zero) + :one, last_updated = :now",
        )
        .condition_expression("attribute_exists(PK)")
        .set_expression_attribute_values(Some(HashMap::from([
            (":zero".to_string(), AttributeValue::N("0".into())),
            (":one".to_string(), AttributeValue::N("1".into())),
            (":now".to_string(), store::s(now)),
        ])))
        .build()
        .map_err(|e| ApiError::Internal(format!("patient bump: {e}")))
}

pub(super) type TransactError =
    SdkError<TransactWriteItemsError, aws_smithy_runtime_api::http::Response>;

/// One TransactWriteItems. A cancellation only because another transaction
/// was touching the same item is retried by the SDK (`store::ConflictRetry`);
/// condition failures and other errors are returned as they are.
pub(super) async fn transact(
    ctx: &Context,
    items: Vec<TransactWriteItem>,
) -> Result<(), TransactError> {
    ctx.ddb
        .transact_write_items()
        .set_transact_items(Some(items))
        .send()
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bump_counts_from_zero_and_needs_the_patient() {
        // Given a patient item that may predate update_counter
        let bump = bump_patient("T", "u1", "2025-01-01T00:00:00.000Z").unwrap();
        // Then the counter starts at zero, and a missing patient fails the write
        assert!(bump
            .update_expression()
            .contains("if_not_exists(update_counter, :zero) + :one"));
        assert_eq!(bump.condition_expression(), Some("attribute_exists(PK)"));
        assert_eq!(bump.key()["PK"], store::s("PATIENT#u1"));
        assert_eq!(bump.key()["SK"], store::s(keys::META_SK));
    }
}
