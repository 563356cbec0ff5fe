//! Ledger histories for tests (feature `testkit`): sealed, hash-chained events built from the
//! real catalogue, so every consumer's tests feed the same shapes the ledger stores.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};

use ledger::event::{
    AccessDecided, ApprovalCancelled, ApprovalDenied, ApprovalExpired, ApprovalGranted, ApprovalRequested, Basis,
    BreakGlassClosed, BreakGlassExpired, BreakGlassInvoked, CredentialsIssued, CredentialsRefreshed,
    CredentialsRequested, Effect, Event, PolicyPublished, SessionExpired, SessionRevoked,
};
use ledger::{Actor, EventId, NewEvent, PersonKey, PrincipalArn, Profile, StoredEvent, StreamHead, StreamKey, Who};

/// The principal ARN of IAM user `name` in the test account.
pub fn arn(name: &str) -> PrincipalArn {
    format!("arn:aws:iam::111122223333:user/{name}").parse().unwrap_or_else(|_| panic!("bad test user {name}"))
}

/// IAM user `name` of the test account as someone who acts (principal and person).
pub fn who(name: &str) -> Who {
    let actor = actor(name);
    Who { principal: arn(name), person: person_of(&actor) }
}

/// A profile name.
pub fn profile(name: &str) -> Profile {
    name.parse().unwrap_or_else(|_| panic!("bad test profile {name}"))
}

/// `minutes` after 2026-11-25 09:00 UTC.
pub fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 9, 0, 0).single().unwrap_or_default() + Duration::minutes(minutes)
}

/// A ledger built event by event: each append is sealed onto its stream's chain.
#[derive(Debug, Clone, Default)]
pub struct LedgerBuilder {
    heads: BTreeMap<StreamKey, StreamHead>,
    events: Vec<StoredEvent>,
    /// Minutes after [`at`]`(0)` of the next event; advanced by one per append.
    pub clock: i64,
}

impl LedgerBuilder {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `event` to `stream` as `actor`; returns the stored event.
    pub fn append(&mut self, stream: &StreamKey, event: impl Into<Event>, actor: Actor) -> StoredEvent {
        let head = self.heads.get(stream).cloned().unwrap_or_else(StreamHead::genesis);
        let person = person_of(&actor);
        let new = NewEvent {
            event_id: EventId::generate(),
            occurred_at: at(self.clock),
            person,
            actor,
            correlation_id: format!("req-{}", self.events.len()),
            event: event.into(),
        };
        self.clock += 1;
        let sealed = StoredEvent::seal(stream, &head, std::slice::from_ref(&new)).expect("testkit events canonicalise");
        let stored = sealed.into_iter().next().unwrap_or_else(|| panic!("seal returns one event per event"));
        self.heads.insert(stream.clone(), stored.head());
        self.events.push(stored.clone());
        stored
    }

    /// Every event, in append order.
    pub fn events(&self) -> &[StoredEvent] {
        &self.events
    }

    /// The events of one stream, in order.
    pub fn stream(&self, stream: &StreamKey) -> Vec<StoredEvent> {
        let key = stream.to_string();
        self.events.iter().filter(|e| e.stream == key).cloned().collect()
    }
}

/// The person of a test actor: `iam:111122223333:<name>` for the test account's IAM users,
/// `None` for the system and for other principals.
pub fn person_of(actor: &Actor) -> Option<PersonKey> {
    let Actor::Principal(arn) = actor else { return None };
    let name = arn.as_str().strip_prefix("arn:aws:iam::111122223333:user/")?;
    format!("iam:111122223333:{name}").parse().ok()
}

/// `CredentialsRequested` by `who` for `profile`.
pub fn requested(who: &str, profile_name: &str) -> CredentialsRequested {
    CredentialsRequested {
        principal: arn(who),
        user_id: Some(format!("AIDA{}", who.to_uppercase())),
        profile: profile(profile_name),
        requested_duration_seconds: Some(900),
        reason: Some("tests".into()),
    }
}

/// `AccessDecided` with `effect` on the policy alone.
pub fn decided(effect: Effect) -> AccessDecided {
    AccessDecided {
        effect,
        rule: Some("rule".into()),
        reason: "test rule".into(),
        basis: Basis::Policy,
        policy_hash: None,
    }
}

/// `CredentialsIssued` expiring at minute `expires`, session ending at minute `ends`.
pub fn issued(expires: i64, ends: i64) -> CredentialsIssued {
    CredentialsIssued {
        role_arn: "arn:aws:iam::111122223333:role/SentinelProtected-Dev".parse().unwrap_or_else(|_| panic!("role")),
        source_identity: "sentinel-test".into(),
        role_session_name: "sentinel-test".into(),
        access_key_id: "ASIATESTKEY".into(),
        expiration: at(expires),
        session_ends_at: at(ends),
        token_hash: "ab".repeat(32),
    }
}

/// `CredentialsRefreshed` expiring at minute `expires`.
pub fn refreshed(expires: i64) -> CredentialsRefreshed {
    CredentialsRefreshed { access_key_id: "ASIANEXTKEY".into(), expiration: at(expires), basis: Basis::Policy }
}

/// `SessionRevoked` by `who`.
pub fn revoked(who: &str) -> SessionRevoked {
    SessionRevoked { by: arn(who), reason: "tests".into() }
}

/// `SessionExpired`.
pub fn session_expired() -> SessionExpired {
    SessionExpired {}
}

/// `ApprovalRequested` by `who` on `profile_name`, needing `required` approvers, until minute `until`.
pub fn approval_requested(who: &str, profile_name: &str, required: u32, until: i64) -> ApprovalRequested {
    ApprovalRequested {
        requester: arn(who),
        profile: profile(profile_name),
        justification: "deploy".into(),
        duration_seconds: 3600,
        expires_at: at(until),
        required,
    }
}

/// `ApprovalGranted` by `who`.
pub fn granted(who: &str) -> ApprovalGranted {
    ApprovalGranted { approver: arn(who), comment: None, usable_until: None }
}

/// `ApprovalDenied` by `who`.
pub fn denied(who: &str) -> ApprovalDenied {
    ApprovalDenied { approver: arn(who), comment: Some("no".into()) }
}

/// `ApprovalCancelled` by `who`.
pub fn cancelled(who: &str) -> ApprovalCancelled {
    ApprovalCancelled { by: arn(who) }
}

/// `ApprovalExpired`.
pub fn approval_expired() -> ApprovalExpired {
    ApprovalExpired {}
}

/// `BreakGlassInvoked` by `who` on `profile_name` until minute `until`.
pub fn break_glass_invoked(who: &str, profile_name: &str, until: i64) -> BreakGlassInvoked {
    BreakGlassInvoked {
        invoker: arn(who),
        profile: profile(profile_name),
        reason_code: "incident".into(),
        justification: "pager".into(),
        duration_seconds: 3600,
        expires_at: at(until),
    }
}

/// `BreakGlassClosed` by `who`.
pub fn break_glass_closed(who: &str) -> BreakGlassClosed {
    BreakGlassClosed { by: arn(who), reason: "resolved".into(), session_id: None }
}

/// `BreakGlassExpired`.
pub fn break_glass_expired() -> BreakGlassExpired {
    BreakGlassExpired {}
}

/// `PolicyPublished` of `profile_name` version `version`.
pub fn policy_published(profile_name: &str, version: u32) -> PolicyPublished {
    PolicyPublished {
        profile: profile(profile_name),
        version: version.to_string(),
        hash: format!("{version:064}"),
        // Parsed rather than built, so it fits whether `by` is a principal or an actor.
        by: arn("secops").as_str().parse().unwrap_or_else(|_| panic!("secops parses")),
    }
}

/// The actor `who`.
pub fn actor(who: &str) -> Actor {
    Actor::Principal(arn(who))
}
