//! A ledger table in a fresh in-process DynamoDB emulator, and event builders.

use chrono::Utc;
use devstack::DynamoEmulator;
use ledger::event::{CredentialsRequested, SessionRevoked};
use ledger::store::dynamo::{create_ledger_table, DynamoEventStore};
use ledger::{Actor, Event, NewEvent, SessionId, StreamKey};

pub struct TestLedger {
    pub client: aws_sdk_dynamodb::Client,
    pub table: String,
    pub store: DynamoEventStore,
    _emulator: DynamoEmulator,
}

pub async fn ledger() -> TestLedger {
    let emulator = DynamoEmulator::start_ephemeral().await.expect("emulator starts");
    let client = devstack::dynamodb_client(emulator.endpoint());
    let table = devstack::unique_table_name("ledger");
    create_ledger_table(&client, &table).await.expect("table created");
    let store = DynamoEventStore::new(client.clone(), &table);
    TestLedger { client, table, store, _emulator: emulator }
}

pub fn session_stream() -> StreamKey {
    StreamKey::Session(SessionId::generate())
}

pub fn alice() -> ledger::PrincipalArn {
    "arn:aws:iam::111122223333:user/alice".parse().unwrap()
}

/// A small event with a free-text reason of `reason_len` characters.
pub fn requested(reason_len: usize) -> NewEvent {
    let event: Event = CredentialsRequested {
        principal: alice(),
        user_id: Some("AIDAEXAMPLEALICE".into()),
        profile: "dev".parse().unwrap(),
        requested_duration_seconds: Some(900),
        reason: Some("r".repeat(reason_len)),
    }
    .into();
    NewEvent::new(event, Actor::Principal(alice()), "req-1", Utc::now())
}

pub fn revoked() -> NewEvent {
    let event: Event = SessionRevoked { by: alice(), reason: "done".into() }.into();
    NewEvent::new(event, Actor::Principal(alice()), "req-2", Utc::now())
}
