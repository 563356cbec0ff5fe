//! Who a policy talks about: the caller as a [`Subject`], and the patterns that name callers.

use std::fmt;

use crate::ids::PrincipalArn;

use super::glob;

/// The caller as policy matching sees it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Subject {
    /// The principal ARN exactly as AWS authenticated it.
    pub principal: PrincipalArn,
    /// The caller's policy user name, present only when the caller cannot choose it (an
    /// IAM user's name, or the session name on a configured identity role). `users`
    /// conditions never match a subject without one.
    pub policy_user: Option<String>,
}

/// Why a user name or principal pattern is unusable in a policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("user names are 1-64 characters of letters, digits and _+=,.@- (IAM user names and session names cannot contain anything else)")]
    BadUserName,
    #[error("users are matched exactly; put ARN patterns under principals")]
    ArnInUsers,
    #[error("principal patterns are full ARNs (arn:...) of printable ASCII without spaces, at most 2048 characters; use * and ? as wildcards")]
    BadPrincipalPattern,
}

/// Checks a policy user name: the character set IAM allows in user and session names.
pub fn validate_user_name(name: &str) -> Result<(), PatternError> {
    if name.starts_with("arn:") {
        return Err(PatternError::ArnInUsers);
    }
    let charset_ok = name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b));
    if charset_ok && (1..=64).contains(&name.len()) {
        Ok(())
    } else {
        Err(PatternError::BadUserName)
    }
}

/// A glob over full principal ARNs (`*` any run of characters, `?` one character),
/// case-sensitive and anchored at both ends.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PrincipalPattern(String);

impl PrincipalPattern {
    /// Validates a pattern: it must start with `arn:` and be printable ASCII without spaces.
    pub fn parse(pattern: &str) -> Result<Self, PatternError> {
        let printable = pattern.bytes().all(|b| (0x21..0x7f).contains(&b));
        if pattern.starts_with("arn:") && printable && pattern.len() <= 2048 {
            Ok(Self(pattern.to_owned()))
        } else {
            Err(PatternError::BadPrincipalPattern)
        }
    }

    /// The pattern text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the pattern matches the whole ARN.
    pub fn matches(&self, principal: &PrincipalArn) -> bool {
        glob::glob_match(&self.0, principal.as_str())
    }
}

impl fmt::Display for PrincipalPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An entry of `approvers`, `revokers`, `break_glass.users` or the admins' lists: a
/// policy user name matched exactly, or — when the entry starts with `arn:` — a principal
/// ARN pattern matched like `principals`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SubjectPattern {
    /// Matches a subject whose policy user is exactly this name.
    User(String),
    /// Matches a subject whose principal ARN matches this pattern.
    Principal(PrincipalPattern),
}

impl SubjectPattern {
    /// Reads an entry: `arn:...` is a principal pattern, anything else a user name.
    pub fn parse(entry: &str) -> Result<Self, PatternError> {
        if entry.starts_with("arn:") {
            PrincipalPattern::parse(entry).map(SubjectPattern::Principal)
        } else {
            validate_user_name(entry)?;
            Ok(SubjectPattern::User(entry.to_owned()))
        }
    }

    /// Whether the subject is the one this entry names.
    pub fn matches(&self, subject: &Subject) -> bool {
        match self {
            SubjectPattern::User(name) => subject.policy_user.as_deref() == Some(name.as_str()),
            SubjectPattern::Principal(pattern) => pattern.matches(&subject.principal),
        }
    }

    /// Whether the entry may match more than one principal (a pattern with a wildcard).
    pub(crate) fn is_wildcard(&self) -> bool {
        matches!(self, SubjectPattern::Principal(p) if p.as_str().contains(['*', '?']))
    }
}

impl fmt::Display for SubjectPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubjectPattern::User(name) => f.write_str(name),
            SubjectPattern::Principal(pattern) => f.write_str(pattern.as_str()),
        }
    }
}

/// Whether any entry of the list matches the subject.
pub(crate) fn any_matches(list: &[SubjectPattern], subject: &Subject) -> bool {
    list.iter().any(|entry| entry.matches(subject))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(arn: &str, user: Option<&str>) -> Subject {
        Subject { principal: arn.parse().unwrap(), policy_user: user.map(str::to_owned) }
    }

    #[test]
    fn user_entries_match_only_the_exact_policy_user() {
        let carol = SubjectPattern::parse("carol").unwrap();
        assert!(carol.matches(&subject("arn:aws:iam::1:user/carol", Some("carol"))));
        assert!(!carol.matches(&subject("arn:aws:iam::1:user/Carol", Some("Carol"))));
        assert!(!carol.matches(&subject("arn:aws:iam::1:user/carol2", Some("carol2"))));
        // An assumed role whose session is named carol has no policy user.
        assert!(!carol.matches(&subject("arn:aws:sts::1:assumed-role/Any/carol", None)));
    }

    #[test]
    fn arn_entries_are_principal_patterns() {
        let ops = SubjectPattern::parse("arn:aws:sts::1:assumed-role/Ops/*").unwrap();
        assert!(ops.matches(&subject("arn:aws:sts::1:assumed-role/Ops/x", None)));
        assert!(!ops.matches(&subject("arn:aws:sts::1:assumed-role/Ops2/x", None)));
        assert!(ops.is_wildcard());
    }

    #[test]
    fn bad_entries_are_refused() {
        assert_eq!(SubjectPattern::parse(""), Err(PatternError::BadUserName));
        assert_eq!(SubjectPattern::parse("al ice"), Err(PatternError::BadUserName));
        assert_eq!(SubjectPattern::parse("alice:admin"), Err(PatternError::BadUserName));
        assert_eq!(SubjectPattern::parse("arn:aws:iam::1:user/a b"), Err(PatternError::BadPrincipalPattern));
        assert_eq!(validate_user_name("arn:aws:iam::1:user/a"), Err(PatternError::ArnInUsers));
        assert_eq!(PrincipalPattern::parse("*"), Err(PatternError::BadPrincipalPattern));
        assert!(validate_user_name("dana@example.com").is_ok());
    }
}
