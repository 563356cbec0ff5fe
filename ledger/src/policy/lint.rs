//! Warnings for `sentinel policy validate`: rules that can never decide, allows that hide
//! denies, and time windows whose overlap makes the order decide. Conservative: a warning
//! is only given when the problem is certain from the text of the rules.

use std::fmt;

use super::document::{Conditions, Effect, PolicyDocument, TimeWindow};
use super::glob;
use super::subject::{is_bare_name, names_match, policy_name, PrincipalPattern, SubjectPattern};

/// A likely mistake in an otherwise valid policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LintWarning {
    /// `rule` can never match first: the earlier `shadowed_by` matches whenever it does.
    Unreachable { rule: String, shadowed_by: String },
    /// An earlier allow matches whenever the later deny does, so the deny never applies.
    AllowShadowsDeny { allow: String, deny: String },
    /// Two rules with different effects have overlapping time windows for overlapping
    /// callers: during the overlap only the earlier one applies.
    OverlappingTimeWindows { first: String, second: String },
    /// A name without `iam:` or `idp:`: read as `idp:` when it has an `@`, as `iam:` otherwise.
    BareName { field: String, name: String },
}

impl fmt::Display for LintWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LintWarning::Unreachable { rule, shadowed_by } => write!(
                f,
                "rule {rule:?} is unreachable: the earlier rule {shadowed_by:?} matches every request it would"
            ),
            LintWarning::AllowShadowsDeny { allow, deny } => write!(
                f,
                "allow rule {allow:?} shadows the later deny rule {deny:?}: the deny never applies"
            ),
            LintWarning::OverlappingTimeWindows { first, second } => write!(
                f,
                "rules {first:?} and {second:?} have different effects and overlapping time windows: during the overlap {first:?} wins"
            ),
            LintWarning::BareName { field, name } => {
                let (namespace, _) = policy_name(name);
                let prefix = match namespace {
                    super::subject::Namespace::Iam => "iam",
                    super::subject::Namespace::Idp => "idp",
                };
                write!(
                    f,
                    "{field}: the bare name {name:?} is read as {prefix}:{name}; write iam: (an IAM user) or idp: (an identity-role session) to say which"
                )
            }
        }
    }
}

impl PolicyDocument {
    /// Finds unreachable rules, allows shadowing denies and overlapping time windows.
    pub fn lint(&self) -> Vec<LintWarning> {
        let mut warnings = Vec::new();
        let mut unreachable = vec![false; self.rules.len()];
        for (j, later) in self.rules.iter().enumerate() {
            let shadow = self.rules[..j].iter().find(|earlier| covers(&earlier.when, &later.when));
            if let Some(earlier) = shadow {
                unreachable[j] = true;
                warnings.push(if earlier.effect == Effect::Allow && later.effect == Effect::Deny {
                    LintWarning::AllowShadowsDeny { allow: earlier.name.clone(), deny: later.name.clone() }
                } else {
                    LintWarning::Unreachable { rule: later.name.clone(), shadowed_by: earlier.name.clone() }
                });
            }
        }
        for (j, later) in self.rules.iter().enumerate() {
            if unreachable[j] {
                continue;
            }
            for (i, earlier) in self.rules[..j].iter().enumerate() {
                if unreachable[i] {
                    continue;
                }
                if earlier.effect != later.effect && windows_overlap(&earlier.when, &later.when) {
                    warnings.push(LintWarning::OverlappingTimeWindows {
                        first: earlier.name.clone(),
                        second: later.name.clone(),
                    });
                }
            }
        }
        warnings.extend(self.bare_names());
        warnings
    }

    /// Every name that leaves its namespace to the `@` rule, with where it is.
    fn bare_names(&self) -> Vec<LintWarning> {
        let mut found = Vec::new();
        let mut names = |field: String, names: &mut dyn Iterator<Item = &String>| {
            for (j, name) in names.enumerate() {
                if is_bare_name(name) {
                    found.push(LintWarning::BareName { field: format!("{field}[{j}]"), name: name.clone() });
                }
            }
        };
        fn user(p: &SubjectPattern) -> Option<&String> {
            match p {
                SubjectPattern::User(name) => Some(name),
                SubjectPattern::Principal(_) => None,
            }
        }
        // Keep the positions of the entries: principal patterns count too.
        fn patterns(list: &[SubjectPattern]) -> Vec<Option<&String>> {
            list.iter().map(user).collect()
        }
        for (i, rule) in self.rules.iter().enumerate() {
            if let Some(users) = &rule.when.users {
                names(format!("rules[{i}].when.users"), &mut users.iter());
            }
        }
        let mut lists: Vec<(&str, Vec<Option<&String>>)> = vec![("revokers", patterns(&self.revokers))];
        if let Some(a) = &self.approvals {
            lists.push(("approvals.approvers", patterns(&a.approvers)));
        }
        if let Some(b) = &self.break_glass {
            lists.push(("break_glass.users", patterns(&b.users)));
        }
        for (field, list) in lists {
            for (j, name) in list.into_iter().enumerate() {
                if let Some(name) = name.filter(|n| is_bare_name(n)) {
                    found.push(LintWarning::BareName { field: format!("{field}[{j}]"), name: name.clone() });
                }
            }
        }
        found
    }
}

/// Whether `wide` certainly matches every request `narrow` matches.
fn covers(wide: &Conditions, narrow: &Conditions) -> bool {
    let users = match (&wide.users, &narrow.users) {
        (None, _) => true,
        (Some(w), Some(n)) => n.iter().all(|u| w.iter().any(|x| names_match(x, u))),
        (Some(_), None) => false,
    };
    let principals = match (&wide.principals, &narrow.principals) {
        (None, _) => true,
        (Some(w), Some(n)) => n.iter().all(|np| w.iter().any(|wp| glob::covers(wp.as_str(), np.as_str()))),
        (Some(_), None) => false,
    };
    let time = match (&wide.time, &narrow.time) {
        (None, _) => true,
        (Some(w), Some(n)) => {
            w.timezone == n.timezone && n.days.iter().all(|d| w.days.contains(d)) && w.hours.contains_range(&n.hours)
        }
        (Some(_), None) => false,
    };
    users && principals && time
}

/// Whether both rules have time windows that certainly overlap, for callers that
/// certainly overlap.
fn windows_overlap(a: &Conditions, b: &Conditions) -> bool {
    let (Some(ta), Some(tb)) = (&a.time, &b.time) else {
        return false;
    };
    same_zone_overlap(ta, tb) && callers_overlap(a, b)
}

/// Whether some caller certainly satisfies the `users` and `principals` of both rules.
fn callers_overlap(a: &Conditions, b: &Conditions) -> bool {
    if !principals_overlap(&a.principals, &b.principals) {
        return false;
    }
    let users: Option<Vec<&String>> = match (&a.users, &b.users) {
        (Some(ua), Some(ub)) => Some(ua.iter().filter(|u| ub.iter().any(|x| names_match(x, u))).collect()),
        (Some(u), None) | (None, Some(u)) => Some(u.iter().collect()),
        (None, None) => None,
    };
    let Some(users) = users else {
        return true;
    };
    // A caller with policy user `u` has a principal ARN ending in `/u` (an IAM user's name,
    // or an identity role's session name), so literal principal patterns that end with
    // none of the users exclude them all.
    [&a.principals, &b.principals]
        .into_iter()
        .flatten()
        .all(|patterns| patterns.iter().any(|p| users.iter().any(|u| pattern_may_be_user(p, u))))
        && !users.is_empty()
}

fn pattern_may_be_user(pattern: &PrincipalPattern, user: &str) -> bool {
    let (_, user) = policy_name(user);
    let p = pattern.as_str();
    p.contains(['*', '?']) || p.strip_suffix(user).is_some_and(|head| head.ends_with('/'))
}

fn same_zone_overlap(a: &TimeWindow, b: &TimeWindow) -> bool {
    a.timezone == b.timezone && a.days.iter().any(|d| b.days.contains(d)) && a.hours.overlaps(&b.hours)
}

fn principals_overlap(a: &Option<Vec<PrincipalPattern>>, b: &Option<Vec<PrincipalPattern>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.iter().any(|pa| b.iter().any(|pb| glob::certainly_overlap(pa.as_str(), pb.as_str()))),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lint(rules: &str) -> Vec<LintWarning> {
        let yaml = format!(
            "version: \"1\"\nprofile: dev\nrole_arn: arn:aws:iam::000000000000:role/SentinelProtected-Dev\napprovals: {{approvers: [carol], required: 1, window: 4h}}\nrules:\n{rules}"
        );
        let warnings = PolicyDocument::parse(&yaml, None).unwrap().lint();
        // The rule checks below write bare names on purpose; their warnings are tested apart.
        warnings.into_iter().filter(|w| !matches!(w, LintWarning::BareName { .. })).collect()
    }

    #[test]
    fn bare_names_are_warned_about_with_where_they_are() {
        let yaml = "version: \"1\"\nprofile: dev\nrole_arn: arn:aws:iam::000000000000:role/SentinelProtected-Dev\n\
            rules:\n  - {name: team, effect: require_approval, when: {users: [iam:alice, dana@example.com]}}\n\
            approvals: {approvers: [\"arn:aws:iam::1:user/x\", carol], required: 1, window: 4h}\nrevokers: [idp:sec@example.com]\n";
        let warnings = PolicyDocument::parse(yaml, None).unwrap().lint();
        assert_eq!(
            warnings,
            vec![
                LintWarning::BareName { field: "rules[0].when.users[1]".into(), name: "dana@example.com".into() },
                LintWarning::BareName { field: "approvals.approvers[1]".into(), name: "carol".into() },
            ]
        );
        assert!(warnings[0].to_string().contains("idp:dana@example.com"), "{}", warnings[0]);
        assert!(warnings[1].to_string().contains("iam:carol"), "{}", warnings[1]);
    }

    #[test]
    fn a_prefixed_and_a_bare_spelling_of_one_name_are_the_same_caller() {
        let warnings = lint(
            "  - {name: team, effect: allow, when: {users: [iam:alice, bob]}}\n  - {name: alice, effect: deny, when: {users: [alice]}}\n",
        );
        assert_eq!(warnings, vec![LintWarning::AllowShadowsDeny { allow: "team".into(), deny: "alice".into() }]);
    }

    #[test]
    fn a_rule_after_an_unconditional_rule_is_unreachable() {
        let warnings = lint(
            "  - {name: all, effect: require_approval}\n  - {name: alice, effect: allow, when: {users: [alice]}}\n",
        );
        assert_eq!(warnings, vec![LintWarning::Unreachable { rule: "alice".into(), shadowed_by: "all".into() }]);
        assert!(warnings[0].to_string().contains("\"alice\""));
    }

    #[test]
    fn a_rule_narrower_than_an_earlier_one_is_unreachable() {
        let warnings = lint(
            "  - {name: team, effect: require_approval, when: {users: [alice, bob], principals: [\"arn:aws:iam::1:*\"]}}\n  - {name: bob, effect: allow, when: {users: [bob], principals: [\"arn:aws:iam::1:user/b*\"]}}\n",
        );
        assert_eq!(warnings, vec![LintWarning::Unreachable { rule: "bob".into(), shadowed_by: "team".into() }]);
    }

    #[test]
    fn an_allow_covering_a_later_deny_is_reported_as_shadowing() {
        let warnings = lint(
            "  - {name: team, effect: allow, when: {users: [alice, mallory]}}\n  - {name: no-mallory, effect: deny, when: {users: [mallory]}}\n",
        );
        assert_eq!(warnings, vec![LintWarning::AllowShadowsDeny { allow: "team".into(), deny: "no-mallory".into() }]);
    }

    #[test]
    fn a_deny_before_a_broader_allow_is_fine() {
        assert!(lint(
            "  - {name: no-mallory, effect: deny, when: {users: [mallory]}}\n  - {name: all, effect: allow}\n"
        )
        .is_empty());
    }

    #[test]
    fn disjoint_rules_get_no_warning() {
        let rules = "  - {name: alice, effect: allow, when: {users: [alice], time: {days: [mon], hours: {start: \"08:00\", end: \"12:00\"}, timezone: UTC}}}\n  - {name: bob, effect: deny, when: {users: [bob], time: {days: [mon], hours: {start: \"08:00\", end: \"12:00\"}, timezone: UTC}}}\n  - {name: alice-later, effect: deny, when: {users: [alice], time: {days: [mon], hours: {start: \"12:00\", end: \"18:00\"}, timezone: UTC}}}\n  - {name: alice-tuesday, effect: require_approval, when: {users: [alice], time: {days: [tue], hours: {start: \"08:00\", end: \"12:00\"}, timezone: UTC}}}\n  - {name: ci, effect: deny, when: {principals: [\"arn:aws:iam::1:user/ci\"], time: {days: [mon], hours: {start: \"08:00\", end: \"12:00\"}, timezone: UTC}}}\n  - {name: ops, effect: allow, when: {principals: [\"arn:aws:iam::1:user/ops\"], time: {days: [mon], hours: {start: \"08:00\", end: \"12:00\"}, timezone: UTC}}}\n";
        assert_eq!(lint(rules), vec![]);
    }

    #[test]
    fn overlapping_windows_with_different_effects_are_reported() {
        let warnings = lint(
            "  - {name: office, effect: allow, when: {users: [alice], time: {days: [mon, tue], hours: {start: \"08:00\", end: \"18:00\"}, timezone: Europe/Berlin}}}\n  - {name: late, effect: deny, when: {users: [alice, bob], time: {days: [tue], hours: {start: \"17:00\", end: \"24:00\"}, timezone: Europe/Berlin}}}\n",
        );
        assert_eq!(
            warnings,
            vec![LintWarning::OverlappingTimeWindows { first: "office".into(), second: "late".into() }]
        );
    }

    #[test]
    fn windows_in_different_time_zones_are_not_claimed_to_overlap() {
        let warnings = lint(
            "  - {name: a, effect: allow, when: {time: {days: [mon], hours: {start: \"08:00\", end: \"18:00\"}, timezone: Europe/Berlin}}}\n  - {name: b, effect: deny, when: {time: {days: [mon], hours: {start: \"08:00\", end: \"18:00\"}, timezone: America/New_York}}}\n",
        );
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    #[test]
    fn a_time_window_in_another_zone_does_not_cover() {
        let warnings = lint(
            "  - {name: a, effect: allow, when: {time: {days: [mon], hours: {start: \"00:00\", end: \"24:00\"}, timezone: UTC}}}\n  - {name: b, effect: deny, when: {time: {days: [mon], hours: {start: \"08:00\", end: \"09:00\"}, timezone: Asia/Tokyo}}}\n",
        );
        assert!(warnings.is_empty(), "{warnings:?}");
    }
}
