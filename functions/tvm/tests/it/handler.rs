//! The routes' contract: response shapes, headers, ledger events, fail-closed paths.

use chrono::{Duration, TimeZone, Utc};
use ledger::decide::session::SessionState;
use ledger::{ApprovalId, Basis, BreakGlassId, Event, SessionId, StreamKey};
use serde_json::json;
use tvm::ports::{ActiveGrant, ApprovalLookup};
use tvm::Clock;

use crate::support::*;

#[tokio::test]
async fn an_allowed_vend_returns_container_credentials_and_records_one_session() {
    let tvm = Tvm::new();
    let answer = tvm.call(request("GET /", "profile=dev&reason=deploy%20v42", Some(iam_user("alice")))).await;
    assert_eq!(answer.status(), 200, "{}", answer.body_text());
    let body = answer.json();
    for field in ["AccessKeyId", "SecretAccessKey", "Token", "Expiration"] {
        assert!(body[field].is_string(), "{field} in {body}");
    }
    assert!(body["Expiration"].as_str().unwrap().ends_with('Z'));
    assert_eq!(answer.header("content-type").as_deref(), Some("application/json; charset=utf-8"));
    let session: SessionId = answer.header("x-sentinel-session-id").unwrap().parse().unwrap();
    let token = answer.header("x-sentinel-session-token").unwrap();
    assert!(token.starts_with(&format!("{session}.")));

    let stored = tvm.session_events();
    assert_eq!(tvm.ledger_types(), ["CredentialsRequested", "AccessDecided", "CredentialsIssued"]);
    assert!(stored.iter().all(|e| e.stream == StreamKey::Session(session).to_string()));
    let events: Vec<Event> = stored.iter().map(|e| e.decode().unwrap().event).collect();
    let SessionState::Active(live) = <SessionState as ledger::Aggregate>::fold(&events) else {
        panic!("active session")
    };
    assert_eq!(live.request.reason.as_deref(), Some("deploy v42"));
    assert_eq!(live.request.user_id.as_deref(), Some("AIDAALICE"));
    assert_eq!(live.decision.rule.as_deref(), Some("developers"));
    assert_eq!(live.issued.token_hash, tvm::vend::token_hash(&token));
    assert_eq!(live.issued.source_identity, format!("sentinel-{session}"));
    assert_eq!(live.issued.role_arn.as_str(), "arn:aws:iam::123456789012:role/SentinelProtected-Dev");

    // Neither the secret key, the STS token nor the session token reach the ledger.
    let ledger_text = serde_json::to_string(&stored).unwrap();
    for secret in [body["SecretAccessKey"].as_str().unwrap(), body["Token"].as_str().unwrap(), token.as_str()] {
        assert!(!ledger_text.contains(secret));
    }
}

#[tokio::test]
async fn the_role_and_session_come_from_policy_never_from_the_request() {
    let tvm = Tvm::new();
    let role = "arn:aws:iam::999999999999:role/Admin";
    let answer = tvm
        .call(request("POST /", &format!("profile=dev&role_arn={role}&RoleArn={role}"), Some(iam_user("alice"))))
        .await;
    assert_eq!(answer.status(), 200);
    let call = tvm.issuer.calls().pop().unwrap();
    assert_eq!(call.role_arn.as_str(), "arn:aws:iam::123456789012:role/SentinelProtected-Dev");
    assert_eq!(call.source_identity, call.role_session_name);
    let tags: Vec<&str> = call.tags.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(tags, ["SentinelSessionId", "SentinelUser", "SentinelProfile"]);
    assert_eq!(call.tags[1].1, "iam:123456789012:alice", "the user tag is the person key");
}

#[tokio::test]
async fn a_raw_vend_gets_900_seconds_and_requests_are_capped_by_policy() {
    let tvm = Tvm::new();
    assert_eq!(tvm.call(request("GET /", "profile=dev", Some(iam_user("alice")))).await.status(), 200);
    assert_eq!(tvm.issuer.calls()[0].duration.as_secs(), 900);
    assert_eq!(tvm.call(request("GET /", "profile=dev&duration=3600", Some(iam_user("alice")))).await.status(), 200);
    assert_eq!(tvm.issuer.calls()[1].duration.as_secs(), 3600);
    tvm.policies.put("dev", &example_policy("dev").replace("max_duration: 1h", "max_duration: 20m"));
    assert_eq!(tvm.call(request("GET /", "profile=dev&duration=3600", Some(iam_user("alice")))).await.status(), 200);
    assert_eq!(tvm.issuer.calls()[2].duration.as_secs(), 1200);
}

#[tokio::test]
async fn a_denial_records_request_and_decision_and_nothing_else() {
    let tvm = Tvm::new();
    let answer = tvm.call(request("GET /", "profile=dev", Some(iam_user("mallory")))).await;
    answer.assert_error(403, "POLICY_DENY");
    assert_eq!(answer.json()["Message"], "Policy denied: no rule matched");
    assert_eq!(tvm.ledger_types(), ["CredentialsRequested", "AccessDecided"]);
    assert!(tvm.issuer.calls().is_empty());
}

#[tokio::test]
async fn a_well_formed_profile_without_a_policy_is_denied() {
    let tvm = Tvm::new();
    tvm.call(request("GET /", "profile=staging", Some(iam_user("alice")))).await.assert_error(403, "POLICY_DENY");
    assert!(tvm.issuer.calls().is_empty());
}

#[tokio::test]
async fn require_approval_without_an_approval_issues_nothing() {
    let tvm = Tvm::new();
    let answer = tvm.call(request("GET /", "profile=prod", Some(iam_user("alice")))).await;
    answer.assert_error(403, "APPROVAL_REQUIRED");
    assert!(answer.json().get("request_id").is_none());
    assert!(tvm.issuer.calls().is_empty());
    assert_eq!(tvm.ledger_types(), ["CredentialsRequested", "AccessDecided"]);

    let pending = ApprovalId::generate();
    tvm.grants.set_approval(&who_of("alice"), &"prod".parse().unwrap(), ApprovalLookup::Pending(pending));
    let answer = tvm.call(request("GET /", "profile=prod", Some(iam_user("alice")))).await;
    answer.assert_error(403, "APPROVAL_REQUIRED");
    assert_eq!(answer.json()["request_id"], pending.to_string());
    assert!(tvm.issuer.calls().is_empty());
}

#[tokio::test]
async fn a_granted_approval_satisfies_require_approval_and_is_recorded_as_the_basis() {
    let tvm = Tvm::new();
    let id = ApprovalId::generate();
    let now = tvm.clock.now();
    let grant = ActiveGrant {
        basis: Basis::Approval(id),
        stream: StreamKey::Approval(id),
        head: ledger::StreamHead { seq: 2, hash: ledger::record::GENESIS_HASH.into() },
        sessions: Vec::new(),
        expires_at: now + Duration::hours(4),
    };
    tvm.grants.set_approval(&who_of("alice"), &"prod".parse().unwrap(), ApprovalLookup::Granted(grant));
    let answer = tvm.call(request("GET /", "profile=prod", Some(iam_user("alice")))).await;
    assert_eq!(answer.status(), 200, "{}", answer.body_text());
    let decided = tvm.session_events().into_iter().find(|e| e.event_type == "AccessDecided").unwrap();
    assert_eq!(decided.payload["basis"], format!("approval:{id}"));
    assert_eq!(decided.payload["effect"], "allow");
    // bob has no approval: alice's does not carry over.
    tvm.call(request("GET /", "profile=prod", Some(iam_user("bob")))).await.assert_error(403, "APPROVAL_REQUIRED");
}

#[tokio::test]
async fn a_grant_changed_during_the_vend_wins_and_nothing_is_issued() {
    let tvm = Tvm::new();
    let id = ApprovalId::generate();
    let now = tvm.clock.now();
    // The reader saw the approval at seq 2, but a cancel has since been appended at seq 3.
    let stream = StreamKey::Approval(id);
    let events: Vec<ledger::NewEvent> = (0..3)
        .map(|_| ledger::NewEvent::new(ledger::event::ApprovalExpired {}, ledger::Actor::System, "c", now))
        .collect();
    use ledger::store::EventStore;
    tvm.store
        .append(ledger::StreamAppend { stream: stream.clone(), head: ledger::StreamHead::genesis(), events })
        .await
        .unwrap();
    let grant = ActiveGrant {
        basis: Basis::Approval(id),
        stream,
        head: ledger::StreamHead { seq: 2, hash: ledger::record::GENESIS_HASH.into() },
        sessions: Vec::new(),
        expires_at: now + Duration::hours(4),
    };
    tvm.grants.set_approval(&who_of("alice"), &"prod".parse().unwrap(), ApprovalLookup::Granted(grant));
    let answer = tvm.call(request("GET /", "profile=prod", Some(iam_user("alice")))).await;
    answer.assert_error(409, "CONFLICT");
    assert!(answer.json().get("Token").is_none());
    assert!(!tvm.ledger_types().contains(&"CredentialsIssued".to_owned()));
}

#[tokio::test]
async fn an_active_break_glass_overrides_and_is_capped_to_its_time_left() {
    let tvm = Tvm::new();
    let id = BreakGlassId::generate();
    let now = tvm.clock.now();
    let grant = |left| ActiveGrant {
        basis: Basis::BreakGlass(id),
        stream: StreamKey::BreakGlass(id),
        head: ledger::StreamHead { seq: 1, hash: ledger::record::GENESIS_HASH.into() },
        sessions: Vec::new(),
        expires_at: now + left,
    };
    // Without a break-glass, oncall matches no rule on prod.
    tvm.call(request("GET /", "profile=prod", Some(iam_user("oncall")))).await.assert_error(403, "POLICY_DENY");
    tvm.grants.set_break_glass(&who_of("oncall"), &"prod".parse().unwrap(), grant(Duration::minutes(20)));
    let answer = tvm.call(request("GET /", "profile=prod&duration=3600", Some(iam_user("oncall")))).await;
    assert_eq!(answer.status(), 200, "{}", answer.body_text());
    assert_eq!(tvm.issuer.calls()[0].duration.as_secs(), 1200);
    let decided: Vec<_> = tvm.session_events().into_iter().filter(|e| e.event_type == "AccessDecided").collect();
    assert!(decided.iter().any(|d| d.payload["basis"] == format!("break_glass:{id}")), "{decided:?}");

    tvm.grants.set_break_glass(&who_of("oncall"), &"prod".parse().unwrap(), grant(Duration::minutes(10)));
    let answer = tvm.call(request("GET /", "profile=prod", Some(iam_user("oncall")))).await;
    answer.assert_error(409, "CONFLICT");
    assert!(answer.json()["Message"].as_str().unwrap().contains("900 s"));
    assert_eq!(tvm.issuer.calls().len(), 1);
    // The refusal reached policy evaluation, so it is recorded, naming the grant too short.
    let decided: Vec<_> = tvm.session_events().into_iter().filter(|e| e.event_type == "AccessDecided").collect();
    let last = decided
        .iter()
        .find(|d| d.payload["effect"] == "deny" && d.payload["basis"] == format!("break_glass:{id}"))
        .expect("the refused vend is recorded with the grant as its basis");
    assert!(last.payload["reason"].as_str().unwrap().contains("900 s"), "{}", last.payload);
}

#[tokio::test]
async fn a_ledger_failure_after_sts_returns_503_and_no_credentials() {
    let tvm = Tvm::with_store(Some(std::sync::Arc::new(BrokenLedger::default())));
    let answer = tvm.call(request("GET /", "profile=dev", Some(iam_user("alice")))).await;
    answer.assert_error(503, "LEDGER_UNAVAILABLE");
    assert_eq!(tvm.issuer.calls().len(), 1, "STS was called");
    let text = answer.body_text();
    assert!(!text.contains("memory-secret") && !text.contains("memory-token") && !text.contains("ASIA"));
    assert!(answer.header("x-sentinel-session-token").is_none());
}

#[tokio::test]
async fn an_sts_failure_is_a_credential_error_with_the_attempt_recorded() {
    let tvm = Tvm::new();
    tvm.issuer.set_failing(true);
    tvm.call(request("GET /", "profile=dev", Some(iam_user("alice")))).await.assert_error(500, "CREDENTIAL_ERROR");
    assert_eq!(tvm.ledger_types(), ["CredentialsRequested", "AccessDecided"]);
}

#[tokio::test]
async fn rate_limited_callers_get_429_with_retry_after_and_nothing_is_recorded() {
    let mut tvm = Tvm::new();
    tvm.deps.rate_limiter = tvm::rate_limit::RateLimiter::new(1, std::time::Duration::from_secs(60));
    assert_eq!(tvm.call(request("GET /", "profile=dev", Some(iam_user("alice")))).await.status(), 200);
    let answer = tvm.call(request("GET /", "profile=dev", Some(iam_user("alice")))).await;
    answer.assert_error(429, "RATE_LIMITED");
    assert!(answer.header("retry-after").unwrap().parse::<u64>().unwrap() >= 1);
    assert_eq!(tvm.ledger_types().len(), 3, "only the first vend is recorded");
    // A different principal is not limited by alice's count.
    assert_eq!(tvm.call(request("GET /", "profile=dev", Some(iam_user("bob")))).await.status(), 200);
}

#[tokio::test]
async fn time_windows_are_evaluated_at_their_edges_in_the_rules_time_zone() {
    let tvm = Tvm::new();
    tvm.policies.put(
        "dev",
        &example_policy("dev").replace(
            "users: [iam:alice, iam:bob, idp:dana@example.com]",
            "users: [iam:alice, iam:bob, idp:dana@example.com]\n      time: {days: [mon, tue, wed, thu, fri], hours: {start: \"08:00\", end: \"18:00\"}, timezone: Europe/Berlin}",
        ),
    );
    // Monday 2026-11-23: Berlin is UTC+1, so 08:00 local is 07:00Z.
    let at = |h, m, s, ns| Utc.with_ymd_and_hms(2026, 11, 23, h, m, s).unwrap() + Duration::nanoseconds(ns);
    let cases = [
        (at(6, 59, 59, 999_999_999), 403),
        (at(7, 0, 0, 0), 200),
        (at(16, 59, 59, 999_999_999), 200),
        (at(17, 0, 0, 0), 403),
        // Sunday 23:30 UTC is already Monday 00:30 in Berlin: outside hours, not outside days.
        (Utc.with_ymd_and_hms(2026, 11, 22, 23, 30, 0).unwrap(), 403),
        // Friday 16:30 UTC is Friday 17:30 in Berlin: inside.
        (Utc.with_ymd_and_hms(2026, 11, 27, 16, 30, 0).unwrap(), 200),
        // Saturday 07:30 UTC: right hours, wrong day.
        (Utc.with_ymd_and_hms(2026, 11, 28, 7, 30, 0).unwrap(), 403),
    ];
    for (now, status) in cases {
        *tvm.clock.0.lock().unwrap() = now;
        let answer = tvm.call(request("GET /", "profile=dev", Some(iam_user("alice")))).await;
        assert_eq!(answer.status(), status, "at {now}: {}", answer.body_text());
    }
}

#[tokio::test]
async fn whoami_reports_the_caller_and_a_dry_run_without_vending() {
    let tvm = Tvm::new();
    let answer = tvm.call(request("GET /whoami", "profile=dev", Some(iam_user("alice")))).await;
    assert_eq!(answer.status(), 200);
    let body = answer.json();
    assert_eq!(body["arn"], "arn:aws:iam::123456789012:user/alice");
    assert_eq!(body["account"], "123456789012");
    assert_eq!(body["policy_user"], "iam:alice");
    assert_eq!(body["person"], "iam:123456789012:alice");
    assert_eq!(body["decision"]["effect"], "allow");
    assert_eq!(body["decision"]["rule"], "developers");
    let answer =
        tvm.call(request("GET /whoami", "profile=prod", Some(assumed_role("Deploy", "AROADEPLOY", "alice")))).await;
    assert_eq!(answer.json()["policy_user"], serde_json::Value::Null);
    assert_eq!(answer.json()["person"], "role:AROADEPLOY", "every session of an ordinary role is one actor");
    assert_eq!(answer.json()["decision"]["effect"], "deny");
    assert!(tvm.issuer.calls().is_empty() && tvm.session_events().is_empty());
}

#[tokio::test]
async fn profiles_lists_every_policy_and_health_says_only_ok() {
    let tvm = Tvm::new();
    let answer = tvm.call(request("GET /profiles", "", Some(iam_user("mallory")))).await;
    assert_eq!(
        answer.json(),
        serde_json::json!({"profiles": [
            {"name": "dev", "policy_path": "/sentinel/policies/dev"},
            {"name": "prod", "policy_path": "/sentinel/policies/prod"}], "root": "/sentinel/policies"})
    );
    tvm.call(request("GET /profiles", "", None)).await.assert_error(403, "IAM_AUTH_REQUIRED");
    let health = tvm.call(request("GET /health", "", None)).await;
    assert_eq!(health.status(), 200);
    let body = health.json();
    assert_eq!(body.as_object().unwrap().keys().collect::<Vec<_>>(), ["status", "version"]);
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn an_unknown_route_gets_api_gateways_own_not_found() {
    let tvm = Tvm::new();
    for route in ["DELETE /", "GET /admin"] {
        let answer = tvm.call(request(route, "", Some(iam_user("alice")))).await;
        assert_eq!((answer.status(), answer.json()), (404, json!({"message": "Not Found"})), "{route}");
    }
}

#[tokio::test]
async fn every_route_of_the_table_reaches_its_own_handler() {
    // Each route is called without an identity: the handlers of IAM routes refuse with our
    // IAM_AUTH_REQUIRED, the refresh route with its own NOT_AUTHORIZED and health answers ok,
    // so no route falls through to the table's 404.
    let tvm = Tvm::new();
    for route in tvm::routes::ROUTES {
        let answer = tvm.call(request(&route.key(), "", None)).await;
        let expected = match route.auth {
            tvm::routes::Auth::Iam => (403, "IAM_AUTH_REQUIRED"),
            tvm::routes::Auth::Custom => (403, "NOT_AUTHORIZED"),
            tvm::routes::Auth::None => (200, ""),
        };
        assert_eq!((answer.status(), answer.code().as_str()), expected, "{}: {}", route.key(), answer.body_text());
    }
    let keys: std::collections::BTreeSet<String> = tvm::routes::ROUTES.iter().map(|r| r.key()).collect();
    assert_eq!(keys.len(), tvm::routes::ROUTES.len(), "no route is declared twice");
}
