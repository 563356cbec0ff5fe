//! The approval, break-glass, session and admin routes: every state change is a command on the
//! ledger's one command path ([`ledger::command`]), run after a server-side authorization
//! check: the streams are read, a pure decider says what to append, and a lost race is read and
//! decided again a bounded number of times.

pub mod admin;
pub mod approvals;
pub mod breakglass;
pub mod cascade;
pub mod grants;
pub mod idempotency;
pub mod page;
pub mod refresh;
pub mod sessions;

use std::str::FromStr;
use std::sync::Arc;

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use base64::Engine;
use chrono::{DateTime, Utc};
use ledger::command::{Command, CommandError, Executed, Recording, ATTEMPTS};
use ledger::identity::Caller;
use ledger::policy::{PolicyDocument, Subject};
use ledger::{Actor, Profile};
use projections::{ReadError, ViewError};
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::http::request_id;
use crate::{caller, Deps};

/// Who is calling, and when.
pub struct Ctx {
    /// The caller's principal and person (`caller.who()`).
    pub who: ledger::Who,
    pub caller: Caller,
    pub subject: Subject,
    pub now: DateTime<Utc>,
    pub request_id: String,
}

impl Ctx {
    /// Identifies the caller of an AWS_IAM route.
    pub async fn of(deps: &Deps, request: &ApiGatewayV2httpRequest) -> Result<Ctx, ApiError> {
        let caller = caller(deps, request).await?;
        let subject = caller.subject();
        Ok(Ctx { who: caller.who(), caller, subject, now: deps.clock.now(), request_id: request_id(request) })
    }

    /// The paging of this caller's list request on `route` ([`page`]).
    pub fn pager(&self, deps: &Deps, request: &ApiGatewayV2httpRequest, route: &str) -> Result<page::Pager, ApiError> {
        page::Pager::of(&deps.pages, route, self.caller.principal.as_str(), request, self.now)
    }

    /// The envelope of the events this caller's command records: them, this request, now.
    pub fn recording(&self) -> Recording {
        Recording {
            actor: Actor::Principal(self.caller.principal.clone()),
            person: Some(self.caller.person.clone()),
            correlation_id: self.request_id.clone(),
            now: self.now,
        }
    }
}

/// Runs `command` on the ledger's command path as this caller: a refusal is the decider's
/// answer, a race lost [`ATTEMPTS`] times is 409, a ledger failure 503.
pub async fn execute<C>(deps: &Deps, ctx: &Ctx, command: &C) -> Result<Executed<C::Outcome>, ApiError>
where
    C: Command<Refusal = ApiError> + Sync,
{
    ledger::command::execute(deps.store.as_ref(), command, &ctx.recording(), ATTEMPTS)
        .await
        .map_err(|e| command_error(ctx, e))
}

/// The API answer to a command that did not complete.
pub fn command_error(ctx: &Ctx, e: CommandError<ApiError>) -> ApiError {
    match e {
        CommandError::Refused(refusal) => refusal,
        CommandError::Conflict { stream, attempts } => {
            tracing::warn!(request_id = %ctx.request_id, %stream, attempts, "command lost every race");
            ApiError::Conflict("The object changed concurrently; retry.".into())
        }
        CommandError::Store(e) => store_error(e),
    }
}

/// The request body as text (API Gateway may base64-encode it).
pub fn body_text(request: &ApiGatewayV2httpRequest) -> Result<String, ApiError> {
    let raw = request.body.as_deref().unwrap_or("");
    if request.is_base64_encoded {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(raw)
            .map_err(|_| ApiError::InvalidRequest("The body is not valid base64.".into()))?;
        String::from_utf8(bytes).map_err(|_| ApiError::InvalidRequest("The body must be UTF-8.".into()))
    } else {
        Ok(raw.to_owned())
    }
}

/// The JSON body as `T` (unknown fields refused by `T`).
pub fn body<T: DeserializeOwned>(request: &ApiGatewayV2httpRequest) -> Result<T, ApiError> {
    let text = body_text(request)?;
    let text = if text.trim().is_empty() { "{}" } else { text.as_str() };
    serde_json::from_str(text).map_err(|e| ApiError::InvalidRequest(format!("Invalid JSON body: {e}.")))
}

/// A path parameter parsed as an id; a malformed id is simply not found.
pub fn path_id<T: FromStr>(request: &ApiGatewayV2httpRequest, name: &str) -> Result<T, ApiError> {
    request.path_parameters.get(name).and_then(|v| v.parse().ok()).ok_or(ApiError::NotFound)
}

/// A required free-text field: trimmed length within bounds, no control characters but
/// newlines and tabs.
pub fn text_field(name: &str, value: &str, min: usize, max: usize) -> Result<String, ApiError> {
    let len = value.trim().chars().count();
    let printable = value.chars().all(|c| !c.is_control() || c == '\n' || c == '\t');
    if len < min || value.chars().count() > max || !printable {
        return Err(ApiError::InvalidRequest(format!("{name} must be {min}-{max} printable characters.")));
    }
    Ok(value.to_owned())
}

/// A profile's policy; a profile without one refuses like a deny.
pub async fn policy_of(deps: &Deps, profile: &Profile) -> Result<Arc<PolicyDocument>, ApiError> {
    match deps.policies.policy(profile).await {
        Ok(Some(policy)) => Ok(policy),
        Ok(None) => Err(ApiError::PolicyDeny { reason: "no policy exists for this profile".into() }),
        Err(e) => {
            tracing::error!(profile = %profile, error = %e, "policy unusable");
            Err(ApiError::PolicyError)
        }
    }
}

/// A profile's policy if it has a usable one (for rights checks that must not fail a read).
pub async fn policy_if_any(deps: &Deps, profile: &Profile) -> Option<Arc<PolicyDocument>> {
    deps.policies.policy(profile).await.ok().flatten()
}

/// Whether the caller is listed in `/sentinel/admins`.
pub async fn is_admin(deps: &Deps, subject: &Subject) -> Result<bool, ApiError> {
    match deps.policies.admins().await {
        Ok(admins) => Ok(admins.is_some_and(|a| a.is_admin(subject))),
        Err(e) => {
            tracing::error!(error = %e, "admins document unusable");
            Err(ApiError::PolicyError)
        }
    }
}

/// Whether the caller may act on a profile's sessions and break-glass as a revoker or admin.
pub async fn is_revoker_or_admin(deps: &Deps, subject: &Subject, profile: &Profile) -> Result<bool, ApiError> {
    if policy_if_any(deps, profile).await.is_some_and(|p| p.is_revoker(subject)) {
        return Ok(true);
    }
    is_admin(deps, subject).await
}

/// The API answer to a ledger failure (logged with its kind and source).
pub fn store_error(e: ledger::StoreError) -> ApiError {
    ApiError::from(e)
}

/// The API answer to a views failure.
pub fn view_error(e: ViewError) -> ApiError {
    tracing::error!(error = %e, "views operation failed");
    ApiError::LedgerUnavailable
}

/// The API answer to a view + tail read failure.
pub fn read_error(e: ReadError) -> ApiError {
    tracing::error!(error = %e, "view + tail read failed");
    ApiError::LedgerUnavailable
}

/// The status query parameter parsed as `T`.
pub fn status_param<T: serde::de::DeserializeOwned>(
    value: Option<String>,
    allowed: &str,
) -> Result<Option<T>, ApiError> {
    value
        .map(|v| {
            serde_json::from_value(serde_json::Value::String(v))
                .map_err(|_| ApiError::InvalidRequest(format!("status must be one of {allowed}.")))
        })
        .transpose()
}

/// Formats an instant for the API (RFC 3339, UTC, `Z`).
pub fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
