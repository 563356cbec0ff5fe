//! The `GrantReader` over the views and the ledger: candidates are found through the views'
//! indexes, then confirmed on the ledger (consistent read) so a cancel, close or expiry that
//! the projector has not caught up with is never overtaken.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ledger::decide::approval::{ApprovalState, ApprovalStatus};
use ledger::decide::breakglass::BreakGlassState;
use ledger::store::{load, EventStore};
use ledger::{Basis, Event, PrincipalArn, Profile, StreamKey};
use projections::{ApprovalIndex, ViewStore};

use crate::ports::{ActiveGrant, ApprovalLookup, GrantError, GrantReader};

/// Grants read from the views and confirmed on the ledger.
pub struct LedgerGrants {
    pub views: Arc<dyn ViewStore>,
    pub ledger: Arc<dyn EventStore>,
}

fn unavailable(e: impl std::fmt::Display) -> GrantError {
    GrantError(e.to_string())
}

#[async_trait]
impl GrantReader for LedgerGrants {
    async fn approval(
        &self,
        principal: &PrincipalArn,
        profile: &Profile,
        now: DateTime<Utc>,
    ) -> Result<ApprovalLookup, GrantError> {
        let candidates =
            self.views.approvals(&ApprovalIndex::Requester(principal.clone()), None).await.map_err(unavailable)?;
        let mut pending = None;
        // Newest first: the most recent usable approval wins.
        let mut candidates: Vec<_> = candidates
            .into_iter()
            .filter(|v| &v.request.profile == profile)
            .filter(|v| matches!(v.status, ApprovalStatus::Pending | ApprovalStatus::Approved))
            .collect();
        candidates.sort_by_key(|v| std::cmp::Reverse(v.approval_id));
        for view in candidates {
            let stream = StreamKey::Approval(view.approval_id);
            let loaded = load::<ApprovalState>(self.ledger.as_ref(), &stream).await.map_err(unavailable)?;
            if loaded.state.grants(principal, profile, now) {
                let ApprovalState::Known(record) = &loaded.state else { continue };
                return Ok(ApprovalLookup::Granted(ActiveGrant {
                    basis: Basis::Approval(view.approval_id),
                    stream,
                    seq: loaded.head.seq,
                    expires_at: record.request.expires_at,
                }));
            }
            if pending.is_none() && loaded.state.status_at(now) == Some(ApprovalStatus::Pending) {
                pending = Some(view.approval_id);
            }
        }
        Ok(pending.map_or(ApprovalLookup::Nothing, ApprovalLookup::Pending))
    }

    async fn break_glass(
        &self,
        principal: &PrincipalArn,
        profile: &Profile,
        now: DateTime<Utc>,
    ) -> Result<Option<ActiveGrant>, GrantError> {
        // The guard stream names the latest invocation exactly, whatever the view lag.
        let guard = StreamKey::BreakGlassGuard { profile: profile.clone(), principal: principal.clone() };
        let stored = self.ledger.read_stream(&guard, 1).await.map_err(unavailable)?;
        let Some(last) = stored.last() else { return Ok(None) };
        let Event::BreakGlassReserved(reserved) = last.decode().map_err(unavailable)?.event else { return Ok(None) };
        let stream = StreamKey::BreakGlass(reserved.breakglass_id);
        let loaded = load::<BreakGlassState>(self.ledger.as_ref(), &stream).await.map_err(unavailable)?;
        if !loaded.state.covers(principal, profile, now) {
            return Ok(None);
        }
        let BreakGlassState::Known { invoked, .. } = &loaded.state else { return Ok(None) };
        Ok(Some(ActiveGrant {
            basis: Basis::BreakGlass(reserved.breakglass_id),
            stream,
            seq: loaded.head.seq,
            expires_at: invoked.expires_at,
        }))
    }
}
