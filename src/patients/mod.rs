//! Patients: the `META_LATEST` item, MRN pointers, and resolution of `{id}`
//! (UID or MRN) used by every patient-scoped route.

pub mod change;
pub mod create;
pub mod fields;
pub mod history;
pub mod list;
pub mod model;
pub mod read;
pub mod registration;
pub mod resolve;
pub mod state;
pub mod update;

pub use model::PatientItem;
pub use resolve::{resolve, resolve_with, Resolved};
