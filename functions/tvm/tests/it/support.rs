//! Requests built from the payload-2.0 fixture, and a TVM wired to in-memory ports.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use chrono::{DateTime, Utc};
use ledger::identity::IdentityConfig;
use ledger::store::memory::MemoryEventStore;
use ledger::store::{EventStore, StoreError, StreamCheck};
use ledger::StoredEvent;
use serde_json::{json, Value};
use tvm::ports::memory::{MemoryGrants, MemoryIssuer, MemoryPolicies};
use tvm::rate_limit::RateLimiter;
use tvm::{Clock, Deps};

pub const ACCOUNT: &str = "123456789012";
pub const IDENTITY_ROLE_ID: &str = "AROAIDENTITYROLE0001";

pub fn example_policy(name: &str) -> String {
    std::fs::read_to_string(format!("{}/../../examples/policies/{name}.yaml", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// The fixture request, re-targeted at `route` with `query`, signed by `iam` (or unsigned).
pub fn request(route: &str, query: &str, iam: Option<Value>) -> ApiGatewayV2httpRequest {
    let text =
        std::fs::read_to_string(format!("{}/tests/fixtures/vend-iam-user.json", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let mut event: Value = serde_json::from_str(&text).unwrap();
    let (method, path) = route.split_once(' ').unwrap();
    event["routeKey"] = json!(route);
    event["requestContext"]["routeKey"] = json!(route);
    event["rawPath"] = json!(path);
    event["requestContext"]["http"]["method"] = json!(method);
    event["requestContext"]["http"]["path"] = json!(path);
    event["rawQueryString"] = json!(query);
    event.as_object_mut().unwrap().remove("queryStringParameters");
    match iam {
        Some(iam) => event["requestContext"]["authorizer"]["iam"] = iam,
        None => {
            event["requestContext"].as_object_mut().unwrap().remove("authorizer");
        }
    }
    serde_json::from_value(event).unwrap()
}

pub fn iam_user(name: &str) -> Value {
    let id = format!("AIDA{}", name.to_uppercase().replace(|c: char| !c.is_ascii_alphanumeric(), "X"));
    json!({
        "accessKey": "AKIAEXAMPLE", "accountId": ACCOUNT, "callerId": id,
        "principalOrgId": null, "userArn": format!("arn:aws:iam::{ACCOUNT}:user/{name}"), "userId": id,
    })
}

pub fn assumed_role(role: &str, role_id: &str, session: &str) -> Value {
    json!({
        "accessKey": "ASIAEXAMPLE", "accountId": ACCOUNT, "callerId": format!("{role_id}:{session}"),
        "principalOrgId": null, "userArn": format!("arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}"),
        "userId": format!("{role_id}:{session}"),
    })
}

pub fn arn_of(name: &str) -> ledger::PrincipalArn {
    format!("arn:aws:iam::{ACCOUNT}:user/{name}").parse().unwrap()
}

/// IAM user `name` of the test account as someone who acts (principal and person).
pub fn who_of(name: &str) -> ledger::Who {
    ledger::Who::new(arn_of(name), format!("iam:{ACCOUNT}:{name}").parse().unwrap())
}

pub struct FixedClock(pub Mutex<DateTime<Utc>>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

/// An event store whose session writes fail, as a ledger that becomes unreachable mid-vend
/// would; everything else works.
#[derive(Default)]
pub struct BrokenLedger(MemoryEventStore);

#[async_trait]
impl EventStore for BrokenLedger {
    async fn write(&self, items: &[StoredEvent], checks: &[StreamCheck], token: &str) -> Result<(), StoreError> {
        if items.iter().any(|i| i.stream.starts_with("SESSION#")) {
            return Err(StoreError::unavailable("Query", "connection refused"));
        }
        self.0.write(items, checks, token).await
    }
    async fn read_stream(&self, stream: &ledger::StreamKey, from: u64) -> Result<Vec<StoredEvent>, StoreError> {
        self.0.read_stream(stream, from).await
    }
}

/// A TVM over in-memory ports with the example policies.
pub struct Tvm {
    pub deps: Deps,
    pub store: Arc<MemoryEventStore>,
    pub issuer: Arc<MemoryIssuer>,
    pub policies: Arc<MemoryPolicies>,
    pub grants: Arc<MemoryGrants>,
    pub clock: Arc<FixedClock>,
}

impl Tvm {
    pub fn new() -> Tvm {
        Self::with_store(None)
    }

    pub fn with_store(store_override: Option<Arc<dyn EventStore>>) -> Tvm {
        let store = Arc::new(MemoryEventStore::new());
        let issuer = Arc::new(MemoryIssuer::default());
        let policies = Arc::new(MemoryPolicies::new());
        policies.put("dev", &example_policy("dev"));
        policies.put("prod", &example_policy("prod"));
        let grants = Arc::new(MemoryGrants::default());
        let clock = Arc::new(FixedClock(Mutex::new(Utc::now())));
        issuer.set_clock(clock.clone());
        let identity =
            IdentityConfig { identity_role_ids: [IDENTITY_ROLE_ID.to_owned()].into(), ..IdentityConfig::default() };
        let deps = Deps {
            identity,
            policies: policies.clone(),
            issuer: issuer.clone(),
            store: store_override.unwrap_or_else(|| store.clone()),
            grants: grants.clone(),
            views: Arc::new(projections::store::memory::MemoryViewStore::new()),
            policy_writer: policies.clone(),
            rate_limiter: RateLimiter::new(1000, std::time::Duration::from_secs(60)),
            clock: clock.clone(),
            pages: tvm::workflow::page::PageKey::random().unwrap(),
            seen_policies: Default::default(),
        };
        Tvm { deps, store, issuer, policies, grants, clock }
    }

    pub async fn call(&self, request: ApiGatewayV2httpRequest) -> Answer {
        Answer(tvm::handle(&self.deps, request).await)
    }

    /// Every event of every session stream.
    pub fn session_events(&self) -> Vec<StoredEvent> {
        self.store.all().into_iter().filter(|e| e.stream.starts_with("SESSION#")).collect()
    }

    /// The event types of every session stream, in stream order.
    pub fn ledger_types(&self) -> Vec<String> {
        self.session_events().into_iter().map(|e| e.event_type).collect()
    }
}

/// A response with helpers for assertions.
pub struct Answer(pub ApiGatewayV2httpResponse);

impl Answer {
    pub fn status(&self) -> i64 {
        self.0.status_code
    }
    pub fn body_text(&self) -> String {
        match &self.0.body {
            Some(Body::Text(t)) => t.clone(),
            Some(Body::Binary(b)) => String::from_utf8_lossy(b).into_owned(),
            _ => String::new(),
        }
    }
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body_text()).unwrap_or(Value::Null)
    }
    pub fn code(&self) -> String {
        self.json()["Code"].as_str().unwrap_or_default().to_owned()
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.0.headers.get(name).map(|v| v.to_str().unwrap().to_owned())
    }
    /// Asserts an error answer with `status` and `code`.
    #[track_caller]
    pub fn assert_error(&self, status: i64, code: &str) {
        assert_eq!((self.status(), self.code().as_str()), (status, code), "body: {}", self.body_text());
    }
}

/// A request to `route` (a route key such as `POST /requests/{id}/approve`) with its path
/// parameters, query string and JSON body, signed by `iam`.
pub fn call(
    route: &str,
    params: &[(&str, &str)],
    query: &str,
    iam: Value,
    body: Option<Value>,
) -> ApiGatewayV2httpRequest {
    let mut req = request(route, query, Some(iam));
    let mut path = route.split_once(' ').unwrap().1.to_owned();
    for (name, value) in params {
        req.path_parameters.insert((*name).to_owned(), (*value).to_owned());
        path = path.replace(&format!("{{{name}}}"), value);
    }
    req.raw_path = Some(path);
    req.body = body.map(|b| b.to_string());
    req
}

/// A ledger that counts what its callers ask of it.
#[derive(Default)]
pub struct CountingLedger {
    pub inner: MemoryEventStore,
    pub reads: std::sync::atomic::AtomicUsize,
    pub writes: std::sync::atomic::AtomicUsize,
}

impl CountingLedger {
    /// (reads, writes) since the last call, and starts counting afresh.
    pub fn take(&self) -> (usize, usize) {
        use std::sync::atomic::Ordering::SeqCst;
        (self.reads.swap(0, SeqCst), self.writes.swap(0, SeqCst))
    }
}

#[async_trait]
impl EventStore for CountingLedger {
    async fn write(&self, items: &[StoredEvent], checks: &[StreamCheck], token: &str) -> Result<(), StoreError> {
        self.writes.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.write(items, checks, token).await
    }
    async fn read_stream(&self, stream: &ledger::StreamKey, from: u64) -> Result<Vec<StoredEvent>, StoreError> {
        self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.read_stream(stream, from).await
    }
}
