//! A bounded load on an in-process stack: N concurrent clients × M vends and revokes, plus an
//! approval round trip each, through the TVM and authorizer handlers over the DynamoDB
//! emulator, with the projector fed by the emulated stream as in `sentinel dev`. Afterwards the
//! ledger holds exactly the expected events by type, no event id twice, every chain verifies,
//! and the views equal a rebuild once the poller has caught up.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::apigw::ApiGatewayV2CustomAuthorizerV2Request;
use devstack::stream_poller::StreamPoller;
use devstack::DynamoEmulator;
use ledger::identity::IdentityConfig;
use ledger::store::dynamo::{create_ledger_table, DynamoEventStore};
use ledger::StoredEvent;
use projections::store::dynamo::{create_views_table, DynamoViewStore};
use serde_json::json;
use tvm::ports::memory::{MemoryIssuer, MemoryPolicies};
use tvm::rate_limit::RateLimiter;
use tvm::workflow::grants::LedgerGrants;
use tvm::{Deps, SystemClock};

use crate::support::*;

const CLIENTS: usize = 4;
const ROUNDS: usize = 8;

/// dev: allow for every load user; prod: approval by carol.
fn policies() -> Arc<MemoryPolicies> {
    let users: Vec<String> = (0..CLIENTS).map(|i| format!("load{i}")).collect();
    let users = users.join(", ");
    let policies = Arc::new(MemoryPolicies::new());
    policies.put(
        "dev",
        &format!(
            "version: \"1\"\nprofile: dev\nrole_arn: arn:aws:iam::{ACCOUNT}:role/SentinelProtected-Dev\nmax_duration: 1h\nmax_session: 8h\n\
             rules:\n  - name: load\n    effect: allow\n    when:\n      users: [{users}]\n    reason: load test\n"
        ),
    );
    policies.put(
        "prod",
        &format!(
            "version: \"1\"\nprofile: prod\nrole_arn: arn:aws:iam::{ACCOUNT}:role/SentinelProtected-Prod\nmax_duration: 1h\nmax_session: 8h\n\
             rules:\n  - name: load\n    effect: require_approval\n    when:\n      users: [{users}]\n    reason: load test\n\
             approvals: {{approvers: [carol], required: 1, window: 4h}}\n"
        ),
    );
    policies
}

struct LoadStack {
    tvm: Arc<Deps>,
    authorizer: Arc<authorizer::Deps>,
    views: Arc<DynamoViewStore>,
    client: aws_sdk_dynamodb::Client,
    ledger_table: String,
    _poller: devstack::stream_poller::PollerHandle,
    _emulator: DynamoEmulator,
}

impl LoadStack {
    async fn start() -> LoadStack {
        let emulator = DynamoEmulator::start_ephemeral().await.unwrap();
        let client = devstack::dynamodb_client(emulator.endpoint());
        let (ledger_table, views_table) = (devstack::unique_table_name("ledger"), devstack::unique_table_name("views"));
        create_ledger_table(&client, &ledger_table).await.unwrap();
        create_views_table(&client, &views_table).await.unwrap();
        let ledger = Arc::new(DynamoEventStore::new(client.clone(), &ledger_table));
        let views = Arc::new(DynamoViewStore::new(client.clone(), &views_table));
        let policies = policies();
        let tvm = Arc::new(Deps {
            identity: IdentityConfig::default(),
            policies: policies.clone(),
            issuer: Arc::new(MemoryIssuer::default()),
            store: ledger.clone(),
            grants: Arc::new(LedgerGrants { views: views.clone(), ledger: ledger.clone() }),
            views: views.clone(),
            policy_writer: policies,
            rate_limiter: RateLimiter::new(10_000, Duration::from_secs(60)),
            clock: Arc::new(SystemClock),
            pages: tvm::workflow::page::PageKey::random().unwrap(),
            seen_policies: Default::default(),
        });
        let authorizer = Arc::new(authorizer::Deps {
            views: views.clone(),
            ledger: ledger.clone(),
            clock: Arc::new(chrono::Utc::now),
        });
        let projector = Arc::new(projector::Deps { views: views.clone(), ledger });
        let poller = StreamPoller::new(devstack::dynamodb_streams_client(emulator.endpoint()), &ledger_table).spawn(
            move |event| {
                let deps = projector.clone();
                async move { projector::handle(&deps, event).await }
            },
        );
        LoadStack { tvm, authorizer, views, client, ledger_table, _poller: poller, _emulator: emulator }
    }

    async fn send(&self, request: aws_lambda_events::apigw::ApiGatewayV2httpRequest) -> Answer {
        Answer(tvm::handle(&self.tvm, request).await)
    }

    async fn authorized(&self, token: &str) -> bool {
        let mut event = ApiGatewayV2CustomAuthorizerV2Request::default();
        event.headers.insert("authorization", token.parse().unwrap());
        authorizer::handle(&self.authorizer, event).await.is_authorized
    }

    async fn ledger(&self) -> Vec<StoredEvent> {
        projections::rebuild::scan_ledger(&self.client, &self.ledger_table).await.unwrap()
    }
}

/// One client: an approval round trip for prod, then `ROUNDS` × (vend dev, check the token
/// works, revoke, check the first call after the revoke is denied).
async fn client(stack: Arc<LoadStack>, user: String) {
    let created = stack
        .send(call(
            "POST /requests",
            &[],
            "",
            iam_user(&user),
            Some(json!({"profile": "prod", "justification": "load test round trip", "duration": 3600})),
        ))
        .await;
    assert_eq!(created.status(), 201, "{}", created.body_text());
    let id = created.json()["request_id"].as_str().unwrap().to_owned();
    let approved = stack
        .send(call(
            "POST /requests/{id}/approve",
            &[("id", &id)],
            "",
            iam_user("carol"),
            Some(json!({"comment": "ok"})),
        ))
        .await;
    assert_eq!(approved.status(), 200, "{}", approved.body_text());
    // The vend finds the approval through the views: wait for the poller to project it.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let vend = stack.send(request("GET /", "profile=prod", Some(iam_user(&user)))).await;
        if vend.status() == 200 {
            break;
        }
        vend.assert_error(403, "APPROVAL_REQUIRED");
        assert!(Instant::now() < deadline, "the approval of {user} was never projected");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for _ in 0..ROUNDS {
        let vend = stack.send(request("GET /", "profile=dev&duration=900", Some(iam_user(&user)))).await;
        assert_eq!(vend.status(), 200, "{}", vend.body_text());
        let (session, token) =
            (vend.header("x-sentinel-session-id").unwrap(), vend.header("x-sentinel-session-token").unwrap());
        assert!(stack.authorized(&token).await, "a fresh session is live");
        let revoked = stack
            .send(call(
                "POST /sessions/{id}/revoke",
                &[("id", &session)],
                "",
                iam_user(&user),
                Some(json!({"reason": "load"})),
            ))
            .await;
        assert_eq!(revoked.status(), 200, "{}", revoked.body_text());
        assert!(!stack.authorized(&token).await, "the first call after a revoke is denied");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_clients_leave_exactly_the_expected_events_whole_chains_and_views_equal_to_a_rebuild() {
    let stack = Arc::new(LoadStack::start().await);
    // Warm-up: each policy's first sight records its `PolicyPublished` once.
    assert_eq!(stack.send(request("GET /", "profile=dev", Some(iam_user("load0")))).await.status(), 200);
    stack.send(request("GET /", "profile=prod", Some(iam_user("load0")))).await.assert_error(403, "APPROVAL_REQUIRED");

    let tasks: Vec<_> = (0..CLIENTS).map(|i| tokio::spawn(client(stack.clone(), format!("load{i}")))).collect();
    for task in tasks {
        task.await.expect("a client failed");
    }

    let events = stack.ledger().await;
    let mut by_type: BTreeMap<&str, usize> = BTreeMap::new();
    for e in &events {
        *by_type.entry(e.event_type.as_str()).or_default() += 1;
    }
    // Vends that end in credentials: the warm-up, one prod vend per client, and every round,
    // plus the prod vends refused while the approval was not yet projected.
    let issued = 1 + CLIENTS + CLIENTS * ROUNDS;
    let refused = by_type.get("CredentialsRequested").copied().unwrap_or(0) - issued;
    assert!(refused >= 1, "the warm-up refusal is recorded");
    let expected: BTreeMap<&str, usize> = [
        ("PolicyPublished", 2),
        ("CredentialsRequested", issued + refused),
        ("AccessDecided", issued + refused),
        ("CredentialsIssued", issued),
        ("SessionRevoked", CLIENTS * ROUNDS),
        ("ApprovalRequested", CLIENTS),
        ("ApprovalGranted", CLIENTS),
        ("GrantUsed", CLIENTS),
        ("ApprovalReserved", CLIENTS),
    ]
    .into_iter()
    .collect();
    assert_eq!(by_type, expected);
    let denied_decisions =
        events.iter().filter(|e| e.event_type == "AccessDecided" && e.payload["effect"] != "allow").count();
    assert_eq!(denied_decisions, refused, "every refused vend decided require_approval, nothing else");

    let ids: BTreeSet<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(ids.len(), events.len(), "no event id is stored twice");

    let mut streams: BTreeMap<&str, Vec<StoredEvent>> = BTreeMap::new();
    for e in &events {
        streams.entry(e.stream.as_str()).or_default().push(e.clone());
    }
    for (stream, mut of) in streams {
        of.sort_by_key(|e| e.seq);
        ledger::verify_stream(stream, &of).unwrap_or_else(|e| panic!("{stream}: {e}"));
    }

    // The poller catches up within a few polls; the views then equal the fold of the ledger.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let report = projections::rebuild(&events, stack.views.as_ref(), projections::Mode::Check).await.unwrap();
        if report.is_clean() {
            break;
        }
        assert!(Instant::now() < deadline, "views still differ from a rebuild: {:?}", report.differences);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
