//! Attacks on the vend path: each tries to get credentials it must not, and asserts that
//! nothing was issued.

use proptest::prelude::*;
use serde_json::json;
use tvm::ports::{ActiveGrant, ApprovalLookup};

use crate::support::*;

async fn refused(tvm: &Tvm, query: &str, iam: Option<serde_json::Value>, status: i64, code: &str) {
    let before = tvm.issuer.calls().len();
    let answer = tvm.call(request("GET /", query, iam)).await;
    answer.assert_error(status, code);
    assert_eq!(tvm.issuer.calls().len(), before, "STS must not be called");
    assert!(answer.header("x-sentinel-session-token").is_none());
}

#[tokio::test]
async fn a_missing_or_empty_iam_context_is_refused() {
    let tvm = Tvm::new();
    refused(&tvm, "profile=dev", None, 403, "IAM_AUTH_REQUIRED").await;
    refused(&tvm, "profile=dev", Some(json!({})), 403, "IAM_AUTH_REQUIRED").await;
    let mut empty = iam_user("alice");
    empty["userArn"] = json!("");
    refused(&tvm, "profile=dev", Some(empty), 403, "IAM_AUTH_REQUIRED").await;
    let mut mismatched = iam_user("alice");
    mismatched["userId"] = json!("AIDASOMEONEELSE");
    mismatched["accountId"] = json!("999999999999");
    refused(&tvm, "profile=dev", Some(mismatched), 403, "IAM_AUTH_REQUIRED").await;
    assert!(tvm.store.all().is_empty(), "unauthenticated requests are not recorded");
}

#[tokio::test]
async fn identity_headers_body_and_query_cannot_set_the_user() {
    let tvm = Tvm::new();
    let mut req = request(
        "POST /",
        "profile=dev&user=alice&principal=arn:aws:iam::123456789012:user/alice",
        Some(iam_user("mallory")),
    );
    for (name, value) in [
        ("x-sentinel-user", "alice"),
        ("x-amzn-user-arn", "arn:aws:iam::123456789012:user/alice"),
        ("x-forwarded-user", "alice"),
    ] {
        req.headers.insert(
            aws_lambda_events::http::HeaderName::from_static(name),
            aws_lambda_events::http::HeaderValue::from_static(value),
        );
    }
    req.body = Some(r#"{"user":"alice","userArn":"arn:aws:iam::123456789012:user/alice"}"#.into());
    let answer = tvm.call(req).await;
    answer.assert_error(403, "POLICY_DENY");
    assert!(tvm.issuer.calls().is_empty());
    let requested = tvm.session_events().into_iter().next().unwrap();
    assert_eq!(requested.payload["principal"], "arn:aws:iam::123456789012:user/mallory");
}

#[tokio::test]
async fn an_assumed_role_session_named_alice_is_not_alice() {
    let tvm = Tvm::new();
    refused(&tvm, "profile=dev", Some(assumed_role("Deploy", "AROADEPLOYROLE", "alice")), 403, "POLICY_DENY").await;
    refused(
        &tvm,
        "profile=dev",
        Some(assumed_role("AWSReservedSSO_Dev_1234", "AROAOTHERROLE", "dana@example.com")),
        403,
        "POLICY_DENY",
    )
    .await;
}

#[tokio::test]
async fn a_role_merely_named_like_the_identity_role_is_not_one() {
    let tvm = Tvm::new();
    // Same role name in another account, and a look-alike in this one: only the role id counts.
    let mut elsewhere = assumed_role("AWSReservedSSO_Dev_1234", IDENTITY_ROLE_ID, "dana@example.com");
    elsewhere["accountId"] = json!("999999999999");
    refused(&tvm, "profile=dev", Some(elsewhere), 403, "IAM_AUTH_REQUIRED").await;
    refused(
        &tvm,
        "profile=dev",
        Some(assumed_role("AWSReservedSSO_Dev_1234", "AROALOOKALIKE", "dana@example.com")),
        403,
        "POLICY_DENY",
    )
    .await;
    // The real identity role, by id, is dana.
    let answer = tvm
        .call(request(
            "GET /",
            "profile=dev",
            Some(assumed_role("AWSReservedSSO_Dev_1234", IDENTITY_ROLE_ID, "dana@example.com")),
        ))
        .await;
    assert_eq!(answer.status(), 200, "{}", answer.body_text());
}

#[tokio::test]
async fn a_caller_on_a_protected_role_is_refused_before_anything_is_recorded() {
    let tvm = Tvm::new();
    let session = format!("sentinel-{}", ledger::SessionId::generate());
    refused(
        &tvm,
        "profile=dev",
        Some(assumed_role("SentinelProtected-Dev", "AROAPROTECTED", &session)),
        403,
        "NOT_AUTHORIZED",
    )
    .await;
    refused(
        &tvm,
        "profile=dev",
        Some(assumed_role("sentinelprotected-dev", "AROAPROTECTED", "alice")),
        403,
        "NOT_AUTHORIZED",
    )
    .await;
    assert!(tvm.store.all().is_empty());
}

#[tokio::test]
async fn an_approval_never_overrides_an_explicit_deny_or_a_no_match() {
    let tvm = Tvm::new();
    tvm.policies.put(
        "prod",
        &example_policy("prod").replace("rules:\n", "rules:\n  - name: contractors-never\n    effect: deny\n    when:\n      users: [alice]\n    reason: contractors may not use prod\n"),
    );
    let id = ledger::ApprovalId::generate();
    let grant = ActiveGrant {
        basis: ledger::Basis::Approval(id),
        stream: ledger::StreamKey::Approval(id),
        head: ledger::StreamHead { seq: 2, hash: ledger::record::GENESIS_HASH.into() },
        sessions: Vec::new(),
        expires_at: chrono::Utc::now() + chrono::Duration::hours(4),
    };
    for who in ["alice", "mallory"] {
        tvm.grants.set_approval(&who_of(who), &"prod".parse().unwrap(), ApprovalLookup::Granted(grant.clone()));
    }
    refused(&tvm, "profile=prod", Some(iam_user("alice")), 403, "POLICY_DENY").await;
    refused(&tvm, "profile=prod", Some(iam_user("mallory")), 403, "POLICY_DENY").await;
}

#[tokio::test]
async fn a_break_glass_of_an_unlisted_principal_is_ignored() {
    let tvm = Tvm::new();
    let id = ledger::BreakGlassId::generate();
    let grant = ActiveGrant {
        basis: ledger::Basis::BreakGlass(id),
        stream: ledger::StreamKey::BreakGlass(id),
        head: ledger::StreamHead { seq: 1, hash: ledger::record::GENESIS_HASH.into() },
        sessions: Vec::new(),
        expires_at: chrono::Utc::now() + chrono::Duration::hours(1),
    };
    tvm.grants.set_break_glass(&who_of("mallory"), &"prod".parse().unwrap(), grant);
    refused(&tvm, "profile=prod", Some(iam_user("mallory")), 403, "POLICY_DENY").await;
}

#[tokio::test]
async fn case_and_prefix_tricks_on_users_and_profiles_do_not_match() {
    let tvm = Tvm::new();
    for name in ["Alice", "ALICE", "alice2", "alic", "alice@example.com"] {
        refused(&tvm, "profile=dev", Some(iam_user(name)), 403, "POLICY_DENY").await;
    }
    for profile in ["Dev", "DEV", "dev2", "de"] {
        refused(&tvm, &format!("profile={profile}"), Some(iam_user("alice")), 403, "POLICY_DENY").await;
    }
}

#[tokio::test]
async fn malformed_profile_names_are_invalid_before_any_lookup() {
    let tvm = Tvm::new();
    refused(&tvm, "", Some(iam_user("alice")), 400, "MISSING_PROFILE").await;
    refused(&tvm, "profile=", Some(iam_user("alice")), 400, "MISSING_PROFILE").await;
    let long = "a".repeat(65);
    for profile in [
        "dev%0A",
        "dev%00",
        "..%2Fprod",
        "%2Fsentinel%2Fpolicies%2Fprod",
        "dev%2F..%2Fprod",
        "d%D0%B5v",
        "de%E2%80%8Bv",
        "dev%20",
        "-dev",
        long.as_str(),
        "dev,prod",
    ] {
        refused(&tvm, &format!("profile={profile}"), Some(iam_user("alice")), 400, "INVALID_PROFILE").await;
    }
    refused(&tvm, "profile=dev&profile=prod", Some(iam_user("alice")), 400, "INVALID_REQUEST").await;
    assert!(tvm.store.all().is_empty(), "invalid input changes nothing");
}

#[tokio::test]
async fn durations_outside_900_to_3600_whole_seconds_are_invalid() {
    let tvm = Tvm::new();
    for duration in ["899", "3601", "0", "-900", "900.0", "1e3", "43200", "99999999999999999999", "abc", "", "%20900"] {
        refused(&tvm, &format!("profile=dev&duration={duration}"), Some(iam_user("alice")), 400, "INVALID_DURATION")
            .await;
    }
    refused(&tvm, "profile=dev&reason=a%0Ab", Some(iam_user("alice")), 400, "INVALID_REQUEST").await;
    let long_reason = "r".repeat(257);
    refused(&tvm, &format!("profile=dev&reason={long_reason}"), Some(iam_user("alice")), 400, "INVALID_REQUEST").await;
}

#[tokio::test]
async fn a_policy_with_an_unknown_effect_or_key_refuses_to_vend() {
    let tvm = Tvm::new();
    for broken in [
        example_policy("dev").replace("effect: allow", "effect: alow"),
        example_policy("dev").replace("reason: development team", "reason: development team\n    mode: server"),
        example_policy("dev").replace("max_duration: 1h", "max_duration: 12h"),
    ] {
        tvm.policies.put("dev", &broken);
        refused(&tvm, "profile=dev", Some(iam_user("alice")), 500, "POLICY_ERROR").await;
    }
    assert!(!tvm.ledger_types().contains(&"CredentialsIssued".to_owned()));
}

#[tokio::test]
async fn error_bodies_leak_no_arns_paths_or_sdk_text() {
    let tvm = Tvm::new();
    tvm.policies.put(
        "broken",
        &example_policy("dev").replace("profile: dev", "profile: broken").replace("effect: allow", "effect: x"),
    );
    let answers = [
        tvm.call(request("GET /", "profile=broken", Some(iam_user("alice")))).await,
        tvm.call(request("GET /", "profile=prod", Some(iam_user("alice")))).await,
        tvm.call(request("GET /", "profile=dev", Some(iam_user("mallory")))).await,
        tvm.call(request("GET /", "profile=dev", None)).await,
        Tvm::with_store(Some(std::sync::Arc::new(BrokenLedger::default())))
            .call(request("GET /", "profile=dev", Some(iam_user("alice"))))
            .await,
    ];
    for answer in answers {
        let text = answer.body_text();
        assert!(answer.status() >= 400);
        for leak in
            ["arn:", "/sentinel/", "123456789012", "Exception", "connection refused", "SentinelProtected", "line "]
        {
            assert!(!text.contains(leak), "{leak:?} leaked in {text}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Whatever the query string, the handler answers with JSON and never issues credentials
    /// to a principal the policy does not allow.
    #[test]
    fn arbitrary_query_strings_never_vend_for_mallory(query in "[a-z=&%0-9A-F.,/+-]{0,80}") {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let tvm = Tvm::new();
        let answer = rt.block_on(tvm.call(request("GET /", &query, Some(iam_user("mallory")))));
        prop_assert!(answer.status() >= 400);
        prop_assert!(answer.json()["Code"].is_string());
        prop_assert!(tvm.issuer.calls().is_empty());
    }
}
