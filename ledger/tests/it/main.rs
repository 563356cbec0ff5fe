//! Integration tests of the ledger, most of them against the DynamoDB emulator on 127.0.0.1.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod canonical;
mod dynamo_store;
mod fixtures;
mod key_records;
mod roundtrip;
mod state_machines;
mod support;
mod tamper;
