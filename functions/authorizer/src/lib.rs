//! The revocation authorizer: an API Gateway HTTP API REQUEST authorizer (payload 2.0, simple
//! responses, cache TTL 0). It allows only a live, unexpired session whose token hash matches
//! (constant time) the one in the session's `CredentialsIssued`. It decides from the session's
//! own ledger stream, read with one consistent Query, never from a views row: a revocation counts
//! the moment it commits, and a forged or stale row changes nothing. Everything else — unknown,
//! expired, revoked, malformed, a store error — is a deny.

#![warn(missing_docs)]

use std::sync::Arc;

use aws_lambda_events::apigw::{ApiGatewayV2CustomAuthorizerSimpleResponse, ApiGatewayV2CustomAuthorizerV2Request};
use aws_lambda_events::http::HeaderMap;
use edge::{Clock, SystemClock};
use ledger::decide::session::{SessionState, SessionStatus};
use ledger::store::dynamo::DynamoEventStore;
use ledger::store::EventStore;
use ledger::{Aggregate, SessionId, StreamKey};
use projections::store::dynamo::DynamoViewStore;
use projections::ViewStore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What the authorizer reads.
pub struct Deps {
    /// The views table. Decisions never read it (they rest on the ledger alone); it stays for
    /// the wiring that builds these ports.
    pub views: Arc<dyn ViewStore>,
    /// The ledger: the session's own stream decides.
    pub ledger: Arc<dyn EventStore>,
    /// The current time (a session's expiry).
    pub clock: Arc<dyn Clock>,
}

/// The authorizer's configuration: the ledger and views tables, read once at cold start.
pub type Config = edge::Tables;

/// The real adapters: both tables through `dynamodb`, the system clock. What `main` runs at
/// cold start, and what the local stack runs once.
pub fn deps(dynamodb: &aws_sdk_dynamodb::Client, config: &Config) -> Deps {
    Deps {
        views: Arc::new(DynamoViewStore::new(dynamodb.clone(), &config.views_table)),
        ledger: Arc::new(DynamoEventStore::new(dynamodb.clone(), &config.ledger_table)),
        clock: Arc::new(SystemClock),
    }
}

/// Why a request is denied (logged, never returned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// Neither `Authorization` nor the `X-Sentinel-Session-*` pair is present.
    NoToken,
    /// The token is not `<session id>.<secret>` of the expected length and alphabet.
    Malformed,
    /// No such session (or it never had a token).
    UnknownSession,
    /// The session is not active now (its status at the clock's time).
    NotLive(Option<SessionStatus>),
    /// The token's hash is not the session's.
    TokenMismatch,
    /// The views or the ledger could not be read: fail closed.
    StoreError(String),
}

/// The longest token accepted: `<26-char ULID>.<43-char base64url>`.
const TOKEN_LEN: usize = 26 + 1 + 43;

/// The session token from `Authorization` (raw), or from `X-Sentinel-Session-Id` +
/// `X-Sentinel-Session-Token` for downstream APIs.
pub fn token_of(headers: &HeaderMap) -> Result<(SessionId, String), Denial> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let token = match (header("authorization"), header("x-sentinel-session-id"), header("x-sentinel-session-token")) {
        (Some(token), _, _) => token,
        (None, Some(id), Some(token)) => {
            if !token.starts_with(&format!("{id}.")) {
                return Err(Denial::Malformed);
            }
            token
        }
        _ => return Err(Denial::NoToken),
    };
    if token.len() != TOKEN_LEN {
        return Err(Denial::Malformed);
    }
    let (id, secret) = token.split_once('.').ok_or(Denial::Malformed)?;
    let secret_ok = secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let id: SessionId = id.parse().map_err(|_| Denial::Malformed)?;
    if !secret_ok {
        return Err(Denial::Malformed);
    }
    Ok((id, token))
}

/// Whether `token` hashes to `expected` (SHA-256 hex), compared in constant time.
pub fn token_matches(token: &str, expected: &str) -> bool {
    let actual = hex::encode(Sha256::digest(token.as_bytes()));
    bool::from(actual.as_bytes().ct_eq(expected.as_bytes()))
}

/// Decides one request from the session's ledger stream: one consistent Query, nothing else.
pub async fn authorize(deps: &Deps, headers: &HeaderMap) -> Result<serde_json::Value, Denial> {
    let (id, token) = token_of(headers)?;
    let stream = ledger::command::read_stream(deps.ledger.as_ref(), &StreamKey::Session(id))
        .await
        .map_err(|e| Denial::StoreError(e.to_string()))?;
    let state = SessionState::fold_recorded(&stream.events);
    let status = state.status_at(deps.clock.now());
    let live = match (&state, status) {
        (SessionState::Unknown | SessionState::Decided { .. }, _) => return Err(Denial::UnknownSession),
        (SessionState::Active(live), Some(SessionStatus::Active)) => live,
        (_, status) => return Err(Denial::NotLive(status)),
    };
    if !token_matches(&token, &live.issued.token_hash) {
        return Err(Denial::TokenMismatch);
    }
    let mut context = serde_json::json!({
        "session_id": id.to_string(),
        "principal": live.request.principal.as_str(),
        "profile": live.request.profile.as_str(),
    });
    // Context values are strings: a session opened before person keys has none to pass on.
    if let Some(person) = stream.events.first().and_then(|e| e.person.as_ref()) {
        context["person"] = serde_json::Value::String(person.to_string());
    }
    Ok(context)
}

/// The Lambda handler: a simple response, never an error (an error would be a 500, not a deny).
pub async fn handle(
    deps: &Deps,
    event: ApiGatewayV2CustomAuthorizerV2Request,
) -> ApiGatewayV2CustomAuthorizerSimpleResponse {
    let request_id = event.request_context.request_id.clone().unwrap_or_default();
    let mut response = ApiGatewayV2CustomAuthorizerSimpleResponse::default();
    match authorize(deps, &event.headers).await {
        Ok(context) => {
            tracing::info!(request_id = %request_id, session_id = %context["session_id"], "session allowed");
            response.is_authorized = true;
            response.context = context;
        }
        Err(denial) => {
            tracing::warn!(request_id = %request_id, denial = ?denial, "session denied");
            response.is_authorized = false;
            response.context = serde_json::Value::Object(Default::default());
        }
    }
    response
}
