//! Integration tests of the local gateway and the dev identities: real HTTP on 127.0.0.1,
//! requests signed by aws-sigv4 (the SDKs' signer), and moto for the emulated IAM.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fuzz;
mod gateway;
mod identities;
mod support;
