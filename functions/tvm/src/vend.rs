//! The vend path: identity → input → admission (rate limit) → policy → access decision
//! (grants) → STS → one ledger write → credentials. Fail closed: no recorded issuance, no
//! credentials.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use base64::Engine;
use chrono::{DateTime, Utc};
use ledger::command::{Plan, Recording, Snapshot};
use ledger::decide::grant::used_by;
use ledger::decide::session::{SessionCommand, SessionState};
use ledger::event::{AccessDecided, CredentialsIssued, CredentialsRequested};
use ledger::identity::Caller;
use ledger::policy::{PolicyDocument, Request};
use ledger::{Actor, Aggregate, Basis, Effect, Profile, SessionId, StoreError, StreamKey};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::http::{json_response, query_param, request_id, set_header};
use crate::ports::{ActiveGrant, ApprovalLookup, AssumeRoleInput, IssuedCredentials};
use crate::{caller, Deps};

/// STS's floor for role-chained sessions, and the least a grant must have left.
pub const MIN_DURATION: Duration = Duration::from_secs(900);
/// Role chaining caps credentials at one hour.
pub const MAX_DURATION: Duration = Duration::from_secs(3600);
/// What a raw vend gets when it names no duration.
pub const DEFAULT_DURATION: Duration = MIN_DURATION;
/// The longest `reason` recorded.
pub const MAX_REASON_CHARS: usize = 256;

/// A validated vend request.
#[derive(Debug, Clone)]
pub struct VendInput {
    pub profile: Profile,
    pub duration: Option<Duration>,
    pub reason: Option<String>,
}

impl VendInput {
    /// Reads `profile`, `duration` and `reason` from the query string (only there).
    pub fn from_request(request: &ApiGatewayV2httpRequest) -> Result<VendInput, ApiError> {
        Ok(VendInput {
            profile: parse_profile(query_param(request, "profile")?.as_deref())?,
            duration: parse_duration(query_param(request, "duration")?.as_deref())?,
            reason: parse_reason(query_param(request, "reason")?.as_deref())?,
        })
    }
}

/// A profile name from the query string.
pub fn parse_profile(value: Option<&str>) -> Result<Profile, ApiError> {
    match value {
        None | Some("") => Err(ApiError::MissingProfile),
        Some(name) => name.parse().map_err(|_| ApiError::InvalidProfile),
    }
}

/// Whole seconds, 900 to 3600.
pub fn parse_duration(value: Option<&str>) -> Result<Option<Duration>, ApiError> {
    let Some(text) = value else { return Ok(None) };
    let invalid = || {
        ApiError::InvalidDuration(
            "duration must be a whole number of seconds from 900 to 3600 (role chaining caps credentials at one hour)."
                .into(),
        )
    };
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let seconds: u64 = text.parse().map_err(|_| invalid())?;
    let duration = Duration::from_secs(seconds);
    if !(MIN_DURATION..=MAX_DURATION).contains(&duration) {
        return Err(invalid());
    }
    Ok(Some(duration))
}

/// At most 256 printable characters.
pub fn parse_reason(value: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(text) = value else { return Ok(None) };
    if text.is_empty() || text.chars().count() > MAX_REASON_CHARS || text.chars().any(char::is_control) {
        return Err(ApiError::InvalidRequest(format!("reason must be 1-{MAX_REASON_CHARS} printable characters.")));
    }
    Ok(Some(text.to_owned()))
}

/// What the access decision came to.
#[derive(Debug, Clone)]
pub enum Access {
    /// Credentials may be issued for `duration`, resting on `grant` when not on policy alone.
    Granted { decision: AccessDecided, duration: Duration, grant: Option<ActiveGrant> },
    /// Refused; the decision is recorded and `error` answered.
    Refused { decision: AccessDecided, error: ApiError },
}

/// Decides a request: policy first; an approval only satisfies `require_approval`; a
/// break-glass of a listed principal overrides `deny` and `require_approval`; nothing else
/// overrides a deny or a no-match.
pub async fn decide_access(
    deps: &Deps,
    caller: &Caller,
    policy: Option<&PolicyDocument>,
    input: &VendInput,
    now: DateTime<Utc>,
) -> Result<Access, ApiError> {
    let Some(policy) = policy else {
        let reason = "no policy exists for this profile".to_owned();
        let decision = AccessDecided {
            effect: Effect::Deny,
            rule: None,
            reason: reason.clone(),
            basis: Basis::Policy,
            policy_hash: None,
        };
        return Ok(Access::Refused { decision, error: ApiError::PolicyDeny { reason } });
    };
    let subject = caller.subject();
    let evaluated = policy.evaluate(&Request { caller: &subject, now, requested: None });
    let decided = |effect, basis| AccessDecided {
        effect,
        rule: evaluated.rule.clone(),
        reason: evaluated.reason.clone(),
        basis,
        policy_hash: Some(policy.hash()),
    };
    let cap = |rule_cap: Duration| rule_cap.min(policy.max_session).min(MAX_DURATION);
    let wanted = input.duration.unwrap_or(DEFAULT_DURATION);

    if evaluated.effect == Effect::Allow {
        let duration = wanted.min(cap(evaluated.max_duration));
        return Ok(Access::Granted { decision: decided(Effect::Allow, Basis::Policy), duration, grant: None });
    }
    let mut pending = None;
    if evaluated.effect == Effect::RequireApproval {
        match deps.grants.approval(&caller.who(), &input.profile, now).await.map_err(|e| {
            tracing::error!(error = %e, "approval lookup failed");
            ApiError::LedgerUnavailable
        })? {
            ApprovalLookup::Granted(grant) => {
                return Ok(match grant_duration(wanted.min(cap(evaluated.max_duration)), &grant, now) {
                    Ok(duration) => {
                        Access::Granted { decision: decided(Effect::Allow, grant.basis), duration, grant: Some(grant) }
                    }
                    Err(error) => too_short(decided(evaluated.effect, grant.basis), error),
                });
            }
            ApprovalLookup::Pending(id) => pending = Some(id),
            ApprovalLookup::Nothing => {}
        }
    }
    let may_break_glass = policy.break_glass.as_ref().is_some_and(|bg| bg.allows(&subject));
    if may_break_glass {
        let active = deps.grants.break_glass(&caller.who(), &input.profile, now).await.map_err(|e| {
            tracing::error!(error = %e, "break-glass lookup failed");
            ApiError::LedgerUnavailable
        })?;
        if let Some(grant) = active {
            return Ok(match grant_duration(wanted.min(cap(policy.max_duration)), &grant, now) {
                Ok(duration) => {
                    let mut decision = decided(Effect::Allow, grant.basis);
                    decision.reason = format!("break-glass overrides: {}", evaluated.reason);
                    Access::Granted { decision, duration, grant: Some(grant) }
                }
                Err(error) => too_short(decided(evaluated.effect, grant.basis), error),
            });
        }
    }
    let decision = decided(evaluated.effect, Basis::Policy);
    let error = match evaluated.effect {
        Effect::RequireApproval => ApiError::ApprovalRequired { pending },
        _ => ApiError::PolicyDeny { reason: evaluated.reason.clone() },
    };
    Ok(Access::Refused { decision, error })
}

/// A refusal because the grant the vend would rest on has under 900 s left: recorded with the
/// policy's effect, the grant as its basis, and the refusal's message as its reason.
fn too_short(mut decision: AccessDecided, error: ApiError) -> Access {
    if let ApiError::Conflict(message) = &error {
        decision.reason = message.clone();
    }
    Access::Refused { decision, error }
}

/// Caps `duration` at the grant's remaining time, refusing when under 900 s remain.
fn grant_duration(duration: Duration, grant: &ActiveGrant, now: DateTime<Utc>) -> Result<Duration, ApiError> {
    // A grant already past its end has nothing left.
    let left = (grant.expires_at - now).to_std().unwrap_or(Duration::ZERO);
    if left < MIN_DURATION {
        return Err(ApiError::Conflict(format!(
            "Less than 900 s of the {} remain ({} s); credentials need at least 900 s.",
            match grant.basis {
                Basis::BreakGlass(_) => "break-glass",
                _ => "approval",
            },
            left.as_secs()
        )));
    }
    Ok(duration.min(Duration::from_secs(left.as_secs())))
}

/// The session token handed to the client: `<session-ulid>.<base64url of 256 random bits>`.
pub struct SessionToken(String);

impl SessionToken {
    /// A new random token for `session`.
    pub fn generate(session: SessionId) -> Result<SessionToken, ApiError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| {
            tracing::error!(error = %e, "no randomness for the session token");
            ApiError::CredentialError
        })?;
        Ok(SessionToken(format!("{session}.{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))))
    }
    /// The token itself (sent once, to the client).
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// What the ledger keeps: SHA-256 (hex) of the token.
    pub fn hash(&self) -> String {
        token_hash(&self.0)
    }
}

/// SHA-256 (hex) of a session token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// `sentinel-<session ulid>`: valid as both SourceIdentity and RoleSessionName.
pub fn session_name(session: SessionId) -> String {
    format!("sentinel-{session}")
}

/// STS's SourceIdentity charset and length, checked before calling (emulators do not).
pub fn valid_source_identity(value: &str) -> bool {
    (2..=64).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b))
        && !value.starts_with("aws:")
}

/// STS's RoleSessionName charset and length.
pub fn valid_role_session_name(value: &str) -> bool {
    (2..=64).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b))
}

/// A session tag value STS accepts: ≤ 256 characters of letters, digits, spaces and `_.:/=+-@`.
pub fn tag_value(value: &str) -> String {
    value
        .chars()
        .map(|c| if c.is_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c) { c } else { '_' })
        .take(256)
        .collect()
}

/// The AssumeRole call for a session.
pub fn assume_role_input(
    policy: &PolicyDocument,
    caller: &Caller,
    session: SessionId,
    duration: Duration,
) -> Result<AssumeRoleInput, ApiError> {
    let name = session_name(session);
    if !valid_source_identity(&name) || !valid_role_session_name(&name) {
        return Err(ApiError::CredentialError);
    }
    let user = caller.person.to_string();
    Ok(AssumeRoleInput {
        role_arn: policy.role_arn.clone(),
        role_session_name: name.clone(),
        source_identity: name,
        duration,
        tags: vec![
            ("SentinelSessionId".into(), session.to_string()),
            ("SentinelUser".into(), tag_value(&user)),
            ("SentinelProfile".into(), policy.profile.to_string()),
        ],
    })
}

/// `GET /` and `POST /`: a short pipeline of named steps.
pub async fn vend(deps: &Deps, request: &ApiGatewayV2httpRequest) -> Result<ApiGatewayV2httpResponse, ApiError> {
    let caller = caller(deps, request).await?;
    let input = VendInput::from_request(request)?;
    let correlation = request_id(request);
    admit(deps, &caller, &correlation)?;
    let now = deps.clock.now();
    let policy = current_policy(deps, &input.profile, &correlation, now).await?;
    let access = decide_access(deps, &caller, policy.as_deref(), &input, now).await?;
    let opening = Opening::new(&caller, &input, correlation, now);
    let (decision, duration, grant) = match access {
        Access::Refused { decision, error } => {
            opening.log(&decision);
            opening.record(deps, decision, None, None).await?;
            return Err(error);
        }
        Access::Granted { decision, duration, grant } => (decision, duration, grant),
    };
    opening.log(&decision);
    let policy = policy.ok_or(ApiError::PolicyError)?;
    let token = SessionToken::generate(opening.session)?;
    let sts_input = assume_role_input(&policy, &caller, opening.session, duration)?;
    let credentials = match deps.issuer.assume_role(&sts_input).await {
        Ok(credentials) => credentials,
        Err(e) => {
            tracing::error!(request_id = %opening.recording.correlation_id, session_id = %opening.session, error = %e, "STS refused; nothing issued");
            if let Err(e) = opening.record(deps, decision, None, None).await {
                tracing::error!(session_id = %opening.session, error = ?e, "the refused issuance could not be recorded either");
            }
            return Err(ApiError::CredentialError);
        }
    };
    let issued = issuance(&policy, &sts_input, &credentials, &token, now);
    // The credentials exist only in memory until this commits; on failure they are dropped.
    opening.record(deps, decision, Some(issued), grant.as_ref()).await?;
    Ok(credentials_response(&credentials, opening.session, &token))
}

/// Admits the caller past the rate limit, or refuses (logged and counted, never recorded).
fn admit(deps: &Deps, caller: &Caller, correlation: &str) -> Result<(), ApiError> {
    deps.rate_limiter.check(&caller.rate_limit_key(), Instant::now()).map_err(|retry_after_seconds| {
        tracing::warn!(request_id = %correlation, principal = %caller.principal, "rate limited");
        ApiError::RateLimited { retry_after_seconds }
    })
}

/// The profile's policy now (cached), its publication recorded the first time this instance
/// sees its hash; `None` when the profile has none.
async fn current_policy(
    deps: &Deps,
    profile: &Profile,
    correlation: &str,
    now: DateTime<Utc>,
) -> Result<Option<Arc<PolicyDocument>>, ApiError> {
    let policy = deps.policies.policy(profile).await.map_err(|e| {
        tracing::error!(request_id = %correlation, profile = %profile, error = %e, "policy unusable; refusing to vend");
        ApiError::PolicyError
    })?;
    if let Some(policy) = &policy {
        deps.seen_policies.observe(deps, policy, correlation, now).await?;
    }
    Ok(policy)
}

/// `CredentialsIssued` for minted credentials.
fn issuance(
    policy: &PolicyDocument,
    sts_input: &AssumeRoleInput,
    credentials: &IssuedCredentials,
    token: &SessionToken,
    now: DateTime<Utc>,
) -> CredentialsIssued {
    CredentialsIssued {
        role_arn: policy.role_arn.clone(),
        source_identity: sts_input.source_identity.clone(),
        role_session_name: sts_input.role_session_name.clone(),
        access_key_id: credentials.access_key_id.clone(),
        expiration: credentials.expiration,
        // STS's clock may run a little ahead of ours: the session never ends before the
        // credentials it starts with.
        session_ends_at: (now + chrono::Duration::seconds(policy.max_session.as_secs() as i64))
            .max(credentials.expiration),
        token_hash: token.hash(),
    }
}

/// A new session's stream: what was asked, by whom, and where its opening events go.
struct Opening {
    session: SessionId,
    request: CredentialsRequested,
    profile: Profile,
    principal: String,
    recording: Recording,
}

impl Opening {
    fn new(caller: &Caller, input: &VendInput, correlation: String, now: DateTime<Utc>) -> Opening {
        Opening {
            session: SessionId::generate(),
            request: CredentialsRequested {
                principal: caller.principal.clone(),
                user_id: Some(caller.user_id.clone()),
                profile: input.profile.clone(),
                requested_duration_seconds: input.duration.map(|d| d.as_secs() as u32),
                reason: input.reason.clone(),
            },
            profile: input.profile.clone(),
            principal: caller.principal.to_string(),
            recording: Recording {
                actor: Actor::Principal(caller.principal.clone()),
                person: Some(caller.person.clone()),
                correlation_id: correlation,
                now,
            },
        }
    }

    fn log(&self, decision: &AccessDecided) {
        tracing::info!(
            request_id = %self.recording.correlation_id, principal = %self.principal, profile = %self.profile,
            effect = decision.effect.as_str(), rule = decision.rule.as_deref().unwrap_or(""),
            basis = %decision.basis, session_id = %self.session, "access decided"
        );
    }

    /// Records the session's opening (request, decision, and the issuance if there is one) in
    /// one write; an issuance resting on a grant also lists the session on the grant's stream
    /// (`GrantUsed`) right after the seq it read, so a concurrent end of the grant wins or
    /// sees the session.
    async fn record(
        &self,
        deps: &Deps,
        decision: AccessDecided,
        issued: Option<CredentialsIssued>,
        grant: Option<&ActiveGrant>,
    ) -> Result<(), ApiError> {
        let issued_any = issued.is_some();
        let open = SessionCommand::Open { request: self.request.clone(), decision, issued };
        let events = SessionState::default().decide(&open, self.recording.now).map_err(|e| {
            tracing::error!(session_id = %self.session, error = %e, "opening refused by the session decider");
            ApiError::CredentialError
        })?;
        let mut plan = Plan::new(()).append(StreamKey::Session(self.session), events);
        if let Some(grant) = grant {
            plan = if issued_any {
                plan.append_after(grant.stream.clone(), grant.head.clone(), vec![used_by(self.session)])
            } else {
                plan.hold_at(grant.stream.clone(), grant.head.seq)
            };
        }
        match ledger::command::commit(deps.store.as_ref(), &Snapshot::default(), plan, &self.recording).await {
            Ok(_) => Ok(()),
            Err(StoreError::Conflict { stream, .. }) if grant.is_some_and(|g| g.stream == stream) => {
                Err(ApiError::Conflict(
                    "The approval or break-glass changed while credentials were being issued; none were issued. Retry."
                        .into(),
                ))
            }
            Err(e) => {
                tracing::error!(session_id = %self.session, "ledger append failed; credentials discarded");
                Err(e.into())
            }
        }
    }
}

/// The container-credentials JSON plus the session headers.
pub fn credentials_response(
    credentials: &IssuedCredentials,
    session: SessionId,
    token: &SessionToken,
) -> ApiGatewayV2httpResponse {
    let body = serde_json::json!({
        "AccessKeyId": credentials.access_key_id,
        "SecretAccessKey": credentials.secret_access_key.expose(),
        "Token": credentials.session_token.expose(),
        "Expiration": credentials.expiration.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    });
    let mut response = json_response(200, &body);
    set_header(&mut response, "x-sentinel-session-id", &session.to_string());
    set_header(&mut response, "x-sentinel-session-token", token.expose());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_whole_seconds_between_900_and_3600() {
        assert_eq!(parse_duration(Some("900")).unwrap(), Some(Duration::from_secs(900)));
        assert_eq!(parse_duration(Some("3600")).unwrap(), Some(Duration::from_secs(3600)));
        for bad in ["899", "3601", "0", "-900", "900.5", "1e3", "+900", " 900", "", "99999999999999999999", "43200"] {
            assert!(matches!(parse_duration(Some(bad)), Err(ApiError::InvalidDuration(_))), "{bad:?}");
        }
    }

    #[test]
    fn session_names_fit_sts_limits() {
        let name = session_name(SessionId::generate());
        assert!(valid_source_identity(&name) && valid_role_session_name(&name) && name.starts_with("sentinel"));
        assert!(!valid_source_identity("sentinel:alice:x"), "colons are refused by STS");
        assert!(!valid_source_identity("s"));
    }

    #[test]
    fn tokens_carry_the_session_and_256_random_bits() {
        let session = SessionId::generate();
        let a = SessionToken::generate(session).unwrap();
        let b = SessionToken::generate(session).unwrap();
        let (id, secret) = a.expose().split_once('.').unwrap();
        assert_eq!(id, session.to_string());
        assert_eq!(base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(secret).unwrap().len(), 32);
        assert_ne!(a.expose(), b.expose());
        assert_eq!(a.hash().len(), 64);
        assert_ne!(a.hash(), a.expose());
    }

    #[test]
    fn reasons_are_printable_and_bounded() {
        assert_eq!(parse_reason(Some("deploy 42")).unwrap().as_deref(), Some("deploy 42"));
        assert!(parse_reason(Some(&"x".repeat(257))).is_err());
        assert!(parse_reason(Some("a\nb")).is_err());
        assert!(parse_reason(Some("")).is_err());
    }
}
