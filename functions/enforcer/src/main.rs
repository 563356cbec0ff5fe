//! The enforcer Lambda's entry point: configuration, clients and the account once per cold
//! start, then [`enforcer::invoke`] per event. Logic lives in lib.rs.

use enforcer::wiring::{self, Clients};
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    edge::init_tracing(edge::config::process_env)?;
    // Fail at cold start, not per event.
    let config = enforcer::config::Config::from_vars(edge::config::process_env)?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let deps = wiring::deps(&Clients::from_sdk(&sdk), &config).await?;
    let deps = &deps;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        // Only retryable errors come back: Lambda retries them, then queues the event.
        enforcer::invoke(deps, event.payload).await.map_err(lambda_runtime::Error::from)
    }))
    .await
}
