//! Deciding a request against a policy: ordered rules, first match wins, no match denies.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::document::{Effect, PolicyDocument};
use super::subject::Subject;

/// One credential request as policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Who is asking.
    pub caller: &'a Subject,
    /// When (rules with time windows are evaluated at this instant).
    pub now: DateTime<Utc>,
    /// The credential duration asked for, if any.
    pub requested: Option<Duration>,
}

/// What policy decided for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The matching rule's effect, or `Deny` when no rule matched.
    pub effect: Effect,
    /// The name of the rule that decided (`None` when no rule matched).
    pub rule: Option<String>,
    /// Why: the rule's `reason`, or a generated one.
    pub reason: String,
    /// The longest credential this decision permits: the requested duration (when given)
    /// capped by the rule's and the profile's `max_duration`. Zero for a deny.
    pub max_duration: Duration,
}

/// The reason given when no rule matches.
pub const NO_RULE_MATCHED: &str = "no rule matched";

impl PolicyDocument {
    /// Decides the request: the first rule whose conditions all hold decides; when none
    /// does, the answer is deny. Pure: the same request always gets the same decision.
    pub fn evaluate(&self, request: &Request<'_>) -> Decision {
        let matched = self.rules.iter().find(|rule| rule.when.matches(request.caller, request.now));
        let Some(rule) = matched else {
            return Decision {
                effect: Effect::Deny,
                rule: None,
                reason: NO_RULE_MATCHED.to_owned(),
                max_duration: Duration::ZERO,
            };
        };
        let cap = rule.max_duration.map_or(self.max_duration, |rule_cap| rule_cap.min(self.max_duration));
        let max_duration = match rule.effect {
            Effect::Deny => Duration::ZERO,
            Effect::Allow | Effect::RequireApproval => request.requested.map_or(cap, |asked| asked.min(cap)),
        };
        let reason = rule.reason.clone().unwrap_or_else(|| format!("rule {:?} matched ({})", rule.name, rule.effect));
        Decision { effect: rule.effect, rule: Some(rule.name.clone()), reason, max_duration }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use proptest::prelude::*;

    use super::*;
    use crate::policy::document::{Conditions, FormatVersion, Hours, Rule, TimeWindow};
    use crate::policy::subject::PrincipalPattern;

    const HEADER: &str =
        "version: \"1\"\nprofile: dev\nrole_arn: arn:aws:iam::000000000000:role/SentinelProtected-Dev\n";

    fn policy(rules_yaml: &str) -> PolicyDocument {
        PolicyDocument::parse(&format!("{HEADER}{rules_yaml}"), None).unwrap()
    }

    fn iam_user(name: &str) -> Subject {
        Subject {
            principal: format!("arn:aws:iam::111122223333:user/{name}").parse().unwrap(),
            policy_user: Some(name.to_owned()),
        }
    }

    fn assumed(role: &str, session: &str) -> Subject {
        Subject {
            principal: format!("arn:aws:sts::111122223333:assumed-role/{role}/{session}").parse().unwrap(),
            policy_user: None,
        }
    }

    fn noon() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 1, 3, 12, 0, 0).unwrap()
    }

    fn decide(policy: &PolicyDocument, caller: &Subject) -> Decision {
        policy.evaluate(&Request { caller, now: noon(), requested: None })
    }

    #[test]
    fn first_matching_rule_wins() {
        let p = policy(
            "rules:\n  - {name: deny-alice, effect: deny, when: {users: [alice]}}\n  - {name: everyone, effect: allow}\n",
        );
        let d = decide(&p, &iam_user("alice"));
        assert_eq!((d.effect, d.rule.as_deref()), (Effect::Deny, Some("deny-alice")));
        let d = decide(&p, &iam_user("bob"));
        assert_eq!((d.effect, d.rule.as_deref()), (Effect::Allow, Some("everyone")));
    }

    #[test]
    fn no_matching_rule_denies() {
        let p = policy("rules:\n  - {name: alice, effect: allow, when: {users: [alice]}}\n");
        let d = decide(&p, &iam_user("mallory"));
        assert_eq!(d.effect, Effect::Deny);
        assert_eq!(d.rule, None);
        assert_eq!(d.reason, NO_RULE_MATCHED);
        assert_eq!(d.max_duration, Duration::ZERO);
    }

    #[test]
    fn deny_at_the_top_grants_nothing_to_anyone() {
        let p = policy(
            "rules:\n  - {name: freeze, effect: deny}\n  - {name: alice, effect: allow, when: {users: [alice]}}\n",
        );
        for caller in [iam_user("alice"), iam_user("bob"), assumed("Admin", "alice")] {
            assert_eq!(decide(&p, &caller).effect, Effect::Deny);
        }
    }

    #[test]
    fn require_approval_is_not_allow() {
        let p = policy(
            "rules:\n  - {name: prod, effect: require_approval, when: {users: [alice]}}\napprovals: {approvers: [carol], required: 1, window: 4h}\n",
        );
        let d = decide(&p, &iam_user("alice"));
        assert_eq!(d.effect, Effect::RequireApproval);
        assert_ne!(d.effect, Effect::Allow);
    }

    #[test]
    fn user_names_match_exactly_and_case_sensitively() {
        let p = policy("rules:\n  - {name: alice, effect: allow, when: {users: [alice]}}\n");
        assert_eq!(decide(&p, &iam_user("alice")).effect, Effect::Allow);
        assert_eq!(decide(&p, &iam_user("Alice")).effect, Effect::Deny);
        assert_eq!(decide(&p, &iam_user("ALICE")).effect, Effect::Deny);
        assert_eq!(decide(&p, &iam_user("alice2")).effect, Effect::Deny);
        assert_eq!(decide(&p, &iam_user("alic")).effect, Effect::Deny);
    }

    #[test]
    fn users_never_match_a_caller_who_chose_their_name() {
        let p = policy("rules:\n  - {name: alice, effect: allow, when: {users: [alice]}}\n");
        assert_eq!(decide(&p, &assumed("AnyRole", "alice")).effect, Effect::Deny);
    }

    #[test]
    fn principal_patterns_do_not_match_a_longer_arn() {
        let p = policy(
            "rules:\n  - {name: ci, effect: allow, when: {principals: [\"arn:aws:iam::111122223333:user/alice\"]}}\n",
        );
        assert_eq!(decide(&p, &iam_user("alice")).effect, Effect::Allow);
        assert_eq!(decide(&p, &iam_user("alice2")).effect, Effect::Deny);
        assert_eq!(decide(&p, &iam_user("alice/x")).effect, Effect::Deny);
        let other_account = Subject {
            principal: "arn:aws:iam::999988887777:user/alice".parse().unwrap(),
            policy_user: Some("alice".into()),
        };
        assert_eq!(decide(&p, &other_account).effect, Effect::Deny);
    }

    #[test]
    fn principal_globs_match_assumed_roles() {
        let p = policy(
            "rules:\n  - {name: ci, effect: allow, when: {principals: [\"arn:aws:sts::111122223333:assumed-role/CI-*/*\"]}}\n",
        );
        assert_eq!(decide(&p, &assumed("CI-deploy", "run-1")).effect, Effect::Allow);
        assert_eq!(decide(&p, &assumed("ci-deploy", "run-1")).effect, Effect::Deny);
        assert_eq!(decide(&p, &assumed("XCI-deploy", "run-1")).effect, Effect::Deny);
    }

    #[test]
    fn conditions_are_all_required() {
        let p = policy(
            "rules:\n  - name: both\n    effect: allow\n    when:\n      users: [alice]\n      principals: [\"arn:aws:iam::111122223333:user/*\"]\n      time: {days: [wed], hours: {start: \"09:00\", end: \"17:00\"}, timezone: UTC}\n",
        );
        let alice = iam_user("alice");
        assert_eq!(decide(&p, &alice).effect, Effect::Allow);
        let evening =
            Request { caller: &alice, now: Utc.with_ymd_and_hms(2024, 1, 3, 17, 0, 0).unwrap(), requested: None };
        assert_eq!(p.evaluate(&evening).effect, Effect::Deny);
        let alice_in_other_account = Subject {
            principal: "arn:aws:sts::111122223333:assumed-role/Identity/alice".parse().unwrap(),
            policy_user: Some("alice".into()),
        };
        assert_eq!(decide(&p, &alice_in_other_account).effect, Effect::Deny);
    }

    #[test]
    fn granted_duration_is_the_smallest_of_request_rule_and_profile() {
        let p = policy(
            "max_duration: 45m\nrules:\n  - {name: short, effect: allow, when: {users: [alice]}, max_duration: 30m}\n  - {name: rest, effect: allow}\n",
        );
        let alice = iam_user("alice");
        let bob = iam_user("bob");
        let ask = |caller, requested| p.evaluate(&Request { caller, now: noon(), requested }).max_duration;
        assert_eq!(ask(&alice, None), Duration::from_secs(1800));
        assert_eq!(ask(&alice, Some(Duration::from_secs(3600))), Duration::from_secs(1800));
        assert_eq!(ask(&alice, Some(Duration::from_secs(900))), Duration::from_secs(900));
        assert_eq!(ask(&bob, None), Duration::from_secs(2700));
        assert_eq!(ask(&bob, Some(Duration::from_secs(3600))), Duration::from_secs(2700));
    }

    #[test]
    fn decision_reason_is_the_rule_reason_when_given() {
        let p = policy("rules:\n  - {name: a, effect: allow, reason: team access}\n");
        assert_eq!(decide(&p, &iam_user("x")).reason, "team access");
    }

    // ---- properties ----

    fn arb_subject() -> impl Strategy<Value = Subject> {
        let names = prop::sample::select(vec!["alice", "bob", "carol", "Alice", "alice2"]);
        (names, any::<bool>(), any::<bool>()).prop_map(|(name, is_user, has_policy_user)| {
            let principal = if is_user {
                format!("arn:aws:iam::111122223333:user/{name}")
            } else {
                format!("arn:aws:sts::111122223333:assumed-role/Role/{name}")
            };
            Subject { principal: principal.parse().unwrap(), policy_user: has_policy_user.then(|| name.to_owned()) }
        })
    }

    fn arb_conditions() -> impl Strategy<Value = Conditions> {
        let users = prop::option::of(prop::collection::vec(
            prop::sample::select(vec!["alice", "bob", "carol"]).prop_map(str::to_owned),
            1..3,
        ));
        let principals = prop::option::of(prop::collection::vec(
            prop::sample::select(vec![
                "arn:aws:iam::111122223333:user/*",
                "arn:aws:sts::111122223333:assumed-role/Role/*",
                "arn:aws:iam::111122223333:user/alice",
                "arn:*",
            ])
            .prop_map(|p| PrincipalPattern::parse(p).unwrap()),
            1..3,
        ));
        let time = prop::option::of(
            (0u16..24, 1u16..=24, prop::sample::subsequence(chrono_weekdays(), 1..7)).prop_filter_map(
                "empty hours",
                |(start, end, days)| {
                    (start < end).then(|| TimeWindow {
                        days,
                        hours: Hours {
                            start: crate::policy::document::TimeOfDay::new(start, 0).unwrap(),
                            end: crate::policy::document::TimeOfDay::new(end, 0).unwrap(),
                        },
                        timezone: chrono_tz::Europe::Berlin,
                    })
                },
            ),
        );
        (users, principals, time).prop_map(|(users, principals, time)| Conditions { users, principals, time })
    }

    fn chrono_weekdays() -> Vec<chrono::Weekday> {
        use chrono::Weekday::*;
        vec![Mon, Tue, Wed, Thu, Fri, Sat, Sun]
    }

    fn arb_effect() -> impl Strategy<Value = Effect> {
        prop::sample::select(vec![Effect::Allow, Effect::Deny, Effect::RequireApproval])
    }

    fn arb_rules() -> impl Strategy<Value = Vec<Rule>> {
        prop::collection::vec((arb_effect(), arb_conditions()), 0..6).prop_map(|rules| {
            rules
                .into_iter()
                .enumerate()
                .map(|(i, (effect, when))| Rule {
                    name: format!("r{i}"),
                    effect,
                    when,
                    max_duration: None,
                    reason: None,
                })
                .collect()
        })
    }

    fn document(rules: Vec<Rule>) -> PolicyDocument {
        PolicyDocument {
            version: FormatVersion::V1,
            profile: "dev".parse().unwrap(),
            role_arn: "arn:aws:iam::000000000000:role/SentinelProtected-Dev".parse().unwrap(),
            max_duration: Duration::from_secs(3600),
            max_session: Duration::from_secs(8 * 3600),
            rules,
            approvals: None,
            break_glass: None,
            revokers: Vec::new(),
            source: String::new(),
        }
    }

    fn arb_instant() -> impl Strategy<Value = DateTime<Utc>> {
        // Two years around 2024, to cross DST changes and every weekday.
        (1_700_000_000i64..1_760_000_000, 0u32..1_000_000_000)
            .prop_filter_map("valid instant", |(secs, nanos)| DateTime::from_timestamp(secs, nanos))
    }

    proptest! {
        #[test]
        fn evaluation_is_deterministic(rules in arb_rules(), caller in arb_subject(), now in arb_instant()) {
            let p = document(rules);
            let request = Request { caller: &caller, now, requested: None };
            prop_assert_eq!(p.evaluate(&request), p.evaluate(&request));
        }

        #[test]
        fn prepending_a_deny_never_grants_more(
            rules in arb_rules(),
            deny_when in arb_conditions(),
            caller in arb_subject(),
            now in arb_instant(),
        ) {
            let before = document(rules.clone());
            let mut with_deny = rules;
            with_deny.insert(0, Rule { name: "prepended-deny".into(), effect: Effect::Deny, when: deny_when, max_duration: None, reason: None });
            let after = document(with_deny);
            let request = Request { caller: &caller, now, requested: None };
            let (old, new) = (before.evaluate(&request), after.evaluate(&request));
            if new.effect == Effect::Allow {
                prop_assert_eq!(old.effect, Effect::Allow);
            }
            if new.effect == Effect::RequireApproval {
                prop_assert_eq!(old.effect, Effect::RequireApproval);
            }
            prop_assert!(new.max_duration <= old.max_duration);
        }

        #[test]
        fn a_policy_where_no_rule_matches_never_allows(rules in arb_rules(), caller in arb_subject(), now in arb_instant()) {
            // Restrict every rule to a user the caller is not, so none can match.
            let rules = rules.into_iter().map(|mut rule| {
                rule.when.users = Some(vec!["nobody-matches-this".into()]);
                rule
            }).collect();
            let p = document(rules);
            let d = p.evaluate(&Request { caller: &caller, now, requested: Some(Duration::from_secs(3600)) });
            prop_assert_eq!(d.effect, Effect::Deny);
            prop_assert_eq!(d.rule, None);
            prop_assert_eq!(d.max_duration, Duration::ZERO);
        }

        #[test]
        fn unmatched_requests_are_always_denied(rules in arb_rules(), caller in arb_subject(), now in arb_instant()) {
            let d = document(rules).evaluate(&Request { caller: &caller, now, requested: None });
            if d.rule.is_none() {
                prop_assert_eq!(d.effect, Effect::Deny);
            }
        }
    }
}
