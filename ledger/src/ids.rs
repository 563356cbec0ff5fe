//! Identifiers parsed once at the edge: ULID ids, profile names, ARNs and stream keys.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use ulid::Ulid;

/// Why a string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{kind} must be a 26-character ULID")]
    NotUlid { kind: &'static str },
    #[error("profile names are 1-64 characters of letters, digits, '_', '.', '-' and start with a letter or digit")]
    BadProfile,
    #[error("{kind} must be an ARN (arn:<partition>:<service>:...) of printable ASCII, at most 2048 characters")]
    BadArn { kind: &'static str },
    #[error("unknown stream key {0:?}: expected SESSION#, APPROVAL#, BREAKGLASS#, POLICY#, GUARD# or IDEMPOTENCY#")]
    BadStreamKey(String),
    #[error("person keys are iam:<account>:<user name>, idp:<session name>, role:<AROA role id> or root:<account>")]
    BadPersonKey,
    #[error(
        "the role must be a protected role: its name starts with SentinelProtected- (any case, any account, path /)"
    )]
    NotProtectedRole,
}

macro_rules! ulid_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Ulid);

        impl $name {
            /// A fresh id (time-ordered, random tail).
            pub fn generate() -> Self {
                Self(Ulid::new())
            }
            /// Wraps an existing ULID.
            pub const fn from_ulid(ulid: Ulid) -> Self {
                Self(ulid)
            }
            /// The underlying ULID.
            pub const fn ulid(self) -> Ulid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                if s.len() != 26 {
                    return Err(IdError::NotUlid { kind: $kind });
                }
                Ulid::from_string(s).map(Self).map_err(|_| IdError::NotUlid { kind: $kind })
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

ulid_id!(
    /// One credential session: the vend that opened it and every refresh after.
    SessionId, "session id"
);
ulid_id!(
    /// One approval request.
    ApprovalId, "approval id"
);
ulid_id!(
    /// One break-glass invocation.
    BreakGlassId, "break-glass id"
);
ulid_id!(
    /// One ledger event; retries of an append carry the same id.
    EventId, "event id"
);

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $validate:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The validated string.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                let validate: fn(&str) -> Result<(), IdError> = $validate;
                validate(s)?;
                Ok(Self(s.to_owned()))
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

string_id!(
    /// A profile name: `[A-Za-z0-9][A-Za-z0-9_.-]{0,63}`, equal to its SSM parameter's last segment.
    Profile,
    |s| {
        let mut chars = s.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
        let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if first_ok && rest_ok && s.len() <= 64 {
            Ok(())
        } else {
            Err(IdError::BadProfile)
        }
    }
);

string_id!(
    /// An IAM role ARN (`arn:<partition>:iam::<account>:role/<path/name>`).
    RoleArn,
    |s| validate_arn(s, "role ARN", |rest| rest.starts_with("iam:") && rest.contains(":role/"))
);

impl RoleArn {
    /// Whether the role's name (after `role/`, path `/`) starts with `prefix`, ignoring ASCII
    /// case (IAM role names are case-insensitive).
    pub fn is_protected(&self, prefix: &str) -> bool {
        let name = self.0.split_once(":role/").map_or("", |(_, name)| name);
        !name.contains('/') && name.get(..prefix.len()).is_some_and(|head| head.eq_ignore_ascii_case(prefix))
    }

    /// This ARN if it names a protected role (`SentinelProtected-*`): only those can the TVM
    /// assume, and only their sessions can the enforcer deny.
    pub fn require_protected(&self) -> Result<&RoleArn, IdError> {
        if self.is_protected(crate::identity::DEFAULT_PROTECTED_ROLE_PREFIX) {
            Ok(self)
        } else {
            Err(IdError::NotProtectedRole)
        }
    }
}

string_id!(
    /// The ARN of a calling principal as AWS authenticated it.
    PrincipalArn,
    |s| validate_arn(s, "principal ARN", |_| true)
);

fn validate_arn(s: &str, kind: &'static str, shape: fn(&str) -> bool) -> Result<(), IdError> {
    let printable = s.bytes().all(|b| (0x21..0x7f).contains(&b));
    let rest = s.strip_prefix("arn:").and_then(|r| r.split_once(':')).map(|(_, r)| r);
    match rest {
        Some(rest) if printable && s.len() <= 2048 && shape(rest) => Ok(()),
        _ => Err(IdError::BadArn { kind }),
    }
}

/// Who a caller is, whatever principal they use (DESIGN §2): the key that self-approval, the
/// quorum, cancel rights, break-glass guards, rate limits and "mine" filters compare.
///
/// An IAM user is `iam:<account>:<user name>`; a session on a configured identity role (whose
/// trust pins the session name to the signed-in user) is `idp:<session name>`; a session on any
/// other role is `role:<AROA role id>` (its session names are the caller's choice, so all its
/// sessions are one actor); the account root is `root:<account>`. IAM user names and identity
/// session names never meet: `iam:` and `idp:` keys are never equal. Held in its text form,
/// validated once.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PersonKey(String);

impl PersonKey {
    /// An IAM user, by account and user name.
    pub fn iam(account: &str, user: &str) -> Result<PersonKey, IdError> {
        format!("iam:{account}:{user}").parse()
    }

    /// A person signed in through an identity provider, by the session name it sets.
    pub fn idp(session: &str) -> Result<PersonKey, IdError> {
        format!("idp:{session}").parse()
    }

    /// Every session of one ordinary role, by the role's unique id (`AROA…`).
    pub fn role(role_id: &str) -> Result<PersonKey, IdError> {
        format!("role:{role_id}").parse()
    }

    /// The root user of an account.
    pub fn root(account: &str) -> Result<PersonKey, IdError> {
        format!("root:{account}").parse()
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name policies match (`iam:NAME` or `idp:NAME`); roles and root have none.
    pub fn policy_name(&self) -> Option<String> {
        let (kind, rest) = self.0.split_once(':')?;
        match kind {
            "iam" => rest.split_once(':').map(|(_, user)| format!("iam:{user}")),
            "idp" => Some(self.0.clone()),
            _ => None,
        }
    }
}

/// 12 ASCII digits.
fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// IAM user and session names: 1-64 (sessions: 2-64) of `[A-Za-z0-9_+=,.@-]`.
fn is_name(s: &str, min: usize) -> bool {
    (min..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b))
}

impl fmt::Display for PersonKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for PersonKey {
    type Err = IdError;
    /// `iam:<account>:<user>`, `idp:<session>`, `role:<AROA id>` or `root:<account>`.
    fn from_str(s: &str) -> Result<Self, IdError> {
        let (kind, rest) = s.split_once(':').ok_or(IdError::BadPersonKey)?;
        let valid = match kind {
            "iam" => rest.split_once(':').is_some_and(|(account, user)| is_account(account) && is_name(user, 1)),
            "idp" => is_name(rest, 2),
            "role" => rest
                .strip_prefix("AROA")
                .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())),
            "root" => is_account(rest),
            _ => false,
        };
        if valid {
            Ok(PersonKey(s.to_owned()))
        } else {
            Err(IdError::BadPersonKey)
        }
    }
}

impl Serialize for PersonKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PersonKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Someone who acted: the principal ARN AWS authenticated, and their person key — `None` for
/// what was recorded before person keys existed, which is then compared by ARN.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Who {
    pub principal: PrincipalArn,
    pub person: Option<PersonKey>,
}

impl Who {
    /// Someone whose person is known.
    pub fn new(principal: PrincipalArn, person: PersonKey) -> Who {
        Who { principal, person: Some(person) }
    }

    /// Whether `self` and `other` are the same person: by person key when both have one, by
    /// principal ARN otherwise (events recorded before person keys).
    pub fn is(&self, other: &Who) -> bool {
        match (&self.person, &other.person) {
            (Some(a), Some(b)) => a == b,
            _ => self.principal == other.principal,
        }
    }
}

impl<'de> Deserialize<'de> for Who {
    /// `{principal, person}`, or a bare principal ARN (views written before person keys).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Wire {
            Arn(PrincipalArn),
            Full {
                principal: PrincipalArn,
                #[serde(default)]
                person: Option<PersonKey>,
            },
        }
        Ok(match Wire::deserialize(d)? {
            Wire::Arn(principal) => Who { principal, person: None },
            Wire::Full { principal, person } => Who { principal, person },
        })
    }
}

/// The actor of an event: a caller's principal ARN, or the system itself (sweeps, expiry).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Actor {
    Principal(PrincipalArn),
    System,
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::Principal(arn) => f.write_str(arn.as_str()),
            Actor::System => f.write_str("system"),
        }
    }
}

impl FromStr for Actor {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        if s == "system" {
            Ok(Actor::System)
        } else {
            s.parse().map(Actor::Principal)
        }
    }
}

impl Serialize for Actor {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Actor {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The key of one ledger stream: the unit of ordering and of the hash chain.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StreamKey {
    Session(SessionId),
    Approval(ApprovalId),
    BreakGlass(BreakGlassId),
    Policy(Profile),
    /// Serialises break-glass invocations of one person for one profile.
    BreakGlassGuard {
        profile: Profile,
        person: PersonKey,
    },
    /// Serialises approval requests of one person for one profile and lists them.
    ApprovalGuard {
        profile: Profile,
        person: PersonKey,
    },
    /// The guard of one principal for one profile, as written before person keys: read (until
    /// it can no longer matter), never written.
    LegacyBreakGlassGuard {
        profile: Profile,
        principal: PrincipalArn,
    },
    /// Remembers what a POST with an `Idempotency-Key` answered: keyed by the SHA-256 (hex) of
    /// the caller's principal and the key, so keys of different callers never collide.
    Idempotency(String),
}

impl fmt::Display for StreamKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamKey::Session(id) => write!(f, "SESSION#{id}"),
            StreamKey::Approval(id) => write!(f, "APPROVAL#{id}"),
            StreamKey::BreakGlass(id) => write!(f, "BREAKGLASS#{id}"),
            StreamKey::Policy(p) => write!(f, "POLICY#{p}"),
            StreamKey::BreakGlassGuard { profile, person } => write!(f, "GUARD#breakglass#{profile}#{person}"),
            StreamKey::ApprovalGuard { profile, person } => write!(f, "GUARD#approval#{profile}#{person}"),
            StreamKey::LegacyBreakGlassGuard { profile, principal } => {
                write!(f, "GUARD#breakglass#{profile}#{principal}")
            }
            StreamKey::Idempotency(digest) => write!(f, "IDEMPOTENCY#{digest}"),
        }
    }
}

impl FromStr for StreamKey {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let bad = || IdError::BadStreamKey(s.chars().take(120).collect());
        let (kind, rest) = s.split_once('#').ok_or_else(bad)?;
        match kind {
            "SESSION" => rest.parse().map(StreamKey::Session).map_err(|_| bad()),
            "APPROVAL" => rest.parse().map(StreamKey::Approval).map_err(|_| bad()),
            "BREAKGLASS" => rest.parse().map(StreamKey::BreakGlass).map_err(|_| bad()),
            "POLICY" => rest.parse().map(StreamKey::Policy).map_err(|_| bad()),
            "IDEMPOTENCY" if rest.len() == 64 && rest.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) => {
                Ok(StreamKey::Idempotency(rest.to_owned()))
            }
            "GUARD" if rest.starts_with("approval#") => {
                let (profile, person) = rest["approval#".len()..].split_once('#').ok_or_else(bad)?;
                Ok(StreamKey::ApprovalGuard {
                    profile: profile.parse().map_err(|_| bad())?,
                    person: person.parse().map_err(|_| bad())?,
                })
            }
            "GUARD" => {
                let rest = rest.strip_prefix("breakglass#").ok_or_else(bad)?;
                let (profile, holder) = rest.split_once('#').ok_or_else(bad)?;
                let profile = profile.parse().map_err(|_| bad())?;
                if holder.starts_with("arn:") {
                    Ok(StreamKey::LegacyBreakGlassGuard { profile, principal: holder.parse().map_err(|_| bad())? })
                } else {
                    Ok(StreamKey::BreakGlassGuard { profile, person: holder.parse().map_err(|_| bad())? })
                }
            }
            _ => Err(bad()),
        }
    }
}

impl Serialize for StreamKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for StreamKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_names_follow_the_documented_charset() {
        for good in ["dev", "prod-admin", "a", "A1_b.c-d", &"x".repeat(64)] {
            assert!(good.parse::<Profile>().is_ok(), "{good}");
        }
        for bad in ["", "-dev", ".dev", "../etc", "dev/x", "dev\n", "dév", "dev ", &"x".repeat(65), "prod\u{0430}"] {
            assert_eq!(bad.parse::<Profile>(), Err(IdError::BadProfile), "{bad:?}");
        }
    }

    #[test]
    fn stream_keys_round_trip_through_their_wire_form() {
        let keys = [
            StreamKey::Session(SessionId::generate()),
            StreamKey::Approval(ApprovalId::generate()),
            StreamKey::BreakGlass(BreakGlassId::generate()),
            StreamKey::Policy("prod".parse().unwrap()),
            StreamKey::BreakGlassGuard {
                profile: "prod".parse().unwrap(),
                person: "iam:111122223333:oncall".parse().unwrap(),
            },
            StreamKey::BreakGlassGuard {
                profile: "prod".parse().unwrap(),
                person: "idp:dana@example.com".parse().unwrap(),
            },
            StreamKey::LegacyBreakGlassGuard {
                profile: "prod".parse().unwrap(),
                principal: "arn:aws:iam::111122223333:user/oncall".parse().unwrap(),
            },
            StreamKey::ApprovalGuard {
                profile: "prod".parse().unwrap(),
                person: "idp:dana@example.com".parse().unwrap(),
            },
            StreamKey::Idempotency("ab".repeat(32)),
        ];
        for key in keys {
            assert_eq!(key.to_string().parse::<StreamKey>().unwrap(), key);
        }
        assert!("SESSION#nope".parse::<StreamKey>().is_err());
        assert!("ROOT#x".parse::<StreamKey>().is_err());
    }

    #[test]
    fn person_keys_round_trip_and_refuse_anything_else() {
        for good in [
            "iam:111122223333:alice",
            "iam:111122223333:secops@example.com",
            "idp:dana@example.com",
            "role:AROAORDINARY0001",
            "root:111122223333",
        ] {
            assert_eq!(good.parse::<PersonKey>().unwrap().to_string(), good);
        }
        for bad in [
            "",
            "alice",
            "iam:alice",
            "iam:1:alice",
            "iam:111122223333:",
            "iam:111122223333:a b",
            "idp:x",
            "idp:a:b",
            "role:AIDA0001",
            "role:AROA",
            "root:1",
            "user:111122223333:alice",
        ] {
            assert_eq!(bad.parse::<PersonKey>(), Err(IdError::BadPersonKey), "{bad:?}");
        }
        let iam: PersonKey = "iam:111122223333:secops@example.com".parse().unwrap();
        let idp: PersonKey = "idp:secops@example.com".parse().unwrap();
        assert_ne!(iam, idp, "an IAM user and an SSO user with one name are two people");
        assert_eq!(iam.policy_name().as_deref(), Some("iam:secops@example.com"));
        assert_eq!(idp.policy_name().as_deref(), Some("idp:secops@example.com"));
    }

    #[test]
    fn who_compares_persons_and_falls_back_to_arns_for_old_records() {
        let dev: PrincipalArn = "arn:aws:sts::111122223333:assumed-role/Dev/dana@example.com".parse().unwrap();
        let ops: PrincipalArn = "arn:aws:sts::111122223333:assumed-role/Ops/dana@example.com".parse().unwrap();
        let dana: PersonKey = "idp:dana@example.com".parse().unwrap();
        assert!(Who::new(dev.clone(), dana.clone()).is(&Who::new(ops.clone(), dana.clone())));
        assert!(!Who { principal: dev.clone(), person: None }.is(&Who::new(ops.clone(), dana.clone())));
        assert!(Who { principal: dev.clone(), person: None }.is(&Who::new(dev.clone(), dana)));
        let legacy: Who = serde_json::from_value(serde_json::json!(dev.as_str())).unwrap();
        assert_eq!(legacy, Who { principal: dev, person: None });
        let full: Who =
            serde_json::from_value(serde_json::json!({"principal": ops.as_str(), "person": "idp:dana@example.com"}))
                .unwrap();
        assert_eq!(serde_json::to_value(&full).unwrap()["person"], "idp:dana@example.com");
    }

    #[test]
    fn ulid_ids_refuse_anything_but_26_crockford_characters() {
        assert!("01ARZ3NDEKTSV4RRFFQ69G5FAV".parse::<SessionId>().is_ok());
        assert!("01ARZ3NDEKTSV4RRFFQ69G5FA".parse::<SessionId>().is_err());
        assert!("01ARZ3NDEKTSV4RRFFQ69G5FAU!".parse::<SessionId>().is_err());
    }

    #[test]
    fn only_sentinel_protected_roles_are_protected() {
        let role = |arn: &str| arn.parse::<RoleArn>().unwrap();
        for protected in [
            "arn:aws:iam::111122223333:role/SentinelProtected-Dev",
            "arn:aws:iam::999988887777:role/sentinelprotected-prod",
            "arn:aws-us-gov:iam::111122223333:role/SENTINELPROTECTED-X",
        ] {
            assert!(role(protected).require_protected().is_ok(), "{protected}");
        }
        for other in [
            "arn:aws:iam::111122223333:role/Admin",
            "arn:aws:iam::111122223333:role/SentinelProtected",
            "arn:aws:iam::111122223333:role/team/SentinelProtected-Dev",
            "arn:aws:iam::111122223333:role/XSentinelProtected-Dev",
        ] {
            assert_eq!(role(other).require_protected(), Err(IdError::NotProtectedRole), "{other}");
        }
    }

    #[test]
    fn arns_must_look_like_arns() {
        assert!("arn:aws:iam::111122223333:role/SentinelProtected-Dev".parse::<RoleArn>().is_ok());
        assert!("arn:aws-us-gov:iam::111122223333:role/x".parse::<RoleArn>().is_ok());
        assert!("arn:aws:iam::111122223333:user/alice".parse::<RoleArn>().is_err());
        assert!("prod".parse::<RoleArn>().is_err());
        assert!("arn:aws:sts::1:assumed-role/r/s x".parse::<PrincipalArn>().is_err());
        assert_eq!("system".parse::<Actor>().unwrap(), Actor::System);
    }
}
