//! `make dev`: runs the local stack in the foreground until SIGINT or SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use devstack::{env_file, DynamoEmulator, Moto, Storage, DEFAULT_REGION};

/// Where everything lives and which ports to take; each has an environment override.
struct DevConfig {
    dir: PathBuf,
    dynamodb_port: u16,
    moto_port: u16,
    ledger_table: String,
    region: String,
}

impl DevConfig {
    fn from_env() -> Result<Self> {
        let port = |name: &str, default: u16| -> Result<u16> {
            match std::env::var(name) {
                Ok(v) => v.parse().with_context(|| format!("{name}={v:?} is not a port number")),
                Err(_) => Ok(default),
            }
        };
        Ok(DevConfig {
            dir: std::env::var_os("SENTINEL_DEV_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| devstack::workspace_root().join(".sentinel-dev")),
            dynamodb_port: port("SENTINEL_DEV_DYNAMODB_PORT", 8000)?,
            moto_port: port("SENTINEL_DEV_MOTO_PORT", 5000)?,
            ledger_table: std::env::var("SENTINEL_LEDGER_TABLE").unwrap_or_else(|_| "sentinel-ledger".into()),
            region: std::env::var("AWS_REGION").unwrap_or_else(|_| DEFAULT_REGION.into()),
        })
    }
}

/// Refuses a second stack on the same directory; removed again on a clean stop.
struct PidFile(PathBuf);

impl PidFile {
    fn claim(dir: &std::path::Path) -> Result<Self> {
        let path = dir.join("dev.pid");
        if let Ok(pid) = std::fs::read_to_string(&path) {
            let pid = pid.trim();
            if !pid.is_empty() && std::path::Path::new("/proc").join(pid).exists() {
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

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt().with_env_filter(
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn,dynoxide=error".into()),
    ).init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sentinel dev: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<()> {
    let config = DevConfig::from_env()?;
    std::fs::create_dir_all(&config.dir).with_context(|| format!("cannot create {}", config.dir.display()))?;
    let _pid = PidFile::claim(&config.dir)?;
    let env_path = config.dir.join("env");
    let _ = std::fs::remove_file(&env_path);

    let dynamodb = DynamoEmulator::start(
        Storage::File(config.dir.join("ledger.sqlite")),
        ([127, 0, 0, 1], config.dynamodb_port).into(),
    )
    .await
    .context("set SENTINEL_DEV_DYNAMODB_PORT to use another port")?;
    let moto = Moto::start(config.moto_port).await.context("set SENTINEL_DEV_MOTO_PORT to use another port")?;

    let client = devstack::dynamodb_client(dynamodb.endpoint());
    devstack::ensure_ledger_table(&client, &config.ledger_table).await?;

    let vars = [
        ("AWS_REGION", config.region.clone()),
        ("AWS_ENDPOINT_URL", moto.endpoint().to_owned()),
        ("AWS_ENDPOINT_URL_DYNAMODB", dynamodb.endpoint().to_owned()),
        ("AWS_ENDPOINT_URL_DYNAMODB_STREAMS", dynamodb.endpoint().to_owned()),
        ("AWS_ENDPOINT_URL_STS", moto.endpoint().to_owned()),
        ("AWS_ENDPOINT_URL_SSM", moto.endpoint().to_owned()),
        ("AWS_ENDPOINT_URL_IAM", moto.endpoint().to_owned()),
        ("AWS_ENDPOINT_URL_EVENTBRIDGE", moto.endpoint().to_owned()),
        ("AWS_ENDPOINT_URL_SQS", moto.endpoint().to_owned()),
        ("SENTINEL_LEDGER_TABLE", config.ledger_table.clone()),
    ];
    env_file::write_atomically(&env_path, &env_file::render(&vars))?;

    println!("Sentinel local stack is up.");
    println!("  DynamoDB + Streams  {}  (data in {})", dynamodb.endpoint(), config.dir.join("ledger.sqlite").display());
    println!("  STS SSM IAM EventBridge SQS  {}", moto.endpoint());
    println!("  ledger table        {}", config.ledger_table);
    println!("In another shell:  source {}", env_path.display());
    println!("Stop with Ctrl-C.");

    wait_for_stop().await?;
    println!("Stopping the local stack…");
    let _ = std::fs::remove_file(&env_path);
    moto.stop().await;
    dynamodb.stop().await;
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
