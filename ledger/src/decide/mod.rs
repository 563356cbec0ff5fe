//! Pure deciders and evolvers for the session, approval and break-glass streams.
//!
//! `decide(state, command, now)` says which events a command produces, or why it is refused;
//! `evolve(state, event)` folds one recorded event into the state. No I/O, clock or randomness:
//! the caller reads the stream, folds it, decides, and appends at the seq it read.
//! Terminal states absorb every later event, so even a forged event cannot reopen them.

pub mod approval;
pub mod breakglass;
pub mod grant;
pub mod session;

use chrono::{DateTime, Utc};

use crate::event::Event;
use crate::ids::PersonKey;
use crate::record::RecordedEvent;

/// Why a command was refused. Variants map one-to-one to API errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("the {0} does not exist")]
    NotFound(&'static str),
    #[error("the {0} already exists")]
    AlreadyExists(&'static str),
    #[error("the {what} is {status}, so it cannot be {action}")]
    InvalidState { what: &'static str, status: &'static str, action: &'static str },
    #[error("credentials can only be issued after an allow decision")]
    NotGranted,
    #[error("requesters cannot decide their own requests")]
    SelfApproval,
    #[error("only the requester can cancel a request")]
    NotRequester,
    #[error("this approver has already decided")]
    AlreadyDecided,
    #[error("the {0} has expired")]
    Expired(&'static str),
    #[error("the {0} has not expired yet")]
    NotExpired(&'static str),
    #[error("the command is malformed: {0}")]
    Invalid(&'static str),
    /// A break-glass of the same person on the same profile is still active: no stacking.
    #[error("break-glass {0} on this profile is still active; close it before invoking another")]
    StillActive(crate::ids::BreakGlassId),
    /// A request of the same person on the same profile is still pending: no second one.
    #[error("request {0} for this profile is still pending")]
    PendingRequest(crate::ids::ApprovalId),
    /// The previous break-glass ended less than the cooldown ago.
    #[error("the break-glass cooldown has {retry_after_seconds} s left")]
    CoolingDown { retry_after_seconds: u64 },
}

/// A stream's state machine.
pub trait Aggregate: Default + Clone {
    /// What a caller asks of the stream.
    type Command;

    /// The events `command` produces at `now`, or why it is refused.
    fn decide(&self, command: &Self::Command, now: DateTime<Utc>) -> Result<Vec<Event>, DomainError>;

    /// The state after `event`, recorded for no known person.
    fn evolve(self, event: &Event) -> Self {
        self.evolve_by(event, None)
    }

    /// The state after `event`, recorded for `person` (the event's top-level `person`; `None`
    /// for the system and for events recorded before person keys).
    fn evolve_by(self, event: &Event, person: Option<&PersonKey>) -> Self;

    /// The state after every event of a stream, in order (no persons known).
    fn fold<'a>(events: impl IntoIterator<Item = &'a Event>) -> Self {
        events.into_iter().fold(Self::default(), Self::evolve)
    }

    /// The state after every recorded event of a stream, in order, with their persons.
    fn fold_recorded<'a>(events: impl IntoIterator<Item = &'a RecordedEvent>) -> Self {
        events.into_iter().fold(Self::default(), |state, e| state.evolve_by(&e.event, e.person.as_ref()))
    }
}

#[cfg(test)]
pub(crate) mod harness {
    //! Given/when/then for deciders.
    use super::*;

    pub struct Given<A: Aggregate>(A);

    pub fn given<A: Aggregate>(events: &[Event]) -> Given<A> {
        Given(A::fold(events))
    }

    impl<A: Aggregate> Given<A> {
        pub fn when(self, command: A::Command, now: DateTime<Utc>) -> Result<Vec<Event>, DomainError> {
            self.0.decide(&command, now)
        }
    }
}
