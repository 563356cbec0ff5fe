//! The ledger decides; views only list (issue 12). Someone able to write the views table forges
//! rows; through the DynamoDB emulator, the refresh mints nothing on their word. (The authorizer
//! reads no view at all: its own tests, functions/authorizer/tests/it, count its one Query.)

use ledger::decide::session::SessionStatus;
use ledger::StreamKey;
use projections::{View, ViewStore};
use serde_json::json;

use crate::support::*;
use crate::workflow::Stack;

/// Rewrites the session's views row with `forge`, keeping the head it reflects.
async fn forge(stack: &Stack, session: &str, forge: impl FnOnce(&mut projections::SessionView)) {
    let stream = StreamKey::Session(session.parse().unwrap());
    let mut row = stack.views.projection(&stream).await.unwrap().expect("the session was projected");
    let View::Session(view) = &mut row.view else { panic!("a session view") };
    forge(view);
    stack.views.overwrite(&row).await.unwrap();
}

#[tokio::test]
async fn a_row_forged_to_say_active_at_the_revocation_head_neither_passes_nor_refreshes() {
    let stack = Stack::new().await;
    let session = stack.vend("alice", "profile=dev").await.header("x-sentinel-session-id").unwrap();
    let body = Some(json!({"reason": "left"}));
    let revoked =
        stack.send(call("POST /sessions/{id}/revoke", &[("id", &session)], "", iam_user("secops"), body)).await;
    assert_eq!(revoked.status(), 200, "{}", revoked.body_text());
    stack.sync_views().await;
    // The row keeps the seq and hash of the revocation event, so a view + tail reader would
    // find no tail and believe the row.
    forge(&stack, &session, |view| {
        view.status = Some(SessionStatus::Active);
        view.revoked = None;
        view.ended_at = None;
    })
    .await;
    stack.refresh(&session).await.assert_error(403, "SESSION_REVOKED");
    assert_eq!(stack.issuer.calls().len(), 1, "only the vend minted");
}

#[tokio::test]
async fn a_row_pointing_a_chosen_token_at_another_persons_session_mints_nothing() {
    let stack = Stack::new().await;
    let victim = stack.vend("alice", "profile=dev").await.header("x-sentinel-session-id").unwrap();
    stack.sync_views().await;
    // mallory picks a token for alice's session and writes its hash into the session's row.
    let chosen = format!("{victim}.{}", "m".repeat(43));
    forge(&stack, &victim, |view| {
        if let Some(issued) = view.issued.as_mut() {
            issued.token_hash = tvm::vend::token_hash(&chosen);
        }
    })
    .await;
    // Even past a forged authorizer context, the refresh checks the token against the ledger.
    stack.refresh_with(&victim, &chosen).await.assert_error(403, "NOT_AUTHORIZED");
    assert_eq!(stack.issuer.calls().len(), 1, "only the vend minted");
    // alice's own token still works.
    assert_eq!(stack.refresh(&victim).await.status(), 200);
}
