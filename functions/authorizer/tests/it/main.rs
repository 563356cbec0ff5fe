//! Authorizer tests: tokens, session states and store failures against in-memory ports.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod authorize;
