//! A local stand-in for Lambda's DynamoDB event source mapping: reads the emulated table's
//! stream with the DynamoDB Streams API, builds the same `aws_lambda_events` DynamoDB event
//! Lambda delivers, calls the same handler, and checkpoints per shard.
//!
//! Like Lambda with `ReportBatchItemFailures`: a batch that reports failures is retried from the
//! lowest failed sequence number on the next poll; records of one shard are handled one batch at
//! a time, in order; a child shard is read once its parent is exhausted. A shard is exhausted
//! only when `GetRecords` returns no next iterator — never because `DescribeStream` shows an
//! `EndingSequenceNumber` (the emulator reports one on the open shard).

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use anyhow::{Context, Result};
use aws_lambda_events::dynamodb::{Event, EventRecord, StreamRecord, StreamViewType};
use aws_lambda_events::streams::DynamoDbEventResponse;
use aws_sdk_dynamodbstreams::types::{Record, ShardIteratorType};
use aws_sdk_dynamodbstreams::Client;
use tokio::task::JoinHandle;

/// How often Lambda polls a shard (four times a second).
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// Records per batch (Lambda's default for DynamoDB streams is 100).
pub const BATCH_SIZE: i32 = 100;
/// Batches handled per shard in one poll, so one busy shard cannot starve the others.
const BATCHES_PER_POLL: usize = 20;

/// Where reading a shard resumes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Resume {
    TrimHorizon,
    After(String),
    At(String),
}

#[derive(Debug)]
struct Shard {
    parent: Option<String>,
    resume: Resume,
    iterator: Option<String>,
    exhausted: bool,
}

/// Polls one table's stream for one consumer (each consumer has its own checkpoints, as each
/// Lambda event source mapping does).
#[derive(Debug)]
pub struct StreamPoller {
    client: Client,
    table: String,
    region: String,
    stream_arn: Option<String>,
    shards: BTreeMap<String, Shard>,
}

impl StreamPoller {
    /// A poller of `table`'s latest stream, starting at the oldest record.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        let region = client.config().region().map_or_else(|| crate::DEFAULT_REGION.to_owned(), |r| r.to_string());
        StreamPoller { client, table: table.into(), region, stream_arn: None, shards: BTreeMap::new() }
    }

    async fn discover(&mut self) -> Result<Option<String>> {
        if self.stream_arn.is_none() {
            let streams = self.client.list_streams().table_name(&self.table).send().await?;
            self.stream_arn = streams.streams().last().and_then(|s| s.stream_arn()).map(str::to_owned);
        }
        let Some(arn) = self.stream_arn.clone() else {
            return Ok(None);
        };
        let mut start: Option<String> = None;
        loop {
            let described = self
                .client
                .describe_stream()
                .stream_arn(&arn)
                .set_exclusive_start_shard_id(start.clone())
                .send()
                .await
                .with_context(|| format!("cannot describe stream {arn}"))?;
            let Some(description) = described.stream_description() else {
                break;
            };
            for shard in description.shards() {
                let Some(id) = shard.shard_id() else { continue };
                self.shards.entry(id.to_owned()).or_insert_with(|| Shard {
                    parent: shard.parent_shard_id().map(str::to_owned),
                    resume: Resume::TrimHorizon,
                    iterator: None,
                    exhausted: false,
                });
            }
            match description.last_evaluated_shard_id() {
                Some(last) => start = Some(last.to_owned()),
                None => break,
            }
        }
        Ok(Some(arn))
    }

    /// Reads every shard once (up to a few batches each) and hands each batch to `handler`;
    /// returns how many records were delivered.
    pub async fn poll_once<H, F>(&mut self, handler: &mut H) -> Result<usize>
    where
        H: FnMut(Event) -> F,
        F: Future<Output = DynamoDbEventResponse>,
    {
        let Some(arn) = self.discover().await? else {
            return Ok(0);
        };
        let ids: Vec<String> = self.shards.keys().cloned().collect();
        let mut delivered = 0;
        for id in ids {
            let ready = match self.shards.get(&id) {
                Some(s) if !s.exhausted => {
                    s.parent.as_ref().is_none_or(|p| self.shards.get(p).is_none_or(|parent| parent.exhausted))
                }
                _ => false,
            };
            if ready {
                delivered += self.poll_shard(&arn, &id, handler).await?;
            }
        }
        Ok(delivered)
    }

    async fn poll_shard<H, F>(&mut self, arn: &str, id: &str, handler: &mut H) -> Result<usize>
    where
        H: FnMut(Event) -> F,
        F: Future<Output = DynamoDbEventResponse>,
    {
        let mut delivered = 0;
        for _ in 0..BATCHES_PER_POLL {
            let Some(shard) = self.shards.get_mut(id) else {
                return Ok(delivered);
            };
            let iterator = match shard.iterator.take() {
                Some(it) => it,
                None => {
                    let (kind, seq) = match &shard.resume {
                        Resume::TrimHorizon => (ShardIteratorType::TrimHorizon, None),
                        Resume::After(s) => (ShardIteratorType::AfterSequenceNumber, Some(s.clone())),
                        Resume::At(s) => (ShardIteratorType::AtSequenceNumber, Some(s.clone())),
                    };
                    let got = self
                        .client
                        .get_shard_iterator()
                        .stream_arn(arn)
                        .shard_id(id)
                        .shard_iterator_type(kind)
                        .set_sequence_number(seq)
                        .send()
                        .await
                        .with_context(|| format!("cannot get an iterator for shard {id}"))?;
                    match got.shard_iterator {
                        Some(it) => it,
                        None => {
                            shard.exhausted = true;
                            return Ok(delivered);
                        }
                    }
                }
            };
            let page = match self.client.get_records().shard_iterator(&iterator).limit(BATCH_SIZE).send().await {
                Ok(page) => page,
                Err(e) if e.as_service_error().is_some_and(|s| s.is_expired_iterator_exception()) => {
                    continue; // re-acquired from the checkpoint on the next round
                }
                Err(e) => return Err(e).with_context(|| format!("cannot read shard {id}")),
            };
            let records = page.records();
            if records.is_empty() {
                shard.iterator = page.next_shard_iterator().map(str::to_owned);
                shard.exhausted = shard.iterator.is_none();
                return Ok(delivered);
            }
            let event = lambda_event(arn, &self.region, records);
            let response = handler(event.clone()).await;
            delivered += records.len();
            let shard = match self.shards.get_mut(id) {
                Some(s) => s,
                None => return Ok(delivered),
            };
            let failed: Vec<&String> =
                response.batch_item_failures.iter().filter_map(|f| f.item_identifier.as_ref()).collect();
            let first_failed =
                event.records.iter().filter_map(|r| r.change.sequence_number.as_ref()).find(|seq| failed.contains(seq));
            match first_failed {
                Some(seq) => {
                    tracing::warn!(shard = id, sequence_number = %seq, "batch reported failures; retrying from there");
                    shard.resume = Resume::At(seq.clone());
                    shard.iterator = None;
                    return Ok(delivered);
                }
                None => {
                    if let Some(last) = records.last().and_then(|r| r.dynamodb()).and_then(|d| d.sequence_number()) {
                        shard.resume = Resume::After(last.to_owned());
                    }
                    shard.iterator = page.next_shard_iterator().map(str::to_owned);
                    if shard.iterator.is_none() {
                        shard.exhausted = true;
                        return Ok(delivered);
                    }
                }
            }
        }
        Ok(delivered)
    }

    /// Polls every [`POLL_INTERVAL`] until the returned handle is dropped or aborted.
    pub fn spawn<H, F>(mut self, mut handler: H) -> PollerHandle
    where
        H: FnMut(Event) -> F + Send + 'static,
        F: Future<Output = DynamoDbEventResponse> + Send,
    {
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(POLL_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = self.poll_once(&mut handler).await {
                    tracing::warn!(table = %self.table, error = %format!("{e:#}"), "stream poll failed");
                }
            }
        });
        PollerHandle(task)
    }
}

/// A running poller; dropping it stops the polling.
#[derive(Debug)]
pub struct PollerHandle(JoinHandle<()>);

impl Drop for PollerHandle {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The event Lambda delivers for these records of stream `arn`.
pub fn lambda_event(arn: &str, region: &str, records: &[Record]) -> Event {
    let mut event = Event::default();
    event.records = records.iter().map(|r| lambda_record(arn, region, r)).collect();
    event
}

fn lambda_record(arn: &str, region: &str, r: &Record) -> EventRecord {
    let mut change = StreamRecord::default();
    if let Some(d) = r.dynamodb() {
        let item = |m: Option<&std::collections::HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>>| {
            m.cloned().map(serde_dynamo::Item::from).unwrap_or_default()
        };
        change.approximate_creation_date_time = d
            .approximate_creation_date_time()
            .and_then(|t| chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
            .unwrap_or_default();
        change.keys = item(d.keys());
        change.new_image = item(d.new_image());
        change.old_image = item(d.old_image());
        change.sequence_number = d.sequence_number().map(str::to_owned);
        change.size_bytes = d.size_bytes().unwrap_or_default();
        change.stream_view_type = d.stream_view_type().map(|v| match v.as_str() {
            "NEW_IMAGE" => StreamViewType::NewImage,
            "OLD_IMAGE" => StreamViewType::OldImage,
            "NEW_AND_OLD_IMAGES" => StreamViewType::NewAndOldImages,
            _ => StreamViewType::KeysOnly,
        });
    }
    let mut record = EventRecord::default();
    record.aws_region = r.aws_region().unwrap_or(region).to_owned();
    record.change = change;
    record.event_id = r.event_id().unwrap_or_default().to_owned();
    record.event_name = r.event_name().map(|n| n.as_str().to_owned()).unwrap_or_default();
    record.event_source = Some("aws:dynamodb".to_owned());
    record.event_version = Some(r.event_version().unwrap_or("1.1").to_owned());
    record.event_source_arn = Some(arn.to_owned());
    record
}
