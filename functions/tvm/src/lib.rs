//! The Token Vending Machine: `GET|POST /` (vend), `GET /whoami`, `GET /profiles` and
//! `GET /health`, as one handler over ports. `main.rs` wires it to Lambda; the local gateway
//! calls the same [`handle`].

pub mod aws;
pub mod config;
pub mod error;
pub mod http;
pub mod ports;
pub mod rate_limit;
pub mod routes;
pub mod vend;
pub mod wiring;
pub mod workflow;

use std::sync::Arc;

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use ledger::identity::{Caller, CallerKind, IamContext, IdentityConfig, IdentityError};
use ledger::policy::Request;
use ledger::store::EventStore;
use projections::ViewStore;

pub use crate::error::ApiError;
use crate::http::{json_response, query_param};
use crate::ports::{GrantReader, Issuer, PolicySource, PolicyWriter};
use crate::rate_limit::RateLimiter;
use crate::workflow::admin::SeenPolicies;

pub use edge::{Clock, SystemClock};

/// Everything the handler needs, built once per cold start.
pub struct Deps {
    pub identity: IdentityConfig,
    pub policies: Arc<dyn PolicySource>,
    pub issuer: Arc<dyn Issuer>,
    pub store: Arc<dyn EventStore>,
    pub grants: Arc<dyn GrantReader>,
    pub views: Arc<dyn ViewStore>,
    pub policy_writer: Arc<dyn PolicyWriter>,
    pub rate_limiter: RateLimiter,
    pub clock: Arc<dyn Clock>,
    /// The key that seals list routes' `next_token`s ([`workflow::page`]).
    pub pages: workflow::page::PageKey,
    /// Policy hashes already recorded as `PolicyPublished` (per instance).
    pub seen_policies: SeenPolicies,
}

/// Answers one API Gateway request from the route table. Never panics on input; every error is
/// a JSON answer. An unmatched request gets API Gateway's own 404 (API Gateway answers it before
/// any Lambda in AWS).
pub async fn handle(deps: &Deps, request: ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse {
    let Some(route) = routes::find(&request) else {
        return json_response(404, &serde_json::json!({ "message": "Not Found" }));
    };
    (route.handler)(deps, &request).await.unwrap_or_else(ApiError::into_response)
}

/// The caller, from `requestContext.authorizer.iam` only (never headers or body), as the person
/// `/sentinel/admins` may join their key into. An admins document that cannot be read refuses
/// (500 `POLICY_ERROR`): without it, one human's keys could pass for several people.
pub async fn caller(deps: &Deps, request: &ApiGatewayV2httpRequest) -> Result<Caller, ApiError> {
    let caller = identify(deps, request)?;
    let admins = deps.policies.admins().await.map_err(|e| {
        tracing::error!(error = %e, "admins document unusable; refusing to identify callers");
        ApiError::PolicyError
    })?;
    Ok(caller.joined(admins.as_deref()))
}

/// The caller from the IAM context alone (no `people:` join).
fn identify(deps: &Deps, request: &ApiGatewayV2httpRequest) -> Result<Caller, ApiError> {
    let iam =
        request.request_context.authorizer.as_ref().and_then(|a| a.iam.as_ref()).ok_or(ApiError::IamAuthRequired)?;
    let context = IamContext {
        access_key: iam.access_key.clone(),
        account_id: iam.account_id.clone(),
        caller_id: iam.caller_id.clone(),
        principal_org_id: iam.principal_org_id.clone(),
        user_arn: iam.user_arn.clone(),
        user_id: iam.user_id.clone(),
    };
    Caller::from_iam(&context, &deps.identity).map_err(|e| match e {
        IdentityError::ProtectedRole { .. } => ApiError::NotAuthorized(
            "Callers on a protected role cannot use Sentinel: vended credentials cannot mint new sessions.".into(),
        ),
        IdentityError::FederatedUser => ApiError::NotAuthorized(
            "Federated users cannot use Sentinel: sign in as an IAM user or through an identity role.".into(),
        ),
        other => {
            tracing::warn!(error = %other, "request without a usable IAM identity");
            ApiError::IamAuthRequired
        }
    })
}

/// `GET /health`: liveness and version, nothing else.
async fn health(_: &Deps, _: &ApiGatewayV2httpRequest) -> Result<ApiGatewayV2httpResponse, ApiError> {
    Ok(json_response(200, &serde_json::json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") })))
}

/// `GET /profiles`.
async fn profiles(deps: &Deps, request: &ApiGatewayV2httpRequest) -> Result<ApiGatewayV2httpResponse, ApiError> {
    caller(deps, request).await?;
    let profiles = deps.policies.profiles().await.map_err(|e| {
        tracing::error!(error = %e, "cannot list profiles");
        ApiError::PolicyError
    })?;
    Ok(json_response(200, &serde_json::json!({ "profiles": profiles, "root": deps.policies.root() })))
}

/// `GET /whoami?profile=`.
async fn whoami(deps: &Deps, request: &ApiGatewayV2httpRequest) -> Result<ApiGatewayV2httpResponse, ApiError> {
    let caller = caller(deps, request).await?;
    let kind = match &caller.kind {
        CallerKind::IamUser { .. } => "iam_user",
        CallerKind::AssumedRole { identity_role: true, .. } => "identity_role_session",
        CallerKind::AssumedRole { .. } => "assumed_role",
        CallerKind::Root => "root",
    };
    let mut body = serde_json::json!({
        "arn": caller.principal.as_str(),
        "account": caller.account_id,
        "kind": kind,
        "person": caller.person.to_string(),
        "policy_user": caller.policy_user,
    });
    if let Some(profile) = query_param(request, "profile")? {
        let profile = vend::parse_profile(Some(&profile))?;
        let policy = deps.policies.policy(&profile).await.map_err(|_| ApiError::PolicyError)?;
        let decision = match policy {
            None => serde_json::json!({
                "profile": profile.as_str(), "effect": "deny", "rule": null,
                "reason": "no policy exists for this profile", "max_duration_seconds": 0,
            }),
            Some(policy) => {
                let subject = caller.subject();
                let d = policy.evaluate(&Request { caller: &subject, now: deps.clock.now(), requested: None });
                serde_json::json!({
                    "profile": profile.as_str(), "effect": d.effect.as_str(), "rule": d.rule,
                    "reason": d.reason, "max_duration_seconds": d.max_duration.as_secs(),
                })
            }
        };
        body["decision"] = decision;
    }
    Ok(json_response(200, &body))
}
