//! The exporter Lambda's entry point: configuration, clients, runtime. Logic lives in lib.rs.

use aws_lambda_events::dynamodb::Event;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    edge::init_tracing(edge::config::process_env)?;
    // Fail at cold start, not per request.
    let config = exporter::Config::from_vars(edge::config::process_env)?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let deps = exporter::deps(&aws_sdk_eventbridge::Client::new(&sdk), &config);
    let deps = &deps;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move {
        Ok::<_, Error>(exporter::handle(deps, event.payload).await)
    }))
    .await
}
