//! Pagination of the list routes against in-memory ports: each item exactly once across pages,
//! and tokens that are forged, foreign or expired refused.

use std::collections::BTreeSet;

use chrono::Duration;
use projections::Mode;
use serde_json::Value;
use tvm::rate_limit::RateLimiter;

use crate::support::*;

/// A TVM where alice has vended `n` dev sessions, with the views caught up.
async fn with_sessions(n: usize) -> Tvm {
    let mut tvm = Tvm::new();
    tvm.deps.rate_limiter = RateLimiter::new(1_000_000, std::time::Duration::from_secs(60));
    for _ in 0..n {
        vend(&tvm, "alice").await;
    }
    sync(&tvm).await;
    tvm
}

async fn vend(tvm: &Tvm, who: &str) -> String {
    let answer = tvm.call(request("GET /", "profile=dev", Some(iam_user(who)))).await;
    assert_eq!(answer.status(), 200, "{}", answer.body_text());
    answer.json()["SessionId"].as_str().map(str::to_owned).unwrap_or_default()
}

async fn sync(tvm: &Tvm) {
    projections::rebuild(&tvm.store.all(), tvm.deps.views.as_ref(), Mode::Repair).await.unwrap();
}

async fn list(tvm: &Tvm, who: &str, query: &str) -> Answer {
    tvm.call(call("GET /sessions", &[], query, iam_user(who), None)).await
}

fn ids(page: &Value) -> Vec<String> {
    page["items"].as_array().unwrap().iter().map(|v| v["session_id"].as_str().unwrap().to_owned()).collect()
}

fn token(page: &Value) -> String {
    page["next_token"].as_str().expect("a next_token").to_owned()
}

#[tokio::test]
async fn paging_through_1000_sessions_seven_at_a_time_returns_each_exactly_once_newest_first() {
    let tvm = with_sessions(1000).await;
    let expected: BTreeSet<String> = tvm
        .store
        .all()
        .iter()
        .filter(|e| e.event_type == "CredentialsIssued")
        .map(|e| e.stream.trim_start_matches("SESSION#").to_owned())
        .collect();
    assert_eq!(expected.len(), 1000);
    let (mut seen, mut query, mut pages) = (Vec::new(), "limit=7".to_owned(), 0);
    loop {
        let answer = list(&tvm, "alice", &query).await;
        assert_eq!(answer.status(), 200, "{}", answer.body_text());
        let page = answer.json();
        assert!(ids(&page).len() <= 7);
        seen.extend(ids(&page));
        pages += 1;
        if pages == 50 {
            // Sessions that arrive between pages are newer than the position: they neither
            // shift nor repeat what is still to come.
            vend(&tvm, "alice").await;
            sync(&tvm).await;
        }
        match page["next_token"].as_str() {
            Some(next) => query = format!("limit=7&next_token={next}"),
            None => break,
        }
    }
    assert_eq!(pages, 143, "1000 sessions, 7 a page");
    let unique: BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "no session twice");
    assert_eq!(unique, expected, "every session once");
    let mut newest_first = seen.clone();
    newest_first.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, newest_first);
}

#[tokio::test]
async fn the_default_page_is_fifty_and_the_last_page_has_no_token() {
    let tvm = with_sessions(60).await;
    let first = list(&tvm, "alice", "").await.json();
    assert_eq!(ids(&first).len(), 50);
    let second = list(&tvm, "alice", &format!("next_token={}", token(&first))).await.json();
    assert_eq!(ids(&second).len(), 10);
    assert!(second["next_token"].is_null());
    let all = list(&tvm, "alice", "limit=500").await.json();
    assert_eq!((ids(&all).len(), all["next_token"].is_null()), (60, true));
}

#[tokio::test]
async fn a_limit_outside_1_to_500_is_refused() {
    let tvm = with_sessions(1).await;
    for bad in ["limit=0", "limit=501", "limit=abc", "limit=-1", "limit=", "limit=7&limit=8"] {
        list(&tvm, "alice", bad).await.assert_error(400, "INVALID_REQUEST");
    }
    assert_eq!(list(&tvm, "alice", "limit=1").await.status(), 200);
    assert_eq!(list(&tvm, "alice", "limit=500").await.status(), 200);
}

#[tokio::test]
async fn a_forged_token_is_refused() {
    let mut tvm = with_sessions(3).await;
    let real = token(&list(&tvm, "alice", "limit=1").await.json());
    let mut tampered = real.clone().into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let payload = real.split('.').nth(1).unwrap();
    let hand_made = format!("p1.{payload}.{}", "A".repeat(43));
    for bad in [tampered.as_str(), hand_made.as_str(), "abc", "p1..", "p1.x.y.z", ""] {
        list(&tvm, "alice", &format!("limit=1&next_token={bad}")).await.assert_error(400, "INVALID_REQUEST");
    }
    assert_eq!(list(&tvm, "alice", &format!("limit=1&next_token={real}")).await.status(), 200);
    // The same token, presented to a TVM holding another key.
    tvm.deps.pages = tvm::workflow::page::PageKey::random().unwrap();
    list(&tvm, "alice", &format!("limit=1&next_token={real}")).await.assert_error(400, "INVALID_REQUEST");
}

#[tokio::test]
async fn a_token_replayed_with_other_filters_on_another_route_or_by_another_caller_is_refused() {
    let tvm = with_sessions(3).await;
    vend(&tvm, "bob").await;
    sync(&tvm).await;
    let page = list(&tvm, "alice", "profile=dev&limit=1").await.json();
    let next = token(&page);
    let ok = list(&tvm, "alice", &format!("profile=dev&limit=1&next_token={next}")).await;
    assert_eq!(ok.status(), 200, "{}", ok.body_text());
    // The limit may change between pages; nothing else may.
    assert_eq!(list(&tvm, "alice", &format!("limit=2&profile=dev&next_token={next}")).await.status(), 200);
    for query in [
        format!("limit=1&next_token={next}"),
        format!("profile=dev&status=active&limit=1&next_token={next}"),
        format!("profile=prod&limit=1&next_token={next}"),
    ] {
        list(&tvm, "alice", &query).await.assert_error(400, "INVALID_REQUEST");
    }
    list(&tvm, "bob", &format!("profile=dev&limit=1&next_token={next}")).await.assert_error(400, "INVALID_REQUEST");
    let other_route =
        call("GET /requests", &[], &format!("profile=dev&limit=1&next_token={next}"), iam_user("alice"), None);
    tvm.call(other_route).await.assert_error(400, "INVALID_REQUEST");
}

#[tokio::test]
async fn a_token_is_valid_for_an_hour() {
    let tvm = with_sessions(3).await;
    let next = token(&list(&tvm, "alice", "limit=1").await.json());
    let query = format!("limit=1&next_token={next}");
    *tvm.clock.0.lock().unwrap() += Duration::minutes(59);
    assert_eq!(list(&tvm, "alice", &query).await.status(), 200);
    *tvm.clock.0.lock().unwrap() += Duration::minutes(1);
    list(&tvm, "alice", &query).await.assert_error(400, "INVALID_REQUEST");
}
