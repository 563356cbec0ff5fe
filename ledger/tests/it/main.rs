//! Integration tests of the ledger against the DynamoDB emulator on 127.0.0.1.

mod dynamo_store;
mod fixtures;
mod key_records;
mod roundtrip;
mod state_machines;
mod support;
mod tamper;
