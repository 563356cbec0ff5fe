//! The handler over in-memory views, ledger and role policies.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use enforcer::policy::{POLICY_BUDGET, POLICY_NAME};
use enforcer::roles::memory::MemoryRolePolicies;
use enforcer::roles::{PolicyError, ProtectedRole, RolePolicies};
use enforcer::{handle, invoke, Applied, Deps, Error, FixedClock};
use ledger::store::memory::MemoryEventStore;
use ledger::store::EventStore;
use ledger::{SessionId, StoredEvent};
use projections::store::memory::MemoryViewStore;
use projections::testkit::{at, LedgerBuilder};

use crate::{bus_event, cutoff_of, denied_identities, parsed, revoke, role_arn, source_identity, vend, ACCOUNT};

const ROLE: &str = "SentinelProtected-Dev";
const OTHER_ROLE: &str = "SentinelProtected-Prod";

struct World {
    builder: LedgerBuilder,
    ledger: Arc<MemoryEventStore>,
    views: Arc<MemoryViewStore>,
    roles: Arc<MemoryRolePolicies>,
}

impl World {
    fn new() -> Self {
        let roles = Arc::new(MemoryRolePolicies::new());
        roles.create_role(ROLE);
        roles.create_role(OTHER_ROLE);
        World {
            builder: LedgerBuilder::new(),
            ledger: Arc::new(MemoryEventStore::new()),
            views: Arc::new(MemoryViewStore::new()),
            roles,
        }
    }

    fn deps_at(&self, now: DateTime<Utc>) -> Deps {
        Deps {
            views: self.views.clone(),
            ledger: self.ledger.clone(),
            roles: self.roles.clone(),
            account: ACCOUNT.to_owned(),
            clock: Arc::new(FixedClock(now)),
            budget: POLICY_BUDGET,
        }
    }

    /// Commits events to the ledger and, when `projected`, to the views.
    async fn commit(&self, events: &[StoredEvent], projected: bool) {
        for e in events {
            self.ledger.write(std::slice::from_ref(e), &[], &e.event_id).await.unwrap();
            if projected {
                projections::project(self.views.as_ref(), self.ledger.as_ref(), e).await.unwrap();
            }
        }
    }

    /// A session on role `name` (of the test account), vended and projected.
    async fn session_on(&mut self, name: &str) -> SessionId {
        let (id, events) = vend(&mut self.builder, &role_arn(ACCOUNT, name));
        self.commit(&events, true).await;
        id
    }

    /// Revokes `id`; the projector has or has not caught up.
    async fn revoke(&mut self, id: SessionId, projected: bool) -> StoredEvent {
        let event = revoke(&mut self.builder, id);
        self.commit(std::slice::from_ref(&event), projected).await;
        event
    }

    fn document(&self, role: &str) -> Option<String> {
        self.roles.policy(role, POLICY_NAME)
    }
}

fn now() -> DateTime<Utc> {
    at(30)
}

#[tokio::test]
async fn a_revocation_denies_the_sessions_source_identity_on_its_protected_role() {
    let mut w = World::new();
    let id = w.session_on(ROLE).await;
    let event = w.revoke(id, true).await;

    let done = handle(&w.deps_at(now()), parsed(&event)).await.unwrap();
    assert_eq!(done.applied, Applied::Written);
    assert_eq!(done.role.name(), ROLE);
    assert_eq!(done.identities, vec![source_identity(id)]);
    let document = w.document(ROLE).expect("the policy was written");
    assert_eq!(denied_identities(&document), vec![source_identity(id)]);
    assert_eq!(w.document(OTHER_ROLE), None);
}

#[tokio::test]
async fn redelivering_the_same_event_leaves_the_same_document_and_writes_nothing() {
    let mut w = World::new();
    let id = w.session_on(ROLE).await;
    let event = w.revoke(id, true).await;
    let deps = w.deps_at(now());

    handle(&deps, parsed(&event)).await.unwrap();
    let first = w.document(ROLE).unwrap();
    let writes = w.roles.writes();
    for minutes in [0, 1, 10] {
        let later = w.deps_at(now() + TimeDelta::minutes(minutes));
        let again = handle(&later, parsed(&event)).await.unwrap();
        assert_eq!(again.applied, Applied::Unchanged);
    }
    assert_eq!(w.document(ROLE).unwrap(), first);
    assert_eq!(w.roles.writes(), writes);
}

#[tokio::test]
async fn a_second_revocation_on_the_same_role_adds_to_the_document() {
    let mut w = World::new();
    let first = w.session_on(ROLE).await;
    let second = w.session_on(ROLE).await;
    let untouched = w.session_on(ROLE).await;
    let e1 = w.revoke(first, true).await;
    handle(&w.deps_at(now()), parsed(&e1)).await.unwrap();
    let e2 = w.revoke(second, true).await;
    handle(&w.deps_at(now()), parsed(&e2)).await.unwrap();

    let mut expected = vec![source_identity(first), source_identity(second)];
    expected.sort();
    assert_eq!(denied_identities(&w.document(ROLE).unwrap()), expected);
    assert!(!denied_identities(&w.document(ROLE).unwrap()).contains(&source_identity(untouched)));
}

#[tokio::test]
async fn a_revocation_the_views_have_not_seen_is_enforced_from_the_ledger_tail() {
    let mut w = World::new();
    let id = w.session_on(ROLE).await;
    let event = w.revoke(id, false).await;
    handle(&w.deps_at(now()), parsed(&event)).await.unwrap();
    assert_eq!(denied_identities(&w.document(ROLE).unwrap()), vec![source_identity(id)]);
}

#[tokio::test]
async fn an_earlier_revocation_still_missing_from_the_views_is_not_dropped_by_the_next_one() {
    let mut w = World::new();
    let first = w.session_on(ROLE).await;
    let second = w.session_on(ROLE).await;
    // Neither revocation reaches the views before the enforcer runs for both.
    let e1 = w.revoke(first, false).await;
    let e2 = w.revoke(second, false).await;
    handle(&w.deps_at(now()), parsed(&e1)).await.unwrap();
    handle(&w.deps_at(now()), parsed(&e2)).await.unwrap();

    let mut expected = vec![source_identity(first), source_identity(second)];
    expected.sort();
    assert_eq!(denied_identities(&w.document(ROLE).unwrap()), expected);
}

#[tokio::test]
async fn revocations_on_another_role_do_not_leak_into_this_roles_policy() {
    let mut w = World::new();
    let dev = w.session_on(ROLE).await;
    let prod = w.session_on(OTHER_ROLE).await;
    let e_prod = w.revoke(prod, true).await;
    handle(&w.deps_at(now()), parsed(&e_prod)).await.unwrap();
    let e_dev = w.revoke(dev, true).await;
    handle(&w.deps_at(now()), parsed(&e_dev)).await.unwrap();

    assert_eq!(denied_identities(&w.document(ROLE).unwrap()), vec![source_identity(dev)]);
    assert_eq!(denied_identities(&w.document(OTHER_ROLE).unwrap()), vec![source_identity(prod)]);
}

#[tokio::test]
async fn a_session_on_a_role_without_the_protected_prefix_is_refused_and_nothing_is_written() {
    let mut w = World::new();
    w.roles.create_role("Admin");
    let id = w.session_on("Admin").await;
    let event = w.revoke(id, true).await;

    let err = handle(&w.deps_at(now()), parsed(&event)).await.unwrap_err();
    assert!(matches!(err, Error::Refused(_)), "{err:?}");
    assert!(!err.is_retryable());
    assert!(w.roles.roles_with(POLICY_NAME).is_empty());
    assert_eq!(w.roles.writes(), 0);
    // Acknowledged, not retried: retrying would be refused the same way.
    assert!(invoke(&w.deps_at(now()), bus_event(&event)).await.is_ok());
}

#[tokio::test]
async fn a_protected_role_in_another_account_is_refused() {
    let mut w = World::new();
    let (id, events) = vend(&mut w.builder, &role_arn("999988887777", ROLE));
    w.commit(&events, true).await;
    let event = w.revoke(id, true).await;

    let err = handle(&w.deps_at(now()), parsed(&event)).await.unwrap_err();
    assert!(matches!(err, Error::Refused(enforcer::roles::RoleRefused::ForeignAccount { .. })), "{err:?}");
    assert_eq!(w.roles.writes(), 0, "a same-named role of the enforcer's account is not touched");
}

#[tokio::test]
async fn a_malformed_event_is_logged_and_not_retried() {
    let w = World::new();
    let deps = w.deps_at(now());
    let garbage = [
        serde_json::json!({"hello": "world"}),
        serde_json::json!({"detail-type": "SessionRevoked", "source": "someone.else", "detail": {}}),
        serde_json::json!({"detail-type": "SessionRevoked", "source": "sentinel.ledger", "detail": {"stream": "SESSION#x"}}),
    ];
    for raw in garbage {
        if let Ok(event) = enforcer::parse_event(raw.clone()) {
            let err = handle(&deps, event).await.unwrap_err();
            assert!(matches!(err, Error::Malformed(_)), "{err:?}");
            assert!(!err.is_retryable());
        }
        assert!(invoke(&deps, raw).await.is_ok(), "malformed events are acknowledged");
    }
    assert_eq!(w.roles.writes(), 0);
}

#[tokio::test]
async fn a_revoked_event_for_a_session_the_ledger_holds_as_active_is_refused() {
    let mut w = World::new();
    let id = w.session_on(ROLE).await;
    // A forged bus event: the ledger never recorded this revocation.
    let forged = revoke(&mut w.builder, id);
    let err = handle(&w.deps_at(now()), parsed(&forged)).await.unwrap_err();
    assert_eq!(err, Error::NotRevoked(id));
    assert_eq!(w.roles.writes(), 0);
}

#[tokio::test]
async fn once_every_revocation_has_expired_the_policy_is_deleted() {
    let mut w = World::new();
    let old = w.session_on(ROLE).await;
    let e_old = w.revoke(old, true).await;
    handle(&w.deps_at(now()), parsed(&e_old)).await.unwrap();
    assert!(w.document(ROLE).is_some());

    // Two hours later a redelivery finds nothing live.
    let done = handle(&w.deps_at(now() + TimeDelta::hours(2)), parsed(&e_old)).await.unwrap();
    assert_eq!(done.applied, Applied::Deleted);
    assert_eq!(w.document(ROLE), None);
    // Deleting again tolerates the missing policy.
    let again = handle(&w.deps_at(now() + TimeDelta::hours(2)), parsed(&e_old)).await.unwrap();
    assert_eq!(again.applied, Applied::Deleted);
}

#[tokio::test]
async fn too_little_room_next_to_other_inline_policies_falls_back_to_the_cutoff() {
    let mut w = World::new();
    // An operator's 8,000-character inline policy leaves ~2,200 characters for ours.
    let padding = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"Pad","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::{}/*"}}]}}"#,
        "b".repeat(8000)
    );
    w.roles.put_other(ROLE, "OperatorPolicy", &padding);
    let mut ids = Vec::new();
    for _ in 0..80 {
        ids.push(w.session_on(ROLE).await);
    }
    let mut last = None;
    for id in &ids {
        last = Some(w.revoke(*id, true).await);
    }
    let last = last.unwrap();
    let revoked_at = DateTime::parse_from_rfc3339(&last.occurred_at).unwrap().with_timezone(&Utc);

    let done = handle(&w.deps_at(revoked_at + TimeDelta::seconds(1)), parsed(&last)).await.unwrap();
    assert_eq!(done.applied, Applied::Written);
    let document = w.document(ROLE).unwrap();
    let cutoff = cutoff_of(&document).expect("a cut-off");
    assert!(cutoff >= revoked_at, "every revoked token is covered");
    assert!(denied_identities(&document).is_empty());
    assert_eq!(done.cutoff, Some(cutoff));
    assert!(
        w.document(ROLE).is_some() && w.roles.policy(ROLE, "OperatorPolicy").is_some(),
        "the operator's policy stays"
    );
}

/// IAM that is down.
struct UnavailableIam;

#[async_trait]
impl RolePolicies for UnavailableIam {
    async fn get(&self, _: &ProtectedRole, _: &str) -> Result<Option<String>, PolicyError> {
        Err(PolicyError::Unavailable("throttled".into()))
    }
    async fn put(&self, _: &ProtectedRole, _: &str, _: &str) -> Result<(), PolicyError> {
        Err(PolicyError::Unavailable("throttled".into()))
    }
    async fn delete(&self, _: &ProtectedRole, _: &str) -> Result<(), PolicyError> {
        Err(PolicyError::Unavailable("throttled".into()))
    }
}

#[tokio::test]
async fn iam_being_unavailable_is_returned_as_retryable_so_lambda_retries() {
    let mut w = World::new();
    let id = w.session_on(ROLE).await;
    let event = w.revoke(id, true).await;
    let deps = Deps { roles: Arc::new(UnavailableIam), ..w.deps_at(now()) };
    let err = invoke(&deps, bus_event(&event)).await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
}
