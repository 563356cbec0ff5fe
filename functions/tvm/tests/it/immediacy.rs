//! Grants usable the moment their call returns (issue 12), through the DynamoDB emulator with the
//! projector stopped: nothing here ever syncs the views. A request, an approval and a break-glass
//! are read from the ledger; a vend picks the grant with the most time left.

use chrono::Duration;
use serde_json::json;

use crate::support::*;
use crate::workflow::Stack;

async fn ask(stack: &Stack, who: &str, duration: u64) -> Answer {
    let body = json!({"profile": "prod", "justification": "deploy hotfix 42", "duration": duration});
    stack.send(call("POST /requests", &[], "", iam_user(who), Some(body))).await
}

#[tokio::test]
async fn approve_then_vend_succeeds_with_the_projector_stopped() {
    let stack = Stack::new().await;
    let created = ask(&stack, "alice", 1800).await;
    assert_eq!(created.status(), 201, "{}", created.body_text());
    let id = created.json()["request_id"].as_str().unwrap().to_owned();
    // Right after the request: the refusal names it.
    let refused = stack.vend("alice", "profile=prod").await;
    refused.assert_error(403, "APPROVAL_REQUIRED");
    assert_eq!(refused.json()["request_id"], id.as_str());
    let approved = stack.decide(&id, "approve", "carol").await;
    assert_eq!(approved.json()["status"], "approved", "{}", approved.body_text());
    // Right after the approval: the requester vends.
    let vend = stack.vend("alice", "profile=prod").await;
    assert_eq!(vend.status(), 200, "{}", vend.body_text());
    let session = vend.header("x-sentinel-session-id").unwrap();
    assert_eq!(stack.refresh(&session).await.status(), 200);
}

#[tokio::test]
async fn a_second_request_while_one_is_pending_is_a_conflict_naming_it() {
    let stack = Stack::new().await;
    let first = ask(&stack, "alice", 1800).await.json()["request_id"].as_str().unwrap().to_owned();
    let second = ask(&stack, "alice", 3600).await;
    second.assert_error(409, "CONFLICT");
    assert_eq!(second.json()["request_id"], first.as_str());
    // Another person is not held up by alice's request.
    assert_eq!(ask(&stack, "bob", 1800).await.status(), 201);
    // Once decided, the next request is fine.
    assert_eq!(stack.decide(&first, "deny", "carol").await.status(), 200);
    assert_eq!(ask(&stack, "alice", 1800).await.status(), 201);
}

#[tokio::test]
async fn a_request_too_short_to_carry_a_credential_is_refused() {
    let stack = Stack::new().await;
    ask(&stack, "alice", 900).await.assert_error(400, "INVALID_DURATION");
    ask(&stack, "alice", 1799).await.assert_error(400, "INVALID_DURATION");
    ask(&stack, "alice", 4 * 3600 + 1).await.assert_error(400, "INVALID_DURATION");
}

#[tokio::test]
async fn an_approval_is_usable_for_its_duration_from_the_moment_it_is_granted() {
    let stack = Stack::new().await;
    let id = ask(&stack, "alice", 1800).await.json()["request_id"].as_str().unwrap().to_owned();
    // Approved late in its pending window: still usable for its full 1800 s from then.
    stack.advance(Duration::hours(3));
    assert_eq!(stack.decide(&id, "approve", "carol").await.json()["status"], "approved");
    stack.advance(Duration::seconds(800));
    let vend = stack.vend("alice", "profile=prod&duration=3600").await;
    assert_eq!(vend.status(), 200, "{}", vend.body_text());
    assert_eq!(stack.issuer.calls().last().unwrap().duration.as_secs(), 1000, "capped at the approval's time left");
}

#[tokio::test]
async fn a_vend_rests_on_the_grant_with_the_most_time_left() {
    let stack = Stack::new().await;
    let old = ask(&stack, "alice", 1800).await.json()["request_id"].as_str().unwrap().to_owned();
    assert_eq!(stack.decide(&old, "approve", "carol").await.status(), 200);
    // The old approval is nearly used up (under 900 s left) when a fresh one is granted.
    stack.advance(Duration::seconds(1000));
    let fresh = ask(&stack, "alice", 3600).await;
    assert_eq!(fresh.status(), 201, "{}", fresh.body_text());
    let fresh = fresh.json()["request_id"].as_str().unwrap().to_owned();
    assert_eq!(stack.decide(&fresh, "approve", "carol").await.status(), 200);
    let vend = stack.vend("alice", "profile=prod&duration=3600").await;
    assert_eq!(vend.status(), 200, "{}", vend.body_text());
    let decided: Vec<_> = stack.ledger_events().await.into_iter().filter(|e| e.event_type == "AccessDecided").collect();
    assert_eq!(decided.len(), 1, "one vend");
    assert_eq!(decided[0].payload["basis"], format!("approval:{fresh}"));
}

#[tokio::test]
async fn an_approval_vend_reads_the_guard_and_the_approval_and_writes_once() {
    use std::sync::Arc;
    let ledger = Arc::new(CountingLedger::default());
    let mut tvm = Tvm::with_store(Some(ledger.clone()));
    // The grants come from the ledger; the views hold nothing (the projector never ran).
    tvm.deps.grants = Arc::new(tvm::workflow::grants::LedgerGrants {
        views: Arc::new(projections::store::memory::MemoryViewStore::new()),
        ledger: ledger.clone(),
    });
    // Warm-up: the policy's publication is recorded on the first vend of each profile.
    assert_eq!(tvm.call(request("GET /", "profile=dev", Some(iam_user("alice")))).await.status(), 200);
    tvm.call(request("GET /", "profile=prod", Some(iam_user("alice")))).await.assert_error(403, "APPROVAL_REQUIRED");
    let body = json!({"profile": "prod", "justification": "deploy hotfix 42", "duration": 1800});
    let created = tvm.call(call("POST /requests", &[], "", iam_user("alice"), Some(body))).await;
    let id = created.json()["request_id"].as_str().unwrap().to_owned();
    let approve = call("POST /requests/{id}/approve", &[("id", &id)], "", iam_user("carol"), Some(json!({})));
    assert_eq!(tvm.call(approve).await.status(), 200);

    ledger.take();
    assert_eq!(tvm.call(request("GET /", "profile=dev", Some(iam_user("alice")))).await.status(), 200);
    assert_eq!(ledger.take(), (0, 1), "a vend on policy alone: one write, no read");
    let vend = tvm.call(request("GET /", "profile=prod", Some(iam_user("alice")))).await;
    assert_eq!(vend.status(), 200, "{}", vend.body_text());
    assert_eq!(ledger.take(), (2, 1), "an approval vend: the guard and the approval read, one write");
}
