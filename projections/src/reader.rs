//! View + tail: the current state of a session, approval or break-glass, read from its view row
//! and the ledger events after the view's `last_seq` (consistent read), folded in with the
//! deciders' own `evolve`. A revocation counts the moment its event commits, whatever the
//! projector's lag.

use ledger::store::EventStore;
use ledger::{ApprovalId, BreakGlassId, SessionId, StoreError, StreamHead, StreamKey};

use crate::fold::{advance, FoldError};
use crate::store::{ViewError, ViewStore};
use crate::view::{ApprovalView, BreakGlassView, Projection, SessionView};

/// Why the current state could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// The views table failed.
    #[error(transparent)]
    Views(#[from] ViewError),
    /// The ledger failed.
    #[error(transparent)]
    Ledger(#[from] StoreError),
    /// The tail does not continue the view (broken chain, undecodable event).
    #[error(transparent)]
    Fold(#[from] FoldError),
}

/// A view brought up to the ledger's head, and that head (where the next append goes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Current<V> {
    /// The view as of `head`.
    pub view: V,
    /// Seq and hash of the stream's last event.
    pub head: StreamHead,
    /// How many ledger events the stored view lacked.
    pub tail_len: usize,
}

/// The projection of `stream` brought up to the ledger's head: the stored row (or nothing)
/// plus every event after its `last_seq`, verified against the row's hash and folded in.
pub async fn current(
    views: &dyn ViewStore,
    ledger: &dyn EventStore,
    stream: &StreamKey,
) -> Result<(Projection, usize), ReadError> {
    let mut projection = views.projection(stream).await?.unwrap_or_else(|| Projection::empty(stream.clone()));
    let tail = ledger.read_after(stream, projection.head.seq).await?;
    advance(&mut projection, &tail)?;
    Ok((projection, tail.len()))
}

/// The current session, if the ledger has it.
pub async fn session(
    views: &dyn ViewStore,
    ledger: &dyn EventStore,
    id: SessionId,
) -> Result<Option<Current<SessionView>>, ReadError> {
    let (p, tail_len) = current(views, ledger, &StreamKey::Session(id)).await?;
    Ok(p.session().cloned().map(|view| Current { view, head: p.head, tail_len }))
}

/// The current approval request, if the ledger has it.
pub async fn approval(
    views: &dyn ViewStore,
    ledger: &dyn EventStore,
    id: ApprovalId,
) -> Result<Option<Current<ApprovalView>>, ReadError> {
    let (p, tail_len) = current(views, ledger, &StreamKey::Approval(id)).await?;
    Ok(p.approval().cloned().map(|view| Current { view, head: p.head, tail_len }))
}

/// The current break-glass, if the ledger has it.
pub async fn break_glass(
    views: &dyn ViewStore,
    ledger: &dyn EventStore,
    id: BreakGlassId,
) -> Result<Option<Current<BreakGlassView>>, ReadError> {
    let (p, tail_len) = current(views, ledger, &StreamKey::BreakGlass(id)).await?;
    Ok(p.break_glass().cloned().map(|view| Current { view, head: p.head, tail_len }))
}
