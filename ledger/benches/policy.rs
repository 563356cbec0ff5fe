//! Policy evaluation of a 100-rule policy: the CPU the TVM spends deciding one request (goal
//! ≤ 5 µs median). The caller matches only the last rule, so every rule is tried: users,
//! principal patterns and time windows in a time zone.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::Utc;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ledger::policy::{PolicyDocument, Request, Subject};

/// 99 rules that do not match the caller, then one that does.
fn hundred_rule_policy() -> String {
    let mut yaml = String::from(
        "version: \"1\"\nprofile: bench\nrole_arn: arn:aws:iam::111122223333:role/SentinelProtected-Bench\n\
         max_duration: 1h\nmax_session: 8h\nrules:\n",
    );
    for i in 0..99 {
        let when = match i % 3 {
            0 => format!("      users: [user{i}a, user{i}b, user{i}c@example.com]\n"),
            1 => format!("      principals: [\"arn:aws:sts::111122223333:assumed-role/CI-{i}-*/*\", \"arn:aws:iam::111122223333:user/svc-{i}-*\"]\n"),
            _ => format!(
                "      users: [team{i}@example.com]\n      time: {{days: [mon, tue, wed, thu, fri], hours: {{start: \"08:00\", end: \"18:00\"}}, timezone: Europe/Berlin}}\n"
            ),
        };
        let effect = ["allow", "deny", "require_approval"][i % 3];
        yaml.push_str(&format!("  - name: rule-{i}\n    effect: {effect}\n    when:\n{when}    reason: rule {i}\n"));
    }
    yaml.push_str(
        "  - name: last\n    effect: allow\n    when:\n      users: [alice]\n      \
         principals: [\"arn:aws:iam::111122223333:user/*\"]\n    reason: the one that matches\n\
         approvals: {approvers: [carol], required: 1, window: 4h}\n",
    );
    yaml
}

fn evaluate(c: &mut Criterion) {
    let yaml = hundred_rule_policy();
    let policy = PolicyDocument::parse(&yaml, Some(&"bench".parse().unwrap())).expect("the bench policy parses");
    assert_eq!(policy.rules.len(), 100);
    let subject = Subject {
        principal: "arn:aws:iam::111122223333:user/alice".parse().unwrap(),
        policy_user: Some("alice".into()),
    };
    let now = Utc::now();
    let decision = policy.evaluate(&Request { caller: &subject, now, requested: None });
    assert_eq!(decision.rule.as_deref(), Some("last"), "the caller must match only the last rule");

    let mut group = c.benchmark_group("policy");
    group.throughput(Throughput::Elements(1));
    group.bench_function("evaluate_100_rules", |b| {
        b.iter(|| policy.evaluate(&Request { caller: std::hint::black_box(&subject), now, requested: None }))
    });
    group.bench_function("parse_100_rules", |b| {
        b.iter(|| PolicyDocument::parse(std::hint::black_box(&yaml), None).unwrap())
    });
    group.finish();
}

criterion_group!(benches, evaluate);
criterion_main!(benches);
