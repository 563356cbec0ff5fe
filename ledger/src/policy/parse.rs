//! Strict parsing of policy and admins YAML: serde checks the shape (unknown keys are
//! errors), then every value is validated into the typed documents. Each error carries the
//! line (and column) of the offending value and its field path: shape errors take both from
//! the YAML parser (`serde-saphyr`) and `serde_path_to_error`, validation errors from the
//! location each value was read at.

use std::collections::HashSet;
use std::time::Duration;

use chrono::Weekday;
use chrono_tz::Tz;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_path_to_error::{Path, Segment};
use serde_saphyr::{
    DuplicateKeyPolicy, Error as YamlError, ExternalMessageSource, Location, MergeKeyPolicy, MessageFormatter, Spanned,
    UserMessageFormatter,
};

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
// The shape, as serde sees it. Scalars stay strings so that every value is validated below
// with a precise error; each value the validation may refuse is `Spanned`, so it carries
// the line and column it was read from.
//
// Required keys are `Required`, so that a missing one is reported by the validation at the
// mapping that lacks it (serde-saphyr would point at the mapping's last key instead).
//
// No key of the format may be called `value`: `Spanned` adds a `value` step to the paths
// that `serde_path_to_error` reports, and `field_path` drops those steps.

/// A key the format requires. serde treats it as optional (`#[serde(default)]`); a present
/// key is read as `T`, so an empty value is still a type error at the value.
#[derive(Default)]
enum Required<T> {
    #[default]
    Missing,
    Given(T),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Required<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(Required::Given)
    }
}

impl<T> Required<T> {
    /// The value, or a missing-key error at `mapping`, the start of the mapping at `parent`.
    fn take(self, parent: &str, key: &str, mapping: Location) -> Result<T, Invalid> {
        match self {
            Required::Given(value) => Ok(value),
            Required::Missing => Err(invalid(join(parent, key), mapping, Problem::MissingKey)),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default)]
    version: Required<Spanned<String>>,
    #[serde(default)]
    profile: Required<Spanned<String>>,
    #[serde(default)]
    role_arn: Required<Spanned<String>>,
    #[serde(default)]
    max_duration: Option<Spanned<String>>,
    #[serde(default)]
    max_session: Option<Spanned<String>>,
    #[serde(default)]
    rules: Required<Spanned<Vec<Spanned<RawRule>>>>,
    #[serde(default)]
    approvals: Option<Spanned<RawApprovals>>,
    #[serde(default)]
    break_glass: Option<Spanned<RawBreakGlass>>,
    #[serde(default)]
    revokers: Option<Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(default)]
    name: Required<Spanned<String>>,
    #[serde(default)]
    effect: Required<Spanned<String>>,
    #[serde(default)]
    when: Option<RawConditions>,
    #[serde(default)]
    max_duration: Option<Spanned<String>>,
    #[serde(default)]
    reason: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConditions {
    #[serde(default)]
    users: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    principals: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    time: Option<Spanned<RawTime>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTime {
    #[serde(default)]
    days: Required<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    hours: Required<Spanned<RawHours>>,
    #[serde(default)]
    timezone: Required<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHours {
    #[serde(default)]
    start: Required<Spanned<String>>,
    #[serde(default)]
    end: Required<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApprovals {
    #[serde(default)]
    approvers: Required<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    required: Required<Spanned<u32>>,
    #[serde(default)]
    window: Required<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBreakGlass {
    #[serde(default)]
    users: Required<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    reason_codes: Required<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    max_duration: Required<Spanned<String>>,
    #[serde(default)]
    cooldown: Required<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAdmins {
    #[serde(default)]
    version: Required<Spanned<String>>,
    #[serde(default)]
    users: Vec<Spanned<String>>,
    #[serde(default)]
    principals: Vec<Spanned<String>>,
    #[serde(default)]
    people: Vec<Vec<String>>,
}

// ---------------------------------------------------------------------------------------
// Reading the shape.

/// How policy YAML is read: duplicate keys are errors, and `<<` is an ordinary key (so an
/// unknown one) rather than a merge.
fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        duplicate_keys: DuplicateKeyPolicy::Error,
        merge_keys: MergeKeyPolicy::AsOrdinary,
        with_snippet: false,
    }
}

/// Deserializes `yaml` into a raw shape, tracking the field path for the error.
fn read<T: DeserializeOwned>(yaml: &str) -> Result<T, PolicyError> {
    reject_empty(yaml)?;
    let mut path = None;
    serde_saphyr::with_deserializer_from_str_with_options(yaml, options(), |deserializer| {
        serde_path_to_error::deserialize(deserializer).map_err(|e| {
            path = Some(e.path().clone());
            e.into_inner()
        })
    })
    .map_err(|e| shape_error(&e, path.as_ref()))
}

/// An empty text (or only comments) would otherwise read as a mapping missing every key.
fn reject_empty(yaml: &str) -> Result<(), PolicyError> {
    let blank = yaml.lines().map(str::trim).all(|line| line.is_empty() || line.starts_with('#') || line == "---");
    if blank {
        return Err(PolicyError { line: 1, column: None, field: DOCUMENT.to_owned(), problem: Problem::EmptyDocument });
    }
    Ok(())
}

/// The field of errors that belong to no one field.
const DOCUMENT: &str = "document";

/// The key `Spanned` reads its value under.
const SPANNED_VALUE: &str = "value";

/// Turns the parser's error, and the path `serde_path_to_error` tracked to it, into ours.
fn shape_error(err: &YamlError, path: Option<&Path>) -> PolicyError {
    let err = err.without_snippet();
    let (line, column) = position(err.location().unwrap_or(Location::UNKNOWN));
    let at = |field: String| if field.is_empty() { DOCUMENT.to_owned() } else { field };
    let (field, problem) = match err {
        // The path ends at the unknown key itself.
        YamlError::SerdeUnknownField { expected, .. } => {
            let expected = if expected.is_empty() { "no keys here".to_owned() } else { expected.join(", ") };
            (at(field_path(path, true)), Problem::UnknownKey { expected })
        }
        // The path ends at the mapping that lacks the key (our own keys are `Required`, so
        // this is only a fallback).
        YamlError::SerdeMissingField { field, .. } => (join(&field_path(path, false), field), Problem::MissingKey),
        // Found while reading the key, before the path could record it: the path ends at
        // the mapping.
        YamlError::DuplicateMappingKey { key: Some(key), .. } => {
            (join(&field_path(path, false), key), Problem::DuplicateKey)
        }
        YamlError::DuplicateMappingKey { key: None, .. } => (at(field_path(path, false)), Problem::DuplicateKey),
        _ if is_syntax(err) => (DOCUMENT.to_owned(), Problem::Yaml(message(err))),
        _ => (at(field_path(path, false)), Problem::Yaml(message(err))),
    };
    PolicyError { line, column, field, problem }
}

/// Whether the text is not YAML at all (rather than YAML of the wrong shape).
fn is_syntax(err: &YamlError) -> bool {
    match err {
        YamlError::ExternalMessage { source, .. } => matches!(**source, ExternalMessageSource::Parser(_)),
        YamlError::Eof { .. } | YamlError::MultipleDocuments { .. } | YamlError::InvalidUtf8Input => true,
        _ => false,
    }
}

/// The parser's wording of what is wrong, without its location and with no control
/// characters (the text may quote the document).
fn message(err: &YamlError) -> String {
    let text = UserMessageFormatter.format_message(err);
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// `rules[0].when.users` from the tracked path, without the steps `Spanned` adds; with
/// `keep_last`, a last step named `value` is a key of the document (an unknown one).
fn field_path(path: Option<&Path>, keep_last: bool) -> String {
    let Some(path) = path else { return String::new() };
    let last = path.iter().len().saturating_sub(1);
    let mut field = String::new();
    for (i, segment) in path.iter().enumerate() {
        match segment {
            Segment::Seq { index } => field.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if key == SPANNED_VALUE && !(keep_last && i == last) {
                    continue;
                }
                field = join(&field, key);
            }
            Segment::Unknown => {}
        }
    }
    field
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// 1-based line and column; line 1 and no column when the parser could not say.
fn position(location: Location) -> (usize, Option<usize>) {
    if location == Location::UNKNOWN || location.line() == 0 {
        return (1, None);
    }
    let line = usize::try_from(location.line()).unwrap_or(usize::MAX);
    let column = usize::try_from(location.column()).ok().filter(|&c| c > 0);
    (line, column)
}

// ---------------------------------------------------------------------------------------
// Validation.

/// A validation failure at a place in the document.
struct Invalid {
    field: String,
    at: Location,
    problem: Problem,
}

impl From<Invalid> for PolicyError {
    fn from(err: Invalid) -> PolicyError {
        let (line, column) = position(err.at);
        PolicyError { line, column, field: err.field, problem: err.problem }
    }
}

fn invalid(field: impl Into<String>, at: Location, problem: Problem) -> Invalid {
    Invalid { field: field.into(), at, problem }
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
        let raw: Spanned<RawPolicy> = read(yaml)?;
        Ok(build_policy(raw, expected_profile, yaml)?)
    }
}

impl AdminsDocument {
    /// Parses and validates the `/sentinel/admins` parameter
    /// (`{version: "1", users: [...], principals: [...]}`).
    pub fn parse(yaml: &str) -> Result<AdminsDocument, PolicyError> {
        let raw: Spanned<RawAdmins> = read(yaml)?;
        Ok(build_admins(raw, yaml)?)
    }
}

fn build_policy(raw: Spanned<RawPolicy>, expected: Option<&Profile>, source: &str) -> Result<PolicyDocument, Invalid> {
    let Spanned { value: raw, referenced: mapping, .. } = raw;
    let version = raw.version.take("", "version", mapping)?;
    let profile_value = raw.profile.take("", "profile", mapping)?;
    let role_arn = raw.role_arn.take("", "role_arn", mapping)?;
    let raw_rules = raw.rules.take("", "rules", mapping)?;

    let version = check_version(&version)?;
    let profile: Profile = parse_id(&profile_value, "profile")?;
    if let Some(expected) = expected {
        if &profile != expected {
            let problem = Problem::ProfileMismatch { expected: expected.clone(), found: profile };
            return Err(invalid("profile", profile_value.referenced, problem));
        }
    }
    let role_arn_at = role_arn.referenced;
    let role_arn_text = role_arn.value.clone();
    let role_arn: RoleArn = parse_id(&role_arn, "role_arn")?;
    role_arn
        .require_protected()
        .map_err(|source| invalid("role_arn", role_arn_at, Problem::InvalidId { value: role_arn_text, source }))?;
    let max_duration =
        optional_duration(raw.max_duration.as_ref(), "max_duration", CREDENTIAL)?.unwrap_or(MAX_CREDENTIAL_DURATION);
    let max_session =
        optional_duration(raw.max_session.as_ref(), "max_session", SESSION)?.unwrap_or(DEFAULT_MAX_SESSION);

    if raw_rules.value.is_empty() {
        return Err(invalid("rules", raw_rules.referenced, Problem::NoRules));
    }
    let mut names = HashSet::new();
    let mut rules = Vec::with_capacity(raw_rules.value.len());
    // The first rule that needs an approvals section: its index and where its effect is.
    let mut needs_approvals = None;
    for (i, raw_rule) in raw_rules.value.into_iter().enumerate() {
        let at = format!("rules[{i}]");
        let (rule, name_at, effect_at) = build_rule(raw_rule, &at)?;
        if !names.insert(rule.name.clone()) {
            return Err(invalid(format!("{at}.name"), name_at, Problem::DuplicateRuleName(rule.name)));
        }
        if rule.effect == Effect::RequireApproval && needs_approvals.is_none() {
            needs_approvals = Some((i, effect_at));
        }
        rules.push(rule);
    }

    let approvals = raw.approvals.map(build_approvals).transpose()?;
    if let (None, Some((i, effect_at))) = (&approvals, needs_approvals) {
        let problem = Problem::ApprovalsMissing(rules[i].name.clone());
        return Err(invalid(format!("rules[{i}].effect"), effect_at, problem));
    }
    let break_glass = raw.break_glass.map(build_break_glass).transpose()?;
    let revokers = subject_list(raw.revokers.as_deref().unwrap_or_default(), "revokers")?;

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

fn build_admins(raw: Spanned<RawAdmins>, source: &str) -> Result<AdminsDocument, Invalid> {
    let Spanned { value: raw, referenced: mapping, .. } = raw;
    let version = check_version(&raw.version.take("", "version", mapping)?)?;
    let users = user_list(raw.users, "users")?;
    let principals = principal_list(&raw.principals, "principals")?;
    let people = super::document::people_groups(&raw.people)
        .map_err(|(field, value, source)| invalid(field, mapping, Problem::InvalidId { value, source }))?;
    Ok(AdminsDocument { version, users, principals, people, source: source.to_owned() })
}

fn check_version(version: &Spanned<String>) -> Result<FormatVersion, Invalid> {
    if version.value == "1" {
        Ok(FormatVersion::V1)
    } else {
        Err(invalid("version", version.referenced, Problem::UnsupportedVersion(version.value.clone())))
    }
}

fn parse_id<T: std::str::FromStr<Err = IdError>>(value: &Spanned<String>, field: &str) -> Result<T, Invalid> {
    value
        .value
        .parse()
        .map_err(|source| invalid(field, value.referenced, Problem::InvalidId { value: value.value.clone(), source }))
}

fn duration(value: &Spanned<String>, field: &str, range: Range) -> Result<Duration, Invalid> {
    let at = value.referenced;
    let parsed = parse_duration(&value.value)
        .map_err(|source| invalid(field, at, Problem::BadDuration { value: value.value.clone(), source }))?;
    if parsed < range.min || parsed > range.max {
        return Err(invalid(field, at, Problem::DurationOutOfRange { value: parsed, min: range.min, max: range.max }));
    }
    Ok(parsed)
}

fn optional_duration(value: Option<&Spanned<String>>, field: &str, range: Range) -> Result<Option<Duration>, Invalid> {
    value.map(|v| duration(v, field, range)).transpose()
}

/// The rule, with where its name and its effect are.
fn build_rule(raw: Spanned<RawRule>, at: &str) -> Result<(Rule, Location, Location), Invalid> {
    let Spanned { value: raw, referenced: mapping, .. } = raw;
    let Spanned { value: name, referenced: name_at, .. } = raw.name.take(at, "name", mapping)?;
    let effect = raw.effect.take(at, "effect", mapping)?;
    let name_ok = (1..=128).contains(&name.chars().count()) && !name.chars().any(char::is_control);
    if !name_ok {
        return Err(invalid(format!("{at}.name"), name_at, Problem::BadRuleName(name)));
    }
    let effect_at = effect.referenced;
    let effect = effect
        .value
        .parse::<Effect>()
        .map_err(|()| invalid(format!("{at}.effect"), effect_at, Problem::UnknownEffect(effect.value.clone())))?;
    let when = match raw.when {
        Some(conditions) => build_conditions(conditions, &format!("{at}.when"))?,
        None => Conditions::default(),
    };
    let max_duration = optional_duration(raw.max_duration.as_ref(), &format!("{at}.max_duration"), CREDENTIAL)?;
    let reason = match raw.reason {
        Some(reason) if reason.value.chars().count() > 256 || reason.value.chars().any(char::is_control) => {
            return Err(invalid(format!("{at}.reason"), reason.referenced, Problem::BadReason));
        }
        Some(reason) => Some(reason.value),
        None => None,
    };
    Ok((Rule { name, effect, when, max_duration, reason }, name_at, effect_at))
}

fn build_conditions(raw: RawConditions, at: &str) -> Result<Conditions, Invalid> {
    let users = match raw.users {
        Some(users) => {
            let field = format!("{at}.users");
            if users.value.is_empty() {
                return Err(invalid(field, users.referenced, Problem::EmptyCondition));
            }
            Some(user_list(users.value, &field)?)
        }
        None => None,
    };
    let principals = match raw.principals {
        Some(patterns) => {
            let field = format!("{at}.principals");
            if patterns.value.is_empty() {
                return Err(invalid(field, patterns.referenced, Problem::EmptyCondition));
            }
            Some(principal_list(&patterns.value, &field)?)
        }
        None => None,
    };
    let time = raw.time.map(|t| build_time(t, &format!("{at}.time"))).transpose()?;
    Ok(Conditions { users, principals, time })
}

fn build_time(raw: Spanned<RawTime>, at: &str) -> Result<TimeWindow, Invalid> {
    let Spanned { value: raw, referenced: mapping, .. } = raw;
    let raw_days = raw.days.take(at, "days", mapping)?;
    let raw_hours = raw.hours.take(at, "hours", mapping)?;
    let timezone = raw.timezone.take(at, "timezone", mapping)?;
    let hours_at = join(at, "hours");
    let start = raw_hours.value.start.take(&hours_at, "start", raw_hours.referenced)?;
    let end = raw_hours.value.end.take(&hours_at, "end", raw_hours.referenced)?;

    if raw_days.value.is_empty() {
        return Err(invalid(format!("{at}.days"), raw_days.referenced, Problem::EmptyCondition));
    }
    let mut days = Vec::with_capacity(raw_days.value.len());
    for (j, day) in raw_days.value.iter().enumerate() {
        let parsed = parse_day(&day.value).ok_or_else(|| {
            invalid(format!("{at}.days[{j}]"), day.referenced, Problem::UnknownDay(day.value.clone()))
        })?;
        if !days.contains(&parsed) {
            days.push(parsed);
        }
    }
    let time_of_day = |value: &Spanned<String>, field: &str| {
        value.value.parse::<TimeOfDay>().map_err(|()| {
            invalid(format!("{at}.hours.{field}"), value.referenced, Problem::BadTimeOfDay(value.value.clone()))
        })
    };
    let start = time_of_day(&start, "start")?;
    let end = time_of_day(&end, "end")?;
    if start >= end {
        return Err(invalid(hours_at, raw_hours.referenced, Problem::EmptyHours { start, end }));
    }
    // Never fall back to UTC: an unknown zone is an error.
    let timezone: Tz = timezone.value.parse().map_err(|_| {
        let problem = Problem::UnknownTimeZone(timezone.value.clone());
        invalid(format!("{at}.timezone"), timezone.referenced, problem)
    })?;
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

fn build_approvals(raw: Spanned<RawApprovals>) -> Result<ApprovalsConfig, Invalid> {
    let Spanned { value: raw, referenced: mapping, .. } = raw;
    let raw_approvers = raw.approvers.take("approvals", "approvers", mapping)?;
    let Spanned { value: required, referenced: required_at, .. } =
        raw.required.take("approvals", "required", mapping)?;
    let window = raw.window.take("approvals", "window", mapping)?;

    let approvers = subject_list(&raw_approvers.value, "approvals.approvers")?;
    if approvers.is_empty() {
        return Err(invalid("approvals.approvers", raw_approvers.referenced, Problem::EmptyList));
    }
    if required == 0 {
        return Err(invalid("approvals.required", required_at, Problem::RequiredZero));
    }
    // A wildcard approver may stand for many principals, so only a fully literal list
    // bounds how many distinct approvers exist.
    let literal_only = !approvers.iter().any(SubjectPattern::is_wildcard);
    if literal_only && required as usize > approvers.len() {
        let problem = Problem::NotEnoughApprovers { required, approvers: approvers.len() };
        return Err(invalid("approvals.required", required_at, problem));
    }
    let window = duration(&window, "approvals.window", APPROVAL_WINDOW)?;
    Ok(ApprovalsConfig { approvers, required, window })
}

fn build_break_glass(raw: Spanned<RawBreakGlass>) -> Result<BreakGlassConfig, Invalid> {
    let Spanned { value: raw, referenced: mapping, .. } = raw;
    let raw_users = raw.users.take("break_glass", "users", mapping)?;
    let raw_codes = raw.reason_codes.take("break_glass", "reason_codes", mapping)?;
    let max_duration = raw.max_duration.take("break_glass", "max_duration", mapping)?;
    let cooldown = raw.cooldown.take("break_glass", "cooldown", mapping)?;

    let users = subject_list(&raw_users.value, "break_glass.users")?;
    if users.is_empty() {
        return Err(invalid("break_glass.users", raw_users.referenced, Problem::EmptyList));
    }
    if raw_codes.value.is_empty() {
        return Err(invalid("break_glass.reason_codes", raw_codes.referenced, Problem::EmptyList));
    }
    let mut reason_codes = Vec::with_capacity(raw_codes.value.len());
    for (j, code) in raw_codes.value.iter().enumerate() {
        let parsed = code.value.parse::<ReasonCode>().map_err(|()| {
            let problem = Problem::UnknownReasonCode(code.value.clone());
            invalid(format!("break_glass.reason_codes[{j}]"), code.referenced, problem)
        })?;
        if !reason_codes.contains(&parsed) {
            reason_codes.push(parsed);
        }
    }
    Ok(BreakGlassConfig {
        users,
        reason_codes,
        max_duration: duration(&max_duration, "break_glass.max_duration", BREAK_GLASS)?,
        cooldown: duration(&cooldown, "break_glass.cooldown", COOLDOWN)?,
    })
}

fn bad_entry(field: String, entry: &Spanned<String>, source: PatternError) -> Invalid {
    invalid(field, entry.referenced, Problem::BadEntry { value: entry.value.clone(), source })
}

fn user_list(entries: Vec<Spanned<String>>, field: &str) -> Result<Vec<String>, Invalid> {
    entries
        .into_iter()
        .enumerate()
        .map(|(j, entry)| match validate_user_name(&entry.value) {
            Ok(()) => Ok(entry.value),
            Err(e) => Err(bad_entry(format!("{field}[{j}]"), &entry, e)),
        })
        .collect()
}

fn subject_list(entries: &[Spanned<String>], field: &str) -> Result<Vec<SubjectPattern>, Invalid> {
    entries
        .iter()
        .enumerate()
        .map(|(j, entry)| SubjectPattern::parse(&entry.value).map_err(|e| bad_entry(format!("{field}[{j}]"), entry, e)))
        .collect()
}

fn principal_list(entries: &[Spanned<String>], field: &str) -> Result<Vec<PrincipalPattern>, Invalid> {
    entries
        .iter()
        .enumerate()
        .map(|(j, entry)| {
            PrincipalPattern::parse(&entry.value).map_err(|e| bad_entry(format!("{field}[{j}]"), entry, e))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use sha2::{Digest, Sha256};

    use super::*;
    use crate::policy::{Request, Subject};

    // The example policies users start from (examples/policies): kept once, tested here.
    const DEV: &str = include_str!("../../../examples/policies/dev.yaml");
    const PROD: &str = include_str!("../../../examples/policies/prod.yaml");

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
        assert_eq!(p.role_arn.as_str(), "arn:aws:iam::123456789012:role/SentinelProtected-Dev");
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
        // A missing key is reported at the start of the mapping that lacks it.
        let e = error(&with(", end: \"18:00\"}", "}"));
        assert_eq!((e.line, e.column, e.field.as_str()), (12, Some(16), "rules[0].when.time.hours.end"));
        assert_eq!(e.problem, Problem::MissingKey);
        let e = error(&with(", window: 4h}", "}"));
        assert_eq!((e.line, e.column, e.field.as_str()), (15, Some(12), "approvals.window"));
        let e = error(&format!(
            "# a comment\n{}",
            BASE.replace("role_arn: arn:aws:iam::000000000000:role/SentinelProtected-Dev\n", "")
        ));
        assert_eq!((e.line, e.field.as_str(), e.problem), (2, "role_arn", Problem::MissingKey));
        // A key without a value is there, with the wrong kind of value.
        for empty in ["effect:", "effect: ~", "effect: null"] {
            let e = error(&with("effect: allow", empty));
            assert_eq!((e.line, e.field.as_str()), (7, "rules[0].effect"), "{empty}: {e}");
            assert!(matches!(e.problem, Problem::Yaml(_)), "{empty}: {e}");
        }
        let e = error(&with("    effect: allow\n", "    effect: allow\n    effect: deny\n"));
        assert_eq!((e.line, e.field.as_str(), e.problem.clone()), (8, "rules[0].effect", Problem::DuplicateKey));
        let e = error(&with("end: \"18:00\"}", "end: \"18:00\", end: \"19:00\"}"));
        assert_eq!((e.line, e.field.as_str()), (12, "rules[0].when.time.hours.end"), "{e}");
        let e = AdminsDocument::parse("version: \"1\"\nusers: [a]\nusers: [b]\n").unwrap_err();
        assert_eq!((e.line, e.field.as_str(), e.problem), (3, "users", Problem::DuplicateKey));
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
    fn the_example_admins_document_is_valid() {
        let admins = AdminsDocument::parse(include_str!("../../../examples/admins.yaml")).unwrap();
        assert!(admins.is_admin(&user("secops")));
        assert!(!admins.is_admin(&user("alice")));
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
    fn errors_point_at_values_in_block_and_flow_style() {
        let at = |yaml: &str| {
            let e = error(yaml);
            (e.line, e.column, e.field)
        };
        let hours = with("end: \"18:00\"", "end: \"25:00\"");
        assert_eq!(at(&hours), (12, Some(38), "rules[0].when.time.hours.end".to_owned()));
        assert_eq!(at(&with("[alice]", "[\"a b\"]")), (9, Some(15), "rules[0].when.users[0]".to_owned()));
        assert_eq!(at(&with("window: 4h", "window: 4x")), (15, Some(54), "approvals.window".to_owned()));
        let block = with(
            "approvals: {approvers: [carol], required: 1, window: 4h}",
            "approvals:\n  approvers:\n    - carol\n    - 7 7\n  required: 1\n  window: 4h",
        );
        assert_eq!(at(&block), (18, Some(7), "approvals.approvers[1]".to_owned()));
    }

    #[test]
    fn a_key_named_value_is_unknown_at_its_own_path() {
        // `Spanned` adds `value` steps to tracked paths; a document's own `value` key stays.
        let e = error(&with("      users: [alice]\n", "      users: [alice]\n      value: x\n"));
        assert_eq!((e.line, e.field.as_str()), (10, "rules[0].when.value"), "{e}");
        assert!(matches!(e.problem, Problem::UnknownKey { .. }), "{e}");
        let e = error(&with("{start: \"08:00\", end: \"18:00\"}", "{start: \"08:00\", end: \"18:00\", value: 1}"));
        assert_eq!((e.line, e.field.as_str()), (12, "rules[0].when.time.hours.value"), "{e}");
    }

    #[test]
    fn wrong_types_inside_located_values_name_the_field() {
        let e = error(&with("effect: allow", "effect: [allow]"));
        assert_eq!((e.line, e.field.as_str()), (7, "rules[0].effect"), "{e}");
        assert!(matches!(e.problem, Problem::Yaml(_)), "{e}");
        let e = error(&with("users: [alice]", "users: [[alice]]"));
        assert_eq!((e.line, e.field.as_str()), (9, "rules[0].when.users[0]"), "{e}");
        let e = error(&with("hours: {start: \"08:00\", end: \"18:00\"}", "hours: {start: \"08:00\", stop: \"18:00\"}"));
        assert_eq!((e.line, e.field.as_str()), (12, "rules[0].when.time.hours.stop"), "{e}");
    }

    #[test]
    fn merge_keys_are_not_merged_but_aliases_resolve() {
        let yaml = format!("{BASE}defaults: &d {{approvers: [carol]}}\n");
        assert_eq!(error(&yaml).field, "defaults");
        let merged =
            with("approvals: {approvers: [carol], required: 1", "approvals: {<<: {approvers: [carol]}, required: 1");
        let e = error(&merged);
        assert_eq!((e.line, e.field.as_str()), (15, "approvals.<<"), "{e}");
        // Anchors and aliases are plain YAML and allowed.
        let aliased = with("users: [alice]", "users: &team [alice]").replace("approvers: [carol]", "approvers: *team");
        let p = PolicyDocument::parse(&aliased, None).unwrap();
        assert!(p.approvals.unwrap().is_approver(&user("alice")));
    }
}
