//! Strict parsing of policy and admins YAML: serde checks the shape (unknown keys are
//! errors), then every value is validated into the typed documents. Each error carries the
//! line (and column) of the offending value, found by re-reading the source along the
//! error's field path.

use std::collections::HashSet;
use std::fmt;
use std::time::Duration;

use chrono::Weekday;
use chrono_tz::Tz;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::ids::{IdError, Profile, RoleArn};

use super::document::{
    AdminsDocument, ApprovalsConfig, BreakGlassConfig, Conditions, Effect, FormatVersion, Hours, PolicyDocument,
    ReasonCode, Rule, TimeOfDay, TimeWindow, DEFAULT_MAX_SESSION, MAX_CREDENTIAL_DURATION, MIN_CREDENTIAL_DURATION,
};
use super::duration::{format_duration, parse_duration, DurationError};
use super::subject::{validate_user_name, PatternError, PrincipalPattern, SubjectPattern};

/// A policy or admins document that cannot be loaded, with where and what.
///
/// Displays as `line 7, column 13: rules[0].effect: unknown effect "alow" (...)`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}{}: {field}: {problem}", column_suffix(.column))]
pub struct PolicyError {
    /// 1-based line of the offending value (1 when the parser could not say).
    pub line: usize,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// The field path, e.g. `rules[0].when.time.timezone` (`document` for the whole text).
    pub field: String,
    /// What is wrong.
    pub problem: Problem,
}

fn column_suffix(column: &Option<usize>) -> String {
    column.map_or_else(String::new, |c| format!(", column {c}"))
}

/// What is wrong with a policy or admins document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// YAML syntax, or a value of the wrong type, as the YAML parser reported it.
    #[error("{0}")]
    Yaml(String),
    #[error("the document is empty")]
    EmptyDocument,
    #[error("unknown key (expected {expected})")]
    UnknownKey { expected: String },
    #[error("missing required key")]
    MissingKey,
    #[error("key appears twice")]
    DuplicateKey,
    #[error("unsupported version {0:?} (expected \"1\")")]
    UnsupportedVersion(String),
    #[error("invalid value {value:?}: {source}")]
    InvalidId { value: String, source: IdError },
    #[error("the policy is for profile {found} but was loaded as profile {expected}")]
    ProfileMismatch { expected: Profile, found: Profile },
    #[error("unknown effect {0:?} (expected allow, deny or require_approval)")]
    UnknownEffect(String),
    #[error("bad duration {value:?}: {source}")]
    BadDuration { value: String, source: DurationError },
    #[error("{} is out of range (expected {} to {})", format_duration(*.value), format_duration(*.min), format_duration(*.max))]
    DurationOutOfRange { value: Duration, min: Duration, max: Duration },
    #[error("unknown time zone {0:?} (expected an IANA name such as Europe/Berlin or UTC)")]
    UnknownTimeZone(String),
    #[error("bad time {0:?} (expected HH:MM from 00:00 to 24:00)")]
    BadTimeOfDay(String),
    #[error("start {start} is not before end {end}")]
    EmptyHours { start: TimeOfDay, end: TimeOfDay },
    #[error("unknown day {0:?} (expected mon, tue, wed, thu, fri, sat or sun)")]
    UnknownDay(String),
    #[error("an empty list matches nobody; remove the key to match everyone")]
    EmptyCondition,
    #[error("must list at least one entry")]
    EmptyList,
    #[error("a policy needs at least one rule (no rule matching means deny)")]
    NoRules,
    #[error("rule name {0:?} is used by an earlier rule")]
    DuplicateRuleName(String),
    #[error("bad rule name {0:?} (1-128 characters, no control characters)")]
    BadRuleName(String),
    #[error("bad reason (at most 256 characters, no control characters)")]
    BadReason,
    #[error("bad entry {value:?}: {source}")]
    BadEntry { value: String, source: PatternError },
    #[error("unknown reason code {0:?} (expected incident, maintenance, security, recovery or other)")]
    UnknownReasonCode(String),
    #[error("must be at least 1")]
    RequiredZero,
    #[error("{required} approvals required but only {approvers} approvers listed")]
    NotEnoughApprovers { required: u32, approvers: usize },
    #[error("rule {0:?} requires approval but the policy has no approvals section")]
    ApprovalsMissing(String),
}

// ---------------------------------------------------------------------------------------
// The shape, as serde sees it. Scalars stay strings (serde_yaml reads any plain scalar as a
// string) so that every value is validated below with a precise error.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    version: String,
    profile: String,
    role_arn: String,
    #[serde(default)]
    max_duration: Option<String>,
    #[serde(default)]
    max_session: Option<String>,
    rules: Vec<RawRule>,
    #[serde(default)]
    approvals: Option<RawApprovals>,
    #[serde(default)]
    break_glass: Option<RawBreakGlass>,
    #[serde(default)]
    revokers: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: String,
    effect: String,
    #[serde(default)]
    when: Option<RawConditions>,
    #[serde(default)]
    max_duration: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConditions {
    #[serde(default)]
    users: Option<Vec<String>>,
    #[serde(default)]
    principals: Option<Vec<String>>,
    #[serde(default)]
    time: Option<RawTime>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTime {
    days: Vec<String>,
    hours: RawHours,
    timezone: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHours {
    start: String,
    end: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApprovals {
    approvers: Vec<String>,
    required: u32,
    window: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBreakGlass {
    users: Vec<String>,
    reason_codes: Vec<String>,
    max_duration: String,
    cooldown: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAdmins {
    version: String,
    #[serde(default)]
    users: Vec<String>,
    #[serde(default)]
    principals: Vec<String>,
    #[serde(default)]
    people: Vec<Vec<String>>,
}

// ---------------------------------------------------------------------------------------
// Validation.

/// A validation failure before its line is known.
struct Invalid {
    field: String,
    problem: Problem,
}

fn invalid(field: impl Into<String>, problem: Problem) -> Invalid {
    Invalid { field: field.into(), problem }
}

/// Accepted range of one kind of duration.
#[derive(Clone, Copy)]
struct Range {
    min: Duration,
    max: Duration,
}

const fn hours(n: u64) -> Duration {
    Duration::from_secs(n * 3600)
}

const CREDENTIAL: Range = Range { min: MIN_CREDENTIAL_DURATION, max: MAX_CREDENTIAL_DURATION };
const SESSION: Range = Range { min: MIN_CREDENTIAL_DURATION, max: hours(12) };
const APPROVAL_WINDOW: Range = Range { min: MIN_CREDENTIAL_DURATION, max: hours(24) };
const BREAK_GLASS: Range = Range { min: MIN_CREDENTIAL_DURATION, max: hours(4) };
const COOLDOWN: Range = Range { min: Duration::from_secs(1), max: hours(24) };

impl PolicyDocument {
    /// Parses and validates a policy. When `expected_profile` is given (the SSM
    /// parameter's last segment) the document's `profile:` must equal it.
    ///
    /// Approvers, revokers and break-glass users are policy user names matched exactly
    /// like `users`; an entry starting with `arn:` is a principal ARN pattern instead.
    pub fn parse(yaml: &str, expected_profile: Option<&Profile>) -> Result<PolicyDocument, PolicyError> {
        reject_empty(yaml)?;
        let raw: RawPolicy = serde_yaml::from_str(yaml).map_err(|e| from_yaml_error(yaml, e))?;
        build_policy(raw, expected_profile, yaml).map_err(|e| locate_error(yaml, e))
    }
}

impl AdminsDocument {
    /// Parses and validates the `/sentinel/admins` parameter
    /// (`{version: "1", users: [...], principals: [...]}`).
    pub fn parse(yaml: &str) -> Result<AdminsDocument, PolicyError> {
        reject_empty(yaml)?;
        let raw: RawAdmins = serde_yaml::from_str(yaml).map_err(|e| from_yaml_error(yaml, e))?;
        build_admins(raw, yaml).map_err(|e| locate_error(yaml, e))
    }
}

/// An empty text (or only comments) would otherwise read as a mapping missing every key.
fn reject_empty(yaml: &str) -> Result<(), PolicyError> {
    let blank = yaml.lines().map(str::trim).all(|line| line.is_empty() || line.starts_with('#') || line == "---");
    if blank {
        return Err(PolicyError {
            line: 1,
            column: None,
            field: "document".to_owned(),
            problem: Problem::EmptyDocument,
        });
    }
    Ok(())
}

fn build_policy(raw: RawPolicy, expected: Option<&Profile>, source: &str) -> Result<PolicyDocument, Invalid> {
    let version = check_version(&raw.version)?;
    let profile: Profile = parse_id(&raw.profile, "profile")?;
    if let Some(expected) = expected {
        if &profile != expected {
            return Err(invalid("profile", Problem::ProfileMismatch { expected: expected.clone(), found: profile }));
        }
    }
    let role_arn: RoleArn = parse_id(&raw.role_arn, "role_arn")?;
    role_arn
        .require_protected()
        .map_err(|source| invalid("role_arn", Problem::InvalidId { value: raw.role_arn.clone(), source }))?;
    let max_duration =
        optional_duration(raw.max_duration.as_deref(), "max_duration", CREDENTIAL)?.unwrap_or(MAX_CREDENTIAL_DURATION);
    let max_session =
        optional_duration(raw.max_session.as_deref(), "max_session", SESSION)?.unwrap_or(DEFAULT_MAX_SESSION);

    if raw.rules.is_empty() {
        return Err(invalid("rules", Problem::NoRules));
    }
    let mut names = HashSet::new();
    let mut rules = Vec::with_capacity(raw.rules.len());
    for (i, raw_rule) in raw.rules.into_iter().enumerate() {
        let at = format!("rules[{i}]");
        let rule = build_rule(raw_rule, &at)?;
        if !names.insert(rule.name.clone()) {
            return Err(invalid(format!("{at}.name"), Problem::DuplicateRuleName(rule.name)));
        }
        rules.push(rule);
    }

    let approvals = raw.approvals.map(build_approvals).transpose()?;
    if approvals.is_none() {
        if let Some((i, rule)) = rules.iter().enumerate().find(|(_, r)| r.effect == Effect::RequireApproval) {
            return Err(invalid(format!("rules[{i}].effect"), Problem::ApprovalsMissing(rule.name.clone())));
        }
    }
    let break_glass = raw.break_glass.map(build_break_glass).transpose()?;
    let revokers = subject_list(raw.revokers.unwrap_or_default(), "revokers")?;

    Ok(PolicyDocument {
        version,
        profile,
        role_arn,
        max_duration,
        max_session,
        rules,
        approvals,
        break_glass,
        revokers,
        source: source.to_owned(),
    })
}

fn build_admins(raw: RawAdmins, source: &str) -> Result<AdminsDocument, Invalid> {
    let version = check_version(&raw.version)?;
    for (j, user) in raw.users.iter().enumerate() {
        validate_user_name(user).map_err(|e| bad_entry(format!("users[{j}]"), user, e))?;
    }
    let principals = principal_list(&raw.principals, "principals")?;
    let people = super::document::people_groups(&raw.people)
        .map_err(|(field, value, source)| invalid(field, Problem::InvalidId { value, source }))?;
    Ok(AdminsDocument { version, users: raw.users, principals, people, source: source.to_owned() })
}

fn check_version(version: &str) -> Result<FormatVersion, Invalid> {
    if version == "1" {
        Ok(FormatVersion::V1)
    } else {
        Err(invalid("version", Problem::UnsupportedVersion(version.to_owned())))
    }
}

fn parse_id<T: std::str::FromStr<Err = IdError>>(value: &str, field: &str) -> Result<T, Invalid> {
    value.parse().map_err(|source| invalid(field, Problem::InvalidId { value: value.to_owned(), source }))
}

fn duration(value: &str, field: &str, range: Range) -> Result<Duration, Invalid> {
    let parsed = parse_duration(value)
        .map_err(|source| invalid(field, Problem::BadDuration { value: value.to_owned(), source }))?;
    if parsed < range.min || parsed > range.max {
        return Err(invalid(field, Problem::DurationOutOfRange { value: parsed, min: range.min, max: range.max }));
    }
    Ok(parsed)
}

fn optional_duration(value: Option<&str>, field: &str, range: Range) -> Result<Option<Duration>, Invalid> {
    value.map(|v| duration(v, field, range)).transpose()
}

fn build_rule(raw: RawRule, at: &str) -> Result<Rule, Invalid> {
    let name_ok = (1..=128).contains(&raw.name.chars().count()) && !raw.name.chars().any(char::is_control);
    if !name_ok {
        return Err(invalid(format!("{at}.name"), Problem::BadRuleName(raw.name)));
    }
    let effect = raw
        .effect
        .parse::<Effect>()
        .map_err(|()| invalid(format!("{at}.effect"), Problem::UnknownEffect(raw.effect.clone())))?;
    let when = match raw.when {
        Some(conditions) => build_conditions(conditions, &format!("{at}.when"))?,
        None => Conditions::default(),
    };
    let max_duration = optional_duration(raw.max_duration.as_deref(), &format!("{at}.max_duration"), CREDENTIAL)?;
    if let Some(reason) = &raw.reason {
        if reason.chars().count() > 256 || reason.chars().any(char::is_control) {
            return Err(invalid(format!("{at}.reason"), Problem::BadReason));
        }
    }
    Ok(Rule { name: raw.name, effect, when, max_duration, reason: raw.reason })
}

fn build_conditions(raw: RawConditions, at: &str) -> Result<Conditions, Invalid> {
    let users = match raw.users {
        Some(users) => {
            let field = format!("{at}.users");
            if users.is_empty() {
                return Err(invalid(field, Problem::EmptyCondition));
            }
            for (j, user) in users.iter().enumerate() {
                validate_user_name(user).map_err(|e| bad_entry(format!("{field}[{j}]"), user, e))?;
            }
            Some(users)
        }
        None => None,
    };
    let principals = match raw.principals {
        Some(patterns) => {
            let field = format!("{at}.principals");
            if patterns.is_empty() {
                return Err(invalid(field, Problem::EmptyCondition));
            }
            Some(principal_list(&patterns, &field)?)
        }
        None => None,
    };
    let time = raw.time.map(|t| build_time(t, &format!("{at}.time"))).transpose()?;
    Ok(Conditions { users, principals, time })
}

fn build_time(raw: RawTime, at: &str) -> Result<TimeWindow, Invalid> {
    if raw.days.is_empty() {
        return Err(invalid(format!("{at}.days"), Problem::EmptyCondition));
    }
    let mut days = Vec::with_capacity(raw.days.len());
    for (j, day) in raw.days.iter().enumerate() {
        let parsed =
            parse_day(day).ok_or_else(|| invalid(format!("{at}.days[{j}]"), Problem::UnknownDay(day.clone())))?;
        if !days.contains(&parsed) {
            days.push(parsed);
        }
    }
    let time_of_day = |value: &str, field: &str| {
        value
            .parse::<TimeOfDay>()
            .map_err(|()| invalid(format!("{at}.hours.{field}"), Problem::BadTimeOfDay(value.to_owned())))
    };
    let start = time_of_day(&raw.hours.start, "start")?;
    let end = time_of_day(&raw.hours.end, "end")?;
    if start >= end {
        return Err(invalid(format!("{at}.hours"), Problem::EmptyHours { start, end }));
    }
    // Never fall back to UTC: an unknown zone is an error.
    let timezone: Tz = raw
        .timezone
        .parse()
        .map_err(|_| invalid(format!("{at}.timezone"), Problem::UnknownTimeZone(raw.timezone.clone())))?;
    Ok(TimeWindow { days, hours: Hours { start, end }, timezone })
}

fn parse_day(day: &str) -> Option<Weekday> {
    Some(match day {
        "mon" => Weekday::Mon,
        "tue" => Weekday::Tue,
        "wed" => Weekday::Wed,
        "thu" => Weekday::Thu,
        "fri" => Weekday::Fri,
        "sat" => Weekday::Sat,
        "sun" => Weekday::Sun,
        _ => return None,
    })
}

fn build_approvals(raw: RawApprovals) -> Result<ApprovalsConfig, Invalid> {
    let approvers = subject_list(raw.approvers, "approvals.approvers")?;
    if approvers.is_empty() {
        return Err(invalid("approvals.approvers", Problem::EmptyList));
    }
    if raw.required == 0 {
        return Err(invalid("approvals.required", Problem::RequiredZero));
    }
    // A wildcard approver may stand for many principals, so only a fully literal list
    // bounds how many distinct approvers exist.
    let literal_only = !approvers.iter().any(SubjectPattern::is_wildcard);
    if literal_only && raw.required as usize > approvers.len() {
        return Err(invalid(
            "approvals.required",
            Problem::NotEnoughApprovers { required: raw.required, approvers: approvers.len() },
        ));
    }
    let window = duration(&raw.window, "approvals.window", APPROVAL_WINDOW)?;
    Ok(ApprovalsConfig { approvers, required: raw.required, window })
}

fn build_break_glass(raw: RawBreakGlass) -> Result<BreakGlassConfig, Invalid> {
    let users = subject_list(raw.users, "break_glass.users")?;
    if users.is_empty() {
        return Err(invalid("break_glass.users", Problem::EmptyList));
    }
    if raw.reason_codes.is_empty() {
        return Err(invalid("break_glass.reason_codes", Problem::EmptyList));
    }
    let mut reason_codes = Vec::with_capacity(raw.reason_codes.len());
    for (j, code) in raw.reason_codes.iter().enumerate() {
        let parsed = code.parse::<ReasonCode>().map_err(|()| {
            invalid(format!("break_glass.reason_codes[{j}]"), Problem::UnknownReasonCode(code.clone()))
        })?;
        if !reason_codes.contains(&parsed) {
            reason_codes.push(parsed);
        }
    }
    Ok(BreakGlassConfig {
        users,
        reason_codes,
        max_duration: duration(&raw.max_duration, "break_glass.max_duration", BREAK_GLASS)?,
        cooldown: duration(&raw.cooldown, "break_glass.cooldown", COOLDOWN)?,
    })
}

fn bad_entry(field: String, value: &str, source: PatternError) -> Invalid {
    invalid(field, Problem::BadEntry { value: value.to_owned(), source })
}

fn subject_list(entries: Vec<String>, field: &str) -> Result<Vec<SubjectPattern>, Invalid> {
    entries
        .iter()
        .enumerate()
        .map(|(j, entry)| SubjectPattern::parse(entry).map_err(|e| bad_entry(format!("{field}[{j}]"), entry, e)))
        .collect()
}

fn principal_list(entries: &[String], field: &str) -> Result<Vec<PrincipalPattern>, Invalid> {
    entries
        .iter()
        .enumerate()
        .map(|(j, entry)| PrincipalPattern::parse(entry).map_err(|e| bad_entry(format!("{field}[{j}]"), entry, e)))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Errors from serde_yaml: it reports the line, and prefixes its message with the path of
// the mapping or value it was reading.

const SERDE_PHRASES: [&str; 7] = [
    "unknown field `",
    "missing field `",
    "duplicate field `",
    "invalid type: ",
    "invalid value: ",
    "invalid length ",
    "unknown variant `",
];

fn from_yaml_error(source: &str, err: serde_yaml::Error) -> PolicyError {
    let location = err.location();
    let line = location.as_ref().map_or(1, |l| l.line());
    let column = location.as_ref().map(|l| l.column());
    let text = err.to_string();
    // Drop the " at line L column C" that serde_yaml appends (we carry it as numbers).
    let text = match &location {
        Some(l) => text.replacen(&format!(" at line {} column {}", l.line(), l.column()), "", 1),
        None => text,
    };
    let (path, message) = split_path(&text);
    let join = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    let (field, problem) = if let Some(rest) = message.strip_prefix("unknown field `") {
        let (key, tail) = rest.split_once('`').unwrap_or((rest, ""));
        let expected = tail
            .strip_prefix(", expected one of ")
            .or_else(|| tail.strip_prefix(", expected "))
            .map_or_else(|| "no keys here".to_owned(), |list| list.replace('`', ""));
        (join(key), Problem::UnknownKey { expected })
    } else if let Some(rest) = message.strip_prefix("missing field `") {
        (join(rest.trim_end_matches('`')), Problem::MissingKey)
    } else if let Some(rest) = message.strip_prefix("duplicate field `") {
        (join(rest.trim_end_matches('`')), Problem::DuplicateKey)
    } else {
        let field = if path.is_empty() { "document".to_owned() } else { path.to_owned() };
        (field, Problem::Yaml(message.to_owned()))
    };
    if problem == Problem::DuplicateKey {
        // serde reports a duplicate at its mapping; point at the second occurrence instead.
        let (line, column) = locate_occurrence(source, &field, 1);
        return PolicyError { line, column, field, problem };
    }
    PolicyError { line, column, field, problem }
}

/// Splits serde_yaml's `path: message` (the path is absent at the document root).
fn split_path(text: &str) -> (&str, &str) {
    let start = SERDE_PHRASES.iter().filter_map(|p| text.find(p)).min();
    match start {
        Some(i) if i >= 2 && text[..i].ends_with(": ") => (&text[..i - 2], &text[i..]),
        _ => ("", text),
    }
}

fn locate_error(source: &str, err: Invalid) -> PolicyError {
    let (line, column) = locate(source, &err.field);
    PolicyError { line, column, field: err.field, problem: err.problem }
}

// ---------------------------------------------------------------------------------------
// Finding the line of a field: deserialize the source again, walking down the path, and
// fail on purpose at the target; serde_yaml marks the failure with the target's position.

enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

fn path_segments(field: &str) -> Vec<Segment<'_>> {
    let mut segments = Vec::new();
    for part in field.split('.') {
        let (key, indexes) = part.split_once('[').map_or((part, ""), |(k, rest)| (k, rest));
        if !key.is_empty() {
            segments.push(Segment::Key(key));
        }
        for index in indexes.split('[') {
            if let Ok(i) = index.trim_end_matches(']').parse() {
                segments.push(Segment::Index(i));
            }
        }
    }
    segments
}

/// The 1-based line and column of the value at `field` (falling back to its nearest
/// ancestor that exists, then to line 1).
fn locate(source: &str, field: &str) -> (usize, Option<usize>) {
    locate_occurrence(source, field, 0)
}

/// Like [`locate`], for the `skip`-th repetition (0-based) of the field's last key.
fn locate_occurrence(source: &str, field: &str, skip: usize) -> (usize, Option<usize>) {
    let segments = path_segments(field);
    let seed = Locate { path: &segments, skip_last: skip };
    let result = seed.deserialize(serde_yaml::Deserializer::from_str(source));
    match result.err().and_then(|e| e.location()) {
        Some(location) => (location.line(), Some(location.column())),
        None => (1, None),
    }
}

struct Locate<'p> {
    path: &'p [Segment<'p>],
    /// How many earlier repetitions of the last key to pass over.
    skip_last: usize,
}

impl<'de> DeserializeSeed<'de> for Locate<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        let skip = if self.path.len() == 1 { self.skip_last } else { 0 };
        let next = |rest| Locate { path: rest, skip_last: self.skip_last };
        match self.path.split_first() {
            None => deserializer.deserialize_any(Here),
            Some((Segment::Key(key), rest)) => deserializer.deserialize_map(FindKey { key, skip, next: next(rest) }),
            Some((Segment::Index(index), rest)) => {
                deserializer.deserialize_seq(FindIndex { index: *index, next: next(rest) })
            }
        }
    }
}

/// Refuses whatever it is given, so the error is marked with the value's position.
struct Here;

impl<'de> Visitor<'de> for Here {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("nothing (this visitor marks a position)")
    }
}

struct FindKey<'p> {
    key: &'p str,
    skip: usize,
    next: Locate<'p>,
}

impl<'de> Visitor<'de> for FindKey<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut skip = self.skip;
        while let Some(key) = map.next_key::<serde_yaml::Value>()? {
            if key.as_str() == Some(self.key) {
                if skip == 0 {
                    return map.next_value_seed(self.next);
                }
                skip -= 1;
            }
            map.next_value::<IgnoredAny>()?;
        }
        // Not there: the error lands on this mapping, the nearest ancestor.
        Err(de::Error::custom("key not found"))
    }
}

struct FindIndex<'p> {
    index: usize,
    next: Locate<'p>,
}

impl<'de> Visitor<'de> for FindIndex<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a sequence")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        for _ in 0..self.index {
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Err(de::Error::custom("index not found"));
            }
        }
        match seq.next_element_seed(self.next)? {
            Some(()) => Err(de::Error::custom("value not marked")),
            None => Err(de::Error::custom("index not found")),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use sha2::{Digest, Sha256};

    use super::*;
    use crate::policy::{Request, Subject};

    const DEV: &str = include_str!("testdata/dev.yaml");
    const PROD: &str = include_str!("testdata/prod.yaml");

    /// A valid policy whose line numbers the tests below rely on.
    const BASE: &str = r#"version: "1"
profile: dev
role_arn: arn:aws:iam::000000000000:role/SentinelProtected-Dev
max_duration: 1h
rules:
  - name: team
    effect: allow
    when:
      users: [alice]
      time:
        days: [mon, tue]
        hours: {start: "08:00", end: "18:00"}
        timezone: Europe/Berlin
    max_duration: 30m
approvals: {approvers: [carol], required: 1, window: 4h}
"#;

    fn with(from: &str, to: &str) -> String {
        assert!(BASE.contains(from), "{from:?} not in BASE");
        BASE.replacen(from, to, 1)
    }

    fn error(yaml: &str) -> PolicyError {
        match PolicyDocument::parse(yaml, None) {
            Ok(_) => panic!("parsed but should not have:\n{yaml}"),
            Err(e) => e,
        }
    }

    fn user(name: &str) -> Subject {
        Subject {
            principal: format!("arn:aws:iam::000000000000:user/{name}").parse().unwrap(),
            policy_user: Some(name.to_owned()),
        }
    }

    #[test]
    fn the_base_policy_is_valid() {
        let p = PolicyDocument::parse(BASE, Some(&"dev".parse().unwrap())).unwrap();
        assert_eq!(p.rules[0].max_duration, Some(Duration::from_secs(1800)));
        assert_eq!(p.max_session, DEFAULT_MAX_SESSION);
        let window = p.rules[0].when.time.as_ref().unwrap();
        assert_eq!(window.timezone, chrono_tz::Europe::Berlin);
        assert_eq!(window.days, vec![Weekday::Mon, Weekday::Tue]);
    }

    #[test]
    fn dev_fixture_allows_the_team_and_nobody_else() {
        let p = PolicyDocument::parse(DEV, Some(&"dev".parse().unwrap())).unwrap();
        assert_eq!(p.role_arn.as_str(), "arn:aws:iam::000000000000:role/SentinelProtected-Dev");
        let now = Utc.with_ymd_and_hms(2024, 5, 1, 3, 0, 0).unwrap();
        let dana = Subject {
            principal: "arn:aws:sts::000000000000:assumed-role/AWSReservedSSO_Dev_0123/dana@example.com"
                .parse()
                .unwrap(),
            policy_user: Some("dana@example.com".into()),
        };
        let imposter = Subject {
            principal: "arn:aws:sts::000000000000:assumed-role/Ordinary/alice".parse().unwrap(),
            policy_user: None,
        };
        let effect = |s: &Subject| p.evaluate(&Request { caller: s, now, requested: None }).effect;
        assert_eq!(effect(&user("alice")), Effect::Allow);
        assert_eq!(effect(&user("bob")), Effect::Allow);
        assert_eq!(effect(&dana), Effect::Allow);
        assert_eq!(effect(&user("mallory")), Effect::Deny);
        assert_eq!(effect(&imposter), Effect::Deny);
        assert!(p.lint().is_empty());
    }

    #[test]
    fn prod_fixture_requires_approval_and_configures_break_glass() {
        let p = PolicyDocument::parse(PROD, Some(&"prod".parse().unwrap())).unwrap();
        let now = Utc.with_ymd_and_hms(2024, 5, 1, 3, 0, 0).unwrap();
        let effect = |s: &Subject| p.evaluate(&Request { caller: s, now, requested: None }).effect;
        assert_eq!(effect(&user("alice")), Effect::RequireApproval);
        assert_eq!(effect(&user("bob")), Effect::RequireApproval);
        // Approving and breaking glass are not the same as being allowed.
        assert_eq!(effect(&user("carol")), Effect::Deny);
        assert_eq!(effect(&user("oncall")), Effect::Deny);
        let approvals = p.approvals.as_ref().unwrap();
        assert!(approvals.is_approver(&user("carol")));
        assert!(!approvals.is_approver(&user("alice")));
        assert_eq!((approvals.required, approvals.window), (1, Duration::from_secs(4 * 3600)));
        let bg = p.break_glass.as_ref().unwrap();
        assert!(bg.allows(&user("oncall")));
        assert!(!bg.allows(&user("alice")));
        assert_eq!(bg.reason_codes, vec![ReasonCode::Incident, ReasonCode::Security]);
        assert_eq!((bg.max_duration, bg.cooldown), (Duration::from_secs(3600), Duration::from_secs(1800)));
        assert!(p.is_revoker(&user("secops")));
        assert!(!p.is_revoker(&user("carol")));
    }

    #[test]
    fn hash_is_the_sha256_of_the_exact_text() {
        let p = PolicyDocument::parse(PROD, None).unwrap();
        assert_eq!(p.hash(), hex::encode(Sha256::digest(PROD.as_bytes())));
        assert_eq!(p.source(), PROD);
        let reformatted = PolicyDocument::parse(&format!("{PROD}\n# comment\n"), None).unwrap();
        assert_ne!(reformatted.hash(), p.hash());
    }

    #[test]
    fn unknown_effect_names_line_column_and_field() {
        let e = error(&with("effect: allow", "effect: alow"));
        assert_eq!(
            e.to_string(),
            "line 7, column 13: rules[0].effect: unknown effect \"alow\" (expected allow, deny or require_approval)"
        );
        assert_eq!(e.problem, Problem::UnknownEffect("alow".into()));
        for near_miss in ["Allow", "ALLOW", "denied", "require-approval", "\"\""] {
            let e = error(&with("effect: allow", &format!("effect: {near_miss}")));
            assert_eq!((e.line, e.field.as_str()), (7, "rules[0].effect"), "{near_miss}");
        }
    }

    #[test]
    fn unknown_keys_are_errors_at_every_level() {
        let e = error(&with("max_duration: 1h\n", "max_duration: 1h\nmax_durations: 2h\n"));
        assert_eq!((e.line, e.field.as_str()), (5, "max_durations"));
        assert!(matches!(e.problem, Problem::UnknownKey { .. }), "{e}");
        assert!(e.to_string().contains("rules"), "{e}");

        let e = error(&with("    effect: allow\n", "    effect: allow\n    conditions: {}\n"));
        assert_eq!((e.line, e.field.as_str()), (8, "rules[0].conditions"), "{e}");

        let e = error(&with("      users: [alice]\n", "      users: [alice]\n      profiles: [dev]\n"));
        assert_eq!((e.line, e.field.as_str()), (10, "rules[0].when.profiles"), "{e}");

        let e = error(&with("timezone: Europe/Berlin", "timezone: Europe/Berlin\n        tz: UTC"));
        assert_eq!((e.line, e.field.as_str()), (14, "rules[0].when.time.tz"), "{e}");

        let e = error(&with("window: 4h}", "window: 4h, quorum: 2}"));
        assert_eq!((e.line, e.field.as_str()), (15, "approvals.quorum"), "{e}");
    }

    #[test]
    fn missing_and_duplicate_keys_are_errors() {
        let e = error(&with("    effect: allow\n", ""));
        assert_eq!((e.line, e.field.as_str(), e.problem.clone()), (6, "rules[0].effect", Problem::MissingKey));
        let e = error(&with("profile: dev\n", "profile: dev\nprofile: prod\n"));
        assert_eq!((e.line, e.field.as_str(), e.problem.clone()), (3, "profile", Problem::DuplicateKey));
    }

    #[test]
    fn durations_accept_seconds_and_units() {
        for (text, secs) in [("900", 900), ("900s", 900), ("15m", 900), ("1h", 3600), ("45m", 2700), ("1h0m", 3600)] {
            let p = PolicyDocument::parse(&with("max_duration: 30m", &format!("max_duration: {text}")), None).unwrap();
            assert_eq!(p.rules[0].max_duration, Some(Duration::from_secs(secs)), "{text}");
        }
        let p = PolicyDocument::parse(&with("max_duration: 1h\n", "max_session: 1h30m\n"), None).unwrap();
        assert_eq!((p.max_duration, p.max_session), (MAX_CREDENTIAL_DURATION, Duration::from_secs(5400)));
    }

    #[test]
    fn bad_durations_are_errors_with_their_line() {
        for (text, problem) in [
            ("0", "bad duration \"0\": a duration must be longer than zero"),
            ("-900", "bad duration \"-900\": a duration cannot be negative"),
            ("1.5h", "bad duration \"1.5h\": fractions are not allowed (write 90m rather than 1.5h)"),
            ("0.5", "bad duration \"0.5\": fractions"),
            ("soon", "bad duration \"soon\": expected whole seconds"),
            ("15 m", "bad duration \"15 m\": expected whole seconds"),
            ("2h", "2h is out of range (expected 15m to 1h)"),
            ("3601", "1h1s is out of range (expected 15m to 1h)"),
            ("899", "14m59s is out of range (expected 15m to 1h)"),
        ] {
            let e = error(&with("max_duration: 30m", &format!("max_duration: {text}")));
            assert_eq!((e.line, e.field.as_str()), (14, "rules[0].max_duration"), "{text}: {e}");
            assert!(e.to_string().contains(problem), "{e}");
            let e = error(&with("max_duration: 1h", &format!("max_duration: {text}")));
            assert_eq!((e.line, e.field.as_str()), (4, "max_duration"), "{text}: {e}");
        }
        let e = error(&with("window: 4h", "window: 4d"));
        assert_eq!((e.line, e.field.as_str()), (15, "approvals.window"));
        let e = error(&with("max_duration: 1h\n", "max_session: 13h\n"));
        assert_eq!((e.line, e.field.as_str()), (4, "max_session"));
    }

    #[test]
    fn unknown_time_zones_are_errors_never_utc() {
        for zone in ["Mars/Olympus", "europe/berlin", "Berlin", "UTC+2", "\"\""] {
            let e = error(&with("timezone: Europe/Berlin", &format!("timezone: {zone}")));
            assert_eq!((e.line, e.column, e.field.as_str()), (13, Some(19), "rules[0].when.time.timezone"), "{zone}");
            assert!(matches!(e.problem, Problem::UnknownTimeZone(_)), "{e}");
        }
        let e = error(&with("        timezone: Europe/Berlin\n", ""));
        assert_eq!((e.field.as_str(), e.problem.clone()), ("rules[0].when.time.timezone", Problem::MissingKey));
        assert!(PolicyDocument::parse(&with("timezone: Europe/Berlin", "timezone: America/Los_Angeles"), None).is_ok());
    }

    #[test]
    fn bad_hours_are_errors() {
        for (hours, field) in [
            ("{start: \"8:00\", end: \"18:00\"}", "rules[0].when.time.hours.start"),
            ("{start: \"08:00\", end: \"25:00\"}", "rules[0].when.time.hours.end"),
            ("{start: \"08:00\", end: \"18:60\"}", "rules[0].when.time.hours.end"),
            ("{start: \"08:00\", end: 6pm}", "rules[0].when.time.hours.end"),
            ("{start: \"18:00\", end: \"08:00\"}", "rules[0].when.time.hours"),
            ("{start: \"08:00\", end: \"08:00\"}", "rules[0].when.time.hours"),
            ("{start: \"24:00\", end: \"24:00\"}", "rules[0].when.time.hours"),
        ] {
            let e = error(&with("{start: \"08:00\", end: \"18:00\"}", hours));
            assert_eq!((e.line, e.field.as_str()), (12, field), "{hours}: {e}");
        }
        let p = PolicyDocument::parse(&with("end: \"18:00\"", "end: \"24:00\""), None).unwrap();
        assert_eq!(p.rules[0].when.time.as_ref().unwrap().hours.end, TimeOfDay::END_OF_DAY);
    }

    #[test]
    fn bad_day_names_are_errors() {
        for day in ["monday", "Mon", "MON", "mo", "1"] {
            let e = error(&with("days: [mon, tue]", &format!("days: [mon, {day}]")));
            assert_eq!((e.line, e.field.as_str()), (11, "rules[0].when.time.days[1]"), "{day}");
            assert_eq!(e.problem, Problem::UnknownDay(day.into()));
        }
        let e = error(&with("days: [mon, tue]", "days: []"));
        assert_eq!((e.line, e.field.as_str()), (11, "rules[0].when.time.days"));
    }

    #[test]
    fn version_must_be_1() {
        let e = error(&with("version: \"1\"", "version: \"2\""));
        assert_eq!((e.line, e.field.as_str()), (1, "version"));
        assert_eq!(e.problem, Problem::UnsupportedVersion("2".into()));
        let e = error(&with("version: \"1\"\n", ""));
        assert_eq!((e.field.as_str(), e.problem), ("version", Problem::MissingKey));
    }

    #[test]
    fn profile_must_match_the_parameter_it_was_loaded_from() {
        let e = PolicyDocument::parse(BASE, Some(&"prod".parse().unwrap())).unwrap_err();
        assert_eq!((e.line, e.column, e.field.as_str()), (2, Some(10), "profile"));
        assert!(matches!(e.problem, Problem::ProfileMismatch { .. }));
        let e = error(&with("profile: dev", "profile: ../prod"));
        assert_eq!((e.line, e.field.as_str()), (2, "profile"));
        assert!(matches!(e.problem, Problem::InvalidId { source: IdError::BadProfile, .. }));
    }

    #[test]
    fn role_arn_must_be_a_role() {
        let e = error(&with("role/SentinelProtected-Dev", "user/SentinelProtected-Dev"));
        assert_eq!((e.line, e.field.as_str()), (3, "role_arn"));
    }

    #[test]
    fn rule_names_are_unique() {
        let yaml = with("approvals:", "  - name: team\n    effect: deny\napprovals:");
        let e = error(&yaml);
        assert_eq!((e.line, e.column, e.field.as_str()), (15, Some(11), "rules[1].name"));
        assert_eq!(e.problem, Problem::DuplicateRuleName("team".into()));
    }

    #[test]
    fn a_policy_needs_rules() {
        let no_rules =
            "version: \"1\"\nprofile: dev\nrole_arn: arn:aws:iam::000000000000:role/SentinelProtected-Dev\nrules: []\n";
        let e = error(no_rules);
        assert_eq!((e.line, e.field.as_str(), e.problem), (4, "rules", Problem::NoRules));
        let e = error(&no_rules.replace("rules: []\n", ""));
        assert_eq!((e.line, e.field.as_str(), e.problem), (1, "rules", Problem::MissingKey));
    }

    #[test]
    fn approvals_must_be_satisfiable() {
        let e = error(&with("required: 1", "required: 2"));
        assert_eq!((e.line, e.field.as_str()), (15, "approvals.required"));
        assert_eq!(e.problem, Problem::NotEnoughApprovers { required: 2, approvers: 1 });
        let e = error(&with("required: 1", "required: 0"));
        assert_eq!((e.field.as_str(), e.problem), ("approvals.required", Problem::RequiredZero));
        let e = error(&with("required: 1", "required: -1"));
        assert_eq!((e.line, e.field.as_str()), (15, "approvals.required"), "{e}");
        let e = error(&with("approvers: [carol]", "approvers: []"));
        assert_eq!((e.field.as_str(), e.problem), ("approvals.approvers", Problem::EmptyList));
        // A wildcard approver may be many principals.
        let ok = with(
            "approvers: [carol], required: 1",
            "approvers: [\"arn:aws:sts::1:assumed-role/Approver/*\"], required: 2",
        );
        assert!(PolicyDocument::parse(&ok, None).is_ok());
    }

    #[test]
    fn require_approval_needs_an_approvals_section() {
        let yaml = with("effect: allow", "effect: require_approval");
        assert!(PolicyDocument::parse(&yaml, None).is_ok());
        let without = yaml.replace("approvals: {approvers: [carol], required: 1, window: 4h}\n", "");
        let e = error(&without);
        assert_eq!((e.line, e.field.as_str()), (7, "rules[0].effect"));
        assert_eq!(e.problem, Problem::ApprovalsMissing("team".into()));
    }

    #[test]
    fn empty_condition_lists_are_errors_not_match_nobody() {
        let e = error(&with("users: [alice]", "users: []"));
        assert_eq!((e.line, e.field.as_str(), e.problem), (9, "rules[0].when.users", Problem::EmptyCondition));
        let e = error(&with("users: [alice]", "principals: []"));
        assert_eq!((e.line, e.field.as_str()), (9, "rules[0].when.principals"));
    }

    #[test]
    fn user_and_principal_entries_are_validated() {
        let e = error(&with("users: [alice]", "users: [alice, \"arn:aws:iam::1:user/bob\"]"));
        assert_eq!((e.line, e.field.as_str()), (9, "rules[0].when.users[1]"));
        assert!(matches!(e.problem, Problem::BadEntry { source: PatternError::ArnInUsers, .. }));
        let e = error(&with("users: [alice]", "users: [\"ali ce\"]"));
        assert_eq!(e.field, "rules[0].when.users[0]");
        let e = error(&with("users: [alice]", "principals: [\"*\"]"));
        assert_eq!((e.line, e.field.as_str()), (9, "rules[0].when.principals[0]"));
        let e = error(&with("approvers: [carol]", "approvers: [\"carol smith\"]"));
        assert_eq!((e.line, e.field.as_str()), (15, "approvals.approvers[0]"));
    }

    #[test]
    fn break_glass_is_validated() {
        let bg =
            "break_glass: {users: [oncall], reason_codes: [incident, security], max_duration: 1h, cooldown: 30m}\n";
        assert!(PolicyDocument::parse(&format!("{BASE}{bg}"), None).is_ok());
        let e = error(&format!("{BASE}{}", bg.replace("security", "boredom")));
        assert_eq!((e.line, e.field.as_str()), (16, "break_glass.reason_codes[1]"));
        assert_eq!(e.problem, Problem::UnknownReasonCode("boredom".into()));
        let e = error(&format!("{BASE}{}", bg.replace("max_duration: 1h", "max_duration: 5h")));
        assert_eq!(e.field, "break_glass.max_duration");
        let e = error(&format!("{BASE}{}", bg.replace("cooldown: 30m", "cooldown: 0")));
        assert_eq!(e.field, "break_glass.cooldown");
        let e = error(&format!("{BASE}{}", bg.replace("users: [oncall]", "users: []")));
        assert_eq!((e.field.as_str(), e.problem), ("break_glass.users", Problem::EmptyList));
    }

    #[test]
    fn yaml_syntax_errors_carry_the_line() {
        let e = error(&with("    effect: allow\n", "    effect: allow\n   broken: [\n"));
        assert!(e.line >= 8, "{e}");
        assert_eq!(e.field, "document");
        let e = error("");
        assert_eq!((e.line, e.problem), (1, Problem::EmptyDocument));
        let e = error("- just\n- a list\n");
        assert_eq!((e.line, e.field.as_str()), (1, "document"), "{e}");
        let e = error(&with("users: [alice]", "users: alice"));
        assert_eq!((e.line, e.field.as_str()), (9, "rules[0].when.users"), "{e}");
    }

    #[test]
    fn the_wrong_kind_of_value_is_an_error_with_its_path() {
        let e = error(&with("      time:\n", "      time: always\n"));
        assert_eq!((e.line, e.field.as_str()), (10, "rules[0].when.time"), "{e}");
    }

    #[test]
    fn admins_document_is_parsed_strictly() {
        let admins = AdminsDocument::parse(
            "version: \"1\"\nusers: [secops]\nprincipals: [\"arn:aws:sts::000000000000:assumed-role/Admin/*\"]\n",
        )
        .unwrap();
        assert!(admins.is_admin(&user("secops")));
        assert!(!admins.is_admin(&user("Secops")));
        let role = Subject {
            principal: "arn:aws:sts::000000000000:assumed-role/Admin/someone".parse().unwrap(),
            policy_user: None,
        };
        assert!(admins.is_admin(&role));
        let by_session_name = Subject {
            principal: "arn:aws:sts::000000000000:assumed-role/Other/secops".parse().unwrap(),
            policy_user: None,
        };
        assert!(!admins.is_admin(&by_session_name));
        let e = AdminsDocument::parse("version: \"1\"\nusers: [secops]\nadmins: [x]\n").unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (3, "admins"));
        let e = AdminsDocument::parse("version: \"1\"\nusers: [secops, \"a b\"]\n").unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (2, "users[1]"));
    }

    #[test]
    fn locating_points_at_values_in_block_and_flow_style() {
        assert_eq!(locate(BASE, "rules[0].when.time.hours.end"), (12, Some(38)));
        assert_eq!(locate(BASE, "rules[0].when.users[0]"), (9, Some(15)));
        assert_eq!(locate(BASE, "approvals.window"), (15, Some(54)));
        // A missing field falls back to its nearest ancestor.
        assert_eq!(locate(BASE, "approvals.nope").0, 15);
        assert_eq!(locate(BASE, "rules[5]").0, 6);
    }
}
