//! TVM handler tests: API Gateway payload-2.0 fixtures against in-memory ports, attack tests,
//! and the vend path through the STS, SSM and DynamoDB emulators.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod attacks;
mod drift;
mod emulators;
mod forged_views;
mod handler;
mod immediacy;
mod keys;
mod pages;
mod people;
mod revocation;
mod support;
mod trust;
mod workflow;
