//! Integration tests of the `sentinel` binary: its command definition, usage errors, policy
//! files, completions, shell functions, error rendering and exit codes against a stub API,
//! `exec` against the stub, and end to end against the real local stack (credential sources
//! included).

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod credentials;
mod definition;
mod e2e;
mod errors;
mod exec;
mod offline;
