//! The projector Lambda's entry point: configuration, clients, runtime. Logic lives in lib.rs.

use aws_lambda_events::dynamodb::Event;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    edge::init_tracing(edge::config::process_env)?;
    // Fail at cold start, not per request.
    let config = projector::Config::from_vars(edge::config::process_env)?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let deps = projector::deps(&aws_sdk_dynamodb::Client::new(&sdk), &config);
    let deps = &deps;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move {
        Ok::<_, Error>(projector::handle(deps, event.payload).await)
    }))
    .await
}
