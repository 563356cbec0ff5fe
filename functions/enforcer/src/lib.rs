//! The enforcer Lambda: on each `SessionRevoked` from the ledger's bus, recomputes the inline
//! deny policy (`SentinelRevocations`) of the revoked session's protected role, so credentials
//! already handed out stop working at AWS, not only at Sentinel's API.
//!
//! The event is only a trigger: the session, its role and its revocation are read from the
//! views plus the ledger tail, and the policy is recomputed from every revoked session of the
//! role whose credentials may still be live (plus what the current document already denies,
//! so a revocation the views have not caught up with is never dropped). Recomputing makes a
//! redelivered event a no-op; Lambda runs the function with concurrency 1, so two runs never
//! race on one role's policy.
//!
//! Its reads are bounded: the role's revocations of the last [`policy::REVOCATION_HORIZON`],
//! by the views' revocations index (role, then time of revocation), so a run costs the same
//! with a thousand or a million older revocations in the table.

#![warn(missing_docs)]

pub mod config;
pub mod policy;
pub mod roles;
pub mod wiring;

use std::sync::Arc;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use ledger::decide::session::SessionStatus;
use ledger::store::EventStore;
use ledger::{SessionId, StoredEvent, StreamKey};
use projections::reader::{self, ReadError};
use projections::{SessionView, ViewError, ViewStore};
use serde_json::Value;

use crate::policy::{
    cutoff_policy, deny_policy_within, previous, DenyPolicy, Revocation, POLICY_NAME, REVOCATION_HORIZON,
};
use crate::roles::{PolicyError, ProtectedRole, RolePolicies, RoleRefused};

/// The `source` of ledger events on the bus.
pub const SOURCE: &str = "sentinel.ledger";
/// The detail-type the enforcer's rule matches.
pub const DETAIL_TYPE: &str = "SessionRevoked";

pub use edge::{Clock, FixedClock, SystemClock};

/// What the handler works with, built once per cold start.
#[derive(Clone)]
pub struct Deps {
    /// The views table.
    pub views: Arc<dyn ViewStore>,
    /// The ledger (for the tail after a view's `last_seq`).
    pub ledger: Arc<dyn EventStore>,
    /// Inline policies of the protected roles.
    pub roles: Arc<dyn RolePolicies>,
    /// The account the enforcer runs in: the only one whose roles it touches.
    pub account: String,
    /// The current time.
    pub clock: Arc<dyn Clock>,
    /// Size above which the listed document gives way to the cut-off
    /// ([`policy::POLICY_BUDGET`] unless the roles carry other inline policies).
    pub budget: usize,
}

/// Why a revocation could not be enforced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The invocation is not a ledger `SessionRevoked` event.
    #[error("malformed event: {0}")]
    Malformed(String),
    /// The ledger has no such session (a forged or foreign event).
    #[error("session {0} is not in the ledger")]
    UnknownSession(SessionId),
    /// The ledger does not record the session as revoked.
    #[error("session {0} is not revoked in the ledger")]
    NotRevoked(SessionId),
    /// The session never had credentials: there is nothing to deny.
    #[error("session {0} has no issued credentials")]
    NoCredentials(SessionId),
    /// The session's role may not be touched.
    #[error(transparent)]
    Refused(#[from] RoleRefused),
    /// The session could not be read (view + tail).
    #[error("cannot read session {session}: {source}")]
    Read {
        /// The session.
        session: SessionId,
        /// What failed.
        source: ReadError,
    },
    /// The revoked sessions could not be listed.
    #[error("cannot list revoked sessions: {0}")]
    Views(#[from] ViewError),
    /// IAM failed.
    #[error(transparent)]
    Iam(#[from] PolicyError),
}

impl Error {
    /// Whether running again later can succeed: the store or IAM was unavailable (or the
    /// enforcer's permissions are being fixed). Everything else fails the same way every time.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Malformed(_)
            | Error::UnknownSession(_)
            | Error::NotRevoked(_)
            | Error::NoCredentials(_)
            | Error::Refused(_) => false,
            Error::Read { source, .. } => match source {
                ReadError::Views(e) => matches!(e, ViewError::Unavailable(_)),
                ReadError::Ledger(e) => e.is_retryable(),
                _ => false,
            },
            Error::Views(e) => matches!(e, ViewError::Unavailable(_)),
            Error::Iam(e) => e.is_retryable(),
        }
    }
}

/// What a run did to the role's policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The document was written.
    Written,
    /// The role already held exactly this document (a redelivery, or nothing changed).
    Unchanged,
    /// No revocation is live any more: the policy was deleted (or was already absent).
    Deleted,
}

/// The outcome of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enforced {
    /// The revoked session.
    pub session: SessionId,
    /// Its protected role.
    pub role: ProtectedRole,
    /// What happened to the role's policy.
    pub applied: Applied,
    /// The SourceIdentities denied by name (empty under a cut-off).
    pub identities: Vec<String>,
    /// Tokens issued before this instant are denied (a size fallback, or one carried over).
    pub cutoff: Option<DateTime<Utc>>,
}

/// The session a bus event is about: a `SessionRevoked` from `sentinel.ledger` whose detail is
/// the stored event.
pub fn revoked_session(event: &EventBridgeEvent<Value>) -> Result<SessionId, Error> {
    if event.source != SOURCE || event.detail_type != DETAIL_TYPE {
        return Err(Error::Malformed(format!(
            "expected source {SOURCE:?} and detail-type {DETAIL_TYPE:?}, got {:?} and {:?}",
            event.source, event.detail_type
        )));
    }
    let stored: StoredEvent = serde_json::from_value(event.detail.clone())
        .map_err(|e| Error::Malformed(format!("the detail is not a ledger event: {e}")))?;
    if stored.event_type != DETAIL_TYPE {
        return Err(Error::Malformed(format!("the detail is a {:?} event", stored.event_type)));
    }
    match stored.stream.parse::<StreamKey>() {
        Ok(StreamKey::Session(id)) => Ok(id),
        _ => Err(Error::Malformed(format!("{:?} is not a session stream", stored.stream))),
    }
}

/// Parses a raw invocation payload as an EventBridge event.
pub fn parse_event(raw: Value) -> Result<EventBridgeEvent<Value>, Error> {
    serde_json::from_value(raw).map_err(|e| Error::Malformed(format!("not an EventBridge event: {e}")))
}

/// Enforces the revocation an event reports: recomputes and applies the deny policy of the
/// revoked session's protected role.
pub async fn handle(deps: &Deps, event: EventBridgeEvent<Value>) -> Result<Enforced, Error> {
    let session = revoked_session(&event)?;
    let current = reader::session(deps.views.as_ref(), deps.ledger.as_ref(), session)
        .await
        .map_err(|source| Error::Read { session, source })?
        .ok_or(Error::UnknownSession(session))?;
    let view = current.view;
    if view.status != Some(SessionStatus::Revoked) {
        return Err(Error::NotRevoked(session));
    }
    let role_arn = view.role_arn().ok_or(Error::NoCredentials(session))?;
    let role = ProtectedRole::from_arn(role_arn, &deps.account)?;
    let now = deps.clock.now();

    let existing = deps.roles.get(&role, POLICY_NAME).await?;
    let carried = match existing.as_deref().map(previous) {
        None => policy::Previous::default(),
        Some(Ok(p)) => p,
        Some(Err(e)) => {
            // Someone edited the policy by hand; it is replaced by what the ledger says.
            tracing::warn!(role = %role, error = %e, "replacing an inline policy the enforcer cannot read");
            policy::Previous::default()
        }
    };

    let mut revoked = vec![revocation_of(&view, now)].into_iter().flatten().collect::<Vec<_>>();
    // Only revocations that may still have live credentials: older ones cannot be in the
    // document, so they are never read.
    for other in deps.views.revoked_since(role.arn(), now - REVOCATION_HORIZON).await? {
        if other.session_id != session {
            revoked.extend(revocation_of(&other, now));
        }
    }
    revoked.extend(carried.revocations);

    let decided = deny_policy_within(&revoked, carried.cutoff, now, deps.budget);
    apply(deps, &role, session, existing.as_deref(), decided, &revoked, carried.cutoff, now).await
}

/// A revoked session as a revocation (`None` without credentials: nothing to deny).
fn revocation_of(view: &SessionView, now: DateTime<Utc>) -> Option<Revocation> {
    let source_identity = view.source_identity()?;
    // A revoked view always has its end; if not, count the revocation as just now (fail closed).
    let revoked_at = view.ended_at.unwrap_or(now);
    Some(Revocation::new(source_identity, revoked_at, view.credentials_expire_at))
}

#[allow(clippy::too_many_arguments)]
async fn apply(
    deps: &Deps,
    role: &ProtectedRole,
    session: SessionId,
    existing: Option<&str>,
    decided: DenyPolicy,
    revoked: &[Revocation],
    carried_cutoff: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Enforced, Error> {
    let enforced = |applied, decided: &DenyPolicy| Enforced {
        session,
        role: role.clone(),
        applied,
        identities: match decided {
            DenyPolicy::Listed { identities, .. } => identities.clone(),
            _ => Vec::new(),
        },
        cutoff: match decided {
            DenyPolicy::Listed { carried_cutoff, .. } => *carried_cutoff,
            DenyPolicy::Cutoff { issued_before, .. } => Some(*issued_before),
            DenyPolicy::Nothing => None,
        },
    };
    let Some(document) = decided.document() else {
        deps.roles.delete(role, POLICY_NAME).await?;
        return Ok(enforced(Applied::Deleted, &decided));
    };
    let unchanged =
        existing.and_then(|e| serde_json::from_str::<Value>(e).ok()).is_some_and(|e| e == document.to_value());
    if unchanged {
        return Ok(enforced(Applied::Unchanged, &decided));
    }
    let decided = match deps.roles.put(role, POLICY_NAME, &document.to_json()).await {
        Ok(()) => decided,
        // Other inline policies on the role leave less room than the budget assumed.
        Err(PolicyError::TooLarge(_)) if matches!(decided, DenyPolicy::Listed { .. }) => {
            let cutoff = cutoff_policy(revoked, carried_cutoff, now);
            if let Some(document) = cutoff.document() {
                deps.roles.put(role, POLICY_NAME, &document.to_json()).await?;
            }
            cutoff
        }
        Err(e) => return Err(e.into()),
    };
    if let DenyPolicy::Cutoff { issued_before, revocations, .. } = &decided {
        tracing::error!(
            role = %role,
            issued_before = %issued_before,
            revocations,
            "too many live revocations to list within IAM's inline policy limit: denying every \
             token of the role issued before the newest revocation; innocent live sessions of \
             this role are cut off too until they refresh"
        );
    }
    Ok(enforced(Applied::Written, &decided))
}

/// Logs the outcome and tells Lambda whether to retry: retryable errors are returned (Lambda
/// retries, then the event goes to the enforcer's on-failure queue); non-retryable ones are
/// logged as errors with the event and acknowledged, since running again would fail the same way.
pub fn settle(event_id: Option<&str>, result: Result<Enforced, Error>) -> Result<(), Error> {
    match result {
        Ok(done) => {
            tracing::info!(
                event_id,
                session = %done.session,
                role = %done.role,
                applied = ?done.applied,
                identities = done.identities.len(),
                cutoff = ?done.cutoff,
                "revocation enforced"
            );
            Ok(())
        }
        Err(e) if e.is_retryable() => {
            tracing::warn!(event_id, error = %e, retryable = true, "revocation not enforced yet; Lambda will retry");
            Err(e)
        }
        Err(e) => {
            tracing::error!(event_id, error = %e, retryable = false, "revocation event cannot be enforced; not retried");
            Ok(())
        }
    }
}

/// One invocation: parse, handle, settle. What `main` runs per event.
pub async fn invoke(deps: &Deps, raw: Value) -> Result<(), Error> {
    let event_id = raw.get("id").and_then(Value::as_str).map(str::to_owned);
    let result = match parse_event(raw) {
        Ok(event) => handle(deps, event).await,
        Err(e) => Err(e),
    };
    settle(event_id.as_deref(), result)
}
