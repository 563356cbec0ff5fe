//! The pure fold: views mirror the deciders' states, absorb forged events, and audit every event.

use ledger::decide::approval::ApprovalStatus;
use ledger::decide::breakglass::BreakGlassStatus;
use ledger::decide::session::{SessionState, SessionStatus};
use ledger::event::Effect;
use ledger::{Aggregate, ApprovalId, BreakGlassId, SessionId, StreamKey};
use projections::fold_ledger;
use projections::testkit::*;

#[test]
fn a_session_view_holds_what_the_decider_holds_plus_when_it_happened() {
    let mut b = LedgerBuilder::new();
    let s = StreamKey::Session(SessionId::generate());
    b.append(&s, requested("alice", "dev"), actor("alice"));
    b.append(&s, decided(Effect::Allow), actor("alice"));
    b.append(&s, issued(15, 480), actor("alice"));
    let refresh = b.append(&s, refreshed(75), actor("alice"));
    let folded = fold_ledger(b.events());
    assert!(folded.broken.is_empty());
    let p = &folded.views.projections[&s.to_string()];
    let view = p.session().expect("a session view");
    assert_eq!(view.status, Some(SessionStatus::Active));
    assert_eq!(view.principal(), &arn("alice"));
    assert_eq!(view.token_hash(), Some("ab".repeat(32).as_str()));
    assert_eq!(view.refreshes, 1);
    assert_eq!(view.credentials_expire_at, Some(at(75)));
    assert_eq!(view.last_refresh_at, Some(at(3)));
    assert_eq!(view.issued_at, Some(at(2)));
    assert_eq!((p.head.seq, p.head.hash.as_str()), (4, refresh.hash.as_str()));
    let decoded: Vec<_> = b.events().iter().map(|e| e.decode().unwrap().event).collect();
    assert_eq!(view.state().unwrap(), SessionState::fold(&decoded));
    assert_eq!(folded.views.audit.len(), 4);
}

#[test]
fn a_forged_issuance_after_revocation_leaves_the_view_revoked() {
    let mut b = LedgerBuilder::new();
    let s = StreamKey::Session(SessionId::generate());
    b.append(&s, requested("alice", "dev"), actor("alice"));
    b.append(&s, decided(Effect::Allow), actor("alice"));
    b.append(&s, issued(15, 480), actor("alice"));
    b.append(&s, revoked("secops"), actor("secops"));
    b.append(&s, refreshed(60), actor("mallory"));
    let folded = fold_ledger(b.events());
    let view = folded.views.projections[&s.to_string()].session().cloned().unwrap();
    assert_eq!(view.status_at(at(10)), Some(SessionStatus::Revoked));
    assert_eq!((view.ended_at, view.last_refresh_at, view.refreshes), (Some(at(3)), None, 0));
    assert_eq!(folded.views.projections[&s.to_string()].head.seq, 5, "the head still moves");
}

#[test]
fn a_denied_request_has_a_view_without_a_status_and_no_index_entry() {
    let mut b = LedgerBuilder::new();
    let s = StreamKey::Session(SessionId::generate());
    b.append(&s, requested("mallory", "prod"), actor("mallory"));
    b.append(&s, decided(Effect::Deny), actor("mallory"));
    let view = fold_ledger(b.events()).views.projections[&s.to_string()].session().cloned().unwrap();
    assert_eq!((view.status, view.status_at(at(1))), (None, None));
}

#[test]
fn an_approval_view_counts_distinct_approvers_and_expires_by_time() {
    let mut b = LedgerBuilder::new();
    let a = StreamKey::Approval(ApprovalId::generate());
    b.append(&a, approval_requested("alice", "prod", 2, 60), actor("alice"));
    b.append(&a, granted("carol"), actor("carol"));
    b.append(&a, granted("carol"), actor("carol"));
    let pending = fold_ledger(b.events()).views.projections[&a.to_string()].approval().cloned().unwrap();
    assert_eq!(
        (pending.status, pending.approvers.clone(), pending.decided_at),
        (ApprovalStatus::Pending, vec![who("carol")], None)
    );
    b.append(&a, granted("dave"), actor("dave"));
    let approved = fold_ledger(b.events()).views.projections[&a.to_string()].approval().cloned().unwrap();
    assert_eq!(approved.status, ApprovalStatus::Approved);
    assert_eq!(approved.decided_at, Some(at(3)));
    assert_eq!(approved.status_at(at(59)), ApprovalStatus::Approved);
    assert_eq!(approved.status_at(at(60)), ApprovalStatus::Expired);
}

#[test]
fn a_break_glass_view_closes_once() {
    let mut b = LedgerBuilder::new();
    let g = StreamKey::BreakGlass(BreakGlassId::generate());
    b.append(&g, break_glass_invoked("oncall", "prod", 60), actor("oncall"));
    b.append(&g, break_glass_closed("oncall"), actor("oncall"));
    b.append(&g, break_glass_expired(), ledger::Actor::System);
    let view = fold_ledger(b.events()).views.projections[&g.to_string()].break_glass().cloned().unwrap();
    assert_eq!((view.status, view.ended_at), (BreakGlassStatus::Closed, Some(at(1))));
}

#[test]
fn a_tampered_event_stops_its_stream_and_is_reported() {
    let mut b = LedgerBuilder::new();
    let s = StreamKey::Session(SessionId::generate());
    let p = StreamKey::Policy(profile("dev"));
    b.append(&s, requested("alice", "dev"), actor("alice"));
    b.append(&s, decided(Effect::Allow), actor("alice"));
    b.append(&p, policy_published("dev", 1), actor("secops"));
    let mut events = b.events().to_vec();
    events[1].payload["effect"] = "deny".into();
    let folded = fold_ledger(&events);
    assert_eq!(folded.broken.len(), 1, "{:?}", folded.broken);
    assert_eq!(folded.views.projections[&s.to_string()].head.seq, 1, "folded up to the tampered event");
    assert_eq!(folded.views.projections[&p.to_string()].head.seq, 1, "other streams are unaffected");
}

#[test]
fn audit_rows_name_the_actor_and_never_the_token_hash() {
    let mut b = LedgerBuilder::new();
    let s = StreamKey::Session(SessionId::generate());
    b.append(&s, requested("alice", "dev"), actor("alice"));
    b.append(&s, decided(Effect::Allow), actor("alice"));
    b.append(&s, issued(15, 480), actor("alice"));
    b.append(&s, session_expired(), ledger::Actor::System);
    let audit: Vec<_> = fold_ledger(b.events()).views.audit.into_values().collect();
    assert_eq!(
        audit.iter().map(|r| r.principal.as_str()).collect::<Vec<_>>(),
        [arn("alice").as_str(), arn("alice").as_str(), arn("alice").as_str(), "system"]
    );
    assert!(audit.iter().all(|r| !r.summary.contains(&"ab".repeat(32))));
    assert!(audit[2].summary.contains("ASIATESTKEY"));
}
