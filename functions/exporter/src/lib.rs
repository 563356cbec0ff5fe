//! The exporter Lambda: publishes every ledger event from the table's stream to the EventBridge
//! bus, for audit consumers, alerts and the enforcer.
//!
//! Each event goes out as source `sentinel.ledger`, detail-type = the event type, detail = the
//! stored event exactly as hashed plus its `hash`, so consumers can verify it without our code.
//! Entries are sent in batches of at most 10 (and 256 KB), up to [`MAX_IN_FLIGHT`] calls at
//! once (EventBridge keeps no order between calls anyway, and a stream batch of 100 records is
//! ten calls: in sequence they bounded a shard to a few hundred events per second); failed
//! entries alone are retried, a bounded number of times; what still fails is reported as batch
//! item failures (the first failed record and every record after it), so Lambda retries, and
//! calls not yet started are not sent. Delivery is at least once: consumers deduplicate by
//! `event_id`.

#![warn(missing_docs)]

use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::dynamodb::{Event, EventRecord};
use aws_lambda_events::streams::DynamoDbEventResponse;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use ledger::StoredEvent;

/// The `source` of every entry.
pub const SOURCE: &str = "sentinel.ledger";
/// EventBridge's limit on entries per `PutEvents`.
pub const MAX_ENTRIES: usize = 10;
/// EventBridge's limit on the size of one `PutEvents` call.
pub const MAX_BATCH_BYTES: usize = 256 * 1024;
/// How many times a batch is sent before its failed entries are reported.
pub const MAX_ATTEMPTS: u32 = 4;
/// `PutEvents` calls in flight at once for one stream batch.
pub const MAX_IN_FLIGHT: usize = 4;

/// One bus entry: an event's type and its JSON document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusEntry {
    /// The event type (detail-type).
    pub detail_type: String,
    /// The stored event as JSON (detail).
    pub detail: String,
    /// The event's `occurred_at`.
    pub time: chrono::DateTime<chrono::Utc>,
}

impl BusEntry {
    /// The entry for a stored event.
    pub fn of(event: &StoredEvent) -> Result<Self, ExportError> {
        let detail = serde_json::to_string(event).map_err(|e| ExportError::Encode(e.to_string()))?;
        let time = chrono::DateTime::parse_from_rfc3339(&event.occurred_at)
            .map_err(|e| ExportError::Encode(format!("occurred_at: {e}")))?
            .with_timezone(&chrono::Utc);
        Ok(BusEntry { detail_type: event.event_type.clone(), detail, time })
    }

    /// Bytes this entry counts for against [`MAX_BATCH_BYTES`] (EventBridge's own formula:
    /// source, detail-type, detail, plus a fixed amount for time and resources).
    pub fn size(&self) -> usize {
        SOURCE.len() + self.detail_type.len() + self.detail.len() + 14
    }
}

/// Why an export step failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    /// The record is not a ledger event.
    #[error("the record is not a ledger event: {0}")]
    Decode(String),
    /// The event cannot become a bus entry.
    #[error("the event cannot be encoded: {0}")]
    Encode(String),
    /// The bus could not be reached, even after the SDK's retries.
    #[error("EventBridge is unavailable: {0}")]
    Unavailable(String),
}

/// Sends entries to the bus.
#[async_trait]
pub trait Publisher: Send + Sync {
    /// Sends ≤ 10 entries in one call; returns, for each entry in order, the error code of a
    /// failed entry or `None`. `Err` means the call as a whole failed.
    async fn publish(&self, entries: &[BusEntry]) -> Result<Vec<Option<String>>, ExportError>;
}

/// The EventBridge bus through the AWS SDK.
#[derive(Debug, Clone)]
pub struct EventBridgePublisher {
    client: aws_sdk_eventbridge::Client,
    bus: String,
}

impl EventBridgePublisher {
    /// A publisher to `bus` (name or ARN).
    pub fn new(client: aws_sdk_eventbridge::Client, bus: impl Into<String>) -> Self {
        EventBridgePublisher { client, bus: bus.into() }
    }
}

#[async_trait]
impl Publisher for EventBridgePublisher {
    async fn publish(&self, entries: &[BusEntry]) -> Result<Vec<Option<String>>, ExportError> {
        let request = entries.iter().map(|e| {
            PutEventsRequestEntry::builder()
                .event_bus_name(&self.bus)
                .source(SOURCE)
                .detail_type(&e.detail_type)
                .detail(&e.detail)
                .time(aws_smithy_types::DateTime::from_millis(e.time.timestamp_millis()))
                .build()
        });
        let output = self.client.put_events().set_entries(Some(request.collect())).send().await.map_err(|e| {
            ExportError::Unavailable(format!("{}", aws_smithy_types::error::display::DisplayErrorContext(&e)))
        })?;
        let results = output.entries();
        // A response without one result per entry cannot say which landed: treat all as failed.
        if results.len() != entries.len() {
            return Ok(vec![Some("IncompleteResponse".to_owned()); entries.len()]);
        }
        Ok(results.iter().map(|r| r.error_code().map(str::to_owned)).collect())
    }
}

/// Typed configuration, read once at cold start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// [`edge::config::EVENT_BUS`]: a bus name or ARN.
    pub bus: String,
}

impl Config {
    /// Reads the configuration through `lookup` (the process environment in `main`).
    pub fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, edge::ConfigError> {
        Ok(Config { bus: edge::Env::new(&lookup).event_bus(&edge::config::EVENT_BUS)? })
    }
}

/// What the handler works with.
pub struct Deps {
    /// Where entries go.
    pub publisher: Box<dyn Publisher>,
    /// Pause before the first retry of failed entries (doubled each time).
    pub retry_base: Duration,
}

/// The pause before the first retry in Lambda.
pub const RETRY_BASE: Duration = Duration::from_millis(100);

/// The real adapter: the configured bus through `eventbridge`. What `main` runs at cold start,
/// and what the local stack runs once.
pub fn deps(eventbridge: &aws_sdk_eventbridge::Client, config: &Config) -> Deps {
    Deps { publisher: Box::new(EventBridgePublisher::new(eventbridge.clone(), &config.bus)), retry_base: RETRY_BASE }
}

/// The ledger event a stream record carries; `None` for a removal (nothing to export; logged).
pub fn stored_event(record: &EventRecord) -> Result<Option<StoredEvent>, ExportError> {
    edge::stream::stored_event(record).map_err(|e| ExportError::Decode(e.to_string()))
}

/// Splits entries into calls of at most [`MAX_ENTRIES`] entries and [`MAX_BATCH_BYTES`].
pub fn batches(entries: &[(usize, BusEntry)]) -> Vec<Vec<(usize, BusEntry)>> {
    let mut out: Vec<Vec<(usize, BusEntry)>> = Vec::new();
    let mut bytes = 0;
    for entry in entries {
        let size = entry.1.size();
        match out.last_mut() {
            Some(batch) if batch.len() < MAX_ENTRIES && bytes + size <= MAX_BATCH_BYTES => {
                bytes += size;
                batch.push(entry.clone());
            }
            _ => {
                bytes = size;
                out.push(vec![entry.clone()]);
            }
        }
    }
    out
}

/// Sends one batch, retrying only its failed entries; returns the record indexes that still
/// failed.
async fn send(deps: &Deps, batch: Vec<(usize, BusEntry)>) -> Vec<usize> {
    let mut pending = batch;
    let mut pause = deps.retry_base;
    for attempt in 1..=MAX_ATTEMPTS {
        let entries: Vec<BusEntry> = pending.iter().map(|(_, e)| e.clone()).collect();
        let failed: Vec<(usize, BusEntry)> = match deps.publisher.publish(&entries).await {
            Ok(results) => pending
                .into_iter()
                .zip(results)
                .filter_map(|(entry, error)| {
                    error.map(|code| {
                        tracing::warn!(record = entry.0, code, attempt, "entry rejected by EventBridge");
                        entry
                    })
                })
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, attempt, "PutEvents failed");
                pending
            }
        };
        if failed.is_empty() {
            return Vec::new();
        }
        pending = failed;
        if attempt < MAX_ATTEMPTS {
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
    }
    pending.into_iter().map(|(i, _)| i).collect()
}

/// Publishes a batch of stream records; reports the first record that could not be published
/// (or decoded) and every record after it.
pub async fn handle(deps: &Deps, event: Event) -> DynamoDbEventResponse {
    let mut entries = Vec::with_capacity(event.records.len());
    let mut first_failed = None;
    for (i, record) in event.records.iter().enumerate() {
        match stored_event(record).and_then(|e| e.map(|e| BusEntry::of(&e)).transpose()) {
            Ok(Some(entry)) => entries.push((i, entry)),
            Ok(None) => {
                tracing::error!(keys = ?record.change.keys, "a ledger item was removed: this is tampering")
            }
            Err(e) => {
                tracing::error!(error = %e, sequence_number = ?record.change.sequence_number, "record cannot be exported");
                first_failed = Some(i);
                break;
            }
        }
    }
    let all = batches(&entries);
    for wave in all.chunks(MAX_IN_FLIGHT) {
        let sent = futures_util::future::join_all(wave.iter().cloned().map(|batch| send(deps, batch))).await;
        if let Some(lowest) = sent.into_iter().flatten().min() {
            first_failed = Some(first_failed.map_or(lowest, |f: usize| f.min(lowest)));
            // Later batches would be reported anyway; stop sending them.
            break;
        }
    }
    edge::stream::batch_response(&event.records, first_failed)
}
