//! Rebuild: the same fold over the whole ledger, compared with (and optionally written over)
//! the stored views. Views are derived, so this is the operator's repair and audit tool: a
//! view ahead of the ledger means ledger events were deleted.

use ledger::store::StoreError;
use ledger::StoredEvent;

use crate::fold::{fold_ledger, FoldError, Views};
use crate::store::{ViewError, ViewStore};

/// Why a rebuild could not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RebuildError {
    /// The ledger could not be read.
    #[error(transparent)]
    Ledger(#[from] StoreError),
    /// The views table could not be read or written.
    #[error(transparent)]
    Views(#[from] ViewError),
}

/// Whether a rebuild writes what it recomputed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Only compare.
    Check,
    /// Compare, then write every recomputed projection and audit row. Rows the ledger does
    /// not explain are reported, never deleted: they are evidence.
    Repair,
}

/// One difference between the stored views and the fold of the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Difference {
    /// The ledger has a stream the views lack.
    MissingProjection { stream: String },
    /// The stored projection differs from the recomputed one.
    ProjectionDiffers { stream: String, stored_seq: u64, ledger_seq: u64 },
    /// The views hold a stream head past the ledger's (ledger events deleted?).
    ProjectionAheadOfLedger { stream: String, stored_seq: u64, ledger_seq: u64 },
    /// The views hold a stream the ledger does not have at all.
    UnknownProjection { stream: String },
    /// An event has no audit row.
    MissingAudit { stream: String, seq: u64 },
    /// An audit row differs from its event.
    AuditDiffers { stream: String, seq: u64 },
    /// An audit row has no event in the ledger.
    UnknownAudit { stream: String, seq: u64 },
}

/// What a rebuild found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Events read from the ledger.
    pub events: usize,
    /// Streams recomputed.
    pub streams: usize,
    /// Differences between the stored views and the fold, in key order.
    pub differences: Vec<Difference>,
    /// Streams whose events did not fold (broken chain, undecodable event).
    pub broken: Vec<FoldError>,
    /// Rows written (repair mode).
    pub written: usize,
}

impl Report {
    /// Whether the stored views equal the fold of an intact ledger.
    pub fn is_clean(&self) -> bool {
        self.differences.is_empty() && self.broken.is_empty()
    }
}

/// Every difference between `stored` and `expected`, in key order.
pub fn compare(stored: &Views, expected: &Views) -> Vec<Difference> {
    let mut out = Vec::new();
    for (stream, want) in &expected.projections {
        match stored.projections.get(stream) {
            None => out.push(Difference::MissingProjection { stream: stream.clone() }),
            Some(have) if have.head.seq > want.head.seq => out.push(Difference::ProjectionAheadOfLedger {
                stream: stream.clone(),
                stored_seq: have.head.seq,
                ledger_seq: want.head.seq,
            }),
            Some(have) if have != want => out.push(Difference::ProjectionDiffers {
                stream: stream.clone(),
                stored_seq: have.head.seq,
                ledger_seq: want.head.seq,
            }),
            Some(_) => {}
        }
    }
    for stream in stored.projections.keys().filter(|s| !expected.projections.contains_key(*s)) {
        out.push(Difference::UnknownProjection { stream: stream.clone() });
    }
    for ((stream, seq), want) in &expected.audit {
        match stored.audit.get(&(stream.clone(), *seq)) {
            None => out.push(Difference::MissingAudit { stream: stream.clone(), seq: *seq }),
            Some(have) if have != want => out.push(Difference::AuditDiffers { stream: stream.clone(), seq: *seq }),
            Some(_) => {}
        }
    }
    for (stream, seq) in stored.audit.keys().filter(|k| !expected.audit.contains_key(*k)) {
        out.push(Difference::UnknownAudit { stream: stream.clone(), seq: *seq });
    }
    out
}

/// Recomputes every view from `ledger` (every event of every stream, any order), compares
/// with `views`, and in [`Mode::Repair`] writes the recomputed rows.
pub async fn rebuild(ledger: &[StoredEvent], views: &dyn ViewStore, mode: Mode) -> Result<Report, RebuildError> {
    let folded = fold_ledger(ledger);
    let stored = views.dump().await?;
    let differences = compare(&stored, &folded.views);
    let mut written = 0;
    if mode == Mode::Repair {
        for projection in folded.views.projections.values() {
            views.overwrite(projection).await?;
            written += 1;
        }
        let rows: Vec<_> = folded.views.audit.values().cloned().collect();
        views.save_audit(&rows).await?;
        written += rows.len();
    }
    Ok(Report {
        events: ledger.len(),
        streams: folded.views.projections.len(),
        differences,
        broken: folded.broken,
        written,
    })
}

/// Every event of the ledger table (a consistent Scan, every page); with the `dynamo` feature.
#[cfg(feature = "dynamo")]
pub async fn scan_ledger(client: &aws_sdk_dynamodb::Client, table: &str) -> Result<Vec<StoredEvent>, StoreError> {
    ledger::store::dynamo::DynamoEventStore::new(client.clone(), table).scan_all(|_| {}).await
}
