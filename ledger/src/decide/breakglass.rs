//! The break-glass stream: invoked, then closed early or expired; never reopened.

use chrono::{DateTime, Utc};

use super::{Aggregate, DomainError};
use crate::event::{BreakGlassClosed, BreakGlassExpired, BreakGlassInvoked, Event};
use crate::ids::{PrincipalArn, Profile};

/// The status the API and views show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakGlassStatus {
    Active,
    Closed,
    Expired,
}

impl BreakGlassStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakGlassStatus::Active => "active",
            BreakGlassStatus::Closed => "closed",
            BreakGlassStatus::Expired => "expired",
        }
    }
}

/// The state of one break-glass stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum BreakGlassState {
    #[default]
    Unknown,
    Known {
        invoked: Box<BreakGlassInvoked>,
        status: BreakGlassStatus,
    },
}

impl BreakGlassState {
    /// The status at `now`: an active break-glass past its expiry counts as expired.
    pub fn status_at(&self, now: DateTime<Utc>) -> Option<BreakGlassStatus> {
        match self {
            BreakGlassState::Unknown => None,
            BreakGlassState::Known { invoked, status: BreakGlassStatus::Active } if now >= invoked.expires_at => {
                Some(BreakGlassStatus::Expired)
            }
            BreakGlassState::Known { status, .. } => Some(*status),
        }
    }

    /// Whether this break-glass covers `principal` on `profile` at `now`.
    pub fn covers(&self, principal: &PrincipalArn, profile: &Profile, now: DateTime<Utc>) -> bool {
        match self {
            BreakGlassState::Known { invoked, .. } => {
                self.status_at(now) == Some(BreakGlassStatus::Active)
                    && &invoked.invoker == principal
                    && &invoked.profile == profile
            }
            BreakGlassState::Unknown => false,
        }
    }
}

/// What may be asked of a break-glass stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BreakGlassCommand {
    Invoke(BreakGlassInvoked),
    Close(BreakGlassClosed),
    Expire,
}

impl Aggregate for BreakGlassState {
    type Command = BreakGlassCommand;

    fn decide(&self, command: &BreakGlassCommand, now: DateTime<Utc>) -> Result<Vec<Event>, DomainError> {
        let status = self.status_at(now);
        let invalid = |action| DomainError::InvalidState {
            what: "break-glass",
            status: status.map_or("unknown", BreakGlassStatus::as_str),
            action,
        };
        match (self, command) {
            (BreakGlassState::Unknown, BreakGlassCommand::Invoke(i)) => {
                if i.expires_at <= now {
                    return Err(DomainError::Invalid("a break-glass must end in the future"));
                }
                Ok(vec![i.clone().into()])
            }
            (BreakGlassState::Known { .. }, BreakGlassCommand::Invoke(_)) => {
                Err(DomainError::AlreadyExists("break-glass"))
            }
            (BreakGlassState::Unknown, _) => Err(DomainError::NotFound("break-glass")),
            (BreakGlassState::Known { .. }, BreakGlassCommand::Close(c)) => match status {
                Some(BreakGlassStatus::Active) => Ok(vec![c.clone().into()]),
                Some(BreakGlassStatus::Expired) => Err(DomainError::Expired("break-glass")),
                _ => Err(invalid("closed")),
            },
            (BreakGlassState::Known { status: recorded, .. }, BreakGlassCommand::Expire) => match (recorded, status) {
                (BreakGlassStatus::Active, Some(BreakGlassStatus::Expired)) => Ok(vec![BreakGlassExpired {}.into()]),
                (BreakGlassStatus::Active, _) => Err(DomainError::NotExpired("break-glass")),
                _ => Err(invalid("expired")),
            },
        }
    }

    fn evolve(self, event: &Event) -> BreakGlassState {
        match (self, event) {
            (BreakGlassState::Unknown, Event::BreakGlassInvoked(i)) => {
                BreakGlassState::Known { invoked: Box::new(i.clone()), status: BreakGlassStatus::Active }
            }
            (BreakGlassState::Known { invoked, status: BreakGlassStatus::Active }, Event::BreakGlassClosed(_)) => {
                BreakGlassState::Known { invoked, status: BreakGlassStatus::Closed }
            }
            (BreakGlassState::Known { invoked, status: BreakGlassStatus::Active }, Event::BreakGlassExpired(_)) => {
                BreakGlassState::Known { invoked, status: BreakGlassStatus::Expired }
            }
            (state, _) => state,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::harness::given;
    use crate::decide::session::tests::t;

    fn oncall() -> PrincipalArn {
        "arn:aws:iam::111122223333:user/oncall".parse().unwrap()
    }

    fn invoked() -> BreakGlassInvoked {
        BreakGlassInvoked {
            invoker: oncall(),
            profile: "prod".parse().unwrap(),
            reason_code: "incident".into(),
            justification: "database on fire, paging says so".into(),
            duration_seconds: 3600,
            expires_at: t(60),
        }
    }

    fn closed() -> BreakGlassClosed {
        BreakGlassClosed { by: oncall(), reason: "resolved".into() }
    }

    #[test]
    fn an_active_break_glass_covers_its_invoker_and_profile_until_expiry() {
        let state = BreakGlassState::fold(&[invoked().into()]);
        let prod: Profile = "prod".parse().unwrap();
        assert!(state.covers(&oncall(), &prod, t(59)));
        assert!(!state.covers(&oncall(), &prod, t(60)));
        assert!(!state.covers(&"arn:aws:iam::111122223333:user/alice".parse().unwrap(), &prod, t(1)));
        assert!(!state.covers(&oncall(), &"dev".parse().unwrap(), t(1)));
    }

    #[test]
    fn a_closed_break_glass_never_reopens() {
        let state = BreakGlassState::fold(&[invoked().into(), closed().into()]);
        assert!(matches!(
            state.decide(&BreakGlassCommand::Close(closed()), t(1)),
            Err(DomainError::InvalidState { status: "closed", .. })
        ));
        assert_eq!(
            state.decide(&BreakGlassCommand::Invoke(invoked()), t(1)),
            Err(DomainError::AlreadyExists("break-glass"))
        );
        let forged = state.evolve(&invoked().into());
        assert_eq!(forged.status_at(t(1)), Some(BreakGlassStatus::Closed));
        assert!(!forged.covers(&oncall(), &"prod".parse().unwrap(), t(1)));
    }

    #[test]
    fn closing_after_expiry_is_refused_and_expiry_is_recorded_once() {
        let state = BreakGlassState::fold(&[invoked().into()]);
        assert_eq!(state.decide(&BreakGlassCommand::Close(closed()), t(60)), Err(DomainError::Expired("break-glass")));
        assert_eq!(state.decide(&BreakGlassCommand::Expire, t(59)), Err(DomainError::NotExpired("break-glass")));
        let expired = state.evolve(&BreakGlassExpired {}.into());
        assert!(matches!(expired.decide(&BreakGlassCommand::Expire, t(61)), Err(DomainError::InvalidState { .. })));
    }

    #[test]
    fn closing_an_unknown_break_glass_is_not_found() {
        assert_eq!(
            given::<BreakGlassState>(&[]).when(BreakGlassCommand::Close(closed()), t(0)),
            Err(DomainError::NotFound("break-glass"))
        );
    }
}
