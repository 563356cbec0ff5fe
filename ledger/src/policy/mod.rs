//! Profile policies (DESIGN §5): strict YAML parsing into typed documents, pure
//! first-match evaluation, and lint warnings for `sentinel policy validate`.
//!
//! Names in `users`, `approvals.approvers`, `break_glass.users`, `revokers` and the admins'
//! `users` are policy user names, matched exactly and case-sensitively against a caller's
//! policy user, which only callers who cannot choose their name have (see
//! `crate::identity`). In `approvers`, `break_glass.users` and `revokers` an entry that
//! starts with `arn:` is a principal ARN pattern instead, matched like `principals`.

mod document;
mod duration;
mod evaluate;
mod glob;
mod lint;
mod parse;
mod subject;

pub use document::{
    AdminsDocument, ApprovalsConfig, BreakGlassConfig, Conditions, Effect, FormatVersion, Hours, PolicyDocument,
    ReasonCode, Rule, TimeOfDay, TimeWindow, DEFAULT_MAX_SESSION, MAX_CREDENTIAL_DURATION, MIN_CREDENTIAL_DURATION,
};
pub use duration::{format_duration, parse_duration, DurationError};
pub use evaluate::{Decision, Request, NO_RULE_MATCHED};
pub use glob::glob_match;
pub use lint::LintWarning;
pub use parse::{PolicyError, Problem};
pub use subject::{
    is_bare_name, names_match, policy_name, validate_user_name, Namespace, PatternError, PrincipalPattern, Subject,
    SubjectPattern,
};
