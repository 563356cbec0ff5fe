//! The `GrantReader` over the views and the ledger: candidates are found through the views'
//! indexes, then confirmed on the ledger (consistent read) so a cancel, close or expiry that
//! the projector has not caught up with is never overtaken. A break-glass is found from the
//! ledger alone: the person's guard stream names it.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ledger::decide::approval::{ApprovalState, ApprovalStatus};
use ledger::decide::breakglass::BreakGlassState;
use ledger::decide::grant::sessions_resting_on;
use ledger::store::{load, EventStore};
use ledger::{Basis, Event, Profile, StreamKey, Who};
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

/// The guard streams that may name a person's latest break-glass on a profile: the person's,
/// and the principal's guard as written before person keys.
pub fn break_glass_guards(who: &Who, profile: &Profile) -> Vec<StreamKey> {
    let mut guards = Vec::new();
    if let Some(person) = &who.person {
        guards.push(StreamKey::BreakGlassGuard { profile: profile.clone(), person: person.clone() });
    }
    guards.push(StreamKey::LegacyBreakGlassGuard { profile: profile.clone(), principal: who.principal.clone() });
    guards
}

#[async_trait]
impl GrantReader for LedgerGrants {
    async fn approval(&self, who: &Who, profile: &Profile, now: DateTime<Utc>) -> Result<ApprovalLookup, GrantError> {
        let candidates =
            self.views.approvals(&ApprovalIndex::Requester(who.clone()), None).await.map_err(unavailable)?;
        let mut pending = None;
        let mut best: Option<ActiveGrant> = None;
        let mut candidates: Vec<_> = candidates
            .into_iter()
            .filter(|v| &v.request.profile == profile)
            .filter(|v| matches!(v.status, ApprovalStatus::Pending | ApprovalStatus::Approved))
            .collect();
        candidates.sort_by_key(|v| std::cmp::Reverse(v.approval_id));
        for view in candidates {
            let stream = StreamKey::Approval(view.approval_id);
            let loaded = load::<ApprovalState>(self.ledger.as_ref(), &stream).await.map_err(unavailable)?;
            if loaded.state.grants(who, profile, now) {
                let Some(until) = loaded.state.usable_until(now) else { continue };
                // The grant with the most time left wins.
                if best.as_ref().is_none_or(|b| until > b.expires_at) {
                    best = Some(ActiveGrant {
                        basis: Basis::Approval(view.approval_id),
                        stream,
                        sessions: sessions_resting_on(&loaded.events),
                        head: loaded.head,
                        expires_at: until,
                    });
                }
            } else if pending.is_none() && loaded.state.is_pending(now) {
                pending = Some(view.approval_id);
            }
        }
        Ok(match (best, pending) {
            (Some(grant), _) => ApprovalLookup::Granted(grant),
            (None, Some(id)) => ApprovalLookup::Pending(id),
            (None, None) => ApprovalLookup::Nothing,
        })
    }

    async fn break_glass(
        &self,
        who: &Who,
        profile: &Profile,
        now: DateTime<Utc>,
    ) -> Result<Option<ActiveGrant>, GrantError> {
        // The guard streams name the latest invocations exactly, whatever the view lag.
        let mut best: Option<ActiveGrant> = None;
        for guard in break_glass_guards(who, profile) {
            let stored = self.ledger.read_stream(&guard, 1).await.map_err(unavailable)?;
            let Some(last) = stored.last() else { continue };
            let Event::BreakGlassReserved(reserved) = last.decode().map_err(unavailable)?.event else { continue };
            let stream = StreamKey::BreakGlass(reserved.breakglass_id);
            let loaded = load::<BreakGlassState>(self.ledger.as_ref(), &stream).await.map_err(unavailable)?;
            if !loaded.state.covers(who, profile, now) {
                continue;
            }
            let BreakGlassState::Known { invoked, .. } = &loaded.state else { continue };
            if best.as_ref().is_none_or(|b| invoked.expires_at > b.expires_at) {
                best = Some(ActiveGrant {
                    basis: Basis::BreakGlass(reserved.breakglass_id),
                    stream,
                    sessions: sessions_resting_on(&loaded.events),
                    head: loaded.head.clone(),
                    expires_at: invoked.expires_at,
                });
            }
        }
        Ok(best)
    }
}
