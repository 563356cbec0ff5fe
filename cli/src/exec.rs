//! `sentinel exec`: vend a session, then run a command whose AWS SDK fetches its credentials
//! from a loopback endpoint served here (the container-credentials protocol). Every fetch is
//! answered from the API's `/credentials` with the session token, so a revocation stops the
//! command at its next refresh; the command never sees the caller's own keys.

use std::process::Stdio;
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;
use tokio::signal::unix::{signal, SignalKind};

use crate::args::ExecArgs;
use crate::client::Client;
use crate::failure::{exit, LocalFailure};

/// Set in the command's environment; a nested `sentinel exec` refuses to run.
pub const MARKER: &str = "SENTINEL_EXEC_PROFILE";
/// The session the command runs under.
pub const SESSION_ENV: &str = "SENTINEL_SESSION_ID";

/// Variables through which an SDK could find other credentials than ours; removed.
pub const SCRUBBED: &[&str] = &[
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_ACCESS_KEY",
    "AWS_SECRET_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_CREDENTIAL_EXPIRATION",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
];

/// The shortest and longest credential lifetime the API issues (role chaining caps at 1 h).
const DURATION_RANGE: std::ops::RangeInclusive<u64> = 900..=3600;

/// What the command's SDK is answered with: the API, the session token, and our own token.
struct Proxy {
    client: Arc<Client>,
    session_token: String,
    local_token: String,
}

/// Runs `args.command` under a new session; returns its exit code (128+N if killed by N).
pub async fn run(client: Client, args: &ExecArgs) -> Result<u8> {
    if let Ok(profile) = std::env::var(MARKER) {
        return Err(LocalFailure::usage(format!(
            "already inside `sentinel exec` (profile {profile}); nested sessions are refused"
        ))
        .hint("Exit the current `sentinel exec` command first, or run the command directly in it.")
        .into());
    }
    let profile: ledger::Profile = args.profile().parse().map_err(|_| {
        LocalFailure::usage(format!("invalid profile name {:?}", args.profile()))
            .hint("Profile names are 1-64 letters, digits, '_', '.' and '-'; see `sentinel profiles`.")
    })?;
    let seconds = args.duration.as_secs();
    if !DURATION_RANGE.contains(&seconds) {
        return Err(LocalFailure::usage(format!(
            "--duration must be from 15m to 1h (900-3600 s), not {seconds} s: role chaining caps credentials at one hour"
        ))
        .into());
    }
    let mut query = vec![("profile", profile.to_string()), ("duration", seconds.to_string())];
    if let Some(reason) = &args.reason {
        query.push(("reason", reason.clone()));
    }
    let vended = client
        .signed(Method::GET, "/", &query, None)
        .await
        .with_context(|| format!("no credentials for profile {profile}"))?;
    let session_token = vended.header("x-sentinel-session-token").ok_or_else(|| {
        LocalFailure::new(
            "NO_SESSION",
            exit::INTERNAL,
            "the API answered without a session token (X-Sentinel-Session-Token)",
        )
    })?;
    let session_id = vended.header("x-sentinel-session-id").unwrap_or_default();
    let region = client.region().await?;

    let client = Arc::new(client);
    let proxy = Arc::new(Proxy { client, session_token, local_token: random_token()? });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .context("cannot listen on 127.0.0.1 for the command's credentials")?;
    let port = listener.local_addr().context("no local address")?.port();
    let app = axum::Router::new().fallback(serve_credentials).with_state(proxy.clone());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let stopped = async move {
            let _ = stop_rx.await;
        };
        let _ = axum::serve(listener, app).with_graceful_shutdown(stopped).await;
    });

    let mut command = tokio::process::Command::new(&args.command[0]);
    command.args(&args.command[1..]).stdin(Stdio::inherit()).stdout(Stdio::inherit()).stderr(Stdio::inherit());
    for name in SCRUBBED {
        command.env_remove(name);
    }
    command
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONTAINER_CREDENTIALS_FULL_URI", format!("http://127.0.0.1:{port}/"))
        .env("AWS_CONTAINER_AUTHORIZATION_TOKEN", &proxy.local_token)
        .env(SESSION_ENV, &session_id)
        .env(MARKER, profile.as_str());
    // The config file is hidden, so the region must travel in the environment.
    if std::env::var_os("AWS_REGION").is_none() {
        command.env("AWS_REGION", &region);
    }
    if std::env::var_os("AWS_DEFAULT_REGION").is_none() {
        command.env("AWS_DEFAULT_REGION", &region);
    }
    let status = run_child(command, &args.command[0]).await;
    let _ = stop_tx.send(());
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), server).await;
    status
}

/// Starts the child, forwards SIGINT, SIGTERM and SIGHUP to it, and waits for it.
async fn run_child(mut command: tokio::process::Command, program: &str) -> Result<u8> {
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut hangup = signal(SignalKind::hangup()).context("cannot handle SIGHUP")?;
    let mut child = command.spawn().map_err(|e| {
        let code = if e.kind() == std::io::ErrorKind::NotFound { 127 } else { 126 };
        LocalFailure::new("EXEC_FAILED", code, format!("cannot run {program:?}: {e}"))
    })?;
    let pid = child.id().and_then(|p| i32::try_from(p).ok());
    let forward = |sig: libc::c_int| {
        if let Some(pid) = pid {
            // SAFETY: kill(2) with a pid we spawned and a valid signal number has no memory effects.
            #[allow(unsafe_code)] // the one reviewed exception to the workspace lint
            unsafe {
                libc::kill(pid, sig);
            }
        }
    };
    let status = loop {
        tokio::select! {
            status = child.wait() => break status.context("cannot wait for the command")?,
            _ = interrupt.recv() => forward(libc::SIGINT),
            _ = terminate.recv() => forward(libc::SIGTERM),
            _ = hangup.recv() => forward(libc::SIGHUP),
        }
    };
    Ok(exit_code(status))
}

/// The child's code, or 128+N when signal N killed it (as shells report it).
pub fn exit_code(status: std::process::ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code & 0xff).unwrap_or(1),
        (None, Some(signal)) => u8::try_from(128 + signal).unwrap_or(255),
        (None, None) => 1,
    }
}

/// 256 random bits, hex-encoded: what the child's SDK must present.
fn random_token() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness for the local token: {e}"))?;
    Ok(hex::encode(bytes))
}

/// Answers the SDK's credential fetch from `/credentials`; anything without our token is 403.
async fn serve_credentials(State(proxy): State<Arc<Proxy>>, method: Method, headers: HeaderMap) -> Response {
    let presented = headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()).unwrap_or_default();
    let authorized: bool = presented.ct_eq(proxy.local_token.as_bytes()).into();
    if !authorized {
        return error(StatusCode::FORBIDDEN, "FORBIDDEN", "A valid AWS_CONTAINER_AUTHORIZATION_TOKEN is required.");
    }
    if method != Method::GET {
        return error(StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", "Only GET is served.");
    }
    match proxy.client.get_with_token("/credentials", &proxy.session_token).await {
        Ok(answer) => {
            let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
            if !status.is_success() {
                let failure = crate::failure::ApiFailure::from_response(answer.status, &answer.body, None);
                eprintln!("sentinel: the session's credentials were not refreshed: {}", failure.message);
            }
            (status, [(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "no-store")], answer.body)
                .into_response()
        }
        Err(e) => {
            eprintln!("sentinel: the session's credentials were not refreshed: {e}");
            error(StatusCode::BAD_GATEWAY, "UNAVAILABLE", "The Sentinel API could not be reached.")
        }
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "Code": code, "Message": message }).to_string();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_become_128_plus_their_number() {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(exit_code(std::process::ExitStatus::from_raw(7 << 8)), 7);
        assert_eq!(exit_code(std::process::ExitStatus::from_raw(libc::SIGTERM)), 143);
    }

    #[test]
    fn local_tokens_are_256_random_bits() {
        let (a, b) = (random_token().unwrap(), random_token().unwrap());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
    }
}
