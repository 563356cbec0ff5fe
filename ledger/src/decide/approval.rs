//! The approval stream: a request, then distinct approvers' grants up to the quorum, or one
//! denial, a cancellation by the requester, or expiry at the end of its window.

use chrono::{DateTime, Utc};

use super::{Aggregate, DomainError};
use crate::event::{ApprovalCancelled, ApprovalDenied, ApprovalExpired, ApprovalGranted, ApprovalRequested, Event};
use crate::ids::{PrincipalArn, Profile};

/// The status the API and views show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    Pending,
    Approved,
    Denied,
    Cancelled,
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
            ApprovalStatus::Expired => "expired",
        }
    }
}

/// A request and the approvals it has gathered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRecord {
    pub request: ApprovalRequested,
    /// Distinct approvers who granted, in order.
    pub approvers: Vec<PrincipalArn>,
    pub status: ApprovalStatus,
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
                ApprovalStatus::Pending | ApprovalStatus::Approved if now >= r.request.expires_at => {
                    ApprovalStatus::Expired
                }
                status => status,
            }),
        }
    }

    /// Whether this approval lets `principal` use `profile` at `now`.
    pub fn grants(&self, principal: &PrincipalArn, profile: &Profile, now: DateTime<Utc>) -> bool {
        match self {
            ApprovalState::Known(r) => {
                self.status_at(now) == Some(ApprovalStatus::Approved)
                    && &r.request.requester == principal
                    && &r.request.profile == profile
            }
            ApprovalState::Unknown => false,
        }
    }
}

/// What may be asked of an approval stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApprovalCommand {
    Request(ApprovalRequested),
    Approve(ApprovalGranted),
    Deny(ApprovalDenied),
    Cancel(ApprovalCancelled),
    Expire,
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
        match command {
            ApprovalCommand::Request(_) => Err(DomainError::AlreadyExists("approval request")),
            ApprovalCommand::Approve(g) => {
                if g.approver == record.request.requester {
                    return Err(DomainError::SelfApproval);
                }
                match status {
                    ApprovalStatus::Pending if record.approvers.contains(&g.approver) => {
                        Err(DomainError::AlreadyDecided)
                    }
                    ApprovalStatus::Pending => Ok(vec![g.clone().into()]),
                    ApprovalStatus::Expired => Err(DomainError::Expired("approval request")),
                    _ => Err(invalid("approved")),
                }
            }
            ApprovalCommand::Deny(d) => {
                if d.approver == record.request.requester {
                    return Err(DomainError::SelfApproval);
                }
                match status {
                    ApprovalStatus::Pending => Ok(vec![d.clone().into()]),
                    ApprovalStatus::Expired => Err(DomainError::Expired("approval request")),
                    _ => Err(invalid("denied")),
                }
            }
            ApprovalCommand::Cancel(c) => {
                if c.by != record.request.requester {
                    return Err(DomainError::NotRequester);
                }
                // Only a pending request is withdrawn: approve, deny and cancel race for one
                // decision, and exactly one wins.
                match status {
                    ApprovalStatus::Pending => Ok(vec![c.clone().into()]),
                    ApprovalStatus::Expired => Err(DomainError::Expired("approval request")),
                    _ => Err(invalid("cancelled")),
                }
            }
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

    fn evolve(self, event: &Event) -> ApprovalState {
        match (self, event) {
            (ApprovalState::Unknown, Event::ApprovalRequested(r)) => ApprovalState::Known(Box::new(ApprovalRecord {
                request: r.clone(),
                approvers: Vec::new(),
                status: ApprovalStatus::Pending,
            })),
            (ApprovalState::Known(mut r), event) if r.status == ApprovalStatus::Pending => {
                match event {
                    Event::ApprovalGranted(g) if g.approver != r.request.requester => {
                        if !r.approvers.contains(&g.approver) {
                            r.approvers.push(g.approver.clone());
                        }
                        if r.approvers.len() as u64 >= u64::from(r.request.required) {
                            r.status = ApprovalStatus::Approved;
                        }
                    }
                    Event::ApprovalDenied(_) => r.status = ApprovalStatus::Denied,
                    Event::ApprovalCancelled(_) => r.status = ApprovalStatus::Cancelled,
                    Event::ApprovalExpired(_) => r.status = ApprovalStatus::Expired,
                    _ => {}
                }
                ApprovalState::Known(r)
            }
            (ApprovalState::Known(mut r), Event::ApprovalExpired(_)) if r.status == ApprovalStatus::Approved => {
                r.status = ApprovalStatus::Expired;
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

    fn arn(name: &str) -> PrincipalArn {
        format!("arn:aws:iam::111122223333:user/{name}").parse().unwrap()
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
        ApprovalGranted { approver: arn(by), comment: None }
    }

    #[test]
    fn self_approval_is_refused() {
        let err = given::<ApprovalState>(&[requested(1).into()]).when(ApprovalCommand::Approve(grant("alice")), t(1));
        assert_eq!(err, Err(DomainError::SelfApproval));
    }

    #[test]
    fn a_quorum_of_two_needs_two_distinct_approvers() {
        let mut history: Vec<Event> = vec![requested(2).into(), grant("carol").into()];
        let state = ApprovalState::fold(&history);
        assert_eq!(state.status_at(t(1)), Some(ApprovalStatus::Pending));
        assert_eq!(state.decide(&ApprovalCommand::Approve(grant("carol")), t(1)), Err(DomainError::AlreadyDecided));
        history.push(grant("carol").into()); // a duplicate grant in the ledger still counts once
        assert_eq!(ApprovalState::fold(&history).status_at(t(1)), Some(ApprovalStatus::Pending));
        history.push(grant("dave").into());
        let state = ApprovalState::fold(&history);
        assert_eq!(state.status_at(t(1)), Some(ApprovalStatus::Approved));
        assert!(state.grants(&arn("alice"), &"prod".parse().unwrap(), t(1)));
    }

    #[test]
    fn an_approval_grants_only_its_requester_its_profile_and_only_inside_its_window() {
        let state = ApprovalState::fold(&[requested(1).into(), grant("carol").into()]);
        let prod: Profile = "prod".parse().unwrap();
        assert!(state.grants(&arn("alice"), &prod, t(59)));
        assert!(!state.grants(&arn("alice"), &prod, t(60)));
        assert!(!state.grants(&arn("bob"), &prod, t(1)));
        assert!(!state.grants(&arn("alice"), &"dev".parse().unwrap(), t(1)));
    }

    #[test]
    fn a_request_is_decided_once() {
        let denied = ApprovalState::fold(&[
            requested(1).into(),
            ApprovalDenied { approver: arn("carol"), comment: None }.into(),
        ]);
        assert!(matches!(
            denied.decide(&ApprovalCommand::Approve(grant("dave")), t(1)),
            Err(DomainError::InvalidState { status: "denied", .. })
        ));
        let approved = ApprovalState::fold(&[requested(1).into(), grant("carol").into()]);
        assert!(matches!(
            approved.decide(&ApprovalCommand::Deny(ApprovalDenied { approver: arn("dave"), comment: None }), t(1)),
            Err(DomainError::InvalidState { status: "approved", .. })
        ));
        // A forged grant after a denial does not approve.
        let forged = denied.evolve(&grant("dave").into());
        assert_eq!(forged.status_at(t(1)), Some(ApprovalStatus::Denied));
    }

    #[test]
    fn only_the_requester_cancels() {
        let state = ApprovalState::fold(&[requested(1).into()]);
        assert_eq!(
            state.decide(&ApprovalCommand::Cancel(ApprovalCancelled { by: arn("carol") }), t(1)),
            Err(DomainError::NotRequester)
        );
        assert!(state.decide(&ApprovalCommand::Cancel(ApprovalCancelled { by: arn("alice") }), t(1)).is_ok());
    }

    #[test]
    fn an_expired_request_never_grants_and_cannot_be_approved() {
        let state = ApprovalState::fold(&[requested(1).into()]);
        assert_eq!(
            state.decide(&ApprovalCommand::Approve(grant("carol")), t(60)),
            Err(DomainError::Expired("approval request"))
        );
        assert_eq!(state.decide(&ApprovalCommand::Expire, t(59)), Err(DomainError::NotExpired("approval request")));
        assert_eq!(state.decide(&ApprovalCommand::Expire, t(60)), Ok(vec![ApprovalExpired {}.into()]));
        let expired = state.evolve(&ApprovalExpired {}.into()).evolve(&grant("carol").into());
        assert_eq!(expired.status_at(t(1)), Some(ApprovalStatus::Expired));
        assert!(!expired.grants(&arn("alice"), &"prod".parse().unwrap(), t(1)));
    }

    #[test]
    fn deciding_an_unknown_request_is_not_found() {
        assert_eq!(
            given::<ApprovalState>(&[]).when(ApprovalCommand::Approve(grant("carol")), t(0)),
            Err(DomainError::NotFound("approval request"))
        );
    }
}
