//! The approval stream: a request, then distinct approving persons' grants up to the quorum, or
//! one denial, a cancellation by the requester, a revocation, or expiry.
//!
//! Who is who is the person key (DESIGN §2): self-approval and the quorum compare persons, so a
//! requester's second principal cannot approve, and two session names of one ordinary role are
//! one approver. Events recorded before person keys compare by principal ARN.
//!
//! Windows: a pending request expires at `expires_at` (the policy's `approvals.window` after it
//! was asked); the grant that reaches the quorum records `usable_until` (its moment plus the
//! request's `duration_seconds`), and the approval is usable until then. Requests granted before
//! `usable_until` existed stay usable until `expires_at`, as they were.

use chrono::{DateTime, Utc};

use super::{Aggregate, DomainError};
use crate::event::{
    ApprovalCancelled, ApprovalDenied, ApprovalExpired, ApprovalGranted, ApprovalRequested, ApprovalReserved,
    ApprovalRevoked, Event,
};
use crate::ids::{ApprovalId, PersonKey, Profile, Who};
use crate::record::RecordedEvent;

/// The status the API and views show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    Pending,
    Approved,
    Denied,
    Cancelled,
    Revoked,
    Expired,
}

impl ApprovalStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::Approved => "approved",
            ApprovalStatus::Denied => "denied",
            ApprovalStatus::Cancelled => "cancelled",
            ApprovalStatus::Revoked => "revoked",
            ApprovalStatus::Expired => "expired",
        }
    }
}

/// A request and the approvals it has gathered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRecord {
    pub request: ApprovalRequested,
    /// The requester's person (`None` for requests recorded before person keys).
    pub requester_person: Option<PersonKey>,
    /// Distinct approving persons who granted, in order.
    pub approvers: Vec<Who>,
    pub status: ApprovalStatus,
    /// Until when the approval is usable, once the quorum was reached (`None` while pending,
    /// and for approvals granted before the window ran from the grant: then `expires_at`).
    pub usable_until: Option<DateTime<Utc>>,
}

impl ApprovalRecord {
    /// The requester as a person.
    pub fn requester(&self) -> Who {
        Who { principal: self.request.requester.clone(), person: self.requester_person.clone() }
    }

    /// When the current status ends by time: a pending request at `expires_at`, an approved one
    /// at the end of its usable window.
    pub fn ends_at(&self) -> DateTime<Utc> {
        match self.status {
            ApprovalStatus::Approved => self.usable_until.unwrap_or(self.request.expires_at),
            _ => self.request.expires_at,
        }
    }
}

/// The state of one approval stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ApprovalState {
    #[default]
    Unknown,
    Known(Box<ApprovalRecord>),
}

impl ApprovalState {
    /// The status at `now`: a pending or approved request past its window counts as expired.
    pub fn status_at(&self, now: DateTime<Utc>) -> Option<ApprovalStatus> {
        match self {
            ApprovalState::Unknown => None,
            ApprovalState::Known(r) => Some(match r.status {
                ApprovalStatus::Pending | ApprovalStatus::Approved if now >= r.ends_at() => ApprovalStatus::Expired,
                status => status,
            }),
        }
    }

    /// Whether this approval lets `who` use `profile` at `now`: approved, unexpired, theirs.
    pub fn grants(&self, who: &Who, profile: &Profile, now: DateTime<Utc>) -> bool {
        match self {
            ApprovalState::Known(r) => {
                self.status_at(now) == Some(ApprovalStatus::Approved)
                    && r.requester().is(who)
                    && &r.request.profile == profile
            }
            ApprovalState::Unknown => false,
        }
    }

    /// Until when the approval is usable, if it is approved at `now`.
    pub fn usable_until(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            ApprovalState::Known(r) if self.status_at(now) == Some(ApprovalStatus::Approved) => Some(r.ends_at()),
            _ => None,
        }
    }

    /// Whether the request is pending at `now`.
    pub fn is_pending(&self, now: DateTime<Utc>) -> bool {
        self.status_at(now) == Some(ApprovalStatus::Pending)
    }
}

/// What may be asked of an approval stream. Decisions carry the acting person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApprovalCommand {
    Request(ApprovalRequested),
    /// Approve (the decider sets `usable_until` on the grant that reaches the quorum).
    Approve(ApprovalGranted, Option<PersonKey>),
    Deny(ApprovalDenied, Option<PersonKey>),
    /// The requester withdraws a pending or approved request.
    Cancel(ApprovalCancelled, Option<PersonKey>),
    /// An approver, revoker or admin ends an approved request (rights are checked before).
    Revoke(ApprovalRevoked),
    Expire,
}

/// Every request an approval guard stream (`GUARD#approval#…`) lists, oldest first.
pub fn reservations(guard: &[RecordedEvent]) -> Vec<ApprovalReserved> {
    guard
        .iter()
        .filter_map(|e| match &e.event {
            Event::ApprovalReserved(r) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

/// The events of a new request: `ApprovalRequested` on its own stream and `ApprovalReserved` on
/// the person's guard, appended together at the guard's head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRequest {
    pub on_stream: Vec<Event>,
    pub on_guard: Vec<Event>,
}

/// Decides a new request of one person on one profile: refused while their latest request (the
/// one the guard names last, with its state) is still pending — requests are strictly
/// sequential, so no earlier one can be.
pub fn request(
    latest: Option<(ApprovalId, &ApprovalState)>,
    id: ApprovalId,
    requested: ApprovalRequested,
    now: DateTime<Utc>,
) -> Result<NewRequest, DomainError> {
    if let Some((pending, _)) = latest.filter(|(_, state)| state.is_pending(now)) {
        return Err(DomainError::PendingRequest(pending));
    }
    let reserved = ApprovalReserved {
        approval_id: id,
        expires_at: requested.expires_at,
        duration_seconds: requested.duration_seconds,
    };
    let on_stream = ApprovalState::default().decide(&ApprovalCommand::Request(requested), now)?;
    Ok(NewRequest { on_stream, on_guard: vec![reserved.into()] })
}

impl Aggregate for ApprovalState {
    type Command = ApprovalCommand;

    fn decide(&self, command: &ApprovalCommand, now: DateTime<Utc>) -> Result<Vec<Event>, DomainError> {
        let record = match (self, command) {
            (ApprovalState::Unknown, ApprovalCommand::Request(r)) => {
                if r.required == 0 {
                    return Err(DomainError::Invalid("an approval needs at least one approver"));
                }
                if r.expires_at <= now {
                    return Err(DomainError::Invalid("the approval window must end in the future"));
                }
                return Ok(vec![r.clone().into()]);
            }
            (ApprovalState::Known(_), ApprovalCommand::Request(_)) => {
                return Err(DomainError::AlreadyExists("approval request"))
            }
            (ApprovalState::Unknown, _) => return Err(DomainError::NotFound("approval request")),
            (ApprovalState::Known(record), _) => record,
        };
        let status = self.status_at(now).unwrap_or(record.status);
        let invalid = |action| DomainError::InvalidState { what: "approval request", status: status.as_str(), action };
        let requester = record.requester();
        match command {
            ApprovalCommand::Request(_) => Err(DomainError::AlreadyExists("approval request")),
            ApprovalCommand::Approve(g, person) => {
                let approver = Who { principal: g.approver.clone(), person: person.clone() };
                if approver.is(&requester) {
                    return Err(DomainError::SelfApproval);
                }
                match status {
                    ApprovalStatus::Pending if record.approvers.iter().any(|a| a.is(&approver)) => {
                        Err(DomainError::AlreadyDecided)
                    }
                    ApprovalStatus::Pending => {
                        let mut grant = g.clone();
                        let reaches_quorum = record.approvers.len() as u64 + 1 >= u64::from(record.request.required);
                        grant.usable_until = reaches_quorum
                            .then(|| now + chrono::Duration::seconds(i64::from(record.request.duration_seconds)));
                        Ok(vec![grant.into()])
                    }
                    ApprovalStatus::Expired => Err(DomainError::Expired("approval request")),
                    _ => Err(invalid("approved")),
                }
            }
            ApprovalCommand::Deny(d, person) => {
                if (Who { principal: d.approver.clone(), person: person.clone() }).is(&requester) {
                    return Err(DomainError::SelfApproval);
                }
                match status {
                    ApprovalStatus::Pending => Ok(vec![d.clone().into()]),
                    ApprovalStatus::Expired => Err(DomainError::Expired("approval request")),
                    _ => Err(invalid("denied")),
                }
            }
            ApprovalCommand::Cancel(c, person) => {
                if !(Who { principal: c.by.clone(), person: person.clone() }).is(&requester) {
                    return Err(DomainError::NotRequester);
                }
                // A pending request is withdrawn, an approved one given back: approve, deny,
                // revoke and cancel race for one decision, and exactly one wins.
                match status {
                    ApprovalStatus::Pending | ApprovalStatus::Approved => Ok(vec![c.clone().into()]),
                    ApprovalStatus::Expired => Err(DomainError::Expired("approval request")),
                    _ => Err(invalid("cancelled")),
                }
            }
            ApprovalCommand::Revoke(r) => match status {
                ApprovalStatus::Approved => Ok(vec![r.clone().into()]),
                ApprovalStatus::Expired => Err(DomainError::Expired("approval request")),
                _ => Err(invalid("revoked")),
            },
            ApprovalCommand::Expire => match (record.status, status) {
                (ApprovalStatus::Pending | ApprovalStatus::Approved, ApprovalStatus::Expired) => {
                    Ok(vec![ApprovalExpired {}.into()])
                }
                (ApprovalStatus::Pending | ApprovalStatus::Approved, _) => {
                    Err(DomainError::NotExpired("approval request"))
                }
                _ => Err(invalid("expired")),
            },
        }
    }

    fn evolve_by(self, event: &Event, person: Option<&PersonKey>) -> ApprovalState {
        match (self, event) {
            (ApprovalState::Unknown, Event::ApprovalRequested(r)) => ApprovalState::Known(Box::new(ApprovalRecord {
                request: r.clone(),
                requester_person: person.cloned(),
                approvers: Vec::new(),
                status: ApprovalStatus::Pending,
                usable_until: None,
            })),
            (ApprovalState::Known(mut r), event) if r.status == ApprovalStatus::Pending => {
                match event {
                    Event::ApprovalGranted(g) => {
                        let approver = Who { principal: g.approver.clone(), person: person.cloned() };
                        if !approver.is(&r.requester()) && !r.approvers.iter().any(|a| a.is(&approver)) {
                            r.approvers.push(approver);
                        }
                        if r.approvers.len() as u64 >= u64::from(r.request.required) {
                            r.status = ApprovalStatus::Approved;
                            r.usable_until = g.usable_until;
                        }
                    }
                    Event::ApprovalDenied(_) => r.status = ApprovalStatus::Denied,
                    Event::ApprovalCancelled(_) => r.status = ApprovalStatus::Cancelled,
                    Event::ApprovalExpired(_) => r.status = ApprovalStatus::Expired,
                    _ => {}
                }
                ApprovalState::Known(r)
            }
            (ApprovalState::Known(mut r), event) if r.status == ApprovalStatus::Approved => {
                match event {
                    Event::ApprovalExpired(_) => r.status = ApprovalStatus::Expired,
                    Event::ApprovalCancelled(_) => r.status = ApprovalStatus::Cancelled,
                    Event::ApprovalRevoked(_) => r.status = ApprovalStatus::Revoked,
                    _ => {}
                }
                ApprovalState::Known(r)
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
    use crate::ids::PrincipalArn;

    fn arn(name: &str) -> PrincipalArn {
        format!("arn:aws:iam::111122223333:user/{name}").parse().unwrap()
    }

    fn person(name: &str) -> Option<PersonKey> {
        Some(format!("iam:111122223333:{name}").parse().unwrap())
    }

    fn requested(required: u32) -> ApprovalRequested {
        ApprovalRequested {
            requester: arn("alice"),
            profile: "prod".parse().unwrap(),
            justification: "deploy hotfix 42".into(),
            duration_seconds: 3600,
            expires_at: t(60),
            required,
        }
    }

    fn grant(by: &str) -> ApprovalGranted {
        ApprovalGranted { approver: arn(by), comment: None, usable_until: None }
    }

    fn approve(by: &str) -> ApprovalCommand {
        ApprovalCommand::Approve(grant(by), person(by))
    }

    /// The state after `events`, each recorded for the person of its principal's user name.
    fn fold_as(events: &[(Event, &str)]) -> ApprovalState {
        events.iter().fold(ApprovalState::default(), |s, (e, who)| s.evolve_by(e, person(who).as_ref()))
    }

    fn alice_of(role: &str) -> Who {
        Who {
            principal: format!("arn:aws:sts::111122223333:assumed-role/{role}/alice@example.com").parse().unwrap(),
            person: Some("idp:alice@example.com".parse().unwrap()),
        }
    }

    #[test]
    fn self_approval_is_refused() {
        let err = given::<ApprovalState>(&[requested(1).into()]).when(approve("alice"), t(1));
        assert_eq!(err, Err(DomainError::SelfApproval));
    }

    #[test]
    fn self_approval_from_a_second_principal_of_the_same_person_is_refused() {
        let dev = alice_of("Dev");
        let ops = alice_of("Ops");
        let mut request = requested(1);
        request.requester = dev.principal.clone();
        let state = ApprovalState::default().evolve_by(&request.into(), dev.person.as_ref());
        let as_ops = ApprovalGranted { approver: ops.principal.clone(), comment: None, usable_until: None };
        assert_eq!(
            state.decide(&ApprovalCommand::Approve(as_ops.clone(), ops.person.clone()), t(1)),
            Err(DomainError::SelfApproval)
        );
        let deny = ApprovalDenied { approver: ops.principal.clone(), comment: None };
        assert_eq!(
            state.decide(&ApprovalCommand::Deny(deny, ops.person.clone()), t(1)),
            Err(DomainError::SelfApproval)
        );
        // A forged grant by the requester's other principal never counts towards the quorum.
        let forged = state.clone().evolve_by(&as_ops.into(), ops.person.as_ref());
        assert_eq!(forged.status_at(t(1)), Some(ApprovalStatus::Pending));
        // And the requester may cancel from either principal.
        let cancel = ApprovalCancelled { by: ops.principal.clone() };
        assert!(state.decide(&ApprovalCommand::Cancel(cancel, ops.person.clone()), t(1)).is_ok());
    }

    #[test]
    fn a_quorum_of_two_needs_two_distinct_persons() {
        let history = [(Event::from(requested(2)), "alice"), (grant("carol").into(), "carol")];
        let state = fold_as(&history);
        assert_eq!(state.status_at(t(1)), Some(ApprovalStatus::Pending));
        assert_eq!(state.decide(&approve("carol"), t(1)), Err(DomainError::AlreadyDecided));
        // carol again from another principal is still carol.
        let carol_elsewhere = ApprovalGranted {
            approver: "arn:aws:sts::111122223333:assumed-role/Approvers/session-two".parse().unwrap(),
            comment: None,
            usable_until: None,
        };
        assert_eq!(
            state.decide(&ApprovalCommand::Approve(carol_elsewhere.clone(), person("carol")), t(1)),
            Err(DomainError::AlreadyDecided)
        );
        let again = state.clone().evolve_by(&carol_elsewhere.into(), person("carol").as_ref());
        assert_eq!(again.status_at(t(1)), Some(ApprovalStatus::Pending), "a duplicate person counts once");
        let events = state.decide(&approve("dave"), t(2)).unwrap();
        let [Event::ApprovalGranted(g)] = events.as_slice() else { panic!("{events:?}") };
        assert_eq!(g.usable_until, Some(t(2) + chrono::Duration::seconds(3600)), "the window runs from the quorum");
        let approved = again.evolve_by(&events[0], person("dave").as_ref());
        assert_eq!(approved.status_at(t(2)), Some(ApprovalStatus::Approved));
        let alice = Who { principal: arn("alice"), person: person("alice") };
        assert!(approved.grants(&alice, &"prod".parse().unwrap(), t(2)));
    }

    #[test]
    fn two_session_names_of_one_ordinary_role_are_one_approver() {
        let role: Option<PersonKey> = Some("role:AROAAPPROVERS0001".parse().unwrap());
        let session = |name: &str| ApprovalGranted {
            approver: format!("arn:aws:sts::111122223333:assumed-role/Approvers/{name}").parse().unwrap(),
            comment: None,
            usable_until: None,
        };
        let state = ApprovalState::default()
            .evolve_by(&requested(2).into(), person("alice").as_ref())
            .evolve_by(&session("one").into(), role.as_ref());
        assert_eq!(
            state.decide(&ApprovalCommand::Approve(session("two"), role.clone()), t(1)),
            Err(DomainError::AlreadyDecided)
        );
        let forged = state.evolve_by(&session("two").into(), role.as_ref());
        assert_eq!(forged.status_at(t(1)), Some(ApprovalStatus::Pending));
    }

    #[test]
    fn an_approval_granted_before_person_keys_compares_by_arn() {
        let state = ApprovalState::fold(&[requested(1).into()]);
        assert_eq!(state.decide(&approve("alice"), t(1)), Err(DomainError::SelfApproval));
        let approved = ApprovalState::fold(&[requested(1).into(), grant("carol").into()]);
        // No usable_until: the old window, from the request, applies.
        assert_eq!(approved.usable_until(t(1)), Some(t(60)));
        let alice_by_arn = Who { principal: arn("alice"), person: person("alice") };
        assert!(approved.grants(&alice_by_arn, &"prod".parse().unwrap(), t(59)));
        assert!(!approved.grants(&alice_by_arn, &"prod".parse().unwrap(), t(60)));
    }

    #[test]
    fn an_approval_grants_only_its_requester_its_profile_and_only_inside_its_window() {
        let state = fold_as(&[(requested(1).into(), "alice"), (grant("carol").into(), "carol")]);
        let prod: Profile = "prod".parse().unwrap();
        let alice = Who { principal: arn("alice"), person: person("alice") };
        let bob = Who { principal: arn("bob"), person: person("bob") };
        assert!(state.grants(&alice, &prod, t(59)));
        assert!(!state.grants(&alice, &prod, t(60)));
        assert!(!state.grants(&bob, &prod, t(1)));
        assert!(!state.grants(&alice, &"dev".parse().unwrap(), t(1)));
    }

    #[test]
    fn a_request_is_decided_once() {
        let denied = ApprovalState::fold(&[
            requested(1).into(),
            ApprovalDenied { approver: arn("carol"), comment: None }.into(),
        ]);
        assert!(matches!(
            denied.decide(&approve("dave"), t(1)),
            Err(DomainError::InvalidState { status: "denied", .. })
        ));
        let approved = ApprovalState::fold(&[requested(1).into(), grant("carol").into()]);
        assert!(matches!(
            approved.decide(
                &ApprovalCommand::Deny(ApprovalDenied { approver: arn("dave"), comment: None }, person("dave")),
                t(1)
            ),
            Err(DomainError::InvalidState { status: "approved", .. })
        ));
        // A forged grant after a denial does not approve.
        let forged = denied.evolve(&grant("dave").into());
        assert_eq!(forged.status_at(t(1)), Some(ApprovalStatus::Denied));
    }

    #[test]
    fn only_the_requester_cancels_and_a_cancel_gives_an_approval_back() {
        let state = ApprovalState::fold(&[requested(1).into()]);
        assert_eq!(
            state.decide(&ApprovalCommand::Cancel(ApprovalCancelled { by: arn("carol") }, person("carol")), t(1)),
            Err(DomainError::NotRequester)
        );
        let cancel = ApprovalCommand::Cancel(ApprovalCancelled { by: arn("alice") }, person("alice"));
        assert!(state.decide(&cancel, t(1)).is_ok());
        let approved = state.evolve(&grant("carol").into());
        let events = approved.decide(&cancel, t(1)).unwrap();
        let withdrawn = approved.clone().evolve(&events[0]);
        assert_eq!(withdrawn.status_at(t(1)), Some(ApprovalStatus::Cancelled));
        let alice = Who { principal: arn("alice"), person: None };
        assert!(!withdrawn.grants(&alice, &"prod".parse().unwrap(), t(1)));
    }

    #[test]
    fn an_approved_request_can_be_revoked_once_and_then_grants_nothing() {
        let revoke = ApprovalCommand::Revoke(ApprovalRevoked {
            by: arn("secops"),
            reason: "left the team".into(),
            session_id: None,
        });
        let pending = ApprovalState::fold(&[requested(1).into()]);
        assert!(matches!(pending.decide(&revoke, t(1)), Err(DomainError::InvalidState { status: "pending", .. })));
        let approved = pending.evolve(&grant("carol").into());
        let events = approved.decide(&revoke, t(1)).unwrap();
        let revoked = approved.clone().evolve(&events[0]);
        assert_eq!(revoked.status_at(t(1)), Some(ApprovalStatus::Revoked));
        assert!(!revoked.grants(&Who { principal: arn("alice"), person: None }, &"prod".parse().unwrap(), t(1)));
        assert!(matches!(revoked.decide(&revoke, t(2)), Err(DomainError::InvalidState { status: "revoked", .. })));
        assert_eq!(approved.decide(&revoke, t(60)), Err(DomainError::Expired("approval request")));
    }

    #[test]
    fn an_expired_request_never_grants_and_cannot_be_approved() {
        let state = ApprovalState::fold(&[requested(1).into()]);
        assert_eq!(state.decide(&approve("carol"), t(60)), Err(DomainError::Expired("approval request")));
        assert_eq!(state.decide(&ApprovalCommand::Expire, t(59)), Err(DomainError::NotExpired("approval request")));
        assert_eq!(state.decide(&ApprovalCommand::Expire, t(60)), Ok(vec![ApprovalExpired {}.into()]));
        let expired = state.evolve(&ApprovalExpired {}.into()).evolve(&grant("carol").into());
        assert_eq!(expired.status_at(t(1)), Some(ApprovalStatus::Expired));
        assert!(!expired.grants(&Who { principal: arn("alice"), person: None }, &"prod".parse().unwrap(), t(1)));
    }

    #[test]
    fn an_approval_granted_late_in_its_pending_window_is_usable_for_its_whole_duration() {
        let mut request = requested(1);
        request.duration_seconds = 1800;
        let state = ApprovalState::fold(&[request.into()]);
        let events = state.decide(&approve("carol"), t(59)).unwrap();
        let approved = state.evolve(&events[0]);
        assert_eq!(approved.status_at(t(60)), Some(ApprovalStatus::Approved), "past the pending expiry");
        assert_eq!(approved.usable_until(t(60)), Some(t(89)));
        assert_eq!(approved.status_at(t(89)), Some(ApprovalStatus::Expired));
    }

    #[test]
    fn a_second_request_waits_for_the_first_to_be_decided() {
        let first = ApprovalId::generate();
        let pending = ApprovalState::fold(&[requested(1).into()]);
        assert_eq!(
            request(Some((first, &pending)), ApprovalId::generate(), requested(1), t(1)),
            Err(DomainError::PendingRequest(first))
        );
        // Once it is decided (or expired) the next one may be asked.
        let approved = pending.clone().evolve(&grant("carol").into());
        let next = ApprovalId::generate();
        let made = request(Some((first, &approved)), next, requested(1), t(1)).unwrap();
        assert!(matches!(made.on_stream.as_slice(), [Event::ApprovalRequested(_)]));
        assert!(matches!(made.on_guard.as_slice(), [Event::ApprovalReserved(r)] if r.approval_id == next));
        let mut later = requested(1);
        later.expires_at = t(120);
        assert!(request(Some((first, &pending)), ApprovalId::generate(), later, t(60)).is_ok(), "the first expired");
        assert!(request(None, ApprovalId::generate(), requested(1), t(1)).is_ok());
    }

    #[test]
    fn deciding_an_unknown_request_is_not_found() {
        assert_eq!(
            given::<ApprovalState>(&[]).when(approve("carol"), t(0)),
            Err(DomainError::NotFound("approval request"))
        );
    }
}
