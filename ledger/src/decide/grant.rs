//! Grants and the sessions resting on them: an approval or a break-glass lists, on its own
//! stream, every session opened on it (`GrantUsed`); ending the grant revokes those still live,
//! and revoking one of them ends the grant (DESIGN §2). Pure: the command path reads the grant's
//! stream and the sessions' streams, these functions say what to append.

use chrono::{DateTime, Utc};

use super::approval::{ApprovalCommand, ApprovalState, ApprovalStatus};
use super::breakglass::{BreakGlassCommand, BreakGlassState, BreakGlassStatus};
use super::session::{SessionCommand, SessionState};
use super::{Aggregate, DomainError};
use crate::event::{ApprovalRevoked, Basis, BreakGlassClosed, Event, GrantUsed, SessionRevoked};
use crate::ids::{PrincipalArn, SessionId, StreamKey};
use crate::record::RecordedEvent;

/// The sessions a grant's stream lists, in the order they were opened, each once.
pub fn sessions_resting_on(grant: &[RecordedEvent]) -> Vec<SessionId> {
    let mut sessions = Vec::new();
    for e in grant {
        if let Event::GrantUsed(GrantUsed { session_id }) = &e.event {
            if !sessions.contains(session_id) {
                sessions.push(*session_id);
            }
        }
    }
    sessions
}

/// What a session rests on now: the basis of its latest refresh, else of its opening.
pub fn session_basis(session: &[RecordedEvent]) -> Option<Basis> {
    session.iter().rev().find_map(|e| match &e.event {
        Event::CredentialsRefreshed(r) => Some(r.basis),
        Event::AccessDecided(d) => Some(d.basis),
        _ => None,
    })
}

/// The stream of the grant a basis names (`None` for the policy alone).
pub fn grant_stream(basis: Basis) -> Option<StreamKey> {
    match basis {
        Basis::Policy => None,
        Basis::Approval(id) => Some(StreamKey::Approval(id)),
        Basis::BreakGlass(id) => Some(StreamKey::BreakGlass(id)),
    }
}

/// The event that records a new session on a grant.
pub fn used_by(session: SessionId) -> Event {
    GrantUsed { session_id: session }.into()
}

/// The revocations of the sessions in `sessions` that are live at `now` (the others are
/// already revoked or expired), each with the events for its stream.
pub fn revoke_live<'a>(
    sessions: impl IntoIterator<Item = (SessionId, &'a SessionState)>,
    revoked: &SessionRevoked,
    now: DateTime<Utc>,
) -> Vec<(SessionId, Vec<Event>)> {
    sessions
        .into_iter()
        .filter(|(_, state)| state.live_at(now).is_some())
        .filter_map(|(id, state)| {
            let events = state.decide(&SessionCommand::Revoke(revoked.clone()), now).ok()?;
            Some((id, events))
        })
        .collect()
}

/// What ending a grant because one of its sessions was revoked appends to the grant's stream:
/// `ApprovalRevoked` or `BreakGlassClosed` naming the session, or nothing when the grant has
/// already ended (or expired).
pub fn end_for_session(
    grant: &StreamKey,
    events: &[RecordedEvent],
    session: SessionId,
    by: &PrincipalArn,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Event>, DomainError> {
    match grant {
        StreamKey::Approval(_) => {
            let state = ApprovalState::fold_recorded(events);
            if state.status_at(now) != Some(ApprovalStatus::Approved) {
                return Ok(Vec::new());
            }
            let revoked = ApprovalRevoked { by: by.clone(), reason: reason.to_owned(), session_id: Some(session) };
            state.decide(&ApprovalCommand::Revoke(revoked), now)
        }
        StreamKey::BreakGlass(_) => {
            let state = BreakGlassState::fold_recorded(events);
            if state.status_at(now) != Some(BreakGlassStatus::Active) {
                return Ok(Vec::new());
            }
            let closed = BreakGlassClosed { by: by.clone(), reason: reason.to_owned(), session_id: Some(session) };
            state.decide(&BreakGlassCommand::Close(closed), now)
        }
        _ => Err(DomainError::Invalid("only approvals and break-glass are grants")),
    }
}

/// Whether `events` (a grant's decided events) end a grant that was usable: an approved request
/// revoked or cancelled, an active break-glass closed.
pub fn ends_grant(before: GrantStatus, events: &[Event]) -> bool {
    before == GrantStatus::Usable
        && events
            .iter()
            .any(|e| matches!(e, Event::ApprovalRevoked(_) | Event::ApprovalCancelled(_) | Event::BreakGlassClosed(_)))
}

/// Whether a grant could carry sessions when a command was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantStatus {
    /// Approved (unexpired) or an active break-glass.
    Usable,
    /// Pending, ended or expired.
    NotUsable,
}

impl GrantStatus {
    /// The status of an approval at `now`.
    pub fn of_approval(state: &ApprovalState, now: DateTime<Utc>) -> GrantStatus {
        if state.status_at(now) == Some(ApprovalStatus::Approved) {
            GrantStatus::Usable
        } else {
            GrantStatus::NotUsable
        }
    }

    /// The status of a break-glass at `now`.
    pub fn of_break_glass(state: &BreakGlassState, now: DateTime<Utc>) -> GrantStatus {
        if state.status_at(now) == Some(BreakGlassStatus::Active) {
            GrantStatus::Usable
        } else {
            GrantStatus::NotUsable
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::session::tests::{active, revoked, t};
    use crate::ids::{Actor, ApprovalId, EventId};

    fn recorded(stream: &StreamKey, seq: u64, event: Event) -> RecordedEvent {
        RecordedEvent {
            stream: stream.clone(),
            seq,
            event_id: EventId::generate(),
            occurred_at: t(0),
            actor: Actor::System,
            person: None,
            correlation_id: "c".into(),
            event,
            hash: String::new(),
        }
    }

    #[test]
    fn a_grant_lists_each_session_opened_on_it_once() {
        let grant = StreamKey::Approval(ApprovalId::generate());
        let (a, b) = (SessionId::generate(), SessionId::generate());
        let events = [used_by(a), used_by(b), used_by(a)];
        let stream: Vec<_> = events.into_iter().enumerate().map(|(i, e)| recorded(&grant, i as u64 + 1, e)).collect();
        assert_eq!(sessions_resting_on(&stream), [a, b]);
    }

    #[test]
    fn only_live_sessions_are_revoked() {
        let live = SessionState::fold(&active());
        let mut history = active();
        history.push(revoked().into());
        let dead = SessionState::fold(&history);
        let (a, b) = (SessionId::generate(), SessionId::generate());
        let done = revoke_live([(a, &live), (b, &dead)], &revoked(), t(1));
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].0, a);
        assert!(matches!(done[0].1.as_slice(), [Event::SessionRevoked(_)]));
        // Past its end a session is expired, not revoked.
        assert!(revoke_live([(a, &live)], &revoked(), t(480)).is_empty());
    }

    #[test]
    fn a_session_rests_on_the_basis_of_its_latest_refresh() {
        let session = StreamKey::Session(SessionId::generate());
        let approval = ApprovalId::generate();
        let mut events: Vec<RecordedEvent> =
            active().into_iter().enumerate().map(|(i, e)| recorded(&session, i as u64 + 1, e)).collect();
        assert_eq!(session_basis(&events), Some(Basis::Policy));
        let refreshed = crate::event::CredentialsRefreshed {
            access_key_id: "ASIANEXT".into(),
            expiration: t(30),
            basis: Basis::Approval(approval),
        };
        events.push(recorded(&session, 4, refreshed.into()));
        assert_eq!(session_basis(&events), Some(Basis::Approval(approval)));
        assert_eq!(grant_stream(Basis::Approval(approval)), Some(StreamKey::Approval(approval)));
        assert_eq!(grant_stream(Basis::Policy), None);
    }
}
