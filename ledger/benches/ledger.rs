//! Micro-benchmarks of the write side: event encode + hash + decode, and appends against the
//! embedded DynamoDB emulator (the same one `make dev` runs).

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use chrono::Utc;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ledger::event::{AccessDecided, CredentialsIssued, CredentialsRequested};
use ledger::store::dynamo::{create_ledger_table, from_item, to_item, DynamoEventStore};
use ledger::store::{EventStore, StreamAppend};
use ledger::{Actor, Basis, Effect, Event, NewEvent, SessionId, StoredEvent, StreamHead, StreamKey};

fn alice() -> ledger::PrincipalArn {
    "arn:aws:iam::111122223333:user/alice".parse().unwrap()
}

/// The three events of an allowed vend.
fn vend_events() -> Vec<NewEvent> {
    let now = Utc::now();
    let actor = Actor::Principal(alice());
    let events: [Event; 3] = [
        CredentialsRequested {
            principal: alice(),
            user_id: Some("AIDAEXAMPLEALICE".into()),
            profile: "dev".parse().unwrap(),
            requested_duration_seconds: Some(3600),
            reason: Some("deploy".into()),
        }
        .into(),
        AccessDecided {
            effect: Effect::Allow,
            rule: Some("developers".into()),
            reason: "developers may use dev".into(),
            basis: Basis::Policy,
            policy_hash: Some("ab".repeat(32)),
        }
        .into(),
        CredentialsIssued {
            role_arn: "arn:aws:iam::111122223333:role/SentinelProtected-Dev".parse().unwrap(),
            source_identity: "sentinel-01ARZ3NDEKTSV4RRFFQ69G5FAV".into(),
            role_session_name: "sentinel-01ARZ3NDEKTSV4RRFFQ69G5FAV".into(),
            access_key_id: "ASIAEXAMPLE".into(),
            expiration: now + chrono::Duration::hours(1),
            session_ends_at: now + chrono::Duration::hours(8),
            token_hash: "cd".repeat(32),
        }
        .into(),
    ];
    events.into_iter().map(|e| NewEvent::new(e, actor.clone(), "bench", now)).collect()
}

fn encode_hash_decode(c: &mut Criterion) {
    let stream = StreamKey::Session(SessionId::generate());
    let issued = vend_events().pop().unwrap();
    let mut group = c.benchmark_group("event");
    group.throughput(Throughput::Elements(1));
    group.bench_function("encode_hash_decode", |b| {
        b.iter(|| {
            let sealed = StoredEvent::seal(&stream, &StreamHead::genesis(), std::slice::from_ref(&issued)).unwrap();
            let item = to_item(&sealed[0]).unwrap();
            let back = from_item(item).unwrap();
            back.decode().unwrap()
        })
    });
    group.bench_function("verify_one", |b| {
        let sealed = StoredEvent::seal(&stream, &StreamHead::genesis(), std::slice::from_ref(&issued)).unwrap();
        b.iter(|| ledger::verify_stream(&sealed[0].stream, &sealed).unwrap())
    });
    group.finish();
}

fn appends(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (emulator, store) = rt.block_on(async {
        let emulator = devstack::DynamoEmulator::start_ephemeral().await.unwrap();
        let client = devstack::dynamodb_client(emulator.endpoint());
        create_ledger_table(&client, "bench-ledger").await.unwrap();
        (emulator, DynamoEventStore::new(client, "bench-ledger"))
    });
    let mut group = c.benchmark_group("emulator");
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(3));
    group.bench_function("append_vend_transaction", |b| {
        b.iter(|| {
            let append = StreamAppend {
                stream: StreamKey::Session(SessionId::generate()),
                head: StreamHead::genesis(),
                events: vend_events(),
            };
            rt.block_on(store.append(append)).unwrap()
        })
    });
    group.throughput(Throughput::Elements(1));
    group.bench_function("append_one_put", |b| {
        let stream = StreamKey::Session(SessionId::generate());
        let mut head = StreamHead::genesis();
        b.iter(|| {
            let event = vend_events().remove(1);
            let stored = rt
                .block_on(store.append(StreamAppend {
                    stream: stream.clone(),
                    head: head.clone(),
                    events: vec![event],
                }))
                .unwrap();
            head = stored[0].head();
        })
    });
    group.finish();
    rt.block_on(emulator.stop());
}

criterion_group!(benches, encode_hash_decode, appends);
criterion_main!(benches);
