//! An in-memory `EventStore` for unit tests, with the same atomicity and conditions as DynamoDB.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{parse_stream, EventStore, KeyRecord, KeyState, StoreError, StreamCheck};
use crate::ids::StreamKey;
use crate::record::StoredEvent;

/// Streams kept in a map, keyed by the stream key's wire form.
#[derive(Debug, Default)]
pub struct MemoryEventStore {
    streams: Mutex<BTreeMap<String, BTreeMap<u64, StoredEvent>>>,
    /// The idempotency table.
    keys: Mutex<BTreeMap<String, KeyRecord>>,
}

impl MemoryEventStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every stored event of every stream (for tests and rebuilds).
    pub fn all(&self) -> Vec<StoredEvent> {
        let streams = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        streams.values().flat_map(|s| s.values().cloned()).collect()
    }

    /// Replaces a stored item as a tampering administrator could (for tests).
    pub fn overwrite(&self, item: StoredEvent) {
        let mut streams = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        streams.entry(item.stream.clone()).or_default().insert(item.seq, item);
    }
}

impl MemoryEventStore {
    fn write_locked(
        streams: &mut BTreeMap<String, BTreeMap<u64, StoredEvent>>,
        items: &[StoredEvent],
        checks: &[StreamCheck],
    ) -> Result<(), StoreError> {
        for item in items {
            if streams.get(&item.stream).is_some_and(|s| s.contains_key(&item.seq)) {
                return Err(StoreError::Conflict { stream: parse_stream(&item.stream)?, expected: item.seq - 1 });
            }
        }
        for check in checks {
            if streams.get(&check.stream.to_string()).is_some_and(|s| s.contains_key(&(check.seq + 1))) {
                return Err(StoreError::Conflict { stream: check.stream.clone(), expected: check.seq });
            }
        }
        for item in items {
            streams.entry(item.stream.clone()).or_default().insert(item.seq, item.clone());
        }
        Ok(())
    }
}

/// Whether `record` may be put where `existing` is (see [`EventStore::put_key_record`]).
fn may_put(existing: Option<&KeyRecord>, record: &KeyRecord, replacing: Option<&str>) -> bool {
    match existing {
        None => true,
        Some(old) if !old.is_live(record.written_at) => true,
        Some(KeyRecord { state: KeyState::Running { claim }, .. }) => replacing == Some(claim.as_str()),
        Some(_) => false,
    }
}

#[async_trait]
impl EventStore for MemoryEventStore {
    async fn write(&self, items: &[StoredEvent], checks: &[StreamCheck], _token: &str) -> Result<(), StoreError> {
        let mut streams = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        Self::write_locked(&mut streams, items, checks)
    }

    async fn write_with_key(
        &self,
        items: &[StoredEvent],
        checks: &[StreamCheck],
        record: &KeyRecord,
        _token: &str,
    ) -> Result<(), StoreError> {
        let mut streams = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        // As in one DynamoDB transaction: the events' conditions are checked first, then the
        // key's; nothing is written unless all hold.
        let mut trial = streams.clone();
        Self::write_locked(&mut trial, items, checks)?;
        if !may_put(keys.get(&record.key), record, None) {
            return Err(StoreError::KeyTaken);
        }
        *streams = trial;
        keys.insert(record.key.clone(), record.clone());
        Ok(())
    }

    async fn key_record(&self, key: &str) -> Result<Option<KeyRecord>, StoreError> {
        Ok(self.keys.lock().unwrap_or_else(|p| p.into_inner()).get(key).cloned())
    }

    async fn put_key_record(&self, record: &KeyRecord, replacing: Option<&str>) -> Result<bool, StoreError> {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if !may_put(keys.get(&record.key), record, replacing) {
            return Ok(false);
        }
        keys.insert(record.key.clone(), record.clone());
        Ok(true)
    }

    async fn release_key(&self, key: &str, claim: &str) -> Result<(), StoreError> {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if matches!(keys.get(key), Some(KeyRecord { state: KeyState::Running { claim: c }, .. }) if c == claim) {
            keys.remove(key);
        }
        Ok(())
    }

    async fn read_stream(&self, stream: &StreamKey, from_seq: u64) -> Result<Vec<StoredEvent>, StoreError> {
        let streams = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        Ok(streams
            .get(&stream.to_string())
            .map(|s| s.range(from_seq..).map(|(_, e)| e.clone()).collect())
            .unwrap_or_default())
    }
}
