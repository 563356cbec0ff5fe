//! The TVM's configuration from the environment, read once at cold start (a bad value fails
//! the start, not a request). Names and defaults are defined once, in `edge::config`.

use std::time::Duration;

use edge::config::{
    Env, ADMINS_PARAMETER, IDEMPOTENCY_TABLE, IDENTITY_ROLES, LEDGER_TABLE, PAGINATION_KEY_PARAMETER, POLICY_ROOT,
    RATE_LIMIT_REQUESTS, RATE_LIMIT_WINDOW, VIEWS_TABLE,
};
use edge::ConfigError;
use ledger::RoleArn;

/// The TVM's settings (DESIGN §4 names).
#[derive(Debug, Clone)]
pub struct TvmConfig {
    /// [`LEDGER_TABLE`].
    pub ledger_table: String,
    /// [`VIEWS_TABLE`].
    pub views_table: String,
    /// Where `Idempotency-Key` answers are kept (TTL 24 h).
    pub idempotency_table: String,
    /// [`POLICY_ROOT`], without a trailing `/`.
    pub policy_root: String,
    /// [`ADMINS_PARAMETER`].
    pub admins_parameter: String,
    /// [`PAGINATION_KEY_PARAMETER`].
    pub pagination_key_parameter: String,
    /// [`IDENTITY_ROLES`] as configured (role ARNs); resolved to role ids at cold start.
    pub identity_roles: Vec<RoleArn>,
    /// [`RATE_LIMIT_REQUESTS`].
    pub rate_limit_requests: u32,
    /// [`RATE_LIMIT_WINDOW`] (whole seconds).
    pub rate_limit_window: Duration,
}

impl TvmConfig {
    /// Reads and validates the configuration through `lookup` (the process environment in
    /// `main`); unset or empty variables take their defaults.
    pub fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env::new(&lookup);
        Ok(TvmConfig {
            ledger_table: env.table_name(&LEDGER_TABLE)?,
            views_table: env.table_name(&VIEWS_TABLE)?,
            idempotency_table: env.table_name(&IDEMPOTENCY_TABLE)?,
            policy_root: env.parameter_path(&POLICY_ROOT)?,
            admins_parameter: env.parameter_path(&ADMINS_PARAMETER)?,
            pagination_key_parameter: env.parameter_path(&PAGINATION_KEY_PARAMETER)?,
            identity_roles: env.list(&IDENTITY_ROLES, "IAM role ARNs")?,
            rate_limit_requests: env.number(&RATE_LIMIT_REQUESTS)?,
            rate_limit_window: Duration::from_secs(env.number(&RATE_LIMIT_WINDOW)?),
        })
    }
}
