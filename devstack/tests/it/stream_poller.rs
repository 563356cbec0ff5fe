//! The stream poller's checkpoints across restarts: the emulator on a SQLite file, the poller
//! started twice over the same data directory.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::dynamodb::Event;
use aws_lambda_events::streams::DynamoDbEventResponse;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use devstack::stream_poller::{StreamPoller, BATCH_SIZE};
use devstack::{DynamoEmulator, Storage};
use tokio::sync::Notify;

const TABLE: &str = "sentinel-ledger";

/// A data directory of its own, removed at the end.
struct DataDir(PathBuf);

impl DataDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("sentinel-poller-{}", ulid::Ulid::new()));
        std::fs::create_dir_all(&dir).unwrap();
        DataDir(dir)
    }

    fn database(&self) -> Storage {
        Storage::File(self.0.join("ledger.sqlite"))
    }

    fn checkpoints(&self) -> PathBuf {
        self.0.join("checkpoints").join("exporter.json")
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn emulator(dir: &DataDir) -> DynamoEmulator {
    DynamoEmulator::start(dir.database(), "127.0.0.1:0".parse().unwrap()).await.unwrap()
}

/// Puts items `pk = ITEM#<n>` for `n` in `range` (keys only: the poller carries any record).
async fn put_items(emulator: &DynamoEmulator, range: std::ops::Range<usize>) {
    let client = devstack::dynamodb_client(emulator.endpoint());
    devstack::ensure_ledger_table(&client, TABLE).await.unwrap();
    let all: Vec<usize> = range.collect();
    for chunk in all.chunks(25) {
        let requests = chunk
            .iter()
            .map(|n| {
                let put = PutRequest::builder()
                    .item("pk", AttributeValue::S(format!("ITEM#{n:05}")))
                    .item("sk", AttributeValue::N("1".into()))
                    .build()
                    .unwrap();
                WriteRequest::builder().put_request(put).build()
            })
            .collect();
        client.batch_write_item().request_items(TABLE, requests).send().await.unwrap();
    }
}

fn keys(event: &Event) -> Vec<String> {
    event
        .records
        .iter()
        .map(|r| match r.change.keys.get("pk") {
            Some(serde_dynamo::AttributeValue::S(pk)) => pk.clone(),
            other => panic!("a record without a string pk: {other:?}"),
        })
        .collect()
}

fn item_keys(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|n| format!("ITEM#{n:05}")).collect()
}

fn poller(emulator: &DynamoEmulator, checkpoints: &Path) -> StreamPoller {
    StreamPoller::new(devstack::dynamodb_streams_client(emulator.endpoint()), TABLE)
        .with_checkpoint_file(checkpoints)
        .unwrap()
}

/// Polls until a poll delivers nothing; returns every record key delivered, in order.
async fn drain(poller: &mut StreamPoller) -> Vec<String> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    loop {
        let sink = seen.clone();
        let mut handler = move |event: Event| {
            sink.lock().unwrap().extend(keys(&event));
            async { DynamoDbEventResponse::default() }
        };
        if poller.poll_once(&mut handler).await.unwrap() == 0 {
            break;
        }
    }
    let seen = seen.lock().unwrap().clone();
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_poller_over_the_same_data_dir_republishes_nothing() {
    let dir = DataDir::new();
    let first = emulator(&dir).await;
    put_items(&first, 0..15).await;
    assert_eq!(drain(&mut poller(&first, &dir.checkpoints())).await, item_keys(0..15));
    first.stop().await;

    // The emulator restarts on its file: same stream, same sequence numbers.
    let second = emulator(&dir).await;
    put_items(&second, 15..17).await;
    assert_eq!(drain(&mut poller(&second, &dir.checkpoints())).await, item_keys(15..17));
    // A third start with nothing new delivers nothing at all.
    assert_eq!(drain(&mut poller(&second, &dir.checkpoints())).await, Vec::<String>::new());
    second.stop().await;
}

/// A handler that records batches and holds the second one until released.
#[derive(Default)]
struct HoldSecondBatch {
    batches: Mutex<Vec<Vec<String>>>,
    holding: Notify,
    release: Notify,
}

impl HoldSecondBatch {
    async fn handle(self: Arc<Self>, event: Event) -> DynamoDbEventResponse {
        let n = {
            let mut batches = self.batches.lock().unwrap();
            batches.push(keys(&event));
            batches.len()
        };
        if n == 2 {
            self.holding.notify_one();
            self.release.notified().await;
        }
        DynamoDbEventResponse::default()
    }
}

fn spawn_holding(
    emulator: &DynamoEmulator,
    checkpoints: &Path,
) -> (Arc<HoldSecondBatch>, devstack::stream_poller::PollerHandle) {
    let handler = Arc::new(HoldSecondBatch::default());
    let h = handler.clone();
    let running = poller(emulator, checkpoints).spawn(move |event| h.clone().handle(event));
    (handler, running)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_finishes_the_batch_in_hand_and_a_restart_delivers_no_duplicate() {
    let dir = DataDir::new();
    let db = emulator(&dir).await;
    put_items(&db, 0..2 * BATCH_SIZE + 50).await;
    let (handler, running) = spawn_holding(&db, &dir.checkpoints());
    tokio::time::timeout(Duration::from_secs(30), handler.holding.notified()).await.expect("a second batch");
    // SIGINT: the stop waits for the batch in hand, which then completes.
    let stopping = tokio::spawn(running.stop());
    tokio::time::sleep(Duration::from_millis(50)).await;
    handler.release.notify_one();
    stopping.await.unwrap();
    let before: Vec<String> = handler.batches.lock().unwrap().concat();
    assert_eq!(before, item_keys(0..2 * BATCH_SIZE), "the third batch is not started once a stop is asked");

    let after = drain(&mut poller(&db, &dir.checkpoints())).await;
    assert_eq!(after, item_keys(2 * BATCH_SIZE..2 * BATCH_SIZE + 50), "every record exactly once overall");
    db.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_kill_at_most_the_batch_in_hand_is_delivered_again() {
    let dir = DataDir::new();
    let db = emulator(&dir).await;
    put_items(&db, 0..2 * BATCH_SIZE + 50).await;
    let (handler, running) = spawn_holding(&db, &dir.checkpoints());
    tokio::time::timeout(Duration::from_secs(30), handler.holding.notified()).await.expect("a second batch");
    // SIGKILL: the task dies inside the second batch, before its checkpoint.
    drop(running);
    let before: Vec<String> = handler.batches.lock().unwrap().concat();
    assert_eq!(before, item_keys(0..2 * BATCH_SIZE));

    let after = drain(&mut poller(&db, &dir.checkpoints())).await;
    assert_eq!(after, item_keys(BATCH_SIZE..2 * BATCH_SIZE + 50), "only the batch in hand comes again");
    db.stop().await;
}

#[tokio::test]
async fn the_emulators_stream_queries_use_the_sequence_number_indexes() {
    let dir = DataDir::new();
    let db = emulator(&dir).await;
    put_items(&db, 0..3).await;
    db.stop().await;
    let Storage::File(path) = dir.database() else { unreachable!() };
    let sqlite = rusqlite::Connection::open(path).unwrap();
    let plan = |sql: &str| -> String {
        let mut statement = sqlite.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = statement.query_map([], |row| row.get::<_, String>(3)).unwrap();
        rows.map(Result::unwrap).collect::<Vec<_>>().join("; ")
    };
    // dynoxide 3.2.0's own statements (GetRecords, DescribeStream, the next sequence number).
    let read = plan(
        "SELECT event_name FROM _stream_records WHERE table_name = 't' AND shard_id = 's' \
         AND CAST(sequence_number AS INTEGER) > 5 ORDER BY CAST(sequence_number AS INTEGER) ASC LIMIT 100",
    );
    assert!(read.contains("sentinel_stream_records_by_shard_seq"), "{read}");
    assert!(!read.contains("TEMP B-TREE"), "no sort: {read}");
    let next = plan(
        "SELECT COALESCE(MAX(CAST(sequence_number AS INTEGER)), 0) + 1 FROM _stream_records WHERE table_name = 't'",
    );
    assert!(next.contains("sentinel_stream_records_by_table_seq"), "{next}");
}
