//! An in-memory `ViewStore` for tests, with the same write conditions as the DynamoDB adapter.

use std::sync::Mutex;

use async_trait::async_trait;

use chrono::{DateTime, Utc};
use ledger::decide::approval::ApprovalStatus;
use ledger::decide::breakglass::BreakGlassStatus;
use ledger::decide::session::SessionStatus;
use ledger::{RoleArn, StreamKey};

use super::{ApprovalIndex, AuditQuery, BreakGlassIndex, Saved, SessionIndex, ViewError, ViewStore};
use crate::audit::AuditRecord;
use crate::fold::Views;
use crate::view::{ApprovalView, BreakGlassView, Projection, SessionView};

/// Views kept in memory.
#[derive(Debug, Default)]
pub struct MemoryViewStore {
    views: Mutex<Views>,
}

impl MemoryViewStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Views) -> T) -> T {
        let mut views = self.views.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut views)
    }
}

#[async_trait]
impl ViewStore for MemoryViewStore {
    async fn projection(&self, stream: &StreamKey) -> Result<Option<Projection>, ViewError> {
        Ok(self.with(|v| v.projections.get(&stream.to_string()).cloned()))
    }

    async fn save(&self, projection: &Projection) -> Result<Saved, ViewError> {
        Ok(self.with(|v| {
            let key = projection.stream.to_string();
            match v.projections.get(&key) {
                Some(stored) if stored.head.seq >= projection.head.seq => Saved::AlreadyCurrent,
                _ => {
                    v.projections.insert(key, projection.clone());
                    Saved::Written
                }
            }
        }))
    }

    async fn overwrite(&self, projection: &Projection) -> Result<(), ViewError> {
        self.with(|v| v.projections.insert(projection.stream.to_string(), projection.clone()));
        Ok(())
    }

    async fn save_audit(&self, rows: &[AuditRecord]) -> Result<(), ViewError> {
        self.with(|v| {
            for row in rows {
                v.audit.insert((row.stream.clone(), row.seq), row.clone());
            }
        });
        Ok(())
    }

    async fn sessions(
        &self,
        index: &SessionIndex,
        status: Option<SessionStatus>,
    ) -> Result<Vec<SessionView>, ViewError> {
        Ok(self.with(|v| {
            let mut found: Vec<SessionView> = v
                .projections
                .values()
                .filter_map(|p| p.session())
                .filter(|s| s.status.is_some())
                .filter(|s| match index {
                    SessionIndex::Owner(who) => s.owner().is(who),
                    SessionIndex::Profile(p) => s.profile() == p,
                    SessionIndex::Status(st) => s.status == Some(*st),
                })
                .filter(|s| status.is_none() || s.status == status)
                .cloned()
                .collect();
            found.sort_by_key(|s| (s.issued_at, s.session_id));
            found
        }))
    }

    async fn revoked_since(&self, role: &RoleArn, since: DateTime<Utc>) -> Result<Vec<SessionView>, ViewError> {
        Ok(self.with(|v| {
            let mut found: Vec<SessionView> = v
                .projections
                .values()
                .filter_map(|p| p.session())
                .filter(|s| s.status == Some(SessionStatus::Revoked) && s.role_arn() == Some(role))
                .filter(|s| s.ended_at.is_some_and(|t| t >= since))
                .cloned()
                .collect();
            found.sort_by_key(|s| (s.ended_at, s.session_id));
            found
        }))
    }

    async fn approvals(
        &self,
        index: &ApprovalIndex,
        status: Option<ApprovalStatus>,
    ) -> Result<Vec<ApprovalView>, ViewError> {
        Ok(self.with(|v| {
            let mut found: Vec<ApprovalView> = v
                .projections
                .values()
                .filter_map(|p| p.approval())
                .filter(|a| match index {
                    ApprovalIndex::Requester(who) => a.requester().is(who),
                    ApprovalIndex::Profile(p) => &a.request.profile == p,
                    ApprovalIndex::Status(st) => a.status == *st,
                })
                .filter(|a| status.is_none_or(|st| a.status == st))
                .cloned()
                .collect();
            found.sort_by_key(|a| (a.requested_at, a.approval_id));
            found
        }))
    }

    async fn break_glass(
        &self,
        index: &BreakGlassIndex,
        status: Option<BreakGlassStatus>,
    ) -> Result<Vec<BreakGlassView>, ViewError> {
        Ok(self.with(|v| {
            let mut found: Vec<BreakGlassView> = v
                .projections
                .values()
                .filter_map(|p| p.break_glass())
                .filter(|b| match index {
                    BreakGlassIndex::InvokerProfile(who, p) => b.invoker().is(who) && &b.invoked.profile == p,
                    BreakGlassIndex::Profile(p) => &b.invoked.profile == p,
                    BreakGlassIndex::Status(st) => b.status == *st,
                })
                .filter(|b| status.is_none_or(|st| b.status == st))
                .cloned()
                .collect();
            found.sort_by_key(|b| (b.invoked_at, b.breakglass_id));
            found
        }))
    }

    async fn audit(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, ViewError> {
        let since = ledger::record::format_time(query.since);
        let until = ledger::record::format_time(query.until);
        Ok(self.with(|v| {
            let mut found: Vec<AuditRecord> = v
                .audit
                .values()
                .filter(|r| r.occurred_at >= since && r.occurred_at < until)
                .filter(|r| query.principal.as_ref().is_none_or(|p| r.principal == p.as_str()))
                .cloned()
                .collect();
            found.sort_by(|a, b| (&a.occurred_at, &a.stream, a.seq).cmp(&(&b.occurred_at, &b.stream, b.seq)));
            found
        }))
    }

    async fn dump(&self) -> Result<Views, ViewError> {
        Ok(self.with(|v| v.clone()))
    }
}
