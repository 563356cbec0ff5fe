//! Projecting one ledger event into the views table: the projector's step, kept here so the
//! Lambda, the local poller and the property tests run the same code.
//!
//! Idempotent and order-safe: an event at or below the view's `last_seq` is a no-op; an event
//! after a gap makes the missing events be read from the ledger and folded first; the write is
//! conditional on `last_seq`, so an older state never overwrites a newer one.

use ledger::store::EventStore;
use ledger::{StoreError, StoredEvent, StreamKey};

use crate::fold::{advance, FoldError};
use crate::store::{Saved, ViewError, ViewStore};
use crate::view::Projection;

/// Why an event could not be projected (the record is reported as a batch item failure).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProjectError {
    /// The event's stream key is invalid.
    #[error("stream key {0:?} is invalid")]
    BadStream(String),
    /// The ledger does not hold the event (it was deleted, or the record is forged).
    #[error("the ledger has no event {stream} seq {seq}")]
    NotInLedger {
        /// The stream.
        stream: String,
        /// The missing seq.
        seq: u64,
    },
    /// The events do not fold (broken chain, unknown type, invalid payload).
    #[error(transparent)]
    Fold(#[from] FoldError),
    /// The ledger failed.
    #[error(transparent)]
    Ledger(#[from] StoreError),
    /// The views table failed.
    #[error(transparent)]
    Views(#[from] ViewError),
}

/// What projecting an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Projected {
    /// The view already reflected the event.
    Duplicate,
    /// The view advanced to `seq`, folding `events` events (more than one after a gap).
    Advanced {
        /// The new `last_seq`.
        seq: u64,
        /// How many events were folded.
        events: usize,
    },
    /// Another writer advanced the view first; nothing was written.
    Overtaken,
}

/// Projects `event` (from a stream record) into `views`, filling any gap from `ledger`.
pub async fn project(
    views: &dyn ViewStore,
    ledger: &dyn EventStore,
    event: &StoredEvent,
) -> Result<Projected, ProjectError> {
    let stream: StreamKey = event.stream.parse().map_err(|_| ProjectError::BadStream(event.stream.clone()))?;
    let mut projection = views.projection(&stream).await?.unwrap_or_else(|| Projection::empty(stream.clone()));
    if event.seq <= projection.head.seq {
        return Ok(Projected::Duplicate);
    }
    let events = if event.seq == projection.head.seq + 1 {
        vec![event.clone()]
    } else {
        // A gap: the missing events are in the ledger (and so is this one, and maybe later ones).
        let tail = ledger.read_after(&stream, projection.head.seq).await?;
        if tail.last().is_none_or(|e| e.seq < event.seq) {
            return Err(ProjectError::NotInLedger { stream: event.stream.clone(), seq: event.seq });
        }
        tail
    };
    let audit = advance(&mut projection, &events)?;
    // Audit rows first: once a view is at seq n, every audit row up to n exists.
    views.save_audit(&audit).await?;
    Ok(match views.save(&projection).await? {
        Saved::Written => Projected::Advanced { seq: projection.head.seq, events: events.len() },
        Saved::AlreadyCurrent => Projected::Overtaken,
    })
}
