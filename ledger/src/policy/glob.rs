//! The glob dialect of principal patterns: `*` is any run of characters (including `/`
//! and `:`), `?` is exactly one character, everything else is literal; anchored at both
//! ends and case-sensitive.

/// Whether `text` matches `pattern` as a whole.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    // Most patterns of a policy do not match a given caller, and most of those already differ
    // in their literal prefix: refuse those without looking further.
    if !text.starts_with(literal_prefix(pattern)) {
        return false;
    }
    // ARNs are ASCII: match bytes in place; otherwise characters (`?` is one character).
    if pattern.is_ascii() && text.is_ascii() {
        matches(pattern.as_bytes(), text.as_bytes())
    } else {
        let pattern: Vec<char> = pattern.chars().collect();
        let text: Vec<char> = text.chars().collect();
        matches(&pattern, &text)
    }
}

/// The matcher over any symbols, `*` and `?` being the wildcards.
fn matches<C: Copy + PartialEq + Wildcards>(pattern: &[C], text: &[C]) -> bool {
    let (mut p, mut t) = (0, 0);
    // Where the last `*` was seen and which text position it currently absorbs up to;
    // on a mismatch we let that star swallow one more character and retry. One star of
    // backtracking is enough because a later star can absorb anything an earlier one could.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(c) if c.is_star() => {
                star = Some((p, t));
                p += 1;
            }
            Some(c) if c.is_question() => {
                p += 1;
                t += 1;
            }
            Some(&c) if c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|c| c.is_star())
}

/// The two wildcards, as bytes or as characters.
trait Wildcards {
    fn is_star(&self) -> bool;
    fn is_question(&self) -> bool;
}

impl Wildcards for u8 {
    fn is_star(&self) -> bool {
        *self == b'*'
    }
    fn is_question(&self) -> bool {
        *self == b'?'
    }
}

impl Wildcards for char {
    fn is_star(&self) -> bool {
        *self == '*'
    }
    fn is_question(&self) -> bool {
        *self == '?'
    }
}

/// The literal text before the first wildcard.
pub(crate) fn literal_prefix(pattern: &str) -> &str {
    pattern.find(['*', '?']).map_or(pattern, |end| &pattern[..end])
}

/// Whether every text matched by `narrow` is also matched by `wide`. Conservative: it
/// answers `true` only when that is certain (equal patterns, or `wide` is a literal prefix
/// followed by a single trailing `*` that `narrow`'s literal prefix starts with).
pub(crate) fn covers(wide: &str, narrow: &str) -> bool {
    if wide == narrow {
        return true;
    }
    match wide.strip_suffix('*') {
        Some(prefix) if !prefix.contains(['*', '?']) => literal_prefix(narrow).starts_with(prefix),
        _ => false,
    }
}

/// Whether some text is certainly matched by both patterns (conservative like [`covers`]).
pub(crate) fn certainly_overlap(a: &str, b: &str) -> bool {
    covers(a, b) || covers(b, a)
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn byte_and_character_matching_agree_on_ascii(pattern in "[a-c*?/:]{0,12}", text in "[a-c/:]{0,12}") {
            let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
            proptest::prop_assert_eq!(matches(pattern.as_bytes(), text.as_bytes()), matches(&p, &t));
            proptest::prop_assert_eq!(glob_match(&pattern, &text), matches(&p, &t));
        }
    }

    #[test]
    fn star_matches_any_run_including_slashes_and_colons() {
        assert!(glob_match(
            "arn:aws:sts::111122223333:assumed-role/CI-*/*",
            "arn:aws:sts::111122223333:assumed-role/CI-deploy/run-42"
        ));
        assert!(glob_match("arn:*", "arn:aws:iam::111122223333:user/a/b/c"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "a-b-b-c"));
        assert!(glob_match("a**", "a"));
    }

    #[test]
    fn question_mark_is_exactly_one_character() {
        assert!(glob_match("arn:aws:iam::11112222333?:root", "arn:aws:iam::111122223333:root"));
        assert!(!glob_match("arn:aws:iam::11112222333?:root", "arn:aws:iam::11112222333:root"));
        assert!(!glob_match("a?", "a"));
        assert!(!glob_match("a?", "abc"));
    }

    #[test]
    fn patterns_are_anchored_at_both_ends() {
        let alice = "arn:aws:iam::111122223333:user/alice";
        assert!(glob_match(alice, alice));
        assert!(!glob_match(alice, "arn:aws:iam::111122223333:user/alice2"));
        assert!(!glob_match(alice, "xarn:aws:iam::111122223333:user/alice"));
        assert!(!glob_match("user/alice", alice));
        assert!(!glob_match("arn:aws:iam::*:user/alice", "arn:aws:iam::111122223333:user/alice/x"));
    }

    #[test]
    fn matching_is_case_sensitive() {
        assert!(!glob_match("arn:aws:iam::111122223333:user/alice", "arn:aws:iam::111122223333:user/Alice"));
    }

    #[test]
    fn covering_is_only_claimed_when_certain() {
        assert!(covers("arn:aws:iam::1:*", "arn:aws:iam::1:user/a*"));
        assert!(covers("*", "anything?"));
        assert!(covers("a", "a"));
        assert!(!covers("arn:aws:iam::1:user/a*", "arn:aws:iam::1:*"));
        assert!(!covers("arn:*:user/a", "arn:aws:iam::1:user/a"));
        assert!(!covers("arn:aws:iam::1:*", "arn:?ws:iam::1:user/a"));
        assert!(certainly_overlap("arn:aws:iam::1:user/a", "arn:aws:iam::1:*"));
        assert!(!certainly_overlap("arn:aws:iam::1:user/a", "arn:aws:iam::1:user/b"));
    }
}
