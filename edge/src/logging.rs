//! Tracing initialisation: JSON lines on stdout (CloudWatch Logs adds the timestamp), filtered
//! by [`LOG_FILTER`](crate::config::LOG_FILTER) (`RUST_LOG`, default `info`).

use tracing_subscriber::EnvFilter;

use crate::config::{ConfigError, Env, LOG_FILTER};

/// The filter `lookup` configures; a filter that does not parse is refused, naming `RUST_LOG`.
pub fn filter(lookup: impl Fn(&str) -> Option<String>) -> Result<EnvFilter, ConfigError> {
    let value = Env::new(&lookup).text(&LOG_FILTER);
    EnvFilter::try_new(&value).map_err(|e| ConfigError {
        variable: LOG_FILTER.name(),
        value,
        expected: format!("a tracing filter such as `info` or `info,ledger=debug` ({e})"),
    })
}

/// Installs the JSON subscriber every Lambda logs through. Call once at cold start; if a global
/// subscriber is already installed (a test harness), that one stays.
pub fn init_tracing(lookup: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
    let filter = filter(lookup)?;
    // Already installed is not an error: the process logs either way.
    let _ = tracing_subscriber::fmt().json().with_env_filter(filter).without_time().with_current_span(false).try_init();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_defaults_to_info_and_refuses_a_bad_directive() {
        assert_eq!(filter(|_| None).unwrap().to_string(), "info");
        let error = filter(|_| Some("ledger=loud".to_owned())).unwrap_err();
        assert_eq!((error.variable, error.value.as_str()), ("RUST_LOG", "ledger=loud"));
    }
}
