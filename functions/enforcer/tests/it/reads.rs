//! The enforcer's reads are bounded: counted through the ports, a revocation costs the same
//! with 1,000 and with 10,000 older revocations of the same role in the views.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use enforcer::policy::{POLICY_BUDGET, POLICY_NAME};
use enforcer::roles::memory::MemoryRolePolicies;
use enforcer::{handle, Applied, Deps, FixedClock};
use ledger::decide::approval::ApprovalStatus;
use ledger::decide::breakglass::BreakGlassStatus;
use ledger::decide::session::SessionStatus;
use ledger::store::memory::MemoryEventStore;
use ledger::store::{EventStore, StoreError, StreamCheck};
use ledger::{RoleArn, StoredEvent, StreamKey};

use projections::store::memory::MemoryViewStore;
use projections::store::{ApprovalIndex, AuditQuery, BreakGlassIndex, Saved, SessionIndex, ViewError, ViewStore};
use projections::testkit::{at, LedgerBuilder};
use projections::{ApprovalView, AuditRecord, BreakGlassView, Projection, SessionView, Views};

use crate::{denied_identities, parsed, revoke, role_arn, source_identity, vend, ACCOUNT};

const ROLE: &str = "SentinelProtected-Dev";

/// Calls made through a port and rows (views or events) they returned.
#[derive(Debug, Default)]
struct Tally {
    calls: AtomicUsize,
    rows: AtomicUsize,
}

impl Tally {
    fn add(&self, rows: usize) {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.rows.fetch_add(rows, Ordering::SeqCst);
    }

    fn read(&self) -> (usize, usize) {
        (self.calls.load(Ordering::SeqCst), self.rows.load(Ordering::SeqCst))
    }
}

/// Memory views that count every read.
struct CountedViews {
    inner: Arc<MemoryViewStore>,
    reads: Tally,
}

#[async_trait]
impl ViewStore for CountedViews {
    async fn projection(&self, stream: &StreamKey) -> Result<Option<Projection>, ViewError> {
        let found = self.inner.projection(stream).await?;
        self.reads.add(usize::from(found.is_some()));
        Ok(found)
    }
    async fn save(&self, projection: &Projection) -> Result<Saved, ViewError> {
        self.inner.save(projection).await
    }
    async fn overwrite(&self, projection: &Projection) -> Result<(), ViewError> {
        self.inner.overwrite(projection).await
    }
    async fn save_audit(&self, rows: &[AuditRecord]) -> Result<(), ViewError> {
        self.inner.save_audit(rows).await
    }
    async fn sessions(&self, i: &SessionIndex, s: Option<SessionStatus>) -> Result<Vec<SessionView>, ViewError> {
        let found = self.inner.sessions(i, s).await?;
        self.reads.add(found.len());
        Ok(found)
    }
    async fn revoked_since(&self, role: &RoleArn, since: DateTime<Utc>) -> Result<Vec<SessionView>, ViewError> {
        let found = self.inner.revoked_since(role, since).await?;
        self.reads.add(found.len());
        Ok(found)
    }
    async fn approvals(&self, i: &ApprovalIndex, s: Option<ApprovalStatus>) -> Result<Vec<ApprovalView>, ViewError> {
        let found = self.inner.approvals(i, s).await?;
        self.reads.add(found.len());
        Ok(found)
    }
    async fn break_glass(
        &self,
        i: &BreakGlassIndex,
        s: Option<BreakGlassStatus>,
    ) -> Result<Vec<BreakGlassView>, ViewError> {
        let found = self.inner.break_glass(i, s).await?;
        self.reads.add(found.len());
        Ok(found)
    }
    async fn audit(&self, q: &AuditQuery) -> Result<Vec<AuditRecord>, ViewError> {
        let found = self.inner.audit(q).await?;
        self.reads.add(found.len());
        Ok(found)
    }
    async fn dump(&self) -> Result<Views, ViewError> {
        let all = self.inner.dump().await?;
        self.reads.add(all.projections.len() + all.audit.len());
        Ok(all)
    }
}

/// A memory ledger that counts every read.
struct CountedLedger {
    inner: Arc<MemoryEventStore>,
    reads: Tally,
}

#[async_trait]
impl EventStore for CountedLedger {
    async fn write(&self, items: &[StoredEvent], checks: &[StreamCheck], token: &str) -> Result<(), StoreError> {
        self.inner.write(items, checks, token).await
    }
    async fn read_stream(&self, stream: &StreamKey, from_seq: u64) -> Result<Vec<StoredEvent>, StoreError> {
        let found = self.inner.read_stream(stream, from_seq).await?;
        self.reads.add(found.len());
        Ok(found)
    }
}

/// Reads (views calls, views rows, ledger calls, ledger events) of enforcing one fresh
/// revocation on a role that already has `old` revocations, all older than the horizon.
async fn reads_of_one_revocation_after(old: usize) -> (usize, usize, usize, usize) {
    let mut builder = LedgerBuilder::new();
    let ledger = Arc::new(MemoryEventStore::new());
    let views = Arc::new(MemoryViewStore::new());
    let role = role_arn(ACCOUNT, ROLE);
    let mut history = Vec::new();
    for _ in 0..old {
        let (id, events) = vend(&mut builder, &role);
        history.extend(events);
        history.push(revoke(&mut builder, id));
    }
    // Two hours later: every old revocation is past the horizon.
    builder.clock += 120;
    let (fresh, events) = vend(&mut builder, &role);
    history.extend(events);
    let revocation = revoke(&mut builder, fresh);
    history.push(revocation.clone());
    for e in &history {
        ledger.write(std::slice::from_ref(e), &[], &e.event_id).await.unwrap();
        projections::project(views.as_ref(), ledger.as_ref(), e).await.unwrap();
    }

    let roles = Arc::new(MemoryRolePolicies::new());
    roles.create_role(ROLE);
    let counted_views = Arc::new(CountedViews { inner: views, reads: Tally::default() });
    let counted_ledger = Arc::new(CountedLedger { inner: ledger, reads: Tally::default() });
    let deps = Deps {
        views: counted_views.clone(),
        ledger: counted_ledger.clone(),
        roles: roles.clone(),
        account: ACCOUNT.to_owned(),
        clock: Arc::new(FixedClock(at(builder.clock) + TimeDelta::minutes(1))),
        budget: POLICY_BUDGET,
    };
    let done = handle(&deps, parsed(&revocation)).await.unwrap();
    assert_eq!(done.applied, Applied::Written);
    let document = roles.policy(ROLE, POLICY_NAME).expect("the policy was written");
    assert_eq!(denied_identities(&document), vec![source_identity(fresh)], "only the live revocation is denied");
    let (view_calls, view_rows) = counted_views.reads.read();
    let (ledger_calls, ledger_events) = counted_ledger.reads.read();
    (view_calls, view_rows, ledger_calls, ledger_events)
}

#[tokio::test]
async fn the_reads_of_a_revocation_are_the_same_with_1k_and_with_10k_old_revocations() {
    let with_1k = reads_of_one_revocation_after(1_000).await;
    let with_10k = reads_of_one_revocation_after(10_000).await;
    assert_eq!(with_1k, with_10k, "(views calls, views rows, ledger calls, ledger events)");
    let (view_calls, view_rows, _, _) = with_10k;
    // The revoked session's own view, and the role's recent revocations (itself alone).
    assert_eq!((view_calls, view_rows), (2, 2), "no old revocation is read");
}
