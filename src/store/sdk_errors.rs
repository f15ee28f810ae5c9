//! What an AWS SDK error means for this service: a failed condition (a lost
//! optimistic race, or an item that must not exist), a transaction conflict
//! (DynamoDB wrote nothing; send it again), or a transient fault (503). It
//! imports nothing of the crate, so the error type and the store both build
//! on it.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

type HttpResponse = aws_smithy_runtime_api::http::Response;

/// Error codes AWS uses for throttling; they are transient.
const THROTTLING_CODES: [&str; 7] = [
    "ThrottlingException",
    "Throttling",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "SlowDown",
    "TooManyRequestsException",
    "RequestThrottled",
];

/// Whether an AWS call that still failed after the SDK's retries failed for
/// a transient reason (throttling, a 5xx, a timeout, no connection, or a
/// transaction cancelled only by a conflicting transaction or throttling).
pub fn is_transient<E: ProvideErrorMetadata + 'static>(err: &SdkError<E, HttpResponse>) -> bool {
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(ctx) => {
            ctx.raw().status().is_server_error()
                || ctx.err().code().is_some_and(|code| {
                    THROTTLING_CODES.contains(&code) || code == "TransactionConflictException"
                })
                || cancellation_codes(ctx.err()).is_some_and(|codes| {
                    codes.iter().any(|c| TRANSIENT_CANCELLATIONS.contains(c))
                        && !codes.contains(&"ConditionalCheckFailed")
                })
        }
        _ => false,
    }
}

/// Reasons a transaction member can be cancelled for that a retry can cure.
const TRANSIENT_CANCELLATIONS: [&str; 4] = [
    "TransactionConflict",
    "ThrottlingError",
    "ProvisionedThroughputExceeded",
    "RequestLimitExceeded",
];

/// Whether an SDK error is a failed condition check (a lost optimistic race or
/// an item that must not exist), including inside a transaction. A
/// transaction cancelled for another reason only (a conflicting transaction,
/// throttling) is not: it is transient (see `error::is_transient`).
pub fn is_condition_failure<E, R>(err: &SdkError<E, R>) -> bool
where
    E: ProvideErrorMetadata + 'static,
{
    let Some(service) = err.as_service_error() else {
        return false;
    };
    match service.code() {
        Some("ConditionalCheckFailedException") => true,
        Some("TransactionCanceledException") => {
            cancellation_codes(service).is_none_or(|codes| codes.contains(&CONDITION_FAILED))
        }
        _ => false,
    }
}

const CONDITION_FAILED: &str = "ConditionalCheckFailed";
const TRANSACTION_CONFLICT: &str = "TransactionConflict";

/// Whether a write met a running transaction on one of its items (DynamoDB
/// then writes nothing): `TransactionConflictException` for a single-item
/// write, or a transaction cancelled for `TransactionConflict` with no
/// failed condition.
pub fn is_transaction_conflict<E, R>(err: &SdkError<E, R>) -> bool
where
    E: ProvideErrorMetadata + 'static,
{
    err.as_service_error().is_some_and(conflicted)
}

fn conflicted<E: ProvideErrorMetadata + 'static>(service: &E) -> bool {
    match service.code() {
        Some("TransactionConflictException") => true,
        Some("TransactionCanceledException") => cancellation_codes(service).is_some_and(|codes| {
            codes.contains(&TRANSACTION_CONFLICT) && !codes.contains(&CONDITION_FAILED)
        }),
        _ => false,
    }
}

/// A lost optimistic race of a guarded write: its condition failed, or it
/// met a concurrent transaction. Either way nothing was written, and the
/// write is re-read and re-applied.
pub fn is_lost_race<E, R>(err: &SdkError<E, R>) -> bool
where
    E: ProvideErrorMetadata + 'static,
{
    is_condition_failure(err) || is_transaction_conflict(err)
}

/// Lets the SDK retry, with its back-off and retry budget, a write that met
/// a running transaction on the same item (nothing was written, so the same
/// request is sent again). Real DynamoDB answers concurrent writes to one
/// item this way; the SDK's standard classifiers do not retry it.
#[derive(Debug, Default)]
pub struct ConflictRetry;

impl aws_smithy_runtime_api::client::retries::classifiers::ClassifyRetry for ConflictRetry {
    fn classify_retry(
        &self,
        ctx: &aws_smithy_runtime_api::client::interceptors::context::InterceptorContext,
    ) -> aws_smithy_runtime_api::client::retries::classifiers::RetryAction {
        use aws_sdk_dynamodb::operation::{
            delete_item::DeleteItemError, put_item::PutItemError,
            transact_write_items::TransactWriteItemsError, update_item::UpdateItemError,
        };
        use aws_smithy_runtime_api::client::retries::classifiers::RetryAction;
        let Some(Err(err)) = ctx.output_or_error() else {
            return RetryAction::NoActionIndicated;
        };
        let Some(op) = err.as_operation_error() else {
            return RetryAction::NoActionIndicated;
        };
        let conflict = op
            .downcast_ref::<TransactWriteItemsError>()
            .is_some_and(conflicted)
            || op.downcast_ref::<UpdateItemError>().is_some_and(conflicted)
            || op.downcast_ref::<PutItemError>().is_some_and(conflicted)
            || op.downcast_ref::<DeleteItemError>().is_some_and(conflicted);
        if conflict {
            RetryAction::transient_error()
        } else {
            RetryAction::NoActionIndicated
        }
    }

    fn name(&self) -> &'static str {
        "DynamoDB transaction conflict"
    }
}

/// The reason codes of a cancelled TransactWriteItems, one per member
/// (`None` for members that were fine); `None` for any other error.
pub fn cancellation_codes<E: 'static>(service_error: &E) -> Option<Vec<&str>> {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    let any: &dyn std::any::Any = service_error;
    match any.downcast_ref::<TransactWriteItemsError>() {
        Some(TransactWriteItemsError::TransactionCanceledException(e)) => Some(
            e.cancellation_reasons()
                .iter()
                .map(|r| r.code().unwrap_or("None"))
                .collect(),
        ),
        _ => None,
    }
}

/// For a cancelled transaction, which parts failed their condition (by index).
pub fn failed_conditions(
    err: &SdkError<
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError,
        HttpResponse,
    >,
) -> Option<Vec<usize>> {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(e)) => Some(
            e.cancellation_reasons()
                .iter()
                .enumerate()
                .filter(|(_, r)| r.code() == Some(CONDITION_FAILED))
                .map(|(i, _)| i)
                .collect(),
        ),
        _ => None,
    }
}
