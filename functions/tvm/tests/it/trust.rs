//! Identity roles you can trust (issue 12), against the IAM emulator: the TVM refuses to start
//! when an identity role's trust policy would let a caller choose the session name — and so the
//! person — it takes callers for.

use devstack::Moto;
use serde_json::json;

async fn role(iam: &aws_sdk_iam::Client, name: &str, trust: serde_json::Value) -> String {
    let created = iam
        .create_role()
        .role_name(name)
        .path("/aws-reserved/sso.amazonaws.com/")
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .unwrap();
    created.role().unwrap().arn().to_owned()
}

async fn start(moto: &Moto, identity_roles: &str) -> anyhow::Result<tvm::Deps> {
    let sdk = devstack::local_sdk_config(moto.endpoint());
    let clients = tvm::wiring::Clients::from_sdk(&sdk);
    let config = tvm::config::TvmConfig::from_vars(|name| {
        (name == "SENTINEL_IDENTITY_ROLES").then(|| identity_roles.to_owned())
    })?;
    tvm::wiring::deps(&clients, &config).await
}

#[tokio::test]
async fn an_identity_role_that_trusts_an_account_principal_stops_the_tvm_at_start() {
    let moto = Moto::start(0).await.unwrap();
    let iam = aws_sdk_iam::Client::new(&devstack::local_sdk_config(moto.endpoint()));
    let sso = role(
        &iam,
        "AWSReservedSSO_Dev_0123456789abcdef",
        json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": "arn:aws:iam::123456789012:saml-provider/AWSSSO_0123_DO_NOT_DELETE"},
            "Action": ["sts:AssumeRoleWithSAML", "sts:TagSession"]
        }]}),
    )
    .await;
    let open = role(
        &iam,
        "AWSReservedSSO_Ops_fedcba9876543210",
        json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:AssumeRole"
        }]}),
    )
    .await;
    let deps = start(&moto, &sso).await.expect("an SSO-style identity role is fine");
    assert_eq!(deps.identity.identity_role_ids.len(), 1);
    let refused = start(&moto, &format!("{sso},{open}")).await.err().expect("the TVM must not start");
    let message = refused.to_string();
    assert!(message.contains(&open) && message.contains("sts:RoleSessionName"), "{message}");
    moto.stop().await;
}
