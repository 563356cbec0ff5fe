//! Tests across several Lambdas: the TVM with the projector, the exporter and the authorizer.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod config;
mod faults;
mod fuzz;
mod load;
mod support;
