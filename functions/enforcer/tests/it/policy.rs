//! The deny document as a pure function: shape, pruning, size fallback, read-back.

use chrono::{DateTime, TimeDelta, Utc};
use enforcer::policy::{
    cutoff_policy, deny_policy, deny_policy_within, previous, DenyPolicy, Revocation, CLOCK_SKEW,
    IAM_INLINE_POLICY_LIMIT, MAX_CREDENTIAL_LIFETIME, POLICY_BUDGET,
};
use ledger::SessionId;
use projections::testkit::at;
use serde_json::Value;

use crate::{cutoff_of, denied_identities, source_identity};

fn revoked_at(minute: i64) -> Revocation {
    Revocation::new(source_identity(SessionId::generate()), at(minute), Some(at(minute - 5) + TimeDelta::minutes(60)))
}

fn many(n: usize) -> Vec<Revocation> {
    (0..n).map(|i| revoked_at((i % 50) as i64)).collect()
}

fn json(policy: &DenyPolicy) -> String {
    policy.document().expect("a document").to_json()
}

/// Every statement: Deny * on *, with a non-empty condition whose every value list is non-empty.
fn assert_well_formed(document: &str) {
    let doc: Value = serde_json::from_str(document).expect("valid JSON");
    assert_eq!(doc["Version"], "2012-10-17");
    let statements = doc["Statement"].as_array().expect("a Statement list");
    assert!(!statements.is_empty(), "a document always has a statement");
    for s in statements {
        assert_eq!(s["Effect"], "Deny");
        assert_eq!(s["Action"], "*");
        assert_eq!(s["Resource"], "*");
        assert!(s["Sid"].as_str().is_some_and(|sid| !sid.is_empty() && sid.chars().all(|c| c.is_ascii_alphanumeric())));
        let condition = s["Condition"].as_object().expect("a Condition");
        assert!(!condition.is_empty(), "{document}");
        for keys in condition.values() {
            let keys = keys.as_object().expect("condition keys");
            assert!(!keys.is_empty(), "{document}");
            for values in keys.values() {
                let values = values.as_array().expect("a value list");
                assert!(!values.is_empty(), "never an empty Condition list: {document}");
            }
        }
    }
}

#[test]
fn the_document_is_valid_iam_json_denying_every_revoked_source_identity() {
    let revoked = vec![revoked_at(1), revoked_at(2), revoked_at(30)];
    let policy = deny_policy(&revoked, at(40));
    let document = json(&policy);
    assert_well_formed(&document);
    let mut expected: Vec<String> = revoked.iter().map(|r| r.source_identity.clone()).collect();
    expected.sort();
    assert_eq!(denied_identities(&document), expected);
    assert!(matches!(policy, DenyPolicy::Listed { carried_cutoff: None, .. }));
    assert_eq!(cutoff_of(&document), None, "no innocent session is cut off while the list fits");
    assert!(!document.chars().any(char::is_whitespace), "compact, so its length is IAM's count");
}

#[test]
fn a_revocation_is_denied_for_an_hour_and_pruned_after() {
    let r = revoked_at(10);
    let still_live = at(10) + MAX_CREDENTIAL_LIFETIME + CLOCK_SKEW - TimeDelta::seconds(1);
    assert_eq!(
        denied_identities(&json(&deny_policy(std::slice::from_ref(&r), still_live))),
        vec![r.source_identity.clone()]
    );
    assert_eq!(deny_policy(std::slice::from_ref(&r), at(10) + TimeDelta::minutes(61)), DenyPolicy::Nothing);

    // Only the expired one goes.
    let fresh = revoked_at(50);
    let document = json(&deny_policy(&[r, fresh.clone()], at(75)));
    assert_eq!(denied_identities(&document), vec![fresh.source_identity]);
}

#[test]
fn credentials_expiring_after_the_hour_keep_the_deny_until_they_expire() {
    // Not possible under role chaining, but the deny follows the credentials if it ever were.
    let r = Revocation::new("sentinel-long", at(0), Some(at(90)));
    assert_eq!(denied_identities(&json(&deny_policy(&[r], at(80)))), vec!["sentinel-long".to_owned()]);
}

#[test]
fn an_empty_revocation_list_needs_no_document_at_all() {
    assert_eq!(deny_policy(&[], at(0)), DenyPolicy::Nothing);
    assert!(DenyPolicy::Nothing.document().is_none());
}

#[test]
fn four_hundred_revocations_fall_back_to_a_token_issue_time_cutoff_after_the_newest() {
    let revoked = many(400);
    let policy = deny_policy(&revoked, at(55));
    let DenyPolicy::Cutoff { issued_before, revocations, .. } = &policy else {
        panic!("expected the cut-off, got {policy:?}");
    };
    assert_eq!(*revocations, 400);
    let document = json(&policy);
    assert_well_formed(&document);
    assert!(document.len() <= POLICY_BUDGET);
    assert_eq!(cutoff_of(&document), Some(*issued_before));
    // Every revoked session's credentials were issued before its revocation: all are covered.
    let newest = revoked.iter().map(|r| r.revoked_at).max().unwrap();
    assert!(*issued_before >= newest, "{issued_before} < {newest}");
    assert!(
        *issued_before <= newest + CLOCK_SKEW + TimeDelta::seconds(1),
        "the cut-off reaches no further than needed"
    );
}

#[test]
fn the_listed_document_never_exceeds_the_budget_whatever_the_count() {
    for n in (0..=400).step_by(7) {
        let policy = deny_policy(&many(n), at(55));
        match &policy {
            DenyPolicy::Nothing => assert_eq!(n, 0),
            DenyPolicy::Listed { identities, .. } => {
                assert_eq!(identities.len(), n);
                assert!(json(&policy).len() <= POLICY_BUDGET);
            }
            DenyPolicy::Cutoff { .. } => assert!(n > 100, "{n} revocations should still fit"),
        }
        if let Some(d) = policy.document() {
            assert_well_formed(&d.to_json());
            assert!(d.size() < IAM_INLINE_POLICY_LIMIT);
        }
    }
}

#[test]
fn a_source_identity_revoked_twice_is_listed_once() {
    let r = revoked_at(5);
    let again = Revocation::new(r.source_identity.clone(), at(7), None);
    let policy = deny_policy(&[r.clone(), again], at(10));
    assert_eq!(denied_identities(&json(&policy)), vec![r.source_identity]);
}

#[test]
fn a_document_read_back_reproduces_itself() {
    let revoked = vec![revoked_at(1), revoked_at(9), revoked_at(33)];
    let first = deny_policy(&revoked, at(40));
    let back = previous(&json(&first)).expect("the enforcer reads its own document");
    assert_eq!(back.revocations.len(), 3);
    assert_eq!(back.cutoff, None);
    // From the document alone (views lagging), the same document comes out.
    assert_eq!(deny_policy_within(&back.revocations, back.cutoff, at(41), POLICY_BUDGET), first);
    // And merged with the fresh revocations too.
    let mut both = revoked.clone();
    both.extend(back.revocations);
    assert_eq!(deny_policy_within(&both, None, at(41), POLICY_BUDGET), first);
}

#[test]
fn a_live_cutoff_is_carried_next_to_listed_identities_until_its_tokens_expire() {
    let cutoff = cutoff_policy(&many(400), None, at(55));
    let DenyPolicy::Cutoff { issued_before, .. } = cutoff else { panic!("a cut-off") };
    let back = previous(&json(&cutoff)).expect("readable");
    assert_eq!(back.cutoff, Some(issued_before));

    let later = revoked_at(70);
    let policy = deny_policy_within(std::slice::from_ref(&later), back.cutoff, at(71), POLICY_BUDGET);
    let document = json(&policy);
    assert_well_formed(&document);
    assert_eq!(denied_identities(&document), vec![later.source_identity.clone()]);
    assert_eq!(cutoff_of(&document), Some(issued_before));

    let after: DateTime<Utc> = issued_before + MAX_CREDENTIAL_LIFETIME + CLOCK_SKEW;
    let policy = deny_policy_within(&[later], back.cutoff, after, POLICY_BUDGET);
    assert_eq!(cutoff_of(&json(&policy)), None, "dropped once every token it covers has expired");
}

#[test]
fn a_document_the_enforcer_did_not_write_is_not_read_back() {
    assert!(previous("not json").is_err());
    assert!(previous(r#"{"Version":"2012-10-17","Statement":[{"Sid":"Other","Effect":"Deny","Action":"*","Resource":"*","Condition":{}}]}"#).is_err());
}
