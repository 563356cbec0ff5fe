//! The handler against a scripted bus.

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::dynamodb::{Event, EventRecord};
use exporter::{BusEntry, Config, Deps, ExportError, Publisher};
use ledger::event::Effect;
use ledger::{verify_stream, SessionId, StoredEvent, StreamKey};
use projections::testkit::*;

/// Whether call `n` rejects an entry.
type Rejects = Box<dyn Fn(usize, &BusEntry) -> bool + Send + Sync>;

/// A bus that records every call and rejects the entries `reject` picks.
struct ScriptedBus {
    calls: Mutex<Vec<Vec<BusEntry>>>,
    reject: Rejects,
}

impl ScriptedBus {
    fn new(reject: impl Fn(usize, &BusEntry) -> bool + Send + Sync + 'static) -> Self {
        ScriptedBus { calls: Mutex::new(Vec::new()), reject: Box::new(reject) }
    }
}

#[async_trait]
impl Publisher for &'static ScriptedBus {
    async fn publish(&self, entries: &[BusEntry]) -> Result<Vec<Option<String>>, ExportError> {
        let mut calls = self.calls.lock().unwrap();
        calls.push(entries.to_vec());
        let call = calls.len() - 1;
        Ok(entries.iter().map(|e| (self.reject)(call, e).then(|| "ThrottlingException".to_owned())).collect())
    }
}

fn deps(bus: &'static ScriptedBus) -> Deps {
    Deps { publisher: Box::new(bus), retry_base: Duration::from_millis(1) }
}

fn leak(bus: ScriptedBus) -> &'static ScriptedBus {
    Box::leak(Box::new(bus))
}

/// `n` policy events on one stream.
fn policies(n: u32) -> Vec<StoredEvent> {
    let mut b = LedgerBuilder::new();
    let p = StreamKey::Policy(profile("prod"));
    for v in 0..n {
        b.append(&p, policy_published("prod", v), actor("secops"));
    }
    b.events().to_vec()
}

fn record(event: &StoredEvent, seq: usize) -> EventRecord {
    let mut r = EventRecord::default();
    r.event_name = "INSERT".into();
    r.change.new_image = serde_dynamo::Item::from(ledger::store::dynamo::to_item(event).unwrap());
    r.change.sequence_number = Some(format!("{seq:021}"));
    r
}

fn lambda_event(events: &[StoredEvent]) -> Event {
    let mut e = Event::default();
    e.records = events.iter().enumerate().map(|(i, ev)| record(ev, i)).collect();
    e
}

fn detail_of(entry: &BusEntry) -> serde_json::Value {
    serde_json::from_str(&entry.detail).unwrap()
}

#[tokio::test]
async fn entries_go_out_in_batches_of_at_most_ten_in_record_order() {
    let bus = leak(ScriptedBus::new(|_, _| false));
    let events = policies(23);
    let response = exporter::handle(&deps(bus), lambda_event(&events)).await;
    assert!(response.batch_item_failures.is_empty());
    let calls = bus.calls.lock().unwrap();
    assert_eq!(calls.iter().map(Vec::len).collect::<Vec<_>>(), [10, 10, 3]);
    let seqs: Vec<u64> = calls.iter().flatten().map(|e| detail_of(e)["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=23).collect::<Vec<_>>());
    assert!(calls.iter().flatten().all(|e| e.detail_type == "PolicyPublished"));
}

#[tokio::test]
async fn only_failed_entries_are_retried() {
    // The first call rejects seq 3 and seq 6; later calls accept everything.
    let bus = leak(ScriptedBus::new(|call, e| call == 0 && [3, 6].contains(&detail_of(e)["seq"].as_u64().unwrap())));
    let response = exporter::handle(&deps(bus), lambda_event(&policies(8))).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    let calls = bus.calls.lock().unwrap();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].iter().map(|e| detail_of(e)["seq"].as_u64().unwrap()).collect::<Vec<_>>(), [3, 6]);
}

#[tokio::test]
async fn an_entry_that_keeps_failing_is_reported_with_every_record_after_it() {
    let bus = leak(ScriptedBus::new(|_, e| detail_of(e)["seq"].as_u64() == Some(5)));
    let events = policies(12);
    let request = lambda_event(&events);
    let response = exporter::handle(&deps(bus), request.clone()).await;
    let failed: Vec<_> = response.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect();
    let expected: Vec<_> = request.records[4..].iter().map(|r| r.change.sequence_number.clone()).collect();
    assert_eq!(failed, expected);
    let calls = bus.calls.lock().unwrap();
    assert_eq!(calls.len(), exporter::MAX_ATTEMPTS as usize, "bounded retries, and the next batch is not sent");
    assert!(calls[1..].iter().all(|c| c.len() == 1));
}

#[tokio::test]
async fn an_undecodable_record_is_reported_after_publishing_the_records_before_it() {
    let bus = leak(ScriptedBus::new(|_, _| false));
    let events = policies(4);
    let mut request = lambda_event(&events);
    request.records[2].change.new_image.remove("type");
    let response = exporter::handle(&deps(bus), request.clone()).await;
    assert_eq!(response.batch_item_failures.len(), 2);
    assert_eq!(response.batch_item_failures[0].item_identifier, request.records[2].change.sequence_number);
    assert_eq!(bus.calls.lock().unwrap().concat().len(), 2);
}

#[tokio::test]
async fn the_detail_is_the_stored_event_so_consumers_verify_it_and_it_carries_no_secret() {
    let bus = leak(ScriptedBus::new(|_, _| false));
    let mut b = LedgerBuilder::new();
    let s = StreamKey::Session(SessionId::generate());
    b.append(&s, requested("alice", "dev"), actor("alice"));
    b.append(&s, decided(Effect::Allow), actor("alice"));
    b.append(&s, issued(15, 480), actor("alice"));
    b.append(&s, refreshed(75), actor("alice"));
    exporter::handle(&deps(bus), lambda_event(b.events())).await;
    let entries = bus.calls.lock().unwrap().concat();
    let details: Vec<serde_json::Value> = entries.iter().map(detail_of).collect();
    let keys: Vec<&str> = details[0].as_object().unwrap().keys().map(String::as_str).collect();
    let mut keys = keys;
    keys.sort();
    assert_eq!(
        keys,
        [
            "actor",
            "correlation_id",
            "event_id",
            "hash",
            "occurred_at",
            "payload",
            "person",
            "prev_hash",
            "schema_version",
            "seq",
            "stream",
            "type"
        ]
    );
    // A consumer verifies the chain from the details alone.
    let received: Vec<StoredEvent> = details.iter().map(|d| serde_json::from_value(d.clone()).unwrap()).collect();
    verify_stream(&s.to_string(), &received).expect("the exported events verify");
    assert_eq!(entries[2].detail_type, "CredentialsIssued");
    assert_eq!(entries[2].time, at(2));
    for entry in &entries {
        let lower = entry.detail.to_lowercase();
        for secret in ["secretaccesskey", "secret_access_key", "sessiontoken", "session_token", "\"token\""] {
            assert!(!lower.contains(secret), "{} carries {secret}", entry.detail_type);
        }
    }
}

#[test]
fn the_bus_defaults_to_sentinel_ledger_and_a_bad_name_fails_at_cold_start() {
    assert_eq!(Config::from_vars(|_| None).unwrap().bus, "sentinel-ledger");
    let arn = "arn:aws:events:eu-central-1:111122223333:event-bus/audit";
    assert_eq!(Config::from_vars(|_| Some(arn.to_owned())).unwrap().bus, arn);
    assert!(Config::from_vars(|_| Some("has spaces".to_owned())).is_err());
    assert!(Config::from_vars(|_| Some(String::new())).is_err());
}
