//! The patient's `update_counter` / `last_updated` bump that a write to a
//! patient's note or discharge summary carries in its transaction, so a
//! client polling the patient sees the change, and the change and the bump
//! succeed or fail together. DynamoDB cancels a transaction that overlaps another
//! one on the same item (two notes of one patient written at once both touch
//! the patient); the SDK retries those (see `store::ConflictRetry`).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Update};

use crate::error::{ApiError, ApiResult};
use crate::keys;
use crate::store;

/// `SET update_counter += 1, last_updated` on the patient, inside a note write.
pub fn bump_patient(table: &str, uid: &str, now: &str) -> ApiResult<Update> {
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
