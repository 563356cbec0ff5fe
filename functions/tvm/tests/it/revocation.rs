//! Grants you can take back (issue 12), through the DynamoDB emulator: an approval revoked or
//! given back, and a break-glass closed, end every session resting on them; revoking one such
//! session ends its grant and its sibling sessions, in the same write.

use ledger::event::Event;
use ledger::StreamKey;
use serde_json::{json, Value};

use crate::support::*;
use crate::workflow::{approval_stream, Stack};

/// alice, approved by carol for prod, with two sessions resting on the approval.
async fn approved_with_two_sessions(stack: &Stack) -> (String, [String; 2]) {
    let id = stack.request_prod("alice", 3600).await;
    stack.sync_views().await;
    assert_eq!(stack.decide(&id, "approve", "carol").await.status(), 200);
    let mut sessions = Vec::new();
    for _ in 0..2 {
        let vend = stack.vend("alice", "profile=prod").await;
        assert_eq!(vend.status(), 200, "{}", vend.body_text());
        sessions.push(vend.header("x-sentinel-session-id").unwrap());
    }
    (id, sessions.try_into().unwrap())
}

async fn revoke_request(stack: &Stack, id: &str, iam: Value) -> Answer {
    let body = Some(json!({"reason": "contract ended"}));
    stack.send(call("POST /requests/{id}/revoke", &[("id", id)], "", iam, body)).await
}

fn sorted(values: &Value) -> Vec<String> {
    let mut items: Vec<String> = values.as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
    items.sort();
    items
}

async fn events_of(stack: &Stack, stream: &StreamKey) -> Vec<Event> {
    use ledger::store::EventStore;
    stack.ledger.read_stream(stream, 1).await.unwrap().iter().map(|e| e.decode().unwrap().event).collect()
}

#[tokio::test]
async fn a_revoked_approval_ends_every_session_resting_on_it() {
    let stack = Stack::new().await;
    let (id, sessions) = approved_with_two_sessions(&stack).await;
    // Neither a stranger nor the requester may revoke: she cancels instead.
    revoke_request(&stack, &id, iam_user("mallory")).await.assert_error(404, "NOT_FOUND");
    revoke_request(&stack, &id, iam_user("alice")).await.assert_error(403, "NOT_AUTHORIZED");
    let revoked = revoke_request(&stack, &id, iam_user("secops")).await;
    assert_eq!(revoked.status(), 200, "{}", revoked.body_text());
    assert_eq!(revoked.json()["status"], "revoked");
    let mut expected = sessions.to_vec();
    expected.sort();
    assert_eq!(sorted(&revoked.json()["revoked_sessions"]), expected);
    for session in &sessions {
        stack.refresh(session).await.assert_error(403, "SESSION_REVOKED");
    }
    stack.vend("alice", "profile=prod").await.assert_error(403, "APPROVAL_REQUIRED");
    // Once is enough.
    revoke_request(&stack, &id, iam_user("carol")).await.assert_error(409, "CONFLICT");
    let types = stack.stream_types(&approval_stream(&id)).await;
    assert_eq!(types, ["ApprovalRequested", "ApprovalGranted", "GrantUsed", "GrantUsed", "ApprovalRevoked"]);
}

#[tokio::test]
async fn an_approver_may_revoke_and_a_pending_request_cannot_be() {
    let stack = Stack::new().await;
    let id = stack.request_prod("alice", 3600).await;
    stack.sync_views().await;
    revoke_request(&stack, &id, iam_user("carol")).await.assert_error(409, "CONFLICT");
    assert_eq!(stack.decide(&id, "approve", "carol").await.status(), 200);
    let revoked = revoke_request(&stack, &id, iam_user("carol")).await;
    assert_eq!(revoked.json()["status"], "revoked", "{}", revoked.body_text());
    assert_eq!(revoked.json()["revoked_sessions"], json!([]));
}

#[tokio::test]
async fn the_requester_gives_an_approval_back_by_cancelling_it() {
    let stack = Stack::new().await;
    let (id, sessions) = approved_with_two_sessions(&stack).await;
    let cancelled = stack.decide(&id, "cancel", "alice").await;
    assert_eq!(cancelled.status(), 200, "{}", cancelled.body_text());
    assert_eq!(cancelled.json()["status"], "cancelled");
    assert_eq!(cancelled.json()["revoked_sessions"].as_array().unwrap().len(), 2);
    for session in &sessions {
        stack.refresh(session).await.assert_error(403, "SESSION_REVOKED");
    }
    stack.vend("alice", "profile=prod").await.assert_error(403, "APPROVAL_REQUIRED");
}

#[tokio::test]
async fn revoking_a_session_ends_its_approval_and_its_sibling_sessions() {
    let stack = Stack::new().await;
    let (id, [first, second]) = approved_with_two_sessions(&stack).await;
    stack.sync_views().await;
    let body = Some(json!({"reason": "laptop stolen"}));
    let revoked = stack.send(call("POST /sessions/{id}/revoke", &[("id", &first)], "", iam_user("alice"), body)).await;
    assert_eq!(revoked.status(), 200, "{}", revoked.body_text());
    assert_eq!(revoked.json()["ended_grant"], format!("approval:{id}"));
    assert_eq!(revoked.json()["revoked_sessions"], json!([second]));
    // The approval cannot be vended on again, at once: no waiting for the projector.
    stack.vend("alice", "profile=prod").await.assert_error(403, "APPROVAL_REQUIRED");
    stack.refresh(&second).await.assert_error(403, "SESSION_REVOKED");
    let events = events_of(&stack, &approval_stream(&id)).await;
    let Some(Event::ApprovalRevoked(end)) = events.last() else { panic!("{events:?}") };
    assert_eq!(end.session_id.map(|s| s.to_string()), Some(first));
}

#[tokio::test]
async fn revoking_a_break_glass_session_closes_the_break_glass() {
    let stack = Stack::new().await;
    let bg = stack.break_glass("oncall", "prod", 3600).await;
    let bg_id = bg.json()["breakglass_id"].as_str().unwrap().to_owned();
    let vend = stack.vend("oncall", "profile=prod").await;
    let session = vend.header("x-sentinel-session-id").unwrap();
    stack.sync_views().await;
    let body = Some(json!({"reason": "incident over"}));
    let revoked =
        stack.send(call("POST /sessions/{id}/revoke", &[("id", &session)], "", iam_user("secops"), body)).await;
    assert_eq!(revoked.status(), 200, "{}", revoked.body_text());
    assert_eq!(revoked.json()["ended_grant"], format!("break_glass:{bg_id}"));
    stack.vend("oncall", "profile=prod").await.assert_error(403, "POLICY_DENY");
    let events = events_of(&stack, &StreamKey::BreakGlass(bg_id.parse().unwrap())).await;
    let Some(Event::BreakGlassClosed(closed)) = events.last() else { panic!("{events:?}") };
    assert_eq!(closed.session_id.map(|s| s.to_string()), Some(session));
}

#[tokio::test]
async fn closing_a_break_glass_revokes_its_sessions() {
    let stack = Stack::new().await;
    let bg = stack.break_glass("oncall", "prod", 3600).await;
    let bg_id = bg.json()["breakglass_id"].as_str().unwrap().to_owned();
    let session = stack.vend("oncall", "profile=prod").await.header("x-sentinel-session-id").unwrap();
    stack.sync_views().await;
    let body = Some(json!({"reason": "resolved"}));
    let closed = stack.send(call("POST /breakglass/{id}/close", &[("id", &bg_id)], "", iam_user("oncall"), body)).await;
    assert_eq!(closed.json()["revoked_sessions"], json!([session]), "{}", closed.body_text());
    stack.refresh(&session).await.assert_error(403, "SESSION_REVOKED");
}
