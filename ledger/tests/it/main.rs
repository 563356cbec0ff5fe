//! Integration tests of the ledger against the DynamoDB emulator on 127.0.0.1.

mod dynamo_store;
mod support;
mod tamper;
mod fixtures;
mod roundtrip;
mod state_machines;
