//! The projector Lambda: consumes the ledger table's stream and keeps the views table current.
//!
//! Records are processed one at a time, in order (never concurrently: that would reorder a
//! stream). The first record that fails is reported as a batch item failure together with every
//! record after it, so Lambda retries from there and nothing is skipped.

#![warn(missing_docs)]

use std::sync::Arc;

use aws_lambda_events::dynamodb::{Event, EventRecord};
use aws_lambda_events::streams::DynamoDbEventResponse;
use edge::stream::stored_event;
use ledger::store::dynamo::DynamoEventStore;
use ledger::store::EventStore;
use projections::store::dynamo::DynamoViewStore;
use projections::{project, ProjectError, Projected, ViewStore};

/// What the handler works with.
#[derive(Clone)]
pub struct Deps {
    /// The views table.
    pub views: Arc<dyn ViewStore>,
    /// The ledger (for gap filling).
    pub ledger: Arc<dyn EventStore>,
}

/// The projector's configuration: the ledger and views tables, read once at cold start.
pub type Config = edge::Tables;

/// The real adapters: both tables through `dynamodb`. What `main` runs at cold start, and what
/// the local stack runs once.
pub fn deps(dynamodb: &aws_sdk_dynamodb::Client, config: &Config) -> Deps {
    Deps {
        views: Arc::new(DynamoViewStore::new(dynamodb.clone(), &config.views_table)),
        ledger: Arc::new(DynamoEventStore::new(dynamodb.clone(), &config.ledger_table)),
    }
}

/// Why one stream record failed.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The record is not a ledger event.
    #[error(transparent)]
    Record(#[from] edge::stream::RecordError),
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
                return edge::stream::batch_response(&event.records, Some(i));
            }
        }
    }
    edge::stream::batch_response(&event.records, None)
}
