//! `GET /credentials`: refreshes an active session for SDKs using container credentials. The
//! revocation authorizer has already checked the session token; the session comes from its
//! context, and the refresh checks again, on its own, that the presented token hashes (compared
//! in constant time) to the one in the session's `CredentialsIssued`: the decision rests on the
//! session's ledger stream, never on a views row or on the context alone. Each refresh
//! re-decides: policy again (time windows), the approval or break-glass again, capped at the
//! session's end and the grant's expiry.

use std::time::Duration;

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use ledger::command::{Plan, Recording};
use ledger::decide::session::{SessionCommand, SessionState};
use ledger::event::CredentialsRefreshed;
use ledger::identity::{Caller, IamContext};
use ledger::{Actor, Aggregate, SessionId, StoreError, StreamKey};

use super::*;
use crate::http::json_response;
use crate::vend::{assume_role_input, decide_access, Access, VendInput, MAX_DURATION, MIN_DURATION};

/// The session id the authorizer put in the request context.
fn session_from_context(request: &ApiGatewayV2httpRequest) -> Result<SessionId, ApiError> {
    request
        .request_context
        .authorizer
        .as_ref()
        .and_then(|a| a.fields.get("session_id"))
        .and_then(|v| v.as_str())
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ApiError::NotAuthorized("This route needs the revocation authorizer's session.".into()))
}

/// The session token the client presented (`Authorization`, raw, or `X-Sentinel-Session-Token`).
fn presented_token(request: &ApiGatewayV2httpRequest) -> Option<&str> {
    let header = |name: &str| request.headers.get(name).and_then(|v| v.to_str().ok());
    header("authorization").or_else(|| header("x-sentinel-session-token"))
}

/// Whether `token` is the session's own: its SHA-256 (hex) equals `expected`, compared in
/// constant time.
fn is_session_token(token: &str, expected: &str) -> bool {
    use subtle::ConstantTimeEq;
    bool::from(crate::vend::token_hash(token).as_bytes().ct_eq(expected.as_bytes()))
}

/// `GET /credentials`.
pub async fn refresh(deps: &Deps, request: &ApiGatewayV2httpRequest) -> Result<ApiGatewayV2httpResponse, ApiError> {
    let session = session_from_context(request)?;
    let token = presented_token(request)
        .ok_or_else(|| ApiError::NotAuthorized("This route needs the session token.".into()))?;
    let now = deps.clock.now();
    let stream = StreamKey::Session(session);
    let read = ledger::command::read(deps.store.as_ref(), std::slice::from_ref(&stream)).await?;
    let state: SessionState = read.fold(&stream);
    let live = match &state {
        SessionState::Revoked { .. } => return Err(ApiError::SessionRevoked),
        SessionState::Expired(_) => return Err(ApiError::SessionExpired),
        SessionState::Active(live) if now >= live.issued.session_ends_at => return Err(ApiError::SessionExpired),
        SessionState::Active(live) => live.clone(),
        _ => return Err(ApiError::NotAuthorized("Unknown session.".into())),
    };
    if !is_session_token(token, &live.issued.token_hash) {
        tracing::warn!(session_id = %session, "a refresh presented another token than the session's own");
        return Err(ApiError::NotAuthorized("The token is not this session's.".into()));
    }
    // A session already past its end has nothing left.
    let left = (live.issued.session_ends_at - now).to_std().unwrap_or(Duration::ZERO);
    if left < MIN_DURATION {
        return Err(ApiError::SessionExpired);
    }
    // The caller as the vend saw it: the identity rules are a function of ARN and user id.
    let principal = live.request.principal.to_string();
    let context = IamContext {
        account_id: principal.split(':').nth(4).map(str::to_owned),
        user_arn: Some(principal),
        user_id: live.request.user_id.clone(),
        ..IamContext::default()
    };
    let admins = deps.policies.admins().await.map_err(|e| {
        tracing::error!(session_id = %session, error = %e, "admins document unusable; refusing to refresh");
        ApiError::PolicyError
    })?;
    let caller = Caller::from_iam(&context, &deps.identity)
        .map_err(|_| ApiError::NotAuthorized("This session's caller can no longer be identified.".into()))?
        .joined(admins.as_deref());
    let policy = deps.policies.policy(&live.request.profile).await.map_err(|e| {
        tracing::error!(session_id = %session, error = %e, "policy unusable; refusing to refresh");
        ApiError::PolicyError
    })?;
    let input = VendInput { profile: live.request.profile.clone(), duration: Some(MAX_DURATION), reason: None };
    let (decision, duration, grant) = match decide_access(deps, &caller, policy.as_deref(), &input, now).await? {
        Access::Refused { error, .. } => return Err(error),
        Access::Granted { decision, duration, grant } => (decision, duration, grant),
    };
    let duration = duration.min(Duration::from_secs(left.as_secs()));
    let Some(policy) = policy else { return Err(ApiError::PolicyError) };
    let mut sts_input = assume_role_input(&policy, &caller, session, duration)?;
    // The refreshed credentials stay on the session's role, whatever the policy says now.
    sts_input.role_arn = live.issued.role_arn.clone();
    let credentials = deps.issuer.assume_role(&sts_input).await.map_err(|e| {
        tracing::error!(session_id = %session, error = %e, "STS refused the refresh");
        ApiError::CredentialError
    })?;
    let refreshed = CredentialsRefreshed {
        access_key_id: credentials.access_key_id.clone(),
        expiration: credentials.expiration.min(live.issued.session_ends_at),
        basis: decision.basis,
    };
    let events = state.decide(&SessionCommand::Refresh(refreshed), now).map_err(|e| match e {
        ledger::DomainError::Expired(_) => ApiError::SessionExpired,
        other => other.into(),
    })?;
    let recording = Recording {
        actor: Actor::Principal(live.request.principal.clone()),
        person: Some(caller.person.clone()),
        correlation_id: crate::http::request_id(request),
        now,
    };
    let mut plan = Plan::new(()).append(stream.clone(), events);
    if let Some(grant) = &grant {
        // A grant already listing the session is held; one it newly rests on lists it, so
        // ending that grant revokes this session too.
        plan = if grant.sessions.contains(&session) {
            plan.hold_at(grant.stream.clone(), grant.head.seq)
        } else {
            plan.append_after(grant.stream.clone(), grant.head.clone(), vec![ledger::decide::grant::used_by(session)])
        };
    }
    // Once STS has minted, a lost race cannot be re-decided without minting again: answer it.
    match ledger::command::commit(deps.store.as_ref(), &read, plan, &recording).await {
        Ok(_) => {}
        // A revocation (or a concurrent refresh) landed first: decide on what is there now.
        Err(StoreError::Conflict { stream: moved, .. }) if moved == stream => {
            let now_read = ledger::command::read(deps.store.as_ref(), std::slice::from_ref(&stream)).await?;
            return Err(match now_read.fold::<SessionState>(&stream) {
                SessionState::Revoked { .. } => ApiError::SessionRevoked,
                _ => ApiError::Conflict("The session changed while refreshing; retry.".into()),
            });
        }
        Err(StoreError::Conflict { .. }) => {
            return Err(ApiError::Conflict(
                "The approval or break-glass changed while refreshing; none were issued.".into(),
            ))
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(session_id = %session, basis = %decision.basis, "credentials refreshed");
    let body = serde_json::json!({
        "AccessKeyId": credentials.access_key_id,
        "SecretAccessKey": credentials.secret_access_key.expose(),
        "Token": credentials.session_token.expose(),
        "Expiration": time(credentials.expiration),
    });
    Ok(json_response(200, &body))
}
