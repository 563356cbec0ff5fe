//! Operator commands that read AWS directly with the operator's own credentials: the ledger
//! table (`audit export`, `audit verify`, `views rebuild`) and SSM (`policy pull`, `policy
//! diff`). None of them writes the ledger; `views rebuild --repair` writes only derived views.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::Path;

use anyhow::{Context, Result};
use aws_config::SdkConfig;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata};
use chrono::{DateTime, Utc};
use ledger::store::dynamo::DynamoEventStore;
use ledger::StoredEvent;
use serde_json::{json, Value};

use crate::failure::{exit, LocalFailure};
use crate::output::{clean, write_stdout, Out};

/// AWS configuration from the standard chain, with `--region` and `--aws-profile` when given.
pub async fn aws(region: Option<&str>, profile: Option<&str>) -> SdkConfig {
    crate::client::aws_config(region, profile).await
}

/// An AWS error as a failure with the right exit code.
fn aws_failure<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    what: &str,
    error: &aws_sdk_dynamodb::error::SdkError<E, R>,
) -> LocalFailure {
    let code = error.code().unwrap_or_default();
    let detail = format!("{what}: {}", DisplayErrorContext(error));
    match code {
        "AccessDeniedException"
        | "UnrecognizedClientException"
        | "InvalidSignatureException"
        | "ExpiredTokenException" => LocalFailure::new("ACCESS_DENIED", exit::DENIED, detail)
            .hint("Check your AWS credentials and that they may read this resource."),
        "ResourceNotFoundException" | "ParameterNotFound" => LocalFailure::new("NOT_FOUND", exit::NOT_FOUND, detail),
        _ => LocalFailure::unavailable(detail).hint("Check AWS_REGION, your network and credentials, then retry."),
    }
}

/// Progress on stderr while reading, when stderr is a terminal.
struct Progress {
    live: bool,
}

impl Progress {
    fn new() -> Self {
        Progress { live: std::io::stderr().is_terminal() }
    }

    fn update(&self, what: &str, count: usize) {
        if self.live {
            eprint!("\r{what}: {count} events…");
            let _ = std::io::stderr().flush();
        }
    }

    fn done(&self, message: &str) {
        if self.live {
            eprint!("\r\x1b[K");
        }
        info(message);
    }
}

/// A progress note on stderr for people; scripts (stderr not a terminal) get only errors there.
fn info(message: &str) {
    if std::io::stderr().is_terminal() {
        eprintln!("{message}");
    }
}

/// Every event of the ledger table (a consistent Scan, every page), decoded through the
/// ledger's own item mapping, with progress.
pub async fn read_ledger(config: &SdkConfig, table: &str) -> Result<Vec<StoredEvent>> {
    let store = DynamoEventStore::new(aws_sdk_dynamodb::Client::new(config), table);
    let progress = Progress::new();
    let events = store
        .scan_all(|count| progress.update(&format!("reading {table}"), count))
        .await
        .map_err(|e| table_failure(table, e))?;
    progress.done(&format!("read {} events from {table}", events.len()));
    Ok(events)
}

/// A failed read of a table, as the CLI reports it: its exit code follows the failure's kind
/// (no read rights is "denied", a missing table "not found", the rest "unavailable").
fn table_failure(table: &str, e: ledger::StoreError) -> anyhow::Error {
    use ledger::store::FailureKind;
    let failure = match e.failure_kind() {
        _ if matches!(e, ledger::StoreError::Corrupt(_)) => {
            LocalFailure::new("CORRUPT_ITEM", exit::INTERNAL, format!("an item of {table} is not a ledger event: {e}"))
        }
        Some(FailureKind::Denied) => LocalFailure::new(
            "ACCESS_DENIED",
            exit::DENIED,
            format!("your AWS credentials may not read the table {table}: {e}"),
        )
        .hint("Use credentials allowed to Scan the ledger table (the operators' audit role)."),
        Some(FailureKind::NotFound) => LocalFailure::new(
            "NOT_FOUND",
            exit::NOT_FOUND,
            format!("the table {table} does not exist in this account and region"),
        )
        .hint("Check SENTINEL_LEDGER_TABLE, AWS_REGION and the account of your credentials."),
        _ => LocalFailure::new(
            "LEDGER_UNAVAILABLE",
            exit::UNAVAILABLE,
            format!("cannot read the ledger table {table}: {e}"),
        ),
    };
    failure.into()
}

/// `sentinel audit export`: NDJSON on stdout, oldest first.
pub async fn audit_export(
    config: &SdkConfig,
    table: &str,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    principal: Option<&str>,
) -> Result<()> {
    if let (Some(s), Some(u)) = (since, until) {
        if s >= u {
            return Err(LocalFailure::usage("--since must be before --until").into());
        }
    }
    let mut events = read_ledger(config, table).await?;
    events.retain(|e| {
        let at = DateTime::parse_from_rfc3339(&e.occurred_at).map(|t| t.with_timezone(&Utc)).ok();
        let in_range = match at {
            Some(at) => since.is_none_or(|s| at >= s) && until.is_none_or(|u| at < u),
            None => since.is_none() && until.is_none(),
        };
        in_range && principal.is_none_or(|p| e.actor == p)
    });
    events.sort_by(|a, b| (&a.occurred_at, &a.stream, a.seq).cmp(&(&b.occurred_at, &b.stream, b.seq)));
    let mut text = String::new();
    for event in &events {
        text.push_str(&serde_json::to_string(event).context("cannot encode an event")?);
        text.push('\n');
    }
    write_stdout(&text)?;
    info(&format!("exported {} events", events.len()));
    Ok(())
}

/// Groups events by stream, each sorted by seq.
pub fn by_stream(events: Vec<StoredEvent>) -> BTreeMap<String, Vec<StoredEvent>> {
    let mut streams: BTreeMap<String, Vec<StoredEvent>> = BTreeMap::new();
    for event in events {
        streams.entry(event.stream.clone()).or_default().push(event);
    }
    for events in streams.values_mut() {
        events.sort_by_key(|e| e.seq);
    }
    streams
}

/// `sentinel audit verify`: every stream's chain from seq 1.
pub async fn audit_verify(config: &SdkConfig, table: &str, out: Out) -> Result<()> {
    let events = read_ledger(config, table).await?;
    let count = events.len();
    let streams = by_stream(events);
    let breaks: Vec<ledger::ChainBreak> =
        streams.iter().filter_map(|(stream, events)| ledger::verify_stream(stream, events).err()).collect();
    let report = json!({
        "ok": breaks.is_empty(),
        "events": count,
        "streams": streams.len(),
        "broken": breaks.iter().map(|b| json!({ "stream": b.stream, "seq": b.seq, "problem": b.kind.to_string() })).collect::<Vec<_>>(),
    });
    out.emit(&report, |_| {
        let mut text = String::new();
        for b in &breaks {
            text.push_str(&format!("BROKEN  {}  seq {}: {}\n", clean(&b.stream), b.seq, b.kind));
        }
        if breaks.is_empty() {
            text.push_str(&format!("ok: {} streams, {count} events, every chain intact\n", streams.len()));
        }
        text
    })?;
    match breaks.first() {
        None => Ok(()),
        Some(first) => Err(LocalFailure::new(
            "CHAIN_BROKEN",
            exit::INTERNAL,
            format!(
                "the ledger has been altered: stream {} is broken at seq {} ({}){}",
                clean(&first.stream),
                first.seq,
                first.kind,
                if breaks.len() > 1 { format!(", and {} more streams", breaks.len() - 1) } else { String::new() }
            ),
        )
        .hint("Treat this as a security incident: keep the table as it is and compare with the EventBridge archive.")
        .into()),
    }
}

/// `sentinel views rebuild [--check|--repair]`.
pub async fn views_rebuild(
    config: &SdkConfig,
    ledger_table: &str,
    views_table: &str,
    repair: bool,
    out: Out,
) -> Result<()> {
    let events = read_ledger(config, ledger_table).await?;
    let views = projections::store::dynamo::DynamoViewStore::new(aws_sdk_dynamodb::Client::new(config), views_table);
    let mode = if repair { projections::Mode::Repair } else { projections::Mode::Check };
    info(&format!("recomputing the views from {} events…", events.len()));
    let report = projections::rebuild(&events, &views, mode)
        .await
        .map_err(|e| LocalFailure::unavailable(format!("cannot rebuild the views in {views_table}: {e}")))?;
    let differences: Vec<String> = report.differences.iter().map(describe).collect();
    let broken: Vec<String> = report.broken.iter().map(ToString::to_string).collect();
    let value = json!({
        "mode": if repair { "repair" } else { "check" },
        "events": report.events,
        "streams": report.streams,
        "clean": report.is_clean(),
        "differences": differences,
        "broken": broken,
        "written": report.written,
    });
    out.emit(&value, |_| {
        let mut text = String::new();
        for d in &differences {
            text.push_str(&format!("DIFF    {d}\n"));
        }
        for b in &broken {
            text.push_str(&format!("BROKEN  {b}\n"));
        }
        text.push_str(&format!(
            "{} events, {} streams: {} differences, {} broken streams{}\n",
            report.events,
            report.streams,
            differences.len(),
            broken.len(),
            if repair { format!(", {} rows written", report.written) } else { String::new() }
        ));
        text
    })?;
    if !broken.is_empty() {
        return Err(LocalFailure::new(
            "CHAIN_BROKEN",
            exit::INTERNAL,
            format!("{} ledger streams do not fold: {}", broken.len(), broken[0]),
        )
        .hint("Run `sentinel audit verify`.")
        .into());
    }
    if !repair && !differences.is_empty() {
        return Err(LocalFailure::new(
            "VIEWS_DIFFER",
            exit::INTERNAL,
            format!("the views differ from the ledger in {} places", differences.len()),
        )
        .hint("Inspect the differences; `sentinel views rebuild --repair` rewrites the derived rows.")
        .into());
    }
    Ok(())
}

fn describe(d: &projections::rebuild::Difference) -> String {
    use projections::rebuild::Difference::*;
    match d {
        MissingProjection { stream } => format!("{stream}: missing from the views"),
        ProjectionDiffers { stream, stored_seq, ledger_seq } => {
            format!("{stream}: view at seq {stored_seq} differs from the ledger at seq {ledger_seq}")
        }
        ProjectionAheadOfLedger { stream, stored_seq, ledger_seq } => {
            format!("{stream}: view at seq {stored_seq} is ahead of the ledger at seq {ledger_seq} (ledger events deleted?)")
        }
        UnknownProjection { stream } => format!("{stream}: in the views but not in the ledger"),
        MissingAudit { stream, seq } => format!("{stream} seq {seq}: no audit row"),
        AuditDiffers { stream, seq } => {
            format!("{stream} seq {seq}: audit row differs from the event")
        }
        UnknownAudit { stream, seq } => {
            format!("{stream} seq {seq}: audit row without a ledger event")
        }
    }
}

/// The outcome of validating one file.
fn validate_file(path: &Path) -> Value {
    let name = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return json!({ "file": name, "valid": false, "error": format!("cannot read: {e}"), "warnings": [] }),
    };
    let is_admins = path.file_stem().is_some_and(|s| s == "admins");
    if is_admins {
        return match ledger::policy::AdminsDocument::parse(&text) {
            Ok(_) => json!({ "file": name, "valid": true, "kind": "admins", "warnings": [] }),
            Err(e) => {
                json!({ "file": name, "valid": false, "kind": "admins", "line": e.line, "error": e.to_string(), "warnings": [] })
            }
        };
    }
    match ledger::policy::PolicyDocument::parse(&text, None) {
        Ok(policy) => {
            let warnings: Vec<String> = policy.lint().iter().map(ToString::to_string).collect();
            json!({
                "file": name, "valid": true, "kind": "policy", "profile": policy.profile.as_str(),
                "rules": policy.rules.len(), "hash": policy.hash(), "warnings": warnings,
            })
        }
        Err(e) => {
            json!({ "file": name, "valid": false, "kind": "policy", "line": e.line, "error": e.to_string(), "warnings": [] })
        }
    }
}

/// `sentinel policy validate FILE...`.
pub fn policy_validate(files: &[std::path::PathBuf], out: Out) -> Result<()> {
    let results: Vec<Value> = files.iter().map(|f| validate_file(f)).collect();
    let invalid = results.iter().filter(|r| r["valid"] != json!(true)).count();
    let value = json!({ "files": results, "valid": invalid == 0 });
    out.emit(&value, |_| {
        let mut text = String::new();
        for r in &results {
            let file = r["file"].as_str().unwrap_or_default();
            if r["valid"] == json!(true) {
                match r["kind"].as_str() {
                    Some("admins") => text.push_str(&format!("{file}: ok (admins)\n")),
                    _ => text.push_str(&format!(
                        "{file}: ok (profile {}, rules: {})\n",
                        r["profile"].as_str().unwrap_or("?"),
                        r["rules"]
                    )),
                }
            } else {
                text.push_str(&format!("{file}: error: {}\n", r["error"].as_str().unwrap_or_default()));
            }
            for w in r["warnings"].as_array().into_iter().flatten() {
                text.push_str(&format!("{file}: warning: {}\n", w.as_str().unwrap_or_default()));
            }
        }
        text
    })?;
    if invalid > 0 {
        let first = results.iter().find(|r| r["valid"] != json!(true)).cloned().unwrap_or_default();
        return Err(LocalFailure::new(
            "INVALID_POLICY",
            exit::INTERNAL,
            format!(
                "{} of {} files are invalid; first: {}: {}",
                invalid,
                results.len(),
                first["file"].as_str().unwrap_or_default(),
                first["error"].as_str().unwrap_or_default()
            ),
        )
        .into());
    }
    Ok(())
}

/// A profile's policy parameter in SSM: its name and value.
async fn pull(config: &SdkConfig, root: &str, profile: &ledger::Profile) -> Result<(String, String)> {
    let name = format!("{}/{}", root.trim_end_matches('/'), profile);
    let ssm = aws_sdk_ssm::Client::new(config);
    let answer = ssm.get_parameter().name(&name).send().await.map_err(|e| {
        let failure = aws_failure(&format!("cannot read {name}"), &e);
        if failure.exit == exit::NOT_FOUND {
            LocalFailure::new("NOT_FOUND", exit::NOT_FOUND, format!("profile {profile} has no policy at {name}"))
                .hint("List profiles with `sentinel profiles`, or check --policy-root / SENTINEL_POLICY_ROOT.")
        } else {
            failure
        }
    })?;
    let value = answer.parameter.and_then(|p| p.value).unwrap_or_default();
    Ok((name, value))
}

/// `sentinel policy pull PROFILE`.
pub async fn policy_pull(config: &SdkConfig, root: &str, profile: &ledger::Profile, out: Out) -> Result<()> {
    let (name, value) = pull(config, root, profile).await?;
    if out.json() {
        return out.print_json(&json!({ "profile": profile.as_str(), "parameter": name, "policy": value }));
    }
    let mut text = value;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    write_stdout(&text)
}

/// `sentinel policy diff PROFILE FILE`.
pub async fn policy_diff(
    config: &SdkConfig,
    root: &str,
    profile: &ledger::Profile,
    file: &Path,
    out: Out,
) -> Result<()> {
    let local = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let (name, remote) = pull(config, root, profile).await?;
    let text = unified_diff(&remote, &local, &format!("ssm:{name}"), &file.display().to_string());
    let value = json!({ "profile": profile.as_str(), "parameter": name, "identical": text.is_empty(), "diff": text });
    out.emit(&value, |_| if text.is_empty() { "no differences\n".to_owned() } else { text.clone() })
}

/// A unified diff (3 lines of context) of `old` and `new`; empty when they are equal.
pub fn unified_diff(old: &str, new: &str, old_name: &str, new_name: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    // Longest common subsequence table, from the ends (policy files are small).
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    // The edit script: (tag, old line no, new line no, text).
    let mut ops: Vec<(char, usize, usize, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            ops.push((' ', i, j, a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(('-', i, j, a[i]));
            i += 1;
        } else {
            ops.push(('+', i, j, b[j]));
            j += 1;
        }
    }
    if ops.iter().all(|op| op.0 == ' ') {
        return String::new();
    }
    const CONTEXT: usize = 3;
    let mut out = format!("--- {old_name}\n+++ {new_name}\n");
    let changed: Vec<usize> = ops.iter().enumerate().filter(|(_, op)| op.0 != ' ').map(|(k, _)| k).collect();
    let mut k = 0;
    while k < changed.len() {
        let start = changed[k].saturating_sub(CONTEXT);
        let mut end = changed[k];
        while k < changed.len() && changed[k] <= end + 2 * CONTEXT {
            end = changed[k];
            k += 1;
        }
        let end = (end + CONTEXT).min(ops.len() - 1);
        let hunk = &ops[start..=end];
        let old_start = hunk.first().map_or(0, |op| op.1);
        let new_start = hunk.first().map_or(0, |op| op.2);
        let old_len = hunk.iter().filter(|op| op.0 != '+').count();
        let new_len = hunk.iter().filter(|op| op.0 != '-').count();
        out.push_str(&format!("@@ -{},{} +{},{} @@\n", old_start + 1, old_len, new_start + 1, new_len));
        for (tag, _, _, line) in hunk {
            out.push_str(&format!("{tag}{line}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use ledger::store::{Detail, FailureKind};
    use ledger::StoreError;

    use super::*;

    #[test]
    fn equal_texts_have_no_diff() {
        assert_eq!(unified_diff("a\nb\n", "a\nb\n", "x", "y"), "");
    }

    #[test]
    fn a_changed_line_shows_as_removed_and_added_with_context() {
        let diff = unified_diff("a\nb\nc\n", "a\nB\nc\n", "old", "new");
        assert_eq!(diff, "--- old\n+++ new\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n");
    }

    fn exit_of(e: StoreError) -> (u8, &'static str) {
        let failure = table_failure("sentinel-ledger", e);
        let local = failure.downcast_ref::<LocalFailure>().expect("a local failure");
        (local.exit, local.code)
    }

    #[test]
    fn a_table_read_fails_with_the_exit_code_of_its_kind() {
        let failed = |kind| StoreError::failed(kind, "Scan", Detail("service said no".into()));
        assert_eq!(exit_of(failed(FailureKind::Denied)), (exit::DENIED, "ACCESS_DENIED"));
        assert_eq!(exit_of(failed(FailureKind::NotFound)), (exit::NOT_FOUND, "NOT_FOUND"));
        assert_eq!(exit_of(failed(FailureKind::Throttled)), (exit::UNAVAILABLE, "LEDGER_UNAVAILABLE"));
        assert_eq!(exit_of(failed(FailureKind::Unavailable)), (exit::UNAVAILABLE, "LEDGER_UNAVAILABLE"));
        assert_eq!(exit_of(StoreError::Corrupt("bad".into())), (exit::INTERNAL, "CORRUPT_ITEM"));
    }
}
