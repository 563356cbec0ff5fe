//! The local stack measured end to end (`make bench`): the whole stack of `sentinel dev` on
//! ephemeral loopback ports, requests signed with SigV4 as the SDKs sign them, bounded loops.
//!
//! Figures (written to `target/bench/figures.json`, section `stack`):
//! - vend latency through the gateway, and the floor ratio: each vend is paired with the same
//!   STS AssumeRole against the emulated STS plus the same three-event TransactWriteItems made
//!   directly with the SDK, interleaved in one run; the ratio is the median of per-pair ratios,
//!   at the gateway and at the handler (`tvm::handle` in-process with the stack's adapters);
//! - the authorizer's decision latency (handler with the stack's adapters);
//! - projection lag: vend committed → session view visible through the stream poller;
//! - revoke → first denied call: ≥ 1,000 trials, each checking that the first `/credentials`
//!   call after the revoke answers is denied;
//! - ledger cost: DynamoDB read and write requests per allowed vend, per denied vend and per
//!   authorizer call, counted by an SDK interceptor on every request sent (retries included);
//! - export lag: vends at a sustained 50/s, each event from its commit until an audit consumer
//!   (a rule on every ledger event → an SQS queue, read as fast as it fills) receives it; then a
//!   burst of 2,000 events written at once, drained to the consumer (events/s), and the lag of
//!   the first vend after it.
//!
//! `SENTINEL_BENCH_ONLY=<section>[,<section>…]` (vend, cost, authorizer, projection, revoke,
//! export) runs only those sections, for work on one of them; `make bench` runs them all.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, ensure, Context, Result};
use aws_credential_types::Credentials;
use aws_lambda_events::apigw::{ApiGatewayV2CustomAuthorizerV2Request, ApiGatewayV2httpRequest};
use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use chrono::Utc;
use devstack::figures::{self, latency, median, round3};
use devstack::identities::{KeyEntry, KeyRegistry, KEYS_FILE};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;
use ledger::event::{AccessDecided, CredentialsIssued, CredentialsRequested};
use ledger::store::dynamo::to_item;
use ledger::{Actor, Basis, Effect, Event, NewEvent, SessionId, StoredEvent, StreamHead, StreamKey};
use projections::store::dynamo::DynamoViewStore;
use projections::ViewStore;
use serde_json::{json, Value};

/// Gateway vends per dev identity: under the TVM's default 100 per minute per principal.
const GATEWAY_VENDS_PER_IDENTITY: usize = 80;
/// The identities the dev policy allows, taken in turn.
const VENDERS: [&str; 3] = ["alice", "bob", "dana"];
const AUTHORIZER_CALLS: usize = 500;
const LAG_SAMPLES: usize = 80;
const REVOKE_TRIALS: usize = 1_000;
const COST_SAMPLES: usize = 50;
/// Sustained vend rate of the export-lag run, and how long it lasts.
const EXPORT_VENDS_PER_SECOND: u64 = 50;
const EXPORT_SECONDS: usize = 20;
/// Events written at once (vend-shaped transactions of three) for the drain figure.
const BURST_EVENTS: usize = 2_000;
/// The audit consumer's queue and rule (every ledger event).
const AUDIT_QUEUE: &str = "sentinel-bench-audit";
const AUDIT_RULE: &str = "sentinel-bench-every-event";

/// Whether `SENTINEL_BENCH_ONLY` (comma-separated section names) selects `section`; unset
/// selects every section.
fn selected(section: &str) -> bool {
    std::env::var("SENTINEL_BENCH_ONLY").map_or(true, |only| only.split(',').any(|s| s.trim() == section))
}

/// `SENTINEL_BENCH_QUICK=1` divides every loop by 10: a smoke run of the harness, not figures.
fn scaled(n: usize) -> usize {
    if std::env::var_os("SENTINEL_BENCH_QUICK").is_some() {
        (n / 10).max(1)
    } else {
        n
    }
}

fn main() -> Result<()> {
    // `cargo bench` passes `--bench`; this harness takes no options.
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let figures = runtime.block_on(run())?;
    println!("{}", serde_json::to_string_pretty(&figures)?);
    figures::record("stack", figures)?;
    println!("stack figures written to {}", figures::figures_path().display());
    Ok(())
}

async fn run() -> Result<Value> {
    let dir = devstack::workspace_root().join("target/bench").join(format!("stack-{}", SessionId::generate()));
    let stack = cli::dev::start(cli::dev::DevOptions::ephemeral(&dir)).await.context("cannot start the local stack")?;
    let result = measure(&stack).await;
    stack.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Endpoints, keys and clients of the running stack.
struct Bench {
    url: String,
    http: HttpClient<HttpConnector, Full<Bytes>>,
    keys: KeyRegistry,
    region: String,
    ledger_table: String,
    /// DynamoDB through the request counter, for the in-process handlers.
    counter: Counter,
    tvm: Arc<tvm::Deps>,
    authorizer: authorizer::Deps,
    views: DynamoViewStore,
    /// The floor's clients: the same SDK calls the TVM makes, nothing else.
    sts: aws_sdk_sts::Client,
    dynamodb: aws_sdk_dynamodb::Client,
    role_arn: String,
    /// moto (EventBridge, SQS) and the stack's bus, for the audit consumer.
    moto: aws_config::SdkConfig,
    bus: String,
}

async fn measure(stack: &cli::dev::LocalStack) -> Result<Value> {
    let env: BTreeMap<&str, &str> = stack.env().iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let var = |name: &str| env.get(name).map(|v| v.to_string()).with_context(|| format!("the stack exports no {name}"));
    let dynamodb_url = var("AWS_ENDPOINT_URL_DYNAMODB")?;
    let sts_url = var("AWS_ENDPOINT_URL_STS")?;
    let counter = Counter::default();
    let counted_sdk = devstack::local_sdk_config(&dynamodb_url);
    let counted = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&counted_sdk).interceptor(counter.clone()).build(),
    );
    let moto = devstack::local_sdk_config(&sts_url);
    let ledger_table = var(edge::config::LEDGER_TABLE.name())?;
    let views_table = var(edge::config::VIEWS_TABLE.name())?;
    // The TVM as its Lambda wires it, on the stack's emulators, with the DynamoDB client counted
    // and a rate limit that does not get in the way of bounded loops.
    use edge::config::{LEDGER_TABLE, RATE_LIMIT_REQUESTS, VIEWS_TABLE};
    let lambda_env = |name: &str| match name {
        n if n == LEDGER_TABLE.name() => Some(ledger_table.clone()),
        n if n == VIEWS_TABLE.name() => Some(views_table.clone()),
        n if n == RATE_LIMIT_REQUESTS.name() => Some("1000000".into()),
        _ => None,
    };
    let config = tvm::config::TvmConfig::from_vars(lambda_env)?;
    let clients = tvm::wiring::Clients {
        dynamodb: counted.clone(),
        ssm: aws_sdk_ssm::Client::new(&moto),
        sts: aws_sdk_sts::Client::new(&moto),
        iam: aws_sdk_iam::Client::new(&moto),
    };
    let keys = KeyRegistry::read_json(&stack.dir().join(KEYS_FILE))?;
    let mut tvm = tvm::wiring::deps(&clients, &config).await?;
    // dana signs in through the stack's identity role: its role id is the first part of her
    // user id, as the stack's own TVM resolves it from the role ARN.
    let dana = keys.by_profile("dana").context("no dev identity dana")?;
    let role_id = dana.user_id.split_once(':').map(|(id, _)| id.to_owned()).context("dana is not a role session")?;
    tvm.identity.identity_role_ids.insert(role_id);
    let tvm = Arc::new(tvm);
    let authorizer = authorizer::deps(&counted, &authorizer::Config::from_vars(lambda_env)?);
    let dev_policy = std::fs::read_to_string(devstack::workspace_root().join("examples/policies/dev.yaml"))?;
    let role_arn = ledger::policy::PolicyDocument::parse(&dev_policy, None)?.role_arn.to_string();
    let bench = Bench {
        url: stack.url().to_owned(),
        http: HttpClient::builder(TokioExecutor::new()).build_http(),
        keys,
        region: var("AWS_REGION")?,
        ledger_table: ledger_table.clone(),
        counter,
        tvm,
        authorizer,
        views: DynamoViewStore::new(devstack::dynamodb_client(&dynamodb_url), &views_table),
        sts: aws_sdk_sts::Client::new(&moto),
        dynamodb: devstack::dynamodb_client(&dynamodb_url),
        role_arn,
        moto: devstack::local_sdk_config(&var("AWS_ENDPOINT_URL_SQS")?),
        bus: var("SENTINEL_EVENT_BUS")?,
    };

    let mut figures = serde_json::Map::new();
    let mut timed = serde_json::Map::new();
    let sections: [(&str, &str); 6] = [
        ("vend", "vend floor ratio"),
        ("cost", "ledger cost"),
        ("authorizer", "authorizer"),
        ("projection", "projection lag"),
        ("export", "export lag"),
        // Last: every revoke sets the exporter and the enforcer to work in the background.
        ("revoke", "revoke trials"),
    ];
    for (section, what) in sections {
        if !selected(section) {
            continue;
        }
        eprintln!("stack: {what}…");
        let started = Instant::now();
        let (key, value) = match section {
            "vend" => ("vend", floor_ratio(&bench).await?),
            "cost" => ("ledger_cost", ledger_cost(&bench).await?),
            "authorizer" => ("authorizer", authorizer_latency(&bench).await?),
            "projection" => ("projection_lag", projection_lag(&bench).await?),
            "export" => ("export", export_lag(&bench).await?),
            _ => ("revoke_then_first_call", revoke_trials(&bench).await?),
        };
        figures.insert(key.to_owned(), value);
        timed.insert(section.to_owned(), json!(round3(started.elapsed().as_secs_f64())));
    }
    figures.insert("section_seconds".to_owned(), Value::Object(timed));
    Ok(Value::Object(figures))
}

/// Interleaved triples (gateway vend, handler vend, floor), rotating which goes first.
async fn floor_ratio(bench: &Bench) -> Result<Value> {
    // Warm-up: connections, the policy cache, the first `PolicyPublished`.
    for name in VENDERS {
        bench.gateway_vend(name).await?;
        bench.handler_vend(name).await?;
        bench.floor().await?;
    }
    let (mut gateway, mut handler, mut floor) = (Vec::new(), Vec::new(), Vec::new());
    let (mut gateway_ratios, mut handler_ratios) = (Vec::new(), Vec::new());
    for i in 0..scaled(GATEWAY_VENDS_PER_IDENTITY) * VENDERS.len() {
        let name = VENDERS[i % VENDERS.len()];
        let mut taken = [Duration::ZERO; 3];
        for step in 0..3 {
            let which = (i + step) % 3;
            let started = Instant::now();
            match which {
                0 => bench.gateway_vend(name).await?,
                1 => bench.handler_vend(name).await.map(drop)?,
                _ => bench.floor().await?,
            }
            taken[which] = started.elapsed();
        }
        gateway.push(taken[0]);
        handler.push(taken[1]);
        floor.push(taken[2]);
        gateway_ratios.push(taken[0].as_secs_f64() / taken[2].as_secs_f64());
        handler_ratios.push(taken[1].as_secs_f64() / taken[2].as_secs_f64());
    }
    Ok(json!({
        "gateway": latency(&gateway),
        "handler": latency(&handler),
        "floor_sts_assume_role_plus_transact_write_3": latency(&floor),
        "floor_ratio_gateway_median": round3(median(&gateway_ratios)),
        "floor_ratio_handler_median": round3(median(&handler_ratios)),
        "pairs": gateway_ratios.len(),
    }))
}

/// DynamoDB requests per allowed vend, denied vend and authorizer call, in steady state (the
/// policy cached, `PolicyPublished` already recorded).
async fn ledger_cost(bench: &Bench) -> Result<Value> {
    bench.handler_vend("alice").await?;
    bench.handler_vend_status("mallory").await?;
    let per = |counts: BTreeMap<String, u64>| {
        let (mut reads, mut writes) = (0, 0);
        for (operation, n) in &counts {
            if is_write(operation) {
                writes += n;
            } else {
                reads += n;
            }
        }
        let n = scaled(COST_SAMPLES) as f64;
        let operations: BTreeMap<String, f64> =
            counts.iter().map(|(k, v)| (k.clone(), round3(*v as f64 / n))).collect();
        json!({ "reads": round3(reads as f64 / n), "writes": round3(writes as f64 / n), "by_operation": operations })
    };
    bench.counter.take();
    let mut sessions = Vec::new();
    for _ in 0..scaled(COST_SAMPLES) {
        sessions.push(bench.handler_vend("alice").await?);
    }
    let allowed = per(bench.counter.take());
    for _ in 0..scaled(COST_SAMPLES) {
        let status = bench.handler_vend_status("mallory").await?;
        ensure!(status == 403, "mallory's vend answered {status}, not 403");
    }
    let denied = per(bench.counter.take());
    wait_projected(bench, &sessions).await?;
    bench.counter.take();
    for (id, token) in &sessions {
        ensure!(bench.authorize(token).await, "session {id} was not allowed");
    }
    let authorizer = per(bench.counter.take());
    Ok(json!({
        "allowed_vend": allowed,
        "denied_vend": denied,
        "authorizer_call_projected_session": authorizer,
        "method": "SDK interceptor counting every DynamoDB request sent by the handlers, by X-Amz-Target",
    }))
}

async fn authorizer_latency(bench: &Bench) -> Result<Value> {
    let mut sessions = Vec::new();
    for _ in 0..20 {
        sessions.push(bench.handler_vend("bob").await?);
    }
    wait_projected(bench, &sessions).await?;
    let mut samples = Vec::with_capacity(AUTHORIZER_CALLS);
    for i in 0..scaled(AUTHORIZER_CALLS) {
        let (_, token) = &sessions[i % sessions.len()];
        let started = Instant::now();
        let allowed = bench.authorize(token).await;
        samples.push(started.elapsed());
        ensure!(allowed, "a live session was denied");
    }
    Ok(json!({ "handler_with_stack_adapters": latency(&samples) }))
}

/// Vend committed (the handler returned) → the session view is readable.
async fn projection_lag(bench: &Bench) -> Result<Value> {
    let mut samples = Vec::with_capacity(LAG_SAMPLES);
    for _ in 0..scaled(LAG_SAMPLES) {
        let (id, _) = bench.handler_vend("alice").await?;
        let committed = Instant::now();
        let stream = StreamKey::Session(id.parse()?);
        loop {
            if bench.views.projection(&stream).await?.is_some() {
                break;
            }
            if committed.elapsed() > Duration::from_secs(10) {
                bail!("session {id} was not projected within 10 s");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        samples.push(committed.elapsed());
    }
    Ok(latency(&samples))
}

/// Vend, revoke through the gateway, then the first `/credentials` call through the gateway
/// (its authorizer) must be denied — every time.
async fn revoke_trials(bench: &Bench) -> Result<Value> {
    let (mut denied, mut allowed) = (0usize, 0usize);
    let mut first_call = Vec::with_capacity(REVOKE_TRIALS);
    let mut view_projected_before_revoke = 0usize;
    for i in 0..scaled(REVOKE_TRIALS) {
        let name = VENDERS[i % VENDERS.len()];
        let (id, token) = bench.handler_vend(name).await?;
        if bench.views.projection(&StreamKey::Session(id.parse()?)).await?.is_some() {
            view_projected_before_revoke += 1;
        }
        let (status, body) =
            bench.gateway_signed(name, "POST", &format!("/sessions/{id}/revoke"), br#"{"reason":"bench"}"#).await?;
        ensure!(status == 200, "revoke of {id} answered {status}: {body}");
        let started = Instant::now();
        let (status, _) = bench.gateway_plain("GET", "/credentials", &[("authorization", &token)]).await?;
        first_call.push(started.elapsed());
        if status == 403 {
            denied += 1;
        } else {
            allowed += 1;
        }
    }
    Ok(json!({
        "trials": scaled(REVOKE_TRIALS),
        "first_call_denied": denied,
        "first_call_not_denied": allowed,
        "trials_with_view_projected_before_revoke": view_projected_before_revoke,
        "first_denied_call_latency": latency(&first_call),
    }))
}

/// Export lag at a sustained 50 vends/s, the drain of a 2,000-event burst, and the first vend
/// after the burst, all observed by an audit consumer of the bus.
async fn export_lag(bench: &Bench) -> Result<Value> {
    let consumer = AuditConsumer::subscribe(bench).await?;

    // Sustained: one vend every 20 ms (each its own task, as concurrent callers are), for
    // EXPORT_SECONDS; every event of each vend is timed from the vend's commit.
    let vends = scaled(EXPORT_SECONDS * EXPORT_VENDS_PER_SECOND as usize);
    let committed: Arc<Mutex<BTreeMap<String, Instant>>> = Arc::default();
    let mut tick = tokio::time::interval(Duration::from_millis(1000 / EXPORT_VENDS_PER_SECOND));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..vends {
        tick.tick().await;
        let (tvm, event) = (bench.tvm.clone(), bench.vend_event(VENDERS[i % VENDERS.len()])?);
        let committed = committed.clone();
        tasks.spawn(async move {
            let response = tvm::handle(&tvm, event).await;
            let at = Instant::now();
            let id = response.headers.get("x-sentinel-session-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
            match (response.status_code, id) {
                (200, Some(id)) => {
                    committed.lock().unwrap_or_else(|p| p.into_inner()).insert(format!("SESSION#{id}"), at);
                    Ok(())
                }
                (status, _) => Err(anyhow::anyhow!("a vend under load answered {status}")),
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    let offered = started.elapsed();
    let committed = std::mem::take(&mut *committed.lock().unwrap_or_else(|p| p.into_inner()));
    let sustained = consumer.lags(&committed, 3, Duration::from_secs(120)).await?;

    // Burst: vend-shaped transactions written back to back, straight to the ledger.
    let burst_vends = scaled(BURST_EVENTS) / 3;
    let mut burst = BTreeMap::new();
    let burst_started = Instant::now();
    for _ in 0..burst_vends {
        let session = SessionId::generate();
        bench.write_vend_events(session).await?;
        burst.insert(format!("SESSION#{session}"), Instant::now());
    }
    let written = burst_started.elapsed();
    let (id, _) = bench.handler_vend("alice").await?;
    let after = BTreeMap::from([(format!("SESSION#{id}"), Instant::now())]);
    let drained = consumer.lags(&burst, 3, Duration::from_secs(300)).await?;
    let last_received = consumer.last_received(&burst).context("no burst event was received")?;
    let drain_seconds = (last_received - burst_started).as_secs_f64();
    let first_after = consumer.lags(&after, 3, Duration::from_secs(300)).await?;
    consumer.stop().await;
    Ok(json!({
        "sustained": {
            "vends": vends,
            "offered_vends_per_second": round3(vends as f64 / offered.as_secs_f64()),
            "events": sustained.len(),
            "commit_to_consumer": latency(&sustained),
        },
        "burst": {
            "events": burst_vends * 3,
            "written_in_seconds": round3(written.as_secs_f64()),
            "drained_in_seconds": round3(drain_seconds),
            "drained_events_per_second": round3((burst_vends * 3) as f64 / drain_seconds),
            "commit_to_consumer": latency(&drained),
            "first_vend_after_burst_to_consumer": latency(&first_after),
        },
        "consumer": "rule {source: [sentinel.ledger]} on the stack's bus → SQS queue, ReceiveMessage (10, long poll 1 s) + DeleteMessageBatch in a loop",
    }))
}

/// An audit consumer of the stack's bus: every ledger event through a rule to an SQS queue,
/// received as fast as the queue fills; records when each (stream, seq) arrived.
struct AuditConsumer {
    received: Arc<Mutex<BTreeMap<(String, u64), Instant>>>,
    task: tokio::task::JoinHandle<()>,
}

impl AuditConsumer {
    async fn subscribe(bench: &Bench) -> Result<Self> {
        let events = aws_sdk_eventbridge::Client::new(&bench.moto);
        let sqs = aws_sdk_sqs::Client::new(&bench.moto);
        let queue_url = sqs.create_queue().queue_name(AUDIT_QUEUE).send().await?.queue_url.context("no queue URL")?;
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await?
            .attributes
            .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn).cloned())
            .context("no queue ARN")?;
        let pattern = json!({"source": [exporter::SOURCE]});
        events.put_rule().name(AUDIT_RULE).event_bus_name(&bench.bus).event_pattern(pattern.to_string()).send().await?;
        let target = aws_sdk_eventbridge::types::Target::builder().id("audit").arn(arn).build()?;
        events.put_targets().rule(AUDIT_RULE).event_bus_name(&bench.bus).targets(target).send().await?;
        let received: Arc<Mutex<BTreeMap<(String, u64), Instant>>> = Arc::default();
        let sink = received.clone();
        let task = tokio::spawn(async move {
            loop {
                let got = sqs
                    .receive_message()
                    .queue_url(&queue_url)
                    .max_number_of_messages(10)
                    .wait_time_seconds(1)
                    .send()
                    .await;
                let Ok(got) = got else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let at = Instant::now();
                let mut handled = Vec::new();
                for (i, message) in got.messages().iter().enumerate() {
                    let detail =
                        message.body().and_then(|b| serde_json::from_str::<Value>(b).ok()).map(|e| e["detail"].clone());
                    if let Some((stream, seq)) =
                        detail.and_then(|d| Some((d["stream"].as_str()?.to_owned(), d["seq"].as_u64()?)))
                    {
                        sink.lock().unwrap_or_else(|p| p.into_inner()).entry((stream, seq)).or_insert(at);
                    }
                    if let Some(receipt) = message.receipt_handle() {
                        handled.push(
                            aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                                .id(i.to_string())
                                .receipt_handle(receipt)
                                .build(),
                        );
                    }
                }
                let handled: Vec<_> = handled.into_iter().filter_map(Result::ok).collect();
                if !handled.is_empty() {
                    let _ = sqs.delete_message_batch().queue_url(&queue_url).set_entries(Some(handled)).send().await;
                }
            }
        });
        Ok(AuditConsumer { received, task })
    }

    /// Waits until seqs 1..=`events` of every stream in `committed` arrived (or `within` has
    /// passed: an error), then returns each event's commit → receipt time.
    async fn lags(
        &self,
        committed: &BTreeMap<String, Instant>,
        events: u64,
        within: Duration,
    ) -> Result<Vec<Duration>> {
        let deadline = Instant::now() + within;
        loop {
            let missing = {
                let received = self.received.lock().unwrap_or_else(|p| p.into_inner());
                committed
                    .keys()
                    .flat_map(|s| (1..=events).map(move |q| (s.clone(), q)))
                    .filter(|k| !received.contains_key(k))
                    .count()
            };
            if missing == 0 {
                break;
            }
            ensure!(Instant::now() < deadline, "{missing} events had not reached the audit consumer after {within:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let received = self.received.lock().unwrap_or_else(|p| p.into_inner());
        Ok(committed
            .iter()
            .flat_map(|(s, at)| (1..=events).map(move |q| (s, q, at)))
            .filter_map(|(s, q, at)| received.get(&(s.clone(), q)).map(|got| got.saturating_duration_since(*at)))
            .collect())
    }

    /// When the last event of these streams arrived.
    fn last_received(&self, streams: &BTreeMap<String, Instant>) -> Option<Instant> {
        let received = self.received.lock().unwrap_or_else(|p| p.into_inner());
        received.iter().filter(|((s, _), _)| streams.contains_key(s)).map(|(_, at)| *at).max()
    }

    async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

async fn wait_projected(bench: &Bench, sessions: &[(String, String)]) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    for (id, _) in sessions {
        let stream = StreamKey::Session(id.parse()?);
        while bench.views.projection(&stream).await?.is_none() {
            ensure!(Instant::now() < deadline, "sessions were not projected within 30 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    Ok(())
}

impl Bench {
    fn key(&self, name: &str) -> Result<&KeyEntry> {
        self.keys.by_profile(name).with_context(|| format!("no dev identity {name}"))
    }

    /// A signed vend through the gateway.
    async fn gateway_vend(&self, name: &str) -> Result<()> {
        let (status, body) = self.gateway_signed(name, "GET", "/?profile=dev&duration=900", b"").await?;
        ensure!(status == 200, "gateway vend as {name} answered {status}: {body}");
        Ok(())
    }

    async fn gateway_signed(&self, name: &str, method: &str, target: &str, body: &[u8]) -> Result<(u16, String)> {
        let key = self.key(name)?;
        let url = format!("{}{target}", self.url);
        let identity =
            Credentials::new(&key.access_key_id, &key.secret_access_key, key.session_token.clone(), None, "bench")
                .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("execute-api")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()?
            .into();
        let content_type = [("content-type", "application/json")];
        let headers: &[(&str, &str)] = if body.is_empty() { &[] } else { &content_type };
        let signable = SignableRequest::new(method, &url, headers.iter().copied(), SignableBody::Bytes(body))?;
        let (instructions, _) = sign(signable, &params)?.into_parts();
        let mut all: Vec<(String, String)> = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        all.extend(instructions.headers().map(|(k, v)| (k.to_owned(), v.to_owned())));
        let refs: Vec<(&str, &str)> = all.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.send(method, &url, &refs, body).await
    }

    async fn gateway_plain(&self, method: &str, target: &str, headers: &[(&str, &str)]) -> Result<(u16, String)> {
        self.send(method, &format!("{}{target}", self.url), headers, b"").await
    }

    async fn send(&self, method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Result<(u16, String)> {
        let mut request = hyper::Request::builder().method(method).uri(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = self.http.request(request.body(Full::new(Bytes::copy_from_slice(body)))?).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }

    /// A vend through `tvm::handle` with the stack's adapters; (session id, session token).
    async fn handler_vend(&self, name: &str) -> Result<(String, String)> {
        let response = tvm::handle(&self.tvm, self.vend_event(name)?).await;
        ensure!(response.status_code == 200, "handler vend as {name} answered {}", response.status_code);
        let header = |h: &str| {
            response.headers.get(h).and_then(|v| v.to_str().ok()).map(str::to_owned).context("no session header")
        };
        Ok((header("x-sentinel-session-id")?, header("x-sentinel-session-token")?))
    }

    async fn handler_vend_status(&self, name: &str) -> Result<i64> {
        Ok(tvm::handle(&self.tvm, self.vend_event(name)?).await.status_code)
    }

    /// The payload-2.0 event the gateway makes of a signed `GET /?profile=dev&duration=900`.
    fn vend_event(&self, name: &str) -> Result<ApiGatewayV2httpRequest> {
        let key = self.key(name)?;
        let event = json!({
            "version": "2.0", "routeKey": "GET /", "rawPath": "/", "rawQueryString": "profile=dev&duration=900",
            "headers": {}, "isBase64Encoded": false,
            "requestContext": {
                "accountId": key.account_id, "apiId": "bench", "domainName": "localhost", "domainPrefix": "localhost",
                "requestId": SessionId::generate().to_string(), "routeKey": "GET /", "stage": "$default",
                "time": "", "timeEpoch": 0,
                "http": {"method": "GET", "path": "/", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "bench"},
                "authorizer": {"iam": {
                    "accessKey": key.access_key_id, "accountId": key.account_id, "callerId": key.caller_id,
                    "principalOrgId": null, "userArn": key.principal_arn, "userId": key.user_id,
                }},
            },
        });
        Ok(serde_json::from_value(event)?)
    }

    async fn authorize(&self, token: &str) -> bool {
        let mut event = ApiGatewayV2CustomAuthorizerV2Request::default();
        event.headers.insert("authorization", token.parse().expect("a token is a valid header value"));
        authorizer::handle(&self.authorizer, event).await.is_authorized
    }

    /// The floor of one vend: AssumeRole as the TVM calls it, then the three events of an
    /// allowed vend in one TransactWriteItems, straight through the SDK.
    async fn floor(&self) -> Result<()> {
        let session = SessionId::generate();
        let name = format!("sentinel-{session}");
        let items = vend_items(session)?;
        let tag = |k: &str, v: &str| aws_sdk_sts::types::Tag::builder().key(k).value(v).build();
        self.sts
            .assume_role()
            .role_arn(&self.role_arn)
            .role_session_name(&name)
            .source_identity(&name)
            .duration_seconds(900)
            .tags(tag("SentinelSessionId", &session.to_string())?)
            .tags(tag("SentinelUser", "alice")?)
            .tags(tag("SentinelProfile", "dev")?)
            .transitive_tag_keys("SentinelSessionId")
            .transitive_tag_keys("SentinelUser")
            .transitive_tag_keys("SentinelProfile")
            .send()
            .await?;
        self.transact(session, items).await
    }

    /// The three events of an allowed vend written in one TransactWriteItems, as the TVM
    /// writes them (no STS call).
    async fn write_vend_events(&self, session: SessionId) -> Result<()> {
        self.transact(session, vend_items(session)?).await
    }

    async fn transact(
        &self,
        session: SessionId,
        items: Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>>,
    ) -> Result<()> {
        let mut actions = Vec::with_capacity(items.len());
        for item in items {
            let put = Put::builder()
                .table_name(&self.ledger_table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(sk)")
                .build()?;
            actions.push(TransactWriteItem::builder().put(put).build());
        }
        self.dynamodb
            .transact_write_items()
            .set_transact_items(Some(actions))
            .client_request_token(session.to_string())
            .send()
            .await?;
        Ok(())
    }
}

/// The three events of an allowed vend, sealed and encoded as the ledger stores them.
fn vend_items(
    session: SessionId,
) -> Result<Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>>> {
    let now = Utc::now();
    let alice: ledger::PrincipalArn = "arn:aws:iam::123456789012:user/alice".parse()?;
    let name = format!("sentinel-{session}");
    let events: [Event; 3] = [
        CredentialsRequested {
            principal: alice.clone(),
            user_id: Some("AIDABENCHALICE".into()),
            profile: "dev".parse()?,
            requested_duration_seconds: Some(900),
            reason: None,
        }
        .into(),
        AccessDecided {
            effect: Effect::Allow,
            rule: Some("developers".into()),
            reason: "development team".into(),
            basis: Basis::Policy,
            policy_hash: Some("ab".repeat(32)),
        }
        .into(),
        CredentialsIssued {
            role_arn: "arn:aws:iam::123456789012:role/SentinelProtected-Dev".parse()?,
            source_identity: name.clone(),
            role_session_name: name,
            access_key_id: "ASIABENCHFLOOR".into(),
            expiration: now + chrono::Duration::minutes(15),
            session_ends_at: now + chrono::Duration::hours(8),
            token_hash: "cd".repeat(32),
        }
        .into(),
    ];
    let actor = Actor::Principal(alice);
    let events: Vec<NewEvent> =
        events.into_iter().map(|e| NewEvent::new(e, actor.clone(), "bench-floor", now)).collect();
    let sealed: Vec<StoredEvent> =
        StoredEvent::seal(&StreamKey::Session(session), &StreamHead::genesis(), &events).unwrap();
    Ok(sealed.iter().map(to_item).collect::<Result<_, _>>()?)
}

fn is_write(operation: &str) -> bool {
    matches!(operation, "PutItem" | "UpdateItem" | "DeleteItem" | "TransactWriteItems" | "BatchWriteItem")
}

/// Counts every DynamoDB request sent (each attempt), by operation (`X-Amz-Target`).
#[derive(Debug, Clone, Default)]
struct Counter(Arc<Mutex<BTreeMap<String, u64>>>);

impl Counter {
    /// The counts so far, resetting them.
    fn take(&self) -> BTreeMap<String, u64> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Intercept for Counter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let target = context.request().headers().get("x-amz-target").unwrap_or("unknown");
        let operation = target.rsplit('.').next().unwrap_or(target).to_owned();
        *self.0.lock().unwrap_or_else(|p| p.into_inner()).entry(operation).or_default() += 1;
        Ok(())
    }
}
