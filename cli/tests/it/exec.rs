//! `sentinel exec` against the stub API: the child's environment, the loopback credentials
//! endpoint, exit codes and signals.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use serde_json::json;

use crate::support::{fake_credentials, run, sentinel, text, Canned, Stub};

const SESSION_ID: &str = "01JSESS10NABCDEFGHJKMNPQRS";
const SESSION_TOKEN: &str = "01JSESS10NABCDEFGHJKMNPQRS.c2Vzc2lvbi10b2tlbi1zZWNyZXQ";

fn stub() -> Stub {
    Stub::start(vec![
        (
            "GET",
            "/",
            Canned::json(200, fake_credentials("ASIAVENDED"))
                .header("x-sentinel-session-id", SESSION_ID)
                .header("x-sentinel-session-token", SESSION_TOKEN),
        ),
        ("GET", "/credentials", Canned::json(200, fake_credentials("ASIAREFRESHED"))),
    ])
}

fn exec(stub: &Stub, child: &[&str]) -> std::process::Command {
    let mut command = sentinel();
    command
        .env("AWS_PROFILE", "callers-profile")
        .env("AWS_SESSION_TOKEN", "callers-session-token")
        .args(["exec", "--remote-server", &stub.url, "--profile", "dev", "--"])
        .args(child);
    command
}

#[test]
fn the_child_gets_container_credentials_and_none_of_the_callers_keys() {
    let stub = stub();
    let out = run(&mut exec(&stub, &["sh", "-c", "env; exit 7"]));
    assert_eq!(out.status.code(), Some(7), "{}", text(&out.stderr));
    let env = text(&out.stdout);
    for leaked in [
        "AKIDCALLERSOWNKEY",
        "caller-secret-never-leaks",
        "callers-profile",
        "callers-session-token",
        "AWS_ACCESS_KEY_ID=",
        "AWS_PROFILE=",
    ] {
        assert!(!env.contains(leaked), "the child saw {leaked}:\n{env}");
    }
    for expected in [
        "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
        "AWS_CONFIG_FILE=/dev/null",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN=",
        &format!("SENTINEL_SESSION_ID={SESSION_ID}"),
        "AWS_REGION=us-east-1",
    ] {
        assert!(env.contains(expected), "the child lacks {expected}:\n{env}");
    }
    assert!(!env.contains(SESSION_TOKEN), "the session token must stay with sentinel");
    let vend = &stub.requests_to("/")[0];
    assert!(vend.target.contains("profile=dev") && vend.target.contains("duration=3600"), "{}", vend.target);
}

#[test]
fn the_loopback_endpoint_answers_only_the_childs_token_from_the_credentials_route() {
    let stub = stub();
    let fetch = r#"
import json, os, urllib.request, urllib.error
url = os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"]
def get(token):
    req = urllib.request.Request(url, headers={"Authorization": token} if token is not None else {})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, None
good = get(os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"])
print(json.dumps({"good": good, "wrong": get("not-the-token")[0], "none": get(None)[0]}))
"#;
    let out = run(&mut exec(&stub, &["python3", "-c", fetch]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the probe's JSON");
    assert_eq!(result["good"][0], 200);
    assert_eq!(result["good"][1]["AccessKeyId"], "ASIAREFRESHED");
    assert_eq!((result["wrong"].clone(), result["none"].clone()), (json!(403), json!(403)));
    let refreshes = stub.requests_to("/credentials");
    assert_eq!(refreshes.len(), 1, "only the authorized fetch reaches the API");
    assert_eq!(refreshes[0].headers["authorization"], SESSION_TOKEN);
}

#[test]
fn a_refused_refresh_reaches_the_child_as_an_error() {
    let stub = Stub::start(vec![
        (
            "GET",
            "/",
            Canned::json(200, fake_credentials("ASIAVENDED"))
                .header("x-sentinel-session-id", SESSION_ID)
                .header("x-sentinel-session-token", SESSION_TOKEN),
        ),
        ("GET", "/credentials", Canned::json(403, json!({"message": "Forbidden"}))),
    ]);
    let fetch = r#"
import os, urllib.request, urllib.error
req = urllib.request.Request(os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"], headers={"Authorization": os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"]})
try:
    urllib.request.urlopen(req, timeout=5); print("served")
except urllib.error.HTTPError as e:
    print(e.code)
"#;
    let out = run(&mut exec(&stub, &["python3", "-c", fetch]));
    assert_eq!(text(&out.stdout).trim(), "403");
    assert!(text(&out.stderr).contains("not refreshed"), "{}", text(&out.stderr));
}

#[test]
fn a_child_killed_by_a_signal_exits_128_plus_the_signal() {
    let stub = stub();
    let out = run(&mut exec(&stub, &["sh", "-c", "kill -TERM $$"]));
    assert_eq!(out.status.code(), Some(143));
}

#[test]
fn sigterm_to_sentinel_is_forwarded_to_the_child() {
    let stub = stub();
    let mut child = exec(&stub, &["sh", "-c", "trap 'exit 9' TERM; echo ready; while true; do sleep 0.1; done"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    // SAFETY: signalling a child process this test started.
    #[allow(unsafe_code)] // the one reviewed exception to the workspace lint
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    assert_eq!(child.wait().unwrap().code(), Some(9));
}

#[test]
fn nested_exec_is_refused_with_a_clear_message() {
    let stub = stub();
    let out = run(exec(&stub, &["true"]).env("SENTINEL_EXEC_PROFILE", "prod"));
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("already inside `sentinel exec` (profile prod)"), "{}", text(&out.stderr));
    assert!(stub.requests_to("/").is_empty(), "nothing was vended");
}

#[test]
fn a_missing_command_exits_127() {
    let stub = stub();
    let out = run(&mut exec(&stub, &["/nonexistent/program"]));
    assert_eq!(out.status.code(), Some(127));
    assert!(text(&out.stderr).contains("cannot run"));
}

#[test]
fn a_refused_vend_runs_nothing_and_says_why() {
    let stub = Stub::start(vec![(
        "GET",
        "/",
        Canned::json(403, json!({"Code": "POLICY_DENY", "Message": "Policy denied: no rule matched"})),
    )]);
    let out = run(sentinel().args(["exec", "--remote-server", &stub.url, "prod", "--", "sh", "-c", "echo ran"]));
    assert_eq!(out.status.code(), Some(3));
    assert!(out.stdout.is_empty());
    assert!(
        text(&out.stderr).contains("no credentials for profile prod: Policy denied: no rule matched"),
        "{}",
        text(&out.stderr)
    );
}
