//! Commands answered by the HTTP API (SigV4): whoami, profiles, shell init, approvals,
//! break-glass, sessions and policy push. Authorization is the server's; the CLI validates
//! input before sending and renders the answers.

use std::str::FromStr;

use anyhow::{Context, Result};
use hyper::Method;
use serde_json::{json, Value};

use crate::args::{BreakglassCommand, PageArgs, RequestsCommand, SessionsCommand};
use crate::client::{encode, Client};
use crate::failure::LocalFailure;
use crate::output::{block, clean, field, items, table, Out};

/// A profile name checked like the API checks it.
pub fn profile(name: &str) -> Result<ledger::Profile> {
    name.parse().map_err(|_| {
        LocalFailure::usage(format!("invalid profile name {name:?}"))
            .hint("Profile names are 1-64 letters, digits, '_', '.' and '-', starting with a letter or digit.")
            .into()
    })
}

/// An id (a bare ULID) checked before it goes into a path.
fn id<T: FromStr>(kind: &str, text: &str) -> Result<T> {
    text.parse()
        .map_err(|_| LocalFailure::usage(format!("invalid {kind} id {text:?}: ids are 26-character ULIDs")).into())
}

/// A list route's answer: one page (of `--limit` items), or with `--all` every page, newest
/// first, as one `{"items": [...], "next_token": ...}`. Following pages reports progress on
/// stderr; a page with more after it says so on stderr (text output only).
async fn list_pages(
    client: &Client,
    out: Out,
    path: &str,
    mut query: Vec<(&'static str, String)>,
    page: &PageArgs,
    what: &str,
) -> Result<Value> {
    if let Some(limit) = page.limit {
        query.push(("limit", limit.to_string()));
    }
    let (mut items, mut token, mut pages) = (Vec::new(), None::<String>, 0usize);
    loop {
        let mut this = query.clone();
        if let Some(t) = &token {
            this.push(("next_token", t.clone()));
        }
        let answer =
            client.json(Method::GET, path, &this, None).await.with_context(|| format!("cannot list {what}"))?;
        pages += 1;
        items.extend(answer["items"].as_array().cloned().unwrap_or_default());
        token = answer["next_token"].as_str().filter(|t| !t.is_empty()).map(str::to_owned);
        if token.is_none() || !page.all {
            break;
        }
        eprintln!("sentinel: {} {what} so far ({pages} pages)…", items.len());
    }
    if token.is_some() && !out.json() {
        eprintln!("sentinel: more {what} than shown: add --all (or a larger --limit, up to 500).");
    }
    Ok(json!({ "items": items, "next_token": token }))
}

/// `sentinel whoami [--profile P]`.
pub async fn whoami(client: &Client, out: Out, profile_name: Option<&str>) -> Result<()> {
    let mut query = Vec::new();
    if let Some(p) = profile_name {
        query.push(("profile", profile(p)?.to_string()));
    }
    let answer = client.json(Method::GET, "/whoami", &query, None).await.context("cannot ask the API who you are")?;
    out.emit(&answer, |v| {
        let mut text = block(
            v,
            &[
                ("ARN", "arn"),
                ("Account", "account"),
                ("Kind", "kind"),
                ("Person", "person"),
                ("Policy user", "policy_user"),
            ],
        );
        if let Some(decision) = v.get("decision") {
            text.push('\n');
            text.push_str(&block(
                decision,
                &[
                    ("Profile", "profile"),
                    ("Effect", "effect"),
                    ("Rule", "rule"),
                    ("Reason", "reason"),
                    ("Max duration (s)", "max_duration_seconds"),
                ],
            ));
        }
        text
    })
}

/// `sentinel profiles`.
pub async fn profiles(client: &Client, out: Out) -> Result<()> {
    let answer = client.json(Method::GET, "/profiles", &[], None).await.context("cannot list profiles")?;
    out.emit(&answer, |v| {
        let list = v.get("profiles").and_then(|p| p.as_array()).cloned().unwrap_or_default();
        table(&list, &[("PROFILE", "name"), ("POLICY", "policy_path")], "no profiles")
    })
}

/// POSIX shell single quoting: `'…'` with every `'` written as `'\''`.
pub fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Whether `name` may appear unquoted as part of a shell function name.
fn safe_function_suffix(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

/// `sentinel shell init`: one function per profile, `sentinel-<profile> CMD…`.
pub async fn shell_init(client: &Client, out: Out, url: &str) -> Result<()> {
    let answer = client.json(Method::GET, "/profiles", &[], None).await.context("cannot list profiles")?;
    let names: Vec<String> = answer
        .get("profiles")
        .and_then(|p| p.as_array())
        .map(|list| list.iter().filter_map(|p| p.get("name").and_then(|n| n.as_str()).map(str::to_owned)).collect())
        .unwrap_or_default();
    let (script, functions) = shell_functions(url, &names);
    if out.json() {
        return out.print_json(&json!({ "functions": functions }));
    }
    crate::output::write_stdout(&script)
}

/// The script and its functions as JSON; names a shell could misread are skipped, never quoted
/// into code.
pub fn shell_functions(url: &str, profiles: &[String]) -> (String, Vec<Value>) {
    let mut script =
        String::from("# Sentinel: one function per profile; usage: sentinel-<profile> COMMAND [ARGS...]\n");
    let mut functions = Vec::new();
    for name in profiles {
        if !safe_function_suffix(name) || name.parse::<ledger::Profile>().is_err() {
            eprintln!("sentinel: skipping profile {:?}: not a valid profile name", clean(name));
            continue;
        }
        let function = format!("sentinel-{name}");
        let definition = format!(
            "{function}() {{ sentinel exec --remote-server {} --profile {} -- \"$@\"; }}",
            shell_quote(url),
            shell_quote(name)
        );
        script.push_str(&definition);
        script.push('\n');
        functions.push(json!({ "name": function, "profile": name, "definition": definition }));
    }
    (script, functions)
}

const REQUEST_COLUMNS: &[(&str, &str)] = &[
    ("ID", "request_id"),
    ("STATUS", "status"),
    ("PROFILE", "profile"),
    ("REQUESTER", "requester"),
    ("APPROVALS", "approvals"),
    ("EXPIRES", "expires_at"),
];

fn request_block(v: &Value) -> String {
    block(
        v,
        &[
            ("Request", "request_id"),
            ("Status", "status"),
            ("Profile", "profile"),
            ("Requester", "requester"),
            ("Requester person", "requester_person"),
            ("Justification", "justification"),
            ("Duration (s)", "duration"),
            ("Required", "required"),
            ("Approvals", "approvals"),
            ("Requested at", "requested_at"),
            ("Expires at", "expires_at"),
            ("Usable until", "usable_until"),
            ("Decided at", "decided_at"),
        ],
    )
}

/// What an answer says was ended besides its own object: the grant a revoked session rested on
/// and the sessions revoked with it (nothing when the answer names none).
fn ended(v: &Value) -> String {
    let mut text = String::new();
    if let Some(grant) = v.get("ended_grant").and_then(Value::as_str) {
        text.push_str(&format!("Ended grant: {grant}\n"));
    }
    let sessions: Vec<&str> =
        v.get("revoked_sessions").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
    if !sessions.is_empty() {
        text.push_str(&format!("Revoked sessions: {}\n", sessions.join(", ")));
    }
    text
}

/// `sentinel request PROFILE --justification T --duration D`.
pub async fn request(
    client: &Client,
    out: Out,
    profile_name: &str,
    justification: &str,
    duration: std::time::Duration,
) -> Result<()> {
    let profile = profile(profile_name)?;
    let body = json!({ "profile": profile.as_str(), "justification": justification, "duration": duration.as_secs() });
    let answer = client
        .json(Method::POST, "/requests", &[], Some(body))
        .await
        .with_context(|| format!("cannot request access to {profile}"))?;
    out.emit(&answer, |v| {
        let id = field(v, "request_id");
        format!(
            "{}\nApprovers are not notified by the CLI: tell them to run `sentinel requests approve {id}`.\n",
            request_block(v)
        )
    })
}

/// `sentinel requests …`.
pub async fn requests(client: &Client, out: Out, command: &RequestsCommand) -> Result<()> {
    match command {
        RequestsCommand::List { status, profile: p, approver_me, page, .. } => {
            let mut query = Vec::new();
            if let Some(s) = status {
                query.push(("status", s.clone()));
            }
            if let Some(p) = p {
                query.push(("profile", profile(p)?.to_string()));
            }
            if *approver_me {
                query.push(("approver", "me".to_owned()));
            }
            let answer = list_pages(client, out, "/requests", query, page, "requests").await?;
            out.emit(&answer, |v| table(&items(v), REQUEST_COLUMNS, "no requests"))
        }
        RequestsCommand::Show { id: raw, .. } => {
            let id: ledger::ApprovalId = id("request", raw)?;
            let answer = client
                .json(Method::GET, &format!("/requests/{}", encode(&id.to_string())), &[], None)
                .await
                .with_context(|| format!("cannot show request {id}"))?;
            out.emit(&answer, request_block)
        }
        RequestsCommand::Approve { id: raw, comment, .. } | RequestsCommand::Deny { id: raw, comment, .. } => {
            let verb = if matches!(command, RequestsCommand::Approve { .. }) { "approve" } else { "deny" };
            let id: ledger::ApprovalId = id("request", raw)?;
            let body = match comment {
                Some(c) => json!({ "comment": c }),
                None => json!({}),
            };
            let answer = client
                .json(Method::POST, &format!("/requests/{}/{verb}", encode(&id.to_string())), &[], Some(body))
                .await
                .with_context(|| format!("cannot {verb} request {id}"))?;
            out.emit(&answer, request_block)
        }
        RequestsCommand::Cancel { id: raw, .. } => {
            let id: ledger::ApprovalId = id("request", raw)?;
            let answer = client
                .json(Method::POST, &format!("/requests/{}/cancel", encode(&id.to_string())), &[], Some(json!({})))
                .await
                .with_context(|| format!("cannot cancel request {id}"))?;
            out.emit(&answer, |v| format!("{}{}", request_block(v), ended(v)))
        }
        RequestsCommand::Revoke { id: raw, reason, .. } => {
            let id: ledger::ApprovalId = id("request", raw)?;
            let body = json!({ "reason": reason });
            let answer = client
                .json(Method::POST, &format!("/requests/{}/revoke", encode(&id.to_string())), &[], Some(body))
                .await
                .with_context(|| format!("cannot revoke request {id}"))?;
            out.emit(&answer, |v| format!("{}{}", request_block(v), ended(v)))
        }
    }
}

fn break_glass_block(v: &Value) -> String {
    block(
        v,
        &[
            ("Break-glass", "breakglass_id"),
            ("Status", "status"),
            ("Profile", "profile"),
            ("Invoker", "invoker"),
            ("Reason code", "reason_code"),
            ("Justification", "justification"),
            ("Duration (s)", "duration"),
            ("Invoked at", "invoked_at"),
            ("Expires at", "expires_at"),
            ("Ended at", "ended_at"),
        ],
    )
}

/// `sentinel breakglass …`.
pub async fn breakglass(client: &Client, out: Out, command: &BreakglassCommand) -> Result<()> {
    match command {
        BreakglassCommand::Invoke { profile: p, reason_code, justification, duration, .. } => {
            let profile = profile(p)?;
            let mut body =
                json!({ "profile": profile.as_str(), "reason_code": reason_code, "justification": justification });
            if let Some(d) = duration {
                body["duration"] = json!(d.as_secs());
            }
            let answer = client
                .json(Method::POST, "/breakglass", &[], Some(body))
                .await
                .with_context(|| format!("cannot break glass on {profile}"))?;
            out.emit(&answer, |v| {
                format!(
                    "{}\nBreak-glass is active: `sentinel exec {profile} -- COMMAND` now issues credentials. Close it when done: `sentinel breakglass close {} --reason '...'`.\n",
                    break_glass_block(v),
                    field(v, "breakglass_id")
                )
            })
        }
        BreakglassCommand::Close { id: raw, reason, .. } => {
            let id: ledger::BreakGlassId = id("break-glass", raw)?;
            let answer = client
                .json(
                    Method::POST,
                    &format!("/breakglass/{}/close", encode(&id.to_string())),
                    &[],
                    Some(json!({ "reason": reason })),
                )
                .await
                .with_context(|| format!("cannot close break-glass {id}"))?;
            out.emit(&answer, |v| format!("{}{}", break_glass_block(v), ended(v)))
        }
        BreakglassCommand::List { status, profile: p, page, .. } => {
            let mut query = Vec::new();
            if let Some(s) = status {
                query.push(("status", s.clone()));
            }
            if let Some(p) = p {
                query.push(("profile", profile(p)?.to_string()));
            }
            let answer = list_pages(client, out, "/breakglass", query, page, "break-glass").await?;
            out.emit(&answer, |v| {
                table(
                    &items(v),
                    &[
                        ("ID", "breakglass_id"),
                        ("STATUS", "status"),
                        ("PROFILE", "profile"),
                        ("INVOKER", "invoker"),
                        ("REASON", "reason_code"),
                        ("EXPIRES", "expires_at"),
                    ],
                    "no break-glass",
                )
            })
        }
    }
}

fn session_block(v: &Value) -> String {
    block(
        v,
        &[
            ("Session", "session_id"),
            ("Status", "status"),
            ("Principal", "principal"),
            ("Profile", "profile"),
            ("Role", "role_arn"),
            ("Source identity", "source_identity"),
            ("Basis", "basis"),
            ("Reason", "reason"),
            ("Issued at", "issued_at"),
            ("Credentials expire", "expires_at"),
            ("Session ends", "session_ends_at"),
            ("Refreshes", "refreshes"),
            ("Revoked by", "revoked_by"),
            ("Revoke reason", "revoke_reason"),
        ],
    )
}

/// `sentinel sessions …`.
pub async fn sessions(client: &Client, out: Out, command: &SessionsCommand) -> Result<()> {
    match command {
        SessionsCommand::List { status, profile: p, principal, page, .. } => {
            let mut query = Vec::new();
            if let Some(s) = status {
                query.push(("status", s.clone()));
            }
            if let Some(p) = p {
                query.push(("profile", profile(p)?.to_string()));
            }
            if let Some(who) = principal {
                query.push(("principal", who.clone()));
            }
            let answer = list_pages(client, out, "/sessions", query, page, "sessions").await?;
            out.emit(&answer, |v| {
                table(
                    &items(v),
                    &[
                        ("ID", "session_id"),
                        ("STATUS", "status"),
                        ("PROFILE", "profile"),
                        ("PRINCIPAL", "principal"),
                        ("ISSUED", "issued_at"),
                        ("ENDS", "session_ends_at"),
                    ],
                    "no sessions",
                )
            })
        }
        SessionsCommand::Show { id: raw, .. } => {
            let id: ledger::SessionId = id("session", raw)?;
            let answer = client
                .json(Method::GET, &format!("/sessions/{}", encode(&id.to_string())), &[], None)
                .await
                .with_context(|| format!("cannot show session {id}"))?;
            out.emit(&answer, session_block)
        }
        SessionsCommand::Revoke { id: raw, reason, .. } => {
            let id: ledger::SessionId = id("session", raw)?;
            let answer = client
                .json(
                    Method::POST,
                    &format!("/sessions/{}/revoke", encode(&id.to_string())),
                    &[],
                    Some(json!({ "reason": reason })),
                )
                .await
                .with_context(|| format!("cannot revoke session {id}"))?;
            out.emit(&answer, |v| {
                format!(
                    "{}{}\nIts next refresh fails; AWS denies its credentials once the enforcer has run.\n",
                    session_block(v),
                    ended(v)
                )
            })
        }
    }
}

/// `sentinel policy push PROFILE FILE`: validated here first, then published by the API.
pub async fn policy_push(client: &Client, out: Out, profile_name: &str, file: &std::path::Path) -> Result<()> {
    let profile = profile(profile_name)?;
    let yaml = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    ledger::policy::PolicyDocument::parse(&yaml, Some(&profile)).map_err(|e| {
        LocalFailure::new("INVALID_POLICY", crate::failure::exit::USAGE, format!("{}: {e}", file.display()))
    })?;
    let answer = client
        .signed(
            Method::PUT,
            &format!("/policies/{}", encode(profile.as_str())),
            &[],
            Some(("application/yaml", yaml.into_bytes())),
        )
        .await
        .with_context(|| format!("cannot publish the policy of {profile}"))?
        .json()?;
    out.emit(&answer, |v| {
        let mut text = format!("published {} (hash {})\n", field(v, "profile"), field(v, "hash"));
        for w in v.get("warnings").and_then(|w| w.as_array()).into_iter().flatten() {
            text.push_str(&format!("warning: {}\n", clean(w.as_str().unwrap_or_default())));
        }
        text
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_single_quotes_and_shell_syntax() {
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("$(rm -rf ~)"), "'$(rm -rf ~)'");
    }

    #[test]
    fn profiles_that_could_inject_are_skipped() {
        let names = vec!["dev".to_owned(), "x; rm -rf ~".to_owned(), "a'b".to_owned(), "prod.eu".to_owned()];
        let (script, functions) = shell_functions("http://127.0.0.1:8787", &names);
        assert_eq!(functions.len(), 2);
        assert!(script.contains(
            "sentinel-dev() { sentinel exec --remote-server 'http://127.0.0.1:8787' --profile 'dev' -- \"$@\"; }"
        ));
        assert!(!script.contains("rm -rf"));
    }
}
