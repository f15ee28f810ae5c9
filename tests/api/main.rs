//! Integration tests: the real handler against real AWS-API servers on
//! 127.0.0.1 (see `support`). One binary, so it compiles once.
#![recursion_limit = "256"]

mod access;
mod admin;
mod audit;
mod auth;
mod bounds;
mod checklists;
mod discharge;
mod doctors;
mod documents;
mod documents_scale;
mod events;
mod fault_proxy;
mod faults;
mod files;
mod flow;
mod fuzz;
mod jwt;
mod lifecycle;
mod links;
mod meds;
mod notes;
mod patients;
mod router;
mod rules;
mod scheduling;
mod support;
mod tasks;
mod upload_rules;
