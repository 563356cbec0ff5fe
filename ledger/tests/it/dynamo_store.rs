//! Append and read semantics of the DynamoDB event store.

use std::sync::Arc;

use ledger::store::{EventStore, StoreError, StreamAppend, StreamCheck, MAX_ACTIONS};
use ledger::{verify_stream, StreamHead};

use crate::support::*;

async fn seeded(store: &dyn EventStore) -> (ledger::StreamKey, StreamHead) {
    let stream = session_stream();
    let stored = store
        .append(StreamAppend { stream: stream.clone(), head: StreamHead::genesis(), events: vec![requested(10)] })
        .await
        .unwrap();
    (stream, stored[0].head())
}

async fn race(events_per_append: usize) {
    let ledger = ledger().await;
    let store = Arc::new(ledger.store.clone());
    let (stream, head) = seeded(store.as_ref()).await;
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let (store, stream, head) = (store.clone(), stream.clone(), head.clone());
            tokio::spawn(async move {
                let events = (0..events_per_append).map(|_| revoked()).collect();
                store.append(StreamAppend { stream, head, events }).await
            })
        })
        .collect();
    let mut wins = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => wins += 1,
            Err(StoreError::Conflict { stream: s, expected }) => {
                assert_eq!((s, expected), (stream.clone(), 1));
            }
            Err(other) => panic!("expected a conflict, got {other}"),
        }
    }
    assert_eq!(wins, 1, "exactly one writer wins");
    let events = ledger.store.read_stream(&stream, 1).await.unwrap();
    assert_eq!(events.len(), 1 + events_per_append);
    assert!(events.iter().enumerate().all(|(i, e)| e.seq == i as u64 + 1));
    verify_stream(&stream.to_string(), &events).expect("the chain verifies");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_concurrent_puts_at_one_seq_have_exactly_one_winner() {
    race(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_concurrent_transactions_at_one_seq_have_exactly_one_winner() {
    race(3).await;
}

#[tokio::test]
async fn a_multi_stream_append_with_one_conflict_writes_nothing() {
    let ledger = ledger().await;
    let (moved, _) = seeded(&ledger.store).await;
    let fresh = session_stream();
    let err = ledger
        .store
        .append_all(
            &[
                StreamAppend {
                    stream: fresh.clone(),
                    head: StreamHead::genesis(),
                    events: vec![requested(5), revoked()],
                },
                StreamAppend { stream: moved.clone(), head: StreamHead::genesis(), events: vec![requested(5)] },
            ],
            &[],
        )
        .await
        .unwrap_err();
    assert_eq!(err, StoreError::Conflict { stream: moved.clone(), expected: 0 });
    assert!(ledger.store.read_stream(&fresh, 1).await.unwrap().is_empty());
    assert_eq!(ledger.store.read_stream(&moved, 1).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_condition_check_on_a_moved_stream_fails_the_whole_append() {
    let ledger = ledger().await;
    let (grant, head) = seeded(&ledger.store).await;
    ledger.store.append(StreamAppend { stream: grant.clone(), head, events: vec![revoked()] }).await.unwrap();
    let session = session_stream();
    let err = ledger
        .store
        .append_all(
            &[StreamAppend { stream: session.clone(), head: StreamHead::genesis(), events: vec![requested(5)] }],
            &[StreamCheck { stream: grant.clone(), seq: 1 }],
        )
        .await
        .unwrap_err();
    assert_eq!(err, StoreError::Conflict { stream: grant.clone(), expected: 1 });
    assert!(ledger.store.read_stream(&session, 1).await.unwrap().is_empty());
    // At the grant's current seq the same append goes through.
    ledger
        .store
        .append_all(
            &[StreamAppend { stream: session.clone(), head: StreamHead::genesis(), events: vec![requested(5)] }],
            &[StreamCheck { stream: grant, seq: 2 }],
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn retrying_an_append_after_an_ambiguous_failure_does_not_duplicate() {
    let ledger = ledger().await;
    for events in [vec![requested(5)], vec![requested(5), revoked()]] {
        let append = StreamAppend { stream: session_stream(), head: StreamHead::genesis(), events };
        let first = ledger.store.append(append.clone()).await.unwrap();
        // The caller never saw the answer and sends the same append again.
        let retried = ledger.store.append(append.clone()).await.unwrap();
        assert_eq!(retried, first);
        let stored = ledger.store.read_stream(&append.stream, 1).await.unwrap();
        assert_eq!(stored, first, "one copy of each event");
    }
}

#[tokio::test]
async fn a_different_append_at_a_taken_seq_is_still_a_conflict() {
    let ledger = ledger().await;
    let (stream, _) = seeded(&ledger.store).await;
    let err = ledger
        .store
        .append(StreamAppend { stream: stream.clone(), head: StreamHead::genesis(), events: vec![requested(5)] })
        .await
        .unwrap_err();
    assert_eq!(err, StoreError::Conflict { stream: stream.clone(), expected: 0 });
}

#[tokio::test]
async fn a_stream_longer_than_one_query_page_reads_back_completely_and_in_order() {
    let ledger = ledger().await;
    let stream = session_stream();
    let mut head = StreamHead::genesis();
    for _ in 0..25 {
        let events = (0..100).map(|_| requested(450)).collect();
        let stored = ledger.store.append(StreamAppend { stream: stream.clone(), head, events }).await.unwrap();
        head = stored.last().unwrap().head();
    }
    let events = ledger.store.read_stream(&stream, 1).await.unwrap();
    let bytes: usize = events.iter().map(|e| serde_json::to_vec(e).unwrap().len()).sum();
    assert!(bytes > 1_100_000, "the stream spans more than one 1 MB page ({bytes} bytes)");
    assert_eq!(events.len(), 2500);
    assert_eq!(verify_stream(&stream.to_string(), &events).unwrap(), head);
    let tail = ledger.store.read_after(&stream, 2400).await.unwrap();
    assert_eq!(tail.first().map(|e| e.seq), Some(2401));
    assert_eq!(tail.len(), 100);
}

#[tokio::test]
async fn an_append_over_the_transaction_limit_is_refused_before_sending() {
    let ledger = ledger().await;
    let stream = session_stream();
    let events = (0..=MAX_ACTIONS).map(|_| requested(1)).collect();
    let err = ledger
        .store
        .append(StreamAppend { stream: stream.clone(), head: StreamHead::genesis(), events })
        .await
        .unwrap_err();
    assert_eq!(err, StoreError::TooManyActions { actions: 101 });
    assert!(ledger.store.read_stream(&stream, 1).await.unwrap().is_empty());
}

#[tokio::test]
async fn an_unreachable_ledger_is_unavailable_not_a_conflict() {
    let port = devstack::free_port().unwrap();
    let client = devstack::dynamodb_client(&format!("http://127.0.0.1:{port}"));
    let store = ledger::store::dynamo::DynamoEventStore::new(client, "nowhere");
    let err = store
        .append(StreamAppend { stream: session_stream(), head: StreamHead::genesis(), events: vec![requested(1)] })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Failed { kind: ledger::store::FailureKind::Unavailable, .. }), "{err:?}");
}
