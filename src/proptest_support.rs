//! What the property tests of client-facing parsers and guards share: the
//! proptest settings, "a rejection is a 4xx", and request bodies of any
//! shape from the strategies the API fuzz test uses too.

use proptest::test_runner::{Config, FileFailurePersistence};

use crate::error::ApiResult;
use crate::http::{self, ApiRequest};

/// Cases per property: cheap, pure functions.
const CASES: u32 = 3_000;

pub fn config() -> Config {
    Config {
        cases: CASES,
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..Config::default()
    }
}

/// Accepted, or refused with a 4xx (never a 5xx, never a panic).
pub fn is_client_error<T>(result: &ApiResult<T>) -> bool {
    result
        .as_ref()
        .err()
        .is_none_or(|e| e.status().is_client_error())
}

#[path = "../tests/common/strategies.rs"]
mod strategies;

/// JSON text of any shape, or bytes that may not be JSON at all (the same
/// bodies the API fuzz test sends).
pub use strategies::body;

/// A request carrying `body` and the query string `query`.
pub fn request(body: Vec<u8>, query: &str) -> ApiRequest {
    ApiRequest {
        body,
        query: http::parse_query(query),
        ..Default::default()
    }
}
