//! The projector Lambda's entry point: configuration, clients, runtime. Logic lives in lib.rs.

use std::sync::Arc;

use aws_lambda_events::dynamodb::Event;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use ledger::store::dynamo::DynamoEventStore;
use projections::store::dynamo::DynamoViewStore;
use projector::{handle, Config, Deps};

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
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let deps = Deps {
        views: Arc::new(DynamoViewStore::new(client.clone(), config.views_table)),
        ledger: Arc::new(DynamoEventStore::new(client, config.ledger_table)),
    };
    let deps = &deps;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move {
        Ok::<_, Error>(handle(deps, event.payload).await)
    }))
    .await
}
