//! The `GrantReader` over the ledger: a person's guard streams name their approvals and
//! break-glass for a profile, so a grant is usable the moment its call returns, whatever the
//! view lag; every grant is read with a consistent Query, so a cancel, close or expiry is never
//! overtaken. Only requests made before approval guards existed are found through the views.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ledger::command::read_stream;
use ledger::decide::approval::{reservations, ApprovalState, ApprovalStatus};
use ledger::decide::breakglass::BreakGlassState;
use ledger::decide::grant::sessions_resting_on;
use ledger::store::{load, EventStore};
use ledger::{ApprovalId, Basis, Event, Profile, StreamKey, Who};
use projections::{ApprovalIndex, ViewStore};

use crate::ports::{ActiveGrant, ApprovalLookup, GrantError, GrantReader};

/// Grants read from the ledger (and, for requests older than approval guards, the views).
pub struct LedgerGrants {
    pub views: Arc<dyn ViewStore>,
    pub ledger: Arc<dyn EventStore>,
}

impl LedgerGrants {
    /// Of `candidates` (newest first), the approval granting `who` the profile with the most
    /// time left; else the newest pending one.
    async fn best(
        &self,
        who: &Who,
        profile: &Profile,
        candidates: Vec<ApprovalId>,
        now: DateTime<Utc>,
    ) -> Result<ApprovalLookup, GrantError> {
        let mut pending = None;
        let mut best: Option<ActiveGrant> = None;
        for id in candidates {
            let stream = StreamKey::Approval(id);
            let loaded = load::<ApprovalState>(self.ledger.as_ref(), &stream).await.map_err(unavailable)?;
            match loaded.state.usable_until(now) {
                Some(until)
                    if loaded.state.grants(who, profile, now) && best.as_ref().is_none_or(|b| until > b.expires_at) =>
                {
                    best = Some(ActiveGrant {
                        basis: Basis::Approval(id),
                        stream,
                        sessions: sessions_resting_on(&loaded.events),
                        head: loaded.head,
                        expires_at: until,
                    });
                }
                _ if pending.is_none() && loaded.state.is_pending(now) => pending = Some(id),
                _ => {}
            }
        }
        Ok(match (best, pending) {
            (Some(grant), _) => ApprovalLookup::Granted(grant),
            (None, Some(id)) => ApprovalLookup::Pending(id),
            (None, None) => ApprovalLookup::Nothing,
        })
    }
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
    /// The person's approvals for the profile, from their approval guard (one consistent Query)
    /// and the requests it names that could still grant (one Query each, usually one): never
    /// from the views. A person with no guard yet is looked up, for requests made before
    /// approval guards existed, through the views' principal index, and confirmed on the ledger.
    async fn approval(&self, who: &Who, profile: &Profile, now: DateTime<Utc>) -> Result<ApprovalLookup, GrantError> {
        let mut candidates: Vec<ApprovalId> = Vec::new();
        if let Some(person) = &who.person {
            let guard = StreamKey::ApprovalGuard { profile: profile.clone(), person: person.clone() };
            let guard = read_stream(self.ledger.as_ref(), &guard).await.map_err(unavailable)?;
            candidates = reservations(&guard.events)
                .into_iter()
                .rev()
                .filter(|r| r.could_grant_until() > now)
                .map(|r| r.approval_id)
                .collect();
            if !guard.events.is_empty() {
                return self.best(who, profile, candidates, now).await;
            }
        }
        let legacy = Who { principal: who.principal.clone(), person: None };
        let mut rows: Vec<_> = self
            .views
            .approvals(&ApprovalIndex::Requester(legacy), None)
            .await
            .map_err(unavailable)?
            .into_iter()
            .filter(|v| &v.request.profile == profile)
            .filter(|v| matches!(v.status, ApprovalStatus::Pending | ApprovalStatus::Approved))
            .map(|v| v.approval_id)
            .collect();
        rows.sort_by_key(|id| std::cmp::Reverse(*id));
        candidates.extend(rows);
        self.best(who, profile, candidates, now).await
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
