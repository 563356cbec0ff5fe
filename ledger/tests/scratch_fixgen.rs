//! Throwaway: writes the golden fixtures once. Deleted after use.

use chrono::{DateTime, Duration, Utc};
use ledger::event::*;
use ledger::record::{format_time, NewEvent, StoredEvent, StreamHead, GENESIS_HASH};
use ledger::{Actor, EventId, StreamKey};
use ulid::Ulid;

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn ulid(t: DateTime<Utc>, random: u128) -> Ulid {
    Ulid::from_parts(t.timestamp_millis() as u64, random.wrapping_add(7).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835) >> 48)
}

fn arn<T: std::str::FromStr>(s: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    s.parse().unwrap()
}

const ALICE: &str = "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Developer_5f1c0e8a9b2d7e34/alice@example.com";
const CAROL: &str = "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_PlatformLead_0a9e3c7b12d4f856/carol@example.com";
const DAVE: &str = "arn:aws:iam::111122223333:user/oncall/dave";
const SECOPS: &str = "arn:aws:sts::111122223333:assumed-role/SecurityResponder/bob@example.com";
const PUBLISHER: &str = "arn:aws:sts::111122223333:assumed-role/sentinel-policy-publisher/github-actions-8f3e21";

struct Ev(Event, &'static str, &'static str, &'static str, u128);

fn seal(stream: &StreamKey, evs: Vec<Ev>) -> Vec<StoredEvent> {
    let news: Vec<NewEvent> = evs
        .into_iter()
        .map(|Ev(event, actor, when, corr, rnd)| NewEvent {
            event_id: EventId::from_ulid(ulid(at(when), rnd)),
            occurred_at: at(when),
            actor: actor.parse().unwrap(),
            correlation_id: corr.into(),
            event,
        })
        .collect();
    StoredEvent::seal(stream, &StreamHead::genesis(), &news)
}

fn write(name: &str, events: &[StoredEvent]) {
    ledger::verify_stream(&events[0].stream, events).unwrap();
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let mut text = serde_json::to_string_pretty(events).unwrap();
    text.push('\n');
    std::fs::write(path, text).unwrap();
}

#[test]
#[ignore]
fn generate() {
    let _ = Actor::System;
    let t0 = "2026-03-02T14:05:07.118Z";
    let session_at = |t: &str, r: u128| StreamKey::Session(ledger::SessionId::from_ulid(ulid(at(t), r + 1000)));
    let session = |r: u128| session_at(t0, r);
    let approval = |r: u128| StreamKey::Approval(ledger::ApprovalId::from_ulid(ulid(at("2026-03-02T13:58:41.530Z"), r + 1000)));
    let breakglass = |r: u128| StreamKey::BreakGlass(ledger::BreakGlassId::from_ulid(ulid(at("2026-03-03T02:17:09.004Z"), r + 1000)));
    let approval_id = ledger::ApprovalId::from_ulid(ulid(at("2026-03-02T13:58:41.530Z"), 0x9c41_d2e7_33a0_5b18_f6c2));
    let bg_id = ledger::BreakGlassId::from_ulid(ulid(at("2026-03-03T02:17:09.004Z"), 0x2f7a_c9e0_41b3_d856_7e19));
    let prod: ledger::Profile = arn("prod-admin");
    let dev: ledger::Profile = arn("dev");

    let requested = CredentialsRequested {
        principal: arn(ALICE),
        user_id: Some("AROA3XFRBF23EXAMPLE7Q:alice@example.com".into()),
        profile: prod.clone(),
        requested_duration_seconds: Some(3600),
        reason: Some("Rotate the \"payments\" DB creds \\ INC-4711 — ünïcödé 🔥".into()),
    };
    let decided = AccessDecided {
        effect: Effect::Allow,
        rule: Some("prod-admin-needs-two-approvers".into()),
        reason: "approved by 2 of 2 required approvers".into(),
        basis: Basis::Approval(approval_id),
        policy_hash: Some("4f9d2c1a7be05e3388c6d0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5".into()),
    };
    let issued = CredentialsIssued {
        role_arn: arn("arn:aws:iam::111122223333:role/sentinel/SentinelProtected-ProdAdmin"),
        source_identity: "alice@example.com".into(),
        role_session_name: format!("sentinel-{}", session(3).to_string().trim_start_matches("SESSION#")),
        access_key_id: "ASIA3XFRBF23EXAMPLE1".into(),
        expiration: at("2026-03-02T15:05:07Z"),
        session_ends_at: at("2026-03-02T22:05:07Z"),
        token_hash: "9b74c9897bac770ffc029102a200c5de8b1c3e0ad4f0e3c7a1d9b2e8f6a4c013".into(),
    };
    let refreshed = CredentialsRefreshed {
        access_key_id: "ASIA3XFRBF23EXAMPLE2".into(),
        expiration: at("2026-03-02T16:02:00Z"),
        basis: Basis::Approval(approval_id),
    };
    let revoked = SessionRevoked { by: arn(SECOPS), reason: "laptop reported stolen (ticket SEC-2291)".into() };
    let approval_requested = ApprovalRequested {
        requester: arn(ALICE),
        profile: prod.clone(),
        justification: "Apply migration 0042 to the payments DB; runbook: https://wiki.example.com/rb/42?step=3&x=\"y\"".into(),
        duration_seconds: 3600,
        expires_at: at("2026-03-02T17:58:41.530Z"),
        required: 2,
    };
    let corr = "6f1d8e2a-4b7c-4d9e-8a1f-3c5b7d9e0f21";

    let cases: Vec<(&str, StreamKey, Vec<Ev>)> = vec![
        ("CredentialsRequested.v2.json", session(1), vec![Ev(requested.clone().into(), ALICE, t0, corr, 11)]),
        ("AccessDecided.v1.json", session(2), vec![Ev(decided.clone().into(), ALICE, "2026-03-02T14:05:07.164Z", corr, 12)]),
        ("CredentialsIssued.v1.json", session(3), vec![Ev(issued.clone().into(), ALICE, "2026-03-02T14:05:07.402Z", corr, 13)]),
        ("CredentialsRefreshed.v1.json", session(4), vec![Ev(refreshed.clone().into(), ALICE, "2026-03-02T15:02:00.251Z", "b2c4e6f8-0a1b-4c3d-9e5f-7a8b9c0d1e2f", 14)]),
        ("SessionRevoked.v1.json", session(5), vec![Ev(revoked.clone().into(), SECOPS, "2026-03-02T15:40:12.907Z", "0d9c8b7a-6f5e-4d3c-8b2a-1f0e9d8c7b6a", 15)]),
        ("SessionExpired.v1.json", session(6), vec![Ev(SessionExpired {}.into(), "system", "2026-03-02T22:05:07.000Z", "sweep-2026-03-02T22:06:00Z", 16)]),
        ("ApprovalRequested.v1.json", approval(21), vec![Ev(approval_requested.clone().into(), ALICE, "2026-03-02T13:58:41.530Z", "7e6d5c4b-3a29-4180-9f7e-6d5c4b3a2918", 21)]),
        ("ApprovalGranted.v1.json", approval(22), vec![Ev(ApprovalGranted { approver: arn(CAROL), comment: Some("LGTM — runbook checked ✅".into()) }.into(), CAROL, "2026-03-02T14:01:15.009Z", "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d", 22)]),
        ("ApprovalDenied.v1.json", approval(23), vec![Ev(ApprovalDenied { approver: arn(DAVE), comment: None }.into(), DAVE, "2026-03-02T14:02:33.740Z", "2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e", 23)]),
        ("ApprovalCancelled.v1.json", approval(24), vec![Ev(ApprovalCancelled { by: arn(ALICE) }.into(), ALICE, "2026-03-02T14:03:00.000Z", "3c4d5e6f-7a8b-4c9d-8e0f-2a3b4c5d6e7f", 24)]),
        ("ApprovalExpired.v1.json", approval(25), vec![Ev(ApprovalExpired {}.into(), "system", "2026-03-02T17:58:41.530Z", "sweep-2026-03-02T17:59:00Z", 25)]),
        ("BreakGlassInvoked.v1.json", breakglass(31), vec![Ev(BreakGlassInvoked {
            invoker: arn(DAVE),
            profile: prod.clone(),
            reason_code: "incident".into(),
            justification: "SEV1: checkout returns 5xx for 40% of requests; primary DB unreachable".into(),
            duration_seconds: 3600,
            expires_at: at("2026-03-03T03:17:09.004Z"),
        }.into(), DAVE, "2026-03-03T02:17:09.004Z", "4d5e6f7a-8b9c-4d0e-9f1a-3b4c5d6e7f80", 31)]),
        ("BreakGlassClosed.v1.json", breakglass(32), vec![Ev(BreakGlassClosed { by: arn(DAVE), reason: "incident resolved, failover complete".into() }.into(), DAVE, "2026-03-03T02:49:55.318Z", "5e6f7a8b-9c0d-4e1f-8a2b-4c5d6e7f8091", 32)]),
        ("BreakGlassExpired.v1.json", breakglass(33), vec![Ev(BreakGlassExpired {}.into(), "system", "2026-03-03T03:17:09.004Z", "sweep-2026-03-03T03:18:00Z", 33)]),
        ("PolicyPublished.v1.json", StreamKey::Policy(prod.clone()), vec![Ev(PolicyPublished {
            profile: prod.clone(),
            version: "2026-03-01.7".into(),
            hash: "e3b1c4a2d5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90".into(),
            by: arn(PUBLISHER),
        }.into(), PUBLISHER, "2026-03-01T09:30:00.000Z", "gha-run-13877241-attempt-1", 41)]),
    ];
    for (name, stream, evs) in cases {
        write(name, &seal(&stream, evs));
    }

    // A whole session: requested, allowed by policy, issued, refreshed, revoked.
    let lifecycle_request = CredentialsRequested {
        principal: arn(ALICE),
        user_id: Some("AROA3XFRBF23EXAMPLE7Q:alice@example.com".into()),
        profile: dev.clone(),
        requested_duration_seconds: None,
        reason: None,
    };
    let lifecycle_stream = session_at("2026-03-04T08:15:00.020Z", 51);
    let lifecycle_name = format!("sentinel-{}", lifecycle_stream.to_string().trim_start_matches("SESSION#"));
    let lifecycle = seal(&lifecycle_stream, vec![
        Ev(lifecycle_request.into(), ALICE, "2026-03-04T08:15:00.020Z", "8a9b0c1d-2e3f-4a5b-8c6d-7e8f9a0b1c2d", 51),
        Ev(AccessDecided { effect: Effect::Allow, rule: Some("developers-use-dev".into()), reason: "matched rule developers-use-dev".into(), basis: Basis::Policy, policy_hash: Some("0c7d9e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5".into()) }.into(), ALICE, "2026-03-04T08:15:00.031Z", "8a9b0c1d-2e3f-4a5b-8c6d-7e8f9a0b1c2d", 52),
        Ev(CredentialsIssued {
            role_arn: arn("arn:aws:iam::111122223333:role/SentinelProtected-Dev"),
            source_identity: "alice@example.com".into(),
            role_session_name: lifecycle_name,
            access_key_id: "ASIA3XFRBF23EXAMPLE3".into(),
            expiration: at("2026-03-04T09:15:00Z"),
            session_ends_at: at("2026-03-04T20:15:00Z"),
            token_hash: "3f2e1d0c9b8a79685746352413f2e1d0c9b8a79685746352413f2e1d0c9b8a70".into(),
        }.into(), ALICE, "2026-03-04T08:15:00.288Z", "8a9b0c1d-2e3f-4a5b-8c6d-7e8f9a0b1c2d", 53),
        Ev(CredentialsRefreshed { access_key_id: "ASIA3XFRBF23EXAMPLE4".into(), expiration: at("2026-03-04T10:10:00Z"), basis: Basis::Policy }.into(), ALICE, "2026-03-04T09:10:00.517Z", "9b0c1d2e-3f4a-4b5c-9d6e-8f9a0b1c2d3e", 54),
        Ev(SessionRevoked { by: arn(SECOPS), reason: "access no longer needed".into() }.into(), SECOPS, "2026-03-04T09:47:31.002Z", "ac1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f", 55),
    ]);
    write("session-lifecycle.v1.json", &lifecycle);

    // An approval stream that reaches its quorum of two.
    let quorum = seal(&StreamKey::Approval(approval_id), vec![
        Ev(approval_requested.into(), ALICE, "2026-03-02T13:58:41.530Z", "7e6d5c4b-3a29-4180-9f7e-6d5c4b3a2918", 61),
        Ev(ApprovalGranted { approver: arn(CAROL), comment: Some("ok for 0042".into()) }.into(), CAROL, "2026-03-02T14:01:15.009Z", "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d", 62),
        Ev(ApprovalGranted { approver: arn(DAVE), comment: None }.into(), DAVE, "2026-03-02T14:04:52.660Z", "c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f", 63),
    ]);
    write("approval-quorum-2.v1.json", &quorum);
    let _ = bg_id;

    // CredentialsRequested as release 1 wrote it: {principal, profile, duration_seconds}.
    let mut v1 = StoredEvent {
        stream: session_at("2025-11-20T10:42:13.351Z", 71).to_string(),
        seq: 1,
        event_id: ulid(at("2025-11-20T10:42:13.377Z"), 71).to_string(),
        event_type: "CredentialsRequested".into(),
        schema_version: 1,
        occurred_at: "2025-11-20T10:42:13.377Z".into(),
        actor: "arn:aws:iam::111122223333:user/alice".into(),
        correlation_id: "f0e1d2c3-b4a5-4968-8776-5a4b3c2d1e0f".into(),
        payload: serde_json::json!({
            "principal": "arn:aws:iam::111122223333:user/alice",
            "profile": "dev",
            "duration_seconds": 900
        }),
        prev_hash: GENESIS_HASH.into(),
        hash: String::new(),
    };
    v1.hash = v1.compute_hash().unwrap();
    write("CredentialsRequested.v1.json", &[v1]);
    let _ = (format_time(at(t0)), Duration::zero());
}
