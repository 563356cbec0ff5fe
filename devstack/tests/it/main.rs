//! Integration tests of the local gateway, the dev identities and the stream poller: real HTTP
//! on 127.0.0.1, requests signed by aws-sigv4 (the SDKs' signer), moto for the emulated IAM,
//! and the DynamoDB emulator on a SQLite file restarted under the poller.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fuzz;
mod gateway;
mod identities;
mod stream_poller;
mod support;
