//! Idempotency bound to the request (issue 12), through the DynamoDB emulator: a key remembers
//! its person, method, concrete path and body; reusing it for another request is 422 and changes
//! nothing; a duplicate still running is 409; vends ignore the key.

use chrono::Duration;
use ledger::store::{KeyRecord, KeyState};
use serde_json::json;
use tvm::workflow::idempotency::Idempotency;
use tvm::workflow::Ctx;

use crate::support::*;
use crate::workflow::{with_key, Stack};

fn revoke(session: &str, who: &str, reason: &str) -> aws_lambda_events::apigw::ApiGatewayV2httpRequest {
    let body = Some(json!({"reason": reason}));
    with_key(call("POST /sessions/{id}/revoke", &[("id", session)], "", iam_user(who), body), "revoke-1")
}

#[tokio::test]
async fn a_key_reused_for_a_second_revoke_is_refused_and_the_second_session_stays_for_a_new_key() {
    let stack = Stack::new().await;
    let first = stack.vend("alice", "profile=dev").await.header("x-sentinel-session-id").unwrap();
    let second = stack.vend("bob", "profile=dev").await.header("x-sentinel-session-id").unwrap();
    stack.sync_views().await;
    let done = stack.send(revoke(&first, "secops", "offboarding")).await;
    assert_eq!(done.status(), 200, "{}", done.body_text());
    // The same request again is answered from memory.
    let again = stack.send(revoke(&first, "secops", "offboarding")).await;
    assert_eq!((again.status(), again.header("idempotent-replayed").as_deref()), (200, Some("true")));
    // Another session under the same key is another request: 422, and nothing happens to it.
    stack.send(revoke(&second, "secops", "offboarding")).await.assert_error(422, "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(stack.refresh(&second).await.status(), 200, "the second session is still live");
    // So is the same path with another body.
    stack.send(revoke(&first, "secops", "something else")).await.assert_error(422, "IDEMPOTENCY_KEY_REUSED");
    // A new key revokes it.
    let mut fresh = revoke(&second, "secops", "offboarding");
    fresh.headers.insert("idempotency-key", "revoke-2".parse().unwrap());
    assert_eq!(stack.send(fresh).await.status(), 200);
    stack.refresh(&second).await.assert_error(403, "SESSION_REVOKED");
}

#[tokio::test]
async fn the_body_is_compared_as_canonical_json_and_the_key_belongs_to_the_person() {
    let stack = Stack::new().await;
    let ask = |who: &str, body: &str| {
        let mut req = with_key(call("POST /requests", &[], "", iam_user(who), None), "req-1");
        req.body = Some(body.to_owned());
        req
    };
    let one =
        stack.send(ask("alice", r#"{"profile":"prod","justification":"deploy hotfix 42","duration":1800}"#)).await;
    assert_eq!(one.status(), 201, "{}", one.body_text());
    // Same JSON, other key order and spacing: the same request.
    let same = stack
        .send(ask("alice", r#"{ "duration": 1800, "justification": "deploy hotfix 42", "profile": "prod" }"#))
        .await;
    assert_eq!((same.status(), same.json()), (201, one.json()));
    let other =
        stack.send(ask("alice", r#"{"profile":"prod","justification":"deploy hotfix 43","duration":1800}"#)).await;
    other.assert_error(422, "IDEMPOTENCY_KEY_REUSED");
    // bob's key of the same name is his own.
    let bobs = stack.send(ask("bob", r#"{"profile":"prod","justification":"deploy hotfix 42","duration":1800}"#)).await;
    assert_eq!(bobs.status(), 201);
    assert_ne!(bobs.json()["request_id"], one.json()["request_id"]);
}

#[tokio::test]
async fn a_duplicate_of_a_request_still_running_gets_409_and_an_expired_record_counts_as_absent() {
    let stack = Stack::new().await;
    let session = stack.vend("alice", "profile=dev").await.header("x-sentinel-session-id").unwrap();
    stack.sync_views().await;
    let request = revoke(&session, "alice", "done for today");
    let ctx = Ctx::of(&stack.deps, &request).await.unwrap();
    let key = Idempotency::of(&ctx, &request).unwrap().unwrap();
    let now = stack.clock.0.lock().unwrap().to_owned();
    let running = KeyRecord {
        key: key.key.clone(),
        request: key.request.clone(),
        state: KeyState::Running { claim: "the first attempt".into() },
        written_at: now,
        expires_at: now + Duration::seconds(120),
    };
    assert!(stack.deps.store.put_key_record(&running, None).await.unwrap());
    stack.send(revoke(&session, "alice", "done for today")).await.assert_error(409, "CONFLICT");
    assert_eq!(stack.refresh(&session).await.status(), 200, "the duplicate did nothing");
    // The first attempt died: once its claim expires, a retry runs.
    stack.advance(Duration::seconds(121));
    assert_eq!(stack.send(revoke(&session, "alice", "done for today")).await.status(), 200);
}

#[tokio::test]
async fn vends_ignore_the_key() {
    let stack = Stack::new().await;
    let vend = || with_key(request("GET /", "profile=dev", Some(iam_user("alice"))), "vend-1");
    let a = stack.send(vend()).await;
    let b = stack.send(vend()).await;
    assert_eq!((a.status(), b.status()), (200, 200));
    assert_ne!(a.header("x-sentinel-session-id"), b.header("x-sentinel-session-id"));
    assert!(b.header("idempotent-replayed").is_none());
}
