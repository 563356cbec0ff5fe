//! The exporter Lambda's entry point: configuration, clients, runtime. Logic lives in lib.rs.

use std::time::Duration;

use aws_lambda_events::dynamodb::Event;
use exporter::{handle, Config, Deps, EventBridgePublisher};
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .without_time()
        .init();
    // Fail at cold start, not per request.
    let config = Config::from_vars(|name| std::env::var(name).ok())?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let publisher = EventBridgePublisher::new(aws_sdk_eventbridge::Client::new(&sdk), config.bus);
    let deps = Deps { publisher: Box::new(publisher), retry_base: Duration::from_millis(100) };
    let deps = &deps;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move {
        Ok::<_, Error>(handle(deps, event.payload).await)
    }))
    .await
}
