//! End to end on the real local stack (`cli::dev::start`, every port ephemeral): `sentinel
//! exec` running the `aws` CLI and boto3, revocation reaching the child and the enforcer's deny
//! on the protected role, denials, an approval round trip, break-glass, JSON output of every
//! command, and `audit verify` before and after tampering. One stack serves every scenario (it starts moto, which is slow); the scenarios
//! run in order and the stack is stopped even when one fails.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::support::{bin, repo, text};

/// The running stack as the scenarios see it.
struct Stack {
    env: Vec<(String, String)>,
    home: PathBuf,
}

impl Stack {
    /// `sentinel ARGS` as dev identity `user`, with the stack's environment and nothing else.
    fn sentinel(&self, user: &str, args: &[&str]) -> Command {
        let mut command = Command::new(bin());
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("AWS_PROFILE", user)
            .args(args);
        command
    }

    fn run(&self, user: &str, args: &[&str]) -> Output {
        self.sentinel(user, args).output().expect("sentinel runs")
    }

    /// Runs and requires success; returns stdout.
    fn ok(&self, user: &str, args: &[&str]) -> String {
        let out = self.run(user, args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{user}: sentinel {args:?}\nstdout: {}\nstderr: {}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// Runs with `--output json`, requires success, and parses stdout.
    fn json(&self, user: &str, args: &[&str]) -> Value {
        let mut all = vec!["--output", "json"];
        all.extend_from_slice(args);
        let stdout = self.ok(user, &all);
        serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("sentinel {args:?} printed invalid JSON ({e}):\n{stdout}"))
    }

    fn var(&self, name: &str) -> String {
        self.env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("the stack exports {name}"))
    }
}

fn venv(tool: &str) -> String {
    repo().join(".venv/bin").join(tool).display().to_string()
}

#[test]
fn the_local_stack_serves_every_cli_flow_end_to_end() {
    let dir = crate::offline::tempdir();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let stack = runtime
        .block_on(cli::dev::start(cli::dev::DevOptions::ephemeral(&dir.join("stack"))))
        .expect("the local stack starts");
    let scenarios = Stack { env: stack.env().to_vec(), home: dir.clone() };
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        aws_cli_and_boto3_under_exec_see_the_protected_role(&scenarios);
        the_child_never_sees_the_callers_keys(&scenarios);
        a_revoked_session_cannot_refresh_in_the_child(&scenarios);
        mallory_is_denied_with_the_policys_reason(&scenarios);
        an_approval_round_trip_lets_alice_in(&scenarios);
        oncall_breaks_glass_and_gets_credentials(&scenarios);
        every_command_prints_json_that_parses(&scenarios);
        audit_verify_passes_then_fails_after_tampering(&scenarios);
        crate::credentials::whoami_works_from_a_credential_process_profile(&scenarios.env, &dir);
        crate::credentials::whoami_works_from_an_sso_profile(&scenarios.env, &dir);
    }));
    runtime.block_on(stack.stop());
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

fn aws_cli_and_boto3_under_exec_see_the_protected_role(stack: &Stack) {
    let out = stack.ok("alice", &["exec", "dev", "--", &venv("aws"), "sts", "get-caller-identity", "--output", "json"]);
    let identity: Value = serde_json::from_str(&out).expect("aws prints JSON");
    let arn = identity["Arn"].as_str().unwrap();
    assert!(arn.contains(":assumed-role/SentinelProtected-Dev/sentinel-"), "aws saw {arn}");

    let boto = "import boto3; print(boto3.client('sts').get_caller_identity()['Arn'])";
    let out =
        stack.ok("bob", &["exec", "--profile", "dev", "--reason", "e2e boto3", "--", &venv("python"), "-c", boto]);
    assert!(out.trim().contains(":assumed-role/SentinelProtected-Dev/sentinel-"), "boto3 saw {out}");
}

fn the_child_never_sees_the_callers_keys(stack: &Stack) {
    let credentials = std::fs::read_to_string(stack.var("AWS_SHARED_CREDENTIALS_FILE")).unwrap();
    let alice_key = credentials
        .split("[alice]")
        .nth(1)
        .and_then(|s| s.lines().find(|l| l.starts_with("aws_access_key_id")))
        .and_then(|l| l.split('=').nth(1))
        .map(|k| k.trim().to_owned())
        .expect("alice's key in the credentials file");
    let env = stack.ok("alice", &["exec", "dev", "--", "env"]);
    assert!(!env.contains(&alice_key), "the child saw alice's own key");
    assert!(!env.contains("AWS_PROFILE="), "{env}");
    assert!(env.contains("AWS_SHARED_CREDENTIALS_FILE=/dev/null"), "{env}");
}

fn a_revoked_session_cannot_refresh_in_the_child(stack: &Stack) {
    let probe = r#"
import os, sys, urllib.request, urllib.error
def fetch():
    req = urllib.request.Request(os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"], headers={"Authorization": os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"]})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
print(fetch(), os.environ["SENTINEL_SESSION_ID"], flush=True)
sys.stdin.readline()
print(fetch(), flush=True)
"#;
    let mut child = stack
        .sentinel("alice", &["exec", "dev", "--", &venv("python"), "-c", probe])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let (status, session) = first.split_once(' ').unwrap();
    assert_eq!(status, "200", "the first refresh works");
    let revoked =
        stack.json("secops", &["sessions", "revoke", session, "--reason", "e2e: revocation reaches the child"]);
    assert_eq!(revoked["status"], "revoked");
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let second = lines.next().unwrap().unwrap();
    assert_eq!(second, "403", "the refresh after the revocation is refused");
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let shown = stack.json("alice", &["sessions", "show", session]);
    assert_eq!(shown["revoked_by"].as_str().map(|s| s.ends_with(":user/secops")), Some(true), "{shown}");
    the_enforcer_denies_the_revoked_session_on_its_role(stack, session, shown["role_arn"].as_str().unwrap());
}

/// The revocation travels ledger → stream → exporter → bus → queue → the enforcer's entry point,
/// which writes the deny on the protected role: polled for a bounded number of rounds.
fn the_enforcer_denies_the_revoked_session_on_its_role(stack: &Stack, session: &str, role_arn: &str) {
    let role = role_arn.rsplit('/').next().unwrap();
    let mut last = String::new();
    for _ in 0..120 {
        let out = Command::new(venv("aws"))
            .env_clear()
            .env("HOME", &stack.home)
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .envs(stack.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("AWS_PROFILE", "secops")
            .args(["iam", "get-role-policy", "--role-name", role, "--policy-name", enforcer::policy::POLICY_NAME])
            .args(["--region", &stack.var("AWS_REGION"), "--output", "json"])
            .output()
            .expect("the aws CLI runs");
        last = format!("{}{}", text(&out.stdout), text(&out.stderr));
        if out.status.success() && last.contains(session) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    panic!("the enforcer never denied session {session} on {role}: {last}");
}

fn mallory_is_denied_with_the_policys_reason(stack: &Stack) {
    let out = stack.run("mallory", &["exec", "dev", "--", "true"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr).contains("Policy denied: no rule matched"), "{}", text(&out.stderr));
    let out = stack.run("mallory", &["--output", "json", "exec", "prod", "--", "true"]);
    assert_eq!(out.status.code(), Some(3));
    let error: Value = serde_json::from_slice(&out.stderr).expect("a JSON error");
    assert_eq!(error["Code"], "POLICY_DENY");
}

fn an_approval_round_trip_lets_alice_in(stack: &Stack) {
    let out = stack.run("alice", &["exec", "prod", "--", "true"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr).contains("sentinel request"), "{}", text(&out.stderr));

    let request =
        stack.json("alice", &["request", "prod", "--justification", "e2e: deploy hotfix 42", "--duration", "1h"]);
    let id = request["request_id"].as_str().unwrap().to_owned();
    assert_eq!(request["status"], "pending");

    // The pending request is found through the views, which follow the ledger within a poll.
    let hint = format!("sentinel requests show {id}");
    let mut out = stack.run("alice", &["exec", "prod", "--", "true"]);
    for _ in 0..20 {
        if text(&out.stderr).contains(&hint) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
        out = stack.run("alice", &["exec", "prod", "--", "true"]);
    }
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr).contains(&hint), "{}", text(&out.stderr));

    let out = stack.run("alice", &["requests", "approve", &id]);
    assert_eq!(out.status.code(), Some(3), "alice cannot approve her own request: {}", text(&out.stderr));

    let pending = stack.json("carol", &["requests", "list", "--approver-me"]);
    assert!(pending["items"].as_array().unwrap().iter().any(|r| r["request_id"] == id.as_str()), "{pending}");
    let approved = stack.json("carol", &["requests", "approve", &id, "--comment", "ok for the hotfix"]);
    assert_eq!(approved["status"], "approved");

    let out = stack.ok(
        "alice",
        &["exec", "prod", "--", &venv("aws"), "sts", "get-caller-identity", "--query", "Arn", "--output", "text"],
    );
    assert!(out.contains(":assumed-role/SentinelProtected-Prod/sentinel-"), "{out}");

    let again = stack.run("carol", &["requests", "deny", &id]);
    assert_eq!(again.status.code(), Some(5), "a decided request conflicts: {}", text(&again.stderr));
}

fn oncall_breaks_glass_and_gets_credentials(stack: &Stack) {
    let out = stack.run(
        "alice",
        &[
            "breakglass",
            "invoke",
            "prod",
            "--reason-code",
            "incident",
            "--justification",
            "e2e: alice is not on the break-glass list",
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));

    let invoked = stack.json(
        "oncall",
        &[
            "breakglass",
            "invoke",
            "prod",
            "--reason-code",
            "incident",
            "--justification",
            "e2e: pager 1234, the database is down",
            "--duration",
            "30m",
        ],
    );
    assert_eq!(invoked["status"], "active");
    let id = invoked["breakglass_id"].as_str().unwrap().to_owned();
    stack.ok("oncall", &["exec", "prod", "--", "true"]);

    // Lists come from the views, which follow the ledger within a poll or two.
    let listed_here = |listed: &serde_json::Value| {
        listed["items"].as_array().unwrap().iter().any(|b| b["breakglass_id"] == id.as_str())
    };
    let mut listed = stack.json("oncall", &["breakglass", "list", "--status", "active"]);
    for _ in 0..40 {
        if listed_here(&listed) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
        listed = stack.json("oncall", &["breakglass", "list", "--status", "active"]);
    }
    assert!(listed_here(&listed), "{listed}");
    let stacked = stack.run(
        "oncall",
        &[
            "breakglass",
            "invoke",
            "prod",
            "--reason-code",
            "security",
            "--justification",
            "e2e: a second one must not stack",
        ],
    );
    assert_eq!(stacked.status.code(), Some(5), "{}", text(&stacked.stderr));
    let closed = stack.json("oncall", &["breakglass", "close", &id, "--reason", "e2e: incident resolved"]);
    assert_eq!(closed["status"], "closed");
}

fn every_command_prints_json_that_parses(stack: &Stack) {
    let me = stack.json("alice", &["whoami"]);
    assert!(me["arn"].as_str().unwrap().ends_with(":user/alice"), "{me}");
    let decision = stack.json("alice", &["whoami", "--profile", "prod"]);
    assert_eq!(decision["decision"]["effect"], "require_approval");
    let profiles = stack.json("alice", &["profiles"]);
    let names: Vec<&str> = profiles["profiles"].as_array().unwrap().iter().filter_map(|p| p["name"].as_str()).collect();
    assert!(names.contains(&"dev") && names.contains(&"prod"), "{profiles}");
    let functions = stack.json("alice", &["shell", "init"]);
    assert!(!functions["functions"].as_array().unwrap().is_empty());
    let requests = stack.json("alice", &["requests", "list"]);
    let id = requests["items"][0]["request_id"].as_str().unwrap().to_owned();
    stack.json("alice", &["requests", "show", &id]);
    stack.json("secops", &["breakglass", "list"]);
    let sessions = stack.json("alice", &["sessions", "list"]);
    let session = sessions["items"][0]["session_id"].as_str().unwrap().to_owned();
    stack.json("alice", &["sessions", "show", &session]);
    stack.json("secops", &["sessions", "list", "--profile", "dev", "--status", "active"]);
    // One a page through the gateway, the TVM's sealed tokens and its key in the emulated SSM.
    let all_dev = stack.json("secops", &["sessions", "list", "--profile", "dev"]);
    assert!(all_dev["items"].as_array().unwrap().len() >= 2, "{all_dev}");
    let paged = stack.json("secops", &["sessions", "list", "--profile", "dev", "--limit", "1", "--all"]);
    let ids = |v: &Value| -> Vec<String> {
        v["items"].as_array().unwrap().iter().map(|s| s["session_id"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(ids(&paged), ids(&all_dev));
    assert!(paged["next_token"].is_null());

    let policy = stack.json("secops", &["policy", "pull", "dev"]);
    assert!(policy["policy"].as_str().unwrap().contains("profile: dev"));
    let file = repo().join("examples/policies/dev.yaml");
    let file = file.to_str().unwrap();
    let diff = stack.json("secops", &["policy", "diff", "dev", file]);
    assert_eq!(diff["identical"], true, "{diff}");
    let pushed = stack.json("secops", &["policy", "push", "dev", file]);
    assert_eq!(pushed["profile"], "dev");
    let refused = stack.run("alice", &["policy", "push", "dev", file]);
    assert_eq!(refused.status.code(), Some(3), "only admins publish: {}", text(&refused.stderr));
    stack.json("alice", &["policy", "validate", file]);

    // The views follow the ledger within a poll or two.
    let mut rebuilt = Value::Null;
    for _ in 0..40 {
        let out = stack.run("secops", &["--output", "json", "views", "rebuild", "--check"]);
        rebuilt = serde_json::from_slice(&out.stdout).expect("views rebuild prints JSON");
        if rebuilt["clean"] == true {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    assert_eq!(rebuilt["clean"], true, "{rebuilt}");

    let export = stack.ok("secops", &["audit", "export", "--since", "2000-01-01T00:00:00Z"]);
    let events: Vec<Value> =
        export.lines().map(|l| serde_json::from_str(l).expect("one JSON event per line")).collect();
    assert!(events.iter().any(|e| e["type"] == "SessionRevoked"));
    assert!(events.iter().any(|e| e["type"] == "BreakGlassInvoked"));
    let alice = me["arn"].as_str().unwrap();
    let mine = stack.ok("secops", &["audit", "export", "--principal", alice]);
    assert!(!mine.is_empty() && mine.lines().all(|l| l.contains(&format!("\"actor\":\"{alice}\""))), "{mine}");
}

fn audit_verify_passes_then_fails_after_tampering(stack: &Stack) {
    let verified = stack.json("secops", &["audit", "verify"]);
    assert_eq!(verified["ok"], true, "{verified}");

    let (stream, seq) = tamper_one_item(&stack.var("AWS_ENDPOINT_URL_DYNAMODB"), &stack.var("SENTINEL_LEDGER_TABLE"));
    let out = stack.run("secops", &["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains(&format!("stream {stream} is broken at seq {seq}")), "{stderr}");
    let out = stack.run("secops", &["--output", "json", "audit", "verify"]);
    let error: Value = serde_json::from_slice(&out.stderr).expect("a JSON error");
    assert_eq!(error["Code"], "CHAIN_BROKEN");
}

/// Rewrites one ledger item's `correlation_id` behind the product's back (only an emulator
/// allows it); returns its stream and seq.
fn tamper_one_item(endpoint: &str, table: &str) -> (String, u64) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let client = devstack::dynamodb_client(endpoint);
        let items = client.scan().table_name(table).send().await.unwrap().items.unwrap_or_default();
        let mut item = items
            .into_iter()
            .find(|i| i["pk"].as_s().is_ok_and(|s| s.starts_with("SESSION#")))
            .expect("a session event");
        let stream = item["pk"].as_s().unwrap().clone();
        let seq: u64 = item["sk"].as_n().unwrap().parse().unwrap();
        item.insert("correlation_id".into(), aws_sdk_dynamodb::types::AttributeValue::S("tampered".into()));
        client.put_item().table_name(table).set_item(Some(item)).send().await.unwrap();
        (stream, seq)
    })
}
