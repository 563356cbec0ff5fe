//! `sentinel dev`: the whole local stack on 127.0.0.1 (DESIGN §7), wired from the same handler
//! functions the Lambdas run. This module is the composition root: the gateway, the stream
//! pollers and the bus poller only carry events; every decision is made by the handlers.
//!
//! Parts: DynamoDB + Streams (embedded, SQLite file so the ledger and views survive a restart),
//! moto (STS, SSM, IAM, EventBridge, SQS; re-seeded at every start), the tables, the example
//! policies and admins in SSM, the protected roles and dev identities in IAM, the local gateway
//! (SigV4, payload 2.0, the revocation authorizer on `/credentials`), the projector and the
//! exporter fed from the ledger stream every 250 ms, and the enforcer fed from an EventBridge
//! rule on `SessionRevoked` through an SQS queue.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use async_trait::async_trait;
use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_lambda_events::apigw::{
    ApiGatewayV2CustomAuthorizerSimpleResponse, ApiGatewayV2CustomAuthorizerV2Request, ApiGatewayV2httpRequest,
    ApiGatewayV2httpResponse,
};
use aws_sdk_dynamodb::config::{Credentials, SharedCredentialsProvider};
use devstack::gateway::{self, Auth, Backend, GatewayConfig, Route};
use devstack::stream_poller::{PollerHandle, StreamPoller};
use devstack::{env_file, identities, DynamoEmulator, Moto, Storage};
use edge::config::{Env, EVENT_BUS, IDEMPOTENCY_TABLE, IDENTITY_ROLES, LEDGER_TABLE, VIEWS_TABLE};
use ledger::policy::PolicyDocument;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The queue the enforcer's bus rule delivers to (locally; in AWS the rule invokes the Lambda).
pub const ENFORCER_QUEUE: &str = "sentinel-enforcer";
/// The bus rule that routes `SessionRevoked` to the enforcer.
pub const ENFORCER_RULE: &str = "sentinel-session-revoked";

/// Where the stack keeps its files and which ports it takes; each has an environment override.
#[derive(Debug, Clone)]
pub struct DevOptions {
    /// `.sentinel-dev/` of the repository (`SENTINEL_DEV_DIR`).
    pub dir: PathBuf,
    /// Keep the ledger and views in `dir/ledger.sqlite` (else in memory, for tests).
    pub persistent: bool,
    /// DynamoDB port (`SENTINEL_DEV_DYNAMODB_PORT`, default 8000; 0 picks a free one).
    pub dynamodb_port: u16,
    /// moto port (`SENTINEL_DEV_MOTO_PORT`, default 5000; 0 picks a free one).
    pub moto_port: u16,
    /// Gateway port (`SENTINEL_DEV_GATEWAY_PORT`, default 8787; 0 picks a free one).
    pub gateway_port: u16,
    /// `AWS_REGION`, default `us-east-1`.
    pub region: String,
    /// [`LEDGER_TABLE`] (`SENTINEL_LEDGER_TABLE`, default `sentinel-ledger`).
    pub ledger_table: String,
    /// [`VIEWS_TABLE`] (`SENTINEL_VIEWS_TABLE`, default `sentinel-views`).
    pub views_table: String,
    /// [`IDEMPOTENCY_TABLE`] (`SENTINEL_IDEMPOTENCY_TABLE`, default `sentinel-idempotency`).
    pub idempotency_table: String,
    /// [`EVENT_BUS`] (`SENTINEL_EVENT_BUS`, default `sentinel-ledger`).
    pub event_bus: String,
    /// The policies pushed to SSM at start (`*.yaml`, one per profile).
    pub policies_dir: PathBuf,
    /// The admins document pushed to `/sentinel/admins`.
    pub admins_file: PathBuf,
}

impl Default for DevOptions {
    fn default() -> Self {
        let root = devstack::workspace_root();
        DevOptions {
            dir: root.join(".sentinel-dev"),
            persistent: true,
            dynamodb_port: 8000,
            moto_port: 5000,
            gateway_port: 8787,
            region: devstack::DEFAULT_REGION.to_owned(),
            ledger_table: LEDGER_TABLE.default().into(),
            views_table: VIEWS_TABLE.default().into(),
            idempotency_table: IDEMPOTENCY_TABLE.default().into(),
            event_bus: EVENT_BUS.default().into(),
            policies_dir: root.join("examples/policies"),
            admins_file: root.join("examples/admins.yaml"),
        }
    }
}

impl DevOptions {
    /// The environment the stack's Lambdas would see: its tables, bus and identity roles; every
    /// other name takes its default.
    fn lambda_env(&self, identity_role_arns: &[String]) -> impl Fn(&str) -> Option<String> {
        let set = [
            (LEDGER_TABLE.name(), self.ledger_table.clone()),
            (VIEWS_TABLE.name(), self.views_table.clone()),
            (IDEMPOTENCY_TABLE.name(), self.idempotency_table.clone()),
            (EVENT_BUS.name(), self.event_bus.clone()),
            (IDENTITY_ROLES.name(), identity_role_arns.join(",")),
        ];
        move |name| set.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone())
    }

    /// The defaults with the environment's overrides.
    pub fn from_env() -> Result<Self> {
        let mut options = DevOptions::default();
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let port = |name: &str, default: u16| -> Result<u16> {
            var(name).map_or(Ok(default), |v| v.parse().with_context(|| format!("{name}={v:?} is not a port number")))
        };
        if let Some(dir) = var("SENTINEL_DEV_DIR") {
            options.dir = PathBuf::from(dir);
        }
        options.dynamodb_port = port("SENTINEL_DEV_DYNAMODB_PORT", options.dynamodb_port)?;
        options.moto_port = port("SENTINEL_DEV_MOTO_PORT", options.moto_port)?;
        options.gateway_port = port("SENTINEL_DEV_GATEWAY_PORT", options.gateway_port)?;
        options.region = var("AWS_REGION").unwrap_or(options.region);
        // The names and their validation are the functions' own (edge::config).
        let env = Env::new(&var);
        options.ledger_table = env.table_name(&LEDGER_TABLE)?;
        options.views_table = env.table_name(&VIEWS_TABLE)?;
        options.idempotency_table = env.table_name(&IDEMPOTENCY_TABLE)?;
        options.event_bus = env.event_bus(&EVENT_BUS)?;
        Ok(options)
    }

    /// Every port ephemeral, storage in memory, files under `dir`: for tests.
    pub fn ephemeral(dir: &Path) -> Self {
        DevOptions {
            dir: dir.to_owned(),
            persistent: false,
            dynamodb_port: 0,
            moto_port: 0,
            gateway_port: 0,
            ..DevOptions::default()
        }
    }
}

/// A running local stack.
pub struct LocalStack {
    url: String,
    env: Vec<(String, String)>,
    dir: PathBuf,
    tasks: Vec<JoinHandle<()>>,
    pollers: Vec<PollerHandle>,
    gateway_stop: Option<oneshot::Sender<()>>,
    gateway: Option<gateway::RunningGateway>,
    moto: Option<Moto>,
    dynamodb: Option<DynamoEmulator>,
}

impl LocalStack {
    /// The API's base URL (`SENTINEL_TVM_URL`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// What `.sentinel-dev/env` exports.
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// The stack's directory (credentials, keys, env file, data).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stops every part it started and removes the env file.
    pub async fn stop(mut self) {
        let _ = std::fs::remove_file(self.dir.join("env"));
        // Each finishes and checkpoints the batch in hand: a restart republishes nothing.
        for poller in self.pollers.drain(..) {
            poller.stop().await;
        }
        for task in self.tasks.drain(..) {
            task.abort();
        }
        if let Some(stop) = self.gateway_stop.take() {
            let _ = stop.send(());
        }
        if let Some(gateway) = self.gateway.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), gateway.wait()).await;
        }
        if let Some(moto) = self.moto.take() {
            moto.stop().await;
        }
        if let Some(dynamodb) = self.dynamodb.take() {
            dynamodb.stop().await;
        }
    }
}

impl Drop for LocalStack {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        if let Some(stop) = self.gateway_stop.take() {
            let _ = stop.send(());
        }
    }
}

/// SDK configuration for an emulator endpoint, with the stack's own throwaway credentials.
fn sdk(endpoint: &str, region: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "AKIDSENTINELLOCAL",
            "sentinel-local-stack",
            None,
            None,
            "sentinel-dev",
        )))
        .retry_config(RetryConfig::standard().with_max_attempts(5))
        .build()
}

/// The gateway's backend: the TVM for every route, the revocation authorizer for CUSTOM ones.
struct Handlers {
    tvm: Arc<tvm::Deps>,
    authorizer: Arc<authorizer::Deps>,
}

#[async_trait]
impl Backend for Handlers {
    async fn invoke(&self, event: ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse {
        tvm::handle(&self.tvm, event).await
    }

    async fn authorize(
        &self,
        event: ApiGatewayV2CustomAuthorizerV2Request,
    ) -> ApiGatewayV2CustomAuthorizerSimpleResponse {
        authorizer::handle(&self.authorizer, event).await
    }
}

/// The TVM's route table as the gateway takes it.
fn routes() -> Vec<Route> {
    tvm::routes::ROUTES
        .iter()
        .map(|r| {
            let auth = match r.auth {
                tvm::routes::Auth::None => Auth::None,
                tvm::routes::Auth::Iam => Auth::Iam,
                tvm::routes::Auth::Custom => Auth::Custom,
            };
            Route::new(r.method, r.path, auth)
        })
        .collect()
}

/// Starts the stack and returns once every part is ready and the env file is written.
pub async fn start(options: DevOptions) -> Result<LocalStack> {
    std::fs::create_dir_all(&options.dir).with_context(|| format!("cannot create {}", options.dir.display()))?;
    let env_path = options.dir.join("env");
    let _ = std::fs::remove_file(&env_path);

    let storage = if options.persistent { Storage::File(options.dir.join("ledger.sqlite")) } else { Storage::Memory };
    let dynamodb = DynamoEmulator::start(storage, ([127, 0, 0, 1], options.dynamodb_port).into())
        .await
        .context("set SENTINEL_DEV_DYNAMODB_PORT to use another port")?;
    let moto = Moto::start(options.moto_port).await.context("set SENTINEL_DEV_MOTO_PORT to use another port")?;
    let dynamo_sdk = sdk(dynamodb.endpoint(), &options.region);
    let moto_sdk = sdk(moto.endpoint(), &options.region);

    let ddb = aws_sdk_dynamodb::Client::new(&dynamo_sdk);
    devstack::ensure_ledger_table(&ddb, &options.ledger_table).await?;
    devstack::ensure_views_table(&ddb, &options.views_table).await?;
    devstack::ensure_idempotency_table(&ddb, &options.idempotency_table).await?;

    let iam = aws_sdk_iam::Client::new(&moto_sdk);
    let seeded = identities::seed(&iam).await.context("cannot create the dev identities in the emulated IAM")?;
    seeded.registry.write_files(&options.dir).context("cannot write the dev credentials")?;
    push_policies(&options, &aws_sdk_ssm::Client::new(&moto_sdk), &iam).await?;
    let queue_url = route_revocations(&options, &moto_sdk).await?;

    // The handlers, built by the constructors their Lambdas' mains call, from the configuration
    // their mains read (the stack's table and bus names), against the emulators.
    let vars = options.lambda_env(&seeded.identity_role_arns());
    let sts = aws_sdk_sts::Client::new(&moto_sdk);
    let tvm_clients = tvm::wiring::Clients {
        dynamodb: ddb.clone(),
        ssm: aws_sdk_ssm::Client::new(&moto_sdk),
        sts: sts.clone(),
        iam: iam.clone(),
    };
    let tvm_deps = Arc::new(tvm::wiring::deps(&tvm_clients, &tvm::config::TvmConfig::from_vars(&vars)?).await?);
    let authorizer_deps = Arc::new(authorizer::deps(&ddb, &authorizer::Config::from_vars(&vars)?));
    let projector_deps = Arc::new(projector::deps(&ddb, &projector::Config::from_vars(&vars)?));
    let eventbridge = aws_sdk_eventbridge::Client::new(&moto_sdk);
    let exporter_deps = Arc::new(exporter::deps(&eventbridge, &exporter::Config::from_vars(&vars)?));
    let enforcer_clients = enforcer::wiring::Clients { dynamodb: ddb.clone(), iam: iam.clone(), sts };
    let enforcer_config = enforcer::config::Config::from_vars(&vars)?;
    let enforcer_deps = Arc::new(enforcer::wiring::deps(&enforcer_clients, &enforcer_config).await?);

    // Lambda's event source mappings and the bus rule's target, locally.
    let streams = devstack::dynamodb_streams_client(dynamodb.endpoint());
    let checkpoints = options.persistent.then(|| options.dir.join("checkpoints"));
    let projector_poller = StreamPoller::new(streams.clone(), &options.ledger_table)
        .checkpointed_in(checkpoints.as_deref(), "projector")?
        .spawn(move |event| {
            let deps = projector_deps.clone();
            async move { projector::handle(&deps, event).await }
        });
    let exporter_poller = StreamPoller::new(streams, &options.ledger_table)
        .checkpointed_in(checkpoints.as_deref(), "exporter")?
        .spawn(move |event| {
            let deps = exporter_deps.clone();
            async move { exporter::handle(&deps, event).await }
        });
    let enforcer_task = tokio::spawn(feed_enforcer(aws_sdk_sqs::Client::new(&moto_sdk), queue_url, enforcer_deps));

    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let backend: Arc<dyn Backend> = Arc::new(Handlers { tvm: tvm_deps, authorizer: authorizer_deps });
    let gateway = gateway::serve(
        GatewayConfig::new(options.gateway_port, options.region.clone()),
        seeded.registry.clone(),
        routes(),
        backend,
        async move {
            let _ = stop_rx.await;
        },
    )
    .await
    .context("set SENTINEL_DEV_GATEWAY_PORT to use another port")?;
    let url = gateway.url().trim_end_matches('/').to_owned();

    let credentials_file = options.dir.join(identities::CREDENTIALS_FILE);
    let credentials_file = std::fs::canonicalize(&credentials_file).unwrap_or(credentials_file);
    let mut env: Vec<(String, String)> = vec![
        ("SENTINEL_TVM_URL".into(), url.clone()),
        ("AWS_REGION".into(), options.region.clone()),
        ("AWS_ENDPOINT_URL".into(), moto.endpoint().to_owned()),
        ("AWS_ENDPOINT_URL_DYNAMODB".into(), dynamodb.endpoint().to_owned()),
        ("AWS_ENDPOINT_URL_DYNAMODB_STREAMS".into(), dynamodb.endpoint().to_owned()),
    ];
    for service in ["STS", "SSM", "IAM", "EVENTBRIDGE", "SQS"] {
        env.push((format!("AWS_ENDPOINT_URL_{service}"), moto.endpoint().to_owned()));
    }
    env.extend([
        ("AWS_SHARED_CREDENTIALS_FILE".into(), credentials_file.display().to_string()),
        (LEDGER_TABLE.name().into(), options.ledger_table.clone()),
        (VIEWS_TABLE.name().into(), options.views_table.clone()),
        (IDEMPOTENCY_TABLE.name().into(), options.idempotency_table.clone()),
        (EVENT_BUS.name().into(), options.event_bus.clone()),
    ]);
    let pairs: Vec<(&str, String)> = env.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    env_file::write_atomically(&env_path, &env_file::render(&pairs))?;

    Ok(LocalStack {
        url,
        env,
        dir: options.dir.clone(),
        tasks: vec![enforcer_task],
        pollers: vec![projector_poller, exporter_poller],
        gateway_stop: Some(stop_tx),
        gateway: Some(gateway),
        moto: Some(moto),
        dynamodb: Some(dynamodb),
    })
}

/// Pushes every example policy and the admins document to SSM, and creates each policy's
/// protected role in IAM (trusting the account, as the TVM's role is not emulated).
async fn push_policies(options: &DevOptions, ssm: &aws_sdk_ssm::Client, iam: &aws_sdk_iam::Client) -> Result<()> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(&options.policies_dir)
        .with_context(|| format!("cannot read {}", options.policies_dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    for path in files {
        let yaml = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let policy =
            PolicyDocument::parse(&yaml, None).with_context(|| format!("{} is not a valid policy", path.display()))?;
        put_parameter(ssm, &format!("{}/{}", edge::config::POLICY_ROOT.default(), policy.profile), &yaml).await?;
        let role = policy.role_arn.as_str().rsplit('/').next().unwrap_or_default().to_owned();
        let trust = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"AWS": format!("arn:aws:iam::{}:root", identities::DEV_ACCOUNT_ID)},
                "Action": ["sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"],
                "Condition": {"StringLike": {"sts:SourceIdentity": "sentinel*"}}
            }]
        });
        let created = iam
            .create_role()
            .role_name(&role)
            .assume_role_policy_document(trust.to_string())
            .max_session_duration(3600)
            .send()
            .await;
        if let Err(e) = created {
            let exists = e.as_service_error().is_some_and(|s| s.is_entity_already_exists_exception());
            if !exists {
                bail!("cannot create the protected role {role}: {}", aws_sdk_iam::error::DisplayErrorContext(&e));
            }
        }
    }
    let admins = std::fs::read_to_string(&options.admins_file)
        .with_context(|| format!("cannot read {}", options.admins_file.display()))?;
    ledger::policy::AdminsDocument::parse(&admins)
        .with_context(|| format!("{} is invalid", options.admins_file.display()))?;
    put_parameter(ssm, edge::config::ADMINS_PARAMETER.default(), &admins).await
}

async fn put_parameter(ssm: &aws_sdk_ssm::Client, name: &str, value: &str) -> Result<()> {
    ssm.put_parameter()
        .name(name)
        .value(value)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .overwrite(true)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("cannot write {name}: {}", aws_sdk_ssm::error::DisplayErrorContext(&e)))?;
    Ok(())
}

/// Creates the bus, the enforcer's queue and the `SessionRevoked` rule; returns the queue URL.
async fn route_revocations(options: &DevOptions, moto: &SdkConfig) -> Result<String> {
    let events = aws_sdk_eventbridge::Client::new(moto);
    let sqs = aws_sdk_sqs::Client::new(moto);
    if let Err(e) = events.create_event_bus().name(&options.event_bus).send().await {
        let exists = e.as_service_error().is_some_and(|s| s.is_resource_already_exists_exception());
        if !exists {
            bail!("cannot create the event bus: {}", aws_sdk_eventbridge::error::DisplayErrorContext(&e));
        }
    }
    let queue_url = sqs
        .create_queue()
        .queue_name(ENFORCER_QUEUE)
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!("cannot create the enforcer queue: {}", aws_sdk_sqs::error::DisplayErrorContext(&e))
        })?
        .queue_url
        .context("no queue URL")?;
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!("cannot read the enforcer queue: {}", aws_sdk_sqs::error::DisplayErrorContext(&e))
        })?
        .attributes
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn).cloned())
        .context("no queue ARN")?;
    let pattern = serde_json::json!({"source": [exporter::SOURCE], "detail-type": [enforcer::DETAIL_TYPE]});
    events
        .put_rule()
        .name(ENFORCER_RULE)
        .event_bus_name(&options.event_bus)
        .event_pattern(pattern.to_string())
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot create the revocation rule: {}",
                aws_sdk_eventbridge::error::DisplayErrorContext(&e)
            )
        })?;
    let target = aws_sdk_eventbridge::types::Target::builder()
        .id("enforcer")
        .arn(queue_arn)
        .build()
        .map_err(|e| anyhow::anyhow!("invalid rule target: {e}"))?;
    events.put_targets().rule(ENFORCER_RULE).event_bus_name(&options.event_bus).targets(target).send().await.map_err(
        |e| {
            anyhow::anyhow!("cannot target the enforcer queue: {}", aws_sdk_eventbridge::error::DisplayErrorContext(&e))
        },
    )?;
    Ok(queue_url)
}

/// Delivers the bus rule's messages to the enforcer's entry point ([`enforcer::invoke`], what
/// its Lambda runs per event), one at a time (its concurrency is 1). A message is deleted once
/// the enforcer settles it; an error is what Lambda would retry, so the message stays.
async fn feed_enforcer(sqs: aws_sdk_sqs::Client, queue_url: String, deps: Arc<enforcer::Deps>) {
    loop {
        let received =
            sqs.receive_message().queue_url(&queue_url).max_number_of_messages(10).wait_time_seconds(0).send().await;
        let messages = match received {
            Ok(out) => out.messages.unwrap_or_default(),
            Err(e) => {
                tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "cannot read the enforcer queue");
                Vec::new()
            }
        };
        for message in messages {
            let settled = match message.body().map(serde_json::from_str::<serde_json::Value>) {
                // The enforcer logs its outcome; only a retryable failure comes back.
                Some(Ok(event)) => enforcer::invoke(&deps, event).await.is_ok(),
                _ => {
                    tracing::error!("the enforcer queue holds a message that is not JSON; dropping it");
                    true
                }
            };
            if let (true, Some(receipt)) = (settled, message.receipt_handle()) {
                if let Err(e) = sqs.delete_message().queue_url(&queue_url).receipt_handle(receipt).send().await {
                    // The enforcer is idempotent: a redelivery only rewrites the same policy.
                    tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "cannot delete a handled enforcer message");
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Refuses a second stack on the same directory; removed again on a clean stop.
struct PidFile(PathBuf);

impl PidFile {
    fn claim(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join("dev.pid");
        if let Ok(pid) = std::fs::read_to_string(&path) {
            let pid = pid.trim();
            if !pid.is_empty() && Path::new("/proc").join(pid).exists() {
                bail!("the local stack is already running (pid {pid}); stop it with Ctrl-C in its terminal or `kill {pid}`");
            }
        }
        std::fs::write(&path, std::process::id().to_string())?;
        Ok(PidFile(path))
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `sentinel dev`: starts the stack, prints where everything is, and runs until SIGINT or
/// SIGTERM, then stops every part it started.
pub async fn run(options: DevOptions) -> Result<()> {
    let _pid = PidFile::claim(&options.dir)?;
    let stack = start(options).await?;
    println!("Sentinel local stack is up.");
    println!("  API (SigV4, payload 2.0)  {}", stack.url());
    for (key, value) in stack.env() {
        if key.starts_with("AWS_ENDPOINT_URL_") && (key.ends_with("DYNAMODB") || key.ends_with("STS")) {
            println!("  {key:<34} {value}");
        }
    }
    println!("  dev identities            alice bob carol oncall secops mallory dana imposter");
    println!("In another shell:");
    println!("  source {}", stack.dir().join("env").display());
    println!("  AWS_PROFILE=alice sentinel whoami --profile dev");
    println!("Stop with Ctrl-C.");
    wait_for_stop().await?;
    println!("Stopping the local stack…");
    stack.stop().await;
    Ok(())
}

async fn wait_for_stop() -> Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    Ok(())
}
