//! The enforcer's configuration from the environment, read once at cold start (a bad value
//! fails the start, not an invocation): the ledger and views tables, named and defaulted in
//! `edge::config`.

/// The enforcer's settings: [`edge::config::LEDGER_TABLE`] and [`edge::config::VIEWS_TABLE`].
pub type Config = edge::Tables;
