//! The session stream: request, decision, issuance, refreshes, then revocation or expiry.

use chrono::{DateTime, Utc};

use super::{Aggregate, DomainError};
use crate::event::{
    AccessDecided, Basis, CredentialsIssued, CredentialsRefreshed, CredentialsRequested, Effect, Event, SessionExpired,
    SessionRevoked,
};

/// What a live session is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveSession {
    pub request: CredentialsRequested,
    pub decision: AccessDecided,
    pub issued: CredentialsIssued,
    /// Expiration of the newest credentials (issued or refreshed).
    pub credentials_expire_at: DateTime<Utc>,
    pub refreshes: u32,
}

/// The state of one session stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SessionState {
    /// Nothing recorded.
    #[default]
    Unknown,
    /// A request was decided but no credentials were issued (denied, or approval required).
    Decided {
        request: CredentialsRequested,
        decision: AccessDecided,
    },
    Active(Box<LiveSession>),
    Revoked {
        session: Box<LiveSession>,
        revoked: SessionRevoked,
    },
    Expired(Box<LiveSession>),
}

/// The status the API and views show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    Active,
    Revoked,
    Expired,
}

impl SessionState {
    /// The session's status at `now`; `None` when no credentials were ever issued.
    /// An active session past its end counts as expired before `SessionExpired` is recorded.
    pub fn status_at(&self, now: DateTime<Utc>) -> Option<SessionStatus> {
        match self {
            SessionState::Unknown | SessionState::Decided { .. } => None,
            SessionState::Active(s) if now >= s.issued.session_ends_at => Some(SessionStatus::Expired),
            SessionState::Active(_) => Some(SessionStatus::Active),
            SessionState::Revoked { .. } => Some(SessionStatus::Revoked),
            SessionState::Expired(_) => Some(SessionStatus::Expired),
        }
    }

    /// The live session, if there is one at `now`.
    pub fn live_at(&self, now: DateTime<Utc>) -> Option<&LiveSession> {
        match self {
            SessionState::Active(s) if now < s.issued.session_ends_at => Some(s),
            _ => None,
        }
    }

    fn status_name(&self) -> &'static str {
        match self {
            SessionState::Unknown => "unknown",
            SessionState::Decided { .. } => "not issued",
            SessionState::Active(_) => "active",
            SessionState::Revoked { .. } => "revoked",
            SessionState::Expired(_) => "expired",
        }
    }
}

/// What may be asked of a session stream.
// Commands live for one request; boxing `Open` would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionCommand {
    /// Record a vend: the request, its decision and, when granted, the issuance.
    Open {
        request: CredentialsRequested,
        decision: AccessDecided,
        issued: Option<CredentialsIssued>,
    },
    Refresh(CredentialsRefreshed),
    Revoke(SessionRevoked),
    Expire,
}

impl Aggregate for SessionState {
    type Command = SessionCommand;

    fn decide(&self, command: &SessionCommand, now: DateTime<Utc>) -> Result<Vec<Event>, DomainError> {
        let invalid = |action| DomainError::InvalidState { what: "session", status: self.status_name(), action };
        match command {
            SessionCommand::Open { request, decision, issued } => {
                if !matches!(self, SessionState::Unknown) {
                    return Err(DomainError::AlreadyExists("session"));
                }
                let mut events = vec![Event::from(request.clone()), Event::from(decision.clone())];
                if let Some(issued) = issued {
                    if decision.effect != Effect::Allow {
                        return Err(DomainError::NotGranted);
                    }
                    if issued.expiration > issued.session_ends_at || issued.expiration <= now {
                        return Err(DomainError::Invalid("credentials must expire after now and by the session end"));
                    }
                    events.push(Event::from(issued.clone()));
                }
                Ok(events)
            }
            SessionCommand::Refresh(refreshed) => match self {
                SessionState::Active(s) => {
                    if now >= s.issued.session_ends_at {
                        return Err(DomainError::Expired("session"));
                    }
                    if refreshed.expiration > s.issued.session_ends_at || refreshed.expiration <= now {
                        return Err(DomainError::Invalid(
                            "refreshed credentials must expire after now and by the session end",
                        ));
                    }
                    Ok(vec![Event::from(refreshed.clone())])
                }
                SessionState::Unknown | SessionState::Decided { .. } => Err(DomainError::NotFound("session")),
                _ => Err(invalid("refreshed")),
            },
            SessionCommand::Revoke(revoked) => match self {
                SessionState::Active(s) if now < s.issued.session_ends_at => Ok(vec![Event::from(revoked.clone())]),
                SessionState::Active(_) => Err(DomainError::Expired("session")),
                SessionState::Unknown | SessionState::Decided { .. } => Err(DomainError::NotFound("session")),
                _ => Err(invalid("revoked")),
            },
            SessionCommand::Expire => match self {
                SessionState::Active(s) if now >= s.issued.session_ends_at => Ok(vec![SessionExpired {}.into()]),
                SessionState::Active(_) => Err(DomainError::NotExpired("session")),
                SessionState::Unknown | SessionState::Decided { .. } => Err(DomainError::NotFound("session")),
                _ => Err(invalid("expired")),
            },
        }
    }

    fn evolve_by(self, event: &Event, _: Option<&crate::ids::PersonKey>) -> SessionState {
        match (self, event) {
            (SessionState::Unknown, Event::CredentialsRequested(r)) => SessionState::Decided {
                request: r.clone(),
                // Placeholder until AccessDecided follows: a request alone grants nothing.
                decision: AccessDecided {
                    effect: Effect::Deny,
                    rule: None,
                    reason: "undecided".into(),
                    basis: Basis::Policy,
                    policy_hash: None,
                },
            },
            (SessionState::Decided { request, .. }, Event::AccessDecided(d)) => {
                SessionState::Decided { request, decision: d.clone() }
            }
            (SessionState::Decided { request, decision }, Event::CredentialsIssued(i))
                if decision.effect == Effect::Allow =>
            {
                SessionState::Active(Box::new(LiveSession {
                    request,
                    decision,
                    credentials_expire_at: i.expiration,
                    issued: i.clone(),
                    refreshes: 0,
                }))
            }
            (SessionState::Active(mut s), Event::CredentialsRefreshed(r)) => {
                s.credentials_expire_at = r.expiration;
                s.refreshes += 1;
                SessionState::Active(s)
            }
            (SessionState::Active(s), Event::SessionRevoked(r)) => {
                SessionState::Revoked { session: s, revoked: r.clone() }
            }
            (SessionState::Active(s), Event::SessionExpired(_)) => SessionState::Expired(s),
            // Anything else cannot follow; a terminal or unexpected state stays as it is.
            (state, _) => state,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::decide::harness::given;
    use chrono::{Duration, TimeZone};

    pub fn t(minutes: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, 9, 0, 0).unwrap() + Duration::minutes(minutes)
    }

    pub fn request() -> CredentialsRequested {
        CredentialsRequested {
            principal: "arn:aws:iam::111122223333:user/alice".parse().unwrap(),
            user_id: Some("AIDAEXAMPLE".into()),
            profile: "dev".parse().unwrap(),
            requested_duration_seconds: Some(900),
            reason: None,
        }
    }

    pub fn decision(effect: Effect) -> AccessDecided {
        AccessDecided {
            effect,
            rule: Some("r".into()),
            reason: "because".into(),
            basis: Basis::Policy,
            policy_hash: None,
        }
    }

    pub fn issued() -> CredentialsIssued {
        CredentialsIssued {
            role_arn: "arn:aws:iam::111122223333:role/SentinelProtected-Dev".parse().unwrap(),
            source_identity: "sentinel-01ARZ3NDEKTSV4RRFFQ69G5FAV".into(),
            role_session_name: "sentinel-01ARZ3NDEKTSV4RRFFQ69G5FAV".into(),
            access_key_id: "ASIAEXAMPLE".into(),
            expiration: t(15),
            session_ends_at: t(480),
            token_hash: "ab".repeat(32),
        }
    }

    pub fn revoked() -> SessionRevoked {
        SessionRevoked { by: "arn:aws:iam::111122223333:user/secops".parse().unwrap(), reason: "left".into() }
    }

    pub fn refreshed(at: i64) -> CredentialsRefreshed {
        CredentialsRefreshed { access_key_id: "ASIANEXT".into(), expiration: t(at), basis: Basis::Policy }
    }

    pub fn active() -> Vec<Event> {
        vec![request().into(), decision(Effect::Allow).into(), issued().into()]
    }

    #[test]
    fn an_allowed_vend_records_request_decision_and_issuance() {
        let events = given::<SessionState>(&[])
            .when(
                SessionCommand::Open { request: request(), decision: decision(Effect::Allow), issued: Some(issued()) },
                t(0),
            )
            .unwrap();
        assert_eq!(events, active());
        assert_eq!(SessionState::fold(&events).status_at(t(1)), Some(SessionStatus::Active));
    }

    #[test]
    fn a_denied_vend_cannot_carry_an_issuance() {
        let err = given::<SessionState>(&[])
            .when(
                SessionCommand::Open { request: request(), decision: decision(Effect::Deny), issued: Some(issued()) },
                t(0),
            )
            .unwrap_err();
        assert_eq!(err, DomainError::NotGranted);
        let err = given::<SessionState>(&[])
            .when(
                SessionCommand::Open {
                    request: request(),
                    decision: decision(Effect::RequireApproval),
                    issued: Some(issued()),
                },
                t(0),
            )
            .unwrap_err();
        assert_eq!(err, DomainError::NotGranted);
    }

    #[test]
    fn a_session_is_opened_once() {
        let err = given::<SessionState>(&active())
            .when(SessionCommand::Open { request: request(), decision: decision(Effect::Allow), issued: None }, t(1))
            .unwrap_err();
        assert_eq!(err, DomainError::AlreadyExists("session"));
    }

    #[test]
    fn revoked_session_cannot_refresh() {
        let mut history = active();
        history.push(revoked().into());
        let err = given::<SessionState>(&history).when(SessionCommand::Refresh(refreshed(30)), t(10)).unwrap_err();
        assert!(matches!(err, DomainError::InvalidState { status: "revoked", .. }));
    }

    #[test]
    fn a_session_is_revoked_once() {
        let mut history = active();
        history.push(revoked().into());
        let err = given::<SessionState>(&history).when(SessionCommand::Revoke(revoked()), t(10)).unwrap_err();
        assert!(matches!(err, DomainError::InvalidState { status: "revoked", action: "revoked", .. }));
    }

    #[test]
    fn revoking_an_unknown_or_denied_session_is_not_found() {
        assert_eq!(
            given::<SessionState>(&[]).when(SessionCommand::Revoke(revoked()), t(0)),
            Err(DomainError::NotFound("session"))
        );
        let denied: Vec<Event> = vec![request().into(), decision(Effect::Deny).into()];
        assert_eq!(
            given::<SessionState>(&denied).when(SessionCommand::Revoke(revoked()), t(0)),
            Err(DomainError::NotFound("session"))
        );
    }

    #[test]
    fn a_session_past_its_end_is_expired_and_cannot_refresh_or_be_revoked() {
        let state = SessionState::fold(&active());
        assert_eq!(state.status_at(t(480)), Some(SessionStatus::Expired));
        assert!(state.live_at(t(480)).is_none());
        assert_eq!(
            state.decide(&SessionCommand::Refresh(refreshed(495)), t(480)),
            Err(DomainError::Expired("session"))
        );
        assert_eq!(state.decide(&SessionCommand::Revoke(revoked()), t(480)), Err(DomainError::Expired("session")));
        assert_eq!(state.decide(&SessionCommand::Expire, t(479)), Err(DomainError::NotExpired("session")));
        assert_eq!(state.decide(&SessionCommand::Expire, t(480)), Ok(vec![SessionExpired {}.into()]));
    }

    #[test]
    fn refreshed_credentials_cannot_outlive_the_session() {
        let err = given::<SessionState>(&active()).when(SessionCommand::Refresh(refreshed(481)), t(470)).unwrap_err();
        assert!(matches!(err, DomainError::Invalid(_)));
        let ok = given::<SessionState>(&active()).when(SessionCommand::Refresh(refreshed(480)), t(470)).unwrap();
        let mut history = active();
        history.extend(ok);
        let SessionState::Active(s) = SessionState::fold(&history) else { panic!("still active") };
        assert_eq!((s.refreshes, s.credentials_expire_at), (1, t(480)));
    }

    #[test]
    fn a_forged_issuance_after_revocation_changes_nothing() {
        let mut history = active();
        history.push(revoked().into());
        history.push(issued().into());
        history.push(refreshed(60).into());
        assert_eq!(SessionState::fold(&history).status_at(t(5)), Some(SessionStatus::Revoked));
    }

    #[test]
    fn an_issuance_without_an_allow_decision_never_activates() {
        let history: Vec<Event> = vec![request().into(), decision(Effect::Deny).into(), issued().into()];
        assert_eq!(SessionState::fold(&history).status_at(t(1)), None);
        let history: Vec<Event> = vec![request().into(), issued().into()];
        assert_eq!(SessionState::fold(&history).status_at(t(1)), None);
    }
}
