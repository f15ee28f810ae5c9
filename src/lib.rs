//! HMS backend: one Lambda handler behind a Function URL. Bytes go straight
//! between the browser and S3 through presigned URLs; this crate is the
//! control plane holding metadata in one DynamoDB table.

pub mod app;
pub mod attachments;
pub mod audit;
pub mod auth;
pub mod aws_calls;
pub mod checklists;
pub mod clock;
pub mod context;
pub mod doctors;
pub mod documents;
pub mod error;
pub mod files;
pub mod http;
pub mod keys;
pub mod local_server;
pub mod logging;
pub mod meds;
pub mod notes;
pub mod patients;
#[cfg(test)]
mod proptest_support;
/// The table and bucket a local run creates for itself.
pub mod provision {
    pub use crate::s3::provision::ensure_bucket;
    pub use crate::store::provision::ensure_table;
}
pub mod router;
pub mod s3;
pub mod s3_events;
pub mod store;
pub mod tasks;
pub mod timeline;
pub mod uploads;

pub use app::{handle, handle_counted};
pub use context::Context;
