//! An in-memory `EventStore` for unit tests, with the same atomicity and conditions as DynamoDB.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{parse_stream, EventStore, StoreError, StreamCheck};
use crate::ids::StreamKey;
use crate::record::StoredEvent;

/// Streams kept in a map, keyed by the stream key's wire form.
#[derive(Debug, Default)]
pub struct MemoryEventStore {
    streams: Mutex<BTreeMap<String, BTreeMap<u64, StoredEvent>>>,
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

#[async_trait]
impl EventStore for MemoryEventStore {
    async fn write(&self, items: &[StoredEvent], checks: &[StreamCheck], _token: &str) -> Result<(), StoreError> {
        let mut streams = self.streams.lock().unwrap_or_else(|p| p.into_inner());
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

    async fn read_stream(&self, stream: &StreamKey, from_seq: u64) -> Result<Vec<StoredEvent>, StoreError> {
        let streams = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        Ok(streams
            .get(&stream.to_string())
            .map(|s| s.range(from_seq..).map(|(_, e)| e.clone()).collect())
            .unwrap_or_default())
    }
}
