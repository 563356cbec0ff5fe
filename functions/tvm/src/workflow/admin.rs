//! Admin routes: `PUT /policies/{profile}` and `GET /audit`; and the `PolicyPublished` event
//! the TVM appends the first time it sees a policy hash it has no event for.

use std::collections::HashSet;
use std::sync::Mutex;

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use chrono::{DateTime, Utc};
use ledger::command::{Command, CommandError, Plan, Recording, Snapshot, ATTEMPTS};
use ledger::event::PolicyPublished;
use ledger::policy::PolicyDocument;
use ledger::{Actor, Event, PrincipalArn, Profile, StreamKey};
use projections::AuditQuery;

use super::*;
use crate::http::{json_response, query_param};

async fn require_admin(deps: &Deps, ctx: &Ctx) -> Result<(), ApiError> {
    if is_admin(deps, &ctx.subject).await? {
        Ok(())
    } else {
        Err(ApiError::NotAuthorized("Only Sentinel admins may do this.".into()))
    }
}

/// Records a policy's publication unless the policy stream's last event already records its hash.
struct Publish {
    stream: StreamKey,
    published: PolicyPublished,
}

impl Command for Publish {
    type Outcome = ();
    type Refusal = ApiError;

    fn reads(&self, _: &Snapshot) -> Vec<StreamKey> {
        vec![self.stream.clone()]
    }

    fn decide(&self, read: &Snapshot) -> Result<Plan<()>, ApiError> {
        let recorded = read.stream(&self.stream).last().is_some_and(|last| match &last.event {
            Event::PolicyPublished(p) => p.hash == self.published.hash,
            _ => false,
        });
        if recorded {
            return Ok(Plan::new(()));
        }
        Ok(Plan::new(()).append(self.stream.clone(), vec![self.published.clone().into()]))
    }
}

/// Appends `PolicyPublished` unless the policy stream's last event already records `hash`.
pub async fn record_publication(
    deps: &Deps,
    profile: &Profile,
    hash: &str,
    by: Actor,
    person: Option<ledger::PersonKey>,
    correlation: &str,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let published =
        PolicyPublished { profile: profile.clone(), version: "1".into(), hash: hash.to_owned(), by: by.clone() };
    let command = Publish { stream: StreamKey::Policy(profile.clone()), published };
    let recording = Recording { actor: by, person, correlation_id: correlation.to_owned(), now };
    ledger::command::execute(deps.store.as_ref(), &command, &recording, ATTEMPTS).await.map_err(|e| match e {
        CommandError::Refused(refusal) => refusal,
        CommandError::Conflict { .. } => ApiError::Conflict("The policy was published concurrently; retry.".into()),
        CommandError::Store(e) => e.into(),
    })?;
    Ok(())
}

/// Policy hashes this instance has already seen recorded.
#[derive(Default)]
pub struct SeenPolicies(Mutex<HashSet<String>>);

impl SeenPolicies {
    /// Records the policy's publication the first time this instance sees its hash.
    pub async fn observe(
        &self,
        deps: &Deps,
        policy: &PolicyDocument,
        correlation: &str,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        let hash = policy.hash();
        if self.0.lock().unwrap_or_else(|p| p.into_inner()).contains(&hash) {
            return Ok(());
        }
        record_publication(deps, &policy.profile, &hash, Actor::System, None, correlation, now).await?;
        self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(hash);
        Ok(())
    }
}

/// `PUT /policies/{profile}`: validate strictly, write the parameter, record the publication.
pub async fn put_policy(deps: &Deps, request: &ApiGatewayV2httpRequest) -> Result<ApiGatewayV2httpResponse, ApiError> {
    let ctx = Ctx::of(deps, request).await?;
    require_admin(deps, &ctx).await?;
    let profile: Profile =
        request.path_parameters.get("profile").and_then(|p| p.parse().ok()).ok_or(ApiError::InvalidProfile)?;
    let yaml = body_text(request)?;
    let policy = PolicyDocument::parse(&yaml, Some(&profile))
        .map_err(|e| ApiError::InvalidRequest(format!("The policy is invalid: {e}")))?;
    deps.policy_writer.put(&profile, &yaml).await.map_err(|e| {
        tracing::error!(profile = %profile, error = %e, "cannot write the policy parameter");
        ApiError::PolicyError
    })?;
    let hash = policy.hash();
    let by = Actor::Principal(ctx.caller.principal.clone());
    record_publication(deps, &profile, &hash, by, Some(ctx.caller.person.clone()), &ctx.request_id, ctx.now).await?;
    let warnings: Vec<String> = policy.lint().iter().map(ToString::to_string).collect();
    tracing::warn!(request_id = %ctx.request_id, profile = %profile, hash = %hash, by = %ctx.caller.principal, "policy published");
    Ok(json_response(
        200,
        &serde_json::json!({ "profile": profile.as_str(), "hash": hash, "version": "1", "warnings": warnings }),
    ))
}

/// `GET /audit?since=&until=&principal=`: audit rows, newest first (default: the last 24 h).
pub async fn audit(deps: &Deps, request: &ApiGatewayV2httpRequest) -> Result<ApiGatewayV2httpResponse, ApiError> {
    let ctx = Ctx::of(deps, request).await?;
    require_admin(deps, &ctx).await?;
    let pager = ctx.pager(deps, request, "GET /audit")?;
    let instant = |name: &str, value: Option<String>| -> Result<Option<DateTime<Utc>>, ApiError> {
        value
            .map(|v| {
                DateTime::parse_from_rfc3339(&v).map(|t| t.with_timezone(&Utc)).map_err(|_| {
                    ApiError::InvalidRequest(format!("{name} must be an RFC 3339 time, e.g. 2026-11-25T09:00:00Z."))
                })
            })
            .transpose()
    };
    // `until` is exclusive; by default it lies a minute ahead so that nothing recorded up to now
    // (by this or a slightly faster clock) is left out.
    let until = instant("until", query_param(request, "until")?)?.unwrap_or(ctx.now + chrono::Duration::minutes(1));
    let since = instant("since", query_param(request, "since")?)?.unwrap_or(until - chrono::Duration::hours(24));
    if since >= until {
        return Err(ApiError::InvalidRequest("since must be before until.".into()));
    }
    let principal = query_param(request, "principal")?
        .map(|p| {
            p.parse::<PrincipalArn>().map_err(|_| ApiError::InvalidRequest("principal must be a principal ARN.".into()))
        })
        .transpose()?;
    let rows = deps.views.audit(&AuditQuery { since, until, principal }).await.map_err(view_error)?;
    let items = rows.iter().map(serde_json::to_value).collect::<Result<Vec<_>, _>>().map_err(|e| {
        tracing::error!(error = %e, "an audit row does not serialise");
        ApiError::LedgerUnavailable
    })?;
    // Newest first by time, then event id (`occurred_at` has one fixed width).
    Ok(pager.respond(items, |v| {
        format!("{}#{}", v["occurred_at"].as_str().unwrap_or_default(), v["event_id"].as_str().unwrap_or_default())
    }))
}
