//! The event catalogue: every fact the ledger records, with typed payloads and stable wire names.
//!
//! Wire names are past tense and never renamed. A payload whose shape changes gets a new schema
//! version; the upcasters in [`crate::upcast`] rewrite older stored versions before decoding.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{Actor, ApprovalId, BreakGlassId, PrincipalArn, Profile, RoleArn, SessionId};

/// The effect a decision reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    Allow,
    Deny,
    RequireApproval,
}

impl Effect {
    /// The wire name (`allow`, `deny`, `require_approval`).
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "allow",
            Effect::Deny => "deny",
            Effect::RequireApproval => "require_approval",
        }
    }
}

impl std::fmt::Display for Effect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Effect {
    type Err = ();
    /// Exact wire names only: no case folding, no aliases.
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "allow" => Ok(Effect::Allow),
            "deny" => Ok(Effect::Deny),
            "require_approval" => Ok(Effect::RequireApproval),
            _ => Err(()),
        }
    }
}

/// What a grant rests on: the policy alone, an approval, or a break-glass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Basis {
    Policy,
    Approval(ApprovalId),
    BreakGlass(BreakGlassId),
}

impl std::fmt::Display for Basis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Basis::Policy => f.write_str("policy"),
            Basis::Approval(id) => write!(f, "approval:{id}"),
            Basis::BreakGlass(id) => write!(f, "break_glass:{id}"),
        }
    }
}

impl std::str::FromStr for Basis {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("basis {s:?} is not policy, approval:<id> or break_glass:<id>");
        match s.split_once(':') {
            None if s == "policy" => Ok(Basis::Policy),
            Some(("approval", id)) => id.parse().map(Basis::Approval).map_err(|_| bad()),
            Some(("break_glass", id)) => id.parse().map(Basis::BreakGlass).map_err(|_| bad()),
            _ => Err(bad()),
        }
    }
}

impl Serialize for Basis {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Basis {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// A caller asked for credentials (schema version 2; version 1 had `duration_seconds` and no
/// `user_id` or `reason`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialsRequested {
    pub principal: PrincipalArn,
    /// The stable AWS user id (`AIDA…` or `AROA…:session`); unknown for version 1 events.
    pub user_id: Option<String>,
    pub profile: Profile,
    pub requested_duration_seconds: Option<u32>,
    /// The caller's free-text reason (≤ 256 printable characters).
    pub reason: Option<String>,
}

/// The TVM decided a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessDecided {
    pub effect: Effect,
    /// The name of the rule that matched, if any.
    pub rule: Option<String>,
    pub reason: String,
    pub basis: Basis,
    /// SHA-256 of the policy document the decision used; none when no policy exists.
    pub policy_hash: Option<String>,
}

/// Credentials were minted for the session (never the secret key or session token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialsIssued {
    pub role_arn: RoleArn,
    pub source_identity: String,
    pub role_session_name: String,
    pub access_key_id: String,
    pub expiration: DateTime<Utc>,
    /// After this instant the session can no longer be refreshed (`max_session`).
    pub session_ends_at: DateTime<Utc>,
    /// SHA-256 (hex) of the session token handed to the client.
    pub token_hash: String,
}

/// A live session's credentials were renewed through `/credentials`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialsRefreshed {
    pub access_key_id: String,
    pub expiration: DateTime<Utc>,
    pub basis: Basis,
}

/// A session was revoked; it is refused from now on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionRevoked {
    pub by: PrincipalArn,
    pub reason: String,
}

/// A session reached its end without being revoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionExpired {}

/// A caller asked for approval to use a profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRequested {
    pub requester: PrincipalArn,
    pub profile: Profile,
    pub justification: String,
    /// How long the approval stays usable once granted.
    pub duration_seconds: u32,
    /// The pending request expires at this instant. An approval whose grant carries no
    /// `usable_until` (granted before windows ran from the grant) is usable until here too.
    pub expires_at: DateTime<Utc>,
    /// Distinct approving persons needed.
    pub required: u32,
}

/// One approver approved; the request is approved once `required` distinct persons have
/// (schema version 2; version 1 had no `usable_until`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalGranted {
    pub approver: PrincipalArn,
    pub comment: Option<String>,
    /// On the grant that reached the quorum: the approval is usable until this instant (its
    /// moment plus the request's `duration_seconds`). `None` on the other grants and on
    /// version 1 events.
    pub usable_until: Option<DateTime<Utc>>,
}

/// An approved request was ended before its window did: by an approver, a revoker or an admin,
/// or because a session resting on it was revoked (then `session_id` names it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRevoked {
    pub by: PrincipalArn,
    pub reason: String,
    pub session_id: Option<SessionId>,
}

/// An approver denied the request; one denial ends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalDenied {
    pub approver: PrincipalArn,
    pub comment: Option<String>,
}

/// The requester withdrew the request, pending or approved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalCancelled {
    pub by: PrincipalArn,
}

/// A session was opened on this grant (on the approval's or the break-glass's own stream, in the
/// vend's transaction, or by the first refresh that rests on it): ending the grant revokes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantUsed {
    pub session_id: SessionId,
}

/// The request's window ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalExpired {}

/// Someone invoked break-glass: loud by design.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakGlassInvoked {
    pub invoker: PrincipalArn,
    pub profile: Profile,
    pub reason_code: String,
    pub justification: String,
    pub duration_seconds: u32,
    pub expires_at: DateTime<Utc>,
}

/// A break-glass was closed before it expired (schema version 2; version 1 had no
/// `session_id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakGlassClosed {
    pub by: PrincipalArn,
    pub reason: String,
    /// The session whose revocation closed it, when one did.
    pub session_id: Option<SessionId>,
}

/// A break-glass reached its expiry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakGlassExpired {}

/// A break-glass invocation took its person's guard for the profile (stream
/// `GUARD#breakglass#<profile>#<person>`, appended in the invocation's transaction), so
/// invocations of one person on one profile are strictly sequential: no stacking, exact
/// cooldown, whatever the view lag. (Guards written before person keys are keyed by principal
/// ARN.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakGlassReserved {
    pub breakglass_id: BreakGlassId,
    pub expires_at: DateTime<Utc>,
}

/// A request took its person's approval guard for the profile (stream
/// `GUARD#approval#<profile>#<person>`, appended in the request's transaction): requests of one
/// person on one profile are strictly sequential (no second one while one is pending), and a
/// vend finds the person's approvals from the ledger alone, whatever the view lag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalReserved {
    pub approval_id: ApprovalId,
    /// When the request stops being pending.
    pub expires_at: DateTime<Utc>,
    /// How long the approval is usable once granted.
    pub duration_seconds: u32,
}

impl ApprovalReserved {
    /// The latest instant the approval could still be usable (granted at the last moment).
    pub fn could_grant_until(&self) -> DateTime<Utc> {
        self.expires_at + chrono::Duration::seconds(i64::from(self.duration_seconds))
    }
}

/// A POST carrying an `Idempotency-Key` was answered; a retry with the same key gets this answer
/// again instead of acting twice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdempotencyKeyRecorded {
    /// The route key, e.g. `POST /requests`: a key reused on another route is refused.
    pub route: String,
    /// The HTTP status of the first answer.
    pub status: u16,
    /// The JSON body of the first answer.
    pub body: serde_json::Value,
}

/// A profile's policy document was published through the API, or first seen by the TVM
/// (then `by` is `system`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyPublished {
    pub profile: Profile,
    pub version: String,
    pub hash: String,
    pub by: Actor,
}

macro_rules! catalogue {
    ($($variant:ident => $version:literal),+ $(,)?) => {
        /// Every event the ledger records.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Event {
            $($variant($variant),)+
        }

        /// Every wire name, in catalogue order.
        pub const EVENT_TYPES: &[&str] = &[$(stringify!($variant)),+];

        impl Event {
            /// The stable wire name stored in the `type` attribute.
            pub fn wire_type(&self) -> &'static str {
                match self {
                    $(Event::$variant(_) => stringify!($variant),)+
                }
            }

            /// The current schema version of this event's payload.
            pub fn schema_version(&self) -> u32 {
                match self {
                    $(Event::$variant(_) => $version,)+
                }
            }

            /// The current schema version of a wire type, if the type is known.
            pub fn current_version(wire_type: &str) -> Option<u32> {
                match wire_type {
                    $(stringify!($variant) => Some($version),)+
                    _ => None,
                }
            }

            /// The payload as JSON (the shape stored in the ledger and hashed).
            pub fn payload(&self) -> serde_json::Value {
                let value = match self {
                    $(Event::$variant(p) => serde_json::to_value(p),)+
                };
                // Payloads are plain structs of strings, integers and options: serialising
                // them cannot fail.
                value.unwrap_or(serde_json::Value::Null)
            }

            /// Decodes a payload already upcast to the current version of `wire_type`.
            pub fn from_current(
                wire_type: &str,
                payload: serde_json::Value,
            ) -> Result<Event, PayloadError> {
                match wire_type {
                    $(stringify!($variant) => serde_json::from_value(payload)
                        .map(Event::$variant)
                        .map_err(|e| PayloadError::Invalid(e.to_string())),)+
                    other => Err(PayloadError::UnknownType(other.to_owned())),
                }
            }
        }

        $(impl From<$variant> for Event {
            fn from(p: $variant) -> Event {
                Event::$variant(p)
            }
        })+
    };
}

catalogue! {
    CredentialsRequested => 2,
    AccessDecided => 1,
    CredentialsIssued => 1,
    CredentialsRefreshed => 1,
    SessionRevoked => 1,
    SessionExpired => 1,
    ApprovalRequested => 1,
    ApprovalGranted => 2,
    ApprovalDenied => 1,
    ApprovalCancelled => 1,
    ApprovalRevoked => 1,
    ApprovalExpired => 1,
    GrantUsed => 1,
    BreakGlassInvoked => 1,
    BreakGlassClosed => 2,
    BreakGlassExpired => 1,
    BreakGlassReserved => 1,
    ApprovalReserved => 1,
    PolicyPublished => 1,
    IdempotencyKeyRecorded => 1,
}

/// Why a payload could not become a typed event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("unknown event type {0:?}")]
    UnknownType(String),
    #[error("schema version {version} of {event_type} is newer than this build understands (≤ {current})")]
    FutureVersion { event_type: String, version: u32, current: u32 },
    #[error("schema version {version} of {event_type} has no upcaster")]
    UnsupportedVersion { event_type: String, version: u32 },
    #[error("payload does not match its schema: {0}")]
    Invalid(String),
}
