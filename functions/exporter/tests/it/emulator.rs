//! The exporter end to end on emulators: ledger appends on dynoxide, the local stream poller,
//! EventBridge and an SQS target on moto.

use std::time::{Duration, Instant};

use devstack::stream_poller::StreamPoller;
use devstack::{DynamoEmulator, Moto};
use exporter::{Deps, EventBridgePublisher};
use ledger::event::Effect;
use ledger::store::dynamo::{create_ledger_table, DynamoEventStore};
use ledger::store::{EventStore, StreamAppend};
use ledger::{verify_stream, NewEvent, SessionId, StoredEvent, StreamHead, StreamKey};
use projections::testkit::*;

fn new(event: impl Into<ledger::Event>, who: &str) -> NewEvent {
    NewEvent::new(event, actor(who), "req", chrono::Utc::now())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_on_the_bus_delivers_one_message_per_ledger_event_to_sqs() {
    let dynamodb = DynamoEmulator::start_ephemeral().await.unwrap();
    let moto = Moto::start(0).await.expect("moto starts (run `make venv` once)");
    let sdk = devstack::local_sdk_config(moto.endpoint());
    let events = aws_sdk_eventbridge::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);

    let bus = devstack::unique_table_name("sentinel-ledger");
    events.create_event_bus().name(&bus).send().await.unwrap();
    let queue = sqs.create_queue().queue_name(devstack::unique_table_name("audit")).send().await.unwrap();
    let queue_url = queue.queue_url().unwrap().to_owned();
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap();
    let queue_arn = attributes.attributes().unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn].clone();
    events
        .put_rule()
        .name("all-ledger-events")
        .event_bus_name(&bus)
        .event_pattern(r#"{"source": ["sentinel.ledger"]}"#)
        .send()
        .await
        .unwrap();
    events
        .put_targets()
        .rule("all-ledger-events")
        .event_bus_name(&bus)
        .targets(aws_sdk_eventbridge::types::Target::builder().id("audit-queue").arn(&queue_arn).build().unwrap())
        .send()
        .await
        .unwrap();

    let client = devstack::dynamodb_client(dynamodb.endpoint());
    let table = devstack::unique_table_name("ledger");
    create_ledger_table(&client, &table).await.unwrap();
    let ledger = DynamoEventStore::new(client, &table);
    let deps = std::sync::Arc::new(Deps {
        publisher: Box::new(EventBridgePublisher::new(events.clone(), &bus)),
        retry_base: Duration::from_millis(50),
    });
    let poller = StreamPoller::new(devstack::dynamodb_streams_client(dynamodb.endpoint()), &table);
    let _running = poller.spawn(move |event| {
        let deps = deps.clone();
        async move { exporter::handle(&deps, event).await }
    });

    let s = StreamKey::Session(SessionId::generate());
    let mut appended = ledger
        .append(StreamAppend {
            stream: s.clone(),
            head: StreamHead::genesis(),
            events: vec![
                new(requested("alice", "dev"), "alice"),
                new(decided(Effect::Allow), "alice"),
                new(issued(15, 480), "alice"),
            ],
        })
        .await
        .unwrap();
    let head = appended[2].head();
    appended.extend(
        ledger
            .append(StreamAppend { stream: s.clone(), head, events: vec![new(revoked("secops"), "secops")] })
            .await
            .unwrap(),
    );

    let mut messages: Vec<serde_json::Value> = Vec::new();
    let start = Instant::now();
    while messages.len() < appended.len() && start.elapsed() < Duration::from_secs(20) {
        let got = sqs.receive_message().queue_url(&queue_url).max_number_of_messages(10).send().await.unwrap();
        for m in got.messages() {
            messages.push(serde_json::from_str(m.body().unwrap()).unwrap());
            sqs.delete_message()
                .queue_url(&queue_url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Nothing more arrives: one message per event.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let extra = sqs.receive_message().queue_url(&queue_url).max_number_of_messages(10).send().await.unwrap();
    assert_eq!(messages.len() + extra.messages().len(), appended.len(), "{messages:#?}");

    messages.sort_by_key(|m| m["detail"]["seq"].as_u64());
    for (m, e) in messages.iter().zip(&appended) {
        assert_eq!(m["source"], "sentinel.ledger");
        assert_eq!(m["detail-type"], e.event_type.as_str());
        assert_eq!(m["detail"], serde_json::to_value(e).unwrap());
    }
    let received: Vec<StoredEvent> =
        messages.iter().map(|m| serde_json::from_value(m["detail"].clone()).unwrap()).collect();
    verify_stream(&s.to_string(), &received).expect("consumers verify what the bus delivers");
    moto.stop().await;
}
