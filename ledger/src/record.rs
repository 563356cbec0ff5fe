//! The envelope: an event as appended ([`NewEvent`]), as stored and hashed ([`StoredEvent`]) and
//! as decoded ([`RecordedEvent`]), plus the per-stream SHA-256 chain and its verification.
//!
//! `hash` = SHA-256 (hex) of the RFC 8785 canonical JSON of every stored attribute but `hash`:
//! `stream`, `seq`, `event_id`, `type`, `schema_version`, `occurred_at`, `actor`, `person` (when
//! the event has one: events recorded for a caller since person keys exist),
//! `correlation_id`, `payload` and `prev_hash`. The first event of a stream has a `prev_hash` of
//! 64 zeros. Verification works on the stored strings, never on re-encoded typed values, so it
//! needs nothing of this crate but this definition.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::canonical::{to_canonical_bytes, CanonicalError};
use crate::event::{Event, PayloadError};
use crate::ids::{Actor, EventId, PersonKey, StreamKey};
use crate::upcast::upcast;

/// `prev_hash` of the first event of every stream.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An event about to be appended; the store gives it its seq and hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// Stays the same across retries of one append, so a retry is recognised.
    pub event_id: EventId,
    pub occurred_at: DateTime<Utc>,
    pub actor: Actor,
    /// The acting person; `None` for the system.
    pub person: Option<PersonKey>,
    pub correlation_id: String,
    pub event: Event,
}

impl NewEvent {
    /// A new event with a fresh id and no person (the system, or a test).
    pub fn new(event: impl Into<Event>, actor: Actor, correlation_id: impl Into<String>, now: DateTime<Utc>) -> Self {
        NewEvent {
            event_id: EventId::generate(),
            occurred_at: now,
            actor,
            person: None,
            correlation_id: correlation_id.into(),
            event: event.into(),
        }
    }

    /// The same event, recorded for `person`.
    pub fn by(mut self, person: Option<PersonKey>) -> Self {
        self.person = person;
        self
    }
}

/// The last event of a stream as far as a writer knows: where the next append goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamHead {
    pub seq: u64,
    pub hash: String,
}

impl StreamHead {
    /// The head of a stream that has no events yet.
    pub fn genesis() -> Self {
        StreamHead { seq: 0, hash: GENESIS_HASH.to_owned() }
    }
}

/// An event exactly as the ledger stores it (attribute names are the wire names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEvent {
    pub stream: String,
    pub seq: u64,
    pub event_id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub schema_version: u32,
    pub occurred_at: String,
    pub actor: String,
    /// The acting person's key; absent on system events and on events recorded before person
    /// keys (they compare by `actor`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<String>,
    pub correlation_id: String,
    pub payload: Value,
    pub prev_hash: String,
    pub hash: String,
}

/// A stored event, upcast and decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEvent {
    pub stream: StreamKey,
    pub seq: u64,
    pub event_id: EventId,
    pub occurred_at: DateTime<Utc>,
    pub actor: Actor,
    /// The acting person; `None` for the system and for events recorded before person keys.
    pub person: Option<PersonKey>,
    pub correlation_id: String,
    pub event: Event,
    pub hash: String,
}

impl RecordedEvent {
    /// Who acted, when a principal did (`None` for the system).
    pub fn who(&self) -> Option<crate::ids::Who> {
        match &self.actor {
            Actor::Principal(principal) => {
                Some(crate::ids::Who { principal: principal.clone(), person: self.person.clone() })
            }
            Actor::System => None,
        }
    }
}

/// Why a stored event could not be decoded. Carries where it is, never the secret material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event {stream} seq {seq}: {kind}")]
pub struct DecodeError {
    pub stream: String,
    pub seq: u64,
    pub kind: DecodeErrorKind,
}

/// What is wrong with a stored event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeErrorKind {
    #[error("attribute {attribute} is invalid: {detail}")]
    BadAttribute { attribute: &'static str, detail: String },
    #[error(transparent)]
    Payload(#[from] PayloadError),
}

/// Formats an instant the way the ledger stores it: RFC 3339, UTC, milliseconds, `Z`.
pub fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl StoredEvent {
    /// Gives `events` their seqs after `head` on `stream` and chains their hashes.
    pub fn seal(
        stream: &StreamKey,
        head: &StreamHead,
        events: &[NewEvent],
    ) -> Result<Vec<StoredEvent>, CanonicalError> {
        let stream = stream.to_string();
        let mut prev_hash = head.hash.clone();
        let mut sealed = Vec::with_capacity(events.len());
        for (i, e) in events.iter().enumerate() {
            let mut stored = StoredEvent {
                stream: stream.clone(),
                seq: head.seq + 1 + i as u64,
                event_id: e.event_id.to_string(),
                event_type: e.event.wire_type().to_owned(),
                schema_version: e.event.schema_version(),
                occurred_at: format_time(e.occurred_at),
                actor: e.actor.to_string(),
                person: e.person.as_ref().map(ToString::to_string),
                correlation_id: e.correlation_id.clone(),
                payload: e.event.payload(),
                prev_hash: prev_hash.clone(),
                hash: String::new(),
            };
            stored.hash = stored.compute_hash()?;
            prev_hash = stored.hash.clone();
            sealed.push(stored);
        }
        Ok(sealed)
    }

    /// The document the hash covers: every attribute but `hash`.
    pub fn hashed_document(&self) -> Value {
        let mut doc = Map::new();
        doc.insert("stream".into(), Value::String(self.stream.clone()));
        doc.insert("seq".into(), Value::from(self.seq));
        doc.insert("event_id".into(), Value::String(self.event_id.clone()));
        doc.insert("type".into(), Value::String(self.event_type.clone()));
        doc.insert("schema_version".into(), Value::from(self.schema_version));
        doc.insert("occurred_at".into(), Value::String(self.occurred_at.clone()));
        doc.insert("actor".into(), Value::String(self.actor.clone()));
        if let Some(person) = &self.person {
            doc.insert("person".into(), Value::String(person.clone()));
        }
        doc.insert("correlation_id".into(), Value::String(self.correlation_id.clone()));
        doc.insert("payload".into(), self.payload.clone());
        doc.insert("prev_hash".into(), Value::String(self.prev_hash.clone()));
        Value::Object(doc)
    }

    /// SHA-256 (hex) of the canonical form of [`Self::hashed_document`].
    pub fn compute_hash(&self) -> Result<String, CanonicalError> {
        let bytes = to_canonical_bytes(&self.hashed_document())?;
        Ok(hex::encode(Sha256::digest(&bytes)))
    }

    /// This event's position, as the next writer needs it.
    pub fn head(&self) -> StreamHead {
        StreamHead { seq: self.seq, hash: self.hash.clone() }
    }

    /// Upcasts and decodes into typed values.
    pub fn decode(&self) -> Result<RecordedEvent, DecodeError> {
        let err = |kind| DecodeError { stream: self.stream.clone(), seq: self.seq, kind };
        let bad = |attribute: &'static str, detail: String| err(DecodeErrorKind::BadAttribute { attribute, detail });
        let stream = self.stream.parse().map_err(|e: crate::ids::IdError| bad("stream", e.to_string()))?;
        let event_id = self.event_id.parse().map_err(|e: crate::ids::IdError| bad("event_id", e.to_string()))?;
        let occurred_at = DateTime::parse_from_rfc3339(&self.occurred_at)
            .map_err(|e| bad("occurred_at", e.to_string()))?
            .with_timezone(&Utc);
        let actor = self.actor.parse().map_err(|e: crate::ids::IdError| bad("actor", e.to_string()))?;
        let person = self
            .person
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|e: crate::ids::IdError| bad("person", e.to_string()))?;
        let payload = upcast(&self.event_type, self.schema_version, self.payload.clone()).map_err(|e| err(e.into()))?;
        let event = Event::from_current(&self.event_type, payload).map_err(|e| err(e.into()))?;
        Ok(RecordedEvent {
            stream,
            seq: self.seq,
            event_id,
            occurred_at,
            actor,
            person,
            correlation_id: self.correlation_id.clone(),
            event,
            hash: self.hash.clone(),
        })
    }
}

/// Where and how a stream's chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stream {stream} is broken at seq {seq}: {kind}")]
pub struct ChainBreak {
    pub stream: String,
    pub seq: u64,
    pub kind: ChainBreakKind,
}

/// What broke the chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreakKind {
    #[error("the stored hash does not match the event's contents")]
    HashMismatch,
    #[error("prev_hash does not match the hash of the event before it")]
    PrevHashMismatch,
    #[error("seq {found} found where seq {expected} should be (an event is missing or out of order)")]
    OutOfSequence { expected: u64, found: u64 },
    #[error("the event carries stream {found:?}")]
    WrongStream { found: String },
    #[error("the event cannot be canonicalised: {0}")]
    NotCanonical(CanonicalError),
}

/// Verifies a whole stream, which must start at seq 1; returns its head.
pub fn verify_stream(stream: &str, events: &[StoredEvent]) -> Result<StreamHead, ChainBreak> {
    verify_from(stream, &StreamHead::genesis(), events)
}

/// Verifies `events` as the continuation of a stream after `head`; returns the new head.
pub fn verify_from(stream: &str, head: &StreamHead, events: &[StoredEvent]) -> Result<StreamHead, ChainBreak> {
    let mut head = head.clone();
    for e in events {
        let expected = head.seq + 1;
        let broken = |seq, kind| ChainBreak { stream: stream.to_owned(), seq, kind };
        if e.seq != expected {
            // A gap or a reordering: the first bad position is the one that should have been next.
            return Err(broken(expected, ChainBreakKind::OutOfSequence { expected, found: e.seq }));
        }
        if e.stream != stream {
            return Err(broken(e.seq, ChainBreakKind::WrongStream { found: e.stream.clone() }));
        }
        let hash = e.compute_hash().map_err(|c| broken(e.seq, ChainBreakKind::NotCanonical(c)))?;
        if hash != e.hash {
            return Err(broken(e.seq, ChainBreakKind::HashMismatch));
        }
        if e.prev_hash != head.hash {
            return Err(broken(e.seq, ChainBreakKind::PrevHashMismatch));
        }
        head = e.head();
    }
    Ok(head)
}
