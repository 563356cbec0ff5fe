//! The local stack shared by `make dev` and the integration tests: emulators on 127.0.0.1, the
//! tables, SDK configuration pointing at them, and the `.sentinel-dev/env` file.
//!
//! DynamoDB and its Streams run in-process (dynoxide on SQLite); STS, SSM, IAM, EventBridge and
//! SQS run in `moto_server` from the project's virtualenv. The product never knows: it is
//! configured through the standard AWS environment (`AWS_ENDPOINT_URL_<SERVICE>` …).

#![warn(missing_docs)]

pub mod env_file;
pub mod figures;
#[cfg(feature = "fuzz")]
pub mod fuzz;
pub mod gateway;
pub mod identities;
pub mod sigv4;
pub mod stream_poller;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The region every local client uses unless `AWS_REGION` says otherwise.
pub const DEFAULT_REGION: &str = "us-east-1";

/// Where the emulated DynamoDB keeps its data.
#[derive(Debug, Clone)]
pub enum Storage {
    /// Gone when the emulator stops (tests).
    Memory,
    /// A SQLite file that survives restarts (`make dev`).
    File(PathBuf),
}

/// The embedded DynamoDB + Streams emulator, serving HTTP on 127.0.0.1.
pub struct DynamoEmulator {
    endpoint: String,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl DynamoEmulator {
    /// Starts on an ephemeral port with in-memory storage (for tests).
    pub async fn start_ephemeral() -> Result<Self> {
        Self::start(Storage::Memory, "127.0.0.1:0".parse()?).await
    }

    /// Starts on `addr` with `storage`.
    pub async fn start(storage: Storage, addr: SocketAddr) -> Result<Self> {
        // In memory too through a path: a shared-cache URI (unique per emulator), so a second
        // connection can add the stream-record indexes; the database lives as long as
        // dynoxide's own connection.
        let location = match &storage {
            Storage::Memory => format!("file:sentinel-dynamodb-{}?mode=memory&cache=shared", ulid::Ulid::new()),
            Storage::File(path) => path.to_string_lossy().into_owned(),
        };
        let db = dynoxide::Database::new(&location)
            .map_err(|e| anyhow::anyhow!("cannot open the DynamoDB emulator's database: {e}"))?;
        index_stream_records(&location)?;
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} for the DynamoDB emulator (is the port taken?)"))?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let stopped = async move {
                let _ = rx.await;
            };
            if let Err(e) = dynoxide::server::serve_with_shutdown(listener, db, stopped).await {
                tracing::error!(error = %e, "DynamoDB emulator stopped");
            }
        });
        Ok(DynamoEmulator { endpoint, shutdown: Some(tx), task: Some(task) })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Stops serving and waits for open requests to finish.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }
}

impl Drop for DynamoEmulator {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Indexes the emulator's stream records by sequence number. dynoxide 3.2.0 keeps them in one
/// table without an index, so each `GetRecords`, `DescribeStream` and stream-enabled write
/// scans every record ever written: a ledger of 100,000 events made each poll and each append
/// cost milliseconds more. The expressions are exactly the ones its queries use (`CAST(...)`),
/// so SQLite's planner takes the index.
fn index_stream_records(location: &str) -> Result<()> {
    let db = rusqlite::Connection::open(location).with_context(|| format!("cannot open {location}"))?;
    db.busy_timeout(Duration::from_secs(5))?;
    db.execute_batch(STREAM_RECORD_INDEXES).with_context(|| format!("cannot index the stream records in {location}"))
}

const STREAM_RECORD_INDEXES: &str = "
    CREATE INDEX IF NOT EXISTS sentinel_stream_records_by_shard_seq
        ON _stream_records (table_name, shard_id, CAST(sequence_number AS INTEGER));
    CREATE INDEX IF NOT EXISTS sentinel_stream_records_by_table_seq
        ON _stream_records (table_name, CAST(sequence_number AS INTEGER));";

/// `moto_server` (STS, SSM, IAM, EventBridge, SQS) as a child process on 127.0.0.1.
pub struct Moto {
    endpoint: String,
    child: tokio::process::Child,
}

impl Moto {
    /// Starts `moto_server` on `port` (0 picks a free one) and waits until it answers.
    pub async fn start(port: u16) -> Result<Self> {
        let binary = moto_binary()?;
        let port = if port == 0 { free_port()? } else { port };
        let mut command = match std::env::var_os("SENTINEL_MOTO_SERVER") {
            Some(_) => tokio::process::Command::new(&binary),
            None => {
                let mut venv_python = tokio::process::Command::new(binary.with_file_name("python"));
                venv_python.args(["-c", MOTO_LAUNCHER]);
                venv_python
            }
        };
        // If this process dies without dropping the child (SIGKILL, a panic abort), the kernel
        // still stops moto: the stack never leaves an emulator behind.
        // SAFETY: prctl is async-signal-safe and touches only the child being spawned.
        #[allow(unsafe_code)] // the one reviewed exception to the workspace lint
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let child = command
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let endpoint = format!("http://127.0.0.1:{port}");
        let mut moto = Moto { endpoint, child };
        moto.wait_ready(port).await?;
        Ok(moto)
    }

    async fn wait_ready(&mut self, port: u16) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                bail!("moto_server exited with {status} before it was ready (is port {port} taken?)");
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("moto_server did not listen on port {port} within 60 s")
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Stops the child process.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// `moto_server` with moto's JSONPath compiles memoised (see the file): run by the
/// virtualenv's Python in place of `.venv/bin/moto_server`.
const MOTO_LAUNCHER: &str = include_str!("moto_server.py");

/// The `moto_server` of the project's virtualenv (`make venv`), or `SENTINEL_MOTO_SERVER`
/// (run as it is, without the launcher's memoisation).
pub fn moto_binary() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("SENTINEL_MOTO_SERVER") {
        return Ok(PathBuf::from(path));
    }
    let path = workspace_root().join(".venv/bin/moto_server");
    if !path.exists() {
        bail!("{} is missing: run `make venv` (or `make dev` / `make test`, which do it)", path.display());
    }
    Ok(path)
}

/// The repository root (this crate's parent directory).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// A port that was free a moment ago.
pub fn free_port() -> Result<u16> {
    let socket = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(socket.local_addr()?.port())
}

/// SDK configuration for a local emulator at `endpoint` with throwaway credentials.
///
/// Products read the same settings from the standard AWS environment; this exists so tests
/// can point clients at per-test emulators without touching the process environment.
pub fn local_sdk_config(endpoint: &str) -> SdkConfig {
    local_sdk_config_as(endpoint, Credentials::new("AKIDLOCALSTACK", "local-secret", None, None, "sentinel-devstack"))
}

/// Like [`local_sdk_config`] with the given credentials.
pub fn local_sdk_config_as(endpoint: &str, credentials: Credentials) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(DEFAULT_REGION))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(credentials))
        .retry_config(RetryConfig::standard().with_max_attempts(5))
        .build()
}

/// A DynamoDB client for a local emulator.
pub fn dynamodb_client(endpoint: &str) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&local_sdk_config(endpoint))
}

/// A table name no other test uses: `<prefix>-<ulid>`.
pub fn unique_table_name(prefix: &str) -> String {
    format!("{prefix}-{}", ulid::Ulid::new().to_string().to_lowercase())
}

/// Creates the ledger table unless it exists (a restarted `make dev` keeps its data).
pub async fn ensure_ledger_table(client: &aws_sdk_dynamodb::Client, table: &str) -> Result<()> {
    let exists = client.describe_table().table_name(table).send().await.is_ok();
    if !exists {
        ledger::store::dynamo::create_ledger_table(client, table)
            .await
            .with_context(|| format!("cannot create the ledger table {table}"))?;
    }
    Ok(())
}

/// Creates the views table unless it exists (a restarted `make dev` keeps its data).
pub async fn ensure_views_table(client: &aws_sdk_dynamodb::Client, table: &str) -> Result<()> {
    let exists = client.describe_table().table_name(table).send().await.is_ok();
    if !exists {
        projections::store::dynamo::create_views_table(client, table)
            .await
            .with_context(|| format!("cannot create the views table {table}"))?;
    }
    Ok(())
}

/// Creates the idempotency table unless it exists (a restarted `make dev` keeps its records).
pub async fn ensure_idempotency_table(client: &aws_sdk_dynamodb::Client, table: &str) -> Result<()> {
    let exists = client.describe_table().table_name(table).send().await.is_ok();
    if !exists {
        ledger::store::dynamo::create_idempotency_table(client, table)
            .await
            .with_context(|| format!("cannot create the idempotency table {table}"))?;
    }
    Ok(())
}

/// A DynamoDB Streams client for a local emulator.
pub fn dynamodb_streams_client(endpoint: &str) -> aws_sdk_dynamodbstreams::Client {
    aws_sdk_dynamodbstreams::Client::new(&local_sdk_config(endpoint))
}
