//! Integration tests of the projector: the handler on Lambda-shaped events, delivery under
//! duplicates, reordering, gaps and failures, and the local stream poller on the emulator.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod delivery;
mod emulator;
mod handler;
mod support;
