//! Patients: the `META_LATEST` item, MRN pointers, and resolution of `{id}`
//! (UID or MRN) used by every patient-scoped route.

pub mod create;
pub mod fields;
pub mod model;
pub mod read;
pub mod resolve;

pub use model::PatientItem;
pub use resolve::{resolve, resolve_with, Resolved};
