//! TVM handler overhead per vend with in-memory ports (goal ≤ 50 µs median): identity, input
//! parsing, rate limit, policy evaluation, the session decider, token generation, sealing and
//! hashing three events, and the credentials answer — everything but the network.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ledger::identity::IdentityConfig;
use ledger::store::memory::MemoryEventStore;
use serde_json::{json, Value};
use tvm::ports::memory::{MemoryGrants, MemoryIssuer, MemoryPolicies};
use tvm::rate_limit::RateLimiter;
use tvm::{Deps, SystemClock};

fn repo_file(path: &str) -> String {
    std::fs::read_to_string(format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR"))).expect("repository file")
}

/// The payload-2.0 fixture as `GET /?profile=…` signed by the IAM user `name`.
fn vend_request(name: &str, profile: &str) -> ApiGatewayV2httpRequest {
    let mut event: Value = serde_json::from_str(&repo_file("functions/tvm/tests/fixtures/vend-iam-user.json")).unwrap();
    event["routeKey"] = json!("GET /");
    event["rawPath"] = json!("/");
    event["rawQueryString"] = json!(format!("profile={profile}&duration=3600"));
    event.as_object_mut().unwrap().remove("queryStringParameters");
    let id = format!("AIDA{}", name.to_uppercase());
    event["requestContext"]["authorizer"]["iam"] = json!({
        "accessKey": "AKIAEXAMPLE", "accountId": "123456789012", "callerId": id,
        "principalOrgId": null, "userArn": format!("arn:aws:iam::123456789012:user/{name}"), "userId": id,
    });
    serde_json::from_value(event).unwrap()
}

fn deps() -> Deps {
    let policies = Arc::new(MemoryPolicies::new());
    for profile in ["dev", "prod"] {
        policies.put(profile, &repo_file(&format!("examples/policies/{profile}.yaml")));
    }
    Deps {
        identity: IdentityConfig::default(),
        policies: policies.clone(),
        issuer: Arc::new(MemoryIssuer::default()),
        store: Arc::new(MemoryEventStore::new()),
        grants: Arc::new(MemoryGrants::default()),
        views: Arc::new(projections::store::memory::MemoryViewStore::new()),
        policy_writer: policies,
        rate_limiter: RateLimiter::new(u32::MAX, Duration::from_secs(60)),
        clock: Arc::new(SystemClock),
        pages: tvm::workflow::page::PageKey::random().unwrap(),
        seen_policies: Default::default(),
    }
}

fn vend(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let mut group = c.benchmark_group("tvm");
    group.throughput(Throughput::Elements(1));
    // A fresh set of ports per batch keeps the memory store from growing without bound.
    let allowed = vend_request("alice", "dev");
    assert_eq!(rt.block_on(tvm::handle(&deps(), allowed.clone())).status_code, 200);
    group.bench_function("vend_allowed_in_memory", |b| {
        b.iter_batched_ref(
            deps,
            |deps| rt.block_on(tvm::handle(deps, allowed.clone())),
            criterion::BatchSize::NumIterations(2_000),
        )
    });
    let denied = vend_request("mallory", "dev");
    assert_eq!(rt.block_on(tvm::handle(&deps(), denied.clone())).status_code, 403);
    group.bench_function("vend_denied_in_memory", |b| {
        b.iter_batched_ref(
            deps,
            |deps| rt.block_on(tvm::handle(deps, denied.clone())),
            criterion::BatchSize::NumIterations(2_000),
        )
    });
    group.finish();
}

criterion_group!(benches, vend);
criterion_main!(benches);
