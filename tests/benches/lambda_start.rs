//! Lambda start (`make bench`): process start → ready for the first invocation, for each of the
//! five release binaries, with their SDK clients built and their cold-start AWS calls made
//! (the TVM resolves its identity role through IAM, the enforcer asks STS who it is) against
//! the emulators. A minimal Lambda Runtime API in this harness times the spawn until the
//! binary's first `GET /2018-06-01/runtime/invocation/next`. Also the release binary sizes.
//!
//! Needs the release binaries in `target/bench/functions/`: `make bench-build` (which every
//! `make bench-*` part runs first) builds them in the same cargo invocation as the benches, so
//! they are linked once with the features the benches resolve, and copies them there. Figures
//! go to `target/bench/figures.json`, section `lambda`.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use devstack::figures::{self, latency, round3};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

const FUNCTIONS: [&str; 5] = ["tvm", "authorizer", "projector", "exporter", "enforcer"];
const STARTS: usize = 20;
const NEXT_PATH: &str = "/2018-06-01/runtime/invocation/next";

fn main() -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let figures = runtime.block_on(run())?;
    println!("{}", serde_json::to_string_pretty(&figures)?);
    figures::record("lambda", figures)?;
    println!("lambda figures written to {}", figures::figures_path().display());
    Ok(())
}

fn release_binary(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| devstack::workspace_root().join("target"));
    target.join("bench").join("functions").join(name)
}

async fn run() -> Result<Value> {
    for name in FUNCTIONS {
        if !release_binary(name).exists() {
            bail!(
                "{} is missing: run `make release-functions` first (`make bench` does)",
                release_binary(name).display()
            );
        }
    }
    let dynamodb = devstack::DynamoEmulator::start_ephemeral().await?;
    let moto = devstack::Moto::start(0).await?;
    let client = devstack::dynamodb_client(dynamodb.endpoint());
    devstack::ensure_ledger_table(&client, "sentinel-ledger").await?;
    devstack::ensure_views_table(&client, "sentinel-views").await?;
    let iam = aws_sdk_iam::Client::new(&devstack::local_sdk_config(moto.endpoint()));
    // An identity role trusts only its identity provider (the TVM refuses to start otherwise).
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::123456789012:saml-provider/AWSSSO_Bench_DO_NOT_DELETE"}, "Action": "sts:AssumeRoleWithSAML"}]});
    let role = iam
        .create_role()
        .role_name("AWSReservedSSO_Bench_0123456789abcdef")
        .path("/aws-reserved/sso.amazonaws.com/")
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .context("cannot create the identity role in moto")?;
    let role_arn = role.role().map(|r| r.arn().to_owned()).context("no role ARN")?;

    let api = RuntimeApi::start().await?;
    let mut functions = serde_json::Map::new();
    for name in FUNCTIONS {
        let binary = release_binary(name);
        let size = std::fs::metadata(&binary)?.len();
        let mut samples = Vec::with_capacity(STARTS);
        for _ in 0..STARTS {
            samples.push(api.time_start(&binary, name, &env(dynamodb.endpoint(), moto.endpoint(), &role_arn)).await?);
        }
        let mut entry = latency(&samples);
        entry["binary_bytes"] = json!(size);
        entry["binary_mib"] = json!(round3(size as f64 / (1024.0 * 1024.0)));
        functions.insert(name.to_owned(), entry);
    }
    moto.stop().await;
    dynamodb.stop().await;
    Ok(json!({
        "start_to_first_next": functions,
        "starts_per_function": STARTS,
        "method": "spawn of target/bench/functions/<function> (make release-functions) → its first GET /2018-06-01/runtime/invocation/next on a local Runtime API; AWS calls at cold start go to moto and the DynamoDB emulator on 127.0.0.1",
    }))
}

/// The environment Lambda gives a function, plus the emulators' endpoints and our settings.
fn env(dynamodb: &str, moto: &str, identity_role: &str) -> Vec<(String, String)> {
    [
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "AKIDLAMBDASTART"),
        ("AWS_SECRET_ACCESS_KEY", "lambda-start-secret"),
        ("AWS_SESSION_TOKEN", "lambda-start-token"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_ENDPOINT_URL", moto),
        ("AWS_ENDPOINT_URL_DYNAMODB", dynamodb),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench"),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "bench"),
        ("SENTINEL_LEDGER_TABLE", "sentinel-ledger"),
        ("SENTINEL_VIEWS_TABLE", "sentinel-views"),
        ("SENTINEL_EVENT_BUS", "sentinel-ledger"),
        ("SENTINEL_IDENTITY_ROLES", identity_role),
        ("RUST_LOG", "warn"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// A Runtime API that only reports when `invocation/next` is first asked for (and never
/// answers it: the function then sits ready, as in Lambda between invocations).
struct RuntimeApi {
    addr: String,
    nexts: tokio::sync::Mutex<mpsc::UnboundedReceiver<Instant>>,
}

impl RuntimeApi {
    async fn start() -> Result<RuntimeApi> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?.to_string();
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let tx = tx.clone();
                tokio::spawn(async move {
                    let mut buffer = vec![0u8; 8192];
                    let mut seen = 0;
                    while let Ok(n) = socket.read(&mut buffer[seen..]).await {
                        if n == 0 {
                            return;
                        }
                        seen += n;
                        let head = String::from_utf8_lossy(&buffer[..seen]);
                        if let Some(line) = head.lines().next().filter(|_| head.contains("\r\n")) {
                            if line.starts_with("GET ") && line.contains(NEXT_PATH) {
                                let _ = tx.send(Instant::now());
                                // Hold the long poll open until the process is killed.
                                let mut sink = [0u8; 1024];
                                while matches!(socket.read(&mut sink).await, Ok(n) if n > 0) {}
                            } else {
                                let _ = socket.write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n").await;
                            }
                            return;
                        }
                        if seen == buffer.len() {
                            return;
                        }
                    }
                });
            }
        });
        Ok(RuntimeApi { addr, nexts: tokio::sync::Mutex::new(rx) })
    }

    /// Spawns `binary`, waits for its first `next`, kills it; the time from spawn to `next`.
    async fn time_start(&self, binary: &PathBuf, name: &str, env: &[(String, String)]) -> Result<Duration> {
        let mut nexts = self.nexts.lock().await;
        while nexts.try_recv().is_ok() {}
        let mut command = tokio::process::Command::new(binary);
        command
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("AWS_LAMBDA_RUNTIME_API", &self.addr)
            .env("AWS_LAMBDA_FUNCTION_NAME", format!("sentinel-{name}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let spawned = Instant::now();
        let mut child = command.spawn().with_context(|| format!("cannot start {}", binary.display()))?;
        let ready = tokio::select! {
            next = tokio::time::timeout(Duration::from_secs(20), nexts.recv()) => next.ok().flatten(),
            status = child.wait() => {
                let mut stderr = String::new();
                if let Some(mut pipe) = child.stderr.take() {
                    let _ = pipe.read_to_string(&mut stderr).await;
                }
                bail!("{name} exited with {:?} before asking for an invocation: {stderr}", status.ok());
            }
        };
        let _ = child.kill().await;
        match ready {
            Some(at) => Ok(at.duration_since(spawned)),
            None => bail!("{name} did not ask for an invocation within 20 s"),
        }
    }
}
