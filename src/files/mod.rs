//! Files: the control plane of the patient's S3 objects. Bytes never pass
//! through the Lambda: the browser PUTs and GETs with presigned URLs; these
//! routes mint those URLs, list objects and delete them.

pub mod delete;
pub mod download;
pub mod list;
pub mod upload;

use crate::error::ApiError;
use crate::s3::keys::{self as s3_keys, KeyError};

use crate::http::route::Route;

/// The routes of this domain (see `router`).
pub const ROUTES: &[Route] = &[
    Route::write("POST /patients/{id}/files/presign-upload", |c, r, p| {
        Box::pin(upload::presign_upload(c, p.get("id"), r))
    }),
    Route::read("GET /patients/{id}/files", |c, r, p| {
        Box::pin(list::list(c, p.get("id"), r))
    }),
    Route::shared_read("POST /patients/{id}/files/presign-download", |c, r, p| {
        Box::pin(download::presign_download(c, p.get("id"), r))
    }),
    Route::write("POST /patients/{id}/files/delete", |c, r, p| {
        Box::pin(delete::delete(c, p.get("id"), r))
    }),
];

/// The files routes answer 403 for any key that is not the patient's.
pub(crate) fn guard(uid: &str, key: &str) -> Result<(), ApiError> {
    s3_keys::check_belongs(uid, key).map_err(|e| match e {
        KeyError::OutsidePatient => {
            ApiError::Forbidden("Key is outside this patient's files".into())
        }
        malformed => ApiError::Forbidden(malformed.to_string()),
    })
}
