//! The `sentinel` command line: every command that changes the ledger goes through the HTTP API
//! (SigV4); read-only operator commands may read the tables. `dev` runs the local stack (in
//! builds with the `dev` feature).
//!
//! [`run`] is the whole program: parse (clap), then dispatch; `main.rs` only turns its result
//! into an exit code.

pub mod args;
pub mod client;
pub mod commands;
#[cfg(feature = "dev")]
pub mod dev;
pub mod exec;
pub mod failure;
pub mod output;

use std::ffi::OsString;

use anyhow::Result;
use clap::{CommandFactory, Parser};

use crate::args::{AuditCommand, Cli, Command, PolicyCommand, ShellCommand, ViewsCommand};
use crate::client::Client;
use crate::commands::{api, ops};
use crate::failure::{exit, Report};
use crate::output::Out;

/// The clap definition of the command line (for completions and the definition test).
pub fn command() -> clap::Command {
    Cli::command()
}

/// Runs the CLI on `args` (including the program name) and returns the exit code. Errors are
/// printed here, in the format `--output` asked for.
pub fn run<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => return usage_error(e, &args),
    };
    let format = cli.global.output;
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            Report::of(&anyhow::Error::new(e).context("cannot start the async runtime")).print(format);
            return exit::INTERNAL;
        }
    };
    let result = runtime.block_on(dispatch(cli));
    // Background tasks (idle connections, the exec server) must not delay the exit.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    match result {
        Ok(code) => code,
        Err(error) => {
            let report = Report::of(&error);
            report.print(format);
            report.exit
        }
    }
}

/// Clap's errors: help and version print and succeed; anything else is a usage error (exit 2),
/// as JSON when `--output json` was asked for.
fn usage_error(error: clap::Error, args: &[OsString]) -> u8 {
    use clap::error::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = error.print();
        return if error.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
            exit::USAGE
        } else {
            exit::OK
        };
    }
    if wants_json(args) {
        let message = error.kind().as_str().map(str::to_owned).unwrap_or_else(|| "invalid arguments".into());
        let detail = error.to_string();
        let first = detail.lines().next().unwrap_or(&message).trim_start_matches("error: ").to_owned();
        eprintln!("{}", serde_json::json!({ "Code": "USAGE", "Message": first }));
    } else {
        let _ = error.print();
    }
    exit::USAGE
}

/// Whether the raw arguments (or SENTINEL_OUTPUT) ask for JSON, for errors found before parsing ends.
fn wants_json(args: &[OsString]) -> bool {
    let args: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    let flag =
        args.windows(2).any(|w| w[0] == "--output" && w[1] == "json") || args.iter().any(|a| a == "--output=json");
    flag || std::env::var("SENTINEL_OUTPUT").is_ok_and(|v| v == "json")
}

async fn dispatch(cli: Cli) -> Result<u8> {
    let out = Out { format: cli.global.output };
    let region = cli.global.region.as_deref();
    let aws_profile = cli.global.aws_profile.as_deref();
    let client = |url: &str| Client::new(url, region, aws_profile);
    match &cli.command {
        Command::Exec(args) => return exec::run(client(&args.server.url)?, args).await,
        Command::Whoami { server, profile } => api::whoami(&client(&server.url)?, out, profile.as_deref()).await?,
        Command::Profiles { server } => api::profiles(&client(&server.url)?, out).await?,
        Command::Shell(ShellCommand::Init { server }) => {
            api::shell_init(&client(&server.url)?, out, &server.url).await?
        }
        Command::Request { server, profile, justification, duration } => {
            api::request(&client(&server.url)?, out, profile, justification, *duration).await?
        }
        Command::Requests(command) => api::requests(&client(server_of_requests(command))?, out, command).await?,
        Command::Breakglass(command) => api::breakglass(&client(server_of_breakglass(command))?, out, command).await?,
        Command::Sessions(command) => api::sessions(&client(server_of_sessions(command))?, out, command).await?,
        Command::Audit(AuditCommand::Export { table, since, until, principal }) => {
            let config = ops::aws(region, aws_profile).await;
            ops::audit_export(&config, &table.ledger_table, *since, *until, principal.as_deref()).await?
        }
        Command::Audit(AuditCommand::Verify { table }) => {
            let config = ops::aws(region, aws_profile).await;
            ops::audit_verify(&config, &table.ledger_table, out).await?
        }
        Command::Policy(PolicyCommand::Validate { files }) => ops::policy_validate(files, out)?,
        Command::Policy(PolicyCommand::Push { server, profile, file }) => {
            api::policy_push(&client(&server.url)?, out, profile, file).await?
        }
        Command::Policy(PolicyCommand::Pull { root, profile }) => {
            let profile = api::profile(profile)?;
            ops::policy_pull(&ops::aws(region, aws_profile).await, &root.policy_root, &profile, out).await?
        }
        Command::Policy(PolicyCommand::Diff { root, profile, file }) => {
            let profile = api::profile(profile)?;
            ops::policy_diff(&ops::aws(region, aws_profile).await, &root.policy_root, &profile, file, out).await?
        }
        Command::Views(ViewsCommand::Rebuild { table, views_table, check: _, repair }) => {
            let config = ops::aws(region, aws_profile).await;
            ops::views_rebuild(&config, &table.ledger_table, views_table, *repair, out).await?
        }
        #[cfg(feature = "dev")]
        Command::Dev => {
            use anyhow::Context as _;
            let mut options = dev::DevOptions::from_env().context("invalid local stack settings")?;
            if let Some(region) = region {
                options.region = region.to_owned();
            }
            dev::run(options).await?
        }
        #[cfg(not(feature = "dev"))]
        Command::Dev => {
            return Err(failure::LocalFailure::usage("this `sentinel` is built without the local stack")
                .hint("Run `make dev`, which builds `sentinel` with the `dev` feature and starts the stack.")
                .into())
        }
        Command::Completions { shell } => {
            let mut command = Cli::command();
            let mut buffer = Vec::new();
            clap_complete::generate(*shell, &mut command, "sentinel", &mut buffer);
            output::write_stdout(&String::from_utf8_lossy(&buffer))?;
        }
    }
    Ok(exit::OK)
}

fn server_of_requests(command: &args::RequestsCommand) -> &str {
    use args::RequestsCommand::*;
    match command {
        List { server, .. }
        | Show { server, .. }
        | Approve { server, .. }
        | Deny { server, .. }
        | Cancel { server, .. }
        | Revoke { server, .. } => &server.url,
    }
}

fn server_of_breakglass(command: &args::BreakglassCommand) -> &str {
    use args::BreakglassCommand::*;
    match command {
        Invoke { server, .. } | Close { server, .. } | List { server, .. } => &server.url,
    }
}

fn server_of_sessions(command: &args::SessionsCommand) -> &str {
    use args::SessionsCommand::*;
    match command {
        List { server, .. } | Show { server, .. } | Revoke { server, .. } => &server.url,
    }
}
