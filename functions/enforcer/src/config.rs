//! Configuration from the environment, read once at cold start (a bad value fails the start,
//! not an invocation).

/// The variable naming the ledger table.
pub const LEDGER_TABLE_ENV: &str = "SENTINEL_LEDGER_TABLE";
/// The variable naming the views table.
pub const VIEWS_TABLE_ENV: &str = "SENTINEL_VIEWS_TABLE";
/// The ledger table when unset (contract.json).
pub const DEFAULT_LEDGER_TABLE: &str = "sentinel-ledger";
/// The views table when unset (contract.json).
pub const DEFAULT_VIEWS_TABLE: &str = "sentinel-views";

/// The enforcer's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `SENTINEL_LEDGER_TABLE`.
    pub ledger_table: String,
    /// `SENTINEL_VIEWS_TABLE`.
    pub views_table: String,
}

/// A variable whose value is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}={value:?} is not a DynamoDB table name (3-255 of letters, digits, '_', '-', '.')")]
pub struct ConfigError {
    /// The variable.
    pub variable: &'static str,
    /// Its value.
    pub value: String,
}

impl Config {
    /// Reads the configuration through `var` (the process environment in `main`); unset or
    /// empty variables take the contract's defaults.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let table = |variable: &'static str, default: &str| {
            let value = var(variable).filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_owned());
            let valid = (3..=255).contains(&value.len())
                && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
            if valid {
                Ok(value)
            } else {
                Err(ConfigError { variable, value })
            }
        };
        Ok(Config {
            ledger_table: table(LEDGER_TABLE_ENV, DEFAULT_LEDGER_TABLE)?,
            views_table: table(VIEWS_TABLE_ENV, DEFAULT_VIEWS_TABLE)?,
        })
    }
}
