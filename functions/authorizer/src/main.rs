//! Lambda entry point: configuration and clients once per cold start, then
//! [`authorizer::handle`] per request.

use std::sync::Arc;

use aws_lambda_events::apigw::ApiGatewayV2CustomAuthorizerV2Request;
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    edge::init_tracing(edge::config::process_env)?;
    // Fail at cold start, not per request.
    let config = authorizer::Config::from_vars(edge::config::process_env)?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let deps = Arc::new(authorizer::deps(&aws_sdk_dynamodb::Client::new(&sdk), &config));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<ApiGatewayV2CustomAuthorizerV2Request>| {
        let deps = deps.clone();
        async move { Ok::<_, std::convert::Infallible>(authorizer::handle(&deps, event.payload).await) }
    }))
    .await
}
