//! The `EventStore` port: atomic, conditional appends to one or several streams, and complete
//! reads of a stream. Adapters only do I/O; sealing, limits and retry recognition live here.

pub mod dynamo;
pub mod memory;

use async_trait::async_trait;

use crate::decide::Aggregate;
use crate::ids::StreamKey;
use crate::record::{DecodeError, NewEvent, RecordedEvent, StoredEvent, StreamHead};

/// DynamoDB's limit on actions in one `TransactWriteItems`.
pub const MAX_ACTIONS: usize = 100;
/// DynamoDB's item size limit, checked on the JSON size as a conservative stand-in.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;

/// Events to append to one stream after the head the writer read.
#[derive(Debug, Clone)]
pub struct StreamAppend {
    pub stream: StreamKey,
    pub head: StreamHead,
    pub events: Vec<NewEvent>,
}

/// A condition that a stream is still exactly at `seq` (nothing appended after it), checked in
/// the same transaction as the appends: a concurrent cancel or close wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamCheck {
    pub stream: StreamKey,
    pub seq: u64,
}

/// Why an append or read failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// Someone else appended first: re-read the stream and decide again.
    #[error("stream {stream} is no longer at seq {expected}: another writer appended first")]
    Conflict { stream: String, expected: u64 },
    #[error("an append needs at least one event and at most one entry per stream")]
    InvalidAppend,
    #[error("an append of {actions} actions exceeds DynamoDB's limit of {MAX_ACTIONS} per transaction")]
    TooManyActions { actions: usize },
    #[error("event {stream} seq {seq} is {bytes} bytes, over the {MAX_ITEM_BYTES}-byte item limit")]
    ItemTooLarge { stream: String, seq: u64, bytes: usize },
    /// The ledger could not be reached, even after retries (callers answer 503).
    #[error("the ledger is unavailable: {0}")]
    Unavailable(String),
    /// A stored item is not a valid event.
    #[error("the ledger holds an invalid item: {0}")]
    Corrupt(String),
}

impl From<DecodeError> for StoreError {
    fn from(e: DecodeError) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

/// Storage of ledger events. Implementations write every item of one call atomically, each on
/// the condition that its key is new and that every check's stream has nothing after its seq.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Writes `items` and `checks` atomically; `token` is the same for retries of one append.
    async fn write(&self, items: &[StoredEvent], checks: &[StreamCheck], token: &str) -> Result<(), StoreError>;

    /// Every event of `stream` with seq ≥ `from_seq`, in order (all pages).
    async fn read_stream(&self, stream: &StreamKey, from_seq: u64) -> Result<Vec<StoredEvent>, StoreError>;

    /// The events after `after_seq`: the tail a view has not folded in yet.
    async fn read_after(&self, stream: &StreamKey, after_seq: u64) -> Result<Vec<StoredEvent>, StoreError> {
        self.read_stream(stream, after_seq + 1).await
    }

    /// Appends to one stream at its head.
    async fn append(&self, append: StreamAppend) -> Result<Vec<StoredEvent>, StoreError> {
        self.append_all(std::slice::from_ref(&append), &[]).await
    }

    /// Appends to several streams at once: all or nothing. A retry with the same event ids
    /// after an ambiguous failure returns the events already stored instead of duplicating.
    async fn append_all(
        &self,
        appends: &[StreamAppend],
        checks: &[StreamCheck],
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let items = seal_all(appends, checks)?;
        let token = appends[0].events[0].event_id.to_string();
        match self.write(&items, checks, &token).await {
            Ok(()) => Ok(items),
            Err(StoreError::Conflict { stream, expected }) => match self.already_stored(&items).await? {
                Some(stored) => Ok(stored),
                None => Err(StoreError::Conflict { stream, expected }),
            },
            Err(e) => Err(e),
        }
    }

    /// The stored events if every item of `items` is already in the ledger with the same
    /// event id at the same position (the earlier attempt landed).
    async fn already_stored(&self, items: &[StoredEvent]) -> Result<Option<Vec<StoredEvent>>, StoreError> {
        let mut stored = Vec::with_capacity(items.len());
        let mut streams: Vec<&str> = items.iter().map(|i| i.stream.as_str()).collect();
        streams.dedup();
        for stream in streams {
            let ours: Vec<&StoredEvent> = items.iter().filter(|i| i.stream == stream).collect();
            let key: StreamKey = stream.parse().map_err(|e: crate::ids::IdError| StoreError::Corrupt(e.to_string()))?;
            let theirs = self.read_stream(&key, ours[0].seq).await?;
            let same = theirs.len() >= ours.len() && ours.iter().zip(&theirs).all(|(o, t)| o.event_id == t.event_id);
            if !same {
                return Ok(None);
            }
            stored.extend(theirs.into_iter().take(ours.len()));
        }
        Ok(Some(stored))
    }
}

/// Validates an append against DynamoDB's limits and seals every stream's events.
fn seal_all(appends: &[StreamAppend], checks: &[StreamCheck]) -> Result<Vec<StoredEvent>, StoreError> {
    let mut seen = std::collections::HashSet::new();
    let unique = appends.iter().map(|a| &a.stream).chain(checks.iter().map(|c| &c.stream)).all(|s| seen.insert(s));
    if appends.is_empty() || appends.iter().any(|a| a.events.is_empty()) || !unique {
        return Err(StoreError::InvalidAppend);
    }
    let actions = appends.iter().map(|a| a.events.len()).sum::<usize>() + checks.len();
    if actions > MAX_ACTIONS {
        return Err(StoreError::TooManyActions { actions });
    }
    let items: Vec<StoredEvent> =
        appends.iter().flat_map(|a| StoredEvent::seal(&a.stream, &a.head, &a.events)).collect();
    for item in &items {
        let bytes = serde_json::to_vec(item).map(|v| v.len()).unwrap_or(usize::MAX);
        if bytes > MAX_ITEM_BYTES {
            return Err(StoreError::ItemTooLarge { stream: item.stream.clone(), seq: item.seq, bytes });
        }
    }
    Ok(items)
}

/// A stream's decoded events, its folded state and its head (where the next append goes).
#[derive(Debug, Clone)]
pub struct Loaded<A> {
    pub state: A,
    pub head: StreamHead,
    pub events: Vec<RecordedEvent>,
}

/// Reads, decodes and folds a whole stream.
pub async fn load<A: Aggregate>(store: &dyn EventStore, stream: &StreamKey) -> Result<Loaded<A>, StoreError> {
    let stored = store.read_stream(stream, 1).await?;
    let head = stored.last().map_or_else(StreamHead::genesis, StoredEvent::head);
    let events = stored.iter().map(StoredEvent::decode).collect::<Result<Vec<_>, _>>()?;
    let state = A::fold(events.iter().map(|e| &e.event));
    Ok(Loaded { state, head, events })
}
