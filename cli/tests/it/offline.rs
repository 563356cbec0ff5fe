//! Commands and errors that need no API: usage errors, policy files, completions, durations.

use crate::support::{repo, run, sentinel, text};

#[test]
fn no_subcommand_is_a_usage_error() {
    let out = run(&mut sentinel());
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("Usage: sentinel"), "{}", text(&out.stderr));
}

#[test]
fn an_unknown_flag_is_a_usage_error_in_both_formats() {
    let out = run(sentinel().args(["profiles", "--bogus"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--bogus"));

    let out = run(sentinel().args(["--output", "json", "profiles", "--bogus"]));
    assert_eq!(out.status.code(), Some(2));
    let error: serde_json::Value = serde_json::from_slice(&out.stderr).expect("a JSON error");
    assert_eq!(error["Code"], "USAGE");
    assert!(error["Message"].as_str().unwrap().contains("--bogus"));
}

#[test]
fn commands_that_need_the_api_refuse_to_run_without_its_url() {
    let out = run(sentinel().args(["whoami"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--remote-server"), "{}", text(&out.stderr));
}

#[test]
fn plain_http_to_a_remote_host_is_refused() {
    let out = run(sentinel().args(["profiles", "--remote-server", "http://sentinel.example.com"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("plain http is only allowed"), "{}", text(&out.stderr));
}

#[test]
fn the_example_policies_validate() {
    let dir = repo().join("examples/policies");
    let out = run(sentinel().arg("policy").arg("validate").arg(dir.join("dev.yaml")).arg(dir.join("prod.yaml")));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("dev.yaml: ok (profile dev"), "{stdout}");
    assert!(stdout.contains("prod.yaml: ok (profile prod"), "{stdout}");
}

#[test]
fn a_broken_policy_fails_validation_naming_its_line() {
    let good = std::fs::read_to_string(repo().join("examples/policies/prod.yaml")).unwrap();
    assert!(good.contains("effect: require_approval"));
    let line = good.lines().position(|l| l.contains("effect: require_approval")).unwrap() + 1;
    let dir = tempdir();
    let broken = dir.join("prod.yaml");
    std::fs::write(&broken, good.replace("effect: require_approval", "effect: alow")).unwrap();

    let out = run(sentinel().args(["policy", "validate"]).arg(&broken));
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(stdout.contains(&format!("line {line}")), "{stdout}");
    assert!(text(&out.stderr).starts_with("sentinel: 1 of 1 files are invalid"), "{}", text(&out.stderr));

    let out = run(sentinel().args(["--output", "json", "policy", "validate"]).arg(&broken));
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(report["files"][0]["valid"], false);
    assert_eq!(report["files"][0]["line"], line);
    let error: serde_json::Value = serde_json::from_slice(&out.stderr).expect("JSON on stderr");
    assert_eq!(error["Code"], "INVALID_POLICY");
}

#[test]
fn a_missing_policy_file_is_reported_not_panicked_on() {
    let out = run(sentinel().args(["policy", "validate", "/nonexistent/policy.yaml"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("cannot read"));
}

#[test]
fn bash_completions_are_printed() {
    let out = run(sentinel().args(["completions", "bash"]));
    assert_eq!(out.status.code(), Some(0));
    let script = text(&out.stdout);
    assert!(script.contains("_sentinel()") && script.contains("complete -F _sentinel"), "{script}");
    assert!(script.contains("breakglass"));
}

#[test]
fn durations_accept_seconds_and_units_and_refuse_the_rest() {
    for good in ["900", "15m", "1h", "1h30m", "900s"] {
        assert!(cli::args::parse_duration_arg(good).is_ok(), "{good}");
    }
    assert_eq!(cli::args::parse_duration_arg("15m").unwrap().as_secs(), 900);
    assert_eq!(cli::args::parse_duration_arg("1h30m").unwrap().as_secs(), 5400);
    for bad in ["", "abc", "-5", "1.5h", "0", "15 m"] {
        assert!(cli::args::parse_duration_arg(bad).is_err(), "{bad}");
    }
    let out = run(sentinel().args([
        "request",
        "prod",
        "--justification",
        "deploy hotfix 42",
        "--duration",
        "soon",
        "--remote-server",
        "http://127.0.0.1:9",
    ]));
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--duration"), "{}", text(&out.stderr));
}

#[test]
fn exec_refuses_credentials_longer_than_role_chaining_allows_before_calling_the_api() {
    let out = run(sentinel().args([
        "exec",
        "--remote-server",
        "http://127.0.0.1:9",
        "dev",
        "--duration",
        "2h",
        "--",
        "true",
    ]));
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("900-3600"), "{}", text(&out.stderr));
}

/// A fresh directory under the system's temp dir.
pub fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sentinel-cli-test-{}-{}", std::process::id(), ulid_like()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn ulid_like() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{}-{}",
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}
