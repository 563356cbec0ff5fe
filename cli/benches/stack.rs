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
//!   authorizer call, counted by an SDK interceptor on every request sent (retries included).

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
    };

    eprintln!("stack: vend floor ratio…");
    let floor = floor_ratio(&bench).await?;
    eprintln!("stack: ledger cost…");
    let cost = ledger_cost(&bench).await?;
    eprintln!("stack: authorizer…");
    let authorizer = authorizer_latency(&bench).await?;
    eprintln!("stack: projection lag…");
    let lag = projection_lag(&bench).await?;
    // Last: every revoke sets the exporter and the enforcer to work in the background.
    eprintln!("stack: revoke trials…");
    let revoke = revoke_trials(&bench).await?;
    Ok(json!({
        "vend": floor,
        "authorizer": authorizer,
        "projection_lag": lag,
        "revoke_then_first_call": revoke,
        "ledger_cost": cost,
    }))
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
