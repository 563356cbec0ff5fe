//! People, not principals (issue 12), through the DynamoDB emulator: one person's several
//! principals are one person for self-approval, the quorum, cancel rights and break-glass
//! guards; an IAM user and an SSO user of one name are two people; an ordinary role's session
//! names are one actor.

use serde_json::{json, Value};

use crate::support::*;
use crate::workflow::{approval_stream, Stack};

const DEV_ROLE_ID: &str = "AROADANADEVROLE00001";
const OPS_ROLE_ID: &str = "AROADANAOPSROLE00001";

/// dana through her `Dev` permission set.
fn dana_dev() -> Value {
    assumed_role("AWSReservedSSO_Dev_0123456789abcdef", DEV_ROLE_ID, "dana@example.com")
}

/// dana again, through her `Ops` permission set: another principal, the same person.
fn dana_ops() -> Value {
    assumed_role("AWSReservedSSO_Ops_fedcba9876543210", OPS_ROLE_ID, "dana@example.com")
}

async fn stack() -> Stack {
    Stack::with_identity_roles(&[DEV_ROLE_ID, OPS_ROLE_ID]).await
}

async fn request_as(stack: &Stack, iam: Value, duration: u64) -> Answer {
    let body = json!({"profile": "prod", "justification": "rotate the payments keys", "duration": duration});
    stack.send(call("POST /requests", &[], "", iam, Some(body))).await
}

async fn decide_as(stack: &Stack, id: &str, verb: &str, iam: Value) -> Answer {
    stack.send(call(&format!("POST /requests/{{id}}/{verb}"), &[("id", id)], "", iam, Some(json!({})))).await
}

async fn vend_as(stack: &Stack, iam: Value) -> Answer {
    stack.send(request("GET /", "profile=prod", Some(iam))).await
}

async fn break_glass_as(stack: &Stack, iam: Value) -> Answer {
    let body = json!({"profile": "prod", "reason_code": "incident", "justification": "database on fire, paging says so", "duration": 1800});
    stack.send(call("POST /breakglass", &[], "", iam, Some(body))).await
}

#[tokio::test]
async fn a_requester_cannot_approve_her_own_request_from_her_second_identity_role() {
    let stack = stack().await;
    let created = request_as(&stack, dana_dev(), 3600).await;
    assert_eq!(created.status(), 201, "{}", created.body_text());
    assert_eq!(created.json()["requester_person"], "idp:dana@example.com");
    let id = created.json()["request_id"].as_str().unwrap().to_owned();
    stack.sync_views().await;
    decide_as(&stack, &id, "approve", dana_ops()).await.assert_error(403, "SELF_APPROVAL");
    decide_as(&stack, &id, "deny", dana_ops()).await.assert_error(403, "SELF_APPROVAL");
    assert_eq!(stack.stream_types(&approval_stream(&id)).await, ["ApprovalRequested"]);
    vend_as(&stack, dana_ops()).await.assert_error(403, "APPROVAL_REQUIRED");
    // The requester may withdraw it from either principal: it is hers.
    assert_eq!(decide_as(&stack, &id, "cancel", dana_ops()).await.status(), 200);
}

#[tokio::test]
async fn one_person_with_two_identity_roles_does_not_make_a_quorum_of_two() {
    let stack = stack().await;
    stack.policies.put(
        "prod",
        &example_policy("prod").replace(
            "approvers: [iam:carol, idp:dana@example.com]\n  required: 1",
            "approvers: [iam:carol, idp:dana@example.com]\n  required: 2",
        ),
    );
    let id = stack.request_prod("alice", 3600).await;
    stack.sync_views().await;
    assert_eq!(decide_as(&stack, &id, "approve", dana_dev()).await.json()["status"], "pending");
    decide_as(&stack, &id, "approve", dana_ops()).await.assert_error(409, "CONFLICT");
    assert_eq!(stack.stream_types(&approval_stream(&id)).await, ["ApprovalRequested", "ApprovalGranted"]);
    stack.vend("alice", "profile=prod").await.assert_error(403, "APPROVAL_REQUIRED");
    let second = stack.decide(&id, "approve", "carol").await;
    assert_eq!(second.json()["status"], "approved", "{}", second.body_text());
    assert_eq!(stack.vend("alice", "profile=prod").await.status(), 200);
}

#[tokio::test]
async fn two_session_names_of_one_ordinary_role_do_not_make_a_quorum() {
    let stack = stack().await;
    stack.policies.put(
        "prod",
        &example_policy("prod").replace(
            "approvers: [iam:carol, idp:dana@example.com]\n  required: 1",
            &format!("approvers: [\"arn:aws:sts::{ACCOUNT}:assumed-role/Approvers/*\"]\n  required: 2"),
        ),
    );
    let id = stack.request_prod("alice", 3600).await;
    stack.sync_views().await;
    let one = assumed_role("Approvers", "AROAAPPROVERS0000001", "reviewer-one");
    let two = assumed_role("Approvers", "AROAAPPROVERS0000001", "reviewer-two");
    assert_eq!(decide_as(&stack, &id, "approve", one).await.json()["status"], "pending");
    decide_as(&stack, &id, "approve", two).await.assert_error(409, "CONFLICT");
    stack.vend("alice", "profile=prod").await.assert_error(403, "APPROVAL_REQUIRED");
}

#[tokio::test]
async fn one_person_cannot_stack_break_glass_or_skip_the_cooldown_from_a_second_identity_role() {
    let stack = stack().await;
    stack.policies.put(
        "prod",
        &example_policy("prod").replace("users: [iam:oncall]", "users: [iam:oncall, idp:dana@example.com]"),
    );
    let first = break_glass_as(&stack, dana_dev()).await;
    assert_eq!(first.status(), 201, "{}", first.body_text());
    break_glass_as(&stack, dana_ops()).await.assert_error(409, "CONFLICT");
    // The active break-glass is hers from either principal.
    assert_eq!(vend_as(&stack, dana_ops()).await.status(), 200);
    let id = first.json()["breakglass_id"].as_str().unwrap().to_owned();
    stack.sync_views().await;
    let closed = stack
        .send(call("POST /breakglass/{id}/close", &[("id", &id)], "", dana_ops(), Some(json!({"reason": "resolved"}))))
        .await;
    assert_eq!(closed.status(), 200, "{}", closed.body_text());
    let cooling = break_glass_as(&stack, dana_ops()).await;
    cooling.assert_error(429, "RATE_LIMITED");
    assert!(cooling.header("retry-after").is_some());
}

#[tokio::test]
async fn an_iam_user_named_like_an_sso_user_is_another_person() {
    let stack = stack().await;
    // The admins document names the SSO user `secops@example.com` (a bare name with an @).
    stack.policies.put_admins("version: \"1\"\nusers: [secops@example.com]\n").unwrap();
    let sso_secops = assumed_role("AWSReservedSSO_Dev_0123456789abcdef", DEV_ROLE_ID, "secops@example.com");
    let audit = |iam| call("GET /audit", &[], "", iam, None);
    assert_eq!(stack.send(audit(sso_secops)).await.status(), 200);
    stack.send(audit(iam_user("secops@example.com"))).await.assert_error(403, "NOT_AUTHORIZED");
    // Nor does an IAM user called dana@example.com get dana's rights.
    let answer = stack.send(request("GET /whoami", "profile=dev", Some(iam_user("dana@example.com")))).await;
    assert_eq!(answer.json()["person"], format!("iam:{ACCOUNT}:dana@example.com"));
    assert_eq!(answer.json()["decision"]["effect"], "deny");
    let answer = stack.send(request("GET /whoami", "profile=dev", Some(dana_ops()))).await;
    assert_eq!(answer.json()["person"], "idp:dana@example.com");
    assert_eq!(answer.json()["decision"]["effect"], "allow");
}

#[tokio::test]
async fn a_person_lists_and_revokes_her_sessions_from_any_of_her_principals() {
    let stack = stack().await;
    let vended = stack.send(request("GET /", "profile=dev", Some(dana_dev()))).await;
    assert_eq!(vended.status(), 200, "{}", vended.body_text());
    let session = vended.header("x-sentinel-session-id").unwrap();
    stack.sync_views().await;
    let mine = stack.send(call("GET /sessions", &[], "", dana_ops(), None)).await;
    let items = mine.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1, "{}", mine.body_text());
    assert_eq!(items[0]["person"], "idp:dana@example.com");
    let revoked = stack
        .send(call(
            "POST /sessions/{id}/revoke",
            &[("id", &session)],
            "",
            dana_ops(),
            Some(json!({"reason": "laptop lost"})),
        ))
        .await;
    assert_eq!(revoked.status(), 200, "{}", revoked.body_text());
    // Someone else's principal with the same role name pattern sees nothing.
    let other = assumed_role("AWSReservedSSO_Ops_fedcba9876543210", OPS_ROLE_ID, "erin@example.com");
    let theirs = stack.send(call("GET /sessions", &[], "", other, None)).await;
    assert!(theirs.json()["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn federated_users_are_refused() {
    let stack = stack().await;
    let federated = json!({
        "accessKey": "ASIAEXAMPLE", "accountId": ACCOUNT, "callerId": format!("{ACCOUNT}:alice"),
        "principalOrgId": null, "userArn": format!("arn:aws:sts::{ACCOUNT}:federated-user/alice"),
        "userId": format!("{ACCOUNT}:alice"),
    });
    let answer = stack.send(request("GET /", "profile=dev", Some(federated))).await;
    answer.assert_error(403, "NOT_AUTHORIZED");
    assert!(stack.issuer.calls().is_empty());
}

#[tokio::test]
async fn keys_joined_in_the_admins_document_are_one_person() {
    let stack = stack().await;
    // dana also has an IAM user; the admins document says both are her.
    let admins =
        format!("version: \"1\"\nusers: [iam:secops]\npeople:\n  - [idp:dana@example.com, \"iam:{ACCOUNT}:dana\"]\n");
    stack.policies.put_admins(&admins).unwrap();
    stack.policies.put(
        "prod",
        &example_policy("prod").replace(
            "approvers: [iam:carol, idp:dana@example.com]",
            "approvers: [iam:carol, idp:dana@example.com, iam:dana]",
        ),
    );
    let created = request_as(&stack, dana_dev(), 3600).await;
    let id = created.json()["request_id"].as_str().unwrap().to_owned();
    stack.sync_views().await;
    stack.decide(&id, "approve", "dana").await.assert_error(403, "SELF_APPROVAL");
    let whoami = stack.send(request("GET /whoami", "", Some(iam_user("dana")))).await;
    assert_eq!(whoami.json()["person"], "idp:dana@example.com");
    assert_eq!(whoami.json()["policy_user"], "iam:dana", "the policy name stays the principal's");
    // An admins document that cannot be read identifies nobody.
    stack.policies.set_unavailable(true);
    stack.send(request("GET /", "profile=dev", Some(iam_user("alice")))).await.assert_error(500, "POLICY_ERROR");
}
