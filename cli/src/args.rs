//! The command line as clap sees it (step one of parsing): flags and subcommands, their help
//! and the exit codes. Values are checked into typed settings by the commands before any side
//! effect (step two).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use edge::config::{LEDGER_TABLE, POLICY_ROOT, VIEWS_TABLE};

/// Documented in `--help`; the numbers live in [`crate::failure::exit`].
const AFTER_HELP: &str = "\
Exit codes:
  0  success
  1  internal error, or a check failed (policy validate, audit verify, views rebuild)
  2  usage error (bad flags or values, or a request the API refused as invalid)
  3  denied (policy, approval required, authentication, not authorized, rate limited)
  4  not found
  5  conflict (already decided, revoked or closed; a break-glass already active)
  6  unavailable (the API, the ledger or the network; retry)
`sentinel exec` exits with the command's code (128+N when it was killed by signal N).

Environment: SENTINEL_TVM_URL (for --remote-server), AWS_REGION, the standard AWS credential
chain (--aws-profile or AWS_PROFILE, AWS_ACCESS_KEY_ID, shared credentials and config files with
credential_process and IAM Identity Center (SSO) profiles, web identity, containers, IMDS),
SENTINEL_LEDGER_TABLE, SENTINEL_VIEWS_TABLE, SENTINEL_POLICY_ROOT.";

/// Sentinel: AWS credentials behind policy, approvals and break-glass, with a verifiable ledger.
#[derive(Debug, Parser)]
#[command(name = "sentinel", version, about, after_help = AFTER_HELP, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command takes.
#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// How to print results; with json, errors go to stderr as {"Code","Message"}.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Table, env = "SENTINEL_OUTPUT")]
    pub output: OutputFormat,
    /// AWS region for signing and AWS clients (default: AWS_REGION, then the AWS config).
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Option<String>,
    /// AWS profile whose credentials sign requests and read AWS (default: AWS_PROFILE, then `default`).
    #[arg(long = "aws-profile", global = true, value_name = "NAME")]
    pub aws_profile: Option<String>,
}

/// `--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Readable tables.
    Table,
    /// JSON for scripts.
    Json,
}

/// The API's base URL (`--remote-server` or `SENTINEL_TVM_URL`).
#[derive(Debug, Args, Clone)]
pub struct ServerArgs {
    /// Base URL of the Sentinel HTTP API, e.g. https://abc123.execute-api.eu-west-1.amazonaws.com
    #[arg(long = "remote-server", env = "SENTINEL_TVM_URL", value_name = "URL")]
    pub url: String,
}

/// How much of a list to fetch: one page (`--limit`, default the API's 50) or every page.
#[derive(Debug, Args, Clone)]
pub struct PageArgs {
    /// Items per page (1-500; the API's default is 50).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=500), value_name = "N")]
    pub limit: Option<u16>,
    /// Follow every page (progress on stderr).
    #[arg(long)]
    pub all: bool,
}

/// Tables read directly by operator commands.
#[derive(Debug, Args, Clone)]
pub struct LedgerTableArgs {
    /// The ledger table, read with your own AWS credentials.
    #[arg(long, env = LEDGER_TABLE.name(), default_value = LEDGER_TABLE.default(), value_name = "TABLE")]
    pub ledger_table: String,
}

/// Every command.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a command with credentials for PROFILE, refreshed through Sentinel (revocable).
    #[command(after_help = "Example: sentinel exec --remote-server $URL dev -- aws sts get-caller-identity")]
    Exec(ExecArgs),
    /// Who Sentinel thinks you are; with --profile, whether you would get credentials and why.
    Whoami {
        #[command(flatten)]
        server: ServerArgs,
        /// Dry-run the policy decision for this profile (vends nothing).
        #[arg(long)]
        profile: Option<String>,
    },
    /// The profiles Sentinel knows.
    Profiles {
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Shell integration.
    #[command(subcommand)]
    Shell(ShellCommand),
    /// Ask for an approval to use PROFILE.
    Request {
        #[command(flatten)]
        server: ServerArgs,
        /// The profile.
        profile: String,
        /// Why you need access (10-500 characters; recorded).
        #[arg(long)]
        justification: String,
        /// How long the approval stays usable (900, 15m, 1h, 4h…; at most the profile's window).
        #[arg(long, value_parser = parse_duration_arg, default_value = "1h")]
        duration: Duration,
    },
    /// Approval requests: list, show, approve, deny, cancel, revoke.
    #[command(subcommand)]
    Requests(RequestsCommand),
    /// Break-glass: invoke, close, list.
    #[command(subcommand)]
    Breakglass(BreakglassCommand),
    /// Sessions: list, show, revoke.
    #[command(subcommand)]
    Sessions(SessionsCommand),
    /// The ledger, read with your own credentials: export and verify.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Policies: validate files, push, pull and diff.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// The views (derived from the ledger).
    #[command(subcommand)]
    Views(ViewsCommand),
    /// Run the whole local stack on 127.0.0.1 until Ctrl-C (what `make dev` runs).
    #[cfg_attr(not(feature = "dev"), command(hide = true))]
    Dev,
    /// Print shell completions.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// `sentinel exec`.
#[derive(Debug, Args)]
pub struct ExecArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// The profile (also accepted as the first positional argument).
    #[arg(long = "profile", value_name = "PROFILE", conflicts_with = "profile_arg")]
    pub profile_flag: Option<String>,
    /// The profile.
    #[arg(value_name = "PROFILE", required_unless_present = "profile_flag")]
    pub profile_arg: Option<String>,
    /// Lifetime of each credential (900-3600 s; SDKs refresh before it ends).
    #[arg(long, value_parser = parse_duration_arg, default_value = "1h")]
    pub duration: Duration,
    /// Why (recorded in the ledger; at most 256 printable characters).
    #[arg(long)]
    pub reason: Option<String>,
    /// The command and its arguments.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
}

impl ExecArgs {
    /// The profile, however it was given.
    pub fn profile(&self) -> &str {
        self.profile_flag.as_deref().or(self.profile_arg.as_deref()).unwrap_or_default()
    }
}

/// `sentinel shell …`.
#[derive(Debug, Subcommand)]
pub enum ShellCommand {
    /// Print one bash/zsh function per profile (`sentinel-<profile> CMD…`); use with eval.
    #[command(after_help = "Example: eval \"$(sentinel shell init --remote-server $URL)\"")]
    Init {
        #[command(flatten)]
        server: ServerArgs,
    },
}

/// `sentinel requests …`.
#[derive(Debug, Subcommand)]
pub enum RequestsCommand {
    /// Your requests; a profile's for its approvers; pending ones you may approve with --approver-me.
    List {
        #[command(flatten)]
        server: ServerArgs,
        /// pending, approved, denied, cancelled, revoked or expired.
        #[arg(long)]
        status: Option<String>,
        /// Only this profile.
        #[arg(long)]
        profile: Option<String>,
        /// Pending requests you may approve.
        #[arg(long)]
        approver_me: bool,
        #[command(flatten)]
        page: PageArgs,
    },
    /// One request.
    Show {
        #[command(flatten)]
        server: ServerArgs,
        /// The request id.
        id: String,
    },
    /// Approve a request (approvers only; not your own).
    Approve {
        #[command(flatten)]
        server: ServerArgs,
        /// The request id.
        id: String,
        /// Recorded with the decision.
        #[arg(long)]
        comment: Option<String>,
    },
    /// Deny a request (approvers only; one deny ends it).
    Deny {
        #[command(flatten)]
        server: ServerArgs,
        /// The request id.
        id: String,
        /// Recorded with the decision.
        #[arg(long)]
        comment: Option<String>,
    },
    /// Withdraw your own pending request, or give back an approved one (its sessions are revoked).
    Cancel {
        #[command(flatten)]
        server: ServerArgs,
        /// The request id.
        id: String,
    },
    /// End an approved request and every session resting on it (approvers, revokers, admins).
    Revoke {
        #[command(flatten)]
        server: ServerArgs,
        /// The request id.
        id: String,
        /// Recorded with the revocation and on every session it ends.
        #[arg(long)]
        reason: String,
    },
}

/// `sentinel breakglass …`.
#[derive(Debug, Subcommand)]
pub enum BreakglassCommand {
    /// Break glass on PROFILE (listed users only; recorded and alerted).
    Invoke {
        #[command(flatten)]
        server: ServerArgs,
        /// The profile.
        profile: String,
        /// One of the profile's reason codes (e.g. incident, security).
        #[arg(long)]
        reason_code: String,
        /// What is going on (20-1000 characters).
        #[arg(long)]
        justification: String,
        /// How long it stays active (default: the profile's maximum).
        #[arg(long, value_parser = parse_duration_arg)]
        duration: Option<Duration>,
    },
    /// End a break-glass early.
    Close {
        #[command(flatten)]
        server: ServerArgs,
        /// The break-glass id.
        id: String,
        /// Why it ends (recorded).
        #[arg(long)]
        reason: String,
    },
    /// Your break-glass events; a profile's for its revokers; all for admins.
    List {
        #[command(flatten)]
        server: ServerArgs,
        /// active, closed or expired.
        #[arg(long)]
        status: Option<String>,
        /// Only this profile.
        #[arg(long)]
        profile: Option<String>,
        #[command(flatten)]
        page: PageArgs,
    },
}

/// `sentinel sessions …`.
#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// Your sessions; a profile's for its revokers; anyone's for admins.
    List {
        #[command(flatten)]
        server: ServerArgs,
        /// active, revoked or expired.
        #[arg(long)]
        status: Option<String>,
        /// Only this profile.
        #[arg(long)]
        profile: Option<String>,
        /// Only this principal ARN (admins, or yourself).
        #[arg(long)]
        principal: Option<String>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// One session.
    Show {
        #[command(flatten)]
        server: ServerArgs,
        /// The session id.
        id: String,
    },
    /// Revoke a session: its next refresh fails, and AWS denies its credentials shortly after.
    Revoke {
        #[command(flatten)]
        server: ServerArgs,
        /// The session id.
        id: String,
        /// Why (recorded).
        #[arg(long)]
        reason: String,
    },
}

/// `sentinel audit …`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Every ledger event as NDJSON (one JSON object per line), oldest first.
    Export {
        #[command(flatten)]
        table: LedgerTableArgs,
        /// Events at or after this time (RFC 3339, e.g. 2026-01-31T09:00:00Z).
        #[arg(long, value_parser = parse_time_arg)]
        since: Option<chrono::DateTime<chrono::Utc>>,
        /// Events before this time (RFC 3339).
        #[arg(long, value_parser = parse_time_arg)]
        until: Option<chrono::DateTime<chrono::Utc>>,
        /// Only events whose actor is this principal ARN.
        #[arg(long)]
        principal: Option<String>,
    },
    /// Verify every stream's hash chain; names the first broken stream and seq.
    Verify {
        #[command(flatten)]
        table: LedgerTableArgs,
    },
}

/// `sentinel policy …`.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Parse policy files strictly and show lint warnings (admins.yaml is checked as the admins document).
    Validate {
        /// Policy YAML files.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Publish FILE as PROFILE's policy through the API (admins only).
    Push {
        #[command(flatten)]
        server: ServerArgs,
        /// The profile.
        profile: String,
        /// The policy YAML.
        file: PathBuf,
    },
    /// Print PROFILE's policy from SSM (your own credentials).
    Pull {
        #[command(flatten)]
        root: PolicyRootArgs,
        /// The profile.
        profile: String,
    },
    /// Show how FILE differs from PROFILE's policy in SSM.
    Diff {
        #[command(flatten)]
        root: PolicyRootArgs,
        /// The profile.
        profile: String,
        /// The policy YAML.
        file: PathBuf,
    },
}

/// Where policies live in SSM.
#[derive(Debug, Args, Clone)]
pub struct PolicyRootArgs {
    /// SSM path under which each profile's policy is a parameter.
    #[arg(long, env = POLICY_ROOT.name(), default_value = POLICY_ROOT.default(), value_name = "PATH")]
    pub policy_root: String,
}

/// `sentinel views …`.
#[derive(Debug, Subcommand)]
pub enum ViewsCommand {
    /// Recompute the views from the ledger and report differences (default --check).
    Rebuild {
        #[command(flatten)]
        table: LedgerTableArgs,
        /// The views table.
        #[arg(long, env = VIEWS_TABLE.name(), default_value = VIEWS_TABLE.default(), value_name = "TABLE")]
        views_table: String,
        /// Only compare (the default).
        #[arg(long, conflicts_with = "repair")]
        check: bool,
        /// Compare, then write every recomputed row (rows the ledger does not explain are kept).
        #[arg(long)]
        repair: bool,
    },
}

/// `900`, `900s`, `15m`, `1h`, `1h30m`.
pub fn parse_duration_arg(text: &str) -> Result<Duration, String> {
    ledger::policy::parse_duration(text).map_err(|e| format!("{e}"))
}

/// RFC 3339 with an offset, e.g. `2026-01-31T09:00:00Z`.
pub fn parse_time_arg(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|_| "expected an RFC 3339 time such as 2026-01-31T09:00:00Z".to_owned())
}
