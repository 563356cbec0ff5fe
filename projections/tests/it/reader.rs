//! View + tail: the current state is the view plus the ledger events it has not seen.

use ledger::decide::session::SessionStatus;
use ledger::event::Effect;
use ledger::store::memory::MemoryEventStore;
use ledger::store::EventStore;
use ledger::{SessionId, StreamKey};
use projections::reader;
use projections::store::memory::MemoryViewStore;
use projections::store::ViewStore;
use projections::testkit::*;
use projections::{project, ReadError};

use crate::support::{tables, write_all};

/// Opens a session, projects it, then appends a revocation the projector has not seen.
async fn revoked_behind_the_projector(ledger: &dyn EventStore, views: &dyn ViewStore) -> SessionId {
    let id = SessionId::generate();
    let s = StreamKey::Session(id);
    let mut b = LedgerBuilder::new();
    b.append(&s, requested("alice", "dev"), actor("alice"));
    b.append(&s, decided(Effect::Allow), actor("alice"));
    b.append(&s, issued(15, 480), actor("alice"));
    write_all(ledger, b.events()).await;
    for e in b.events() {
        project(views, ledger, e).await.expect("projected");
    }
    let revocation = b.append(&s, revoked("secops"), actor("secops"));
    write_all(ledger, std::slice::from_ref(&revocation)).await;
    id
}

#[tokio::test]
async fn a_revoked_session_reads_as_revoked_before_the_projector_runs() {
    let (ledger, views) = (MemoryEventStore::new(), MemoryViewStore::new());
    let id = revoked_behind_the_projector(&ledger, &views).await;
    let stale = views.projection(&StreamKey::Session(id)).await.unwrap().unwrap();
    assert_eq!(stale.session().unwrap().status, Some(SessionStatus::Active), "the view alone lags");
    let current = reader::session(&views, &ledger, id).await.unwrap().expect("the session exists");
    assert_eq!(current.view.status_at(at(10)), Some(SessionStatus::Revoked));
    assert_eq!((current.head.seq, current.tail_len), (4, 1));
}

#[tokio::test]
async fn a_revoked_session_reads_as_revoked_before_the_projector_runs_on_dynamodb() {
    let t = tables().await;
    let id = revoked_behind_the_projector(&t.ledger, &t.views).await;
    let stale = t.views.projection(&StreamKey::Session(id)).await.unwrap().unwrap();
    assert_eq!(stale.session().unwrap().status, Some(SessionStatus::Active), "the view alone lags");
    let current = reader::session(&t.views, &t.ledger, id).await.unwrap().expect("the session exists");
    assert_eq!(current.view.status_at(at(10)), Some(SessionStatus::Revoked));
    assert_eq!(current.view.revoked.as_ref().map(|r| &r.by), Some(&arn("secops")));
}

#[tokio::test]
async fn a_session_the_projector_never_saw_is_read_from_the_ledger_alone() {
    let ledger = MemoryEventStore::new();
    let id = SessionId::generate();
    let s = StreamKey::Session(id);
    let mut b = LedgerBuilder::new();
    b.append(&s, requested("alice", "dev"), actor("alice"));
    b.append(&s, decided(Effect::Allow), actor("alice"));
    b.append(&s, issued(15, 480), actor("alice"));
    write_all(&ledger, b.events()).await;
    let current = reader::session(&MemoryViewStore::new(), &ledger, id).await.unwrap().unwrap();
    assert_eq!((current.view.status_at(at(5)), current.tail_len), (Some(SessionStatus::Active), 3));
    assert!(reader::session(&MemoryViewStore::new(), &ledger, SessionId::generate()).await.unwrap().is_none());
}

#[tokio::test]
async fn a_tail_that_does_not_chain_onto_the_view_is_an_error_not_a_state() {
    let ledger = MemoryEventStore::new();
    let views = MemoryViewStore::new();
    let id = revoked_behind_the_projector(&ledger, &views).await;
    let mut forged = ledger.read_stream(&StreamKey::Session(id), 4).await.unwrap().remove(0);
    forged.payload["reason"] = "nothing to see".into();
    ledger.overwrite(forged);
    let err = reader::session(&views, &ledger, id).await.unwrap_err();
    assert!(matches!(err, ReadError::Fold(_)), "{err}");
}
