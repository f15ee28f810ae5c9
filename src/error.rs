//! One error type for every route. Client mistakes keep their message; anything
//! internal is logged with its context and answered with an opaque 500.

use lambda_http::http::StatusCode;
use serde_json::{json, Value};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
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
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::NotConfigured(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The JSON body sent to the client. Internal details never leave the process.
    pub fn body(&self) -> Value {
        match self {
            Self::Internal(_) => json!({ "error": "Internal server error" }),
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

impl<E, R> From<aws_smithy_runtime_api::client::result::SdkError<E, R>> for ApiError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    fn from(err: aws_smithy_runtime_api::client::result::SdkError<E, R>) -> Self {
        Self::Internal(format!(
            "AWS call failed: {}",
            aws_smithy_types::error::display::DisplayErrorContext(&err)
        ))
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
    fn not_configured_names_the_setting() {
        let err = ApiError::NotConfigured("FILES_BUCKET");
        assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(err.body(), json!({"error": "FILES_BUCKET not configured"}));
    }
}
