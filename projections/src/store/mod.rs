//! The `ViewStore` port: conditional writes of projections, idempotent writes of audit rows,
//! and the queries the API and CLI need, each served by a key or an index.

#[cfg(feature = "dynamo")]
pub mod dynamo;
pub mod memory;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use ledger::decide::approval::ApprovalStatus;
use ledger::decide::breakglass::BreakGlassStatus;
use ledger::decide::session::SessionStatus;
use ledger::{PrincipalArn, Profile, RoleArn, StreamKey, Who};

use crate::audit::AuditRecord;
use crate::fold::Views;
use crate::view::{ApprovalView, BreakGlassView, Projection, SessionView};

/// Why a views operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ViewError {
    /// The views table could not be reached, even after the SDK's retries.
    #[error("the views table is unavailable: {0}")]
    Unavailable(String),
    /// A stored row is not a valid view.
    #[error("the views table holds an invalid row {key}: {detail}")]
    Corrupt {
        /// The row's key.
        key: String,
        /// What is wrong.
        detail: String,
    },
}

/// What a conditional projection write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    /// The row now reflects the projection.
    Written,
    /// The stored row already reflects this seq or a later one; nothing changed.
    AlreadyCurrent,
}

/// Which sessions to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionIndex {
    /// A person's sessions, from any of their principals (and, for sessions opened before
    /// person keys, those of the principal).
    Owner(Who),
    /// A profile's sessions.
    Profile(Profile),
    /// Every session with this recorded status.
    Status(SessionStatus),
}

/// Which approval requests to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApprovalIndex {
    /// A requesting person's requests (before person keys: the principal's).
    Requester(Who),
    /// A profile's requests.
    Profile(Profile),
    /// Every request with this recorded status.
    Status(ApprovalStatus),
}

/// Which break-glass invocations to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BreakGlassIndex {
    /// One invoking person's invocations on one profile (before person keys: the principal's).
    InvokerProfile(Who, Profile),
    /// A profile's invocations.
    Profile(Profile),
    /// Every invocation with this recorded status.
    Status(BreakGlassStatus),
}

/// Which audit rows to list: events with `since ≤ occurred_at < until`, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditQuery {
    /// Start of the range (inclusive).
    pub since: DateTime<Utc>,
    /// End of the range (exclusive).
    pub until: DateTime<Utc>,
    /// Only events whose actor is this principal.
    pub principal: Option<PrincipalArn>,
}

/// Storage of the views. Queries return every matching row (all pages); a `status` narrows an
/// index to rows whose *recorded* status is that one (see [`crate::query`] for status at an
/// instant).
#[async_trait]
pub trait ViewStore: Send + Sync {
    /// The projection of `stream`, if any event of it was projected (consistent read).
    async fn projection(&self, stream: &StreamKey) -> Result<Option<Projection>, ViewError>;

    /// Writes `projection` unless the stored row already reflects its seq or a later one.
    async fn save(&self, projection: &Projection) -> Result<Saved, ViewError>;

    /// Writes `projection` whatever is stored (operator rebuild only).
    async fn overwrite(&self, projection: &Projection) -> Result<(), ViewError>;

    /// Writes audit rows; writing a row again is a no-op (rows are pure functions of events).
    async fn save_audit(&self, rows: &[AuditRecord]) -> Result<(), ViewError>;

    /// Sessions by index, optionally with one recorded status.
    async fn sessions(
        &self,
        index: &SessionIndex,
        status: Option<SessionStatus>,
    ) -> Result<Vec<SessionView>, ViewError>;

    /// Revoked sessions of `role` whose revocation is at or after `since`, oldest revocation
    /// first. Served by the revocations index (role, then time of revocation): its cost grows
    /// with the sessions revoked since `since`, never with older revocations.
    async fn revoked_since(&self, role: &RoleArn, since: DateTime<Utc>) -> Result<Vec<SessionView>, ViewError>;

    /// Approval requests by index, optionally with one recorded status.
    async fn approvals(
        &self,
        index: &ApprovalIndex,
        status: Option<ApprovalStatus>,
    ) -> Result<Vec<ApprovalView>, ViewError>;

    /// Break-glass invocations by index, optionally with one recorded status.
    async fn break_glass(
        &self,
        index: &BreakGlassIndex,
        status: Option<BreakGlassStatus>,
    ) -> Result<Vec<BreakGlassView>, ViewError>;

    /// Audit rows in a time range, optionally of one principal.
    async fn audit(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, ViewError>;

    /// Every stored view (operator rebuild only: a full read of the table).
    async fn dump(&self) -> Result<Views, ViewError>;
}
