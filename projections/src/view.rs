//! The views as values: one [`Projection`] per ledger stream (its head and, for sessions,
//! approvals and break-glass, the view), each advanced by the ledger's own deciders' `evolve`.
//!
//! A view holds exactly what its decider state holds, plus instants taken from the events'
//! envelopes, so a view converts back into the decider state without loss: the view + tail
//! reader folds new events into a stored view with the same code the writers decide with.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use ledger::decide::approval::{ApprovalRecord, ApprovalState, ApprovalStatus};
use ledger::decide::breakglass::{BreakGlassState, BreakGlassStatus};
use ledger::decide::session::{LiveSession, SessionState, SessionStatus};
use ledger::event::{
    AccessDecided, ApprovalRequested, BreakGlassInvoked, CredentialsIssued, CredentialsRequested, SessionRevoked,
};
use ledger::{
    Aggregate, ApprovalId, BreakGlassId, PersonKey, PrincipalArn, Profile, RecordedEvent, RoleArn, SessionId,
    StreamHead, StreamKey, Who,
};

/// A stored view that cannot be a decider state (a hand-edited or corrupted row).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {view} view of {id} is inconsistent: {detail}")]
pub struct Inconsistent {
    /// Which kind of view.
    pub view: &'static str,
    /// The object's id.
    pub id: String,
    /// What does not fit.
    pub detail: &'static str,
}

/// Why an event cannot be folded into a projection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// The event is not the next one of this stream (a gap, a duplicate or a reordering).
    #[error("stream {stream}: expected seq {expected}, got seq {found}")]
    OutOfSequence {
        /// The stream.
        stream: String,
        /// The seq that must come next.
        expected: u64,
        /// The seq offered.
        found: u64,
    },
    /// The event belongs to another stream.
    #[error("an event of stream {found} was offered to stream {stream}")]
    WrongStream {
        /// The projection's stream.
        stream: String,
        /// The event's stream.
        found: String,
    },
    /// The stored view could not become a decider state.
    #[error(transparent)]
    Inconsistent(#[from] Inconsistent),
}

/// A session: the vend that opened it and what happened since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionView {
    /// The session.
    pub session_id: SessionId,
    /// The recorded status; `None` while no credentials were issued (denied, or approval
    /// required). Use [`SessionView::status_at`] for the status at an instant.
    pub status: Option<SessionStatus>,
    /// The request (principal, user id, profile, reason).
    pub request: CredentialsRequested,
    /// The person the session belongs to (the request's `person`; `None` for sessions opened
    /// before person keys).
    #[serde(default)]
    pub person: Option<PersonKey>,
    /// The decision on the request.
    pub decision: AccessDecided,
    /// The issuance (role, SourceIdentity, access key id, token hash, session end).
    pub issued: Option<CredentialsIssued>,
    /// Expiration of the newest credentials (issued or refreshed).
    pub credentials_expire_at: Option<DateTime<Utc>>,
    /// How many times the credentials were refreshed.
    pub refreshes: u32,
    /// The revocation, once revoked.
    pub revoked: Option<SessionRevoked>,
    /// When the request was recorded.
    pub requested_at: DateTime<Utc>,
    /// When credentials were first issued.
    pub issued_at: Option<DateTime<Utc>>,
    /// When the credentials were last refreshed.
    pub last_refresh_at: Option<DateTime<Utc>>,
    /// When the session was revoked or recorded as expired.
    pub ended_at: Option<DateTime<Utc>>,
}

impl SessionView {
    /// The caller the session belongs to.
    pub fn principal(&self) -> &PrincipalArn {
        &self.request.principal
    }

    /// The caller the session belongs to, as a person.
    pub fn owner(&self) -> Who {
        Who { principal: self.request.principal.clone(), person: self.person.clone() }
    }

    /// The profile the session is for.
    pub fn profile(&self) -> &Profile {
        &self.request.profile
    }

    /// The protected role the credentials are for.
    pub fn role_arn(&self) -> Option<&RoleArn> {
        self.issued.as_ref().map(|i| &i.role_arn)
    }

    /// The SourceIdentity the credentials carry.
    pub fn source_identity(&self) -> Option<&str> {
        self.issued.as_ref().map(|i| i.source_identity.as_str())
    }

    /// SHA-256 (hex) of the session token.
    pub fn token_hash(&self) -> Option<&str> {
        self.issued.as_ref().map(|i| i.token_hash.as_str())
    }

    /// After this instant the session can no longer be refreshed.
    pub fn session_ends_at(&self) -> Option<DateTime<Utc>> {
        self.issued.as_ref().map(|i| i.session_ends_at)
    }

    /// The status at `now`, exactly as the session decider sees it.
    pub fn status_at(&self, now: DateTime<Utc>) -> Option<SessionStatus> {
        self.state().ok().and_then(|s| s.status_at(now))
    }

    /// The session decider's state this view reflects.
    pub fn state(&self) -> Result<SessionState, Inconsistent> {
        self.clone().into_state()
    }

    fn into_state(self) -> Result<SessionState, Inconsistent> {
        let bad = |detail| Inconsistent { view: "session", id: self.session_id.to_string(), detail };
        let Some(status) = self.status else {
            return Ok(SessionState::Decided { request: self.request, decision: self.decision });
        };
        let (Some(issued), Some(credentials_expire_at)) = (self.issued.clone(), self.credentials_expire_at) else {
            return Err(bad("a status without an issuance"));
        };
        let live = Box::new(LiveSession {
            request: self.request,
            decision: self.decision,
            issued,
            credentials_expire_at,
            refreshes: self.refreshes,
        });
        Ok(match (status, self.revoked) {
            (SessionStatus::Active, _) => SessionState::Active(live),
            (SessionStatus::Expired, _) => SessionState::Expired(live),
            (SessionStatus::Revoked, Some(revoked)) => SessionState::Revoked { session: live, revoked },
            (SessionStatus::Revoked, None) => {
                return Err(Inconsistent {
                    view: "session",
                    id: self.session_id.to_string(),
                    detail: "revoked without a revocation",
                })
            }
        })
    }

    fn from_state(id: SessionId, state: SessionState, times: SessionTimes) -> Option<SessionView> {
        let view = |status, request, decision, live: Option<Box<LiveSession>>, revoked| {
            let (issued, credentials_expire_at, refreshes) = match live {
                Some(l) => (Some(l.issued), Some(l.credentials_expire_at), l.refreshes),
                None => (None, None, 0),
            };
            Some(SessionView {
                session_id: id,
                status,
                request,
                person: times.person.clone(),
                decision,
                issued,
                credentials_expire_at,
                refreshes,
                revoked,
                requested_at: times.requested_at?,
                issued_at: times.issued_at,
                last_refresh_at: times.last_refresh_at,
                ended_at: times.ended_at,
            })
        };
        match state {
            SessionState::Unknown => None,
            SessionState::Decided { request, decision } => view(None, request, decision, None, None),
            SessionState::Active(l) => {
                let (request, decision) = (l.request.clone(), l.decision.clone());
                view(Some(SessionStatus::Active), request, decision, Some(l), None)
            }
            SessionState::Expired(l) => {
                let (request, decision) = (l.request.clone(), l.decision.clone());
                view(Some(SessionStatus::Expired), request, decision, Some(l), None)
            }
            SessionState::Revoked { session, revoked } => {
                let (request, decision) = (session.request.clone(), session.decision.clone());
                view(Some(SessionStatus::Revoked), request, decision, Some(session), Some(revoked))
            }
        }
    }

    fn times(&self) -> SessionTimes {
        SessionTimes {
            person: self.person.clone(),
            requested_at: Some(self.requested_at),
            issued_at: self.issued_at,
            last_refresh_at: self.last_refresh_at,
            ended_at: self.ended_at,
        }
    }
}

/// What a session view keeps from the envelopes: the requesting person and the instants.
#[derive(Debug, Clone, Default)]
struct SessionTimes {
    person: Option<PersonKey>,
    requested_at: Option<DateTime<Utc>>,
    issued_at: Option<DateTime<Utc>>,
    last_refresh_at: Option<DateTime<Utc>>,
    ended_at: Option<DateTime<Utc>>,
}

/// An approval request and the approvals it has gathered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalView {
    /// The request.
    pub approval_id: ApprovalId,
    /// The recorded status; use [`ApprovalView::status_at`] for the status at an instant.
    pub status: ApprovalStatus,
    /// Requester, profile, justification, window end and quorum.
    pub request: ApprovalRequested,
    /// The requester's person (`None` for requests recorded before person keys).
    #[serde(default)]
    pub requester_person: Option<PersonKey>,
    /// Distinct approving persons who granted so far, in order (rows written before person
    /// keys hold bare ARNs, read as persons unknown).
    pub approvers: Vec<Who>,
    /// Until when an approved request is usable (`None` while pending, and for approvals
    /// granted before the window ran from the grant).
    #[serde(default)]
    pub usable_until: Option<DateTime<Utc>>,
    /// When the request was recorded.
    pub requested_at: DateTime<Utc>,
    /// When the status last changed after the request.
    pub decided_at: Option<DateTime<Utc>>,
}

impl ApprovalView {
    /// The status at `now`, exactly as the approval decider sees it.
    pub fn status_at(&self, now: DateTime<Utc>) -> ApprovalStatus {
        self.state().status_at(now).unwrap_or(self.status)
    }

    /// The approval decider's state this view reflects.
    pub fn state(&self) -> ApprovalState {
        ApprovalState::Known(Box::new(ApprovalRecord {
            request: self.request.clone(),
            requester_person: self.requester_person.clone(),
            approvers: self.approvers.clone(),
            status: self.status,
            usable_until: self.usable_until,
        }))
    }

    /// The requester as a person.
    pub fn requester(&self) -> Who {
        Who { principal: self.request.requester.clone(), person: self.requester_person.clone() }
    }
}

/// A break-glass invocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakGlassView {
    /// The invocation.
    pub breakglass_id: BreakGlassId,
    /// The recorded status; use [`BreakGlassView::status_at`] for the status at an instant.
    pub status: BreakGlassStatus,
    /// Invoker, profile, reason code, justification and expiry.
    pub invoked: BreakGlassInvoked,
    /// The invoker's person (`None` for invocations recorded before person keys).
    #[serde(default)]
    pub invoker_person: Option<PersonKey>,
    /// When it was invoked.
    pub invoked_at: DateTime<Utc>,
    /// When it was closed or recorded as expired.
    pub ended_at: Option<DateTime<Utc>>,
}

impl BreakGlassView {
    /// The status at `now`, exactly as the break-glass decider sees it.
    pub fn status_at(&self, now: DateTime<Utc>) -> BreakGlassStatus {
        self.state().status_at(now).unwrap_or(self.status)
    }

    /// The break-glass decider's state this view reflects.
    pub fn state(&self) -> BreakGlassState {
        BreakGlassState::Known {
            invoked: Box::new(self.invoked.clone()),
            invoker_person: self.invoker_person.clone(),
            status: self.status,
        }
    }

    /// The invoker as a person.
    pub fn invoker(&self) -> Who {
        Who { principal: self.invoked.invoker.clone(), person: self.invoker_person.clone() }
    }
}

/// The view of one stream, by the stream's kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "view", rename_all = "snake_case")]
pub enum View {
    /// A session stream.
    Session(Box<SessionView>),
    /// An approval stream.
    Approval(Box<ApprovalView>),
    /// A break-glass stream.
    BreakGlass(Box<BreakGlassView>),
    /// A stream with no view of its own (policy, guard), or one whose first event opened
    /// nothing: only its head is kept.
    HeadOnly,
}

/// One stream's head (seq and hash of its last event) and view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Projection {
    /// The stream.
    pub stream: StreamKey,
    /// Seq and hash of the last event folded in (`last_seq`).
    pub head: StreamHead,
    /// The view.
    pub view: View,
}

impl Projection {
    /// The projection of a stream with no events.
    pub fn empty(stream: StreamKey) -> Self {
        Projection { stream, head: StreamHead::genesis(), view: View::HeadOnly }
    }

    /// The seq of the last event folded in.
    pub fn last_seq(&self) -> u64 {
        self.head.seq
    }

    /// Folds the next event of this stream in, through the stream's decider.
    pub fn apply(&mut self, event: &RecordedEvent) -> Result<(), ApplyError> {
        if event.stream != self.stream {
            return Err(ApplyError::WrongStream { stream: self.stream.to_string(), found: event.stream.to_string() });
        }
        let expected = self.head.seq + 1;
        if event.seq != expected {
            return Err(ApplyError::OutOfSequence { stream: self.stream.to_string(), expected, found: event.seq });
        }
        let view = std::mem::replace(&mut self.view, View::HeadOnly);
        self.view = match &self.stream {
            StreamKey::Session(id) => next_session(*id, view, event)?,
            StreamKey::Approval(id) => next_approval(*id, view, event),
            StreamKey::BreakGlass(id) => next_break_glass(*id, view, event),
            _ => View::HeadOnly,
        };
        self.head = StreamHead { seq: event.seq, hash: event.hash.clone() };
        Ok(())
    }

    /// The session view, if this is a session stream that has one.
    pub fn session(&self) -> Option<&SessionView> {
        match &self.view {
            View::Session(s) => Some(s),
            _ => None,
        }
    }

    /// The approval view, if this is an approval stream that has one.
    pub fn approval(&self) -> Option<&ApprovalView> {
        match &self.view {
            View::Approval(a) => Some(a),
            _ => None,
        }
    }

    /// The break-glass view, if this is a break-glass stream that has one.
    pub fn break_glass(&self) -> Option<&BreakGlassView> {
        match &self.view {
            View::BreakGlass(b) => Some(b),
            _ => None,
        }
    }
}

/// Which stage a session state is at, to tell what an event changed.
fn session_stage(state: &SessionState) -> (u8, u32) {
    match state {
        SessionState::Unknown => (0, 0),
        SessionState::Decided { .. } => (1, 0),
        SessionState::Active(l) => (2, l.refreshes),
        SessionState::Revoked { .. } | SessionState::Expired(_) => (3, 0),
    }
}

fn next_session(id: SessionId, view: View, event: &RecordedEvent) -> Result<View, Inconsistent> {
    let (state, mut times) = match view {
        View::Session(v) => {
            let times = v.times();
            (v.into_state()?, times)
        }
        _ => (SessionState::Unknown, SessionTimes::default()),
    };
    let before = session_stage(&state);
    let state = state.evolve_by(&event.event, event.person.as_ref());
    let after = session_stage(&state);
    let at = event.occurred_at;
    match (before, after) {
        ((0, _), (1, _)) => {
            times.requested_at = Some(at);
            times.person = event.person.clone();
        }
        ((1, _), (2, _)) => times.issued_at = Some(at),
        ((2, old), (2, new)) if new != old => times.last_refresh_at = Some(at),
        ((2, _), (3, _)) => times.ended_at = Some(at),
        _ => {}
    }
    Ok(SessionView::from_state(id, state, times).map_or(View::HeadOnly, |v| View::Session(Box::new(v))))
}

fn next_approval(id: ApprovalId, view: View, event: &RecordedEvent) -> View {
    let (state, requested_at, decided_at) = match view {
        View::Approval(v) => {
            let ApprovalView {
                request,
                requester_person,
                approvers,
                status,
                usable_until,
                requested_at,
                decided_at,
                ..
            } = *v;
            let record = ApprovalRecord { request, requester_person, approvers, status, usable_until };
            (ApprovalState::Known(Box::new(record)), Some(requested_at), decided_at)
        }
        _ => (ApprovalState::Unknown, None, None),
    };
    let before = approval_stage(&state);
    let state = state.evolve_by(&event.event, event.person.as_ref());
    let after = approval_stage(&state);
    let (requested_at, decided_at) = match (before, after) {
        (None, Some(_)) => (Some(event.occurred_at), decided_at),
        (Some(b), Some(a)) if a != b => (requested_at, Some(event.occurred_at)),
        _ => (requested_at, decided_at),
    };
    match (state, requested_at) {
        (ApprovalState::Known(r), Some(requested_at)) => View::Approval(Box::new(ApprovalView {
            approval_id: id,
            status: r.status,
            request: r.request,
            requester_person: r.requester_person,
            approvers: r.approvers,
            usable_until: r.usable_until,
            requested_at,
            decided_at,
        })),
        _ => View::HeadOnly,
    }
}

fn approval_stage(state: &ApprovalState) -> Option<ApprovalStatus> {
    match state {
        ApprovalState::Unknown => None,
        ApprovalState::Known(r) => Some(r.status),
    }
}

fn next_break_glass(id: BreakGlassId, view: View, event: &RecordedEvent) -> View {
    let (state, invoked_at, ended_at) = match view {
        View::BreakGlass(v) => {
            let BreakGlassView { invoked, invoker_person, status, invoked_at, ended_at, .. } = *v;
            (BreakGlassState::Known { invoked: Box::new(invoked), invoker_person, status }, Some(invoked_at), ended_at)
        }
        _ => (BreakGlassState::Unknown, None, None),
    };
    let before = break_glass_stage(&state);
    let state = state.evolve_by(&event.event, event.person.as_ref());
    let after = break_glass_stage(&state);
    let (invoked_at, ended_at) = match (before, after) {
        (None, Some(_)) => (Some(event.occurred_at), ended_at),
        (Some(b), Some(a)) if a != b => (invoked_at, Some(event.occurred_at)),
        _ => (invoked_at, ended_at),
    };
    match (state, invoked_at) {
        (BreakGlassState::Known { invoked, invoker_person, status }, Some(invoked_at)) => {
            View::BreakGlass(Box::new(BreakGlassView {
                breakglass_id: id,
                status,
                invoked: *invoked,
                invoker_person,
                invoked_at,
                ended_at,
            }))
        }
        _ => View::HeadOnly,
    }
}

fn break_glass_stage(state: &BreakGlassState) -> Option<BreakGlassStatus> {
    match state {
        BreakGlassState::Unknown => None,
        BreakGlassState::Known { status, .. } => Some(*status),
    }
}
