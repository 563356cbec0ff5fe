//! The one command path: read the streams a command needs, let a pure decider say what to
//! append, append it at the heads that were read (holding other streams with ConditionChecks),
//! and on a lost race read and decide again a bounded number of times. Every write of the
//! product goes through here; `tools/check_command_path.py` fails if code elsewhere appends.
//!
//! A command is a value implementing [`Command`]: `reads` names the streams to load (it may ask
//! for more once it has seen the first ones, as a break-glass invocation reads its guard and
//! then the invocation the guard names), `decide` turns the [`Snapshot`] into a [`Plan`] or a
//! refusal. Neither does I/O, so a command is tested without a store.
//!
//! Paths that must call STS between deciding and appending (vend, refresh) cannot re-decide on
//! a lost race without minting again: they [`read`] once and [`commit`] once, and a conflict is
//! answered as one.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::decide::Aggregate;
use crate::event::Event;
use crate::ids::{Actor, PersonKey, StreamKey};
use crate::record::{NewEvent, RecordedEvent, StoredEvent, StreamHead};
use crate::store::{EventStore, KeyRecord, StoreError, StreamAppend, StreamCheck};

/// How many times a command is read and decided before a lost race is answered as a conflict.
pub const ATTEMPTS: usize = 3;
/// How many rounds of `reads` a command may ask for (each may depend on the previous).
const READ_ROUNDS: usize = 4;

/// One stream as read: its decoded events and its head (where the next append goes).
#[derive(Debug, Clone)]
pub struct Stream {
    pub head: StreamHead,
    pub events: Vec<RecordedEvent>,
}

impl Stream {
    /// A stream with no events.
    pub fn empty() -> Stream {
        Stream { head: StreamHead::genesis(), events: Vec::new() }
    }

    /// The stream's state as the aggregate `A` folds it.
    pub fn fold<A: Aggregate>(&self) -> A {
        A::fold_recorded(&self.events)
    }

    /// The last event, if any.
    pub fn last(&self) -> Option<&RecordedEvent> {
        self.events.last()
    }
}

/// The streams a command read, by key. A stream that was not read looks empty.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    streams: BTreeMap<StreamKey, Stream>,
}

impl Snapshot {
    /// The stream `key` as read (empty when it has no events or was not read).
    pub fn stream(&self, key: &StreamKey) -> &Stream {
        static EMPTY: std::sync::OnceLock<Stream> = std::sync::OnceLock::new();
        self.streams.get(key).unwrap_or_else(|| EMPTY.get_or_init(Stream::empty))
    }

    /// The state of stream `key` as the aggregate `A` folds it.
    pub fn fold<A: Aggregate>(&self, key: &StreamKey) -> A {
        self.stream(key).fold()
    }

    /// Whether `key` was read.
    pub fn has(&self, key: &StreamKey) -> bool {
        self.streams.contains_key(key)
    }

    /// The head of `key` as read (genesis for a stream that was not read: a new stream).
    pub fn head(&self, key: &StreamKey) -> StreamHead {
        self.stream(key).head.clone()
    }
}

/// What a decided command appends, what it holds still, and what it answers.
#[derive(Debug, Clone)]
#[must_use]
pub struct Plan<T> {
    appends: Vec<(StreamKey, Option<StreamHead>, Vec<Event>)>,
    holds: Vec<(StreamKey, Option<u64>)>,
    remember: Option<KeyRecord>,
    /// What the command answers once the plan is committed.
    pub outcome: T,
}

impl<T> Plan<T> {
    /// A plan that appends nothing (yet) and answers `outcome`.
    pub fn new(outcome: T) -> Plan<T> {
        Plan { appends: Vec::new(), holds: Vec::new(), remember: None, outcome }
    }

    /// Appends `events` to `stream` at the head that was read (genesis for a new stream).
    pub fn append(mut self, stream: StreamKey, events: Vec<Event>) -> Plan<T> {
        if !events.is_empty() {
            self.appends.push((stream, None, events));
        }
        self
    }

    /// Appends `events` to `stream` after `head`, read elsewhere (a grant found before the
    /// decision): the append fails if anything landed after it, so it holds the stream too.
    pub fn append_after(mut self, stream: StreamKey, head: StreamHead, events: Vec<Event>) -> Plan<T> {
        if !events.is_empty() {
            self.appends.push((stream, Some(head), events));
        }
        self
    }

    /// Holds `stream` at the seq that was read: the append fails if anything landed after it.
    pub fn hold(mut self, stream: StreamKey) -> Plan<T> {
        self.holds.push((stream, None));
        self
    }

    /// Holds `stream` at `seq`, read elsewhere (a grant found before the decision).
    pub fn hold_at(mut self, stream: StreamKey, seq: u64) -> Plan<T> {
        self.holds.push((stream, Some(seq)));
        self
    }

    /// Remembers `record` (an `Idempotency-Key`'s answer) in the same write, on the condition
    /// that no live record holds its key ([`StoreError::KeyTaken`] otherwise).
    pub fn remember(mut self, record: KeyRecord) -> Plan<T> {
        self.remember = Some(record);
        self
    }

    /// Whether the plan writes nothing.
    pub fn is_empty(&self) -> bool {
        self.appends.is_empty()
    }

    /// The streams the plan appends to.
    pub fn streams(&self) -> impl Iterator<Item = &StreamKey> {
        self.appends.iter().map(|(k, _, _)| k)
    }

    /// The same plan answering something else.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Plan<U> {
        Plan { appends: self.appends, holds: self.holds, remember: self.remember, outcome: f(self.outcome) }
    }
}

/// Who records the events of a command, and when: the envelope every event gets.
#[derive(Debug, Clone)]
pub struct Recording {
    pub actor: Actor,
    /// The acting person (top-level `person` of every event); `None` for the system.
    pub person: Option<PersonKey>,
    pub correlation_id: String,
    pub now: DateTime<Utc>,
}

impl Recording {
    /// Wraps events in their envelope.
    pub fn record(&self, events: Vec<Event>) -> Vec<NewEvent> {
        events
            .into_iter()
            .map(|e| {
                NewEvent::new(e, self.actor.clone(), self.correlation_id.clone(), self.now).by(self.person.clone())
            })
            .collect()
    }
}

/// A command over one or several streams. Pure: the path does the I/O.
pub trait Command {
    /// What the command answers.
    type Outcome;
    /// Why it may be refused.
    type Refusal;

    /// The streams to read next, given what has been read so far; asked again until it names
    /// nothing new.
    fn reads(&self, read: &Snapshot) -> Vec<StreamKey>;

    /// What to append and answer on the streams as read, or why not.
    fn decide(&self, read: &Snapshot) -> Result<Plan<Self::Outcome>, Self::Refusal>;
}

/// Why a command did not complete.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CommandError<R> {
    /// The decider refused.
    #[error("the command was refused")]
    Refused(R),
    /// Every attempt lost its race; nothing was written.
    #[error("stream {stream} kept changing: {attempts} attempts lost their race")]
    Conflict { stream: StreamKey, attempts: usize },
    /// The ledger failed.
    #[error(transparent)]
    Store(StoreError),
}

impl<R> From<StoreError> for CommandError<R> {
    fn from(e: StoreError) -> Self {
        CommandError::Store(e)
    }
}

/// A committed command: its answer, the events written, and the streams it decided on.
#[derive(Debug, Clone)]
pub struct Executed<T> {
    pub outcome: T,
    pub stored: Vec<StoredEvent>,
    pub read: Snapshot,
}

/// Reads `command`'s streams, decides, and commits; a lost race reads and decides again, at most
/// `attempts` times in all, then answers [`CommandError::Conflict`].
pub async fn execute<C: Command>(
    store: &dyn EventStore,
    command: &C,
    recording: &Recording,
    attempts: usize,
) -> Result<Executed<C::Outcome>, CommandError<C::Refusal>> {
    let attempts = attempts.max(1);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let read = read_for(store, command).await?;
        let plan = command.decide(&read).map_err(CommandError::Refused)?;
        match commit(store, &read, plan, recording).await {
            Ok((outcome, stored)) => return Ok(Executed { outcome, stored, read }),
            Err(StoreError::Conflict { stream, .. }) if attempt >= attempts => {
                return Err(CommandError::Conflict { stream, attempts })
            }
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(CommandError::Store(e)),
        }
    }
}

/// Reads every stream `command` asks for, round after round.
async fn read_for<C: Command>(store: &dyn EventStore, command: &C) -> Result<Snapshot, StoreError> {
    let mut snapshot = Snapshot::default();
    for _ in 0..READ_ROUNDS {
        let wanted: Vec<StreamKey> = command.reads(&snapshot).into_iter().filter(|k| !snapshot.has(k)).collect();
        if wanted.is_empty() {
            break;
        }
        for key in wanted {
            let stream = read_stream(store, &key).await?;
            snapshot.streams.insert(key, stream);
        }
    }
    Ok(snapshot)
}

/// Reads and decodes one whole stream.
pub async fn read_stream(store: &dyn EventStore, key: &StreamKey) -> Result<Stream, StoreError> {
    let stored = store.read_stream(key, 1).await?;
    let head = stored.last().map_or_else(StreamHead::genesis, StoredEvent::head);
    let events = stored.iter().map(StoredEvent::decode).collect::<Result<Vec<_>, _>>()?;
    Ok(Stream { head, events })
}

/// Reads the given streams once (for the paths that commit once).
pub async fn read(store: &dyn EventStore, keys: &[StreamKey]) -> Result<Snapshot, StoreError> {
    let mut snapshot = Snapshot::default();
    for key in keys {
        if !snapshot.has(key) {
            let stream = read_stream(store, key).await?;
            snapshot.streams.insert(key.clone(), stream);
        }
    }
    Ok(snapshot)
}

/// Appends a plan at the heads in `read`, in one atomic write, and answers its outcome. A plan
/// with nothing to append writes nothing. A lost race is [`StoreError::Conflict`] naming the
/// stream that moved.
pub async fn commit<T>(
    store: &dyn EventStore,
    read: &Snapshot,
    plan: Plan<T>,
    recording: &Recording,
) -> Result<(T, Vec<StoredEvent>), StoreError> {
    if plan.appends.is_empty() {
        return Ok((plan.outcome, Vec::new()));
    }
    let appends: Vec<StreamAppend> = plan
        .appends
        .into_iter()
        .map(|(stream, head, events)| StreamAppend {
            head: head.unwrap_or_else(|| read.head(&stream)),
            events: recording.record(events),
            stream,
        })
        .collect();
    let checks: Vec<StreamCheck> = plan
        .holds
        .into_iter()
        .map(|(stream, seq)| StreamCheck { seq: seq.unwrap_or_else(|| read.head(&stream).seq), stream })
        .collect();
    let stored = store.append_all_with_key(&appends, &checks, plan.remember.as_ref()).await?;
    Ok((plan.outcome, stored))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;

    use super::*;
    use crate::decide::approval::ApprovalState;
    use crate::event::{ApprovalCancelled, ApprovalRequested};
    use crate::ids::{ApprovalId, PrincipalArn};
    use crate::store::memory::MemoryEventStore;

    fn alice() -> PrincipalArn {
        "arn:aws:iam::111122223333:user/alice".parse().unwrap()
    }

    fn now() -> DateTime<Utc> {
        "2026-11-25T10:00:00Z".parse().unwrap()
    }

    fn recording() -> Recording {
        Recording {
            actor: Actor::Principal(alice()),
            person: Some("iam:111122223333:alice".parse().unwrap()),
            correlation_id: "test".into(),
            now: now(),
        }
    }

    fn requested() -> Event {
        ApprovalRequested {
            requester: alice(),
            profile: "prod".parse().unwrap(),
            justification: "deploy hotfix 42".into(),
            duration_seconds: 3600,
            expires_at: now() + chrono::Duration::hours(1),
            required: 1,
        }
        .into()
    }

    /// Cancels an approval: one stream read, one event appended.
    struct Cancel(StreamKey);

    impl Command for Cancel {
        type Outcome = ();
        type Refusal = crate::DomainError;
        fn reads(&self, _: &Snapshot) -> Vec<StreamKey> {
            vec![self.0.clone()]
        }
        fn decide(&self, read: &Snapshot) -> Result<Plan<()>, crate::DomainError> {
            let state: ApprovalState = read.fold(&self.0);
            let events = state.decide(
                &crate::decide::approval::ApprovalCommand::Cancel(ApprovalCancelled { by: alice() }, None),
                now(),
            )?;
            Ok(Plan::new(()).append(self.0.clone(), events))
        }
    }

    /// A store where another writer appends to the stream after every whole-stream read.
    struct Contended {
        inner: MemoryEventStore,
        reads: AtomicUsize,
    }

    #[async_trait]
    impl EventStore for Contended {
        async fn write(&self, items: &[StoredEvent], checks: &[StreamCheck], token: &str) -> Result<(), StoreError> {
            self.inner.write(items, checks, token).await
        }
        async fn read_stream(&self, stream: &StreamKey, from_seq: u64) -> Result<Vec<StoredEvent>, StoreError> {
            let read = self.inner.read_stream(stream, from_seq).await?;
            if from_seq > 1 {
                return Ok(read); // the store recognising a retried append, not a command's read
            }
            self.reads.fetch_add(1, Ordering::SeqCst);
            let head = read.last().map_or_else(StreamHead::genesis, StoredEvent::head);
            let rival = NewEvent::new(requested(), Actor::System, "rival", now());
            let append = StreamAppend { stream: stream.clone(), head, events: vec![rival] };
            self.inner.append(append).await?;
            Ok(read)
        }
    }

    #[tokio::test]
    async fn a_command_appends_at_the_head_it_read() {
        let store = MemoryEventStore::new();
        let key = StreamKey::Approval(ApprovalId::generate());
        let seeded = Plan::new(()).append(key.clone(), vec![requested()]);
        commit(&store, &Snapshot::default(), seeded, &recording()).await.unwrap();
        let done = execute(&store, &Cancel(key.clone()), &recording(), ATTEMPTS).await.unwrap();
        assert_eq!(done.stored.len(), 1);
        assert_eq!(done.stored[0].seq, 2);
        assert_eq!(done.stored[0].event_type, "ApprovalCancelled");
        let again = execute(&store, &Cancel(key), &recording(), ATTEMPTS).await;
        assert!(matches!(again, Err(CommandError::Refused(_))), "a cancelled request cannot be cancelled again");
    }

    #[tokio::test]
    async fn lost_races_are_retried_a_bounded_number_of_times_then_end_in_a_typed_conflict() {
        let store = Contended { inner: MemoryEventStore::new(), reads: AtomicUsize::new(0) };
        let key = StreamKey::Approval(ApprovalId::generate());
        let seeded = Plan::new(()).append(key.clone(), vec![requested()]);
        commit(&store.inner, &Snapshot::default(), seeded, &recording()).await.unwrap();
        let result = execute(&store, &Cancel(key.clone()), &recording(), ATTEMPTS).await;
        match result {
            Err(CommandError::Conflict { stream, attempts }) => {
                assert_eq!(stream, key);
                assert_eq!(attempts, ATTEMPTS);
            }
            other => panic!("expected a conflict after {ATTEMPTS} attempts, got {other:?}"),
        }
        assert_eq!(store.reads.load(Ordering::SeqCst), ATTEMPTS, "one read of the stream per attempt, no more");
        let written = store.inner.read_stream(&key, 1).await.unwrap();
        assert!(written.iter().all(|e| e.event_type == "ApprovalRequested"), "the command itself wrote nothing");
    }

    #[tokio::test]
    async fn a_held_stream_that_moved_fails_the_whole_commit() {
        let store = MemoryEventStore::new();
        let grant = StreamKey::Approval(ApprovalId::generate());
        let session = StreamKey::Approval(ApprovalId::generate());
        commit(&store, &Snapshot::default(), Plan::new(()).append(grant.clone(), vec![requested()]), &recording())
            .await
            .unwrap();
        let stale = Plan::new(()).append(session.clone(), vec![requested()]).hold_at(grant.clone(), 0);
        let err = commit(&store, &Snapshot::default(), stale, &recording()).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict { ref stream, expected: 0 } if stream == &grant), "{err:?}");
        assert!(store.read_stream(&session, 1).await.unwrap().is_empty(), "nothing of the plan was written");
    }
}
