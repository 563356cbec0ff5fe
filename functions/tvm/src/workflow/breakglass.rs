//! `POST /breakglass`, `GET /breakglass`, `GET /breakglass/{id}`, `POST /breakglass/{id}/close`.
//!
//! Invocations of one principal on one profile are serialised by the guard stream
//! `GUARD#breakglass#<profile>#<principal>`: the invocation appends `BreakGlassReserved` there
//! at the seq it read, in the same transaction as `BreakGlassInvoked`, so two concurrent
//! invocations cannot both pass the stacking and cooldown checks.

use std::time::Duration;

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use chrono::{DateTime, Utc};
use ledger::decide::breakglass::{BreakGlassCommand, BreakGlassState, BreakGlassStatus};
use ledger::event::{BreakGlassClosed, BreakGlassInvoked, BreakGlassReserved};
use ledger::store::{load, StoreError, StreamAppend};
use ledger::{Aggregate, BreakGlassId, Event, Profile, StreamHead, StreamKey};
use projections::{query, reader, BreakGlassIndex, BreakGlassView};
use serde::Deserialize;

use super::idempotency::Idempotency;
use super::*;
use crate::http::{json_response, query_param};
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

/// The latest invocation recorded on a guard stream, and the guard's head.
async fn guard_state(deps: &Deps, guard: &StreamKey) -> Result<(StreamHead, Option<BreakGlassId>), ApiError> {
    let stored = deps.store.read_stream(guard, 1).await.map_err(store_error)?;
    let head = stored.last().map_or_else(StreamHead::genesis, |e| e.head());
    let mut latest = None;
    for e in &stored {
        if let Event::BreakGlassReserved(r) = e.decode().map_err(|e| store_error(e.into()))?.event {
            latest = Some(r.breakglass_id);
        }
    }
    Ok((head, latest))
}

/// When the previous invocation ended: its close, or its expiry.
async fn ended_at(deps: &Deps, id: BreakGlassId, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, ApiError> {
    let loaded = load::<BreakGlassState>(deps.store.as_ref(), &StreamKey::BreakGlass(id)).await.map_err(store_error)?;
    let BreakGlassState::Known { invoked, .. } = &loaded.state else { return Ok(None) };
    Ok(match loaded.state.status_at(now) {
        Some(BreakGlassStatus::Active) | None => None,
        Some(BreakGlassStatus::Closed) => loaded
            .events
            .iter()
            .find(|e| matches!(e.event, Event::BreakGlassClosed(_)))
            .map(|e| e.occurred_at.min(invoked.expires_at)),
        Some(BreakGlassStatus::Expired) => Some(invoked.expires_at),
    })
}

/// `POST /breakglass`.
pub async fn invoke(deps: &Deps, request: &ApiGatewayV2httpRequest) -> Result<ApiGatewayV2httpResponse, ApiError> {
    let ctx = Ctx::of(deps, request)?;
    let key = Idempotency::of(&ctx, request, "POST /breakglass")?;
    if let Some(answer) = match &key {
        Some(key) => key.replay(deps).await?,
        None => None,
    } {
        return Ok(answer);
    }
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
    let guard = StreamKey::BreakGlassGuard { profile: profile.clone(), principal: ctx.caller.principal.clone() };
    for _ in 0..3 {
        let (guard_head, previous) = guard_state(deps, &guard).await?;
        if let Some(previous) = previous {
            let refusal = match ended_at(deps, previous, ctx.now).await? {
                None => Some(ApiError::Conflict(format!(
                    "Your break-glass {previous} on this profile is still active; close it before invoking another."
                ))),
                Some(end) => {
                    let next = end + chrono::Duration::from_std(config.cooldown).unwrap_or_default();
                    (ctx.now < next).then(|| ApiError::RateLimited {
                        retry_after_seconds: (next - ctx.now).num_seconds().max(1) as u64,
                    })
                }
            };
            if let Some(refusal) = refusal {
                // The invocation in the way may be this request's own twin (same key).
                if let Some(key) = &key {
                    if let Some(answer) = key.replay(deps).await? {
                        return Ok(answer);
                    }
                }
                return Err(refusal);
            }
        }
        let id = BreakGlassId::generate();
        let expires_at = ctx.now + chrono::Duration::from_std(duration).unwrap_or_default();
        let invoked = BreakGlassInvoked {
            invoker: ctx.caller.principal.clone(),
            profile: profile.clone(),
            reason_code: body.reason_code.clone(),
            justification: justification.clone(),
            duration_seconds: duration.as_secs() as u32,
            expires_at,
        };
        let events = BreakGlassState::default()
            .decide(&BreakGlassCommand::Invoke(invoked.clone()), ctx.now)
            .map_err(domain_error)?;
        let reserved: Event = BreakGlassReserved { breakglass_id: id, expires_at }.into();
        let view = BreakGlassView {
            breakglass_id: id,
            status: BreakGlassStatus::Active,
            invoked,
            invoked_at: ctx.now,
            ended_at: None,
        };
        let answer = break_glass_json(&view, ctx.now);
        let mut appends = vec![
            StreamAppend { stream: StreamKey::BreakGlass(id), head: StreamHead::genesis(), events: ctx.record(events) },
            StreamAppend { stream: guard.clone(), head: guard_head, events: ctx.record(vec![reserved]) },
        ];
        if let Some(key) = &key {
            appends.push(key.remember(&ctx, 201, &answer));
        }
        match deps.store.append_all(&appends, &[]).await {
            Ok(_) => {
                tracing::warn!(request_id = %ctx.request_id, breakglass_id = %id, principal = %ctx.caller.principal, profile = %profile, reason_code = %body.reason_code, "BREAK-GLASS INVOKED");
                return Ok(json_response(201, &answer));
            }
            Err(StoreError::Conflict { .. }) => {
                // A twin with the same key may have won: then answer what it answered.
                if let Some(key) = &key {
                    if let Some(answer) = key.replay(deps).await? {
                        return Ok(answer);
                    }
                }
                continue;
            }
            Err(e) => return Err(store_error(e)),
        }
    }
    Err(ApiError::Conflict("Another break-glass invocation for you on this profile is in progress.".into()))
}

/// Whether the caller may see or close a break-glass: its invoker, the profile's revokers, admins.
async fn may_act(deps: &Deps, ctx: &Ctx, view: &BreakGlassView) -> Result<bool, ApiError> {
    if view.invoked.invoker == ctx.caller.principal {
        return Ok(true);
    }
    is_revoker_or_admin(deps, &ctx.subject, &view.invoked.profile).await
}

/// `GET /breakglass/{id}`.
pub async fn show(deps: &Deps, request: &ApiGatewayV2httpRequest) -> Result<ApiGatewayV2httpResponse, ApiError> {
    let ctx = Ctx::of(deps, request)?;
    let id: BreakGlassId = path_id(request, "id")?;
    let view = current(deps, id).await?.ok_or(ApiError::NotFound)?;
    if !may_act(deps, &ctx, &view).await? {
        return Err(ApiError::NotFound);
    }
    Ok(json_response(200, &break_glass_json(&view, ctx.now)))
}

/// `POST /breakglass/{id}/close`.
pub async fn close(deps: &Deps, request: &ApiGatewayV2httpRequest) -> Result<ApiGatewayV2httpResponse, ApiError> {
    let ctx = Ctx::of(deps, request)?;
    let id: BreakGlassId = path_id(request, "id")?;
    let body: CloseBody = body(request)?;
    let reason = text_field("reason", &body.reason, 1, 500)?;
    let view = current(deps, id).await?.ok_or(ApiError::NotFound)?;
    if !may_act(deps, &ctx, &view).await? {
        return Err(ApiError::NotFound);
    }
    let command = BreakGlassCommand::Close(BreakGlassClosed { by: ctx.caller.principal.clone(), reason });
    transact::<BreakGlassState, _>(deps, &ctx, &StreamKey::BreakGlass(id), |loaded| {
        loaded.state.decide(&command, ctx.now).map_err(domain_error)
    })
    .await?;
    let view = current(deps, id).await?.ok_or(ApiError::LedgerUnavailable)?;
    Ok(json_response(200, &break_glass_json(&view, ctx.now)))
}

/// `GET /breakglass?status=&profile=`: your own by default; a profile's for its revokers and
/// admins; everything for admins.
pub async fn list(deps: &Deps, request: &ApiGatewayV2httpRequest) -> Result<ApiGatewayV2httpResponse, ApiError> {
    let ctx = Ctx::of(deps, request)?;
    let status: Option<BreakGlassStatus> = status_param(query_param(request, "status")?, "active, closed, expired")?;
    let profile = query_param(request, "profile")?
        .map(|p| p.parse::<Profile>().map_err(|_| ApiError::InvalidProfile))
        .transpose()?;
    let mut indexes = Vec::new();
    match &profile {
        Some(p) if is_revoker_or_admin(deps, &ctx.subject, p).await? => {
            indexes.push(BreakGlassIndex::Profile(p.clone()))
        }
        Some(p) => indexes.push(BreakGlassIndex::InvokerProfile(ctx.caller.principal.clone(), p.clone())),
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
                indexes.push(BreakGlassIndex::InvokerProfile(ctx.caller.principal.clone(), name));
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
    Ok(list_response(items))
}
