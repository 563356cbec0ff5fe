//! Round trips and tampering: any event of the catalogue survives sealing, the DynamoDB item
//! mapping and decoding unchanged, and any single change to a sealed stream breaks its chain
//! at the position of the change.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, SecondsFormat, TimeZone, Utc};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::{select, Index};
use proptest::strategy::{Union, ValueTree};
use proptest::test_runner::TestRunner;
use serde_json::Value;
use ulid::Ulid;

use ledger::event::*;
use ledger::record::{format_time, ChainBreakKind, DecodeErrorKind};
use ledger::store::dynamo::{from_item, to_item};
use ledger::{
    verify_stream, Actor, ApprovalId, BreakGlassId, EventId, NewEvent, PersonKey, PrincipalArn, Profile, RoleArn,
    SessionId, StoreError, StoredEvent, StreamHead, StreamKey,
};

// ---------------------------------------------------------------------------------------------
// Strategies: arbitrary but valid values for every field of the catalogue.
// ---------------------------------------------------------------------------------------------

fn partition() -> impl Strategy<Value = &'static str> {
    select(vec!["aws", "aws-cn", "aws-us-gov"])
}

fn account() -> impl Strategy<Value = String> {
    prop_oneof![Just("111122223333".to_owned()), "[0-9]{12}"]
}

/// IAM user, role and session names: `[\w+=,.@-]`.
fn iam_name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9+=,.@_-]{1,64}"
}

fn principal_arn() -> impl Strategy<Value = PrincipalArn> {
    prop_oneof![
        (partition(), account(), "(/[a-z0-9-]{1,12}){0,2}", iam_name())
            .prop_map(|(p, a, path, n)| format!("arn:{p}:iam::{a}:user{path}/{n}")),
        (partition(), account(), iam_name(), iam_name())
            .prop_map(|(p, a, r, s)| format!("arn:{p}:sts::{a}:assumed-role/{r}/{s}")),
        (partition(), account()).prop_map(|(p, a)| format!("arn:{p}:iam::{a}:root")),
    ]
    .prop_map(|s| s.parse().expect("generated principal ARNs are valid"))
}

fn role_arn() -> impl Strategy<Value = RoleArn> {
    (partition(), account(), "(/[A-Za-z0-9_-]{1,12}){0,2}", iam_name())
        .prop_map(|(p, a, path, n)| format!("arn:{p}:iam::{a}:role{path}/{n}"))
        .prop_map(|s| s.parse().expect("generated role ARNs are valid"))
}

fn profile() -> impl Strategy<Value = Profile> {
    "[A-Za-z0-9][A-Za-z0-9_.-]{0,63}".prop_map(|s| s.parse().expect("generated profiles are valid"))
}

fn ulid() -> impl Strategy<Value = Ulid> {
    any::<u128>().prop_map(Ulid::from)
}

/// Free text as callers type it: any Unicode scalar, with quotes, backslashes, control
/// characters, separators, a BOM and emoji over-represented.
fn free_text() -> impl Strategy<Value = String> {
    let tricky = select(vec![
        '"',
        '\\',
        '/',
        '\n',
        '\r',
        '\t',
        '\u{0}',
        '\u{1}',
        '\u{8}',
        '\u{c}',
        '\u{1f}',
        '\u{7f}',
        '\u{85}',
        '\u{2028}',
        '\u{2029}',
        '\u{feff}',
        'é',
        '€',
        '\u{fb01}',
        '😀',
        '🔥',
        '\u{10ffff}',
    ]);
    vec(prop_oneof![3 => any::<char>(), 2 => tricky, 3 => proptest::char::range('a', 'z')], 0..40)
        .prop_map(String::from_iter)
}

fn hex64() -> impl Strategy<Value = String> {
    "[0-9a-f]{64}"
}

fn access_key_id() -> impl Strategy<Value = String> {
    "(ASIA|AKIA)[A-Z2-7]{16}"
}

/// An instant between 2000 and 2100, at any precision down to the nanosecond.
fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    let nanos = prop_oneof![Just(0u32), (0u32..1000).prop_map(|ms| ms * 1_000_000), 0u32..1_000_000_000];
    (946_684_800i64..4_102_444_800, nanos).prop_map(|(s, n)| Utc.timestamp_opt(s, n).unwrap())
}

/// An instant at the millisecond precision `occurred_at` is stored with.
fn instant_ms() -> impl Strategy<Value = DateTime<Utc>> {
    (946_684_800_000i64..4_102_444_800_000).prop_map(|ms| Utc.timestamp_millis_opt(ms).unwrap())
}

fn effect() -> impl Strategy<Value = Effect> {
    select(vec![Effect::Allow, Effect::Deny, Effect::RequireApproval])
}

fn basis() -> impl Strategy<Value = Basis> {
    prop_oneof![
        Just(Basis::Policy),
        ulid().prop_map(|u| Basis::Approval(ApprovalId::from_ulid(u))),
        ulid().prop_map(|u| Basis::BreakGlass(BreakGlassId::from_ulid(u))),
    ]
}

fn credentials_requested() -> impl Strategy<Value = CredentialsRequested> {
    let user_id = "(AIDA|AROA)[A-Z2-7]{17}(:[A-Za-z0-9@._-]{1,32})?";
    (principal_arn(), option::of(user_id), profile(), option::of(any::<u32>()), option::of(free_text())).prop_map(
        |(principal, user_id, profile, requested_duration_seconds, reason)| CredentialsRequested {
            principal,
            user_id,
            profile,
            requested_duration_seconds,
            reason,
        },
    )
}

fn access_decided() -> impl Strategy<Value = AccessDecided> {
    (effect(), option::of(free_text()), free_text(), basis(), option::of(hex64())).prop_map(
        |(effect, rule, reason, basis, policy_hash)| AccessDecided { effect, rule, reason, basis, policy_hash },
    )
}

fn credentials_issued() -> impl Strategy<Value = CredentialsIssued> {
    (role_arn(), iam_name(), iam_name(), access_key_id(), instant(), instant(), hex64()).prop_map(
        |(role_arn, source_identity, role_session_name, access_key_id, expiration, session_ends_at, token_hash)| {
            CredentialsIssued {
                role_arn,
                source_identity,
                role_session_name,
                access_key_id,
                expiration,
                session_ends_at,
                token_hash,
            }
        },
    )
}

fn credentials_refreshed() -> impl Strategy<Value = CredentialsRefreshed> {
    (access_key_id(), instant(), basis()).prop_map(|(access_key_id, expiration, basis)| CredentialsRefreshed {
        access_key_id,
        expiration,
        basis,
    })
}

fn approval_requested() -> impl Strategy<Value = ApprovalRequested> {
    (principal_arn(), profile(), free_text(), any::<u32>(), instant(), any::<u32>()).prop_map(
        |(requester, profile, justification, duration_seconds, expires_at, required)| ApprovalRequested {
            requester,
            profile,
            justification,
            duration_seconds,
            expires_at,
            required,
        },
    )
}

fn break_glass_invoked() -> impl Strategy<Value = BreakGlassInvoked> {
    (principal_arn(), profile(), free_text(), free_text(), any::<u32>(), instant()).prop_map(
        |(invoker, profile, reason_code, justification, duration_seconds, expires_at)| BreakGlassInvoked {
            invoker,
            profile,
            reason_code,
            justification,
            duration_seconds,
            expires_at,
        },
    )
}

fn policy_published() -> impl Strategy<Value = PolicyPublished> {
    let by = prop_oneof![principal_arn().prop_map(Actor::Principal), Just(Actor::System)];
    (profile(), free_text(), hex64(), by).prop_map(|(profile, version, hash, by)| PolicyPublished {
        profile,
        version,
        hash,
        by,
    })
}

fn idempotency_key_recorded() -> impl Strategy<Value = IdempotencyKeyRecorded> {
    (free_text(), 200u16..600, free_text()).prop_map(|(route, status, message)| IdempotencyKeyRecorded {
        route,
        status,
        body: serde_json::json!({"request_id": "01JDQ8ZK3M4N5P6Q7R8S9T0V1X", "message": message, "required": 1}),
    })
}

fn break_glass_reserved() -> impl Strategy<Value = BreakGlassReserved> {
    (any::<u128>(), instant()).prop_map(|(id, expires_at)| BreakGlassReserved {
        breakglass_id: BreakGlassId::from_ulid(Ulid(id)),
        expires_at,
    })
}

/// Any event of the catalogue, every variant equally likely.
fn event() -> impl Strategy<Value = Event> {
    Union::new(vec![
        credentials_requested().prop_map(Event::from).boxed(),
        break_glass_reserved().prop_map(Event::from).boxed(),
        idempotency_key_recorded().prop_map(Event::from).boxed(),
        access_decided().prop_map(Event::from).boxed(),
        credentials_issued().prop_map(Event::from).boxed(),
        credentials_refreshed().prop_map(Event::from).boxed(),
        (principal_arn(), free_text()).prop_map(|(by, reason)| SessionRevoked { by, reason }.into()).boxed(),
        Just(SessionExpired {}.into()).boxed(),
        approval_requested().prop_map(Event::from).boxed(),
        (principal_arn(), option::of(free_text()))
            .prop_map(|(approver, comment)| ApprovalGranted { approver, comment, usable_until: None }.into())
            .boxed(),
        (principal_arn(), option::of(free_text()))
            .prop_map(|(approver, comment)| ApprovalDenied { approver, comment }.into())
            .boxed(),
        principal_arn().prop_map(|by| ApprovalCancelled { by }.into()).boxed(),
        Just(ApprovalExpired {}.into()).boxed(),
        ulid().prop_map(|u| GrantUsed { session_id: SessionId::from_ulid(u) }.into()).boxed(),
        (ulid(), instant_ms(), 1800u32..=86_400)
            .prop_map(|(u, expires_at, duration_seconds)| {
                ApprovalReserved { approval_id: ApprovalId::from_ulid(u), expires_at, duration_seconds }.into()
            })
            .boxed(),
        break_glass_invoked().prop_map(Event::from).boxed(),
        (principal_arn(), free_text())
            .prop_map(|(by, reason)| BreakGlassClosed { by, reason, session_id: None }.into())
            .boxed(),
        (principal_arn(), free_text())
            .prop_map(|(by, reason)| ApprovalRevoked { by, reason, session_id: Some(SessionId::generate()) }.into())
            .boxed(),
        Just(BreakGlassExpired {}.into()).boxed(),
        policy_published().prop_map(Event::from).boxed(),
    ])
}

fn stream_key() -> impl Strategy<Value = StreamKey> {
    prop_oneof![
        ulid().prop_map(|u| StreamKey::Session(SessionId::from_ulid(u))),
        ulid().prop_map(|u| StreamKey::Approval(ApprovalId::from_ulid(u))),
        ulid().prop_map(|u| StreamKey::BreakGlass(BreakGlassId::from_ulid(u))),
        profile().prop_map(StreamKey::Policy),
        (profile(), principal_arn())
            .prop_map(|(profile, principal)| StreamKey::LegacyBreakGlassGuard { profile, principal }),
        (profile(), person_key()).prop_map(|(profile, person)| StreamKey::BreakGlassGuard { profile, person }),
        (profile(), person_key()).prop_map(|(profile, person)| StreamKey::ApprovalGuard { profile, person }),
    ]
}

fn actor() -> impl Strategy<Value = Actor> {
    prop_oneof![1 => Just(Actor::System), 3 => principal_arn().prop_map(Actor::Principal)]
}

fn correlation_id() -> impl Strategy<Value = String> {
    prop_oneof!["[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", free_text()]
}

fn person_key() -> impl Strategy<Value = PersonKey> {
    prop_oneof![
        "[a-z][a-z0-9._-]{0,20}".prop_map(|user| PersonKey::iam("111122223333", &user).unwrap()),
        "[a-z][a-z0-9.]{1,12}@example\\.com".prop_map(|session| PersonKey::idp(&session).unwrap()),
        "AROA[A-Z0-9]{8,16}".prop_map(|role_id| PersonKey::role(&role_id).unwrap()),
        Just(PersonKey::root("111122223333").unwrap()),
    ]
}

fn new_event() -> impl Strategy<Value = NewEvent> {
    (ulid(), instant_ms(), actor(), option::of(person_key()), correlation_id(), event()).prop_map(
        |(id, occurred_at, actor, person, correlation_id, event)| NewEvent {
            event_id: EventId::from_ulid(id),
            occurred_at,
            person: match actor {
                Actor::System => None,
                Actor::Principal(_) => person,
            },
            actor,
            correlation_id,
            event,
        },
    )
}

/// A stream key and its events, sealed from genesis.
fn sealed_stream(len: std::ops::Range<usize>) -> impl Strategy<Value = (String, Vec<NewEvent>, Vec<StoredEvent>)> {
    (stream_key(), vec(new_event(), len)).prop_map(|(stream, events)| {
        let sealed = StoredEvent::seal(&stream, &StreamHead::genesis(), &events).unwrap();
        (stream.to_string(), events, sealed)
    })
}

// ---------------------------------------------------------------------------------------------
// Tampering: one change to a sealed stream, and where verification must report it.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Tamper {
    PayloadString(Index),
    Seq(Index, i64),
    Actor(Index),
    /// Moves `occurred_at` by a millisecond, or respells the same instant as `+00:00`.
    OccurredAt(Index, bool),
    PrevHash(Index, String),
    Stream(Index, Ulid),
    Swap(Index, Index),
    DropMiddle(Index),
}

fn tamper() -> impl Strategy<Value = Tamper> {
    prop_oneof![
        any::<Index>().prop_map(Tamper::PayloadString),
        (any::<Index>(), prop_oneof![-3i64..=-1, 1i64..=3, Just(1_000_000)]).prop_map(|(i, d)| Tamper::Seq(i, d)),
        any::<Index>().prop_map(Tamper::Actor),
        (any::<Index>(), any::<bool>()).prop_map(|(i, respell)| Tamper::OccurredAt(i, respell)),
        (any::<Index>(), hex64()).prop_map(|(i, h)| Tamper::PrevHash(i, h)),
        (any::<Index>(), ulid()).prop_map(|(i, u)| Tamper::Stream(i, u)),
        (any::<Index>(), any::<Index>()).prop_map(|(i, j)| Tamper::Swap(i, j)),
        any::<Index>().prop_map(Tamper::DropMiddle),
    ]
}

/// The first string inside a JSON value, if any.
fn first_string(value: &mut Value) -> Option<&mut String> {
    match value {
        Value::String(s) => Some(s),
        Value::Array(items) => items.iter_mut().find_map(first_string),
        Value::Object(members) => members.values_mut().find_map(first_string),
        _ => None,
    }
}

/// Changes the payload: edits a string in it, or adds a member to a payload without strings.
fn tamper_payload(payload: &mut Value) {
    match first_string(payload) {
        Some(s) => s.push('\u{200b}'),
        None => {
            payload.as_object_mut().expect("payloads are objects").insert("by".into(), Value::from("mallory"));
        }
    }
}

/// Applies `t` to `events` (at least three) and returns the seq verification must report.
fn apply(t: &Tamper, events: &mut Vec<StoredEvent>) -> (u64, fn(&ChainBreakKind) -> bool) {
    let n = events.len();
    match t {
        Tamper::PayloadString(i) => {
            let i = i.index(n);
            tamper_payload(&mut events[i].payload);
            (i as u64 + 1, |k| *k == ChainBreakKind::HashMismatch)
        }
        Tamper::Seq(i, delta) => {
            let i = i.index(n);
            let e = &mut events[i];
            e.seq = e.seq.checked_add_signed(*delta).unwrap_or(0);
            (i as u64 + 1, |k| matches!(k, ChainBreakKind::OutOfSequence { .. }))
        }
        Tamper::Actor(i) => {
            let i = i.index(n);
            let e = &mut events[i];
            e.actor =
                if e.actor == "system" { "arn:aws:iam::111122223333:user/mallory".into() } else { "system".into() };
            (i as u64 + 1, |k| *k == ChainBreakKind::HashMismatch)
        }
        Tamper::OccurredAt(i, respell) => {
            let i = i.index(n);
            let e = &mut events[i];
            let t: DateTime<Utc> = e.occurred_at.parse().unwrap();
            e.occurred_at = if *respell {
                t.to_rfc3339_opts(SecondsFormat::Millis, false)
            } else {
                format_time(t + Duration::milliseconds(1))
            };
            (i as u64 + 1, |k| *k == ChainBreakKind::HashMismatch)
        }
        Tamper::PrevHash(i, hash) => {
            let i = i.index(n);
            let e = &mut events[i];
            e.prev_hash = if *hash == e.prev_hash { "f".repeat(64) } else { hash.clone() };
            (i as u64 + 1, |k| *k == ChainBreakKind::HashMismatch)
        }
        Tamper::Stream(i, u) => {
            let i = i.index(n);
            let e = &mut events[i];
            let other = StreamKey::Session(SessionId::from_ulid(*u)).to_string();
            e.stream = if other == e.stream { format!("{other}0") } else { other };
            (i as u64 + 1, |k| matches!(k, ChainBreakKind::WrongStream { .. }))
        }
        Tamper::Swap(i, j) => {
            let (mut a, mut b) = (i.index(n), j.index(n));
            if a == b {
                b = (a + 1) % n;
            }
            if a > b {
                std::mem::swap(&mut a, &mut b);
            }
            events.swap(a, b);
            (a as u64 + 1, |k| matches!(k, ChainBreakKind::OutOfSequence { .. }))
        }
        Tamper::DropMiddle(i) => {
            let i = 1 + i.index(n - 2);
            events.remove(i);
            (i as u64 + 1, |k| matches!(k, ChainBreakKind::OutOfSequence { .. }))
        }
    }
}

proptest! {
    #[test]
    fn any_sealed_stream_survives_dynamodb_items_and_decodes_to_the_same_events(
        (stream, originals, sealed) in sealed_stream(1..6)
    ) {
        let mut read_back = Vec::new();
        for (stored, original) in sealed.iter().zip(&originals) {
            let item = to_item(stored).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let back = from_item(item).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&back, stored);
            let recorded = back.decode().map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&recorded.event, &original.event);
            prop_assert_eq!(recorded.event_id, original.event_id);
            prop_assert_eq!(recorded.occurred_at, original.occurred_at);
            prop_assert_eq!(&recorded.actor, &original.actor);
            prop_assert_eq!(&recorded.correlation_id, &original.correlation_id);
            prop_assert_eq!(recorded.stream.to_string(), stream.clone());
            read_back.push(back);
        }
        prop_assert_eq!(verify_stream(&stream, &read_back), Ok(sealed.last().unwrap().head()));
    }

    #[test]
    fn any_sealed_stream_survives_its_json_form_and_still_verifies(
        (stream, originals, sealed) in sealed_stream(1..6)
    ) {
        let json = serde_json::to_string(&sealed).unwrap();
        let parsed: Vec<StoredEvent> = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(&parsed, &sealed);
        prop_assert!(verify_stream(&stream, &parsed).is_ok());
        for (stored, original) in parsed.iter().zip(&originals) {
            prop_assert_eq!(&stored.decode().unwrap().event, &original.event);
        }
    }

    #[test]
    fn any_single_change_to_a_sealed_stream_breaks_it_at_the_changed_seq(
        (stream, _, sealed) in sealed_stream(3..8),
        t in tamper(),
    ) {
        prop_assert!(verify_stream(&stream, &sealed).is_ok());
        let mut tampered = sealed.clone();
        let (seq, expected_kind) = apply(&t, &mut tampered);
        let broken = verify_stream(&stream, &tampered).expect_err("tampering must break the chain");
        prop_assert_eq!(broken.seq, seq, "{:?} reported {}", t, broken);
        prop_assert!(expected_kind(&broken.kind), "{:?} reported {}", t, broken);
        prop_assert_eq!(&broken.stream, &stream);
    }

    #[test]
    fn an_event_rehashed_after_tampering_breaks_the_link_from_its_successor(
        (stream, _, sealed) in sealed_stream(1..6),
        i in any::<Index>(),
    ) {
        let i = i.index(sealed.len());
        let mut tampered = sealed.clone();
        tamper_payload(&mut tampered[i].payload);
        tampered[i].hash = tampered[i].compute_hash().unwrap();
        match verify_stream(&stream, &tampered) {
            Err(broken) => {
                prop_assert!(i + 1 < sealed.len(), "the last event alone cannot break the chain: {}", broken);
                prop_assert_eq!(broken.seq, i as u64 + 2);
                prop_assert_eq!(broken.kind, ChainBreakKind::PrevHashMismatch);
            }
            Ok(head) => {
                // Only the head the views keep catches a rewritten last event.
                prop_assert_eq!(i + 1, sealed.len());
                prop_assert_ne!(head, sealed.last().unwrap().head());
            }
        }
    }

    #[test]
    fn a_mistyped_envelope_attribute_is_corrupt_never_a_panic(
        attribute in select(ENVELOPE.to_vec()),
        wrong in wrong_value(),
    ) {
        let mut item = sample_item();
        let numeric = matches!(attribute, "sk" | "schema_version");
        let wrong = match (numeric, wrong) {
            // A number where a string belongs, or a string where a number belongs.
            (true, AttributeValue::N(n)) => AttributeValue::S(n),
            (false, AttributeValue::S(s)) => AttributeValue::N(if s.is_empty() { "0".into() } else { "1".into() }),
            (_, other) => other,
        };
        item.insert(attribute.to_owned(), wrong.clone());
        let result = from_item(item);
        prop_assert!(matches!(result, Err(StoreError::Corrupt(_))), "{} = {:?} gave {:?}", attribute, wrong, result);
    }
}

// ---------------------------------------------------------------------------------------------
// Item mapping: missing and mistyped attributes, unknown types.
// ---------------------------------------------------------------------------------------------

/// Every attribute of a ledger item but `payload` (which holds any JSON).
const ENVELOPE: &[&str] =
    &["pk", "sk", "event_id", "type", "schema_version", "occurred_at", "actor", "correlation_id", "prev_hash", "hash"];

fn wrong_value() -> impl Strategy<Value = AttributeValue> {
    prop_oneof![
        "[0-9]{1,4}".prop_map(AttributeValue::N),
        "[a-z]{0,4}".prop_map(AttributeValue::S),
        any::<bool>().prop_map(AttributeValue::Bool),
        Just(AttributeValue::Null(true)),
        Just(AttributeValue::L(vec![AttributeValue::S("x".into())])),
        Just(AttributeValue::M(HashMap::from([("x".to_owned(), AttributeValue::N("1".into()))]))),
        Just(AttributeValue::Ss(vec!["a".into(), "b".into()])),
    ]
}

fn sample_event() -> StoredEvent {
    let stream = StreamKey::Session("01KJQDVWNEED6K2JSJEA3CE1X8".parse().unwrap());
    let event = NewEvent {
        event_id: "01KJQKA0QBK327BW7GCTMY5VVR".parse().unwrap(),
        occurred_at: "2026-03-02T15:40:12.907Z".parse().unwrap(),
        actor: "arn:aws:iam::111122223333:user/secops".parse().unwrap(),
        person: Some("iam:111122223333:secops".parse().unwrap()),
        correlation_id: "0d9c8b7a-6f5e-4d3c-8b2a-1f0e9d8c7b6a".into(),
        event: SessionRevoked { by: "arn:aws:iam::111122223333:user/secops".parse().unwrap(), reason: "left".into() }
            .into(),
    };
    StoredEvent::seal(&stream, &StreamHead::genesis(), &[event]).unwrap().remove(0)
}

fn sample_item() -> HashMap<String, AttributeValue> {
    to_item(&sample_event()).unwrap()
}

fn corrupt_message(item: HashMap<String, AttributeValue>) -> String {
    match from_item(item) {
        Err(StoreError::Corrupt(message)) => message,
        other => panic!("expected StoreError::Corrupt, got {other:?}"),
    }
}

/// Whether the detail of a corrupt-item message (after the item's position, which mentions
/// `pk` and `sk` whenever they are absent) names `attribute`.
fn detail_names(message: &str, attribute: &str) -> bool {
    message.split_once(": ").is_some_and(|(_, detail)| detail.contains(attribute))
}

#[test]
fn a_sample_item_holds_exactly_the_documented_attributes() {
    let mut names: Vec<String> = sample_item().into_keys().collect();
    names.sort();
    let mut expected: Vec<&str> = ENVELOPE.iter().copied().chain(["payload", "person"]).collect();
    expected.sort();
    assert_eq!(names, expected);
    assert!(matches!(sample_item()["sk"], AttributeValue::N(_)), "sk is a number");
    assert!(matches!(sample_item()["payload"], AttributeValue::M(_)), "payload is a map");
}

#[test]
fn an_item_missing_any_attribute_is_corrupt_and_the_message_names_it() {
    for attribute in ENVELOPE.iter().copied().chain(["payload"]) {
        let mut item = sample_item();
        item.remove(attribute);
        let message = corrupt_message(item);
        assert!(detail_names(&message, attribute), "missing {attribute}: {message:?}");
    }
}

#[test]
fn an_item_with_a_mistyped_attribute_is_corrupt_and_the_message_names_it() {
    let cases = [
        ("sk", AttributeValue::S("1".into())),
        ("schema_version", AttributeValue::S("1".into())),
        ("hash", AttributeValue::N("1".into())),
        ("type", AttributeValue::N("7".into())),
        ("occurred_at", AttributeValue::Null(true)),
        ("person", AttributeValue::N("1".into())),
    ];
    for (attribute, wrong) in cases {
        let mut item = sample_item();
        item.insert(attribute.to_owned(), wrong.clone());
        let message = corrupt_message(item);
        assert!(detail_names(&message, attribute), "{attribute} = {wrong:?}: {message:?}");
    }
}

#[test]
fn a_corrupt_item_message_says_which_event_it_is() {
    let mut item = sample_item();
    item.remove("hash");
    let message = corrupt_message(item);
    assert!(message.contains("SESSION#01KJQDVWNEED6K2JSJEA3CE1X8 seq 1"), "{message:?}");
}

#[test]
fn an_item_of_an_unknown_type_decodes_to_an_unknown_type_error() {
    let mut item = sample_item();
    item.insert("type".into(), AttributeValue::S("SessionTeleported".into()));
    let stored = from_item(item).expect("the envelope is well-formed");
    let err = stored.decode().expect_err("an unknown type cannot decode");
    assert_eq!((err.stream.as_str(), err.seq), ("SESSION#01KJQDVWNEED6K2JSJEA3CE1X8", 1));
    assert_eq!(err.kind, DecodeErrorKind::Payload(PayloadError::UnknownType("SessionTeleported".into())));
}

#[test]
fn a_payload_stored_as_a_string_is_corrupt_not_a_panic() {
    let mut item = sample_item();
    item.insert("payload".into(), AttributeValue::S(r#"{"by":"x","reason":"y"}"#.into()));
    let err = from_item(item).expect_err("a payload must be a map");
    let StoreError::Corrupt(detail) = err else { panic!("expected Corrupt, got {err:?}") };
    assert!(detail.contains("payload") && detail.contains("expected M"), "{detail}");
}

#[test]
fn the_event_strategy_covers_every_catalogue_type() {
    let mut runner = TestRunner::deterministic();
    let strategy = event();
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..2000 {
        seen.insert(strategy.new_tree(&mut runner).unwrap().current().wire_type());
    }
    let missing: Vec<&str> = EVENT_TYPES.iter().copied().filter(|t| !seen.contains(t)).collect();
    assert!(missing.is_empty(), "add strategies for {missing:?}");
}
