//! The enforcer Lambda's entry point: configuration, clients and the account once per cold
//! start, then [`enforcer::invoke`] per event. Logic lives in lib.rs.

use std::sync::Arc;

use anyhow::Context;
use enforcer::config::Config;
use enforcer::roles::iam::IamRolePolicies;
use enforcer::{Deps, SystemClock};
use lambda_runtime::{service_fn, LambdaEvent};
use ledger::store::dynamo::DynamoEventStore;
use projections::store::dynamo::DynamoViewStore;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .without_time()
        .init();
    // Fail at cold start, not per event.
    let config = Config::from_vars(|name| std::env::var(name).ok())?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    // The account whose roles the enforcer may touch (GetCallerIdentity needs no permission).
    let identity = aws_sdk_sts::Client::new(&sdk)
        .get_caller_identity()
        .send()
        .await
        .context("cannot learn the enforcer's account (sts:GetCallerIdentity)")?;
    let account = identity.account().context("sts:GetCallerIdentity returned no account")?.to_owned();
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let deps = Deps {
        views: Arc::new(DynamoViewStore::new(dynamodb.clone(), &config.views_table)),
        ledger: Arc::new(DynamoEventStore::new(dynamodb, &config.ledger_table)),
        roles: Arc::new(IamRolePolicies::new(aws_sdk_iam::Client::new(&sdk))),
        account,
        clock: Arc::new(SystemClock),
        budget: enforcer::policy::POLICY_BUDGET,
    };
    let deps = &deps;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        // Only retryable errors come back: Lambda retries them, then queues the event.
        enforcer::invoke(deps, event.payload).await.map_err(lambda_runtime::Error::from)
    }))
    .await
}
