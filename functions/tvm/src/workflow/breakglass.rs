//! `POST /breakglass`, `GET /breakglass`, `GET /breakglass/{id}`, `POST /breakglass/{id}/close`.
//!
//! Invocations of one person on one profile are serialised by the guard stream
//! `GUARD#breakglass#<profile>#<person>`: the invocation appends `BreakGlassReserved` there
//! at the seq it read, in the same write as `BreakGlassInvoked`, so two concurrent invocations
//! cannot both pass the stacking and cooldown rule (`ledger::decide::breakglass::invoke`), from
//! whichever of the person's principals they come. The caller principal's guard from before
//! person keys is read too, so an invocation made before the upgrade still counts.

use std::time::Duration;

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use ledger::command::{Command, Plan, Snapshot};
use ledger::decide::breakglass::{self, BreakGlassCommand, BreakGlassState, BreakGlassStatus, Previous};
use ledger::event::{BreakGlassClosed, BreakGlassInvoked, SessionRevoked};
use ledger::store::KeyRecord;
use ledger::{Aggregate, BreakGlassId, Profile, SessionId, StreamKey};
use projections::{query, reader, BreakGlassIndex, BreakGlassView};
use serde::Deserialize;

use super::cascade;
use super::idempotency::{create_once, decide_once, Idempotency, Once};
use super::*;
use crate::http::{json_response, query_param, Answer};
use crate::vend::MIN_DURATION;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InvokeBody {
    profile: String,
    reason_code: String,
    justification: String,
    #[serde(default)]
    duration: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CloseBody {
    reason: String,
}

/// The API shape of a break-glass at `now`.
pub fn break_glass_json(view: &BreakGlassView, now: DateTime<Utc>) -> serde_json::Value {
    serde_json::json!({
        "breakglass_id": view.breakglass_id.to_string(),
        "status": view.status_at(now),
        "invoker": view.invoked.invoker.as_str(),
        "profile": view.invoked.profile.as_str(),
        "reason_code": view.invoked.reason_code,
        "justification": view.invoked.justification,
        "duration": view.invoked.duration_seconds,
        "invoked_at": time(view.invoked_at),
        "expires_at": time(view.invoked.expires_at),
        "ended_at": view.ended_at.map(time),
    })
}

async fn current(deps: &Deps, id: BreakGlassId) -> Result<Option<BreakGlassView>, ApiError> {
    Ok(reader::break_glass(deps.views.as_ref(), deps.store.as_ref(), id).await.map_err(read_error)?.map(|c| c.view))
}

/// Invokes break-glass: reads the caller's guard on the profile and the invocation it names
/// last, lets the break-glass decider rule on stacking and cooldown, and appends the invocation
/// and the guard's reservation together (with the key's answer), so two concurrent invocations
/// cannot both pass.
struct Invoke {
    remember: Option<KeyRecord>,
    guard: StreamKey,
    /// The caller principal's guard as written before person keys (read, never written).
    legacy_guard: StreamKey,
    id: BreakGlassId,
    invoked: BreakGlassInvoked,
    cooldown: Duration,
    answer: Answer,
    now: DateTime<Utc>,
}

impl Command for Invoke {
    type Outcome = Answer;
    type Refusal = ApiError;

    fn reads(&self, read: &Snapshot) -> Vec<StreamKey> {
        let mut streams = vec![self.guard.clone(), self.legacy_guard.clone()];
        for guard in [&self.guard, &self.legacy_guard] {
            if let Some(previous) = breakglass::latest_reserved(&read.stream(guard).events) {
                streams.push(StreamKey::BreakGlass(previous));
            }
        }
        streams
    }

    fn decide(&self, read: &Snapshot) -> Result<Plan<Answer>, ApiError> {
        // The later-ending of the person's latest invocation and the one the old guard names
        // (an active one counts as ending last).
        let previous = [&self.guard, &self.legacy_guard]
            .into_iter()
            .filter_map(|guard| breakglass::latest_reserved(&read.stream(guard).events))
            .map(|id| Previous {
                id,
                ended_at: breakglass::ended_at(&read.stream(&StreamKey::BreakGlass(id)).events, self.now),
            })
            .max_by_key(|p| p.ended_at.map_or((1, None), |at| (0, Some(at))));
        let invocation = breakglass::invoke(previous, self.id, self.invoked.clone(), self.cooldown, self.now)?;
        let plan = Plan::new(self.answer.clone())
            .append(StreamKey::BreakGlass(self.id), invocation.on_stream)
            .append(self.guard.clone(), invocation.on_guard);
        Ok(match &self.remember {
            Some(record) => plan.remember(record.clone()),
            None => plan,
        })
    }
}

/// `POST /breakglass`.
pub async fn invoke(deps: &Deps, request: &ApiGatewayV2httpRequest) -> Result<ApiGatewayV2httpResponse, ApiError> {
    let ctx = Ctx::of(deps, request).await?;
    let key = Idempotency::of(&ctx, request)?;
    let body: InvokeBody = body(request)?;
    let profile: Profile = body.profile.parse().map_err(|_| ApiError::InvalidProfile)?;
    let justification = text_field("justification", &body.justification, 20, 1000)?;
    let policy = policy_of(deps, &profile).await?;
    let config = policy
        .break_glass
        .as_ref()
        .filter(|bg| bg.allows(&ctx.subject))
        .ok_or_else(|| ApiError::NotAuthorized("You are not allowed to break glass on this profile.".into()))?;
    if !config.reason_codes.iter().any(|c| c.as_str() == body.reason_code) {
        let allowed: Vec<&str> = config.reason_codes.iter().map(|c| c.as_str()).collect();
        return Err(ApiError::InvalidRequest(format!("reason_code must be one of: {}.", allowed.join(", "))));
    }
    let duration = body.duration.map(Duration::from_secs).unwrap_or(config.max_duration);
    if duration < MIN_DURATION || duration > config.max_duration {
        return Err(ApiError::InvalidDuration(format!(
            "duration must be from 900 to {} seconds (the profile's break-glass maximum).",
            config.max_duration.as_secs()
        )));
    }
    let id = BreakGlassId::generate();
    let invoked = BreakGlassInvoked {
        invoker: ctx.caller.principal.clone(),
        profile: profile.clone(),
        reason_code: body.reason_code.clone(),
        justification,
        duration_seconds: duration.as_secs() as u32,
        expires_at: ctx.now + chrono::Duration::seconds(duration.as_secs() as i64),
    };
    let view = BreakGlassView {
        breakglass_id: id,
        status: BreakGlassStatus::Active,
        invoked: invoked.clone(),
        invoker_person: Some(ctx.caller.person.clone()),
        invoked_at: ctx.now,
        ended_at: None,
    };
    let answer = Answer::created(break_glass_json(&view, ctx.now));
    let guard = StreamKey::BreakGlassGuard { profile: profile.clone(), person: ctx.caller.person.clone() };
    let legacy_guard =
        StreamKey::LegacyBreakGlassGuard { profile: profile.clone(), principal: ctx.caller.principal.clone() };
    let remember = key.as_ref().map(|k| k.answered(&answer, ctx.now)).transpose()?;
    let command =
        Invoke { remember, guard, legacy_guard, id, invoked, cooldown: config.cooldown, answer, now: ctx.now };
    match create_once(deps, &ctx, key.as_ref(), &command).await? {
        Once::Done(done) => {
            tracing::warn!(request_id = %ctx.request_id, breakglass_id = %id, principal = %ctx.caller.principal, profile = %profile, reason_code = %body.reason_code, "BREAK-GLASS INVOKED");
            Ok(done.outcome.into_response())
        }
        Once::Replayed(answer) => Ok(answer.replayed()),
    }
}

/// Closes a break-glass on its stream and revokes every live session resting on it, in one
/// write.
struct Close {
    stream: StreamKey,
    closed: BreakGlassClosed,
    revoked: SessionRevoked,
    now: DateTime<Utc>,
}

impl Command for Close {
    type Outcome = Vec<SessionId>;
    type Refusal = ApiError;

    fn reads(&self, read: &Snapshot) -> Vec<StreamKey> {
        let mut streams = vec![self.stream.clone()];
        streams.extend(cascade::resting_reads(read, &self.stream));
        streams
    }

    fn decide(&self, read: &Snapshot) -> Result<Plan<Vec<SessionId>>, ApiError> {
        let state: BreakGlassState = read.fold(&self.stream);
        let events = state.decide(&BreakGlassCommand::Close(self.closed.clone()), self.now)?;
        let plan = Plan::new(()).append(self.stream.clone(), events);
        let (plan, ended) = cascade::revoke_resting(plan, read, &self.stream, None, &self.revoked, self.now);
        Ok(plan.map(|()| ended))
    }
}

/// Whether the caller may see or close a break-glass: its invoker, the profile's revokers, admins.
async fn may_act(deps: &Deps, ctx: &Ctx, view: &BreakGlassView) -> Result<bool, ApiError> {
    if view.invoker().is(&ctx.who) {
        return Ok(true);
    }
    is_revoker_or_admin(deps, &ctx.subject, &view.invoked.profile).await
}

/// `GET /breakglass/{id}`.
pub async fn show(deps: &Deps, request: &ApiGatewayV2httpRequest) -> Result<ApiGatewayV2httpResponse, ApiError> {
    let ctx = Ctx::of(deps, request).await?;
    let id: BreakGlassId = path_id(request, "id")?;
    let view = current(deps, id).await?.ok_or(ApiError::NotFound)?;
    if !may_act(deps, &ctx, &view).await? {
        return Err(ApiError::NotFound);
    }
    Ok(json_response(200, &break_glass_json(&view, ctx.now)))
}

/// `POST /breakglass/{id}/close`.
pub async fn close(deps: &Deps, request: &ApiGatewayV2httpRequest) -> Result<ApiGatewayV2httpResponse, ApiError> {
    decide_once(deps, request, || close_once(deps, request)).await
}

async fn close_once(deps: &Deps, request: &ApiGatewayV2httpRequest) -> Result<Answer, ApiError> {
    let ctx = Ctx::of(deps, request).await?;
    let id: BreakGlassId = path_id(request, "id")?;
    let body: CloseBody = body(request)?;
    let reason = text_field("reason", &body.reason, 1, 500)?;
    let view = current(deps, id).await?.ok_or(ApiError::NotFound)?;
    if !may_act(deps, &ctx, &view).await? {
        return Err(ApiError::NotFound);
    }
    let revoked =
        SessionRevoked { by: ctx.caller.principal.clone(), reason: format!("break-glass {id} closed: {reason}") };
    let closed = BreakGlassClosed { by: ctx.caller.principal.clone(), reason, session_id: None };
    let command = Close { stream: StreamKey::BreakGlass(id), closed, revoked, now: ctx.now };
    let ended = execute(deps, &ctx, &command).await?.outcome;
    let view = current(deps, id).await?.ok_or(ApiError::LedgerUnavailable)?;
    let mut answer = break_glass_json(&view, ctx.now);
    answer["revoked_sessions"] = ended.iter().map(ToString::to_string).collect();
    Ok(Answer::ok(answer))
}

/// `GET /breakglass?status=&profile=`: your own by default; a profile's for its revokers and
/// admins; everything for admins.
pub async fn list(deps: &Deps, request: &ApiGatewayV2httpRequest) -> Result<ApiGatewayV2httpResponse, ApiError> {
    let ctx = Ctx::of(deps, request).await?;
    let pager = ctx.pager(deps, request, "GET /breakglass")?;
    let status: Option<BreakGlassStatus> = status_param(query_param(request, "status")?, "active, closed, expired")?;
    let profile = query_param(request, "profile")?
        .map(|p| p.parse::<Profile>().map_err(|_| ApiError::InvalidProfile))
        .transpose()?;
    let mut indexes = Vec::new();
    match &profile {
        Some(p) if is_revoker_or_admin(deps, &ctx.subject, p).await? => {
            indexes.push(BreakGlassIndex::Profile(p.clone()))
        }
        Some(p) => indexes.push(BreakGlassIndex::InvokerProfile(ctx.who.clone(), p.clone())),
        None if is_admin(deps, &ctx.subject).await? => {
            let statuses = match status {
                Some(s) => vec![s],
                None => vec![BreakGlassStatus::Active, BreakGlassStatus::Closed, BreakGlassStatus::Expired],
            };
            indexes.extend(statuses.into_iter().map(BreakGlassIndex::Status));
        }
        None => {
            for entry in deps.policies.profiles().await.map_err(|_| ApiError::PolicyError)? {
                let Ok(name) = entry.name.parse::<Profile>() else { continue };
                indexes.push(BreakGlassIndex::InvokerProfile(ctx.who.clone(), name));
            }
        }
    }
    let mut items = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for index in indexes {
        for view in query::break_glass_at(deps.views.as_ref(), &index, status, ctx.now).await.map_err(view_error)? {
            if seen.insert(view.breakglass_id) {
                items.push(break_glass_json(&view, ctx.now));
            }
        }
    }
    Ok(pager.respond(items, |v| v["breakglass_id"].as_str().unwrap_or_default().to_owned()))
}
