//! The projector fed by the local stream poller from the emulated ledger stream, as `make dev`
//! runs it: appended events appear in the views, and a revocation is effective before that.

use std::sync::Arc;
use std::time::{Duration, Instant};

use devstack::stream_poller::StreamPoller;
use devstack::DynamoEmulator;
use ledger::decide::session::SessionStatus;
use ledger::event::Effect;
use ledger::store::dynamo::{create_ledger_table, DynamoEventStore};
use ledger::store::{EventStore, StreamAppend};
use ledger::{NewEvent, SessionId, StreamHead, StreamKey};
use projections::store::dynamo::{create_views_table, DynamoViewStore};
use projections::store::{AuditQuery, ViewStore};
use projections::testkit::*;
use projector::Deps;

/// Waits until `stream`'s view reaches `seq`; returns how long that took.
async fn visible(views: &DynamoViewStore, stream: &StreamKey, seq: u64) -> Duration {
    let start = Instant::now();
    loop {
        if views.projection(stream).await.unwrap().is_some_and(|p| p.head.seq >= seq) {
            return start.elapsed();
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{stream} did not reach seq {seq} within 10 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn new(event: impl Into<ledger::Event>, who: &str) -> NewEvent {
    NewEvent::new(event, actor(who), "req", chrono::Utc::now())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appended_events_appear_in_the_views_through_the_stream_poller() {
    let emulator = DynamoEmulator::start_ephemeral().await.unwrap();
    let client = devstack::dynamodb_client(emulator.endpoint());
    let (ledger_table, views_table) = (devstack::unique_table_name("ledger"), devstack::unique_table_name("views"));
    create_ledger_table(&client, &ledger_table).await.unwrap();
    create_views_table(&client, &views_table).await.unwrap();
    let ledger = Arc::new(DynamoEventStore::new(client.clone(), &ledger_table));
    let views = DynamoViewStore::new(client.clone(), &views_table);
    let deps = Arc::new(Deps { views: Arc::new(views.clone()), ledger: ledger.clone() });
    let poller = StreamPoller::new(devstack::dynamodb_streams_client(emulator.endpoint()), &ledger_table);
    let _running = poller.spawn(move |event| {
        let deps = deps.clone();
        async move { projector::handle(&deps, event).await }
    });

    let id = SessionId::generate();
    let s = StreamKey::Session(id);
    let opened = ledger
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
    visible(&views, &s, 3).await;
    let view = views.projection(&s).await.unwrap().unwrap();
    assert_eq!(view.session().unwrap().status, Some(SessionStatus::Active));

    // Lag from append to visible view, one event at a time on other streams.
    let mut lags = Vec::new();
    for v in 0..20 {
        let policy = StreamKey::Policy(profile(&format!("p{v}")));
        let head = StreamHead::genesis();
        ledger
            .append(StreamAppend {
                stream: policy.clone(),
                head,
                events: vec![new(policy_published("dev", v), "secops")],
            })
            .await
            .unwrap();
        lags.push(visible(&views, &policy, 1).await);
    }
    lags.sort();
    eprintln!(
        "projection lag through the poller: p50 {:?}, p99 {:?} over {} appends",
        lags[lags.len() / 2],
        lags[lags.len() * 99 / 100],
        lags.len()
    );

    let revocation = ledger
        .append(StreamAppend {
            stream: s.clone(),
            head: opened[2].head(),
            events: vec![new(revoked("secops"), "secops")],
        })
        .await
        .unwrap();
    visible(&views, &s, 4).await;
    assert_eq!(views.projection(&s).await.unwrap().unwrap().session().unwrap().status, Some(SessionStatus::Revoked));
    let since = chrono::Utc::now() - chrono::Duration::minutes(5);
    let audit = views
        .audit(&AuditQuery {
            since,
            until: chrono::Utc::now() + chrono::Duration::minutes(1),
            principal: Some(arn("secops")),
        })
        .await
        .unwrap();
    assert_eq!(audit.len(), 21, "20 policies and the revocation");
    assert_eq!(audit.last().map(|r| r.hash.clone()), Some(revocation[0].hash.clone()));
}
