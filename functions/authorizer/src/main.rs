//! Lambda entry point: clients once per cold start, then [`authorizer::handle`] per request.

use std::sync::Arc;

use aws_lambda_events::apigw::ApiGatewayV2CustomAuthorizerV2Request;
use lambda_runtime::{service_fn, LambdaEvent};
use ledger::store::dynamo::DynamoEventStore;
use projections::store::dynamo::DynamoViewStore;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let var = |name: &str, default: &str| {
        std::env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_owned())
    };
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let deps = Arc::new(authorizer::Deps {
        views: Arc::new(DynamoViewStore::new(dynamodb.clone(), var("SENTINEL_VIEWS_TABLE", "sentinel-views"))),
        ledger: Arc::new(DynamoEventStore::new(dynamodb, var("SENTINEL_LEDGER_TABLE", "sentinel-ledger"))),
        clock: Arc::new(chrono::Utc::now),
    });
    lambda_runtime::run(service_fn(move |event: LambdaEvent<ApiGatewayV2CustomAuthorizerV2Request>| {
        let deps = deps.clone();
        async move { Ok::<_, std::convert::Infallible>(authorizer::handle(&deps, event.payload).await) }
    }))
    .await
}
