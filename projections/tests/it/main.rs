//! Integration tests of the read side: folds, the view + tail reader, and the views table on
//! the DynamoDB emulator.

mod folds;
mod reader;
mod support;
mod views_table;
