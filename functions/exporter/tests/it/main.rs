//! Integration tests of the exporter: batching, per-entry retries and failure reports with a
//! scripted bus, and the whole path on emulators (ledger stream → poller → EventBridge → SQS).

mod emulator;
mod handler;
