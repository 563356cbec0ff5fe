//! A local stand-in for Lambda's DynamoDB event source mapping: reads the emulated table's
//! stream with the DynamoDB Streams API, builds the same `aws_lambda_events` DynamoDB event
//! Lambda delivers, calls the same handler, and checkpoints per shard.
//!
//! Like Lambda with `ReportBatchItemFailures`: a batch that reports failures is retried from the
//! lowest failed sequence number on the next poll; records of one shard are handled one batch at
//! a time, in order; a child shard is read once its parent is exhausted. A shard is exhausted
//! only when `GetRecords` returns no next iterator — never because `DescribeStream` shows an
//! `EndingSequenceNumber` (the emulator reports one on the open shard).
//!
//! Checkpoints can be kept in a file ([`StreamPoller::with_checkpoint_file`]): after every batch
//! the handler finished, the shard's position is written atomically (temporary file, then
//! rename), so a restarted stack resumes where it stopped. A graceful stop
//! ([`PollerHandle::stop`]) lets the batch in hand finish and be checkpointed first, so nothing
//! is delivered twice; a killed process delivers at most the batch it was handling again.
//! Positions are sequence numbers, which the emulator keeps in its SQLite file together with the
//! records (its shard id is fixed per table, and an `AFTER_SEQUENCE_NUMBER` iterator is valid
//! after a restart); a checkpoint names the stream ARN it belongs to, so the checkpoint of a
//! deleted and recreated table is never applied to the new one.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use aws_lambda_events::dynamodb::{Event, EventRecord, StreamRecord, StreamViewType};
use aws_lambda_events::streams::DynamoDbEventResponse;
use aws_sdk_dynamodbstreams::types::{Record, ShardIteratorType};
use aws_sdk_dynamodbstreams::Client;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// How often Lambda polls a shard (four times a second).
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// Records per handler batch (Lambda's default for DynamoDB streams is 100).
pub const BATCH_SIZE: usize = 100;
/// Records asked for per `GetRecords` (the API's maximum): one read feeds several batches, so
/// a backlog costs a tenth of the reads.
pub const READ_LIMIT: i32 = 1000;
/// Records handled per shard in one poll, so one busy shard cannot starve the others.
const RECORDS_PER_POLL: usize = 20_000;
/// How often the shard list is read again (new shards appear only on rollover, hours apart in
/// AWS and never in the emulator); also re-read at once when a shard ends.
pub const DISCOVERY_INTERVAL: Duration = Duration::from_secs(10);
/// How long a graceful stop waits for the batch in hand before aborting it.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// Where reading a shard resumes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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

/// One shard's position as the checkpoint file keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ShardCheckpoint {
    resume: Resume,
    #[serde(default)]
    exhausted: bool,
}

/// The checkpoint file: which stream, and each shard's position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckpointFile {
    table: String,
    stream_arn: String,
    shards: BTreeMap<String, ShardCheckpoint>,
}

/// Set by [`PollerHandle::stop`]; checked between batches.
#[derive(Debug, Default)]
struct StopSignal {
    requested: AtomicBool,
    wake: Notify,
}

impl StopSignal {
    fn requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }
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
    discovered_at: Option<Instant>,
    checkpoint: Option<PathBuf>,
    /// Positions loaded from the checkpoint file, applied once the stream is found.
    restored: Option<CheckpointFile>,
    stop: Arc<StopSignal>,
}

impl StreamPoller {
    /// A poller of `table`'s latest stream, starting at the oldest record, checkpoints in memory.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        let region = client.config().region().map_or_else(|| crate::DEFAULT_REGION.to_owned(), |r| r.to_string());
        StreamPoller {
            client,
            table: table.into(),
            region,
            stream_arn: None,
            shards: BTreeMap::new(),
            discovered_at: None,
            checkpoint: None,
            restored: None,
            stop: Arc::default(),
        }
    }

    /// Keeps the checkpoints in `path` (created with its directory on the first batch) and
    /// resumes from what it holds. A checkpoint of another table is an error; one of another
    /// stream of the same table (deleted and recreated) is ignored with a warning.
    pub fn with_checkpoint_file(mut self, path: impl Into<PathBuf>) -> Result<Self> {
        let path = path.into();
        self.restored = read_checkpoint(&path)?;
        if let Some(restored) = &self.restored {
            if restored.table != self.table {
                bail!(
                    "{} holds the stream checkpoints of table {:?}, not {:?}: delete it (or run `make dev-reset`)",
                    path.display(),
                    restored.table,
                    self.table
                );
            }
        }
        self.checkpoint = Some(path);
        Ok(self)
    }

    /// [`StreamPoller::with_checkpoint_file`] on `<dir>/<consumer>.json` when `dir` is given
    /// (a stack whose data persists); unchanged otherwise.
    pub fn checkpointed_in(self, dir: Option<&Path>, consumer: &str) -> Result<Self> {
        match dir {
            Some(dir) => self.with_checkpoint_file(dir.join(format!("{consumer}.json"))),
            None => Ok(self),
        }
    }

    async fn discover(&mut self) -> Result<Option<String>> {
        let due = self.shards.is_empty() || self.discovered_at.is_none_or(|t| t.elapsed() >= DISCOVERY_INTERVAL);
        if let (Some(arn), false) = (&self.stream_arn, due) {
            return Ok(Some(arn.clone()));
        }
        if self.stream_arn.is_none() {
            let streams = self.client.list_streams().table_name(&self.table).send().await?;
            self.stream_arn = streams.streams().last().and_then(|s| s.stream_arn()).map(str::to_owned);
        }
        let Some(arn) = self.stream_arn.clone() else {
            return Ok(None);
        };
        let restored = match &self.restored {
            Some(file) if file.stream_arn == arn => file.shards.clone(),
            Some(file) => {
                tracing::warn!(
                    table = %self.table,
                    checkpointed = %file.stream_arn,
                    current = %arn,
                    "the checkpoints are of an earlier stream of this table; reading the current one from the start"
                );
                BTreeMap::new()
            }
            None => BTreeMap::new(),
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
                let saved = restored.get(id);
                self.shards.entry(id.to_owned()).or_insert_with(|| Shard {
                    parent: shard.parent_shard_id().map(str::to_owned),
                    resume: saved.map_or(Resume::TrimHorizon, |s| s.resume.clone()),
                    iterator: None,
                    exhausted: saved.is_some_and(|s| s.exhausted),
                });
            }
            match description.last_evaluated_shard_id() {
                Some(last) => start = Some(last.to_owned()),
                None => break,
            }
        }
        // Applied: later discoveries keep the positions reached since.
        self.restored = None;
        self.discovered_at = Some(Instant::now());
        Ok(Some(arn))
    }

    /// Reads every shard once (up to [`RECORDS_PER_POLL`] records each) and hands each batch to
    /// `handler`; returns how many records were delivered.
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
            if self.stop.requested() {
                break;
            }
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

    /// A fresh iterator from the shard's checkpoint; `None` once the shard is exhausted.
    async fn iterator(&mut self, arn: &str, id: &str) -> Result<Option<String>> {
        let Some(shard) = self.shards.get_mut(id) else {
            return Ok(None);
        };
        if let Some(it) = shard.iterator.take() {
            return Ok(Some(it));
        }
        let (kind, seq) = match &shard.resume {
            Resume::TrimHorizon => (ShardIteratorType::TrimHorizon, None),
            Resume::After(s) => (ShardIteratorType::AfterSequenceNumber, Some(s.clone())),
            Resume::At(s) => (ShardIteratorType::AtSequenceNumber, Some(s.clone())),
        };
        let got = match self
            .client
            .get_shard_iterator()
            .stream_arn(arn)
            .shard_id(id)
            .shard_iterator_type(kind)
            .set_sequence_number(seq)
            .send()
            .await
        {
            Ok(got) => got,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_trimmed_data_access_exception()) => {
                // The checkpoint is older than the stream's retention: what it pointed at is gone.
                tracing::warn!(shard = id, "checkpoint past the stream's retention; reading from the oldest record");
                shard.resume = Resume::TrimHorizon;
                return Ok(None);
            }
            Err(e) => return Err(e).with_context(|| format!("cannot get an iterator for shard {id}")),
        };
        if got.shard_iterator.is_none() {
            shard.exhausted = true;
            self.discovered_at = None;
        }
        Ok(got.shard_iterator)
    }

    async fn poll_shard<H, F>(&mut self, arn: &str, id: &str, handler: &mut H) -> Result<usize>
    where
        H: FnMut(Event) -> F,
        F: Future<Output = DynamoDbEventResponse>,
    {
        let mut delivered = 0;
        while delivered < RECORDS_PER_POLL && !self.stop.requested() {
            let Some(iterator) = self.iterator(arn, id).await? else {
                return Ok(delivered);
            };
            let page = match self.client.get_records().shard_iterator(&iterator).limit(READ_LIMIT).send().await {
                Ok(page) => page,
                Err(e) if e.as_service_error().is_some_and(|s| s.is_expired_iterator_exception()) => {
                    continue; // re-acquired from the checkpoint on the next round
                }
                Err(e) => return Err(e).with_context(|| format!("cannot read shard {id}")),
            };
            let next = page.next_shard_iterator().map(str::to_owned);
            let records = page.records();
            if records.is_empty() {
                self.set_iterator(id, next);
                return Ok(delivered);
            }
            for batch in records.chunks(BATCH_SIZE) {
                if self.stop.requested() {
                    // The checkpoint is after the last batch handled; the rest is read again.
                    return Ok(delivered);
                }
                let event = lambda_event(arn, &self.region, batch);
                let response = handler(event.clone()).await;
                delivered += batch.len();
                let failed: Vec<&String> =
                    response.batch_item_failures.iter().filter_map(|f| f.item_identifier.as_ref()).collect();
                let first_failed = event
                    .records
                    .iter()
                    .filter_map(|r| r.change.sequence_number.as_ref())
                    .find(|seq| failed.contains(seq));
                let resume = match first_failed {
                    Some(seq) => {
                        tracing::warn!(shard = id, sequence_number = %seq, "batch reported failures; retrying from there");
                        Resume::At(seq.clone())
                    }
                    None => match batch.last().and_then(|r| r.dynamodb()).and_then(|d| d.sequence_number()) {
                        Some(last) => Resume::After(last.to_owned()),
                        None => continue,
                    },
                };
                let retry = matches!(resume, Resume::At(_));
                if let Some(shard) = self.shards.get_mut(id) {
                    shard.resume = resume;
                    shard.iterator = None;
                }
                self.save_checkpoint(arn).await?;
                if retry {
                    return Ok(delivered);
                }
            }
            self.set_iterator(id, next);
            if self.shards.get(id).is_none_or(|s| s.exhausted) {
                return Ok(delivered);
            }
        }
        Ok(delivered)
    }

    /// Continues the shard from `next`; no next iterator means the shard has ended.
    fn set_iterator(&mut self, id: &str, next: Option<String>) {
        if let Some(shard) = self.shards.get_mut(id) {
            shard.exhausted = next.is_none();
            shard.iterator = next;
            if shard.exhausted {
                self.discovered_at = None;
            }
        }
    }

    /// Writes every shard's position to the checkpoint file, if there is one.
    async fn save_checkpoint(&self, arn: &str) -> Result<()> {
        let Some(path) = self.checkpoint.clone() else {
            return Ok(());
        };
        let file = CheckpointFile {
            table: self.table.clone(),
            stream_arn: arn.to_owned(),
            shards: self
                .shards
                .iter()
                .map(|(id, s)| (id.clone(), ShardCheckpoint { resume: s.resume.clone(), exhausted: s.exhausted }))
                .collect(),
        };
        let contents = serde_json::to_string_pretty(&file)?;
        tokio::task::spawn_blocking(move || crate::env_file::write_atomically(&path, &contents))
            .await
            .context("the checkpoint writer panicked")?
    }

    /// Polls every [`POLL_INTERVAL`] until the returned handle is stopped (gracefully), dropped
    /// or aborted.
    pub fn spawn<H, F>(mut self, mut handler: H) -> PollerHandle
    where
        H: FnMut(Event) -> F + Send + 'static,
        F: Future<Output = DynamoDbEventResponse> + Send,
    {
        let stop = self.stop.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(POLL_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = self.stop.wake.notified() => {}
                }
                if self.stop.requested() {
                    break;
                }
                if let Err(e) = self.poll_once(&mut handler).await {
                    tracing::warn!(table = %self.table, error = %format!("{e:#}"), "stream poll failed");
                }
            }
        });
        PollerHandle { stop, task: Some(task) }
    }
}

fn read_checkpoint(path: &Path) -> Result<Option<CheckpointFile>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read the stream checkpoints {}", path.display())),
    };
    let file = serde_json::from_str(&text).with_context(|| {
        format!("{} is not a stream checkpoint file: delete it (or run `make dev-reset`)", path.display())
    })?;
    Ok(Some(file))
}

/// A running poller. [`PollerHandle::stop`] stops it after the batch in hand; dropping it
/// aborts at once (like a killed process: that batch is delivered again after a restart).
#[derive(Debug)]
pub struct PollerHandle {
    stop: Arc<StopSignal>,
    task: Option<JoinHandle<()>>,
}

impl PollerHandle {
    /// Lets the batch being handled finish and be checkpointed, then stops polling (aborting
    /// after [`STOP_TIMEOUT`] if the handler does not return).
    pub async fn stop(mut self) {
        self.stop.requested.store(true, Ordering::SeqCst);
        self.stop.wake.notify_one();
        if let Some(mut task) = self.task.take() {
            if tokio::time::timeout(STOP_TIMEOUT, &mut task).await.is_err() {
                tracing::warn!("a stream poller did not stop within {STOP_TIMEOUT:?}; aborting it");
                task.abort();
            }
        }
    }
}

impl Drop for PollerHandle {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> Client {
        crate::dynamodb_streams_client("http://127.0.0.1:9")
    }

    fn file(contents: &str) -> (PathBuf, PathBuf) {
        let dir = std::env::temp_dir().join(format!("sentinel-checkpoint-{}", ulid::Ulid::new()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("exporter.json");
        std::fs::write(&path, contents).unwrap();
        (dir, path)
    }

    #[test]
    fn a_checkpoint_of_another_table_is_refused() {
        let (dir, path) = file(r#"{"table": "other", "stream_arn": "arn:x", "shards": {}}"#);
        let refused = StreamPoller::new(client(), "sentinel-ledger").with_checkpoint_file(&path).unwrap_err();
        assert!(format!("{refused:#}").contains("of table \"other\""), "{refused:#}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_damaged_checkpoint_file_is_an_error_naming_it() {
        let (dir, path) = file(r#"{"table": "sentinel-ledger", "stream_arn": 7}"#);
        let refused = StreamPoller::new(client(), "sentinel-ledger").with_checkpoint_file(&path).unwrap_err();
        assert!(format!("{refused:#}").contains("is not a stream checkpoint file"), "{refused:#}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn checkpoints_round_trip_through_their_file_format() {
        let saved = CheckpointFile {
            table: "sentinel-ledger".into(),
            stream_arn: "arn:aws:dynamodb:dynoxide:000000000000:table/sentinel-ledger/stream/1.0".into(),
            shards: BTreeMap::from([(
                "shardId-00000001-sentinel-ledger".to_owned(),
                ShardCheckpoint { resume: Resume::After("100000000000000000042".into()), exhausted: false },
            )]),
        };
        let (dir, path) = file(&serde_json::to_string(&saved).unwrap());
        assert_eq!(read_checkpoint(&path).unwrap(), Some(saved));
        assert_eq!(read_checkpoint(&dir.join("absent.json")).unwrap(), None);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
