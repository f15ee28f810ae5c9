//! HMS backend: one Lambda handler behind a Function URL. Bytes go straight
//! between the browser and S3 through presigned or signed URLs; this crate
//! is the control plane holding metadata in one DynamoDB table.
//!
//! # Module map
//!
//! A request goes `app` (pipeline) → `router` (finds the route in its
//! domain's `ROUTES`) → a domain handler → `store` / `s3` (every AWS call).
//!
//! The request and its answer:
//! - [`app`]: the pipeline: request id, call counting, deadline, authentication
//!   and the admin policy, error → response, CORS, one PHI-free log line.
//! - [`router`]: the route table of every domain; 404 vs 405; `Params`.
//! - [`http`]: `ApiRequest` (decoded path, query, bounded JSON body), `Reply`
//!   (and its two page shapes), shared input rules in `http::input`.
//! - [`error`]: `ApiError`: status, JSON body, opaque 500, 503 + Retry-After.
//! - [`auth`]: bearer JWTs against the issuer's JWKS (`auth::jwks`).
//! - [`context`]: `Settings` from the environment; the clients, built once.
//!
//! The domains (each: `ROUTES`, thin handlers, a model with its JSON view,
//! input → validated changes, its DynamoDB expressions):
//! - [`patients`]: the patient item, MRN pointers, `{id}` resolution, every
//!   change through `patients::change`, the timeline and ledger listings.
//! - [`documents`]: the per-category document lists of a patient.
//! - [`files`]: presigned uploads and downloads, listing and deleting objects.
//! - [`discharge`]: versioned discharge summaries and the current one.
//! - [`notes`], [`meds`], [`tasks`], [`doctors`], [`checklists`].
//! - [`attachments`]: the `files` list of a note, medication or task.
//! - [`timeline`]: a stage's timeline row; [`audit`]: the ledger entry.
//! - [`uploads`]: an upload's provenance, recorded at presign time.
//! - [`s3_events`]: the ObjectCreated ingest (the second Lambda).
//!
//! Storage:
//! - [`store`]: every DynamoDB call: typed reads, `store::write` (refused
//!   writes as values), `store::modify::Attempts` (the one guarded-write
//!   loop), `store::pager::Query` (the one pager and cursor),
//!   `store::changes` (partial updates as data), `store::sdk_errors` (what
//!   an SDK error means; imports nothing of the crate), `store::retry`.
//! - [`keys`]: every table key string and index.
//! - [`s3`]: every S3 and CloudFront call: key layout and guards
//!   (`s3::keys`), `s3::objects`, links (`s3::links`, `s3::cdn`).
//!
//! Access: [`auth`] (bearer tokens), [`policy`] (who may do what: the one
//! table of roles, departments and break-glass), [`audit`] (the ledger).
//!
//! Around them: [`aws_calls`] (the call-counting interceptor), [`clock`]
//! (timestamps, UUIDv7), [`logging`], [`local_server`] (the handlers over
//! local HTTP), [`provision`] (the local table and bucket).

pub mod admin;
pub mod app;
pub mod attachments;
pub mod audit;
pub mod auth;
pub mod aws_calls;
pub mod checklists;
pub mod clock;
pub mod context;
pub mod discharge;
pub mod doctors;
pub mod documents;
pub mod error;
pub mod files;
pub mod http;
pub mod keys;
pub mod local_server;
pub mod logging;
pub mod meds;
pub mod metrics;
pub mod notes;
pub mod patients;
pub mod policy;
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
pub mod xray;

pub use app::{handle, handle_observed, Handled};
pub use context::Context;
