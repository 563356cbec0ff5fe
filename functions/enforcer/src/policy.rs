//! The revocation deny policy as a pure function of the revocations and the time: which
//! SourceIdentities may still hold live credentials, the IAM document that denies them, and the
//! `aws:TokenIssueTime` cut-off when listing them would not fit in IAM's inline-policy limit.
//!
//! The document is also the enforcer's memory: each statement's `Sid` says until when its
//! identities may be live (`RevokedUntil<yyyymmddHHMM>`, UTC), so a revocation already denied is
//! carried over by the next run even when the views have not caught up with it yet, and pruned
//! once its credentials have certainly expired.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, SecondsFormat, TimeDelta, Timelike, Utc};
use serde::Serialize;
use serde_json::Value;

/// The one inline policy the enforcer writes on a protected role (contract.json
/// `iam.enforcer_inline_policy_name`).
pub const POLICY_NAME: &str = "SentinelRevocations";

/// Roles the enforcer may touch (contract.json `iam.protected_role_name_prefix`).
pub const PROTECTED_ROLE_PREFIX: &str = "SentinelProtected-";

/// IAM's limit on the total size of a role's inline policies (characters, whitespace excluded).
pub const IAM_INLINE_POLICY_LIMIT: usize = 10_240;

/// How large the listed document may grow before the cut-off replaces it: IAM's limit minus a
/// margin for small inline policies an operator may have put on the role.
pub const POLICY_BUDGET: usize = 10_000;

/// The longest credentials a protected role hands out: the TVM assumes roles by role chaining,
/// which STS caps at one hour.
pub const MAX_CREDENTIAL_LIFETIME: TimeDelta = TimeDelta::seconds(3600);

/// Allowance for the TVM's clock against STS's, added wherever the deny must reach past an
/// instant recorded by the TVM.
pub const CLOCK_SKEW: TimeDelta = TimeDelta::seconds(30);

/// How far back the enforcer reads revocations. A session's credentials are issued before its
/// revocation and last at most [`MAX_CREDENTIAL_LIFETIME`]; its deny lasts [`CLOCK_SKEW`]
/// longer, and STS's clock may be that much ahead of the TVM's. Five minutes covers both with
/// room to spare, so a revocation older than this can never be live, and is never read.
/// Credentials that may live longer (console sessions, up to 12 h) must raise
/// [`MAX_CREDENTIAL_LIFETIME`], and this horizon with it.
pub const REVOCATION_HORIZON: TimeDelta = TimeDelta::seconds(MAX_CREDENTIAL_LIFETIME.num_seconds() + 300);

/// Live-until instants are rounded up to this many seconds, so a burst of revocations shares a
/// few statements instead of one each.
pub const BUCKET_SECONDS: i64 = 300;

/// IAM policy language version.
pub const POLICY_VERSION: &str = "2012-10-17";

const SID_UNTIL: &str = "RevokedUntil";
const SID_CUTOFF: &str = "TokensIssuedBeforeRevocation";
const SID_TIME: &str = "%Y%m%d%H%M";
const SOURCE_IDENTITY_KEY: &str = "aws:SourceIdentity";
const TOKEN_ISSUE_TIME_KEY: &str = "aws:TokenIssueTime";

/// One revoked session's SourceIdentity and until when its credentials may be live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// The SourceIdentity the session's credentials carry.
    pub source_identity: String,
    /// When the session was revoked (the ledger's `occurred_at`).
    pub revoked_at: DateTime<Utc>,
    /// After this instant no credentials of the session can be live.
    pub live_until: DateTime<Utc>,
}

impl Revocation {
    /// A session revoked at `revoked_at` whose newest credentials expire at
    /// `credentials_expire_at`: live until an hour after the revocation (no credentials are
    /// issued after it, none last longer than an hour), or until its newest credentials expire
    /// if that were later, plus [`CLOCK_SKEW`].
    pub fn new(
        source_identity: impl Into<String>,
        revoked_at: DateTime<Utc>,
        credentials_expire_at: Option<DateTime<Utc>>,
    ) -> Self {
        let by_cap = revoked_at + MAX_CREDENTIAL_LIFETIME;
        let live_until = credentials_expire_at.map_or(by_cap, |e| e.max(by_cap)) + CLOCK_SKEW;
        Revocation { source_identity: source_identity.into(), revoked_at, live_until }
    }

    /// Whether the session's credentials may still be live at `now`.
    pub fn is_live_at(&self, now: DateTime<Utc>) -> bool {
        self.live_until > now
    }
}

/// An IAM policy document (only the parts the enforcer writes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyDocument {
    /// Always [`POLICY_VERSION`].
    pub version: String,
    /// The deny statements; never empty.
    pub statement: Vec<Statement>,
}

/// One `Deny * on *` statement with its condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Statement {
    /// `RevokedUntil<yyyymmddHHMM>` or `TokensIssuedBeforeRevocation`.
    pub sid: String,
    /// Always `Deny`.
    pub effect: String,
    /// Always `*`.
    pub action: String,
    /// Always `*`.
    pub resource: String,
    /// Operator → condition key → values; every value list is non-empty.
    pub condition: BTreeMap<String, BTreeMap<String, Vec<String>>>,
}

impl Statement {
    fn deny_all_when(sid: String, operator: &str, key: &str, values: Vec<String>) -> Self {
        let mut by_key = BTreeMap::new();
        by_key.insert(key.to_owned(), values);
        let mut condition = BTreeMap::new();
        condition.insert(operator.to_owned(), by_key);
        Statement { sid, effect: "Deny".to_owned(), action: "*".to_owned(), resource: "*".to_owned(), condition }
    }
}

impl PolicyDocument {
    /// The compact JSON IAM receives (no whitespace, so its length is what IAM counts).
    pub fn to_json(&self) -> String {
        // Strings, maps with string keys and vectors always serialise; sending IAM an empty
        // document instead would hide the bug, so it fails loudly.
        #[allow(clippy::expect_used)]
        serde_json::to_string(self).expect("a policy document of strings serialises")
    }

    /// The document as a JSON value, for comparing with what IAM holds.
    pub fn to_value(&self) -> Value {
        #[allow(clippy::expect_used)]
        serde_json::to_value(self).expect("a policy document of strings serialises")
    }

    /// Size as IAM counts it against [`IAM_INLINE_POLICY_LIMIT`].
    pub fn size(&self) -> usize {
        self.to_json().chars().count()
    }
}

/// What the inline policy of a role must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DenyPolicy {
    /// No revoked credentials can be live: the role needs no revocation policy.
    Nothing,
    /// Deny the listed SourceIdentities (and, while its tokens may live, an earlier cut-off).
    Listed {
        /// The document.
        document: PolicyDocument,
        /// The SourceIdentities denied, sorted.
        identities: Vec<String>,
        /// An earlier cut-off kept because tokens it covers may still be live.
        carried_cutoff: Option<DateTime<Utc>>,
    },
    /// Too many to list: deny every token issued before `issued_before` (innocent live sessions
    /// of the role too, until they refresh).
    Cutoff {
        /// The document.
        document: PolicyDocument,
        /// Tokens issued before this instant are denied.
        issued_before: DateTime<Utc>,
        /// How many live revocations did not fit.
        revocations: usize,
    },
}

impl DenyPolicy {
    /// The document to write, if any.
    pub fn document(&self) -> Option<&PolicyDocument> {
        match self {
            DenyPolicy::Nothing => None,
            DenyPolicy::Listed { document, .. } | DenyPolicy::Cutoff { document, .. } => Some(document),
        }
    }
}

/// The deny policy for `revoked` at `now`, within [`POLICY_BUDGET`].
pub fn deny_policy(revoked: &[Revocation], now: DateTime<Utc>) -> DenyPolicy {
    deny_policy_within(revoked, None, now, POLICY_BUDGET)
}

/// The deny policy for `revoked` at `now`, keeping `carried_cutoff` (from the current document)
/// while tokens it covers may be live, and falling back to a cut-off when the listed document
/// would exceed `budget` characters. Revocations whose credentials have expired are pruned; a
/// live one is never dropped.
pub fn deny_policy_within(
    revoked: &[Revocation],
    carried_cutoff: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    budget: usize,
) -> DenyPolicy {
    let live = live_revocations(revoked, now);
    let carried = carried_cutoff.filter(|t| cutoff_is_live(*t, now));
    if live.is_empty() && carried.is_none() {
        return DenyPolicy::Nothing;
    }
    let mut buckets: BTreeMap<DateTime<Utc>, Vec<String>> = BTreeMap::new();
    for r in live.values() {
        buckets.entry(bucket(r.live_until)).or_default().push(r.source_identity.clone());
    }
    let mut statement: Vec<Statement> = buckets
        .into_iter()
        .map(|(until, mut identities)| {
            identities.sort();
            Statement::deny_all_when(
                format!("{SID_UNTIL}{}", until.format(SID_TIME)),
                "StringEquals",
                SOURCE_IDENTITY_KEY,
                identities,
            )
        })
        .collect();
    if let Some(t) = carried {
        statement.push(cutoff_statement(t));
    }
    let document = PolicyDocument { version: POLICY_VERSION.to_owned(), statement };
    if document.size() <= budget {
        return DenyPolicy::Listed { document, identities: live.keys().cloned().collect(), carried_cutoff: carried };
    }
    cutoff_policy(revoked, carried_cutoff, now)
}

/// The cut-off document alone: deny every token issued before the newest live revocation (plus
/// [`CLOCK_SKEW`]) or before `carried_cutoff`, whichever is later. Every revoked session's
/// credentials were issued before its revocation, so this covers all of them. `Nothing` when no
/// revocation is live.
pub fn cutoff_policy(revoked: &[Revocation], carried_cutoff: Option<DateTime<Utc>>, now: DateTime<Utc>) -> DenyPolicy {
    let live = live_revocations(revoked, now);
    let newest = live.values().map(|r| r.revoked_at + CLOCK_SKEW).max();
    let carried = carried_cutoff.filter(|t| cutoff_is_live(*t, now));
    let Some(issued_before) = newest.max(carried) else {
        return DenyPolicy::Nothing;
    };
    // Whole seconds, rounded up: the condition value has no fraction.
    let issued_before = ceil_to(issued_before, 1);
    DenyPolicy::Cutoff {
        document: PolicyDocument {
            version: POLICY_VERSION.to_owned(),
            statement: vec![cutoff_statement(issued_before)],
        },
        issued_before,
        revocations: live.len(),
    }
}

/// What a document the enforcer wrote earlier still denies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Previous {
    /// The listed identities, each live until its statement's bucket.
    pub revocations: Vec<Revocation>,
    /// The cut-off, if the document had one.
    pub cutoff: Option<DateTime<Utc>>,
}

/// Why a stored document cannot be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the stored {POLICY_NAME} document was not written by the enforcer: {0}")]
pub struct ForeignDocument(pub String);

/// Reads back a document written by [`deny_policy_within`] (accepting IAM's equivalent shapes:
/// one statement as an object, one value as a string).
pub fn previous(document: &str) -> Result<Previous, ForeignDocument> {
    let foreign = |why: &str| ForeignDocument(why.to_owned());
    let doc: Value = serde_json::from_str(document).map_err(|e| foreign(&e.to_string()))?;
    let statements = match doc.get("Statement") {
        Some(Value::Array(list)) => list.clone(),
        Some(one @ Value::Object(_)) => vec![one.clone()],
        _ => return Err(foreign("no Statement")),
    };
    let mut found = Previous::default();
    for s in &statements {
        let sid = s.get("Sid").and_then(Value::as_str).unwrap_or_default();
        let condition = s.get("Condition").ok_or_else(|| foreign("a statement without Condition"))?;
        if let Some(stamp) = sid.strip_prefix(SID_UNTIL) {
            let until = NaiveDateTime::parse_from_str(stamp, SID_TIME)
                .map_err(|_| foreign("a RevokedUntil Sid without a time"))?
                .and_utc();
            let identities = strings(condition.get("StringEquals").and_then(|c| c.get(SOURCE_IDENTITY_KEY)));
            if identities.is_empty() {
                return Err(foreign("a RevokedUntil statement without SourceIdentities"));
            }
            found.revocations.extend(identities.into_iter().map(|source_identity| Revocation {
                source_identity,
                // The bucket is at least an hour after the revocation; earlier would move a
                // cut-off too early, later only denies more.
                revoked_at: until - MAX_CREDENTIAL_LIFETIME,
                live_until: until,
            }));
        } else if sid == SID_CUTOFF {
            let values = strings(condition.get("DateLessThan").and_then(|c| c.get(TOKEN_ISSUE_TIME_KEY)));
            for v in values {
                let t = DateTime::parse_from_rfc3339(&v)
                    .map_err(|_| foreign("a cut-off that is not an RFC 3339 time"))?
                    .with_timezone(&Utc);
                found.cutoff = found.cutoff.max(Some(t));
            }
        } else {
            return Err(foreign("an unknown Sid"));
        }
    }
    Ok(found)
}

fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

/// Live revocations by SourceIdentity, each with its latest revocation and live-until.
fn live_revocations(revoked: &[Revocation], now: DateTime<Utc>) -> BTreeMap<String, Revocation> {
    let mut live: BTreeMap<String, Revocation> = BTreeMap::new();
    for r in revoked.iter().filter(|r| r.is_live_at(now) && !r.source_identity.is_empty()) {
        live.entry(r.source_identity.clone())
            .and_modify(|known| {
                known.revoked_at = known.revoked_at.max(r.revoked_at);
                known.live_until = known.live_until.max(r.live_until);
            })
            .or_insert_with(|| r.clone());
    }
    live
}

fn cutoff_is_live(issued_before: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    issued_before + MAX_CREDENTIAL_LIFETIME + CLOCK_SKEW > now
}

fn cutoff_statement(issued_before: DateTime<Utc>) -> Statement {
    Statement::deny_all_when(
        SID_CUTOFF.to_owned(),
        "DateLessThan",
        TOKEN_ISSUE_TIME_KEY,
        vec![issued_before.to_rfc3339_opts(SecondsFormat::Secs, true)],
    )
}

/// `t` rounded up to the next [`BUCKET_SECONDS`] boundary (at minute precision, as the Sid says).
fn bucket(t: DateTime<Utc>) -> DateTime<Utc> {
    ceil_to(t, BUCKET_SECONDS)
}

fn ceil_to(t: DateTime<Utc>, seconds: i64) -> DateTime<Utc> {
    let whole = t.timestamp();
    let has_fraction = t.nanosecond() > 0;
    let up = if has_fraction { whole + 1 } else { whole };
    let rounded = (up + seconds - 1).div_euclid(seconds) * seconds;
    DateTime::from_timestamp(rounded, 0).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, h, m, s).unwrap()
    }

    #[test]
    fn buckets_round_up_to_five_minutes_and_keep_exact_boundaries() {
        assert_eq!(bucket(t(10, 0, 1)), t(10, 5, 0));
        assert_eq!(bucket(t(10, 5, 0)), t(10, 5, 0));
        assert_eq!(ceil_to(t(10, 5, 0) + TimeDelta::milliseconds(1), 1), t(10, 5, 1));
    }

    #[test]
    fn every_revocation_that_may_be_live_is_within_the_horizon() {
        let now = t(12, 0, 0);
        // Revoked from 2 h ago to now, each with its newest credentials expiring as late as
        // they can: the cap after the revocation, by a clock CLOCK_SKEW ahead.
        for seconds_ago in 0..7200 {
            let revoked_at = now - TimeDelta::seconds(seconds_ago);
            let latest =
                Revocation::new("sentinel-x", revoked_at, Some(revoked_at + MAX_CREDENTIAL_LIFETIME + CLOCK_SKEW));
            if latest.is_live_at(now) {
                assert!(revoked_at >= now - REVOCATION_HORIZON, "revoked {seconds_ago} s ago is live but not read");
            }
        }
    }

    #[test]
    fn a_carried_cutoff_outlives_its_tokens_by_the_skew_only() {
        assert!(cutoff_is_live(t(9, 0, 0), t(9, 59, 59)));
        assert!(!cutoff_is_live(t(9, 0, 0), t(10, 0, 30)));
    }
}
