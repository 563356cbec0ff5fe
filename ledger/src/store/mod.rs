//! The `EventStore` port: atomic, conditional appends to one or several streams, and complete
//! reads of a stream. Adapters only do I/O; sealing, limits and retry recognition live here.

#[cfg(feature = "dynamo")]
pub mod dynamo;
pub mod memory;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

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

/// What kind of failure a store call met: callers act on the kind (answer 403, 404, 503, retry
/// later), logs show the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The caller's credentials may not do this (`AccessDeniedException`, unknown keys).
    Denied,
    /// The service asked us to slow down, even after the SDK's own retries.
    Throttled,
    /// The table (or another named resource) does not exist.
    NotFound,
    /// The request was malformed: a bug on our side, never worth retrying.
    Invalid,
    /// The service could not be reached or failed (transport, timeout, 5xx).
    Unavailable,
}

impl FailureKind {
    /// A short name for logs and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Denied => "access denied",
            FailureKind::Throttled => "throttled",
            FailureKind::NotFound => "not found",
            FailureKind::Invalid => "invalid request",
            FailureKind::Unavailable => "unavailable",
        }
    }
}

/// The error a storage call failed with, shared so that [`StoreError`] stays `Clone`.
pub type Source = std::sync::Arc<dyn std::error::Error + Send + Sync>;

/// Why an append or read failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// Someone else appended first: re-read the stream and decide again.
    #[error("stream {stream} is no longer at seq {expected}: another writer appended first")]
    Conflict { stream: StreamKey, expected: u64 },
    #[error("an append needs at least one event and at most one entry per stream")]
    InvalidAppend,
    #[error("an append of {actions} actions exceeds DynamoDB's limit of {MAX_ACTIONS} per transaction")]
    TooManyActions { actions: usize },
    #[error("event {stream} seq {seq} is {bytes} bytes, over the {MAX_ITEM_BYTES}-byte item limit")]
    ItemTooLarge { stream: StreamKey, seq: u64, bytes: usize },
    /// The storage service refused or failed the call (after the SDK's retries).
    #[error("the ledger call {operation} failed ({}): {source}", kind.as_str())]
    Failed { kind: FailureKind, operation: &'static str, source: Source },
    /// An event could not be put in canonical form (a bug: events are built from typed values).
    #[error("an event cannot be encoded: {0}")]
    Unencodable(String),
    /// A stored item is not a valid event.
    #[error("the ledger holds an invalid item: {0}")]
    Corrupt(String),
    /// A live idempotency record already holds the key: nothing of the write was written.
    #[error("an idempotency record already holds this key")]
    KeyTaken,
}

/// What an `Idempotency-Key` is remembered as, beside the ledger (its own table with a TTL, never
/// a ledger event, never exported).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// SHA-256 (hex) of the caller's person and the key: the record's key.
    pub key: String,
    /// SHA-256 (hex) of the request it answers: method, concrete path and canonical body.
    pub request: String,
    /// Running, or answered.
    pub state: KeyState,
    /// When it was written; a record past `expires_at` counts as absent.
    pub written_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Where a key's request stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyState {
    /// A request under the key is running; `claim` names that attempt.
    Running { claim: String },
    /// The first answer (a 2xx): status and JSON body.
    Answered { status: u16, body: serde_json::Value },
}

impl KeyRecord {
    /// Whether the record still counts at `now`.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        now < self.expires_at
    }
}

impl StoreError {
    /// A failure of `operation` of the given kind.
    pub fn failed(
        kind: FailureKind,
        operation: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> StoreError {
        StoreError::Failed { kind, operation, source: std::sync::Arc::new(source) }
    }

    /// An [`FailureKind::Unavailable`] failure known by its description (tests, fault injection).
    pub fn unavailable(operation: &'static str, detail: impl Into<String>) -> StoreError {
        StoreError::failed(FailureKind::Unavailable, operation, Detail(detail.into()))
    }

    /// The kind of a service failure; `None` for conflicts, limits and corrupt items.
    pub fn failure_kind(&self) -> Option<FailureKind> {
        match self {
            StoreError::Failed { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    /// Whether trying the same call again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self.failure_kind(), Some(FailureKind::Throttled | FailureKind::Unavailable))
            || matches!(self, StoreError::Conflict { .. })
    }
}

/// Errors compare by what callers can observe: variant, fields, and a failure's rendered source.
impl PartialEq for StoreError {
    fn eq(&self, other: &StoreError) -> bool {
        use StoreError::*;
        match (self, other) {
            (Conflict { stream: a, expected: x }, Conflict { stream: b, expected: y }) => a == b && x == y,
            (InvalidAppend, InvalidAppend) => true,
            (TooManyActions { actions: a }, TooManyActions { actions: b }) => a == b,
            (ItemTooLarge { stream: a, seq: x, bytes: m }, ItemTooLarge { stream: b, seq: y, bytes: n }) => {
                a == b && x == y && m == n
            }
            (Failed { kind: a, operation: x, source: m }, Failed { kind: b, operation: y, source: n }) => {
                a == b && x == y && m.to_string() == n.to_string()
            }
            (Unencodable(a), Unencodable(b)) | (Corrupt(a), Corrupt(b)) => a == b,
            (KeyTaken, KeyTaken) => true,
            _ => false,
        }
    }
}

impl Eq for StoreError {}

/// A failure known only by its description (an SDK error rendered for the log, a cancellation
/// reason list).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Detail(pub String);

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

    /// Writes `items`, `checks` and `record` atomically, `record` only if no live record holds
    /// its key ([`StoreError::KeyTaken`] otherwise). Stores without an idempotency table refuse.
    async fn write_with_key(
        &self,
        _items: &[StoredEvent],
        _checks: &[StreamCheck],
        _record: &KeyRecord,
        _token: &str,
    ) -> Result<(), StoreError> {
        Err(no_key_table())
    }

    /// The record of `key`, live or not (consistent read).
    async fn key_record(&self, _key: &str) -> Result<Option<KeyRecord>, StoreError> {
        Err(no_key_table())
    }

    /// Puts `record` if no live record holds its key, or (with `replacing`) if the record there
    /// is the running claim `replacing`; `Ok(false)` when neither holds.
    async fn put_key_record(&self, _record: &KeyRecord, _replacing: Option<&str>) -> Result<bool, StoreError> {
        Err(no_key_table())
    }

    /// Deletes the running claim `claim` of `key` (a request that ended without a 2xx answer).
    async fn release_key(&self, _key: &str, _claim: &str) -> Result<(), StoreError> {
        Err(no_key_table())
    }

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
        self.append_all_with_key(appends, checks, None).await
    }

    /// [`EventStore::append_all`], with an idempotency record written in the same transaction.
    async fn append_all_with_key(
        &self,
        appends: &[StreamAppend],
        checks: &[StreamCheck],
        record: Option<&KeyRecord>,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let items = seal_all(appends, checks)?;
        if record.is_some() && items.len() + checks.len() + 1 > MAX_ACTIONS {
            return Err(StoreError::TooManyActions { actions: items.len() + checks.len() + 1 });
        }
        let token = appends[0].events[0].event_id.to_string();
        let written = match record {
            Some(record) => self.write_with_key(&items, checks, record, &token).await,
            None => self.write(&items, checks, &token).await,
        };
        match written {
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
            let key = parse_stream(stream)?;
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

fn no_key_table() -> StoreError {
    StoreError::failed(FailureKind::Invalid, "idempotency", Detail("this store has no idempotency table".into()))
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
    let mut items = Vec::with_capacity(actions);
    for append in appends {
        let sealed = StoredEvent::seal(&append.stream, &append.head, &append.events)
            .map_err(|e| StoreError::Unencodable(format!("{}: {e}", append.stream)))?;
        for item in sealed {
            let bytes = serde_json::to_vec(&item).map_or(usize::MAX, |v| v.len());
            if bytes > MAX_ITEM_BYTES {
                return Err(StoreError::ItemTooLarge { stream: append.stream.clone(), seq: item.seq, bytes });
            }
            items.push(item);
        }
    }
    Ok(items)
}

/// The stream key of a stored item (adapters report conflicts by key).
pub fn parse_stream(stream: &str) -> Result<StreamKey, StoreError> {
    stream.parse().map_err(|e: crate::ids::IdError| StoreError::Corrupt(e.to_string()))
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
    let state = A::fold_recorded(&events);
    Ok(Loaded { state, head, events })
}
