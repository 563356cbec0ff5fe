//! The audit view: one row per ledger event, with a one-line summary that never holds secrets.

use serde::{Deserialize, Serialize};

use ledger::event::Event;
use ledger::{RecordedEvent, StoredEvent};

/// One ledger event as the audit view shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// The stream key (`SESSION#…`).
    pub stream: String,
    /// The event's seq in its stream.
    pub seq: u64,
    /// The event id (ULID).
    pub event_id: String,
    /// The wire name of the event type.
    pub event_type: String,
    /// When it happened, exactly as stored (RFC 3339 UTC, milliseconds, `Z`).
    pub occurred_at: String,
    /// Who did it: the actor's principal ARN, or `system`.
    pub principal: String,
    /// The acting person's key, when the event has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<String>,
    /// The correlation (request) id.
    pub correlation_id: String,
    /// A one-line description.
    pub summary: String,
    /// The event's hash and the hash it chains to.
    pub hash: String,
    /// The previous event's hash (64 zeros for the first).
    pub prev_hash: String,
}

impl AuditRecord {
    /// The audit row of a stored event and its decoded form.
    pub fn of(stored: &StoredEvent, recorded: &RecordedEvent) -> Self {
        AuditRecord {
            stream: stored.stream.clone(),
            seq: stored.seq,
            event_id: stored.event_id.clone(),
            event_type: stored.event_type.clone(),
            occurred_at: stored.occurred_at.clone(),
            principal: stored.actor.clone(),
            person: stored.person.clone(),
            correlation_id: stored.correlation_id.clone(),
            summary: summary(&recorded.event),
            hash: stored.hash.clone(),
            prev_hash: stored.prev_hash.clone(),
        }
    }
}

/// A one-line description of an event. Built from typed payloads, which hold no secrets.
pub fn summary(event: &Event) -> String {
    match event {
        Event::CredentialsRequested(e) => format!("{} requested credentials for profile {}", e.principal, e.profile),
        Event::AccessDecided(e) => format!(
            "decided {:?} by rule {} (basis {}): {}",
            e.effect,
            e.rule.as_deref().unwrap_or("<none>"),
            e.basis,
            e.reason
        ),
        Event::CredentialsIssued(e) => format!(
            "issued {} for {} as {} until {}",
            e.access_key_id,
            e.role_arn,
            e.source_identity,
            ledger::record::format_time(e.expiration)
        ),
        Event::CredentialsRefreshed(e) => {
            format!("refreshed as {} until {}", e.access_key_id, ledger::record::format_time(e.expiration))
        }
        Event::SessionRevoked(e) => format!("session revoked by {}: {}", e.by, e.reason),
        Event::SessionExpired(_) => "session expired".to_owned(),
        Event::ApprovalRequested(e) => format!(
            "{} requested approval for profile {} ({} approver(s)): {}",
            e.requester, e.profile, e.required, e.justification
        ),
        Event::ApprovalGranted(e) => format!("approved by {}", e.approver),
        Event::ApprovalDenied(e) => format!("denied by {}", e.approver),
        Event::ApprovalCancelled(e) => format!("cancelled by {}", e.by),
        Event::ApprovalRevoked(e) => match e.session_id {
            Some(session) => format!("approval revoked by {} with session {session}: {}", e.by, e.reason),
            None => format!("approval revoked by {}: {}", e.by, e.reason),
        },
        Event::ApprovalExpired(_) => "approval expired".to_owned(),
        Event::GrantUsed(e) => format!("session {} opened on this grant", e.session_id),
        Event::BreakGlassInvoked(e) => format!(
            "{} invoked break-glass on profile {} ({}): {}",
            e.invoker, e.profile, e.reason_code, e.justification
        ),
        Event::BreakGlassClosed(e) => match e.session_id {
            Some(session) => format!("break-glass closed by {} with session {session}: {}", e.by, e.reason),
            None => format!("break-glass closed by {}: {}", e.by, e.reason),
        },
        Event::BreakGlassExpired(_) => "break-glass expired".to_owned(),
        Event::IdempotencyKeyRecorded(e) => format!("answer to {} remembered for retries", e.route),
        Event::BreakGlassReserved(e) => format!("break-glass {} took the invoker's guard", e.breakglass_id),
        Event::ApprovalReserved(e) => format!("request {} took the requester's guard", e.approval_id),
        Event::PolicyPublished(e) => format!("policy {} version {} published by {}", e.profile, e.version, e.by),
    }
}
