//! Property tests at scale over every input the product parses: policy documents, the HTTP
//! inputs of every route (query, body, headers, path parameters, identity) through
//! `tvm::handle`, and ledger stream records through the shared decoding, the projector and the
//! exporter. Any panic fails the case (proptest catches it and shrinks the input).
//!
//! Cases per test come from `SENTINEL_FUZZ_CASES` (256 by default, as in `make test`;
//! `make fuzz` runs 100,000); the seed is fixed (`SENTINEL_FUZZ_SEED` changes it), so a run is
//! reproducible.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use aws_lambda_events::dynamodb::EventRecord;
use aws_sdk_dynamodb::types::AttributeValue;
use exporter::{BusEntry, ExportError, Publisher};
use ledger::policy::{PolicyDocument, Request, Subject};
use ledger::store::memory::MemoryEventStore;
use ledger::store::EventStore;
use ledger::StoredEvent;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{json, Value};

use crate::faults::{stream_event, stream_record};
use crate::support::*;

use devstack::fuzz::fuzz;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// Fragments policy text is made of, valid and not.
const POLICY_TOKENS: &[&str] = &[
    "version: \"1\"\n",
    "profile: dev\n",
    "role_arn: arn:aws:iam::123456789012:role/SentinelProtected-Dev\n",
    "max_duration: 1h\n",
    "max_session: 8h\n",
    "rules:\n",
    "  - name: r\n",
    "    effect: allow\n",
    "    effect: deny\n",
    "    effect: require_approval\n",
    "    effect: maybe\n",
    "    when:\n",
    "      users: [alice, bob]\n",
    "      principals: [\"arn:aws:sts::*:assumed-role/CI-*/*\"]\n",
    "      time: {days: [mon, fri], hours: {start: \"08:00\", end: \"18:00\"}, timezone: Europe/Berlin}\n",
    "      time: {days: [xyz], hours: {start: \"25:00\", end: \"-1\"}, timezone: Mars/Olympus}\n",
    "    max_duration: 30m\n",
    "    max_duration: 99999999999h\n",
    "    reason: because\n",
    "approvals: {approvers: [carol], required: 1, window: 4h}\n",
    "approvals: {required: -1}\n",
    "break_glass: {users: [oncall], reason_codes: [incident], max_duration: 1h, cooldown: 30m}\n",
    "revokers: [secops]\n",
    "unknown: key\n",
    "&a [1]\n",
    "*a\n",
    "!!binary aGk=\n",
    "{",
    "}",
    "[",
    "]",
    ":",
    "- ",
    "\t",
    "\"",
    "'",
    "\u{0}",
    "é✓",
    "\n",
    "    ",
    "1e999",
    "0x10",
    "~",
    "null",
    "true",
];

fn policy_text() -> impl Strategy<Value = String> {
    prop_oneof![
        // Raw bytes that happen to be UTF-8.
        ".{0,400}",
        // Documents assembled from fragments.
        proptest::collection::vec(proptest::sample::select(POLICY_TOKENS), 0..40).prop_map(|parts| parts.concat()),
        // The example policies with one region replaced by fragments.
        (
            proptest::sample::select(&["dev", "prod"][..]),
            any::<prop::sample::Index>(),
            0usize..40,
            proptest::collection::vec(proptest::sample::select(POLICY_TOKENS), 0..4)
        )
            .prop_map(|(name, at, cut, insert)| {
                let text = example_policy(name);
                let start = at.index(text.len() + 1);
                let end = (start + cut).min(text.len());
                let (start, end) = (floor_char(&text, start), floor_char(&text, end).max(floor_char(&text, start)));
                format!("{}{}{}", &text[..start], insert.concat(), &text[end..])
            }),
    ]
}

fn floor_char(text: &str, mut i: usize) -> usize {
    i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[test]
fn fuzz_policy_parser_never_panics_and_whatever_it_accepts_evaluates_deterministically() {
    let subject = Subject {
        principal: "arn:aws:iam::123456789012:user/alice".parse().unwrap(),
        policy_user: Some("alice".into()),
    };
    let now = chrono::Utc::now();
    fuzz("policy parser", policy_text(), |text| {
        let expected = "dev".parse().ok();
        let parsed = PolicyDocument::parse(&text, expected.as_ref());
        if let Ok(policy) = parsed {
            prop_assert_eq!(policy.profile.as_str(), "dev", "the profile must equal the expected one");
            let request = Request { caller: &subject, now, requested: None };
            prop_assert_eq!(policy.evaluate(&request), policy.evaluate(&request));
            let again =
                PolicyDocument::parse(&text, expected.as_ref()).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(again.hash(), policy.hash());
        }
        Ok(())
    });
}

/// Identities as API Gateway would report them, and some it never would.
fn identity() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        Just(None),
        proptest::sample::select(&["alice", "bob", "carol", "secops", "mallory", "oncall"][..]).prop_map(|n| Some(iam_user(n))),
        Just(Some(assumed_role("SentinelProtected-Dev", "AROAPROTECTED0000001", "sentinel-x"))),
        (".{0,80}", ".{0,40}", ".{0,20}").prop_map(|(arn, id, account)| Some(json!({
            "accessKey": "AKIA", "accountId": account, "callerId": id, "principalOrgId": null, "userArn": arn, "userId": id,
        }))),
    ]
}

const QUERY_KEYS: &[&str] =
    &["profile", "duration", "reason", "status", "approver", "principal", "since", "until", "next_token", "limit"];
const VALUES: &[&str] = &[
    "dev",
    "prod",
    "900",
    "3600",
    "899",
    "-1",
    "1e3",
    "me",
    "active",
    "pending",
    "2024-01-01T00:00:00Z",
    "",
    "%",
    "%zz",
    "%00",
    "é✓",
    "../etc",
    "01ARZ3NDEKTSV4RRFFQ69G5FAV",
    "9999999999999999999999",
];

fn query() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,120}",
        proptest::collection::vec(
            (
                proptest::sample::select(QUERY_KEYS),
                prop_oneof![proptest::sample::select(VALUES).prop_map(str::to_owned), "[ -~]{0,20}"]
            ),
            0..5
        )
        .prop_map(|pairs| pairs.into_iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        proptest::sample::select(VALUES).prop_map(Value::from),
        ".{0,300}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec(
                (
                    proptest::sample::select(
                        &["profile", "justification", "duration", "reason_code", "reason", "comment", "x"][..]
                    ),
                    inner
                ),
                0..5
            )
            .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

fn body() -> impl Strategy<Value = Option<String>> {
    prop_oneof![Just(None), ".{0,200}".prop_map(Some), json_value().prop_map(|v| Some(v.to_string()))]
}

fn route() -> impl Strategy<Value = String> {
    let known: Vec<String> = tvm::routes::ROUTES.iter().map(|r| r.key()).collect();
    prop_oneof![
        4 => proptest::sample::select(known),
        1 => ("[A-Z]{1,7}", "/[ -~]{0,30}").prop_map(|(m, p)| format!("{m} {p}")),
    ]
}

fn path_id() -> impl Strategy<Value = String> {
    prop_oneof![Just("01ARZ3NDEKTSV4RRFFQ69G5FAV".to_owned()), Just("dev".to_owned()), ".{0,40}"]
}

#[derive(Debug, Clone)]
struct HttpCase {
    route: String,
    id: String,
    query: String,
    body: Option<String>,
    base64: bool,
    identity: Option<Value>,
    headers: Vec<(String, String)>,
}

fn http_case() -> impl Strategy<Value = HttpCase> {
    (
        route(),
        path_id(),
        query(),
        body(),
        any::<bool>(),
        identity(),
        proptest::collection::vec(
            (
                proptest::sample::select(
                    &[
                        "idempotency-key",
                        "content-type",
                        "authorization",
                        "x-sentinel-session-token",
                        "x-forwarded-for",
                    ][..],
                )
                .prop_map(str::to_owned),
                "[ -~]{0,60}",
            ),
            0..3,
        ),
    )
        .prop_map(|(route, id, query, body, base64, identity, headers)| HttpCase {
            route,
            id,
            query,
            body,
            base64,
            identity,
            headers,
        })
}

fn build(case: &HttpCase) -> Option<ApiGatewayV2httpRequest> {
    let (method, path) = case.route.split_once(' ')?;
    let mut req = request("GET /", &case.query, case.identity.clone());
    req.route_key = Some(case.route.clone());
    req.request_context.route_key = Some(case.route.clone());
    req.request_context.http.method = method.parse().ok()?;
    let mut raw = path.to_owned();
    for name in ["id", "profile"] {
        if path.contains(&format!("{{{name}}}")) {
            req.path_parameters.insert(name.to_owned(), case.id.clone());
            raw = raw.replace(&format!("{{{name}}}"), &case.id);
        }
    }
    req.raw_path = Some(raw);
    req.body = case.body.clone();
    req.is_base64_encoded = case.base64;
    for (name, value) in &case.headers {
        if let (Ok(n), Ok(v)) = (name.parse::<aws_lambda_events::http::HeaderName>(), value.parse()) {
            req.headers.insert(n, v);
        }
    }
    Some(req)
}

#[test]
fn fuzz_http_inputs_of_every_route_get_a_clean_answer_and_bad_requests_change_nothing() {
    let rt = runtime();
    let tvm = Tvm::new();
    tvm.policies
        .put_admins(
            &std::fs::read_to_string(format!("{}/../examples/admins.yaml", env!("CARGO_MANIFEST_DIR"))).unwrap(),
        )
        .unwrap();
    fuzz("http inputs", http_case(), |case| {
        let Some(req) = build(&case) else {
            return Ok(());
        };
        let before = tvm.store.all().len();
        let unmatched = tvm::routes::find(&req).is_none();
        let answer = rt.block_on(tvm.call(req));
        let status = answer.status();
        prop_assert!([200, 201, 400, 401, 403, 404, 409, 429, 500, 503].contains(&status), "status {}", status);
        if unmatched {
            // What API Gateway itself answers for a route it does not have.
            prop_assert_eq!((status, answer.json()), (404, serde_json::json!({"message": "Not Found"})));
        } else if status >= 400 {
            let body = answer.json();
            prop_assert!(
                body["Code"].is_string() && body["Message"].is_string(),
                "error without Code/Message: {}",
                answer.body_text()
            );
            let message = body["Message"].as_str().unwrap_or_default();
            prop_assert!(
                !message.contains("panicked") && !message.contains("/sentinel/policies/"),
                "unsafe message: {}",
                message
            );
        }
        if status == 400 || status == 404 {
            prop_assert_eq!(tvm.store.all().len(), before, "a rejected request wrote to the ledger");
        }
        Ok(())
    });
}

/// A random DynamoDB attribute value, nested a little.
fn attribute() -> impl Strategy<Value = AttributeValue> {
    let leaf = prop_oneof![
        ".{0,80}".prop_map(AttributeValue::S),
        prop_oneof!["-?[0-9]{1,30}", "[0-9eE.+-]{0,12}", ".{0,10}"].prop_map(AttributeValue::N),
        any::<bool>().prop_map(AttributeValue::Bool),
        Just(AttributeValue::Null(true)),
        proptest::collection::vec(any::<u8>(), 0..20).prop_map(|b| AttributeValue::B(b.into())),
        proptest::collection::vec(".{0,10}", 0..3).prop_map(AttributeValue::Ss),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(AttributeValue::L),
            proptest::collection::hash_map(".{0,8}", inner, 0..3).prop_map(AttributeValue::M),
        ]
    })
}

const ATTRIBUTES: &[&str] = &[
    "pk",
    "sk",
    "event_id",
    "event_type",
    "schema_version",
    "occurred_at",
    "actor",
    "correlation_id",
    "payload",
    "prev_hash",
    "hash",
    "stream",
    "seq",
];

#[derive(Debug, Clone)]
enum Mutation {
    Remove(&'static str),
    Set(&'static str, AttributeValue),
    Add(String, AttributeValue),
    EventName(String),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        proptest::sample::select(ATTRIBUTES).prop_map(Mutation::Remove),
        (proptest::sample::select(ATTRIBUTES), attribute()).prop_map(|(k, v)| Mutation::Set(k, v)),
        (".{0,12}", attribute()).prop_map(|(k, v)| Mutation::Add(k, v)),
        prop_oneof![Just("MODIFY".to_owned()), Just("REMOVE".to_owned()), ".{0,8}"].prop_map(Mutation::EventName),
    ]
}

/// A bus that accepts everything and records event ids.
#[derive(Default)]
struct RecordingBus(Mutex<Vec<String>>);

#[async_trait]
impl Publisher for RecordingBus {
    async fn publish(&self, entries: &[BusEntry]) -> Result<Vec<Option<String>>, ExportError> {
        let mut seen = self.0.lock().unwrap();
        for entry in entries {
            let detail: Value = serde_json::from_str(&entry.detail).map_err(|e| ExportError::Encode(e.to_string()))?;
            seen.push(detail["event_id"].as_str().unwrap_or_default().to_owned());
        }
        Ok(vec![None; entries.len()])
    }
}

struct SharedBus(Arc<RecordingBus>);

#[async_trait]
impl Publisher for SharedBus {
    async fn publish(&self, entries: &[BusEntry]) -> Result<Vec<Option<String>>, ExportError> {
        self.0.publish(entries).await
    }
}

#[test]
fn fuzz_stream_records_decode_project_and_export_without_panics_and_bad_ones_are_reported() {
    let rt = runtime();
    let tvm = Tvm::new();
    rt.block_on(tvm.call(request("GET /", "profile=dev", Some(iam_user("alice")))));
    let events: Vec<StoredEvent> = tvm.store.all();
    assert!(events.len() >= 3);
    let ledger = Arc::new(MemoryEventStore::new());
    for e in &events {
        rt.block_on(ledger.write(std::slice::from_ref(e), &[], &e.event_id)).unwrap();
    }
    let strategy = (any::<prop::sample::Index>(), proptest::collection::vec(mutation(), 0..4));
    fuzz("stream records", strategy, |(which, mutations)| {
        let original = &events[which.index(events.len())];
        let mut record: EventRecord = stream_record(original, 1);
        let mut item: HashMap<String, AttributeValue> = ledger::store::dynamo::to_item(original).unwrap();
        for m in &mutations {
            match m {
                Mutation::Remove(k) => {
                    item.remove(*k);
                }
                Mutation::Set(k, v) => {
                    item.insert((*k).to_owned(), v.clone());
                }
                Mutation::Add(k, v) => {
                    item.insert(k.clone(), v.clone());
                }
                Mutation::EventName(n) => record.event_name = n.clone(),
            }
        }
        record.change.new_image = item.into();
        let decoded = edge::stream::stored_event(&record);
        if mutations.is_empty() {
            let same = matches!(&decoded, Ok(Some(e)) if e == original);
            prop_assert!(same, "an untouched record decodes to its event");
        }
        // A decoded event whose hashed attributes changed must fail chain verification.
        if let Ok(Some(event)) = &decoded {
            if event != original && event.stream == original.stream && event.seq == original.seq {
                let mut stream: Vec<StoredEvent> =
                    events.iter().filter(|e| e.stream == original.stream && e.seq < original.seq).cloned().collect();
                stream.push(event.clone());
                prop_assert!(
                    ledger::verify_stream(&original.stream, &stream).is_err()
                        || event.hash == original.hash
                            && event.prev_hash == original.prev_hash
                            && serde_json::to_value(event).ok() == serde_json::to_value(original).ok(),
                    "a changed event verified"
                );
            }
        }
        // The exporter reports what it cannot export, and exports what it can.
        let bus = Arc::new(RecordingBus::default());
        let exporter = exporter::Deps {
            publisher: Box::new(SharedBus(bus.clone())),
            retry_base: std::time::Duration::from_millis(1),
        };
        let response = rt.block_on(exporter::handle(&exporter, stream_event(vec![record.clone()])));
        match &decoded {
            Err(_) => prop_assert_eq!(response.batch_item_failures.len(), 1, "an undecodable record is reported"),
            Ok(None) => prop_assert!(bus.0.lock().unwrap().is_empty()),
            Ok(Some(_)) => {}
        }
        // The projector never panics; an undecodable record is reported, not skipped.
        let views = Arc::new(projections::store::memory::MemoryViewStore::new());
        let projector = projector::Deps { views, ledger: ledger.clone() };
        let response = rt.block_on(projector::handle(&projector, stream_event(vec![record])));
        if decoded.is_err() {
            prop_assert_eq!(response.batch_item_failures.len(), 1, "the projector skipped an undecodable record");
        }
        Ok(())
    });
}
