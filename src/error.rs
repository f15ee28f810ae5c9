//! One error type for every route. Client mistakes keep their message; anything
//! internal is logged with its context and answered with an opaque 500.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use lambda_http::http::StatusCode;
use serde_json::{json, Value};

use crate::auth::Rejection;
use crate::store::sdk_errors::is_transient;

/// Seconds a client is asked to wait after a 503.
pub const RETRY_AFTER_SECS: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    /// No valid bearer token (the reason is logged, never sent).
    #[error("{}", .0.reason())]
    Unauthorized(Rejection),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("Method not allowed")]
    MethodNotAllowed,
    #[error("{message}")]
    Conflict {
        message: String,
        /// Extra fields merged into the error body (e.g. missing checklist items).
        details: Option<Value>,
    },
    #[error("Request body too large (limit {limit} bytes)")]
    PayloadTooLarge { limit: usize },
    /// A setting the route needs is absent; the message names it (no secrets in it).
    #[error("{0} not configured")]
    NotConfigured(&'static str),
    /// A dependency (DynamoDB, S3, the key server) failed after retries or
    /// timed out: worth retrying later.
    #[error("dependency unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn bad_request(msg: impl Into<String>) -> Self {
        Self::BadRequest(msg.into())
    }

    pub fn not_found(msg: impl Into<String>) -> Self {
        Self::NotFound(msg.into())
    }

    pub fn conflict(msg: impl Into<String>) -> Self {
        Self::Conflict {
            message: msg.into(),
            details: None,
        }
    }

    pub fn patient_not_found() -> Self {
        Self::NotFound("Patient not found".into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::NotConfigured(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// Headers the response must carry besides the JSON body.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        match self {
            Self::Unauthorized(Rejection::MissingHeader | Rejection::NotBearer) => {
                vec![("www-authenticate", "Bearer realm=\"hms\"".to_string())]
            }
            Self::Unauthorized(_) => vec![(
                "www-authenticate",
                "Bearer realm=\"hms\", error=\"invalid_token\"".to_string(),
            )],
            Self::Unavailable(_) => vec![("retry-after", RETRY_AFTER_SECS.to_string())],
            _ => Vec::new(),
        }
    }

    /// The JSON body sent to the client. Internal details never leave the process.
    pub fn body(&self) -> Value {
        match self {
            Self::Internal(_) => json!({ "error": "Internal server error" }),
            Self::Unauthorized(_) => {
                json!({ "error": "Unauthorized: a valid bearer token is required" })
            }
            Self::Unavailable(_) => json!({
                "error": "Service temporarily unavailable; retry shortly",
                "retryAfterSeconds": RETRY_AFTER_SECS,
            }),
            Self::Conflict {
                message,
                details: Some(Value::Object(extra)),
            } => {
                let mut body = extra.clone();
                body.insert("error".into(), Value::String(message.clone()));
                Value::Object(body)
            }
            other => json!({ "error": other.to_string() }),
        }
    }
}

impl From<Rejection> for ApiError {
    fn from(r: Rejection) -> Self {
        match r {
            Rejection::KeysUnavailable => Self::Unavailable(r.reason().to_string()),
            Rejection::NoAudienceConfigured => Self::NotConfigured("AUTH_AUDIENCE"),
            other => Self::Unauthorized(other),
        }
    }
}

type HttpResponse = aws_smithy_runtime_api::http::Response;

impl<E> From<SdkError<E, HttpResponse>> for ApiError
where
    E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
{
    fn from(err: SdkError<E, HttpResponse>) -> Self {
        // The error's code and message, or its kind and HTTP status: never
        // the raw response, whose body and headers a log must not carry.
        let detail = match &err {
            SdkError::ServiceError(ctx) => format!(
                "AWS call failed: {} ({}): {}",
                ctx.err().code().unwrap_or("unknown code"),
                ctx.raw().status().as_u16(),
                ctx.err().message().unwrap_or("no message"),
            ),
            SdkError::TimeoutError(_) => "AWS call timed out".to_string(),
            SdkError::DispatchFailure(_) => "AWS call not sent (connection failed)".to_string(),
            SdkError::ResponseError(ctx) => format!(
                "AWS response unreadable (HTTP {})",
                ctx.raw().status().as_u16()
            ),
            SdkError::ConstructionFailure(_) => "AWS request could not be built".to_string(),
            _ => "AWS call failed".to_string(),
        };
        if is_transient(&err) {
            Self::Unavailable(detail)
        } else {
            Self::Internal(detail)
        }
    }
}

impl From<serde_dynamo::Error> for ApiError {
    fn from(err: serde_dynamo::Error) -> Self {
        Self::Internal(format!("item mapping failed: {err}"))
    }
}

impl From<serde_json::Error> for ApiError {
    fn from(err: serde_json::Error) -> Self {
        Self::Internal(format!("JSON mapping failed: {err}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;

    #[test]
    fn internal_errors_are_opaque() {
        // Given an internal error carrying details
        let err = ApiError::Internal("table HMS-secret unreachable".into());
        // Then the body says nothing about them
        assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(err.body(), json!({"error": "Internal server error"}));
    }

    #[test]
    fn conflict_details_are_merged_into_the_body() {
        let err = ApiError::Conflict {
            message: "Checklist incomplete".into(),
            details: Some(json!({"missingIn": ["consent"]})),
        };
        assert_eq!(
            err.body(),
            json!({"error": "Checklist incomplete", "missingIn": ["consent"]})
        );
    }

    #[test]
    fn unavailable_asks_to_retry_and_hides_details() {
        let err = ApiError::Unavailable("DynamoDB throttled table HMS".into());
        assert_eq!(err.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(err.headers(), vec![("retry-after", "1".to_string())]);
        assert!(!err.body().to_string().contains("HMS"));
    }

    #[test]
    fn unauthorized_names_the_scheme_not_the_reason() {
        let missing = ApiError::from(Rejection::MissingHeader);
        assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(missing.headers()[0].1, "Bearer realm=\"hms\"");
        let expired = ApiError::from(Rejection::Expired);
        assert!(expired.headers()[0].1.contains("invalid_token"));
        assert!(!expired.body().to_string().contains("expired"));
        // Keys that cannot be read are the service's failure, not the caller's.
        assert_eq!(
            ApiError::from(Rejection::KeysUnavailable).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }

    #[test]
    fn not_configured_names_the_setting() {
        let err = ApiError::NotConfigured("FILES_BUCKET");
        assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(err.body(), json!({"error": "FILES_BUCKET not configured"}));
    }

    fn cancelled(codes: &[&str]) -> SdkError<TransactWriteItemsError, HttpResponse> {
        use aws_sdk_dynamodb::error::ErrorMetadata;
        use aws_sdk_dynamodb::types::error::TransactionCanceledException;
        use aws_sdk_dynamodb::types::CancellationReason;
        let reasons = codes
            .iter()
            .map(|c| CancellationReason::builder().code(*c).build())
            .collect();
        let err = TransactionCanceledException::builder()
            .set_cancellation_reasons(Some(reasons))
            .meta(
                ErrorMetadata::builder()
                    .code("TransactionCanceledException")
                    .build(),
            )
            .build();
        let raw = HttpResponse::new(
            400.try_into().unwrap(),
            aws_smithy_types::body::SdkBody::empty(),
        );
        SdkError::service_error(
            TransactWriteItemsError::TransactionCanceledException(err),
            raw,
        )
    }

    #[test]
    fn a_transaction_cancelled_by_a_condition_is_a_condition_failure() {
        let err = cancelled(&["None", "ConditionalCheckFailed"]);
        assert!(crate::store::is_condition_failure(&err));
        assert!(!is_transient(&err));
        // Conflict and condition together: the condition is the answer.
        let err = cancelled(&["TransactionConflict", "ConditionalCheckFailed"]);
        assert!(crate::store::is_condition_failure(&err));
        assert!(!is_transient(&err));
    }

    #[test]
    fn a_transaction_cancelled_by_a_conflict_or_throttling_is_transient() {
        for code in ["TransactionConflict", "ThrottlingError"] {
            let err = cancelled(&["None", code]);
            assert!(!crate::store::is_condition_failure(&err), "{code}");
            assert!(is_transient(&err), "{code}");
            assert_eq!(
                ApiError::from(err).status(),
                StatusCode::SERVICE_UNAVAILABLE
            );
        }
    }

    #[test]
    fn a_transaction_cancelled_for_a_bad_request_is_neither() {
        let err = cancelled(&["ValidationError", "None"]);
        assert!(!crate::store::is_condition_failure(&err));
        assert_eq!(
            ApiError::from(err).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
