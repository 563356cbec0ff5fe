//! `Idempotency-Key` records beside the ledger, in the DynamoDB emulator and in memory: written in
//! the same transaction as a creation, refused while a live record holds the key, absent once
//! expired, and a running claim replaced or released only by its own attempt.

use chrono::{Duration, Utc};
use ledger::store::dynamo::create_idempotency_table;
use ledger::store::memory::MemoryEventStore;
use ledger::store::{EventStore, KeyRecord, KeyState, StoreError, StreamAppend};
use ledger::StreamHead;

use crate::support::*;

fn answered(key: &str, request: &str, at: chrono::DateTime<Utc>) -> KeyRecord {
    KeyRecord {
        key: key.into(),
        request: request.into(),
        state: KeyState::Answered { status: 201, body: serde_json::json!({"request_id": "01J", "ok": true}) },
        written_at: at,
        expires_at: at + Duration::hours(24),
    }
}

fn running(key: &str, claim: &str, at: chrono::DateTime<Utc>) -> KeyRecord {
    KeyRecord {
        key: key.into(),
        request: "r1".into(),
        state: KeyState::Running { claim: claim.into() },
        written_at: at,
        expires_at: at + Duration::seconds(60),
    }
}

async fn behaves(store: &dyn EventStore) {
    // The table keeps whole seconds.
    let now = chrono::DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap();
    let key = format!("k-{}", ledger::SessionId::generate());
    // A creation and its answer: one write.
    let first = StreamAppend { stream: session_stream(), head: StreamHead::genesis(), events: vec![requested(1)] };
    store.append_all_with_key(std::slice::from_ref(&first), &[], Some(&answered(&key, "r1", now))).await.unwrap();
    assert_eq!(store.key_record(&key).await.unwrap(), Some(answered(&key, "r1", now)));
    // A twin under the same key writes nothing at all.
    let twin = StreamAppend { stream: session_stream(), head: StreamHead::genesis(), events: vec![requested(1)] };
    let err = store.append_all_with_key(std::slice::from_ref(&twin), &[], Some(&answered(&key, "r1", now))).await;
    assert_eq!(err.unwrap_err(), StoreError::KeyTaken);
    assert!(store.read_stream(&twin.stream, 1).await.unwrap().is_empty(), "the twin's events were not written");
    // Past its expiry the record counts as absent.
    let later = now + Duration::hours(25);
    assert!(store.put_key_record(&answered(&key, "r2", later), None).await.unwrap());

    // A running claim: taken once; replaced by its own attempt only; released by it only.
    let claimed = format!("c-{}", ledger::SessionId::generate());
    assert!(store.put_key_record(&running(&claimed, "attempt-1", now), None).await.unwrap());
    assert!(!store.put_key_record(&running(&claimed, "attempt-2", now), None).await.unwrap());
    assert!(!store.put_key_record(&answered(&claimed, "r1", now), Some("attempt-2")).await.unwrap());
    store.release_key(&claimed, "attempt-2").await.unwrap();
    assert!(store.key_record(&claimed).await.unwrap().is_some(), "another attempt's release changes nothing");
    assert!(store.put_key_record(&answered(&claimed, "r1", now), Some("attempt-1")).await.unwrap());
    assert!(matches!(store.key_record(&claimed).await.unwrap().unwrap().state, KeyState::Answered { .. }));
    let released = format!("r-{}", ledger::SessionId::generate());
    assert!(store.put_key_record(&running(&released, "attempt-1", now), None).await.unwrap());
    store.release_key(&released, "attempt-1").await.unwrap();
    assert_eq!(store.key_record(&released).await.unwrap(), None);
}

#[tokio::test]
async fn key_records_in_dynamodb() {
    let ledger = ledger().await;
    let table = devstack::unique_table_name("idempotency");
    create_idempotency_table(&ledger.client, &table).await.unwrap();
    let store = ledger.store.clone().with_key_table(&table);
    behaves(&store).await;
}

#[tokio::test]
async fn key_records_in_memory() {
    behaves(&MemoryEventStore::new()).await;
}

#[tokio::test]
async fn a_store_without_an_idempotency_table_refuses_key_writes() {
    let ledger = ledger().await;
    let err = ledger.store.key_record("k").await.unwrap_err();
    assert!(matches!(err, StoreError::Failed { .. }), "{err}");
}
