//! Lambda entry point: configuration, clients and identity roles once per cold start, then
//! [`tvm::handle`] per request.

use std::sync::Arc;

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use lambda_runtime::{service_fn, LambdaEvent};
use tvm::config::TvmConfig;
use tvm::wiring::{self, Clients};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    edge::init_tracing(edge::config::process_env)?;
    // Fail at cold start, not per request.
    let config = TvmConfig::from_vars(edge::config::process_env)?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let deps = Arc::new(wiring::deps(&Clients::from_sdk(&sdk), &config).await?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<ApiGatewayV2httpRequest>| {
        let deps = deps.clone();
        async move { Ok::<_, std::convert::Infallible>(tvm::handle(&deps, event.payload).await) }
    }))
    .await
}
