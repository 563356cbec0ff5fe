//! `GET /sessions`, `GET /sessions/{id}`, `POST /sessions/{id}/revoke`.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use chrono::{DateTime, Utc};
use ledger::command::{Command, Plan, Snapshot};
use ledger::decide::grant;
use ledger::decide::session::{SessionCommand, SessionState, SessionStatus};
use ledger::event::SessionRevoked;
use ledger::{Aggregate, Basis, PrincipalArn, Profile, SessionId, StreamKey};
use projections::{query, reader, SessionIndex, SessionView};
use serde::Deserialize;

use super::cascade;
use super::idempotency::decide_once;
use super::*;
use crate::http::{json_response, query_param, Answer};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeBody {
    reason: String,
}

/// The API shape of a session at `now` (never the token or its hash).
pub fn session_json(view: &SessionView, now: DateTime<Utc>) -> serde_json::Value {
    serde_json::json!({
        "session_id": view.session_id.to_string(),
        "status": view.status_at(now),
        "principal": view.principal().as_str(),
        "person": view.person.as_ref().map(ToString::to_string),
        "profile": view.profile().as_str(),
        "role_arn": view.role_arn().map(|r| r.as_str()),
        "source_identity": view.source_identity(),
        "basis": view.decision.basis.to_string(),
        "reason": view.request.reason,
        "issued_at": view.issued_at.map(time),
        "expires_at": view.credentials_expire_at.map(time),
        "session_ends_at": view.session_ends_at().map(time),
        "last_refresh_at": view.last_refresh_at.map(time),
        "refreshes": view.refreshes,
        "revoked_by": view.revoked.as_ref().map(|r| r.by.as_str()),
        "revoke_reason": view.revoked.as_ref().map(|r| r.reason.clone()),
        "ended_at": view.ended_at.map(time),
    })
}

/// A session that has credentials (requests that were refused are not sessions).
async fn current(deps: &Deps, id: SessionId) -> Result<Option<SessionView>, ApiError> {
    let view = reader::session(deps.views.as_ref(), deps.store.as_ref(), id).await.map_err(read_error)?.map(|c| c.view);
    Ok(view.filter(|v| v.issued.is_some()))
}

/// Owners (the person, from any principal) act on their own sessions, a profile's revokers on
/// its sessions, admins on all.
async fn may_act(deps: &Deps, ctx: &Ctx, view: &SessionView) -> Result<bool, ApiError> {
    if view.owner().is(&ctx.who) {
        return Ok(true);
    }
    is_revoker_or_admin(deps, &ctx.subject, view.profile()).await
}

/// `GET /sessions/{id}`.
pub async fn show(deps: &Deps, request: &ApiGatewayV2httpRequest) -> Result<ApiGatewayV2httpResponse, ApiError> {
    let ctx = Ctx::of(deps, request).await?;
    let id: SessionId = path_id(request, "id")?;
    let view = current(deps, id).await?.ok_or(ApiError::NotFound)?;
    if !may_act(deps, &ctx, &view).await? {
        return Err(ApiError::NotFound);
    }
    Ok(json_response(200, &session_json(&view, ctx.now)))
}

/// What revoking a session ended besides it.
#[derive(Debug, Clone, Default)]
struct Ended {
    /// The grant the session rested on, if revoking it ended that grant.
    grant: Option<Basis>,
    /// The other sessions resting on that grant, revoked with it.
    sessions: Vec<SessionId>,
}

/// Revokes a session on its stream; when it rested on an approval or a break-glass, ends that
/// grant (`ApprovalRevoked` or `BreakGlassClosed` naming the session) and revokes the other live
/// sessions resting on it, all in one write.
struct Revoke {
    session: SessionId,
    revoked: SessionRevoked,
    now: DateTime<Utc>,
}

impl Revoke {
    fn stream(&self) -> StreamKey {
        StreamKey::Session(self.session)
    }

    /// The grant the session rests on, once its stream has been read.
    fn grant(&self, read: &Snapshot) -> Option<(Basis, StreamKey)> {
        let basis = grant::session_basis(&read.stream(&self.stream()).events)?;
        grant::grant_stream(basis).map(|stream| (basis, stream))
    }
}

impl Command for Revoke {
    type Outcome = Ended;
    type Refusal = ApiError;

    fn reads(&self, read: &Snapshot) -> Vec<StreamKey> {
        let mut streams = vec![self.stream()];
        if let Some((_, grant)) = self.grant(read) {
            streams.extend(cascade::resting_reads(read, &grant));
            streams.push(grant);
        }
        streams
    }

    fn decide(&self, read: &Snapshot) -> Result<Plan<Ended>, ApiError> {
        let state: SessionState = read.fold(&self.stream());
        let events = state.decide(&SessionCommand::Revoke(self.revoked.clone()), self.now)?;
        let plan = Plan::new(()).append(self.stream(), events);
        let Some((basis, grant)) = self.grant(read) else { return Ok(plan.map(|()| Ended::default())) };
        let why = format!("session {} revoked: {}", self.session, self.revoked.reason);
        let on_grant = grant::end_for_session(
            &grant,
            &read.stream(&grant).events,
            self.session,
            &self.revoked.by,
            &why,
            self.now,
        )?;
        let ended_grant = (!on_grant.is_empty()).then_some(basis);
        let plan = plan.append(grant.clone(), on_grant);
        let siblings = SessionRevoked { by: self.revoked.by.clone(), reason: why };
        let (plan, sessions) = cascade::revoke_resting(plan, read, &grant, Some(self.session), &siblings, self.now);
        Ok(plan.map(|()| Ended { grant: ended_grant, sessions }))
    }
}

/// `POST /sessions/{id}/revoke`: appends `SessionRevoked` once; the authorizer and refresh
/// refuse the session from the moment it commits.
pub async fn revoke(deps: &Deps, request: &ApiGatewayV2httpRequest) -> Result<ApiGatewayV2httpResponse, ApiError> {
    decide_once(deps, request, || revoke_once(deps, request)).await
}

async fn revoke_once(deps: &Deps, request: &ApiGatewayV2httpRequest) -> Result<Answer, ApiError> {
    let ctx = Ctx::of(deps, request).await?;
    let id: SessionId = path_id(request, "id")?;
    let body: RevokeBody = body(request)?;
    let reason = text_field("reason", &body.reason, 1, 500)?;
    let view = current(deps, id).await?.ok_or(ApiError::NotFound)?;
    if !may_act(deps, &ctx, &view).await? {
        return Err(ApiError::NotFound);
    }
    let revoked = SessionRevoked { by: ctx.caller.principal.clone(), reason };
    let ended = execute(deps, &ctx, &Revoke { session: id, revoked, now: ctx.now }).await?.outcome;
    tracing::warn!(request_id = %ctx.request_id, session_id = %id, by = %ctx.caller.principal, ended_grant = ?ended.grant, revoked_sessions = ended.sessions.len(), "session revoked");
    let view = current(deps, id).await?.ok_or(ApiError::LedgerUnavailable)?;
    let mut answer = session_json(&view, ctx.now);
    answer["ended_grant"] = ended.grant.map(|b| b.to_string()).into();
    answer["revoked_sessions"] = ended.sessions.iter().map(ToString::to_string).collect();
    Ok(Answer::ok(answer))
}

/// `GET /sessions?status=&profile=&principal=`: your own by default; a profile's for its
/// revokers and admins; another principal's or every session for admins.
pub async fn list(deps: &Deps, request: &ApiGatewayV2httpRequest) -> Result<ApiGatewayV2httpResponse, ApiError> {
    let ctx = Ctx::of(deps, request).await?;
    let pager = ctx.pager(deps, request, "GET /sessions")?;
    let status: Option<SessionStatus> = status_param(query_param(request, "status")?, "active, revoked, expired")?;
    let profile = query_param(request, "profile")?
        .map(|p| p.parse::<Profile>().map_err(|_| ApiError::InvalidProfile))
        .transpose()?;
    let principal = query_param(request, "principal")?
        .map(|p| {
            p.parse::<PrincipalArn>().map_err(|_| ApiError::InvalidRequest("principal must be a principal ARN.".into()))
        })
        .transpose()?;
    let admin = is_admin(deps, &ctx.subject).await?;
    let indexes = match (&profile, &principal) {
        (Some(p), _) if is_revoker_or_admin(deps, &ctx.subject, p).await? => vec![SessionIndex::Profile(p.clone())],
        (Some(_), _) => vec![SessionIndex::Owner(ctx.who.clone())],
        (None, Some(who)) if who == &ctx.caller.principal => vec![SessionIndex::Owner(ctx.who.clone())],
        // Sessions are indexed by person: another principal's are found among all of them.
        (None, Some(_)) if admin => match status {
            Some(s) => vec![SessionIndex::Status(s)],
            None => [SessionStatus::Active, SessionStatus::Revoked, SessionStatus::Expired]
                .into_iter()
                .map(SessionIndex::Status)
                .collect(),
        },
        (None, Some(_)) => {
            return Err(ApiError::NotAuthorized("Only admins may list another principal's sessions.".into()))
        }
        (None, None) if admin && status.is_some() => {
            vec![SessionIndex::Status(status.unwrap_or(SessionStatus::Active))]
        }
        (None, None) => vec![SessionIndex::Owner(ctx.who.clone())],
    };
    let mut rows = Vec::new();
    for index in &indexes {
        rows.extend(query::sessions_at(deps.views.as_ref(), index, status, ctx.now).await.map_err(view_error)?);
    }
    let items = rows
        .iter()
        .filter(|v| v.issued.is_some())
        .filter(|v| profile.as_ref().is_none_or(|p| v.profile() == p))
        .filter(|v| principal.as_ref().is_none_or(|p| v.principal() == p))
        .map(|v| session_json(v, ctx.now))
        .collect();
    Ok(pager.respond(items, |v| v["session_id"].as_str().unwrap_or_default().to_owned()))
}
