//! API answers against a stub server: both error shapes, hints, exit codes, JSON errors, the
//! SigV4 signature, request bodies and shell functions.

use serde_json::json;

use crate::support::{run, sentinel, text, Canned, Stub};

fn whoami_against(canned: Canned, json_output: bool) -> std::process::Output {
    let stub = Stub::start(vec![("GET", "/whoami", canned)]);
    let mut command = sentinel();
    if json_output {
        command.args(["--output", "json"]);
    }
    run(command.args(["whoami", "--profile", "prod", "--remote-server", &stub.url]))
}

#[test]
fn a_policy_deny_shows_the_rules_reason_and_exits_3() {
    let out = whoami_against(
        Canned::json(
            403,
            json!({"Code": "POLICY_DENY", "Message": "Policy denied: production access needs an approval"}),
        ),
        false,
    );
    assert_eq!(out.status.code(), Some(3));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with(
            "sentinel: cannot ask the API who you are: Policy denied: production access needs an approval\n"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("hint: "), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn approval_required_names_the_pending_request_and_how_to_check_it() {
    let id = "01JABCDEFGHJKMNPQRSTVWXYZ0";
    let out = whoami_against(
        Canned::json(
            403,
            json!({"Code": "APPROVAL_REQUIRED", "Message": "This profile requires an approval.", "request_id": id}),
        ),
        false,
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr).contains(&format!("`sentinel requests show {id}`")), "{}", text(&out.stderr));

    let out = whoami_against(
        Canned::json(
            403,
            json!({"Code": "APPROVAL_REQUIRED", "Message": "This profile requires an approval.", "request_id": id}),
        ),
        true,
    );
    let error: serde_json::Value = serde_json::from_slice(&out.stderr).expect("a JSON error");
    assert_eq!(error["Code"], "APPROVAL_REQUIRED");
    assert_eq!(error["request_id"], id);
}

#[test]
fn api_gateway_forbidden_is_understood_and_denied() {
    let out = whoami_against(Canned::json(403, json!({"message": "Forbidden"})), true);
    assert_eq!(out.status.code(), Some(3));
    let error: serde_json::Value = serde_json::from_slice(&out.stderr).expect("a JSON error");
    assert_eq!(error["Code"], "FORBIDDEN");
    assert!(error["Message"].as_str().unwrap().ends_with("Forbidden"));

    let out = whoami_against(Canned::json(401, json!({"message": "Unauthorized"})), false);
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr).contains("Unauthorized"));
}

#[test]
fn a_bad_signature_suggests_checking_credentials() {
    let out = whoami_against(
        Canned::json(
            403,
            json!({"Code": "IAM_AUTH_REQUIRED", "Message": "This route needs a request signed with AWS Signature Version 4 by an IAM principal.", "message": "The request signature we calculated does not match"}),
        ),
        false,
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr).contains("Check your AWS credentials"), "{}", text(&out.stderr));
}

#[test]
fn statuses_map_to_exit_codes() {
    let cases = [
        (400, "INVALID_REQUEST", 2),
        (404, "NOT_FOUND", 4),
        (409, "CONFLICT", 5),
        (429, "RATE_LIMITED", 3),
        (500, "POLICY_ERROR", 6),
        (503, "LEDGER_UNAVAILABLE", 6),
    ];
    for (status, code, exit) in cases {
        let out = whoami_against(Canned::json(status, json!({"Code": code, "Message": "canned"})), true);
        assert_eq!(out.status.code(), Some(exit), "{status} {code}");
        let error: serde_json::Value = serde_json::from_slice(&out.stderr).expect("a JSON error");
        assert_eq!(error["Code"], code);
    }
}

#[test]
fn ledger_unavailable_suggests_retrying() {
    let out = whoami_against(
        Canned::json(503, json!({"Code": "LEDGER_UNAVAILABLE", "Message": "The request could not be recorded."})),
        false,
    );
    assert_eq!(out.status.code(), Some(6));
    assert!(text(&out.stderr).contains("retry"), "{}", text(&out.stderr));
}

#[test]
fn an_unreachable_api_is_unavailable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let out = run(sentinel().args(["profiles", "--remote-server", &format!("http://127.0.0.1:{port}")]));
    assert_eq!(out.status.code(), Some(6));
    assert!(text(&out.stderr).contains("cannot reach the Sentinel API"), "{}", text(&out.stderr));
}

#[test]
fn requests_are_signed_with_sigv4_for_execute_api() {
    let stub = Stub::start(vec![(
        "GET",
        "/profiles",
        Canned::json(200, json!({"profiles": [], "root": "/sentinel/policies"})),
    )]);
    let out = run(sentinel().args(["profiles", "--remote-server", &stub.url]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let seen = stub.requests_to("/profiles");
    let auth = &seen[0].headers["authorization"];
    assert!(auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDCALLERSOWNKEY/"), "{auth}");
    assert!(auth.contains("/us-east-1/execute-api/aws4_request"), "{auth}");
    assert!(seen[0].headers.contains_key("x-amz-date"));
}

#[test]
fn a_request_sends_the_duration_in_seconds() {
    let stub = Stub::start(vec![(
        "POST",
        "/requests",
        Canned::json(201, json!({"request_id": "01JABCDEFGHJKMNPQRSTVWXYZ0", "status": "pending", "profile": "prod"})),
    )]);
    let out = run(sentinel().args([
        "--output",
        "json",
        "request",
        "prod",
        "--justification",
        "deploy hotfix 42",
        "--duration",
        "15m",
        "--remote-server",
        &stub.url,
    ]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let seen = &stub.requests_to("/requests")[0];
    assert_eq!(seen.method, "POST");
    let body: serde_json::Value = serde_json::from_str(&seen.body).unwrap();
    assert_eq!(body, json!({"profile": "prod", "justification": "deploy hotfix 42", "duration": 900}));
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(answer["status"], "pending");
}

#[test]
fn shell_functions_quote_the_url_and_skip_profiles_that_could_inject() {
    let stub = Stub::start(vec![(
        "GET",
        "/profiles",
        Canned::json(
            200,
            json!({"profiles": [
            {"name": "dev", "policy_path": "/sentinel/policies/dev"},
            {"name": "x'; touch /tmp/sentinel-pwned; '", "policy_path": "x"},
            {"name": "$(touch /tmp/sentinel-pwned)", "policy_path": "x"},
            {"name": "prod", "policy_path": "/sentinel/policies/prod"},
        ], "root": "/sentinel/policies"}),
        ),
    )]);
    let url = format!("{}/it's", stub.url);
    let out = run(sentinel().args(["shell", "init", "--remote-server", &url]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let script = text(&out.stdout);
    assert!(!script.contains("touch"), "{script}");
    assert!(text(&out.stderr).contains("skipping profile"));
    // Run the functions with a stand-in `sentinel` that prints its arguments one per line.
    let probe = format!("sentinel() {{ printf '%s\\n' \"$@\"; }}\n{script}\nsentinel-dev aws 'two words'\n");
    let shell = std::process::Command::new("bash").arg("-c").arg(&probe).output().unwrap();
    assert_eq!(
        text(&shell.stdout),
        format!("exec\n--remote-server\n{url}\n--profile\ndev\n--\naws\ntwo words\n"),
        "{}",
        text(&shell.stderr)
    );
}

#[test]
fn sessions_list_all_follows_every_page_and_reports_progress_on_stderr() {
    let page = |ids: &[&str], next: Option<&str>| {
        let items: Vec<_> = ids.iter().map(|id| json!({"session_id": id, "status": "active"})).collect();
        Canned::json(200, json!({"items": items, "next_token": next}))
    };
    let stub = Stub::start(vec![
        ("GET", "/sessions?limit=2&next_token=t2", page(&["S1"], None)),
        ("GET", "/sessions?limit=2&next_token=t1", page(&["S3", "S2"], Some("t2"))),
        ("GET", "/sessions?limit=2", page(&["S5", "S4"], Some("t1"))),
    ]);
    let all = run(sentinel().args([
        "--output",
        "json",
        "sessions",
        "list",
        "--limit",
        "2",
        "--all",
        "--remote-server",
        &stub.url,
    ]));
    assert_eq!(all.status.code(), Some(0), "{}", text(&all.stderr));
    let answer: serde_json::Value = serde_json::from_slice(&all.stdout).expect("JSON on stdout");
    let ids: Vec<&str> =
        answer["items"].as_array().unwrap().iter().map(|v| v["session_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["S5", "S4", "S3", "S2", "S1"]);
    assert!(answer["next_token"].is_null());
    assert_eq!(stub.requests_to("/sessions").len(), 3);
    assert!(text(&all.stderr).contains("4 sessions so far (2 pages)"), "{}", text(&all.stderr));

    // Without --all: one page, and its token for whoever wants the next.
    let one =
        run(sentinel().args(["--output", "json", "sessions", "list", "--limit", "2", "--remote-server", &stub.url]));
    let answer: serde_json::Value = serde_json::from_slice(&one.stdout).expect("JSON on stdout");
    assert_eq!((answer["items"].as_array().unwrap().len(), answer["next_token"].as_str()), (2, Some("t1")));
}

#[test]
fn a_limit_outside_1_to_500_is_a_usage_error() {
    for bad in ["0", "501", "abc"] {
        let out = run(sentinel().args(["sessions", "list", "--limit", bad, "--remote-server", "http://127.0.0.1:9"]));
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", text(&out.stderr));
    }
}
