//! The enforcer's cost per revocation with a long history (`make bench-scale`): the same
//! revocations enforced against a views table without old revocations and then with
//! `BENCH_REVOCATIONS` (default 100,000) revoked sessions of the same role, all older than
//! the revocation horizon. The enforcer runs with its DynamoDB adapters on the in-process
//! emulator (a SQLite file, as `make dev` keeps it) and the in-memory role policies (IAM is
//! not what grows with history). Every DynamoDB request it sends is counted by an SDK
//! interceptor. For comparison, the read the enforcer made before the revocations index —
//! every revoked session through the status index — is timed once on the same table.
//!
//! Figures go to `target/bench/figures.json`, section `enforcer`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use chrono::TimeDelta;
use devstack::figures::{self, latency, round3};
use devstack::{DynamoEmulator, Storage};
use enforcer::policy::{POLICY_BUDGET, REVOCATION_HORIZON};
use enforcer::roles::memory::MemoryRolePolicies;
use enforcer::{Applied, Deps, FixedClock};
use ledger::decide::session::SessionStatus;
use ledger::event::{CredentialsIssued, Effect};
use ledger::store::dynamo::DynamoEventStore;
use ledger::store::EventStore;
use ledger::{SessionId, StoredEvent, StreamKey};
use projections::store::dynamo::{projection_item, DynamoViewStore};
use projections::testkit::{actor, at, decided, requested, revoked, LedgerBuilder};
use projections::{Projection, SessionIndex, View, ViewStore};
use serde_json::{json, Value};

const ACCOUNT: &str = "111122223333";
const ROLE: &str = "SentinelProtected-Dev";
const LEDGER_TABLE: &str = "sentinel-ledger";
const VIEWS_TABLE: &str = "sentinel-views";
/// Revocations enforced (and timed) at each history size.
const SAMPLES: usize = 50;
/// Items per BatchWriteItem (DynamoDB's limit), and requests in flight while seeding.
const BATCH: usize = 25;
const SEED_IN_FLIGHT: usize = 4;

fn main() -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let figures = runtime.block_on(run())?;
    println!("{}", serde_json::to_string_pretty(&figures)?);
    figures::record("enforcer", figures)?;
    println!("enforcer figures written to {}", figures::figures_path().display());
    Ok(())
}

/// `BENCH_REVOCATIONS`, else 100,000 (a tenth under `SENTINEL_BENCH_QUICK`).
fn old_revocations() -> Result<usize> {
    match std::env::var("BENCH_REVOCATIONS") {
        Ok(v) => v.parse().with_context(|| format!("BENCH_REVOCATIONS={v:?} is not a count")),
        Err(_) if std::env::var_os("SENTINEL_BENCH_QUICK").is_some() => Ok(10_000),
        Err(_) => Ok(100_000),
    }
}

async fn run() -> Result<Value> {
    let old = old_revocations()?;
    let dir = devstack::workspace_root().join("target/bench").join(format!("enforcer-{}", SessionId::generate()));
    std::fs::create_dir_all(&dir)?;
    let result = measure(&dir, old).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn measure(dir: &std::path::Path, old: usize) -> Result<Value> {
    let emulator = DynamoEmulator::start(Storage::File(dir.join("ledger.sqlite")), "127.0.0.1:0".parse()?).await?;
    let plain = devstack::dynamodb_client(emulator.endpoint());
    devstack::ensure_ledger_table(&plain, LEDGER_TABLE).await?;
    devstack::ensure_views_table(&plain, VIEWS_TABLE).await?;
    let counter = Counter::default();
    let counted = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&devstack::local_sdk_config(emulator.endpoint()))
            .interceptor(counter.clone())
            .build(),
    );
    let mut world = World {
        builder: LedgerBuilder::new(),
        ledger: DynamoEventStore::new(plain.clone(), LEDGER_TABLE),
        views: DynamoViewStore::new(plain.clone(), VIEWS_TABLE),
        counted_views: Arc::new(DynamoViewStore::new(counted.clone(), VIEWS_TABLE)),
        counted_ledger: Arc::new(DynamoEventStore::new(counted, LEDGER_TABLE)),
        counter,
    };

    eprintln!("enforcer: {SAMPLES} revocations without history…");
    let (empty, empty_requests) = world.revocations(SAMPLES).await?;
    eprintln!("enforcer: seeding {old} old revocations…");
    let seeding = Instant::now();
    seed_old_revocations(&plain, &mut world.builder, old).await?;
    let seeded_in = seeding.elapsed();
    eprintln!("enforcer: {SAMPLES} revocations with {old} old ones…");
    let (full, full_requests) = world.revocations(SAMPLES).await?;

    eprintln!("enforcer: the unbounded read it replaced…");
    world.counter.take();
    let started = Instant::now();
    let every_revoked = world.counted_views.sessions(&SessionIndex::Status(SessionStatus::Revoked), None).await?;
    let unbounded = started.elapsed();
    let unbounded_requests = world.counter.take();
    emulator.stop().await;

    let p50 = |samples: &[Duration]| latency(samples)["p50_ms"].as_f64().unwrap_or(f64::NAN);
    Ok(json!({
        "old_revocations": old,
        "seeded_in_seconds": round3(seeded_in.as_secs_f64()),
        "per_revocation_without_history": latency(&empty),
        "per_revocation_with_old_revocations": latency(&full),
        "p50_ratio_with_to_without": round3(p50(&full) / p50(&empty)),
        "dynamodb_requests_per_revocation_without_history": per_revocation(&empty_requests),
        "dynamodb_requests_per_revocation_with_old_revocations": per_revocation(&full_requests),
        "replaced_read_every_revoked_session_by_status": {
            "rows": every_revoked.len(),
            "dynamodb_requests": unbounded_requests.values().sum::<u64>(),
            "seconds": round3(unbounded.as_secs_f64()),
        },
        "method": "enforcer::handle with DynamoViewStore + DynamoEventStore on dynoxide (SQLite file), MemoryRolePolicies; requests counted by an SDK interceptor",
    }))
}

fn per_revocation(counts: &BTreeMap<String, u64>) -> Value {
    let by_operation: BTreeMap<&String, f64> =
        counts.iter().map(|(k, v)| (k, round3(*v as f64 / SAMPLES as f64))).collect();
    json!({ "total": round3(counts.values().sum::<u64>() as f64 / SAMPLES as f64), "by_operation": by_operation })
}

struct World {
    builder: LedgerBuilder,
    ledger: DynamoEventStore,
    views: DynamoViewStore,
    counted_views: Arc<DynamoViewStore>,
    counted_ledger: Arc<DynamoEventStore>,
    counter: Counter,
}

impl World {
    /// `n` sessions vended, revoked and projected, each enforced (timed, requests counted) an
    /// hour and more after the previous one, so each finds only itself live.
    async fn revocations(&mut self, n: usize) -> Result<(Vec<Duration>, BTreeMap<String, u64>)> {
        let mut samples = Vec::with_capacity(n);
        let mut requests: BTreeMap<String, u64> = BTreeMap::new();
        for _ in 0..n {
            self.builder.clock += REVOCATION_HORIZON.num_minutes() + 1;
            let (id, events) = vend(&mut self.builder);
            let revocation = self.builder.append(&StreamKey::Session(id), revoked("secops"), actor("secops"));
            for e in events.iter().chain(std::iter::once(&revocation)) {
                self.ledger.write(std::slice::from_ref(e), &[], &e.event_id).await?;
                projections::project(&self.views, &self.ledger, e).await?;
            }
            let roles = Arc::new(MemoryRolePolicies::new());
            roles.create_role(ROLE);
            let deps = Deps {
                views: self.counted_views.clone(),
                ledger: self.counted_ledger.clone(),
                roles,
                account: ACCOUNT.to_owned(),
                clock: Arc::new(FixedClock(at(self.builder.clock) + TimeDelta::seconds(1))),
                budget: POLICY_BUDGET,
            };
            let event = bus_event(&revocation)?;
            self.counter.take();
            let started = Instant::now();
            let done = enforcer::handle(&deps, event).await?;
            samples.push(started.elapsed());
            anyhow::ensure!(done.applied == Applied::Written, "the revocation of {id} was not written");
            anyhow::ensure!(done.identities.len() == 1, "{} identities denied, not 1", done.identities.len());
            for (operation, count) in self.counter.take() {
                *requests.entry(operation).or_default() += count;
            }
        }
        Ok((samples, requests))
    }
}

/// A session vended on the bench role; (id, its three events).
fn vend(builder: &mut LedgerBuilder) -> (SessionId, Vec<StoredEvent>) {
    let id = SessionId::generate();
    let stream = StreamKey::Session(id);
    let name = format!("sentinel-{id}");
    let issued = CredentialsIssued {
        role_arn: format!("arn:aws:iam::{ACCOUNT}:role/{ROLE}").parse().unwrap_or_else(|_| unreachable!()),
        source_identity: name.clone(),
        role_session_name: name,
        access_key_id: "ASIABENCHKEY".into(),
        expiration: at(builder.clock + 60),
        session_ends_at: at(builder.clock + 480),
        token_hash: "ab".repeat(32),
    };
    let events = vec![
        builder.append(&stream, requested("alice", "dev"), actor("alice")),
        builder.append(&stream, decided(Effect::Allow), actor("alice")),
        builder.append(&stream, issued, actor("alice")),
    ];
    (id, events)
}

/// The EventBridge event the exporter's bus delivers for `event`.
fn bus_event(event: &StoredEvent) -> Result<aws_lambda_events::eventbridge::EventBridgeEvent<Value>> {
    let raw = json!({
        "version": "0", "id": format!("bus-{}", event.event_id), "detail-type": event.event_type,
        "source": enforcer::SOURCE, "account": ACCOUNT, "time": event.occurred_at, "region": "us-east-1",
        "resources": [], "detail": serde_json::to_value(event)?,
    });
    Ok(enforcer::parse_event(raw)?)
}

/// `n` revoked sessions of the bench role, revoked well before the first sample's horizon:
/// one real session folded into its view, copied with fresh ids and revocation times, and
/// written 25 to a BatchWriteItem.
async fn seed_old_revocations(client: &aws_sdk_dynamodb::Client, builder: &mut LedgerBuilder, n: usize) -> Result<()> {
    let mut template_builder = LedgerBuilder::new();
    let (id, mut events) = vend(&mut template_builder);
    events.push(template_builder.append(&StreamKey::Session(id), revoked("secops"), actor("secops")));
    let template = projections::fold_ledger(&events)
        .views
        .projections
        .remove(&StreamKey::Session(id).to_string())
        .context("the template session has a projection")?;
    // Revoked between two days and two hours before the first sample to come.
    let newest = at(builder.clock) - TimeDelta::hours(2);
    let mut in_flight = tokio::task::JoinSet::new();
    let mut next = 0;
    while next < n {
        let mut requests = Vec::with_capacity(BATCH);
        for i in next..(next + BATCH).min(n) {
            let item = projection_item(&old_copy(&template, newest - TimeDelta::seconds(i as i64))?)?;
            requests
                .push(WriteRequest::builder().put_request(PutRequest::builder().set_item(Some(item)).build()?).build());
        }
        next += requests.len();
        if in_flight.len() >= SEED_IN_FLIGHT {
            in_flight.join_next().await.context("a seeding task")???;
        }
        in_flight.spawn(batch_write(client.clone(), requests));
    }
    while let Some(done) = in_flight.join_next().await {
        done??;
    }
    Ok(())
}

async fn batch_write(client: aws_sdk_dynamodb::Client, requests: Vec<WriteRequest>) -> Result<()> {
    let mut pending = HashMap::from([(VIEWS_TABLE.to_owned(), requests)]);
    while !pending.is_empty() {
        let out = client.batch_write_item().set_request_items(Some(pending)).send().await?;
        pending = out.unprocessed_items.unwrap_or_default().into_iter().filter(|(_, v)| !v.is_empty()).collect();
    }
    Ok(())
}

/// `template` as another revoked session of the same role, revoked at `revoked_at`.
fn old_copy(template: &Projection, revoked_at: chrono::DateTime<chrono::Utc>) -> Result<Projection> {
    let mut copy = template.clone();
    let id = SessionId::generate();
    copy.stream = StreamKey::Session(id);
    let View::Session(view) = &mut copy.view else {
        anyhow::bail!("the template is not a session");
    };
    view.session_id = id;
    if let Some(issued) = view.issued.as_mut() {
        issued.source_identity = format!("sentinel-{id}");
        issued.role_session_name = issued.source_identity.clone();
        issued.expiration = revoked_at;
    }
    view.credentials_expire_at = Some(revoked_at);
    view.ended_at = Some(revoked_at);
    Ok(copy)
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
