//! `POST /requests`, `GET /requests`, `GET /requests/{id}` and approve, deny, cancel, revoke.

use std::time::Duration;

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use ledger::command::{Command, Plan, Snapshot};
use ledger::decide::approval::{self, ApprovalCommand, ApprovalState, ApprovalStatus};
use ledger::decide::grant::{ends_grant, GrantStatus};
use ledger::event::{
    ApprovalCancelled, ApprovalDenied, ApprovalGranted, ApprovalRequested, ApprovalRevoked, SessionRevoked,
};
use ledger::policy::Request;
use ledger::store::KeyRecord;
use ledger::{Aggregate, ApprovalId, DomainError, Effect, Profile, SessionId, StreamKey};
use projections::{query, reader, ApprovalIndex, ApprovalView};
use serde::Deserialize;

use super::cascade;
use super::idempotency::{create_once, decide_once, Idempotency, Once};
use super::*;
use crate::http::{json_response, query_param, Answer};
/// The shortest `duration` a request may ask for: an approval must leave a credential its 900 s.
pub const MIN_APPROVAL_DURATION: Duration = Duration::from_secs(1800);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    profile: String,
    justification: String,
    duration: u64,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct DecideBody {
    #[serde(default)]
    comment: Option<String>,
}

/// The API shape of an approval request at `now`.
pub fn approval_json(view: &ApprovalView, now: DateTime<Utc>) -> serde_json::Value {
    serde_json::json!({
        "request_id": view.approval_id.to_string(),
        "status": view.status_at(now),
        "profile": view.request.profile.as_str(),
        "requester": view.request.requester.as_str(),
        "requester_person": view.requester_person.as_ref().map(ToString::to_string),
        "justification": view.request.justification,
        "duration": view.request.duration_seconds,
        "required": view.request.required,
        "approvals": view.approvers.iter().map(|a| a.principal.as_str()).collect::<Vec<_>>(),
        "requested_at": time(view.requested_at),
        "expires_at": time(view.request.expires_at),
        "usable_until": view.usable_until.map(time),
        "decided_at": view.decided_at.map(time),
    })
}

async fn current(deps: &Deps, id: ApprovalId) -> Result<Option<ApprovalView>, ApiError> {
    Ok(reader::approval(deps.views.as_ref(), deps.store.as_ref(), id).await.map_err(read_error)?.map(|c| c.view))
}

/// Opens an approval request: reads the person's approval guard for the profile and the request
/// it names last, lets the approval decider refuse a second request while that one is pending,
/// and appends the request and the guard's reservation together (with the key's answer, when
/// the request carries an `Idempotency-Key`).
struct Create {
    remember: Option<KeyRecord>,
    guard: StreamKey,
    id: ApprovalId,
    requested: ApprovalRequested,
    answer: Answer,
    now: DateTime<Utc>,
}

impl Command for Create {
    type Outcome = Answer;
    type Refusal = ApiError;

    fn reads(&self, read: &Snapshot) -> Vec<StreamKey> {
        let mut streams = vec![self.guard.clone()];
        if let Some(latest) = approval::reservations(&read.stream(&self.guard).events).last() {
            streams.push(StreamKey::Approval(latest.approval_id));
        }
        streams
    }

    fn decide(&self, read: &Snapshot) -> Result<Plan<Answer>, ApiError> {
        let latest = approval::reservations(&read.stream(&self.guard).events).last().map(|r| r.approval_id);
        let latest_state = latest.map(|id| read.fold::<ApprovalState>(&StreamKey::Approval(id)));
        let previous = latest.zip(latest_state.as_ref());
        let made = approval::request(previous, self.id, self.requested.clone(), self.now)?;
        let plan = Plan::new(self.answer.clone())
            .append(StreamKey::Approval(self.id), made.on_stream)
            .append(self.guard.clone(), made.on_guard);
        Ok(match &self.remember {
            Some(record) => plan.remember(record.clone()),
            None => plan,
        })
    }
}

/// `POST /requests`: only callers whom policy answers `require_approval` may ask.
pub async fn create(deps: &Deps, request: &ApiGatewayV2httpRequest) -> Result<ApiGatewayV2httpResponse, ApiError> {
    let ctx = Ctx::of(deps, request).await?;
    let key = Idempotency::of(&ctx, request)?;
    let body: CreateBody = body(request)?;
    let profile: Profile = body.profile.parse().map_err(|_| ApiError::InvalidProfile)?;
    let justification = text_field("justification", &body.justification, 10, 500)?;
    let policy = policy_of(deps, &profile).await?;
    let decision = policy.evaluate(&Request { caller: &ctx.subject, now: ctx.now, requested: None });
    if decision.effect != Effect::RequireApproval {
        return Err(ApiError::PolicyDeny {
            reason: format!(
                "approvals only satisfy require_approval; for this profile policy answers {}",
                decision.effect
            ),
        });
    }
    let approvals = policy.approvals.as_ref().ok_or(ApiError::PolicyError)?;
    let duration = Duration::from_secs(body.duration);
    if duration < MIN_APPROVAL_DURATION || duration > approvals.window {
        return Err(ApiError::InvalidDuration(format!(
            "duration must be from {} to {} seconds (a credential needs 900 s; the profile's approval window caps it).",
            MIN_APPROVAL_DURATION.as_secs(),
            approvals.window.as_secs()
        )));
    }
    let id = ApprovalId::generate();
    let requested = ApprovalRequested {
        requester: ctx.caller.principal.clone(),
        profile: profile.clone(),
        justification,
        duration_seconds: body.duration as u32,
        // Pending until the policy's window ends; once granted, usable for `duration` from then.
        expires_at: ctx.now + chrono::Duration::seconds(approvals.window.as_secs() as i64),
        required: approvals.required,
    };
    // The answer follows from the decided state alone, so it is remembered in the same write.
    let view = ApprovalView {
        approval_id: id,
        status: ApprovalStatus::Pending,
        request: requested.clone(),
        requester_person: Some(ctx.caller.person.clone()),
        approvers: Vec::new(),
        usable_until: None,
        requested_at: ctx.now,
        decided_at: None,
    };
    let answer = Answer::created(approval_json(&view, ctx.now));
    let guard = StreamKey::ApprovalGuard { profile: profile.clone(), person: ctx.caller.person.clone() };
    let remember = key.as_ref().map(|k| k.answered(&answer, ctx.now)).transpose()?;
    let command = Create { remember, guard, id, requested, answer, now: ctx.now };
    match create_once(deps, &ctx, key.as_ref(), &command).await? {
        Once::Done(done) => {
            tracing::info!(request_id = %ctx.request_id, approval_id = %id, principal = %ctx.caller.principal, profile = %profile, "approval requested");
            Ok(done.outcome.into_response())
        }
        Once::Replayed(answer) => Ok(answer.replayed()),
    }
}

/// Whether the caller may see a request: its requester, the profile's approvers, admins.
async fn may_see(deps: &Deps, ctx: &Ctx, view: &ApprovalView) -> Result<bool, ApiError> {
    if view.requester().is(&ctx.who) {
        return Ok(true);
    }
    let approver = policy_if_any(deps, &view.request.profile)
        .await
        .is_some_and(|p| p.approvals.as_ref().is_some_and(|a| a.is_approver(&ctx.subject)));
    Ok(approver || is_admin(deps, &ctx.subject).await?)
}

/// `GET /requests/{id}`.
pub async fn show(deps: &Deps, request: &ApiGatewayV2httpRequest) -> Result<ApiGatewayV2httpResponse, ApiError> {
    let ctx = Ctx::of(deps, request).await?;
    let id: ApprovalId = path_id(request, "id")?;
    let view = current(deps, id).await?.ok_or(ApiError::NotFound)?;
    if !may_see(deps, &ctx, &view).await? {
        return Err(ApiError::NotFound);
    }
    Ok(json_response(200, &approval_json(&view, ctx.now)))
}

/// `GET /requests?status=&profile=&approver=me`.
pub async fn list(deps: &Deps, request: &ApiGatewayV2httpRequest) -> Result<ApiGatewayV2httpResponse, ApiError> {
    let ctx = Ctx::of(deps, request).await?;
    let pager = ctx.pager(deps, request, "GET /requests")?;
    let status: Option<ApprovalStatus> =
        status_param(query_param(request, "status")?, "pending, approved, denied, cancelled, revoked, expired")?;
    let profile = query_param(request, "profile")?
        .map(|p| p.parse::<Profile>().map_err(|_| ApiError::InvalidProfile))
        .transpose()?;
    let approver = query_param(request, "approver")?;
    let views = match approver.as_deref() {
        Some("me") => {
            let mut profiles = Vec::new();
            let all = deps.policies.profiles().await.map_err(|_| ApiError::PolicyError)?;
            for entry in all {
                let Ok(name) = entry.name.parse::<Profile>() else { continue };
                if profile.as_ref().is_some_and(|p| p != &name) {
                    continue;
                }
                let approves = policy_if_any(deps, &name)
                    .await
                    .is_some_and(|p| p.approvals.as_ref().is_some_and(|a| a.is_approver(&ctx.subject)));
                if approves {
                    profiles.push(name);
                }
            }
            query::pending_for_approver(deps.views.as_ref(), &ctx.who, &profiles, ctx.now).await.map_err(view_error)?
        }
        Some(_) => return Err(ApiError::InvalidRequest("approver may only be `me`.".into())),
        None => {
            let may_list_profile = match &profile {
                Some(p) => {
                    let approves = policy_if_any(deps, p)
                        .await
                        .is_some_and(|pol| pol.approvals.as_ref().is_some_and(|a| a.is_approver(&ctx.subject)));
                    approves || is_admin(deps, &ctx.subject).await?
                }
                None => false,
            };
            let index = match (&profile, may_list_profile) {
                (Some(p), true) => ApprovalIndex::Profile(p.clone()),
                _ => ApprovalIndex::Requester(ctx.who.clone()),
            };
            let rows = query::approvals_at(deps.views.as_ref(), &index, status, ctx.now).await.map_err(view_error)?;
            rows.into_iter().filter(|v| profile.as_ref().is_none_or(|p| &v.request.profile == p)).collect()
        }
    };
    let items = views
        .iter()
        .filter(|v| status.is_none_or(|s| v.status_at(ctx.now) == s))
        .map(|v| approval_json(v, ctx.now))
        .collect();
    Ok(pager.respond(items, |v| v["request_id"].as_str().unwrap_or_default().to_owned()))
}

/// What a decision route does.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Deny,
    Cancel,
    Revoke,
}

impl Decision {
    fn verb(self) -> &'static str {
        match self {
            Decision::Approve => "approved",
            Decision::Deny => "denied",
            Decision::Cancel => "cancelled",
            Decision::Revoke => "revoked",
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeBody {
    reason: String,
}

/// Decides on the request's stream. A decision that ends an approved request (a revocation, or
/// the requester's cancel) also revokes every live session resting on it, in the same write. An
/// expired request records its expiry (once) and answers 409.
struct Decide {
    stream: StreamKey,
    command: ApprovalCommand,
    /// What each session resting on the approval records if the decision ends it.
    revoked: SessionRevoked,
    now: DateTime<Utc>,
}

impl Command for Decide {
    type Outcome = Result<Vec<SessionId>, ApiError>;
    type Refusal = ApiError;

    fn reads(&self, read: &Snapshot) -> Vec<StreamKey> {
        let mut streams = vec![self.stream.clone()];
        streams.extend(cascade::resting_reads(read, &self.stream));
        streams
    }

    fn decide(&self, read: &Snapshot) -> Result<Plan<Result<Vec<SessionId>, ApiError>>, ApiError> {
        let state: ApprovalState = read.fold(&self.stream);
        let before = GrantStatus::of_approval(&state, self.now);
        match state.decide(&self.command, self.now) {
            Ok(events) => {
                let ends = ends_grant(before, &events);
                let plan = Plan::new(()).append(self.stream.clone(), events);
                if !ends {
                    return Ok(plan.map(|()| Ok(Vec::new())));
                }
                let (plan, ended) = cascade::revoke_resting(plan, read, &self.stream, None, &self.revoked, self.now);
                Ok(plan.map(|()| Ok(ended)))
            }
            Err(DomainError::Expired(what)) => {
                let expired = ApiError::Conflict(format!("The {what} has expired."));
                let plan = Plan::new(Err(expired));
                // Expire is refused only when the expiry is already recorded: nothing to add then.
                Ok(match state.decide(&ApprovalCommand::Expire, self.now) {
                    Ok(events) => plan.append(self.stream.clone(), events),
                    Err(_) => plan,
                })
            }
            Err(other) => Err(other.into()),
        }
    }
}

/// `POST /requests/{id}/approve`.
pub async fn approve(deps: &Deps, request: &ApiGatewayV2httpRequest) -> Result<ApiGatewayV2httpResponse, ApiError> {
    decide_once(deps, request, || decide(deps, request, Decision::Approve)).await
}

/// `POST /requests/{id}/deny`.
pub async fn deny(deps: &Deps, request: &ApiGatewayV2httpRequest) -> Result<ApiGatewayV2httpResponse, ApiError> {
    decide_once(deps, request, || decide(deps, request, Decision::Deny)).await
}

/// `POST /requests/{id}/cancel`: the requester withdraws a pending request or gives back an
/// approved one (its sessions are revoked).
pub async fn cancel(deps: &Deps, request: &ApiGatewayV2httpRequest) -> Result<ApiGatewayV2httpResponse, ApiError> {
    decide_once(deps, request, || decide(deps, request, Decision::Cancel)).await
}

/// `POST /requests/{id}/revoke` `{reason}`: an approver, revoker or admin ends an approved
/// request and every session resting on it.
pub async fn revoke(deps: &Deps, request: &ApiGatewayV2httpRequest) -> Result<ApiGatewayV2httpResponse, ApiError> {
    decide_once(deps, request, || decide(deps, request, Decision::Revoke)).await
}

/// Whether the caller may decide `decision` on a request of `profile` (the requester's own
/// rights are the decider's to check).
async fn may_decide(deps: &Deps, ctx: &Ctx, decision: Decision, profile: &Profile) -> Result<bool, ApiError> {
    let policy = policy_of(deps, profile).await?;
    let approver = policy.approvals.as_ref().is_some_and(|a| a.is_approver(&ctx.subject));
    Ok(match decision {
        Decision::Approve | Decision::Deny => approver,
        Decision::Revoke => approver || policy.is_revoker(&ctx.subject) || is_admin(deps, &ctx.subject).await?,
        Decision::Cancel => false,
    })
}

/// Approve, deny, cancel or revoke: exactly one concurrent decision wins.
async fn decide(deps: &Deps, request: &ApiGatewayV2httpRequest, decision: Decision) -> Result<Answer, ApiError> {
    let ctx = Ctx::of(deps, request).await?;
    let id: ApprovalId = path_id(request, "id")?;
    let (comment, reason) = match decision {
        Decision::Revoke => {
            let body: RevokeBody = body(request)?;
            (None, Some(text_field("reason", &body.reason, 1, 500)?))
        }
        _ => {
            let body: DecideBody = body(request)?;
            (body.comment.map(|c| text_field("comment", &c, 0, 500)).transpose()?, None)
        }
    };
    let stream = StreamKey::Approval(id);
    // Rights come from the request's profile policy, read once (the profile never changes).
    let first = ledger::command::read(deps.store.as_ref(), std::slice::from_ref(&stream)).await?;
    let ApprovalState::Known(record) = first.fold::<ApprovalState>(&stream) else { return Err(ApiError::NotFound) };
    let is_requester = record.requester().is(&ctx.who);
    let allowed = match decision {
        // The requester's approve or deny reaches the decider, which refuses it as self-approval.
        Decision::Approve | Decision::Deny if is_requester => true,
        Decision::Cancel => is_requester,
        _ => may_decide(deps, &ctx, decision, &record.request.profile).await?,
    };
    if !allowed {
        let visible = may_see(deps, &ctx, &current(deps, id).await?.ok_or(ApiError::NotFound)?).await?;
        return Err(match (visible, decision) {
            (false, _) => ApiError::NotFound,
            (true, Decision::Cancel) => DomainError::NotRequester.into(),
            (true, Decision::Revoke) => {
                ApiError::NotAuthorized("Only the profile's approvers, its revokers and admins may revoke.".into())
            }
            (true, _) => ApiError::NotAuthorized("Only the profile's approvers may decide this request.".into()),
        });
    }
    let me = ctx.caller.principal.clone();
    let person = Some(ctx.caller.person.clone());
    let why = reason.clone().unwrap_or_else(|| "withdrawn by the requester".to_owned());
    let revoked = SessionRevoked { by: me.clone(), reason: format!("approval {id} {}: {why}", decision.verb()) };
    let command = match decision {
        Decision::Approve => {
            ApprovalCommand::Approve(ApprovalGranted { approver: me, comment, usable_until: None }, person)
        }
        Decision::Deny => ApprovalCommand::Deny(ApprovalDenied { approver: me, comment }, person),
        Decision::Cancel => ApprovalCommand::Cancel(ApprovalCancelled { by: me }, person),
        Decision::Revoke => ApprovalCommand::Revoke(ApprovalRevoked { by: me, reason: why, session_id: None }),
    };
    let ended = execute(deps, &ctx, &Decide { stream, command, revoked, now: ctx.now }).await?.outcome?;
    let view = current(deps, id).await?.ok_or(ApiError::LedgerUnavailable)?;
    tracing::info!(request_id = %ctx.request_id, approval_id = %id, by = %ctx.caller.principal, status = ?view.status_at(ctx.now), revoked_sessions = ended.len(), "approval decided");
    let mut answer = approval_json(&view, ctx.now);
    answer["revoked_sessions"] = ended.iter().map(ToString::to_string).collect();
    Ok(Answer::ok(answer))
}
