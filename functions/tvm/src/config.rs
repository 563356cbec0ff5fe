//! Configuration from the environment, read once at cold start (a bad value fails the start,
//! not a request).

use std::time::Duration;

use anyhow::{Context, Result};
use ledger::RoleArn;

/// The TVM's settings (DESIGN §4 names).
#[derive(Debug, Clone)]
pub struct TvmConfig {
    pub ledger_table: String,
    pub views_table: String,
    /// Where `Idempotency-Key` answers are kept (TTL 24 h).
    pub idempotency_table: String,
    pub policy_root: String,
    pub admins_parameter: String,
    /// Identity roles as configured (role ARNs); resolved to role ids at cold start.
    pub identity_roles: Vec<RoleArn>,
    pub rate_limit_requests: u32,
    pub rate_limit_window: Duration,
}

impl TvmConfig {
    /// Reads the configuration through `var` (the process environment in `main`).
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let or = |name: &str, default: &str| var(name).filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_owned());
        let identity_roles = or("SENTINEL_IDENTITY_ROLES", "")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<RoleArn>().with_context(|| format!("SENTINEL_IDENTITY_ROLES: {s:?} is not a role ARN")))
            .collect::<Result<Vec<_>>>()?;
        let number = |name: &str, default: &str| -> Result<u64> {
            let v = or(name, default);
            v.parse().with_context(|| format!("{name}={v:?} is not a whole number"))
        };
        let policy_root = or("SENTINEL_POLICY_ROOT", "/sentinel/policies").trim_end_matches('/').to_owned();
        anyhow::ensure!(policy_root.starts_with('/'), "SENTINEL_POLICY_ROOT must start with '/'");
        Ok(TvmConfig {
            ledger_table: or("SENTINEL_LEDGER_TABLE", "sentinel-ledger"),
            views_table: or("SENTINEL_VIEWS_TABLE", "sentinel-views"),
            idempotency_table: or(
                ledger::store::dynamo::IDEMPOTENCY_TABLE_ENV,
                ledger::store::dynamo::DEFAULT_IDEMPOTENCY_TABLE,
            ),
            policy_root,
            admins_parameter: or("SENTINEL_ADMINS_PARAMETER", "/sentinel/admins"),
            identity_roles,
            rate_limit_requests: u32::try_from(number("SENTINEL_RATE_LIMIT_REQUESTS", "100")?)?,
            rate_limit_window: Duration::from_secs(number("SENTINEL_RATE_LIMIT_WINDOW", "60")?),
        })
    }
}
