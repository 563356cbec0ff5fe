//! The typed, validated policy documents: a profile's policy and the admins list.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Datelike, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ids::{IdError, PersonKey, Profile, RoleArn};

use super::subject::{any_matches, PrincipalPattern, Subject, SubjectPattern};

/// The longest credential a policy may allow: role chaining caps sessions at one hour.
pub const MAX_CREDENTIAL_DURATION: Duration = Duration::from_secs(3600);
/// The shortest credential STS issues.
pub const MIN_CREDENTIAL_DURATION: Duration = Duration::from_secs(900);
/// `max_session` when the policy leaves it out.
pub const DEFAULT_MAX_SESSION: Duration = Duration::from_secs(8 * 3600);

/// The policy format version. Only `"1"` exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FormatVersion {
    /// `version: "1"`.
    #[serde(rename = "1")]
    V1,
}

pub use crate::event::Effect;

/// A break-glass reason code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonCode {
    /// An ongoing incident.
    Incident,
    /// Emergency maintenance.
    Maintenance,
    /// A security event.
    Security,
    /// Recovery from an outage or data loss.
    Recovery,
    /// Anything else (the justification says what).
    Other,
}

impl ReasonCode {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ReasonCode::Incident => "incident",
            ReasonCode::Maintenance => "maintenance",
            ReasonCode::Security => "security",
            ReasonCode::Recovery => "recovery",
            ReasonCode::Other => "other",
        }
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ReasonCode {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "incident" => Ok(ReasonCode::Incident),
            "maintenance" => Ok(ReasonCode::Maintenance),
            "security" => Ok(ReasonCode::Security),
            "recovery" => Ok(ReasonCode::Recovery),
            "other" => Ok(ReasonCode::Other),
            _ => Err(()),
        }
    }
}

/// A local wall-clock time `HH:MM` from `00:00` to `24:00` (the end of the day).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimeOfDay {
    minutes: u16,
}

impl TimeOfDay {
    /// `24:00`, the end of the day.
    pub const END_OF_DAY: TimeOfDay = TimeOfDay { minutes: 24 * 60 };

    /// `hour:minute`, or `None` past `24:00`.
    pub fn new(hour: u16, minute: u16) -> Option<Self> {
        let minutes = hour.checked_mul(60)?.checked_add(minute)?;
        (minute < 60 && minutes <= 24 * 60).then_some(Self { minutes })
    }

    /// Minutes since local midnight (1440 for `24:00`).
    pub fn minutes(self) -> u16 {
        self.minutes
    }

    fn nanos_since_midnight(self) -> u64 {
        u64::from(self.minutes) * 60 * 1_000_000_000
    }
}

impl FromStr for TimeOfDay {
    type Err = ();
    /// Exactly `HH:MM` with two digits each.
    fn from_str(s: &str) -> Result<Self, ()> {
        let b = s.as_bytes();
        if b.len() != 5 || b[2] != b':' || ![0, 1, 3, 4].iter().all(|&i| b[i].is_ascii_digit()) {
            return Err(());
        }
        let digit = |i: usize| u16::from(b[i] - b'0');
        TimeOfDay::new(digit(0) * 10 + digit(1), digit(3) * 10 + digit(4)).ok_or(())
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.minutes / 60, self.minutes % 60)
    }
}

/// Local hours `[start, end)`: start inclusive, end exclusive, `start < end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Hours {
    /// First instant inside the window.
    pub start: TimeOfDay,
    /// First instant after the window (`24:00` = end of day).
    pub end: TimeOfDay,
}

impl Hours {
    /// Whether the two ranges share an instant.
    pub fn overlaps(&self, other: &Hours) -> bool {
        self.start < other.end && other.start < self.end
    }

    /// Whether every instant of `other` is inside `self`.
    pub fn contains_range(&self, other: &Hours) -> bool {
        self.start <= other.start && other.end <= self.end
    }
}

/// A weekly time window evaluated in its own time zone (never silently in UTC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeWindow {
    /// Local weekdays on which the window is open.
    pub days: Vec<Weekday>,
    /// Local hours during which it is open.
    pub hours: Hours,
    /// The IANA time zone the days and hours are in.
    pub timezone: Tz,
}

impl TimeWindow {
    /// Whether `now` falls on one of the local days and inside the local hours.
    pub fn contains(&self, now: DateTime<Utc>) -> bool {
        let local = now.with_timezone(&self.timezone);
        if !self.days.contains(&local.weekday()) {
            return false;
        }
        // Leap-second nanoseconds (>= 1e9) stay inside their second's minute.
        let nanos = u64::from(local.num_seconds_from_midnight()) * 1_000_000_000
            + u64::from(local.nanosecond().min(999_999_999));
        self.hours.start.nanos_since_midnight() <= nanos && nanos < self.hours.end.nanos_since_midnight()
    }
}

/// A rule's conditions: all present conditions must hold; a missing one matches everyone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conditions {
    /// Policy names (`iam:NAME`, `idp:NAME` or bare), matched exactly and case-sensitively
    /// within their namespace against the caller's policy name (callers who can choose their
    /// name have none, so never match).
    pub users: Option<Vec<String>>,
    /// Principal ARN patterns (see [`PrincipalPattern`]).
    pub principals: Option<Vec<PrincipalPattern>>,
    /// When the rule applies.
    pub time: Option<TimeWindow>,
}

impl Conditions {
    /// Whether every present condition holds for this subject at this instant.
    pub fn matches(&self, subject: &Subject, now: DateTime<Utc>) -> bool {
        // Cheapest first, and stop at the first that fails: a 100-rule policy is mostly rules
        // that do not name the caller, and a time zone conversion costs more than a name check.
        let users_ok = || self.users.as_ref().is_none_or(|users| subject.is_named_in(users));
        let principals_ok =
            || self.principals.as_ref().is_none_or(|patterns| patterns.iter().any(|p| p.matches(&subject.principal)));
        let time_ok = || self.time.as_ref().is_none_or(|window| window.contains(now));
        users_ok() && principals_ok() && time_ok()
    }

    /// Whether there is no condition at all (the rule matches every caller, always).
    pub fn is_unconditional(&self) -> bool {
        self.users.is_none() && self.principals.is_none() && self.time.is_none()
    }
}

/// One ordered policy rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Unique within the policy; recorded in decisions.
    pub name: String,
    /// What the rule decides when it matches.
    pub effect: Effect,
    /// When it matches.
    pub when: Conditions,
    /// A cap on one credential under this rule (900 s to 3600 s).
    pub max_duration: Option<Duration>,
    /// Shown to the caller and recorded when the rule decides.
    pub reason: Option<String>,
}

/// Who may approve requests for the profile, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalsConfig {
    /// Approvers (user names, or `arn:` principal patterns).
    pub approvers: Vec<SubjectPattern>,
    /// Distinct approving persons needed (at least 1).
    pub required: u32,
    /// The longest an approval may stay usable.
    pub window: Duration,
}

impl ApprovalsConfig {
    /// Whether the subject is listed as an approver.
    pub fn is_approver(&self, subject: &Subject) -> bool {
        any_matches(&self.approvers, subject)
    }
}

/// Who may break glass on the profile, why, and how often.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakGlassConfig {
    /// Users allowed to break glass (user names, or `arn:` principal patterns).
    pub users: Vec<SubjectPattern>,
    /// Accepted reason codes.
    pub reason_codes: Vec<ReasonCode>,
    /// The longest one break-glass may stay active.
    pub max_duration: Duration,
    /// The least time between two break-glass invocations of one person.
    pub cooldown: Duration,
}

impl BreakGlassConfig {
    /// Whether the subject may break glass on this profile.
    pub fn allows(&self, subject: &Subject) -> bool {
        any_matches(&self.users, subject)
    }
}

/// A profile's validated policy, with the exact text it was parsed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyDocument {
    /// Always [`FormatVersion::V1`].
    pub version: FormatVersion,
    /// The profile; equals the SSM parameter's last segment.
    pub profile: Profile,
    /// The protected role credentials are issued from.
    pub role_arn: RoleArn,
    /// Cap on one credential (900 s to 3600 s, default 3600 s).
    pub max_duration: Duration,
    /// How long a session may be refreshed after it started (default 8 h).
    pub max_session: Duration,
    /// Ordered rules; the first match decides, no match denies.
    pub rules: Vec<Rule>,
    /// The approval workflow, if the profile has one.
    pub approvals: Option<ApprovalsConfig>,
    /// Break-glass, if the profile allows it.
    pub break_glass: Option<BreakGlassConfig>,
    /// Who may list and revoke this profile's sessions and close its break-glass.
    pub revokers: Vec<SubjectPattern>,
    pub(crate) source: String,
}

impl PolicyDocument {
    /// SHA-256 (lowercase hex) of the exact YAML text the policy was parsed from.
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.source.as_bytes()))
    }

    /// The exact YAML text the policy was parsed from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the subject is one of the profile's revokers.
    pub fn is_revoker(&self, subject: &Subject) -> bool {
        any_matches(&self.revokers, subject)
    }
}

/// The `/sentinel/admins` parameter: who administers Sentinel as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminsDocument {
    /// Always [`FormatVersion::V1`].
    pub version: FormatVersion,
    /// Admin policy names (`iam:NAME`, `idp:NAME` or bare), matched exactly in their namespace.
    pub users: Vec<String>,
    /// Admin principal ARN patterns.
    pub principals: Vec<PrincipalPattern>,
    /// Groups of person keys that are one human (`people: [[iam:…, idp:…], …]`): each group's
    /// first key stands for all of them.
    pub people: Vec<Vec<PersonKey>>,
    pub(crate) source: String,
}

/// Reads `people:` groups; a key that is not a person key is an error naming `people[i][j]`.
pub(crate) fn people_groups(raw: &[Vec<String>]) -> Result<Vec<Vec<PersonKey>>, (String, String, IdError)> {
    raw.iter()
        .enumerate()
        .map(|(i, group)| {
            group
                .iter()
                .enumerate()
                .map(|(j, key)| key.parse().map_err(|e| (format!("people[{i}][{j}]"), key.clone(), e)))
                .collect()
        })
        .collect()
}

impl AdminsDocument {
    /// Whether the subject is an admin (same matching rules as policy conditions).
    pub fn is_admin(&self, subject: &Subject) -> bool {
        let by_name = subject.is_named_in(&self.users);
        by_name || self.principals.iter().any(|p| p.matches(&subject.principal))
    }

    /// SHA-256 (lowercase hex) of the exact YAML text.
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.source.as_bytes()))
    }

    /// The person `key` is: the first key of the first `people` group that lists it, else itself.
    pub fn person(&self, key: &PersonKey) -> PersonKey {
        self.people.iter().find(|group| group.contains(key)).and_then(|group| group.first()).unwrap_or(key).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn window(days: &[Weekday], start: &str, end: &str, tz: &str) -> TimeWindow {
        TimeWindow {
            days: days.to_vec(),
            hours: Hours { start: start.parse().unwrap(), end: end.parse().unwrap() },
            timezone: tz.parse().unwrap(),
        }
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    #[test]
    fn a_policy_must_name_a_protected_role() {
        let policy = |role: &str| {
            format!(
                "version: \"1\"\nprofile: dev\nrole_arn: {role}\nrules:\n  - {{name: all, effect: allow, when: {{users: [iam:alice]}}}}\n"
            )
        };
        assert!(PolicyDocument::parse(&policy("arn:aws:iam::999988887777:role/sentinelprotected-dev"), None).is_ok());
        for role in ["arn:aws:iam::111122223333:role/Admin", "arn:aws:iam::111122223333:role/ops/SentinelProtected-Dev"]
        {
            let e = PolicyDocument::parse(&policy(role), None).unwrap_err();
            assert_eq!((e.line, e.field.as_str()), (3, "role_arn"), "{e}");
            assert!(e.to_string().contains("SentinelProtected-"), "{e}");
        }
    }

    #[test]
    fn times_of_day_are_two_digit_hours_and_minutes_up_to_24_00() {
        assert_eq!("08:30".parse::<TimeOfDay>().unwrap().minutes(), 510);
        assert_eq!("24:00".parse::<TimeOfDay>(), Ok(TimeOfDay::END_OF_DAY));
        for bad in ["8:00", "24:01", "25:00", "12:60", "12-00", "1200", "12:0", " 12:00", "+1:00"] {
            assert!(bad.parse::<TimeOfDay>().is_err(), "{bad}");
        }
    }

    #[test]
    fn window_start_is_inside_and_end_is_outside() {
        let w = window(&[Weekday::Wed], "08:00", "18:00", "UTC");
        let start = utc(2024, 1, 3, 8, 0, 0); // a Wednesday
        assert!(w.contains(start));
        assert!(!w.contains(start - chrono::Duration::nanoseconds(1)));
        let end = utc(2024, 1, 3, 18, 0, 0);
        assert!(!w.contains(end));
        assert!(w.contains(end - chrono::Duration::nanoseconds(1)));
    }

    #[test]
    fn end_of_day_includes_the_last_nanosecond() {
        let w = window(&[Weekday::Wed], "20:00", "24:00", "UTC");
        assert!(w.contains(utc(2024, 1, 4, 0, 0, 0) - chrono::Duration::nanoseconds(1)));
        assert!(!w.contains(utc(2024, 1, 4, 0, 0, 0)));
    }

    #[test]
    fn sunday_evening_in_los_angeles_is_monday_in_utc() {
        let sunday_la = window(&[Weekday::Sun], "23:00", "24:00", "America/Los_Angeles");
        // 2024-03-18 06:30 UTC (a Monday) is Sunday 2024-03-17 23:30 in Los Angeles (PDT, UTC-7).
        let instant = utc(2024, 3, 18, 6, 30, 0);
        assert_eq!(instant.weekday(), Weekday::Mon);
        assert!(sunday_la.contains(instant));
        let monday_utc = window(&[Weekday::Sun], "23:00", "24:00", "UTC");
        assert!(!monday_utc.contains(instant));
    }

    #[test]
    fn berlin_office_hours_follow_daylight_saving_time() {
        let office = window(&[Weekday::Mon], "08:00", "18:00", "Europe/Berlin");
        // Winter (CET, UTC+1): 08:00 local is 07:00 UTC.
        assert!(office.contains(utc(2024, 1, 8, 7, 0, 0)));
        assert!(!office.contains(utc(2024, 1, 8, 6, 59, 59)));
        // Summer (CEST, UTC+2): 08:00 local is 06:00 UTC, and 07:00 UTC is already 09:00.
        assert!(office.contains(utc(2024, 7, 1, 6, 0, 0)));
        assert!(!office.contains(utc(2024, 7, 1, 5, 59, 59)));
        assert!(!office.contains(utc(2024, 7, 1, 16, 0, 0)));
        assert!(office.contains(utc(2024, 1, 8, 16, 0, 0)));
    }

    #[test]
    fn hour_ranges_overlap_only_when_they_share_an_instant() {
        let h = |a: &str, b: &str| Hours { start: a.parse().unwrap(), end: b.parse().unwrap() };
        assert!(h("08:00", "12:00").overlaps(&h("11:59", "13:00")));
        assert!(!h("08:00", "12:00").overlaps(&h("12:00", "13:00")));
        assert!(h("00:00", "24:00").contains_range(&h("08:00", "12:00")));
        assert!(!h("09:00", "24:00").contains_range(&h("08:00", "12:00")));
    }
}
