//! Integration tests of the read side: folds, the view + tail reader, and the views table on
//! the DynamoDB emulator.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod folds;
mod reader;
mod support;
mod views_table;
