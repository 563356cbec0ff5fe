//! Queries by status *at an instant*: a recorded `active` session past its end is expired
//! before `SessionExpired` is written, so "expired" also reads the recorded-active rows and
//! keeps those the decider calls expired. Each query still goes through one index per status.

use chrono::{DateTime, Utc};

use ledger::decide::approval::ApprovalStatus;
use ledger::decide::breakglass::BreakGlassStatus;
use ledger::decide::session::SessionStatus;
use ledger::{Profile, Who};

use crate::store::{ApprovalIndex, BreakGlassIndex, SessionIndex, ViewError, ViewStore};
use crate::view::{ApprovalView, BreakGlassView, SessionView};

/// Sessions by index whose status at `now` is `status` (every status when `None`).
pub async fn sessions_at(
    store: &dyn ViewStore,
    index: &SessionIndex,
    status: Option<SessionStatus>,
    now: DateTime<Utc>,
) -> Result<Vec<SessionView>, ViewError> {
    let recorded: &[Option<SessionStatus>] = match status {
        None => &[None],
        Some(SessionStatus::Active) => &[Some(SessionStatus::Active)],
        Some(SessionStatus::Revoked) => &[Some(SessionStatus::Revoked)],
        Some(SessionStatus::Expired) => &[Some(SessionStatus::Expired), Some(SessionStatus::Active)],
    };
    let mut found = Vec::new();
    for r in recorded {
        let index = match (index, r) {
            // On the status index the status is the partition itself.
            (SessionIndex::Status(_), Some(r)) => SessionIndex::Status(*r),
            (index, _) => index.clone(),
        };
        let rows = store.sessions(&index, *r).await?;
        found.extend(rows.into_iter().filter(|s| status.is_none() || s.status_at(now) == status));
    }
    Ok(found)
}

/// Approval requests by index whose status at `now` is `status` (every status when `None`).
pub async fn approvals_at(
    store: &dyn ViewStore,
    index: &ApprovalIndex,
    status: Option<ApprovalStatus>,
    now: DateTime<Utc>,
) -> Result<Vec<ApprovalView>, ViewError> {
    use ApprovalStatus::*;
    let recorded: &[Option<ApprovalStatus>] = match status {
        None => &[None],
        Some(Expired) => &[Some(Expired), Some(Pending), Some(Approved)],
        Some(Pending) => &[Some(Pending)],
        Some(Approved) => &[Some(Approved)],
        Some(Denied) => &[Some(Denied)],
        Some(Cancelled) => &[Some(Cancelled)],
        Some(Revoked) => &[Some(Revoked)],
    };
    let mut found = Vec::new();
    for r in recorded {
        let index = match (index, r) {
            (ApprovalIndex::Status(_), Some(r)) => ApprovalIndex::Status(*r),
            (index, _) => index.clone(),
        };
        let rows = store.approvals(&index, *r).await?;
        found.extend(rows.into_iter().filter(|a| status.is_none_or(|s| a.status_at(now) == s)));
    }
    Ok(found)
}

/// Requests pending at `now` that `approver` may still act on: pending requests on the profiles
/// whose policy names them an approver (the caller resolves those from the policies), minus their
/// own requests (as a person, from any principal) and those they already granted.
pub async fn pending_for_approver(
    store: &dyn ViewStore,
    approver: &Who,
    profiles: &[Profile],
    now: DateTime<Utc>,
) -> Result<Vec<ApprovalView>, ViewError> {
    let mut found = Vec::new();
    for profile in profiles {
        let rows =
            approvals_at(store, &ApprovalIndex::Profile(profile.clone()), Some(ApprovalStatus::Pending), now).await?;
        found.extend(
            rows.into_iter().filter(|a| !a.requester().is(approver) && !a.approvers.iter().any(|g| g.is(approver))),
        );
    }
    Ok(found)
}

/// Break-glass invocations by index whose status at `now` is `status` (every status when `None`).
pub async fn break_glass_at(
    store: &dyn ViewStore,
    index: &BreakGlassIndex,
    status: Option<BreakGlassStatus>,
    now: DateTime<Utc>,
) -> Result<Vec<BreakGlassView>, ViewError> {
    let recorded: &[Option<BreakGlassStatus>] = match status {
        None => &[None],
        Some(BreakGlassStatus::Active) => &[Some(BreakGlassStatus::Active)],
        Some(BreakGlassStatus::Closed) => &[Some(BreakGlassStatus::Closed)],
        Some(BreakGlassStatus::Expired) => &[Some(BreakGlassStatus::Expired), Some(BreakGlassStatus::Active)],
    };
    let mut found = Vec::new();
    for r in recorded {
        let index = match (index, r) {
            (BreakGlassIndex::Status(_), Some(r)) => BreakGlassIndex::Status(*r),
            (index, _) => index.clone(),
        };
        let rows = store.break_glass(&index, *r).await?;
        found.extend(rows.into_iter().filter(|b| status.is_none_or(|s| b.status_at(now) == s)));
    }
    Ok(found)
}

/// The break-glass of `invoker` on `profile` active at `now`, if any (the view may lag: a
/// security decision re-reads it with [`crate::reader::break_glass`]).
pub async fn active_break_glass(
    store: &dyn ViewStore,
    invoker: &Who,
    profile: &Profile,
    now: DateTime<Utc>,
) -> Result<Option<BreakGlassView>, ViewError> {
    let index = BreakGlassIndex::InvokerProfile(invoker.clone(), profile.clone());
    Ok(break_glass_at(store, &index, Some(BreakGlassStatus::Active), now).await?.pop())
}
