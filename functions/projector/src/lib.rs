//! The projector Lambda: consumes the ledger table's stream and keeps the views table current.
//!
//! Records are processed one at a time, in order (never concurrently: that would reorder a
//! stream). The first record that fails is reported as a batch item failure together with every
//! record after it, so Lambda retries from there and nothing is skipped.

use std::sync::Arc;

use aws_lambda_events::dynamodb::{Event, EventRecord};
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use ledger::store::EventStore;
use projections::{project, ProjectError, Projected, ViewStore};

/// The environment variable naming the ledger table.
pub const LEDGER_TABLE_ENV: &str = "SENTINEL_LEDGER_TABLE";
/// The ledger table's name when [`LEDGER_TABLE_ENV`] is unset.
pub const DEFAULT_LEDGER_TABLE: &str = "sentinel-ledger";

/// What the handler works with.
#[derive(Clone)]
pub struct Deps {
    /// The views table.
    pub views: Arc<dyn ViewStore>,
    /// The ledger (for gap filling).
    pub ledger: Arc<dyn EventStore>,
}

/// Typed configuration, read once at cold start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `SENTINEL_LEDGER_TABLE`.
    pub ledger_table: String,
    /// `SENTINEL_VIEWS_TABLE`.
    pub views_table: String,
}

/// Why the configuration is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A variable is set but not a valid DynamoDB table name.
    #[error("{name}={value:?} is not a DynamoDB table name (3-255 of A-Z a-z 0-9 _ . -)")]
    BadTable {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
    },
}

impl Config {
    /// Reads the configuration through `var` (the process environment in `main`).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let table = |name: &'static str, default: &str| {
            let value = var(name).unwrap_or_else(|| default.to_owned());
            if valid_table_name(&value) {
                Ok(value)
            } else {
                Err(ConfigError::BadTable { name, value })
            }
        };
        Ok(Config {
            ledger_table: table(LEDGER_TABLE_ENV, DEFAULT_LEDGER_TABLE)?,
            views_table: table(projections::store::dynamo::TABLE_ENV, projections::store::dynamo::DEFAULT_TABLE)?,
        })
    }
}

/// DynamoDB's table name rule.
pub fn valid_table_name(name: &str) -> bool {
    (3..=255).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

pub use projections::stream::{item_identifier, stored_event};

/// Why one stream record failed.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The record is not a ledger event.
    #[error(transparent)]
    Record(#[from] projections::stream::RecordError),
    /// Projection failed.
    #[error(transparent)]
    Project(#[from] ProjectError),
}

async fn process(deps: &Deps, record: &EventRecord) -> Result<Option<Projected>, RecordError> {
    let Some(event) = stored_event(record)? else {
        tracing::error!(
            keys = ?record.change.keys,
            "a ledger item was removed: the ledger is append-only, this is tampering"
        );
        return Ok(None);
    };
    Ok(Some(project(deps.views.as_ref(), deps.ledger.as_ref(), &event).await?))
}

/// Projects a batch of stream records in order; reports the first failure and everything after.
pub async fn handle(deps: &Deps, event: Event) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    for (i, record) in event.records.iter().enumerate() {
        match process(deps, record).await {
            Ok(outcome) => {
                tracing::debug!(sequence_number = ?record.change.sequence_number, ?outcome, "projected")
            }
            Err(e) => {
                tracing::error!(
                    sequence_number = ?record.change.sequence_number,
                    error = %e,
                    remaining = event.records.len() - i,
                    "record failed; reporting it and the rest of the batch for retry"
                );
                response.batch_item_failures = event.records[i..]
                    .iter()
                    .map(|r| {
                        let mut failure = DynamoDbBatchItemFailure::default();
                        failure.item_identifier = Some(item_identifier(r));
                        failure
                    })
                    .collect();
                break;
            }
        }
    }
    response
}
