//! Configuration from the environment: every name a function reads, with its default, defined
//! once here ([`ALL`], which the drift tests compare with `terraform/contract.json`), and the
//! readers that validate a value once, at cold start, with an error naming the variable.

use std::fmt::Display;
use std::str::FromStr;

/// One environment variable a function reads. Only this module defines them, so each name and
/// its default exist once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Var {
    name: &'static str,
    default: &'static str,
}

impl Var {
    /// The variable's name.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The value used when the variable is unset or empty (the Terraform contract's default).
    pub const fn default(&self) -> &'static str {
        self.default
    }
}

/// The ledger table (tvm, authorizer, projector, enforcer; the CLI's operator commands).
pub const LEDGER_TABLE: Var = Var { name: "SENTINEL_LEDGER_TABLE", default: "sentinel-ledger" };
/// The views table (tvm, authorizer, projector, enforcer; the CLI's `views rebuild`).
pub const VIEWS_TABLE: Var = Var { name: "SENTINEL_VIEWS_TABLE", default: "sentinel-views" };
/// The table that keeps `Idempotency-Key` answers, TTL 24 h (tvm; the local stack creates it).
pub const IDEMPOTENCY_TABLE: Var = Var { name: "SENTINEL_IDEMPOTENCY_TABLE", default: "sentinel-idempotency" };
/// The EventBridge bus the exporter publishes to (a name or an ARN).
pub const EVENT_BUS: Var = Var { name: "SENTINEL_EVENT_BUS", default: "sentinel-ledger" };
/// The SSM path under which each profile's policy is a parameter (tvm).
pub const POLICY_ROOT: Var = Var { name: "SENTINEL_POLICY_ROOT", default: "/sentinel/policies" };
/// The SSM parameter holding the admins document (tvm).
pub const ADMINS_PARAMETER: Var = Var { name: "SENTINEL_ADMINS_PARAMETER", default: "/sentinel/admins" };
/// The SSM SecureString parameter holding the key that seals the list routes' `next_token`s
/// (tvm). The TVM reads it at cold start and creates it (32 random bytes) when it is missing.
pub const PAGINATION_KEY_PARAMETER: Var =
    Var { name: "SENTINEL_PAGINATION_KEY_PARAMETER", default: "/sentinel/pagination-key" };
/// The identity roles (SSO-style), as comma-separated role ARNs (tvm).
pub const IDENTITY_ROLES: Var = Var { name: "SENTINEL_IDENTITY_ROLES", default: "" };
/// Requests allowed per person key and window (tvm).
pub const RATE_LIMIT_REQUESTS: Var = Var { name: "SENTINEL_RATE_LIMIT_REQUESTS", default: "100" };
/// The rate limit's window in seconds (tvm).
pub const RATE_LIMIT_WINDOW: Var = Var { name: "SENTINEL_RATE_LIMIT_WINDOW", default: "60" };
/// The log filter ([`crate::tracing::init`], every function).
pub const LOG_FILTER: Var = Var { name: "RUST_LOG", default: "info" };

/// Every variable the functions read.
pub const ALL: &[Var] = &[
    LEDGER_TABLE,
    VIEWS_TABLE,
    IDEMPOTENCY_TABLE,
    EVENT_BUS,
    POLICY_ROOT,
    ADMINS_PARAMETER,
    PAGINATION_KEY_PARAMETER,
    IDENTITY_ROLES,
    RATE_LIMIT_REQUESTS,
    RATE_LIMIT_WINDOW,
    LOG_FILTER,
];

/// A variable whose value is unusable; the message names the variable, the value and what
/// was expected, so a bad deployment fails its cold start with one clear line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}={value:?} is not {expected}")]
pub struct ConfigError {
    /// The variable's name.
    pub variable: &'static str,
    /// The value it had (or its default).
    pub value: String,
    /// What a valid value looks like.
    pub expected: String,
}

/// The process environment, as `main` reads it.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Reads variables through a lookup (the process environment in `main`, a closure in tests and
/// in the local stack); an unset or empty variable takes its default.
pub struct Env<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl<'a> Env<'a> {
    /// An environment answered by `lookup`.
    pub fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Env { lookup }
    }

    /// The value, or the default when unset or empty.
    pub fn text(&self, var: &Var) -> String {
        (self.lookup)(var.name).filter(|v| !v.is_empty()).unwrap_or_else(|| var.default.to_owned())
    }

    fn check(&self, var: &Var, valid: impl Fn(&str) -> bool, expected: &str) -> Result<String, ConfigError> {
        let value = self.text(var);
        if valid(&value) {
            Ok(value)
        } else {
            Err(ConfigError { variable: var.name, value, expected: expected.to_owned() })
        }
    }

    /// A DynamoDB table name: 3-255 of `A-Z a-z 0-9 _ . -`.
    pub fn table_name(&self, var: &Var) -> Result<String, ConfigError> {
        let valid = |v: &str| {
            (3..=255).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        };
        self.check(var, valid, "a DynamoDB table name (3-255 of A-Z a-z 0-9 _ . -)")
    }

    /// An EventBridge bus: a name (1-256 of `A-Z a-z 0-9 / . _ -`) or an event-bus ARN.
    pub fn event_bus(&self, var: &Var) -> Result<String, ConfigError> {
        let valid = |v: &str| {
            let name =
                (1..=256).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._-".contains(&b));
            let arn = v.starts_with("arn:") && v.len() <= 1600 && v.contains(":event-bus/");
            name || arn
        };
        self.check(var, valid, "an event bus name or ARN")
    }

    /// An SSM parameter path: starts with `/`, at most 1011 characters, without a trailing `/`
    /// (one is removed).
    pub fn parameter_path(&self, var: &Var) -> Result<String, ConfigError> {
        let value = self.text(var);
        let trimmed = match value.trim_end_matches('/') {
            "" => value.as_str(),
            trimmed => trimmed,
        };
        let valid = trimmed.starts_with('/')
            && trimmed.len() <= 1011
            && trimmed.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._-".contains(&b));
        if valid {
            Ok(trimmed.to_owned())
        } else {
            Err(ConfigError {
                variable: var.name,
                value,
                expected: "an SSM parameter path (starting with '/', of A-Z a-z 0-9 / . _ -)".to_owned(),
            })
        }
    }

    /// A whole number of type `T`.
    pub fn number<T: FromStr>(&self, var: &Var) -> Result<T, ConfigError> {
        let value = self.text(var);
        value.parse().map_err(|_| ConfigError {
            variable: var.name,
            value,
            expected: format!("a whole number that fits in {}", std::any::type_name::<T>()),
        })
    }

    /// A comma-separated list (blanks around items and empty items ignored), each item parsed.
    pub fn list<T>(&self, var: &Var, what: &str) -> Result<Vec<T>, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        let value = self.text(var);
        value
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| {
                item.parse().map_err(|e| ConfigError {
                    variable: var.name,
                    value: value.clone(),
                    expected: format!("a comma-separated list of {what} ({item:?}: {e})"),
                })
            })
            .collect()
    }
}

/// The two tables a function reads: what the authorizer, the projector and the enforcer are
/// configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tables {
    /// [`LEDGER_TABLE`].
    pub ledger_table: String,
    /// [`VIEWS_TABLE`].
    pub views_table: String,
}

impl Tables {
    /// Reads and validates both names through `lookup` (the process environment in `main`).
    pub fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env::new(&lookup);
        Ok(Tables { ledger_table: env.table_name(&LEDGER_TABLE)?, views_table: env.table_name(&VIEWS_TABLE)? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_owned())
    }

    #[test]
    fn unset_and_empty_variables_take_their_defaults() {
        let unset = Tables::from_vars(|_| None).unwrap();
        let empty = Tables::from_vars(|_| Some(String::new())).unwrap();
        let defaults =
            Tables { ledger_table: LEDGER_TABLE.default().to_owned(), views_table: VIEWS_TABLE.default().to_owned() };
        assert_eq!((unset, empty), (defaults.clone(), defaults));
    }

    #[test]
    fn a_bad_table_name_is_refused_naming_the_variable_and_the_value() {
        let lookup = with(&[("SENTINEL_VIEWS_TABLE", "views table!")]);
        let error = Tables::from_vars(&lookup).unwrap_err();
        assert_eq!((error.variable, error.value.as_str()), ("SENTINEL_VIEWS_TABLE", "views table!"));
        assert_eq!(
            error.to_string(),
            "SENTINEL_VIEWS_TABLE=\"views table!\" is not a DynamoDB table name (3-255 of A-Z a-z 0-9 _ . -)"
        );
        let short = with(&[("SENTINEL_LEDGER_TABLE", "ab")]);
        assert_eq!(Tables::from_vars(&short).unwrap_err().variable, "SENTINEL_LEDGER_TABLE");
    }

    #[test]
    fn a_bus_is_a_name_or_an_event_bus_arn() {
        let read = |value: &'static str| {
            let lookup = move |_: &str| Some(value.to_owned());
            Env::new(&lookup).event_bus(&EVENT_BUS)
        };
        assert_eq!(read("team/bus-1").unwrap(), "team/bus-1");
        let arn = "arn:aws:events:eu-west-1:123456789012:event-bus/sentinel";
        assert_eq!(read(arn).unwrap(), arn);
        assert_eq!(read("no spaces").unwrap_err().variable, "SENTINEL_EVENT_BUS");
        assert!(read("arn:aws:sqs:eu-west-1:123456789012:queue").is_err());
    }

    #[test]
    fn a_parameter_path_starts_with_a_slash_and_loses_a_trailing_one() {
        let read = |value: &'static str| {
            let lookup = move |_: &str| Some(value.to_owned());
            Env::new(&lookup).parameter_path(&POLICY_ROOT)
        };
        assert_eq!(read("/team/policies/").unwrap(), "/team/policies");
        assert_eq!(read("/").unwrap(), "/");
        let error = read("team/policies").unwrap_err();
        assert_eq!((error.variable, error.value.as_str()), ("SENTINEL_POLICY_ROOT", "team/policies"));
        assert!(read("/with space").is_err());
    }

    #[test]
    fn numbers_are_whole_and_in_range() {
        let read = |value: &'static str| {
            let lookup = move |_: &str| Some(value.to_owned());
            Env::new(&lookup).number::<u32>(&RATE_LIMIT_REQUESTS)
        };
        assert_eq!(read("250"), Ok(250));
        for bad in ["-1", "1.5", "ten", "4294967296"] {
            let error = read(bad).unwrap_err();
            assert_eq!((error.variable, error.value.as_str()), ("SENTINEL_RATE_LIMIT_REQUESTS", bad));
        }
        assert_eq!(Env::new(&|_| None).number::<u64>(&RATE_LIMIT_WINDOW), Ok(60));
    }

    #[test]
    fn a_list_skips_blanks_and_names_the_item_that_does_not_parse() {
        let lookup = with(&[("SENTINEL_IDENTITY_ROLES", " 1, ,2 ,")]);
        assert_eq!(Env::new(&lookup).list::<u8>(&IDENTITY_ROLES, "numbers"), Ok(vec![1, 2]));
        assert_eq!(Env::new(&|_| None).list::<u8>(&IDENTITY_ROLES, "numbers"), Ok(vec![]));
        let bad = with(&[("SENTINEL_IDENTITY_ROLES", "1,x")]);
        let error = Env::new(&bad).list::<u8>(&IDENTITY_ROLES, "numbers").unwrap_err();
        assert_eq!(error.variable, "SENTINEL_IDENTITY_ROLES");
        assert!(error.expected.contains("\"x\""), "{error}");
    }

    #[test]
    fn every_name_is_defined_once() {
        let mut names: Vec<&str> = ALL.iter().map(Var::name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
    }

    #[test]
    fn the_names_and_defaults_are_the_terraform_contracts() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../terraform/contract.json");
        let contract: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let terraform: std::collections::BTreeMap<String, String> = contract["environment"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(name, spec)| (name.clone(), spec["default"].as_str().unwrap().to_owned()))
            .collect();
        let code: std::collections::BTreeMap<String, String> =
            ALL.iter().map(|v| (v.name().to_owned(), v.default().to_owned())).collect();
        assert_eq!(code, terraform);
    }
}
