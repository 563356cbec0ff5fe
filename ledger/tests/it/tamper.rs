//! Tampering with stored items directly in the table is caught by `verify_stream` at the
//! right seq, and malformed items are typed errors.

use aws_sdk_dynamodb::types::AttributeValue;
use ledger::record::ChainBreakKind;
use ledger::store::{EventStore, StoreError, StreamAppend};
use ledger::{verify_stream, StreamHead, StreamKey};

use crate::support::*;

async fn five_events(ledger: &TestLedger) -> StreamKey {
    let stream = session_stream();
    let events = (0..5).map(|_| requested(3)).collect();
    ledger.store.append(StreamAppend { stream: stream.clone(), head: StreamHead::genesis(), events }).await.unwrap();
    stream
}

fn key(stream: &StreamKey, seq: u64) -> std::collections::HashMap<String, AttributeValue> {
    [("pk".to_owned(), AttributeValue::S(stream.to_string())), ("sk".to_owned(), AttributeValue::N(seq.to_string()))]
        .into()
}

async fn first_break(ledger: &TestLedger, stream: &StreamKey) -> (u64, ChainBreakKind) {
    let events = ledger.store.read_stream(stream, 1).await.unwrap();
    let broken = verify_stream(&stream.to_string(), &events).unwrap_err();
    assert_eq!(broken.stream, stream.to_string());
    (broken.seq, broken.kind)
}

/// Rewrites one stored item in place, as someone with table access could.
async fn tamper(
    ledger: &TestLedger,
    stream: &StreamKey,
    seq: u64,
    expression: &str,
    names: &[(&str, &str)],
    values: &[(&str, &str)],
) {
    let mut update = ledger
        .client
        .update_item()
        .table_name(&ledger.table)
        .set_key(Some(key(stream, seq)))
        .update_expression(expression);
    for (placeholder, name) in names {
        update = update.expression_attribute_names(*placeholder, *name);
    }
    for (placeholder, value) in values {
        update = update.expression_attribute_values(*placeholder, AttributeValue::S((*value).to_owned()));
    }
    update.send().await.unwrap();
}

#[tokio::test]
async fn a_modified_payload_is_reported_at_its_seq() {
    let ledger = ledger().await;
    let stream = five_events(&ledger).await;
    tamper(&ledger, &stream, 3, "SET payload.profile = :p", &[], &[(":p", "prod")]).await;
    assert_eq!(first_break(&ledger, &stream).await, (3, ChainBreakKind::HashMismatch));
}

#[tokio::test]
async fn a_modified_envelope_attribute_is_reported_at_its_seq() {
    let ledger = ledger().await;
    let stream = five_events(&ledger).await;
    tamper(&ledger, &stream, 2, "SET occurred_at = :t", &[], &[(":t", "2020-01-01T00:00:00.000Z")]).await;
    assert_eq!(first_break(&ledger, &stream).await, (2, ChainBreakKind::HashMismatch));
}

#[tokio::test]
async fn a_deleted_event_is_reported_where_it_is_missing() {
    let ledger = ledger().await;
    let stream = five_events(&ledger).await;
    ledger.client.delete_item().table_name(&ledger.table).set_key(Some(key(&stream, 3))).send().await.unwrap();
    assert_eq!(first_break(&ledger, &stream).await, (3, ChainBreakKind::OutOfSequence { expected: 3, found: 4 }));
}

#[tokio::test]
async fn reordered_events_are_reported_at_the_first_moved_seq() {
    let ledger = ledger().await;
    let stream = five_events(&ledger).await;
    // Swap the contents of seq 2 and 4, keeping the keys: the order of events changes.
    let get = |seq| {
        let ledger = &ledger;
        let stream = &stream;
        async move {
            ledger
                .client
                .get_item()
                .table_name(&ledger.table)
                .set_key(Some(key(stream, seq)))
                .send()
                .await
                .unwrap()
                .item
                .unwrap()
        }
    };
    let (mut two, mut four) = (get(2).await, get(4).await);
    two.insert("sk".into(), AttributeValue::N("4".into()));
    four.insert("sk".into(), AttributeValue::N("2".into()));
    for item in [two, four] {
        ledger.client.put_item().table_name(&ledger.table).set_item(Some(item)).send().await.unwrap();
    }
    assert_eq!(first_break(&ledger, &stream).await, (2, ChainBreakKind::HashMismatch));
}

#[tokio::test]
async fn an_inserted_event_is_reported_at_its_seq() {
    let ledger = ledger().await;
    let stream = five_events(&ledger).await;
    // A forger copies event 2 to seq 6 and rehashes it, but cannot know to chain it to event 5.
    let events = ledger.store.read_stream(&stream, 1).await.unwrap();
    let mut forged = events[1].clone();
    forged.seq = 6;
    forged.hash = forged.compute_hash().unwrap();
    ledger
        .client
        .put_item()
        .table_name(&ledger.table)
        .set_item(Some(ledger::store::dynamo::to_item(&forged).unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(first_break(&ledger, &stream).await, (6, ChainBreakKind::PrevHashMismatch));
}

#[tokio::test]
async fn an_item_missing_an_attribute_is_a_typed_error_naming_it() {
    let ledger = ledger().await;
    let stream = five_events(&ledger).await;
    tamper(&ledger, &stream, 4, "REMOVE #h", &[("#h", "hash")], &[]).await;
    let err = ledger.store.read_stream(&stream, 1).await.unwrap_err();
    let StoreError::Corrupt(detail) = err else { panic!("expected Corrupt, got {err:?}") };
    assert!(detail.contains(&format!("{stream} seq 4")) && detail.contains("hash"), "{detail}");
}

#[tokio::test]
async fn an_unknown_event_type_is_a_typed_decode_error() {
    let ledger = ledger().await;
    let stream = five_events(&ledger).await;
    tamper(&ledger, &stream, 5, "SET #t = :t", &[("#t", "type")], &[(":t", "SessionTeleported")]).await;
    let events = ledger.store.read_stream(&stream, 1).await.unwrap();
    let err = events[4].decode().unwrap_err();
    assert_eq!(err.seq, 5);
    assert_eq!(
        err.kind,
        ledger::record::DecodeErrorKind::Payload(ledger::event::PayloadError::UnknownType("SessionTeleported".into()))
    );
    let err = ledger::store::load::<ledger::decide::session::SessionState>(&ledger.store, &stream).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "loading refuses the stream instead of skipping the event");
}
