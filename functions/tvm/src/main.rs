//! Lambda entry point: configuration, clients and identity roles once per cold start, then
//! [`tvm::handle`] per request.

use std::sync::Arc;

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use lambda_runtime::{service_fn, LambdaEvent};
use tvm::config::TvmConfig;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_current_span(false)
        .init();
    let config = TvmConfig::from_env(|name| std::env::var(name).ok())?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let deps = Arc::new(tvm::wiring::deps(&tvm::wiring::Clients::from_sdk(&sdk), &config).await?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<ApiGatewayV2httpRequest>| {
        let deps = deps.clone();
        async move { Ok::<_, std::convert::Infallible>(tvm::handle(&deps, event.payload).await) }
    }))
    .await
}
