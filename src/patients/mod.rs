//! Patients: the `META_LATEST` item, MRN pointers, and resolution of `{id}`
//! (UID or MRN) used by every patient-scoped route.

pub mod bump;
pub mod change;
pub mod create;
pub mod fields;
pub mod history;
pub mod list;
pub mod model;
pub mod read;
pub mod registration;
pub mod resolve;
pub mod share;
pub mod state;
pub mod update;

pub use model::PatientItem;
pub use resolve::{resolve, resolve_with, Resolved};

use crate::http::route::Route;

/// The routes of this domain (see `router`).
pub const ROUTES: &[Route] = &[
    Route::register("POST /patients", |c, r, _| Box::pin(create::create(c, r))),
    Route::list("GET /patients", |c, r, _| Box::pin(list::list(c, r))),
    Route::shared_read("GET /patients/by-mrn/{mrn}", |c, r, p| {
        Box::pin(read::get(c, p.get("mrn"), r))
    }),
    Route::shared_read("GET /patients/{id}", |c, r, p| {
        Box::pin(read::get(c, p.get("id"), r))
    }),
    Route::write("PUT /patients/{id}", |c, r, p| {
        Box::pin(update::put(c, p.get("id"), r))
    }),
    Route::write("DELETE /patients/{id}", |c, r, p| {
        Box::pin(update::delete(c, p.get("id"), r))
    }),
    Route::write("PATCH /patients/{id}/state", |c, r, p| {
        Box::pin(state::patch_state(c, p.get("id"), r))
    }),
    Route::write("PATCH /patients/{id}/registration", |c, r, p| {
        Box::pin(registration::switch(c, p.get("id"), r))
    }),
    Route::correct("PATCH /patients/{id}/mrn-history", |c, r, p| {
        Box::pin(registration::replace_history(c, p.get("id"), r))
    }),
    Route::correct("PATCH /patients/{id}/mrn-overwrite", |c, r, p| {
        Box::pin(registration::overwrite(c, p.get("id"), r))
    }),
    Route::write("PATCH /patients/{id}/documents/gov-share", |c, r, p| {
        Box::pin(share::gov_share(c, p.get("id"), r))
    }),
    Route::read("GET /patients/{id}/timeline", |c, r, p| {
        Box::pin(history::timeline(c, p.get("id"), r))
    }),
    Route::ledger("GET /patients/{id}/audit", |c, r, p| {
        Box::pin(history::ledger(c, p.get("id"), r))
    }),
];
