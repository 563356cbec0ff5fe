//! Views equal the fold of the ledger however Lambda delivers the stream: duplicated, split
//! into batches, reordered across and within streams, with gaps filled later, and with failed
//! records retried from the first failure as Lambda does.

use ledger::event::Effect;
use ledger::{ApprovalId, BreakGlassId, SessionId, StreamKey};
use projections::fold_ledger;
use projections::rebuild::{rebuild, Mode};
use projections::store::ViewStore;
use projections::testkit::*;
use proptest::prelude::*;

use crate::support::{deps, event, record};

/// What one generated stream does.
#[derive(Debug, Clone)]
enum Script {
    Session { allow: bool, refreshes: u8, end: u8, forged: bool },
    Approval { required: u32, grants: Vec<u8>, end: u8 },
    BreakGlass { end: u8 },
    Policy { versions: u8 },
}

fn script() -> impl Strategy<Value = Script> {
    prop_oneof![
        (any::<bool>(), 0u8..3, 0u8..3, any::<bool>()).prop_map(|(allow, refreshes, end, forged)| Script::Session {
            allow,
            refreshes,
            end,
            forged
        }),
        (1u32..3, prop::collection::vec(0u8..3, 0..4), 0u8..4).prop_map(|(required, grants, end)| Script::Approval {
            required,
            grants,
            end
        }),
        (0u8..3).prop_map(|end| Script::BreakGlass { end }),
        (1u8..4).prop_map(|versions| Script::Policy { versions }),
    ]
}

/// The events of each script, as (stream, event, actor) steps.
fn steps(script: &Script) -> (StreamKey, Vec<(ledger::Event, ledger::Actor)>) {
    let approvers = ["carol", "dave", "erin"];
    match script {
        Script::Session { allow, refreshes, end, forged } => {
            let mut s: Vec<(ledger::Event, ledger::Actor)> = vec![
                (requested("alice", "dev").into(), actor("alice")),
                (decided(if *allow { Effect::Allow } else { Effect::Deny }).into(), actor("alice")),
            ];
            if *allow {
                s.push((issued(15, 480).into(), actor("alice")));
                for r in 0..*refreshes {
                    s.push((refreshed(75 + i64::from(r) * 60).into(), actor("alice")));
                }
                match end {
                    1 => s.push((revoked("secops").into(), actor("secops"))),
                    2 => s.push((session_expired().into(), ledger::Actor::System)),
                    _ => {}
                }
            }
            if *forged {
                s.push((issued(20, 480).into(), actor("mallory")));
            }
            (StreamKey::Session(SessionId::generate()), s)
        }
        Script::Approval { required, grants, end } => {
            let mut s: Vec<(ledger::Event, ledger::Actor)> =
                vec![(approval_requested("alice", "prod", *required, 240).into(), actor("alice"))];
            for g in grants {
                let who = approvers[usize::from(*g)];
                s.push((granted(who).into(), actor(who)));
            }
            match end {
                1 => s.push((denied("carol").into(), actor("carol"))),
                2 => s.push((cancelled("alice").into(), actor("alice"))),
                3 => s.push((approval_expired().into(), ledger::Actor::System)),
                _ => {}
            }
            (StreamKey::Approval(ApprovalId::generate()), s)
        }
        Script::BreakGlass { end } => {
            let mut s: Vec<(ledger::Event, ledger::Actor)> =
                vec![(break_glass_invoked("oncall", "prod", 60).into(), actor("oncall"))];
            match end {
                1 => s.push((break_glass_closed("oncall").into(), actor("oncall"))),
                2 => s.push((break_glass_expired().into(), ledger::Actor::System)),
                _ => {}
            }
            (StreamKey::BreakGlass(BreakGlassId::generate()), s)
        }
        Script::Policy { versions } => {
            let s = (0..*versions).map(|v| (policy_published("prod", u32::from(v)).into(), actor("secops"))).collect();
            // Two policy scripts may share the profile: they then write one longer stream.
            (StreamKey::Policy(profile(&format!("prod{versions}"))), s)
        }
    }
}

/// Interleaves the scripts' events round-robin, as concurrent writers would.
fn build(scripts: &[Script]) -> LedgerBuilder {
    let mut b = LedgerBuilder::new();
    let mut queues: Vec<(StreamKey, std::collections::VecDeque<(ledger::Event, ledger::Actor)>)> =
        scripts.iter().map(steps).map(|(k, s)| (k, s.into())).collect();
    while queues.iter().any(|(_, q)| !q.is_empty()) {
        for (key, q) in &mut queues {
            if let Some((e, a)) = q.pop_front() {
                b.append(key, e, a);
            }
        }
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn views_equal_the_fold_of_the_ledger_however_the_stream_is_delivered(
        scripts in prop::collection::vec(script(), 1..6),
        picks in prop::collection::vec((0u16..1000, 1usize..6), 0..60),
        failing in prop::collection::vec(0usize..40, 0..4),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(async {
            let b = build(&scripts);
            let events = b.events();
            // Random picks (duplicates, any order), then every stream's last event, which
            // Lambda delivers eventually: earlier gaps are filled from the ledger.
            let mut delivery: Vec<usize> = picks.iter().map(|(p, _)| usize::from(*p) * events.len() / 1000).collect();
            let mut last = std::collections::BTreeMap::new();
            for (i, e) in events.iter().enumerate() {
                last.insert(e.stream.clone(), i);
            }
            delivery.extend(last.values());
            let records: Vec<_> = delivery.iter().enumerate().map(|(n, i)| record(&events[*i], n as u64)).collect();

            let (deps, views) = deps(events, failing).await;
            let mut sizes = picks.iter().map(|(_, size)| *size).cycle();
            let mut next = 0;
            let mut rounds = 0;
            while next < records.len() {
                rounds += 1;
                prop_assert!(rounds < 1_000, "delivery does not make progress");
                let size = sizes.next().unwrap_or(3);
                let batch: Vec<_> = records[next..(next + size).min(records.len())].to_vec();
                let sent = batch.len();
                let response = projector::handle(&deps, event(batch.clone())).await;
                match response.batch_item_failures.first() {
                    None => next += sent,
                    Some(first) => {
                        // The failure and everything after it, exactly; Lambda retries from there.
                        let at = batch.iter().position(|r| r.change.sequence_number == first.item_identifier).unwrap();
                        prop_assert_eq!(response.batch_item_failures.len(), sent - at);
                        next += at;
                    }
                }
            }
            let expected = fold_ledger(events);
            prop_assert!(expected.broken.is_empty());
            prop_assert_eq!(&views.dump().await.unwrap(), &expected.views);
            let report = rebuild(events, views.as_ref(), Mode::Check).await.unwrap();
            prop_assert!(report.is_clean(), "{:?}", report);
            Ok(())
        })?;
    }
}
