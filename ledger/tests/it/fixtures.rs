//! Golden fixtures: every stored event shape the ledger has ever written must verify, decode
//! and (at its current version) re-seal to the same bytes, forever.
//!
//! The files in `tests/fixtures` are append-only: add a file for every new event type or
//! schema version, never edit or delete one. The directory is listed at run time, so a new
//! file is covered without touching this module.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use ledger::decide::approval::{ApprovalState, ApprovalStatus};
use ledger::decide::session::{SessionState, SessionStatus};
use ledger::event::{CredentialsRequested, Event, EVENT_TYPES};
use ledger::record::GENESIS_HASH;
use ledger::store::dynamo::{from_item, to_item};
use ledger::{verify_stream, Aggregate, NewEvent, StoredEvent, StreamHead, StreamKey};

/// The last hash of every fixture published so far. A fixture is a promise that events of
/// that shape decode forever; regenerating one would silently drop the promise.
const PUBLISHED: &[(&str, &str)] = &[
    ("AccessDecided.v1.json", "9fa80b3e716bbcbe78bc79e8b9d345ae96782a652a5cf4fded1950355ff6cf01"),
    ("ApprovalCancelled.v1.json", "d64aa749431cd4fdc6e00a44eab309255033eb90bb1e46e88c8d367e3788afdb"),
    ("ApprovalDenied.v1.json", "dbc2456d5b84cfdddfe75cf3b7810694199331309d45e0019f8fe69f7475af0e"),
    ("ApprovalExpired.v1.json", "549baf108ce432c02e4a7e2715a88b5f0a678ff3a18dbad59ebda77828139c59"),
    ("ApprovalGranted.v1.json", "2fc5dfff2a0d98baaed80e4289af8629431518e487ed41f1b3e5314d89b64600"),
    ("ApprovalRequested.v1.json", "a7b59fdadcfbe2a8a96db870e449635619361944a9a735ceb6dd87072e70726f"),
    ("BreakGlassClosed.v1.json", "c8bfa9af51ea34901d2f1d84f916693a627f653ef498b5eebd8238da15fb8c08"),
    ("BreakGlassExpired.v1.json", "32b197e35b15416d2c70241d837108f63f242bcb8b52bae4f8b0f59cc53e8989"),
    ("BreakGlassInvoked.v1.json", "33d3b6402281953998b46a8481372bfc75027cdc51e6f59635041a61f0a611e1"),
    ("CredentialsIssued.v1.json", "5b28fec93ba12e0a23cff54934717a6ceccfec46327ce0bf7dbe17225543932f"),
    ("CredentialsRefreshed.v1.json", "33f8add0cce3a227f6691328690ad782e7cb1e1a80aacd8b36697bc9de5631a5"),
    ("CredentialsRequested.v1.json", "ce8c358db60a5984625af017a17e4ea1f1010b117f06e39a71f27a99aa5f643b"),
    ("CredentialsRequested.v2.json", "0622f6e6bfffd561497151cd357e17db568794c2e1952c4ad01aa76dd025e622"),
    ("PolicyPublished.v1.json", "49bb1b3c2820a3fb03a01dc04ad10c58b2f82060ed236fde326971f85a8e3018"),
    ("SessionExpired.v1.json", "8fced97f9c16e474024ae961fab09b67c0ed48662580c02ce909a156bf67f9bd"),
    ("SessionRevoked.v1.json", "daa930851d2ae86911216874d3643d0b768cc0da5553a662c552ac1d5c3fda4f"),
    ("approval-quorum-2.v1.json", "1425aac44fe7fa2da760bdc7a7c4e2170d2760ce53a165d50b5b8df6a569795c"),
    ("session-lifecycle.v1.json", "6fa8e96df731382491fa80d1b091a7fb1026d5623e9da1e10fba6b65f2b89f0a"),
    ("ApprovalGranted.v2.json", "b85f2f3ddf40f107bc53101aebd6e3c75c7cb3f3b2443d3162793545e3b15a3a"),
    ("ApprovalRevoked.v1.json", "33b14a2cc66778308bcfe8302fad55fcc64accb0bdff5c4f139befff725d5dea"),
    ("BreakGlassClosed.v2.json", "691c4a0a73339fe20d15bbe93a168d40038df18db839715e9d1259e6132be6e1"),
    ("ApprovalReserved.v1.json", "eba182e5e87e2c1e9aeffedbd4abfc0a34fe08780981ab7e9ba9765968bfaba7"),
    ("GrantUsed.v1.json", "e9a6fb8ffdcad80464d36b2377bb838f9331b327f399903b4f4f4aa91beb62fa"),
    ("breakglass-guard-by-person.v1.json", "d1bfbec517756e6a82ebae9780cb0c60658c2037f68df06d26fe5b6db6ba785d"),
];

struct Fixture {
    name: String,
    events: Vec<StoredEvent>,
}

impl Fixture {
    fn stream(&self) -> &str {
        &self.events[0].stream
    }

    /// `Some((type, version))` for files named `<Type>.v<N>.json`.
    fn pinned(&self) -> Option<(&str, u32)> {
        let stem = self.name.strip_suffix(".json")?;
        let (kind, version) = stem.rsplit_once(".v")?;
        if !kind.starts_with(|c: char| c.is_ascii_uppercase()) {
            return None;
        }
        Some((kind, version.parse().ok()?))
    }
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("fixtures")
}

fn load(path: &Path) -> Fixture {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{name}: {e}"));
    let events: Vec<StoredEvent> =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name} is not an array of stored events: {e}"));
    assert!(!events.is_empty(), "{name} holds no events");
    Fixture { name, events }
}

fn all_fixtures() -> Vec<Fixture> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .expect("tests/fixtures exists")
        .map(|entry| entry.expect("readable directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no fixtures found in {}", fixtures_dir().display());
    paths.iter().map(|p| load(p)).collect()
}

fn fixture(name: &str) -> Fixture {
    load(&fixtures_dir().join(name))
}

fn is_current(e: &StoredEvent) -> bool {
    Event::current_version(&e.event_type) == Some(e.schema_version)
}

#[test]
fn every_fixture_is_a_verified_chain_from_genesis() {
    for f in all_fixtures() {
        let first = &f.events[0];
        assert_eq!((first.seq, first.prev_hash.as_str()), (1, GENESIS_HASH), "{} starts at genesis", f.name);
        let head = verify_stream(f.stream(), &f.events).unwrap_or_else(|e| panic!("{}: {e}", f.name));
        assert_eq!(head, f.events.last().unwrap().head(), "{}", f.name);
    }
}

#[test]
fn every_fixture_event_decodes_after_upcasting() {
    for f in all_fixtures() {
        for stored in &f.events {
            let recorded = stored.decode().unwrap_or_else(|e| panic!("{}: {e}", f.name));
            assert_eq!(recorded.event.wire_type(), stored.event_type, "{} seq {}", f.name, stored.seq);
            assert_eq!(recorded.stream.to_string(), stored.stream);
            assert_eq!(recorded.event_id.to_string(), stored.event_id);
            assert_eq!(recorded.actor.to_string(), stored.actor);
            assert_eq!((recorded.seq, &recorded.hash), (stored.seq, &stored.hash));
        }
    }
}

#[test]
fn every_current_version_event_reseals_to_exactly_what_is_stored() {
    let mut resealed = 0;
    for f in all_fixtures() {
        let stream: StreamKey = f.stream().parse().unwrap();
        let mut head = StreamHead::genesis();
        for stored in &f.events {
            if is_current(stored) {
                let recorded = stored.decode().unwrap();
                assert_eq!(recorded.event.payload(), stored.payload, "{} seq {} payload", f.name, stored.seq);
                let again = NewEvent {
                    event_id: recorded.event_id,
                    occurred_at: recorded.occurred_at,
                    actor: recorded.actor,
                    person: recorded.person,
                    correlation_id: recorded.correlation_id,
                    event: recorded.event,
                };
                let sealed = StoredEvent::seal(&stream, &head, &[again]).unwrap();
                assert_eq!(sealed, vec![stored.clone()], "{} seq {} re-seals identically", f.name, stored.seq);
                resealed += 1;
            }
            head = stored.head();
        }
    }
    assert!(resealed >= EVENT_TYPES.len(), "only {resealed} current-version events re-sealed");
}

#[test]
fn every_fixture_survives_the_dynamodb_item_mapping() {
    for f in all_fixtures() {
        for stored in &f.events {
            let item = to_item(stored).unwrap_or_else(|e| panic!("{}: {e}", f.name));
            assert_eq!(&from_item(item).unwrap(), stored, "{} seq {}", f.name, stored.seq);
        }
    }
}

#[test]
fn a_fixture_named_after_a_type_and_version_holds_that_type_at_that_version() {
    for f in all_fixtures() {
        let Some((kind, version)) = f.pinned() else {
            continue;
        };
        assert!(EVENT_TYPES.contains(&kind), "{} names an unknown event type {kind:?}", f.name);
        assert!(
            f.events.iter().any(|e| e.event_type == kind && e.schema_version == version),
            "{} holds no {kind} at schema version {version}",
            f.name
        );
    }
}

#[test]
fn every_catalogue_type_has_a_fixture_at_its_current_version() {
    let covered: BTreeSet<(String, u32)> =
        all_fixtures().iter().flat_map(|f| f.events.iter().map(|e| (e.event_type.clone(), e.schema_version))).collect();
    let missing: Vec<String> = EVENT_TYPES
        .iter()
        .map(|t| (t.to_string(), Event::current_version(t).unwrap()))
        .filter(|key| !covered.contains(key))
        .map(|(t, v)| format!("{t}.v{v}.json"))
        .collect();
    assert!(missing.is_empty(), "add golden fixtures: {missing:?}");
}

#[test]
fn published_fixtures_are_never_rewritten() {
    for (name, head_hash) in PUBLISHED {
        let path = fixtures_dir().join(name);
        assert!(path.exists(), "published fixture {name} was deleted");
        let f = load(&path);
        assert_eq!(&f.events.last().unwrap().hash, head_hash, "published fixture {name} was rewritten");
    }
}

#[test]
fn credentials_requested_v1_decodes_to_the_v2_shape_with_unknown_user_id_and_reason() {
    let f = fixture("CredentialsRequested.v1.json");
    let stored = &f.events[0];
    assert_eq!((stored.event_type.as_str(), stored.schema_version), ("CredentialsRequested", 1));
    let Event::CredentialsRequested(decoded) = stored.decode().unwrap().event else {
        panic!("a CredentialsRequested v1 decodes to CredentialsRequested")
    };
    let expected = CredentialsRequested {
        principal: stored.payload["principal"].as_str().unwrap().parse().unwrap(),
        user_id: None,
        profile: stored.payload["profile"].as_str().unwrap().parse().unwrap(),
        requested_duration_seconds: Some(stored.payload["duration_seconds"].as_u64().unwrap() as u32),
        reason: None,
    };
    assert_eq!(decoded, expected);
    // Upcasting happens on read only: the stored v1 payload keeps its v1 shape and its hash.
    assert_ne!(Event::from(decoded).payload(), stored.payload);
}

#[test]
fn the_session_lifecycle_fixture_folds_to_a_revoked_session_after_one_refresh() {
    let f = fixture("session-lifecycle.v1.json");
    let types: Vec<&str> = f.events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        ["CredentialsRequested", "AccessDecided", "CredentialsIssued", "CredentialsRefreshed", "SessionRevoked"]
    );
    let events: Vec<Event> = f.events.iter().map(|e| e.decode().unwrap().event).collect();
    let state = SessionState::fold(&events);
    let SessionState::Revoked { session, .. } = &state else { panic!("expected a revoked session, got {state:?}") };
    assert_eq!(session.refreshes, 1);
    let last = f.events.last().unwrap().decode().unwrap();
    assert_eq!(state.status_at(last.occurred_at), Some(SessionStatus::Revoked));
}

#[test]
fn events_with_a_person_carry_it_and_older_events_decode_with_none() {
    let revoked = fixture("ApprovalRevoked.v1.json");
    let decoded: Vec<_> = revoked.events.iter().map(|e| e.decode().unwrap()).collect();
    let persons: Vec<String> = decoded.iter().map(|e| e.person.as_ref().unwrap().to_string()).collect();
    assert_eq!(persons, ["idp:dana@example.com", "iam:111122223333:carol", "iam:111122223333:secops"]);
    // The person is covered by the hash: dropping it breaks the chain at that event.
    let mut tampered = revoked.events.clone();
    tampered[1].person = None;
    assert_eq!(verify_stream(revoked.stream(), &tampered).unwrap_err().seq, 2);
    let state = ApprovalState::fold_recorded(&decoded);
    let ApprovalState::Known(record) = &state else { panic!("a known approval: {state:?}") };
    assert_eq!(record.requester_person.as_ref().map(ToString::to_string).as_deref(), Some("idp:dana@example.com"));
    assert_eq!(state.status_at(decoded[2].occurred_at), Some(ApprovalStatus::Revoked));
    let granted = fixture("ApprovalGranted.v2.json");
    let granted: Vec<_> = granted.events.iter().map(|e| e.decode().unwrap()).collect();
    let state = ApprovalState::fold_recorded(&granted);
    let Some(Event::ApprovalGranted(g)) = granted.last().map(|e| &e.event) else { panic!("a grant") };
    assert_eq!(state.usable_until(granted[1].occurred_at), g.usable_until, "usable from the grant for its duration");
    for old in all_fixtures().iter().filter(|f| f.events.iter().all(|e| e.person.is_none())) {
        assert!(old.events.iter().all(|e| e.decode().unwrap().person.is_none()), "{}", old.name);
    }
}

#[test]
fn the_quorum_fixture_folds_to_a_request_approved_by_two_distinct_approvers() {
    let f = fixture("approval-quorum-2.v1.json");
    let events: Vec<Event> = f.events.iter().map(|e| e.decode().unwrap().event).collect();
    let Some(Event::ApprovalRequested(request)) = events.first() else {
        panic!("an approval stream starts with its request")
    };
    assert_eq!(request.required, 2);
    let state = ApprovalState::fold(&events);
    let ApprovalState::Known(record) = &state else { panic!("expected a known approval, got {state:?}") };
    assert_eq!(record.approvers.len(), 2);
    assert!(!record.approvers.iter().any(|a| a.principal == request.requester));
    let last = f.events.last().unwrap().decode().unwrap();
    assert_eq!(state.status_at(last.occurred_at), Some(ApprovalStatus::Approved));
    // One grant short of the quorum, the same request is still pending.
    let short = ApprovalState::fold(&events[..events.len() - 1]);
    assert_eq!(short.status_at(last.occurred_at), Some(ApprovalStatus::Pending));
}
