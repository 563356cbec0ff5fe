//! The break-glass stream: invoked, then closed early or expired; never reopened. Invocations of
//! one person on one profile are serialised by their guard stream (see [`invoke`]).

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Aggregate, DomainError};
use crate::event::{BreakGlassClosed, BreakGlassExpired, BreakGlassInvoked, BreakGlassReserved, Event};
use crate::ids::{BreakGlassId, PersonKey, Profile, Who};
use crate::record::RecordedEvent;

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
        /// The invoker's person (`None` for invocations recorded before person keys).
        invoker_person: Option<PersonKey>,
        status: BreakGlassStatus,
    },
}

impl BreakGlassState {
    /// The status at `now`: an active break-glass past its expiry counts as expired.
    pub fn status_at(&self, now: DateTime<Utc>) -> Option<BreakGlassStatus> {
        match self {
            BreakGlassState::Unknown => None,
            BreakGlassState::Known { invoked, status: BreakGlassStatus::Active, .. } if now >= invoked.expires_at => {
                Some(BreakGlassStatus::Expired)
            }
            BreakGlassState::Known { status, .. } => Some(*status),
        }
    }

    /// Whether this break-glass covers `who` on `profile` at `now` (the invoking person, from
    /// any of their principals).
    pub fn covers(&self, who: &Who, profile: &Profile, now: DateTime<Utc>) -> bool {
        match self {
            BreakGlassState::Known { invoked, invoker_person, .. } => {
                let invoker = Who { principal: invoked.invoker.clone(), person: invoker_person.clone() };
                self.status_at(now) == Some(BreakGlassStatus::Active) && invoker.is(who) && &invoked.profile == profile
            }
            BreakGlassState::Unknown => false,
        }
    }

    /// The invoker as a person.
    pub fn invoker(&self) -> Option<Who> {
        match self {
            BreakGlassState::Known { invoked, invoker_person, .. } => {
                Some(Who { principal: invoked.invoker.clone(), person: invoker_person.clone() })
            }
            BreakGlassState::Unknown => None,
        }
    }
}

/// The latest invocation a guard stream (`GUARD#breakglass#…`) reserved.
pub fn latest_reserved(guard: &[RecordedEvent]) -> Option<BreakGlassId> {
    guard.iter().rev().find_map(|e| match &e.event {
        Event::BreakGlassReserved(r) => Some(r.breakglass_id),
        _ => None,
    })
}

/// When a break-glass stream's invocation ended, as of `now`: its close (never later than its
/// expiry) or its expiry; `None` while it is active or unknown.
pub fn ended_at(events: &[RecordedEvent], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let state = BreakGlassState::fold_recorded(events);
    let BreakGlassState::Known { invoked, .. } = &state else { return None };
    match state.status_at(now)? {
        BreakGlassStatus::Active => None,
        BreakGlassStatus::Closed => events
            .iter()
            .find(|e| matches!(e.event, Event::BreakGlassClosed(_)))
            .map(|e| e.occurred_at.min(invoked.expires_at)),
        BreakGlassStatus::Expired => Some(invoked.expires_at),
    }
}

/// The invocation before a new one, as its guard names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Previous {
    pub id: BreakGlassId,
    /// When it ended; `None` while it is still active.
    pub ended_at: Option<DateTime<Utc>>,
}

/// The events of a new invocation: `BreakGlassInvoked` on its own stream and
/// `BreakGlassReserved` on the guard, appended together at the guard's head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub on_stream: Vec<Event>,
    pub on_guard: Vec<Event>,
}

/// Decides a new break-glass of one person on one profile: refused while the previous one is
/// active (no stacking) or until `cooldown` has passed since it ended. `previous` is the latest
/// invocation the person's guard names — or, while guards written before person keys can still
/// matter, the later-ending of that and the one the caller principal's old guard names.
pub fn invoke(
    previous: Option<Previous>,
    id: BreakGlassId,
    invoked: BreakGlassInvoked,
    cooldown: Duration,
    now: DateTime<Utc>,
) -> Result<Invocation, DomainError> {
    if let Some(previous) = previous {
        let Some(ended) = previous.ended_at else { return Err(DomainError::StillActive(previous.id)) };
        let cooldown =
            chrono::Duration::from_std(cooldown).map_err(|_| DomainError::Invalid("cooldown out of range"))?;
        let next = ended + cooldown;
        if now < next {
            return Err(DomainError::CoolingDown { retry_after_seconds: (next - now).num_seconds().max(1) as u64 });
        }
    }
    let expires_at = invoked.expires_at;
    let on_stream = BreakGlassState::default().decide(&BreakGlassCommand::Invoke(invoked), now)?;
    let on_guard = vec![BreakGlassReserved { breakglass_id: id, expires_at }.into()];
    Ok(Invocation { on_stream, on_guard })
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

    fn evolve_by(self, event: &Event, person: Option<&PersonKey>) -> BreakGlassState {
        match (self, event) {
            (BreakGlassState::Unknown, Event::BreakGlassInvoked(i)) => BreakGlassState::Known {
                invoked: Box::new(i.clone()),
                invoker_person: person.cloned(),
                status: BreakGlassStatus::Active,
            },
            (
                BreakGlassState::Known { invoked, invoker_person, status: BreakGlassStatus::Active },
                Event::BreakGlassClosed(_),
            ) => BreakGlassState::Known { invoked, invoker_person, status: BreakGlassStatus::Closed },
            (
                BreakGlassState::Known { invoked, invoker_person, status: BreakGlassStatus::Active },
                Event::BreakGlassExpired(_),
            ) => BreakGlassState::Known { invoked, invoker_person, status: BreakGlassStatus::Expired },
            (state, _) => state,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::harness::given;
    use crate::decide::session::tests::t;

    fn oncall() -> crate::ids::PrincipalArn {
        "arn:aws:iam::111122223333:user/oncall".parse().unwrap()
    }

    fn oncall_who() -> Who {
        Who { principal: oncall(), person: Some("iam:111122223333:oncall".parse().unwrap()) }
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
        BreakGlassClosed { by: oncall(), reason: "resolved".into(), session_id: None }
    }

    #[test]
    fn an_active_break_glass_covers_its_invoker_and_profile_until_expiry() {
        let state = BreakGlassState::fold(&[invoked().into()]);
        let prod: Profile = "prod".parse().unwrap();
        assert!(state.covers(&oncall_who(), &prod, t(59)));
        assert!(!state.covers(&oncall_who(), &prod, t(60)));
        let alice = Who { principal: "arn:aws:iam::111122223333:user/alice".parse().unwrap(), person: None };
        assert!(!state.covers(&alice, &prod, t(1)));
        assert!(!state.covers(&oncall_who(), &"dev".parse().unwrap(), t(1)));
    }

    #[test]
    fn a_break_glass_covers_its_invoking_person_from_any_of_their_principals() {
        let dana: PersonKey = "idp:dana@example.com".parse().unwrap();
        let mut by_dev = invoked();
        by_dev.invoker = "arn:aws:sts::111122223333:assumed-role/Dev/dana@example.com".parse().unwrap();
        let state = BreakGlassState::default().evolve_by(&by_dev.into(), Some(&dana));
        let ops = Who::new("arn:aws:sts::111122223333:assumed-role/Ops/dana@example.com".parse().unwrap(), dana);
        assert!(state.covers(&ops, &"prod".parse().unwrap(), t(1)));
        let other = Who::new(ops.principal.clone(), "idp:erin@example.com".parse().unwrap());
        assert!(!state.covers(&other, &"prod".parse().unwrap(), t(1)));
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
        assert!(!forged.covers(&oncall_who(), &"prod".parse().unwrap(), t(1)));
    }

    #[test]
    fn closing_after_expiry_is_refused_and_expiry_is_recorded_once() {
        let state = BreakGlassState::fold(&[invoked().into()]);
        assert_eq!(state.decide(&BreakGlassCommand::Close(closed()), t(60)), Err(DomainError::Expired("break-glass")));
        assert_eq!(state.decide(&BreakGlassCommand::Expire, t(59)), Err(DomainError::NotExpired("break-glass")));
        let expired = state.evolve(&BreakGlassExpired {}.into());
        assert!(matches!(expired.decide(&BreakGlassCommand::Expire, t(61)), Err(DomainError::InvalidState { .. })));
    }

    fn previous(ended_at: Option<DateTime<Utc>>) -> Option<Previous> {
        Some(Previous { id: BreakGlassId::generate(), ended_at })
    }

    #[test]
    fn a_first_invocation_reserves_the_guard() {
        let done = invoke(None, BreakGlassId::generate(), invoked(), Duration::from_secs(1800), t(0)).unwrap();
        assert!(matches!(done.on_stream.as_slice(), [Event::BreakGlassInvoked(_)]));
        assert!(matches!(done.on_guard.as_slice(), [Event::BreakGlassReserved(r)] if r.expires_at == t(60)));
    }

    #[test]
    fn an_active_break_glass_cannot_be_stacked() {
        let active = previous(None);
        let refused = invoke(active, BreakGlassId::generate(), invoked(), Duration::ZERO, t(0));
        assert_eq!(refused, Err(DomainError::StillActive(active.unwrap().id)));
    }

    #[test]
    fn the_cooldown_counts_from_the_previous_end_to_the_second() {
        let cooldown = Duration::from_secs(30 * 60);
        let ended = previous(Some(t(0)));
        let early = invoke(ended, BreakGlassId::generate(), invoked(), cooldown, t(29));
        assert_eq!(early, Err(DomainError::CoolingDown { retry_after_seconds: 60 }));
        let mut later = invoked();
        later.expires_at = t(90);
        assert!(invoke(ended, BreakGlassId::generate(), later, cooldown, t(30)).is_ok());
    }

    #[test]
    fn closing_an_unknown_break_glass_is_not_found() {
        assert_eq!(
            given::<BreakGlassState>(&[]).when(BreakGlassCommand::Close(closed()), t(0)),
            Err(DomainError::NotFound("break-glass"))
        );
    }
}
