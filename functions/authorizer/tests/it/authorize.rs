//! The authorizer allows exactly live sessions with their own token, reading the session's ledger stream:
//! every other request — malformed, unknown, expired, revoked, a store failure — is denied.

use std::sync::{Arc, Mutex};

use authorizer::{authorize, handle, token_of, Denial, Deps};
use aws_lambda_events::apigw::ApiGatewayV2CustomAuthorizerV2Request;
use aws_lambda_events::http::{HeaderMap, HeaderName, HeaderValue};
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use ledger::decide::session::SessionStatus;
use ledger::event::{AccessDecided, CredentialsIssued, CredentialsRequested, SessionRevoked};
use ledger::store::memory::MemoryEventStore;
use ledger::store::{EventStore, StoreError, StreamAppend, StreamCheck};
use ledger::{Actor, Basis, Effect, Event, NewEvent, SessionId, StoredEvent, StreamHead, StreamKey};
use projections::store::memory::MemoryViewStore;
use sha2::{Digest, Sha256};

fn alice() -> ledger::PrincipalArn {
    "arn:aws:iam::123456789012:user/alice".parse().unwrap()
}

fn token_for(session: SessionId) -> String {
    format!("{session}.{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([7u8; 32]))
}

struct Fixture {
    deps: Deps,
    ledger: Arc<MemoryEventStore>,
    views: Arc<MemoryViewStore>,
    now: Arc<Mutex<DateTime<Utc>>>,
}

fn fixture() -> Fixture {
    let ledger = Arc::new(MemoryEventStore::new());
    let views = Arc::new(MemoryViewStore::new());
    let now = Arc::new(Mutex::new(Utc::now()));
    let clock = now.clone();
    let deps = Deps { views: views.clone(), ledger: ledger.clone(), clock: Arc::new(move || *clock.lock().unwrap()) };
    Fixture { deps, ledger, views, now }
}

impl Fixture {
    /// A session issued now for eight hours, with `token_for(session)` as its token.
    async fn session(&self) -> (SessionId, String) {
        let session = SessionId::generate();
        let token = token_for(session);
        let now = *self.now.lock().unwrap();
        let events: Vec<Event> = vec![
            CredentialsRequested {
                principal: alice(),
                user_id: Some("AIDAALICE".into()),
                profile: "dev".parse().unwrap(),
                requested_duration_seconds: None,
                reason: None,
            }
            .into(),
            AccessDecided {
                effect: Effect::Allow,
                rule: Some("developers".into()),
                reason: "team".into(),
                basis: Basis::Policy,
                policy_hash: None,
            }
            .into(),
            CredentialsIssued {
                role_arn: "arn:aws:iam::123456789012:role/SentinelProtected-Dev".parse().unwrap(),
                source_identity: format!("sentinel-{session}"),
                role_session_name: format!("sentinel-{session}"),
                access_key_id: "ASIAEXAMPLE".into(),
                expiration: now + Duration::minutes(15),
                session_ends_at: now + Duration::hours(8),
                token_hash: hex::encode(Sha256::digest(token.as_bytes())),
            }
            .into(),
        ];
        let events = events.into_iter().map(|e| NewEvent::new(e, Actor::Principal(alice()), "req", now)).collect();
        self.ledger
            .append(StreamAppend { stream: StreamKey::Session(session), head: StreamHead::genesis(), events })
            .await
            .unwrap();
        (session, token)
    }

    /// The projector catching up.
    async fn project(&self) {
        let all = self.ledger.all();
        projections::rebuild(&all, self.views.as_ref(), projections::Mode::Repair).await.unwrap();
    }

    async fn revoke(&self, session: SessionId) {
        let stream = StreamKey::Session(session);
        let head = self.ledger.read_stream(&stream, 1).await.unwrap().last().unwrap().head();
        let event = NewEvent::new(
            SessionRevoked { by: alice(), reason: "lost laptop".into() },
            Actor::Principal(alice()),
            "r",
            *self.now.lock().unwrap(),
        );
        self.ledger.append(StreamAppend { stream, head, events: vec![event] }).await.unwrap();
    }
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(HeaderName::from_static(name), HeaderValue::from_str(value).unwrap());
    }
    map
}

#[tokio::test]
async fn a_live_session_with_its_token_is_allowed_with_its_context() {
    let f = fixture();
    let (session, token) = f.session().await;
    f.project().await;
    let context = authorize(&f.deps, &headers(&[("authorization", &token)])).await.unwrap();
    assert_eq!(context["session_id"], session.to_string());
    assert_eq!(context["principal"], alice().as_str());
    assert_eq!(context["profile"], "dev");
    let by_headers = headers(&[("x-sentinel-session-id", &session.to_string()), ("x-sentinel-session-token", &token)]);
    assert!(authorize(&f.deps, &by_headers).await.is_ok());
}

#[tokio::test]
async fn a_session_revoked_after_projection_is_denied_before_the_projector_runs_again() {
    let f = fixture();
    let (session, token) = f.session().await;
    f.project().await;
    f.revoke(session).await;
    let denial = authorize(&f.deps, &headers(&[("authorization", &token)])).await.unwrap_err();
    assert_eq!(denial, Denial::NotLive(Some(SessionStatus::Revoked)));
}

#[tokio::test]
async fn a_session_never_projected_is_read_from_the_ledger_tail() {
    let f = fixture();
    let (_, token) = f.session().await;
    assert!(authorize(&f.deps, &headers(&[("authorization", &token)])).await.is_ok());
}

#[tokio::test]
async fn an_expired_session_is_denied() {
    let f = fixture();
    let (_, token) = f.session().await;
    *f.now.lock().unwrap() += Duration::hours(8);
    assert_eq!(
        authorize(&f.deps, &headers(&[("authorization", &token)])).await.unwrap_err(),
        Denial::NotLive(Some(SessionStatus::Expired))
    );
}

#[tokio::test]
async fn another_sessions_token_or_a_forged_secret_is_denied() {
    let f = fixture();
    let (session, token) = f.session().await;
    let (_, other_token) = f.session().await;
    let forged = format!("{session}.{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([8u8; 32]));
    assert_eq!(authorize(&f.deps, &headers(&[("authorization", &forged)])).await.unwrap_err(), Denial::TokenMismatch);
    // The session id in the header must be the token's own.
    let mixed = headers(&[("x-sentinel-session-id", &session.to_string()), ("x-sentinel-session-token", &other_token)]);
    assert_eq!(authorize(&f.deps, &mixed).await.unwrap_err(), Denial::Malformed);
    assert!(authorize(&f.deps, &headers(&[("authorization", &token)])).await.is_ok());
}

#[tokio::test]
async fn unknown_sessions_and_malformed_tokens_are_denied() {
    let f = fixture();
    let unknown = token_for(SessionId::generate());
    assert_eq!(authorize(&f.deps, &headers(&[("authorization", &unknown)])).await.unwrap_err(), Denial::UnknownSession);
    let (_, token) = f.session().await;
    for bad in [
        String::new(),
        format!("Bearer {token}"),
        token.replace('.', ":"),
        format!("{token}x"),
        token[..token.len() - 1].to_owned(),
        format!("{}.{}", "0".repeat(26), "!".repeat(43)),
        "../../etc/passwd".to_owned(),
    ] {
        let denied = match HeaderValue::from_str(&bad) {
            Ok(_) => authorize(&f.deps, &headers(&[("authorization", &bad)])).await.is_err(),
            Err(_) => true,
        };
        assert!(denied, "{bad:?}");
    }
    assert_eq!(token_of(&HeaderMap::new()).unwrap_err(), Denial::NoToken);
}

/// A ledger that cannot be read.
struct Unreachable;

#[async_trait::async_trait]
impl EventStore for Unreachable {
    async fn write(&self, _: &[StoredEvent], _: &[StreamCheck], _: &str) -> Result<(), StoreError> {
        Err(StoreError::unavailable("Query", "down"))
    }
    async fn read_stream(&self, _: &StreamKey, _: u64) -> Result<Vec<StoredEvent>, StoreError> {
        Err(StoreError::unavailable("Query", "down"))
    }
}

#[tokio::test]
async fn a_store_failure_is_a_deny_not_an_error() {
    let f = fixture();
    let (_, token) = f.session().await;
    f.project().await;
    let deps = Deps { views: f.views.clone(), ledger: Arc::new(Unreachable), clock: f.deps.clock.clone() };
    let mut event = ApiGatewayV2CustomAuthorizerV2Request::default();
    event.headers = headers(&[("authorization", &token)]);
    let response = handle(&deps, event).await;
    assert!(!response.is_authorized);
    assert_eq!(response.context, serde_json::json!({}));
}

/// A ledger that counts its reads.
struct Counting {
    inner: Arc<MemoryEventStore>,
    reads: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl EventStore for Counting {
    async fn write(&self, items: &[StoredEvent], checks: &[StreamCheck], token: &str) -> Result<(), StoreError> {
        self.inner.write(items, checks, token).await
    }
    async fn read_stream(&self, stream: &StreamKey, from: u64) -> Result<Vec<StoredEvent>, StoreError> {
        self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.read_stream(stream, from).await
    }
}

/// Views that fail every call: a decision that read them would be a deny.
struct NoViews;

#[async_trait::async_trait]
impl projections::ViewStore for NoViews {
    async fn projection(&self, _: &StreamKey) -> Result<Option<projections::Projection>, projections::ViewError> {
        Err(projections::ViewError::Unavailable("views are not for decisions".into()))
    }
    async fn save(&self, _: &projections::Projection) -> Result<projections::Saved, projections::ViewError> {
        Err(projections::ViewError::Unavailable("read only".into()))
    }
    async fn overwrite(&self, _: &projections::Projection) -> Result<(), projections::ViewError> {
        Err(projections::ViewError::Unavailable("read only".into()))
    }
    async fn save_audit(&self, _: &[projections::AuditRecord]) -> Result<(), projections::ViewError> {
        Err(projections::ViewError::Unavailable("read only".into()))
    }
    async fn sessions(
        &self,
        _: &projections::SessionIndex,
        _: Option<SessionStatus>,
    ) -> Result<Vec<projections::SessionView>, projections::ViewError> {
        Err(projections::ViewError::Unavailable("views are not for decisions".into()))
    }
    async fn revoked_since(
        &self,
        _: &ledger::RoleArn,
        _: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<projections::SessionView>, projections::ViewError> {
        Err(projections::ViewError::Unavailable("views are not for decisions".into()))
    }
    async fn approvals(
        &self,
        _: &projections::ApprovalIndex,
        _: Option<ledger::decide::approval::ApprovalStatus>,
    ) -> Result<Vec<projections::ApprovalView>, projections::ViewError> {
        Err(projections::ViewError::Unavailable("views are not for decisions".into()))
    }
    async fn break_glass(
        &self,
        _: &projections::BreakGlassIndex,
        _: Option<ledger::decide::breakglass::BreakGlassStatus>,
    ) -> Result<Vec<projections::BreakGlassView>, projections::ViewError> {
        Err(projections::ViewError::Unavailable("views are not for decisions".into()))
    }
    async fn audit(
        &self,
        _: &projections::AuditQuery,
    ) -> Result<Vec<projections::AuditRecord>, projections::ViewError> {
        Err(projections::ViewError::Unavailable("views are not for decisions".into()))
    }
    async fn dump(&self) -> Result<projections::Views, projections::ViewError> {
        Err(projections::ViewError::Unavailable("views are not for decisions".into()))
    }
}

#[tokio::test]
async fn one_consistent_query_decides() {
    let f = fixture();
    let (session, token) = f.session().await;
    let ledger = Arc::new(Counting { inner: f.ledger.clone(), reads: Default::default() });
    let deps = Deps { views: Arc::new(NoViews), ledger: ledger.clone(), clock: f.deps.clock.clone() };
    let context = authorize(&deps, &headers(&[("authorization", &token)])).await.unwrap();
    assert_eq!(context["session_id"], session.to_string());
    assert_eq!(ledger.reads.load(std::sync::atomic::Ordering::SeqCst), 1, "one read of the session's stream");
    f.revoke(session).await;
    assert!(authorize(&deps, &headers(&[("authorization", &token)])).await.is_err());
    assert_eq!(ledger.reads.load(std::sync::atomic::Ordering::SeqCst), 2);
}
