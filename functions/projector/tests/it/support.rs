//! Lambda stream records from stored events, and a views store that fails on demand.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_lambda_events::dynamodb::{Event, EventRecord};
use ledger::decide::approval::ApprovalStatus;
use ledger::decide::breakglass::BreakGlassStatus;
use ledger::decide::session::SessionStatus;
use ledger::store::memory::MemoryEventStore;
use ledger::{StoredEvent, StreamKey};
use projections::store::memory::MemoryViewStore;
use projections::store::{ApprovalIndex, AuditQuery, BreakGlassIndex, Saved, SessionIndex, ViewError, ViewStore};
use projections::{ApprovalView, AuditRecord, BreakGlassView, Projection, SessionView, Views};
use projector::Deps;

/// The record Lambda delivers for an INSERT of `event`, with stream sequence number `seq`.
pub fn record(event: &StoredEvent, seq: u64) -> EventRecord {
    let item = ledger::store::dynamo::to_item(event).expect("encodes");
    let mut r = EventRecord::default();
    r.event_name = "INSERT".into();
    r.event_id = format!("evt-{seq}");
    r.aws_region = "us-east-1".into();
    r.change.new_image = serde_dynamo::Item::from(item);
    r.change.sequence_number = Some(format!("{seq:021}"));
    r
}

/// A Lambda event of these records.
pub fn event(records: Vec<EventRecord>) -> Event {
    let mut e = Event::default();
    e.records = records;
    e
}

/// Memory views whose `save` fails on the calls numbered in `failing` (0-based).
#[derive(Default)]
pub struct FlakyViews {
    pub inner: MemoryViewStore,
    pub failing: Mutex<Vec<usize>>,
    calls: AtomicUsize,
}

#[async_trait]
impl ViewStore for FlakyViews {
    async fn projection(&self, stream: &StreamKey) -> Result<Option<Projection>, ViewError> {
        self.inner.projection(stream).await
    }
    async fn save(&self, projection: &Projection) -> Result<Saved, ViewError> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        if self.failing.lock().unwrap().contains(&call) {
            return Err(ViewError::Unavailable("injected".into()));
        }
        self.inner.save(projection).await
    }
    async fn overwrite(&self, projection: &Projection) -> Result<(), ViewError> {
        self.inner.overwrite(projection).await
    }
    async fn save_audit(&self, rows: &[AuditRecord]) -> Result<(), ViewError> {
        self.inner.save_audit(rows).await
    }
    async fn sessions(&self, i: &SessionIndex, s: Option<SessionStatus>) -> Result<Vec<SessionView>, ViewError> {
        self.inner.sessions(i, s).await
    }
    async fn revoked_since(
        &self,
        role: &ledger::RoleArn,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<SessionView>, ViewError> {
        self.inner.revoked_since(role, since).await
    }
    async fn approvals(&self, i: &ApprovalIndex, s: Option<ApprovalStatus>) -> Result<Vec<ApprovalView>, ViewError> {
        self.inner.approvals(i, s).await
    }
    async fn break_glass(
        &self,
        i: &BreakGlassIndex,
        s: Option<BreakGlassStatus>,
    ) -> Result<Vec<BreakGlassView>, ViewError> {
        self.inner.break_glass(i, s).await
    }
    async fn audit(&self, q: &AuditQuery) -> Result<Vec<AuditRecord>, ViewError> {
        self.inner.audit(q).await
    }
    async fn dump(&self) -> Result<Views, ViewError> {
        self.inner.dump().await
    }
}

/// A memory ledger holding `events`, and flaky memory views.
pub async fn deps(events: &[StoredEvent], failing: Vec<usize>) -> (Deps, Arc<FlakyViews>) {
    let ledger = Arc::new(MemoryEventStore::new());
    for e in events {
        ledger::store::EventStore::write(ledger.as_ref(), std::slice::from_ref(e), &[], &e.event_id)
            .await
            .expect("written");
    }
    let views = Arc::new(FlakyViews { failing: Mutex::new(failing), ..FlakyViews::default() });
    (Deps { views: views.clone(), ledger }, views)
}
