//! Invariants of the session, approval and break-glass deciders under random command
//! sequences, with `now` moving forward: given the history recorded so far, when a command is
//! decided, then the answer never breaks the rules of the stream.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

use ledger::decide::approval::{ApprovalCommand, ApprovalState, ApprovalStatus};
use ledger::decide::breakglass::{BreakGlassCommand, BreakGlassState, BreakGlassStatus};
use ledger::decide::session::{SessionCommand, SessionState, SessionStatus};
use ledger::event::*;
use ledger::{Aggregate, DomainError, PrincipalArn, Profile};

// ---------------------------------------------------------------------------------------------
// Given / when / then over a whole script.
// ---------------------------------------------------------------------------------------------

/// One decision of a script.
#[derive(Debug)]
struct Step<A: Aggregate> {
    /// Given: the events recorded before the command, and the state they fold to.
    history: Vec<Event>,
    given: A,
    /// When: the command, decided at `at`.
    when: A::Command,
    at: DateTime<Utc>,
    /// Then: the decider's answer, and the state once its events are recorded.
    then: Result<Vec<Event>, DomainError>,
    after: A,
}

impl<A: Aggregate> Step<A> {
    fn produced(&self) -> &[Event] {
        self.then.as_deref().unwrap_or(&[])
    }

    /// The history once this step's events are recorded.
    fn recorded(&self) -> impl Iterator<Item = &Event> {
        self.history.iter().chain(self.produced())
    }
}

/// Decides every command in turn at its instant, recording what each one produces.
fn run<A: Aggregate>(script: Vec<(DateTime<Utc>, A::Command)>) -> Vec<Step<A>> {
    let mut history: Vec<Event> = Vec::new();
    let mut state = A::default();
    let mut steps = Vec::with_capacity(script.len());
    for (at, command) in script {
        let then = state.decide(&command, at);
        let after = then.iter().flatten().fold(state.clone(), |s, e| s.evolve(e));
        steps.push(Step {
            history: history.clone(),
            given: state,
            when: command,
            at,
            then: then.clone(),
            after: after.clone(),
        });
        history.extend(then.unwrap_or_default());
        state = after;
    }
    steps
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 9, 0, 0).unwrap()
}

/// Turns `(minutes to wait, plan)` pairs into commands at a clock that only moves forward.
fn timed<P, C>(plans: &[(i64, P)], command: impl Fn(&P, DateTime<Utc>) -> C) -> Vec<(DateTime<Utc>, C)> {
    let mut now = t0();
    plans
        .iter()
        .map(|(wait, plan)| {
            now += Duration::minutes(*wait);
            (now, command(plan, now))
        })
        .collect()
}

/// Waits between commands: often none (same instant), sometimes long.
fn wait() -> impl Strategy<Value = i64> {
    prop_oneof![1 => Just(0i64), 4 => 1i64..=45, 1 => 45i64..=600]
}

/// A script whose first plan is usually `first` (so most scripts get somewhere).
fn script<P: std::fmt::Debug + Clone + 'static>(
    first: impl Strategy<Value = P> + 'static,
    any: impl Strategy<Value = P> + Clone + 'static,
) -> impl Strategy<Value = Vec<(i64, P)>> {
    let opening = prop_oneof![9 => first.boxed(), 1 => any.clone().boxed()];
    ((Just(0i64), opening), vec((wait(), any), 0..24)).prop_map(|(head, mut tail)| {
        tail.insert(0, head);
        tail
    })
}

const PEOPLE: [&str; 5] = ["alice", "bob", "carol", "dave", "erin"];

fn person(i: usize) -> PrincipalArn {
    format!("arn:aws:iam::111122223333:user/{}", PEOPLE[i % PEOPLE.len()]).parse().unwrap()
}

fn profiles() -> [Profile; 2] {
    ["prod".parse().unwrap(), "dev".parse().unwrap()]
}

// ---------------------------------------------------------------------------------------------
// Session.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum SessionPlan {
    /// Minutes from now at which the credentials expire and the session ends (may be invalid).
    Open {
        effect: Effect,
        issue: bool,
        expires_in: i64,
        ends_in: i64,
    },
    Refresh {
        expires_in: i64,
    },
    Revoke,
    Expire,
}

fn session_open() -> impl Strategy<Value = SessionPlan> + Clone {
    let effect = prop_oneof![3 => Just(Effect::Allow), 1 => Just(Effect::Deny), 1 => Just(Effect::RequireApproval)];
    (effect, prop::bool::weighted(0.8), -5i64..=120, -5i64..=600)
        .prop_map(|(effect, issue, expires_in, ends_in)| SessionPlan::Open { effect, issue, expires_in, ends_in })
}

fn session_plan() -> impl Strategy<Value = SessionPlan> + Clone {
    prop_oneof![
        1 => session_open(),
        5 => (-5i64..=120).prop_map(|expires_in| SessionPlan::Refresh { expires_in }),
        1 => Just(SessionPlan::Revoke),
        1 => Just(SessionPlan::Expire),
    ]
}

fn session_command(plan: &SessionPlan, now: DateTime<Utc>) -> SessionCommand {
    let alice = person(0);
    match *plan {
        SessionPlan::Open { effect, issue, expires_in, ends_in } => SessionCommand::Open {
            request: CredentialsRequested {
                principal: alice,
                user_id: Some("AIDA3XFRBF23EXAMPLE7Q".into()),
                profile: "dev".parse().unwrap(),
                requested_duration_seconds: Some(3600),
                reason: None,
            },
            decision: AccessDecided {
                effect,
                rule: Some("developers".into()),
                reason: "matched".into(),
                basis: Basis::Policy,
                policy_hash: None,
            },
            issued: issue.then(|| CredentialsIssued {
                role_arn: "arn:aws:iam::111122223333:role/SentinelProtected-Dev".parse().unwrap(),
                source_identity: "alice".into(),
                role_session_name: "sentinel-alice".into(),
                access_key_id: "ASIA3XFRBF23EXAMPLE1".into(),
                expiration: now + Duration::minutes(expires_in),
                session_ends_at: now + Duration::minutes(ends_in),
                token_hash: "ab".repeat(32),
            }),
        },
        SessionPlan::Refresh { expires_in } => SessionCommand::Refresh(CredentialsRefreshed {
            access_key_id: "ASIA3XFRBF23EXAMPLE2".into(),
            expiration: now + Duration::minutes(expires_in),
            basis: Basis::Policy,
        }),
        SessionPlan::Revoke => {
            SessionCommand::Revoke(SessionRevoked { by: person(3), reason: "laptop reported stolen".into() })
        }
        SessionPlan::Expire => SessionCommand::Expire,
    }
}

fn session_run(plans: &[(i64, SessionPlan)]) -> Vec<Step<SessionState>> {
    run(timed(plans, session_command))
}

fn is_credentials(e: &Event) -> bool {
    matches!(e, Event::CredentialsIssued(_) | Event::CredentialsRefreshed(_))
}

fn ends_session(e: &Event) -> bool {
    matches!(e, Event::SessionRevoked(_) | Event::SessionExpired(_))
}

fn session_ends_at(state: &SessionState) -> Option<DateTime<Utc>> {
    match state {
        SessionState::Active(s) | SessionState::Expired(s) | SessionState::Revoked { session: s, .. } => {
            Some(s.issued.session_ends_at)
        }
        SessionState::Unknown | SessionState::Decided { .. } => None,
    }
}

proptest! {
    #[test]
    fn no_credentials_are_issued_or_refreshed_once_a_session_is_revoked_or_expired(
        plans in script(session_open(), session_plan())
    ) {
        for step in session_run(&plans) {
            let ended = step.history.iter().any(ends_session)
                || matches!(step.given.status_at(step.at), Some(SessionStatus::Revoked | SessionStatus::Expired));
            if ended {
                prop_assert!(!step.produced().iter().any(is_credentials), "{:#?}", step);
            }
            if step.history.iter().any(ends_session) {
                prop_assert_ne!(step.after.status_at(step.at), Some(SessionStatus::Active), "{:#?}", step);
            }
        }
    }

    #[test]
    fn credentials_are_issued_only_after_an_allow_decision(plans in script(session_open(), session_plan())) {
        for step in session_run(&plans) {
            let mut decision = None;
            let mut issued = false;
            for event in step.recorded() {
                match event {
                    Event::AccessDecided(d) => decision = Some(d.effect),
                    Event::CredentialsIssued(_) => {
                        prop_assert_eq!(decision, Some(Effect::Allow), "{:#?}", step);
                        prop_assert!(!issued, "issued twice: {:#?}", step);
                        issued = true;
                    }
                    Event::CredentialsRefreshed(_) => prop_assert!(issued, "refreshed before issuance: {:#?}", step),
                    _ => {}
                }
            }
        }
    }

    #[test]
    fn credentials_never_outlive_the_session_and_are_never_refreshed_past_its_end(
        plans in script(session_open(), session_plan())
    ) {
        for step in session_run(&plans) {
            for event in step.produced() {
                let ends_at = || session_ends_at(&step.after).expect("credentials belong to a session");
                match event {
                    Event::CredentialsIssued(i) => {
                        prop_assert!(step.at < i.expiration && i.expiration <= ends_at(), "{:#?}", step);
                    }
                    Event::CredentialsRefreshed(r) => {
                        prop_assert!(step.at < ends_at(), "refreshed at or after the session end: {:#?}", step);
                        prop_assert!(r.expiration <= ends_at(), "{:#?}", step);
                    }
                    _ => {}
                }
            }
        }
    }

    #[test]
    fn every_accepted_session_command_changes_the_session(plans in script(session_open(), session_plan())) {
        for step in session_run(&plans) {
            if step.then.is_ok() {
                prop_assert_ne!(&step.after, &step.given, "decide and evolve disagree: {:#?}", step);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Approval.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum ApprovalPlan {
    /// `window`: minutes from now until the request expires (may be invalid).
    Request {
        requester: usize,
        required: u32,
        window: i64,
    },
    Approve(usize),
    Deny(usize),
    Cancel(usize),
    Expire,
}

fn approval_request() -> impl Strategy<Value = ApprovalPlan> + Clone {
    (prop_oneof![3 => Just(0usize), 1 => 0..PEOPLE.len()], 0u32..=3, -10i64..=240)
        .prop_map(|(requester, required, window)| ApprovalPlan::Request { requester, required, window })
}

fn approval_plan() -> impl Strategy<Value = ApprovalPlan> + Clone {
    let who = 0..PEOPLE.len();
    prop_oneof![
        1 => approval_request(),
        6 => who.clone().prop_map(ApprovalPlan::Approve),
        1 => who.clone().prop_map(ApprovalPlan::Deny),
        1 => who.prop_map(ApprovalPlan::Cancel),
        1 => Just(ApprovalPlan::Expire),
    ]
}

fn approval_command(plan: &ApprovalPlan, now: DateTime<Utc>) -> ApprovalCommand {
    match *plan {
        ApprovalPlan::Request { requester, required, window } => ApprovalCommand::Request(ApprovalRequested {
            requester: person(requester),
            profile: "prod".parse().unwrap(),
            justification: "apply migration 0042".into(),
            duration_seconds: 3600,
            expires_at: now + Duration::minutes(window),
            required,
        }),
        ApprovalPlan::Approve(who) => ApprovalCommand::Approve(
            ApprovalGranted { approver: person(who), comment: Some("ok".into()), usable_until: None },
            None,
        ),
        ApprovalPlan::Deny(who) => ApprovalCommand::Deny(ApprovalDenied { approver: person(who), comment: None }, None),
        ApprovalPlan::Cancel(who) => ApprovalCommand::Cancel(ApprovalCancelled { by: person(who) }, None),
        ApprovalPlan::Expire => ApprovalCommand::Expire,
    }
}

fn approval_run(plans: &[(i64, ApprovalPlan)]) -> Vec<Step<ApprovalState>> {
    run(timed(plans, approval_command))
}

fn recorded_status(state: &ApprovalState) -> Option<ApprovalStatus> {
    match state {
        ApprovalState::Unknown => None,
        ApprovalState::Known(r) => Some(r.status),
    }
}

fn is_terminal(status: Option<ApprovalStatus>) -> bool {
    matches!(
        status,
        Some(ApprovalStatus::Denied | ApprovalStatus::Cancelled | ApprovalStatus::Revoked | ApprovalStatus::Expired)
    )
}

fn ends_approval(e: &Event) -> bool {
    matches!(
        e,
        Event::ApprovalDenied(_) | Event::ApprovalCancelled(_) | Event::ApprovalRevoked(_) | Event::ApprovalExpired(_)
    )
}

proptest! {
    #[test]
    fn an_approval_reaches_at_most_one_terminal_outcome(plans in script(approval_request(), approval_plan())) {
        use ApprovalStatus::*;
        for step in approval_run(&plans) {
            let (before, after) = (recorded_status(&step.given), recorded_status(&step.after));
            if is_terminal(before) {
                prop_assert!(step.then.is_err(), "a decided request accepted more: {:#?}", step);
            }
            if before == Some(Approved) {
                prop_assert!(
                    step.produced().iter().all(|e| matches!(
                        e,
                        Event::ApprovalCancelled(_) | Event::ApprovalRevoked(_) | Event::ApprovalExpired(_)
                    )),
                    "an approved request can only be cancelled, revoked or expire: {:#?}", step
                );
            }
            let allowed = match before {
                None => matches!(after, None | Some(Pending)),
                Some(Pending) => true,
                Some(Approved) => matches!(after, Some(Approved | Cancelled | Revoked | Expired)),
                terminal => after == terminal,
            };
            prop_assert!(allowed, "{:?} -> {:?}: {:#?}", before, after, step);
            prop_assert!(step.recorded().filter(|e| ends_approval(e)).count() <= 1, "{:#?}", step);
        }
    }

    #[test]
    fn a_requester_never_counts_as_an_approver(plans in script(approval_request(), approval_plan())) {
        for step in approval_run(&plans) {
            let ApprovalState::Known(record) = &step.after else { continue };
            let requester = &record.request.requester;
            prop_assert!(!record.approvers.iter().any(|a| &a.principal == requester), "{:#?}", step);
            let by_requester = match &step.when {
                ApprovalCommand::Approve(ApprovalGranted { approver, .. }, _)
                | ApprovalCommand::Deny(ApprovalDenied { approver, .. }, _) => approver == requester,
                _ => false,
            };
            if by_requester && matches!(step.given, ApprovalState::Known(_)) {
                prop_assert_eq!(step.then.clone(), Err(DomainError::SelfApproval), "{:#?}", step);
            }
            for event in step.produced() {
                match event {
                    Event::ApprovalGranted(ApprovalGranted { approver, .. })
                    | Event::ApprovalDenied(ApprovalDenied { approver, .. }) => {
                        prop_assert_ne!(approver, requester, "{:#?}", step);
                    }
                    _ => {}
                }
            }
        }
    }

    #[test]
    fn an_approval_is_approved_exactly_when_enough_distinct_approvers_granted(
        plans in script(approval_request(), approval_plan())
    ) {
        for step in approval_run(&plans) {
            let ApprovalState::Known(record) = &step.after else { continue };
            // The model: distinct approvers, in the order of their first grant.
            let mut distinct: Vec<&PrincipalArn> = Vec::new();
            for event in step.recorded() {
                if let Event::ApprovalGranted(g) = event {
                    if !distinct.contains(&&g.approver) {
                        distinct.push(&g.approver);
                    }
                }
            }
            prop_assert_eq!(record.approvers.iter().map(|a| &a.principal).collect::<Vec<_>>(), distinct.clone(), "{:#?}", step);
            let enough = distinct.len() >= record.request.required as usize;
            if !step.recorded().any(ends_approval) {
                prop_assert_eq!(record.status == ApprovalStatus::Approved, enough, "{:#?}", step);
            }
            // Once approved, no grant is accepted: the quorum is met exactly.
            prop_assert!(distinct.len() <= record.request.required as usize, "{:#?}", step);
        }
    }

    #[test]
    fn no_grant_or_denial_is_accepted_once_the_window_has_ended(plans in script(approval_request(), approval_plan())) {
        for step in approval_run(&plans) {
            let ApprovalState::Known(record) = &step.given else { continue };
            if step.at >= record.ends_at() {
                prop_assert!(
                    step.produced().iter().all(|e| matches!(e, Event::ApprovalExpired(_))),
                    "{:#?}", step
                );
                let requester = ledger::Who { principal: record.request.requester.clone(), person: None };
                prop_assert!(!step.after.grants(&requester, &record.request.profile, step.at));
            }
        }
    }

    #[test]
    fn every_accepted_approval_command_changes_the_request(plans in script(approval_request(), approval_plan())) {
        for step in approval_run(&plans) {
            if step.then.is_ok() {
                prop_assert_ne!(&step.after, &step.given, "decide and evolve disagree: {:#?}", step);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Break-glass.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum BreakGlassPlan {
    /// `window`: minutes from now until the break-glass expires (may be invalid).
    Invoke {
        invoker: usize,
        profile: usize,
        window: i64,
    },
    Close(usize),
    Expire,
}

fn break_glass_invoke() -> impl Strategy<Value = BreakGlassPlan> + Clone {
    (0..PEOPLE.len(), 0usize..2, -10i64..=180).prop_map(|(invoker, profile, window)| BreakGlassPlan::Invoke {
        invoker,
        profile,
        window,
    })
}

fn break_glass_plan() -> impl Strategy<Value = BreakGlassPlan> + Clone {
    prop_oneof![
        1 => break_glass_invoke(),
        2 => (0..PEOPLE.len()).prop_map(BreakGlassPlan::Close),
        1 => Just(BreakGlassPlan::Expire),
    ]
}

fn break_glass_command(plan: &BreakGlassPlan, now: DateTime<Utc>) -> BreakGlassCommand {
    match *plan {
        BreakGlassPlan::Invoke { invoker, profile, window } => BreakGlassCommand::Invoke(BreakGlassInvoked {
            invoker: person(invoker),
            profile: profiles()[profile].clone(),
            reason_code: "incident".into(),
            justification: "SEV1: checkout is down".into(),
            duration_seconds: 3600,
            expires_at: now + Duration::minutes(window),
        }),
        BreakGlassPlan::Close(who) => {
            BreakGlassCommand::Close(BreakGlassClosed { by: person(who), reason: "resolved".into(), session_id: None })
        }
        BreakGlassPlan::Expire => BreakGlassCommand::Expire,
    }
}

fn break_glass_run(plans: &[(i64, BreakGlassPlan)]) -> Vec<Step<BreakGlassState>> {
    run(timed(plans, break_glass_command))
}

fn ends_break_glass(e: &Event) -> bool {
    matches!(e, Event::BreakGlassClosed(_) | Event::BreakGlassExpired(_))
}

proptest! {
    #[test]
    fn nothing_is_accepted_once_a_break_glass_is_closed_or_expired(
        plans in script(break_glass_invoke(), break_glass_plan())
    ) {
        for step in break_glass_run(&plans) {
            if step.history.iter().any(ends_break_glass) {
                prop_assert!(step.then.is_err(), "{:#?}", step);
            }
            if step.given.status_at(step.at) == Some(BreakGlassStatus::Expired) {
                // Past its expiry, the only thing left to do is record that it expired.
                prop_assert!(
                    step.produced().iter().all(|e| matches!(e, Event::BreakGlassExpired(_))),
                    "{:#?}", step
                );
            }
            prop_assert!(step.recorded().filter(|e| ends_break_glass(e)).count() <= 1, "{:#?}", step);
            prop_assert!(step.recorded().filter(|e| matches!(e, Event::BreakGlassInvoked(_))).count() <= 1);
        }
    }

    #[test]
    fn a_closed_or_expired_break_glass_covers_no_one(plans in script(break_glass_invoke(), break_glass_plan())) {
        for step in break_glass_run(&plans) {
            let BreakGlassState::Known { invoked, .. } = &step.after else { continue };
            let ended = step.recorded().any(ends_break_glass);
            for later in [0, 1, 59, 600, 100_000] {
                let t = step.at + Duration::minutes(later);
                for (who, _) in PEOPLE.iter().enumerate() {
                    for profile in profiles() {
                        let covered = step.after.covers(&ledger::Who { principal: person(who), person: None }, &profile, t);
                        let expected = !ended
                            && t < invoked.expires_at
                            && person(who) == invoked.invoker
                            && profile == invoked.profile;
                        prop_assert_eq!(covered, expected, "{} at +{}m on {}: {:#?}", PEOPLE[who], later, profile, step);
                    }
                }
            }
        }
    }

    #[test]
    fn every_accepted_break_glass_command_changes_the_break_glass(
        plans in script(break_glass_invoke(), break_glass_plan())
    ) {
        for step in break_glass_run(&plans) {
            if step.then.is_ok() {
                prop_assert_ne!(&step.after, &step.given, "decide and evolve disagree: {:#?}", step);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The scripts are not vacuous: they reach every event and hit refusals after every ending.
// ---------------------------------------------------------------------------------------------

/// The wire types produced, and whether any command was refused after `ended`, over many
/// generated scripts.
fn explore<P, A: Aggregate>(
    strategy: impl Strategy<Value = Vec<(i64, P)>>,
    run: impl Fn(&[(i64, P)]) -> Vec<Step<A>>,
    ended: fn(&Event) -> bool,
) -> (BTreeSet<&'static str>, bool) {
    let mut runner = TestRunner::deterministic();
    let mut produced = BTreeSet::new();
    let mut refused_after_end = false;
    for _ in 0..400 {
        let plans = strategy.new_tree(&mut runner).unwrap().current();
        for step in run(&plans) {
            produced.extend(step.produced().iter().map(Event::wire_type));
            refused_after_end |= step.then.is_err() && step.history.iter().any(ended);
        }
    }
    (produced, refused_after_end)
}

#[test]
fn generated_session_scripts_reach_every_session_event_and_refusals_after_the_end() {
    let (produced, refused) = explore(script(session_open(), session_plan()), session_run, ends_session);
    let all: BTreeSet<&str> = [
        "CredentialsRequested",
        "AccessDecided",
        "CredentialsIssued",
        "CredentialsRefreshed",
        "SessionRevoked",
        "SessionExpired",
    ]
    .into();
    assert_eq!(produced, all);
    assert!(refused);
}

#[test]
fn generated_approval_scripts_reach_every_approval_event_and_refusals_after_the_end() {
    let (produced, refused) = explore(script(approval_request(), approval_plan()), approval_run, ends_approval);
    let all: BTreeSet<&str> =
        ["ApprovalRequested", "ApprovalGranted", "ApprovalDenied", "ApprovalCancelled", "ApprovalExpired"].into();
    assert_eq!(produced, all);
    assert!(refused);
}

#[test]
fn generated_break_glass_scripts_reach_every_break_glass_event_and_refusals_after_the_end() {
    let (produced, refused) =
        explore(script(break_glass_invoke(), break_glass_plan()), break_glass_run, ends_break_glass);
    let all: BTreeSet<&str> = ["BreakGlassInvoked", "BreakGlassClosed", "BreakGlassExpired"].into();
    assert_eq!(produced, all);
    assert!(refused);
}
