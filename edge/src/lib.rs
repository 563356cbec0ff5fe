//! What every Sentinel Lambda does at its edge, in one place: configuration from the
//! environment ([`config`]: each name and default once, validated at cold start), tracing
//! ([`init_tracing`]), the clock ([`Clock`]), reading a ledger stream record and answering a
//! stream batch ([`stream`]). Each function's `main.rs` wires these in a few lines; the local
//! stack reads its configuration through the same types.

#![warn(missing_docs)]

pub mod clock;
pub mod config;
pub mod logging;
pub mod stream;

pub use clock::{Clock, FixedClock, SystemClock};
pub use config::{ConfigError, Env, Tables};
pub use logging::init_tracing;
