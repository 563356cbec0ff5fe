//! Integration tests of the exporter: batching, per-entry retries and failure reports with a
//! scripted bus, and the whole path on emulators (ledger stream → poller → EventBridge → SQS).

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod emulator;
mod handler;
