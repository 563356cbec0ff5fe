//! Approvals, break-glass, sessions, refresh and admin routes through the DynamoDB emulator
//! (ledger and views): rights, quorum, races, expiry, stacking, cooldown and revocation.

use std::sync::{Arc, Mutex};

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use chrono::{Duration, Utc};
use devstack::DynamoEmulator;
use ledger::identity::IdentityConfig;
use ledger::store::dynamo::{create_ledger_table, DynamoEventStore};
use ledger::store::EventStore;
use ledger::StreamKey;
use projections::store::dynamo::{create_views_table, DynamoViewStore};
use serde_json::{json, Value};
use tvm::ports::memory::{MemoryIssuer, MemoryPolicies};
use tvm::rate_limit::RateLimiter;
use tvm::workflow::grants::LedgerGrants;
use tvm::Deps;

use crate::support::*;

pub struct Stack {
    pub deps: Arc<Deps>,
    /// The session token of every session vended through [`Stack::send`], by session id.
    tokens: Mutex<std::collections::HashMap<String, String>>,
    pub ledger: DynamoEventStore,
    pub views: Arc<DynamoViewStore>,
    pub policies: Arc<MemoryPolicies>,
    pub issuer: Arc<MemoryIssuer>,
    pub clock: Arc<FixedClock>,
    client: aws_sdk_dynamodb::Client,
    ledger_table: String,
    _emulator: DynamoEmulator,
}

impl Stack {
    pub async fn new() -> Stack {
        Self::with_identity_roles(&[]).await
    }

    /// A stack whose TVM treats the roles with these ids as identity roles.
    pub async fn with_identity_roles(role_ids: &[&str]) -> Stack {
        let emulator = DynamoEmulator::start_ephemeral().await.unwrap();
        let client = devstack::dynamodb_client(emulator.endpoint());
        let (ledger_table, views_table) = (devstack::unique_table_name("ledger"), devstack::unique_table_name("views"));
        create_ledger_table(&client, &ledger_table).await.unwrap();
        create_views_table(&client, &views_table).await.unwrap();
        let keys_table = devstack::unique_table_name("idempotency");
        ledger::store::dynamo::create_idempotency_table(&client, &keys_table).await.unwrap();
        let ledger = DynamoEventStore::new(client.clone(), &ledger_table).with_key_table(&keys_table);
        let views = Arc::new(DynamoViewStore::new(client.clone(), &views_table));
        let policies = Arc::new(MemoryPolicies::new());
        for profile in ["dev", "prod"] {
            policies.put(profile, &example_policy(profile));
        }
        policies
            .put_admins(
                &std::fs::read_to_string(format!("{}/../../examples/admins.yaml", env!("CARGO_MANIFEST_DIR"))).unwrap(),
            )
            .unwrap();
        let clock = Arc::new(FixedClock(Mutex::new(Utc::now())));
        let issuer = Arc::new(MemoryIssuer::default());
        issuer.set_clock(clock.clone());
        let deps = Arc::new(Deps {
            identity: IdentityConfig {
                identity_role_ids: role_ids.iter().map(|id| (*id).to_owned()).collect(),
                ..IdentityConfig::default()
            },
            policies: policies.clone(),
            issuer: issuer.clone(),
            store: Arc::new(ledger.clone()),
            grants: Arc::new(LedgerGrants { views: views.clone(), ledger: Arc::new(ledger.clone()) }),
            views: views.clone(),
            policy_writer: policies.clone(),
            rate_limiter: RateLimiter::new(10_000, std::time::Duration::from_secs(60)),
            clock: clock.clone(),
            pages: tvm::workflow::page::PageKey::random().unwrap(),
            seen_policies: Default::default(),
        });
        Stack {
            deps,
            tokens: Mutex::default(),
            ledger,
            views,
            policies,
            issuer,
            clock,
            client,
            ledger_table,
            _emulator: emulator,
        }
    }

    pub async fn send(&self, request: ApiGatewayV2httpRequest) -> Answer {
        let answer = Answer(tvm::handle(&self.deps, request).await);
        if let (Some(id), Some(token)) =
            (answer.header("x-sentinel-session-id"), answer.header("x-sentinel-session-token"))
        {
            self.tokens.lock().unwrap().insert(id, token);
        }
        answer
    }

    /// The session token a vend through this stack handed out for `session`.
    pub fn token(&self, session: &str) -> String {
        self.tokens.lock().unwrap().get(session).cloned().unwrap_or_else(|| panic!("no vend of {session} seen"))
    }

    /// The projector catching up: every view rebuilt from the ledger.
    pub async fn sync_views(&self) {
        let events = projections::rebuild::scan_ledger(&self.client, &self.ledger_table).await.unwrap();
        projections::rebuild(&events, self.views.as_ref(), projections::Mode::Repair).await.unwrap();
    }

    pub fn advance(&self, by: Duration) {
        *self.clock.0.lock().unwrap() += by;
    }

    /// Every ledger event, in table order.
    pub async fn ledger_events(&self) -> Vec<ledger::StoredEvent> {
        projections::rebuild::scan_ledger(&self.client, &self.ledger_table).await.unwrap()
    }

    pub async fn stream_types(&self, stream: &StreamKey) -> Vec<String> {
        self.ledger.read_stream(stream, 1).await.unwrap().into_iter().map(|e| e.event_type).collect()
    }

    /// alice asks for prod; returns the request id.
    pub async fn request_prod(&self, who: &str, duration: u64) -> String {
        let answer = self
            .send(call(
                "POST /requests",
                &[],
                "",
                iam_user(who),
                Some(json!({"profile": "prod", "justification": "deploy hotfix 42", "duration": duration})),
            ))
            .await;
        assert_eq!(answer.status(), 201, "{}", answer.body_text());
        answer.json()["request_id"].as_str().unwrap().to_owned()
    }

    pub async fn decide(&self, id: &str, verb: &str, who: &str) -> Answer {
        self.send(call(&format!("POST /requests/{{id}}/{verb}"), &[("id", id)], "", iam_user(who), Some(json!({}))))
            .await
    }

    pub async fn vend(&self, who: &str, query: &str) -> Answer {
        self.send(request("GET /", query, Some(iam_user(who)))).await
    }

    pub async fn break_glass(&self, who: &str, profile: &str, duration: u64) -> Answer {
        let body = json!({"profile": profile, "reason_code": "incident", "justification": "database on fire, paging says so", "duration": duration});
        self.send(call("POST /breakglass", &[], "", iam_user(who), Some(body))).await
    }

    /// The TVM's refresh as the authorizer would pass it on, with the session's own token.
    pub async fn refresh(&self, session: &str) -> Answer {
        self.refresh_with(session, &self.token(session)).await
    }

    /// The TVM's refresh of `session` (as the authorizer's context says) presenting `token`.
    pub async fn refresh_with(&self, session: &str, token: &str) -> Answer {
        let mut req = request("GET /credentials", "", None);
        req.headers.insert("authorization", token.parse().unwrap());
        let mut authorizer = aws_lambda_events::apigw::ApiGatewayRequestAuthorizer::default();
        authorizer.fields.insert("session_id".into(), Value::String(session.to_owned()));
        req.request_context.authorizer = Some(authorizer);
        self.send(req).await
    }
}

pub fn approval_stream(id: &str) -> StreamKey {
    StreamKey::Approval(id.parse().unwrap())
}

#[tokio::test]
async fn an_approval_round_trip_lets_the_requester_vend_once_approved() {
    let stack = Stack::new().await;
    stack.vend("alice", "profile=prod").await.assert_error(403, "APPROVAL_REQUIRED");
    let id = stack.request_prod("alice", 3600).await;
    stack.sync_views().await;
    let pending = stack.vend("alice", "profile=prod").await;
    pending.assert_error(403, "APPROVAL_REQUIRED");
    assert_eq!(pending.json()["request_id"], id.as_str());
    let approved = stack.decide(&id, "approve", "carol").await;
    assert_eq!(approved.status(), 200, "{}", approved.body_text());
    assert_eq!(approved.json()["status"], "approved");
    let vend = stack.vend("alice", "profile=prod").await;
    assert_eq!(vend.status(), 200, "{}", vend.body_text());
    // bob cannot ride on alice's approval.
    stack.vend("bob", "profile=prod").await.assert_error(403, "APPROVAL_REQUIRED");
}

#[tokio::test]
async fn only_callers_policy_sends_to_approval_may_request_one() {
    let stack = Stack::new().await;
    let ask = |who: &str, profile: &str| {
        call(
            "POST /requests",
            &[],
            "",
            iam_user(who),
            Some(json!({"profile": profile, "justification": "need it for a while", "duration": 900})),
        )
    };
    stack.send(ask("alice", "dev")).await.assert_error(403, "POLICY_DENY");
    stack.send(ask("mallory", "prod")).await.assert_error(403, "POLICY_DENY");
    stack.send(ask("alice", "staging")).await.assert_error(403, "POLICY_DENY");
    let short = call(
        "POST /requests",
        &[],
        "",
        iam_user("alice"),
        Some(json!({"profile": "prod", "justification": "short", "duration": 900})),
    );
    stack.send(short).await.assert_error(400, "INVALID_REQUEST");
    let long = call(
        "POST /requests",
        &[],
        "",
        iam_user("alice"),
        Some(json!({"profile": "prod", "justification": "long enough text", "duration": 4 * 3600 + 1})),
    );
    stack.send(long).await.assert_error(400, "INVALID_DURATION");
    let extra = call(
        "POST /requests",
        &[],
        "",
        iam_user("alice"),
        Some(json!({"profile": "prod", "justification": "long enough text", "duration": 900, "approved": true})),
    );
    stack.send(extra).await.assert_error(400, "INVALID_REQUEST");
}

#[tokio::test]
async fn self_approval_is_refused() {
    let stack = Stack::new().await;
    stack.policies.put(
        "prod",
        &example_policy("prod")
            .replace("approvers: [iam:carol, idp:dana@example.com]", "approvers: [iam:carol, iam:alice]"),
    );
    let id = stack.request_prod("alice", 3600).await;
    stack.decide(&id, "approve", "alice").await.assert_error(403, "SELF_APPROVAL");
    stack.decide(&id, "deny", "alice").await.assert_error(403, "SELF_APPROVAL");
    assert_eq!(stack.stream_types(&approval_stream(&id)).await, ["ApprovalRequested"]);
}

#[tokio::test]
async fn non_approvers_cannot_decide() {
    let stack = Stack::new().await;
    let id = stack.request_prod("alice", 3600).await;
    stack.sync_views().await;
    // mallory cannot even see the request; secops (an admin) sees it but is no approver.
    stack.decide(&id, "approve", "mallory").await.assert_error(404, "NOT_FOUND");
    stack.decide(&id, "approve", "secops").await.assert_error(403, "NOT_AUTHORIZED");
    stack.decide(&id, "cancel", "carol").await.assert_error(403, "NOT_AUTHORIZED");
    assert_eq!(stack.stream_types(&approval_stream(&id)).await, ["ApprovalRequested"]);
}

#[tokio::test]
async fn a_quorum_of_two_needs_two_distinct_approvers() {
    let stack = Stack::new().await;
    stack.policies.put(
        "prod",
        &example_policy("prod").replace(
            "approvers: [iam:carol, idp:dana@example.com]\n  required: 1",
            "approvers: [iam:carol, iam:secops]\n  required: 2",
        ),
    );
    let id = stack.request_prod("alice", 3600).await;
    stack.sync_views().await;
    assert_eq!(stack.decide(&id, "approve", "carol").await.json()["status"], "pending");
    stack.decide(&id, "approve", "carol").await.assert_error(409, "CONFLICT");
    stack.vend("alice", "profile=prod").await.assert_error(403, "APPROVAL_REQUIRED");
    let second = stack.decide(&id, "approve", "secops").await;
    assert_eq!(second.json()["status"], "approved");
    assert_eq!(second.json()["approvals"].as_array().unwrap().len(), 2);
    assert_eq!(stack.vend("alice", "profile=prod").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_concurrent_decisions_on_one_request_produce_exactly_one() {
    let stack = Stack::new().await;
    let id = stack.request_prod("alice", 3600).await;
    let mut tasks = Vec::new();
    for i in 0..16 {
        let (verb, who) = match i % 3 {
            0 => ("approve", "carol"),
            1 => ("deny", "carol"),
            _ => ("cancel", "alice"),
        };
        let deps = stack.deps.clone();
        let req = call(&format!("POST /requests/{{id}}/{verb}"), &[("id", &id)], "", iam_user(who), Some(json!({})));
        tasks.push(tokio::spawn(async move { tvm::handle(&deps, req).await.status_code }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert!(statuses.iter().all(|s| *s == 200 || *s == 409), "{statuses:?}");
    // One decision wins the pending request; the requester's cancel may still give back an
    // approval that won.
    let types = stack.stream_types(&approval_stream(&id)).await;
    let won = statuses.iter().filter(|s| **s == 200).count();
    assert_eq!(won, types.len() - 1, "{statuses:?} {types:?}");
    assert!(
        types.len() == 2 || types == ["ApprovalRequested", "ApprovalGranted", "ApprovalCancelled"],
        "one decision event, or an approval given back: {types:?}"
    );
}

#[tokio::test]
async fn an_expired_approval_never_grants_and_cannot_be_approved() {
    let stack = Stack::new().await;
    let id = stack.request_prod("alice", 1800).await;
    assert_eq!(stack.decide(&id, "approve", "carol").await.status(), 200);
    stack.advance(Duration::seconds(1801));
    stack.sync_views().await;
    stack.vend("alice", "profile=prod").await.assert_error(403, "APPROVAL_REQUIRED");
    let late = stack.request_prod("alice", 1800).await;
    // A pending request lasts the policy's approval window (4 h for prod).
    stack.advance(Duration::hours(4));
    stack.decide(&late, "approve", "carol").await.assert_error(409, "CONFLICT");
    assert_eq!(stack.stream_types(&approval_stream(&late)).await, ["ApprovalRequested", "ApprovalExpired"]);
}

#[tokio::test]
async fn approval_lists_show_requesters_their_own_and_approvers_what_waits_for_them() {
    let stack = Stack::new().await;
    let id = stack.request_prod("alice", 3600).await;
    stack.sync_views().await;
    let mine = stack.send(call("GET /requests", &[], "", iam_user("alice"), None)).await;
    assert_eq!(mine.json()["items"][0]["request_id"], id.as_str());
    assert!(mine.json()["next_token"].is_null());
    let waiting = stack.send(call("GET /requests", &[], "approver=me", iam_user("carol"), None)).await;
    assert_eq!(waiting.json()["items"].as_array().unwrap().len(), 1);
    let nothing = stack.send(call("GET /requests", &[], "approver=me", iam_user("mallory"), None)).await;
    assert!(nothing.json()["items"].as_array().unwrap().is_empty());
    let snoop = stack.send(call("GET /requests", &[], "profile=prod", iam_user("mallory"), None)).await;
    assert!(snoop.json()["items"].as_array().unwrap().is_empty(), "mallory sees only her own");
    stack
        .send(call("GET /requests/{id}", &[("id", &id)], "", iam_user("mallory"), None))
        .await
        .assert_error(404, "NOT_FOUND");
    assert_eq!(stack.send(call("GET /requests/{id}", &[("id", &id)], "", iam_user("carol"), None)).await.status(), 200);
    stack
        .send(call("GET /requests", &[], "status=open", iam_user("alice"), None))
        .await
        .assert_error(400, "INVALID_REQUEST");
}

#[tokio::test]
async fn break_glass_is_only_for_listed_users_and_valid_reasons() {
    let stack = Stack::new().await;
    stack.break_glass("alice", "prod", 3600).await.assert_error(403, "NOT_AUTHORIZED");
    stack.break_glass("mallory", "prod", 3600).await.assert_error(403, "NOT_AUTHORIZED");
    let bad_reason = call(
        "POST /breakglass",
        &[],
        "",
        iam_user("oncall"),
        Some(json!({"profile": "prod", "reason_code": "boredom", "justification": "database on fire, paging says so"})),
    );
    stack.send(bad_reason).await.assert_error(400, "INVALID_REQUEST");
    let short = call(
        "POST /breakglass",
        &[],
        "",
        iam_user("oncall"),
        Some(json!({"profile": "prod", "reason_code": "incident", "justification": "fire"})),
    );
    stack.send(short).await.assert_error(400, "INVALID_REQUEST");
    stack.break_glass("oncall", "prod", 7200).await.assert_error(400, "INVALID_DURATION");
    let ok = stack.break_glass("oncall", "prod", 1200).await;
    assert_eq!(ok.status(), 201, "{}", ok.body_text());
    // The credentials are capped to the break-glass's 20 minutes.
    assert_eq!(stack.vend("oncall", "profile=prod&duration=3600").await.status(), 200);
    assert_eq!(stack.issuer.calls().last().unwrap().duration.as_secs(), 1200);
}

#[tokio::test]
async fn stacking_and_cooldown_hold_even_with_newer_events_on_other_profiles() {
    let stack = Stack::new().await;
    stack.policies.put("prod2", &example_policy("prod").replace("profile: prod", "profile: prod2"));
    let first = stack.break_glass("oncall", "prod", 3600).await;
    assert_eq!(first.status(), 201);
    let first_id = first.json()["breakglass_id"].as_str().unwrap().to_owned();
    stack.advance(Duration::seconds(1));
    assert_eq!(stack.break_glass("oncall", "prod2", 3600).await.status(), 201, "another profile is independent");
    stack.break_glass("oncall", "prod", 3600).await.assert_error(409, "CONFLICT");
    let close = call(
        "POST /breakglass/{id}/close",
        &[("id", &first_id)],
        "",
        iam_user("oncall"),
        Some(json!({"reason": "resolved"})),
    );
    assert_eq!(stack.send(close).await.json()["status"], "closed");
    let cooling = stack.break_glass("oncall", "prod", 3600).await;
    cooling.assert_error(429, "RATE_LIMITED");
    let retry_after: i64 = cooling.header("retry-after").unwrap().parse().unwrap();
    assert!((1790..=1800).contains(&retry_after), "{retry_after}");
    stack.advance(Duration::minutes(30));
    assert_eq!(stack.break_glass("oncall", "prod", 3600).await.status(), 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_break_glass_invocations_let_exactly_one_through() {
    let stack = Stack::new().await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let deps = stack.deps.clone();
        let body =
            json!({"profile": "prod", "reason_code": "security", "justification": "credential leak being contained"});
        let req = call("POST /breakglass", &[], "", iam_user("oncall"), Some(body));
        tasks.push(tokio::spawn(async move { tvm::handle(&deps, req).await.status_code }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 201 || *s == 409), "{statuses:?}");
}

#[tokio::test]
async fn a_refresh_after_the_break_glass_closes_or_the_approval_ends_is_refused() {
    let stack = Stack::new().await;
    let bg = stack.break_glass("oncall", "prod", 3600).await;
    let bg_id = bg.json()["breakglass_id"].as_str().unwrap().to_owned();
    let vend = stack.vend("oncall", "profile=prod").await;
    let session = vend.header("x-sentinel-session-id").unwrap();
    let refreshed = stack.refresh(&session).await;
    assert_eq!(refreshed.status(), 200, "{}", refreshed.body_text());
    stack
        .send(call(
            "POST /breakglass/{id}/close",
            &[("id", &bg_id)],
            "",
            iam_user("oncall"),
            Some(json!({"reason": "done"})),
        ))
        .await;
    // Closing the break-glass revoked the session resting on it.
    stack.refresh(&session).await.assert_error(403, "SESSION_REVOKED");

    let id = stack.request_prod("alice", 1800).await;
    stack.sync_views().await;
    stack.decide(&id, "approve", "carol").await;
    let vend = stack.vend("alice", "profile=prod").await;
    assert_eq!(vend.status(), 200);
    let session = vend.header("x-sentinel-session-id").unwrap();
    stack.advance(Duration::seconds(1801));
    stack.refresh(&session).await.assert_error(403, "APPROVAL_REQUIRED");
}

#[tokio::test]
async fn a_revoked_session_is_refused_at_once_and_revoking_twice_is_a_conflict() {
    let stack = Stack::new().await;
    let vend = stack.vend("alice", "profile=dev").await;
    let session = vend.header("x-sentinel-session-id").unwrap();
    stack.sync_views().await;
    assert_eq!(stack.refresh(&session).await.status(), 200);
    // mallory may not see it; alice and secops (revoker/admin) may.
    let revoke = |who: &str| {
        call(
            "POST /sessions/{id}/revoke",
            &[("id", &session)],
            "",
            iam_user(who),
            Some(json!({"reason": "laptop lost"})),
        )
    };
    stack.send(revoke("mallory")).await.assert_error(404, "NOT_FOUND");
    let revoked = stack.send(revoke("secops")).await;
    assert_eq!(revoked.status(), 200, "{}", revoked.body_text());
    assert_eq!(revoked.json()["status"], "revoked");
    // The views are stale (no projector run): the refresh still sees the revocation.
    stack.refresh(&session).await.assert_error(403, "SESSION_REVOKED");
    stack.send(revoke("alice")).await.assert_error(409, "CONFLICT");
    let missing = ledger::SessionId::generate().to_string();
    let unknown =
        call("POST /sessions/{id}/revoke", &[("id", &missing)], "", iam_user("secops"), Some(json!({"reason": "x"})));
    stack.send(unknown).await.assert_error(404, "NOT_FOUND");
    let no_reason = call("POST /sessions/{id}/revoke", &[("id", &session)], "", iam_user("alice"), Some(json!({})));
    stack.send(no_reason).await.assert_error(400, "INVALID_REQUEST");
}

#[tokio::test]
async fn session_lists_follow_the_rights() {
    let stack = Stack::new().await;
    stack.vend("alice", "profile=dev").await;
    stack.vend("bob", "profile=dev").await;
    stack.sync_views().await;
    let count = |a: Answer| a.json()["items"].as_array().map_or(0, Vec::len);
    assert_eq!(count(stack.send(call("GET /sessions", &[], "", iam_user("alice"), None)).await), 1);
    assert_eq!(count(stack.send(call("GET /sessions", &[], "profile=dev", iam_user("secops"), None)).await), 2);
    assert_eq!(count(stack.send(call("GET /sessions", &[], "profile=dev", iam_user("mallory"), None)).await), 0);
    let other = format!("principal={}", arn_of("alice"));
    stack.send(call("GET /sessions", &[], &other, iam_user("bob"), None)).await.assert_error(403, "NOT_AUTHORIZED");
    assert_eq!(count(stack.send(call("GET /sessions", &[], &other, iam_user("secops"), None)).await), 1);
    assert_eq!(count(stack.send(call("GET /sessions", &[], "status=active", iam_user("secops"), None)).await), 2);
}

#[tokio::test]
async fn publishing_a_policy_is_for_admins_validates_strictly_and_is_recorded() {
    let stack = Stack::new().await;
    let yaml = example_policy("dev").replace("reason: development team", "reason: dev team");
    let put = |who: &str, text: &str| {
        let mut req = call("PUT /policies/{profile}", &[("profile", "dev")], "", iam_user(who), None);
        req.body = Some(text.to_owned());
        req
    };
    stack.send(put("alice", &yaml)).await.assert_error(403, "NOT_AUTHORIZED");
    let invalid = stack.send(put("secops", &yaml.replace("effect: allow", "effect: alow"))).await;
    invalid.assert_error(400, "INVALID_REQUEST");
    assert!(invalid.json()["Message"].as_str().unwrap().contains("line"), "{}", invalid.body_text());
    let wrong_profile = stack.send(put("secops", &example_policy("prod"))).await;
    wrong_profile.assert_error(400, "INVALID_REQUEST");
    let ok = stack.send(put("secops", &yaml)).await;
    assert_eq!(ok.status(), 200, "{}", ok.body_text());
    let stored = stack.ledger.read_stream(&StreamKey::Policy("dev".parse().unwrap()), 1).await.unwrap();
    assert_eq!(stored.last().unwrap().payload["hash"], ok.json()["hash"]);
    assert_eq!(stored.last().unwrap().payload["by"], arn_of("secops").as_str());
    let answer = stack.vend("alice", "profile=dev").await;
    assert_eq!(answer.status(), 200);
}

#[tokio::test]
async fn the_audit_is_for_admins_and_lists_every_event() {
    let stack = Stack::new().await;
    stack.vend("alice", "profile=dev").await;
    stack.vend("mallory", "profile=dev").await;
    stack.sync_views().await;
    stack.send(call("GET /audit", &[], "", iam_user("alice"), None)).await.assert_error(403, "NOT_AUTHORIZED");
    let all = stack.send(call("GET /audit", &[], "", iam_user("secops"), None)).await;
    assert_eq!(all.status(), 200, "{}", all.body_text());
    let items = all.json()["items"].as_array().unwrap().len();
    assert!(items >= 5, "2 + 3 session events and the policy publication: {items}");
    let everything: Vec<Value> = all.json()["items"].as_array().unwrap().clone();
    let key = |v: &Value| format!("{}#{}", v["occurred_at"].as_str().unwrap(), v["event_id"].as_str().unwrap());
    let keys: Vec<String> = everything.iter().map(key).collect();
    let mut newest_first = keys.clone();
    newest_first.sort_by(|a, b| b.cmp(a));
    assert_eq!(keys, newest_first, "newest first, by time then event id");
    let (mut paged, mut query) = (Vec::new(), "limit=2".to_owned());
    loop {
        let page = stack.send(call("GET /audit", &[], &query, iam_user("secops"), None)).await.json();
        paged.extend(page["items"].as_array().unwrap().iter().map(key));
        match page["next_token"].as_str() {
            Some(token) => query = format!("limit=2&next_token={token}"),
            None => break,
        }
    }
    assert_eq!(paged, keys, "two at a time, the same records once each");
    let only = format!("principal={}", arn_of("mallory"));
    let mallory = stack.send(call("GET /audit", &[], &only, iam_user("secops"), None)).await;
    assert_eq!(mallory.json()["items"].as_array().unwrap().len(), 2);
    stack
        .send(call("GET /audit", &[], "since=yesterday", iam_user("secops"), None))
        .await
        .assert_error(400, "INVALID_REQUEST");
}

pub fn with_key(mut request: ApiGatewayV2httpRequest, key: &str) -> ApiGatewayV2httpRequest {
    request.headers.insert("idempotency-key", key.parse().unwrap());
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_retried_post_with_the_same_idempotency_key_answers_the_first_result_and_acts_once() {
    let stack = Stack::new().await;
    let ask = || {
        let body = json!({"profile": "prod", "justification": "deploy hotfix 42", "duration": 3600});
        with_key(call("POST /requests", &[], "", iam_user("alice"), Some(body)), "retry-1")
    };
    let first = stack.send(ask()).await;
    assert_eq!(first.status(), 201);
    let again = stack.send(ask()).await;
    assert_eq!((again.status(), again.json()), (201, first.json()));
    // Concurrent twins of a break-glass invocation: one invocation, one answer for all.
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let deps = stack.deps.clone();
        let body =
            json!({"profile": "prod", "reason_code": "incident", "justification": "database on fire, paging says so"});
        let req = with_key(call("POST /breakglass", &[], "", iam_user("oncall"), Some(body)), "bg-7");
        tasks.push(tokio::spawn(async move { Answer(tvm::handle(&deps, req).await) }));
    }
    let mut ids = std::collections::BTreeSet::new();
    for t in tasks {
        let answer = t.await.unwrap();
        assert_eq!(answer.status(), 201, "{}", answer.body_text());
        ids.insert(answer.json()["breakglass_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 1, "one break-glass for every twin");
    assert_eq!(again.header("idempotent-replayed").as_deref(), Some("true"), "a replay says so");
    assert!(first.header("idempotent-replayed").is_none());
    // The same key on another route is a different request: refused, and nothing changes.
    let id = first.json()["request_id"].as_str().unwrap().to_owned();
    let cancel =
        with_key(call("POST /requests/{id}/cancel", &[("id", &id)], "", iam_user("alice"), Some(json!({}))), "retry-1");
    stack.send(cancel).await.assert_error(422, "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(stack.stream_types(&approval_stream(&id)).await, ["ApprovalRequested"]);
    // Another caller's key of the same name is another key.
    let bob = with_key(
        call(
            "POST /requests",
            &[],
            "",
            iam_user("bob"),
            Some(json!({"profile": "prod", "justification": "deploy hotfix 43", "duration": 3600})),
        ),
        "retry-1",
    );
    let bobs = stack.send(bob).await;
    assert_eq!(bobs.status(), 201);
    assert_ne!(bobs.json()["request_id"], first.json()["request_id"]);
    // A decision retried with its key gets its first answer, not a conflict.
    let approve = || {
        with_key(call("POST /requests/{id}/approve", &[("id", &id)], "", iam_user("carol"), Some(json!({}))), "ok-1")
    };
    let approved = stack.send(approve()).await;
    assert_eq!(approved.status(), 200);
    assert_eq!(stack.send(approve()).await.json(), approved.json());
    let bad = with_key(call("POST /requests", &[], "", iam_user("alice"), None), "white space");
    stack.send(bad).await.assert_error(400, "INVALID_REQUEST");
}
