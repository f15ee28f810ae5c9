//! Integration tests: the real handler against real AWS-API servers on
//! 127.0.0.1 (see `support`). One binary, so it compiles once.
#![recursion_limit = "256"]

mod doctors;
mod documents;
mod files;
mod flow;
mod patients;
mod router;
mod support;
mod tasks;
