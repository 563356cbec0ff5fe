//! Who a policy talks about: the caller as a [`Subject`], and the patterns that name callers.

use std::fmt;

use crate::ids::PrincipalArn;

use super::glob;

/// The caller as policy matching sees it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Subject {
    /// The principal ARN exactly as AWS authenticated it.
    pub principal: PrincipalArn,
    /// The caller's policy name, present only when the caller cannot choose it: `iam:NAME`
    /// for an IAM user, `idp:NAME` for the session name on a configured identity role (a bare
    /// name is read as in policies: with `@` an `idp:` name, otherwise an `iam:` one). `users`
    /// conditions never match a subject without one.
    pub policy_user: Option<String>,
}

/// Where a policy name comes from: IAM user names and identity-provider session names are
/// different namespaces that never meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Namespace {
    /// `iam:NAME`: an IAM user's name.
    Iam,
    /// `idp:NAME`: the session name on a configured identity role.
    Idp,
}

/// A policy name split into its namespace and name: `iam:NAME`, `idp:NAME`, or a bare name
/// (with `@` an `idp:` name, otherwise an `iam:` one).
pub fn policy_name(entry: &str) -> (Namespace, &str) {
    if let Some(name) = entry.strip_prefix("iam:") {
        (Namespace::Iam, name)
    } else if let Some(name) = entry.strip_prefix("idp:") {
        (Namespace::Idp, name)
    } else if entry.contains('@') {
        (Namespace::Idp, entry)
    } else {
        (Namespace::Iam, entry)
    }
}

/// Whether a policy entry names the subject's policy name (both read with [`policy_name`]).
pub fn names_match(entry: &str, name: &str) -> bool {
    policy_name(entry) == policy_name(name)
}

/// Whether a policy name leaves its namespace to the `@` rule (`policy lint` warns).
pub fn is_bare_name(entry: &str) -> bool {
    !entry.starts_with("iam:") && !entry.starts_with("idp:")
}

impl Subject {
    /// Whether one of `names` is this subject's policy name.
    pub fn is_named_in<'a>(&self, names: impl IntoIterator<Item = &'a String>) -> bool {
        self.policy_user.as_deref().is_some_and(|own| names.into_iter().any(|n| names_match(n, own)))
    }
}

/// Why a user name or principal pattern is unusable in a policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("user names are iam:NAME, idp:NAME or a bare NAME (with @ an idp: name, otherwise an iam: one), NAME being 1-64 characters of letters, digits and _+=,.@- (IAM user names and session names cannot contain anything else)")]
    BadUserName,
    #[error("users are matched exactly; put ARN patterns under principals")]
    ArnInUsers,
    #[error("principal patterns are full ARNs (arn:...) of printable ASCII without spaces, at most 2048 characters; use * and ? as wildcards")]
    BadPrincipalPattern,
}

/// Checks a policy name (`iam:NAME`, `idp:NAME` or a bare name): the name has the character
/// set IAM allows in user and session names.
pub fn validate_user_name(entry: &str) -> Result<(), PatternError> {
    if entry.starts_with("arn:") {
        return Err(PatternError::ArnInUsers);
    }
    let (_, name) = policy_name(entry);
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
/// policy name matched exactly within its namespace (see [`policy_name`]), or — when the entry
/// starts with `arn:` — a principal ARN pattern matched like `principals`.
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
            SubjectPattern::User(name) => subject.policy_user.as_deref().is_some_and(|own| names_match(name, own)),
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
    fn names_live_in_the_iam_or_the_idp_namespace() {
        assert_eq!(policy_name("alice"), (Namespace::Iam, "alice"));
        assert_eq!(policy_name("iam:alice"), (Namespace::Iam, "alice"));
        assert_eq!(policy_name("dana@example.com"), (Namespace::Idp, "dana@example.com"));
        assert_eq!(policy_name("iam:dana@example.com"), (Namespace::Iam, "dana@example.com"));
        assert_eq!(policy_name("idp:bob"), (Namespace::Idp, "bob"));
        // The name collision: an IAM user called secops@example.com is not the SSO user.
        let admin = SubjectPattern::parse("secops@example.com").unwrap();
        let sso = subject("arn:aws:sts::1:assumed-role/SSO/secops@example.com", Some("idp:secops@example.com"));
        let iam = subject("arn:aws:iam::1:user/secops@example.com", Some("iam:secops@example.com"));
        assert!(admin.matches(&sso));
        assert!(!admin.matches(&iam));
        assert!(SubjectPattern::parse("iam:secops@example.com").unwrap().matches(&iam));
        assert!(is_bare_name("carol") && !is_bare_name("iam:carol") && !is_bare_name("idp:carol@example.com"));
    }

    #[test]
    fn user_entries_match_only_the_exact_policy_user() {
        let carol = SubjectPattern::parse("carol").unwrap();
        assert!(carol.matches(&subject("arn:aws:iam::1:user/carol", Some("carol"))));
        assert!(carol.matches(&subject("arn:aws:iam::1:user/carol", Some("iam:carol"))));
        assert!(!carol.matches(&subject("arn:aws:sts::1:assumed-role/SSO/carol", Some("idp:carol"))));
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
        assert_eq!(SubjectPattern::parse("iam:"), Err(PatternError::BadUserName));
        assert_eq!(SubjectPattern::parse("sso:alice"), Err(PatternError::BadUserName));
        assert!(SubjectPattern::parse("idp:dana@example.com").is_ok());
        assert_eq!(SubjectPattern::parse("arn:aws:iam::1:user/a b"), Err(PatternError::BadPrincipalPattern));
        assert_eq!(validate_user_name("arn:aws:iam::1:user/a"), Err(PatternError::ArnInUsers));
        assert_eq!(PrincipalPattern::parse("*"), Err(PatternError::BadPrincipalPattern));
        assert!(validate_user_name("dana@example.com").is_ok());
    }
}
