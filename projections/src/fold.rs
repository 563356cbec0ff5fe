//! The pure fold from ledger events to every view: what the projector maintains incrementally,
//! what a rebuild recomputes, and what the property tests compare against.

use std::collections::BTreeMap;

use ledger::record::{verify_from, DecodeError};
use ledger::{ChainBreak, StoredEvent, StreamKey};

use crate::audit::AuditRecord;
use crate::view::{ApplyError, Projection};

/// Why stored events cannot be folded into a projection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FoldError {
    /// The stream key is not one the ledger writes.
    #[error("stream key {0:?} is invalid")]
    BadStream(String),
    /// The events do not continue the projection's chain.
    #[error(transparent)]
    Chain(#[from] ChainBreak),
    /// An event does not decode (unknown type, bad payload or attribute).
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// An event does not fit the projection.
    #[error(transparent)]
    Apply(#[from] ApplyError),
}

/// Verifies `events` as the continuation of `projection`'s stream, decodes them and folds them
/// in; returns their audit rows. On error the projection is unchanged.
pub fn advance(projection: &mut Projection, events: &[StoredEvent]) -> Result<Vec<AuditRecord>, FoldError> {
    let stream = projection.stream.to_string();
    verify_from(&stream, &projection.head, events)?;
    let mut next = projection.clone();
    let mut audit = Vec::with_capacity(events.len());
    for stored in events {
        let recorded = stored.decode()?;
        next.apply(&recorded)?;
        audit.push(AuditRecord::of(stored, &recorded));
    }
    *projection = next;
    Ok(audit)
}

/// Every view: one projection per stream and one audit row per event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Views {
    /// Projections by stream key (wire form).
    pub projections: BTreeMap<String, Projection>,
    /// Audit rows by (stream key, seq).
    pub audit: BTreeMap<(String, u64), AuditRecord>,
}

/// The views of a whole ledger, and the streams that could not be folded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Folded {
    /// The views of every stream that folded.
    pub views: Views,
    /// Streams that did not fold (broken chain, undecodable event), with why. Their views hold
    /// what folded before the first bad event.
    pub broken: Vec<FoldError>,
}

/// Folds every event of a ledger, in any order, into its views. Events are grouped by stream
/// and sorted by seq first; each stream must verify from seq 1.
pub fn fold_ledger<'a>(events: impl IntoIterator<Item = &'a StoredEvent>) -> Folded {
    let mut streams: BTreeMap<&str, Vec<&StoredEvent>> = BTreeMap::new();
    for e in events {
        streams.entry(e.stream.as_str()).or_default().push(e);
    }
    let mut folded = Folded::default();
    for (stream, mut events) in streams {
        events.sort_by_key(|e| e.seq);
        let key: StreamKey = match stream.parse() {
            Ok(key) => key,
            Err(_) => {
                folded.broken.push(FoldError::BadStream(stream.to_owned()));
                continue;
            }
        };
        let mut projection = Projection::empty(key);
        for event in events {
            match advance(&mut projection, std::slice::from_ref(event)) {
                Ok(rows) => {
                    for row in rows {
                        folded.views.audit.insert((row.stream.clone(), row.seq), row);
                    }
                }
                Err(e) => {
                    folded.broken.push(e);
                    break;
                }
            }
        }
        if projection.head.seq > 0 {
            folded.views.projections.insert(stream.to_owned(), projection);
        }
    }
    folded
}
