//! Fold throughput: decoded events folded into projections (the projector's and the view + tail
//! reader's CPU work), and the full rebuild path (verify the chain, decode, fold, audit rows).

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ledger::event::Effect;
use ledger::{ApprovalId, RecordedEvent, SessionId, StreamKey};
use projections::testkit::*;
use projections::{fold_ledger, Projection};

/// 1,000 sessions of 6 events and 250 approvals of 4 events: 7,000 events.
fn ledger() -> LedgerBuilder {
    let mut b = LedgerBuilder::new();
    for i in 0..1_000 {
        let s = StreamKey::Session(SessionId::generate());
        b.append(&s, requested("alice", "dev"), actor("alice"));
        b.append(&s, decided(Effect::Allow), actor("alice"));
        b.append(&s, issued(15, 480), actor("alice"));
        b.append(&s, refreshed(75), actor("alice"));
        b.append(&s, refreshed(135), actor("alice"));
        if i % 2 == 0 {
            b.append(&s, revoked("secops"), actor("secops"));
        } else {
            b.append(&s, session_expired(), ledger::Actor::System);
        }
    }
    for _ in 0..250 {
        let a = StreamKey::Approval(ApprovalId::generate());
        b.append(&a, approval_requested("alice", "prod", 2, 240), actor("alice"));
        b.append(&a, granted("carol"), actor("carol"));
        b.append(&a, granted("dave"), actor("dave"));
        b.append(&a, cancelled("alice"), actor("alice"));
    }
    b
}

fn fold(c: &mut Criterion) {
    let b = ledger();
    let stored = b.events().to_vec();
    let mut recorded: Vec<RecordedEvent> = stored.iter().map(|e| e.decode().expect("decodes")).collect();
    recorded.sort_by(|x, y| (&x.stream, x.seq).cmp(&(&y.stream, y.seq)));
    let mut group = c.benchmark_group("projections");
    group.throughput(Throughput::Elements(recorded.len() as u64));
    group.bench_function("fold_decoded_events", |bench| {
        bench.iter_batched(
            || recorded.clone(),
            |events| {
                let mut current: Option<Projection> = None;
                let mut done = Vec::with_capacity(1_250);
                for e in &events {
                    let p = match current.as_mut() {
                        Some(p) if p.stream == e.stream => p,
                        _ => {
                            done.extend(current.take());
                            current.insert(Projection::empty(e.stream.clone()))
                        }
                    };
                    p.apply(e).expect("in order");
                }
                done.extend(current);
                done
            },
            BatchSize::LargeInput,
        )
    });
    group.bench_function("rebuild_verify_decode_fold", |bench| bench.iter(|| fold_ledger(&stored)));
    group.finish();
}

criterion_group!(benches, fold);
criterion_main!(benches);
