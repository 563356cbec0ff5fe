//! Lambda entry point: configuration, clients and identity roles once per cold start, then
//! [`tvm::handle`] per request.

use std::sync::Arc;

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use lambda_runtime::{service_fn, LambdaEvent};
use ledger::identity::IdentityConfig;
use ledger::store::dynamo::DynamoEventStore;
use tvm::aws::{resolve_identity_roles, SsmPolicies, StsIssuer};
use tvm::config::TvmConfig;
use tvm::rate_limit::RateLimiter;
use tvm::{Deps, SystemClock};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_current_span(false)
        .init();
    let config = TvmConfig::from_env(|name| std::env::var(name).ok())?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let identity = IdentityConfig {
        identity_role_ids: resolve_identity_roles(&aws_sdk_iam::Client::new(&sdk), &config.identity_roles).await?,
        ..IdentityConfig::default()
    };
    let store = Arc::new(DynamoEventStore::new(aws_sdk_dynamodb::Client::new(&sdk), &config.ledger_table));
    let deps = Arc::new(Deps {
        identity,
        policies: Arc::new(SsmPolicies::new(aws_sdk_ssm::Client::new(&sdk), &config.policy_root, &config.admins_parameter)),
        issuer: Arc::new(StsIssuer::new(aws_sdk_sts::Client::new(&sdk))),
        store,
        grants: Arc::new(tvm::ports::NoGrants),
        rate_limiter: RateLimiter::new(config.rate_limit_requests, config.rate_limit_window),
        clock: Arc::new(SystemClock),
    });
    lambda_runtime::run(service_fn(move |event: LambdaEvent<ApiGatewayV2httpRequest>| {
        let deps = deps.clone();
        async move { Ok::<_, std::convert::Infallible>(tvm::handle(&deps, event.payload).await) }
    }))
    .await
}
