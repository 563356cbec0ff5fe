//! The vend path through real emulators on 127.0.0.1: SSM for policies, STS for credentials,
//! DynamoDB for the ledger. The returned credentials work against STS.

use std::sync::Arc;

use aws_sdk_dynamodb::config::Credentials;
use devstack::{DynamoEmulator, Moto};
use ledger::identity::IdentityConfig;
use ledger::store::dynamo::{create_ledger_table, DynamoEventStore};
use ledger::store::EventStore;
use ledger::{SessionId, StreamKey};
use tvm::aws::{SsmPolicies, StsIssuer};
use tvm::ports::memory::MemoryGrants;
use tvm::rate_limit::RateLimiter;
use tvm::{Deps, SystemClock};

use crate::support::*;

struct Stack {
    deps: Deps,
    store: DynamoEventStore,
    ssm: aws_sdk_ssm::Client,
    moto: Moto,
    _dynamo: DynamoEmulator,
}

async fn stack() -> Stack {
    let dynamo = DynamoEmulator::start_ephemeral().await.unwrap();
    let moto = Moto::start(0).await.unwrap();
    let ddb = devstack::dynamodb_client(dynamo.endpoint());
    let table = devstack::unique_table_name("ledger");
    create_ledger_table(&ddb, &table).await.unwrap();
    let sdk = devstack::local_sdk_config(moto.endpoint());
    let ssm = aws_sdk_ssm::Client::new(&sdk);
    for profile in ["dev", "prod"] {
        ssm.put_parameter()
            .name(format!("/sentinel/policies/{profile}"))
            .value(example_policy(profile))
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .send()
            .await
            .unwrap();
    }
    let views_table = devstack::unique_table_name("views");
    projections::store::dynamo::create_views_table(&ddb, &views_table).await.unwrap();
    let views = Arc::new(projections::store::dynamo::DynamoViewStore::new(ddb.clone(), &views_table));
    let store = DynamoEventStore::new(ddb, &table);
    let policies = Arc::new(SsmPolicies::new(ssm.clone(), "/sentinel/policies", "/sentinel/admins"));
    let deps = Deps {
        identity: IdentityConfig::default(),
        policies: policies.clone(),
        issuer: Arc::new(StsIssuer::new(aws_sdk_sts::Client::new(&sdk))),
        store: Arc::new(store.clone()),
        grants: Arc::new(MemoryGrants::default()),
        views,
        policy_writer: policies,
        rate_limiter: RateLimiter::new(100, std::time::Duration::from_secs(60)),
        clock: Arc::new(SystemClock),
        pages: tvm::workflow::page::PageKey::random().unwrap(),
        seen_policies: Default::default(),
    };
    Stack { deps, store, ssm, moto, _dynamo: dynamo }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vend_through_the_emulators_returns_credentials_that_sts_accepts() {
    let stack = stack().await;
    let answer =
        Answer(tvm::handle(&stack.deps, request("GET /", "profile=dev&duration=3600", Some(iam_user("alice")))).await);
    assert_eq!(answer.status(), 200, "{}", answer.body_text());
    let body = answer.json();
    let session: SessionId = answer.header("x-sentinel-session-id").unwrap().parse().unwrap();

    // The vended credentials are real to the emulated STS: they are the protected role's session.
    let credentials = Credentials::new(
        body["AccessKeyId"].as_str().unwrap(),
        body["SecretAccessKey"].as_str().unwrap(),
        Some(body["Token"].as_str().unwrap().to_owned()),
        None,
        "vended",
    );
    let sts = aws_sdk_sts::Client::new(&devstack::local_sdk_config_as(stack.moto.endpoint(), credentials));
    let identity = sts.get_caller_identity().send().await.unwrap();
    assert_eq!(
        identity.arn(),
        Some(format!("arn:aws:sts::123456789012:assumed-role/SentinelProtected-Dev/sentinel-{session}").as_str())
    );

    let events = stack.store.read_stream(&StreamKey::Session(session), 1).await.unwrap();
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["CredentialsRequested", "AccessDecided", "CredentialsIssued"]);
    ledger::verify_stream(&StreamKey::Session(session).to_string(), &events).unwrap();
    assert_eq!(events[2].payload["access_key_id"], body["AccessKeyId"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_come_from_ssm_and_a_broken_parameter_refuses_to_vend() {
    let stack = stack().await;
    let answer = Answer(tvm::handle(&stack.deps, request("GET /profiles", "", Some(iam_user("bob")))).await);
    let names: Vec<String> =
        answer.json()["profiles"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_owned()).collect();
    assert_eq!(names, ["dev", "prod"]);

    stack
        .ssm
        .put_parameter()
        .name("/sentinel/policies/staging")
        .value(
            example_policy("dev")
                .replace("profile: dev", "profile: staging")
                .replace("effect: allow", "effect: allow_all"),
        )
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .unwrap();
    let answer = Answer(tvm::handle(&stack.deps, request("GET /", "profile=staging", Some(iam_user("alice")))).await);
    answer.assert_error(500, "POLICY_ERROR");
}

#[tokio::test]
async fn the_pagination_key_is_created_once_as_a_secure_string_and_every_instance_uses_it() {
    let moto = Moto::start(0).await.unwrap();
    let ssm = aws_sdk_ssm::Client::new(&devstack::local_sdk_config(moto.endpoint()));
    let name = edge::config::PAGINATION_KEY_PARAMETER.default();
    // Two cold starts at once: one creates the parameter, the other reads the winner's key.
    let (a, b) = tokio::join!(tvm::aws::pagination_key(&ssm, name), tvm::aws::pagination_key(&ssm, name));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.to_base64(), b.to_base64());
    assert_eq!(tvm::aws::pagination_key(&ssm, name).await.unwrap().to_base64(), a.to_base64());
    let stored = ssm.get_parameter().name(name).with_decryption(true).send().await.unwrap().parameter.unwrap();
    assert_eq!(stored.r#type, Some(aws_sdk_ssm::types::ParameterType::SecureString));
    assert_eq!(stored.value.as_deref(), Some(a.to_base64().as_str()));
    // A key too short to seal with fails the cold start rather than weakening the tokens.
    ssm.put_parameter()
        .name("/sentinel/short-key")
        .value("c2hvcnQ=")
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    let error = tvm::aws::pagination_key(&ssm, "/sentinel/short-key").await.unwrap_err();
    assert!(error.to_string().contains("at least 32 bytes"), "{error}");
}
