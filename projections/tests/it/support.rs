//! A ledger table and a views table in a fresh in-process DynamoDB emulator.

use devstack::DynamoEmulator;
use ledger::store::dynamo::{create_ledger_table, DynamoEventStore};
use ledger::store::EventStore;
use ledger::StoredEvent;
use projections::store::dynamo::{create_views_table, DynamoViewStore};

pub struct Tables {
    pub client: aws_sdk_dynamodb::Client,
    pub ledger_table: String,
    pub ledger: DynamoEventStore,
    pub views: DynamoViewStore,
    _emulator: DynamoEmulator,
}

pub async fn tables() -> Tables {
    let emulator = DynamoEmulator::start_ephemeral().await.expect("emulator starts");
    let client = devstack::dynamodb_client(emulator.endpoint());
    let ledger_table = devstack::unique_table_name("ledger");
    let views_table = devstack::unique_table_name("views");
    create_ledger_table(&client, &ledger_table).await.expect("ledger table created");
    create_views_table(&client, &views_table).await.expect("views table created");
    Tables {
        ledger: DynamoEventStore::new(client.clone(), &ledger_table),
        views: DynamoViewStore::new(client.clone(), &views_table),
        client,
        ledger_table,
        _emulator: emulator,
    }
}

/// Writes already-sealed events to a ledger, one conditional put each.
pub async fn write_all(store: &dyn EventStore, events: &[StoredEvent]) {
    for e in events {
        store.write(std::slice::from_ref(e), &[], &e.event_id).await.expect("event written");
    }
}
