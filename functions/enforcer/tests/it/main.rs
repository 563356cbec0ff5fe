//! Integration tests of the enforcer: the pure policy document, the handler over in-memory
//! views, ledger and role policies, its reads counted through the ports, and the whole run
//! against IAM and DynamoDB emulators.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod drift;
mod emulator;
mod handler;
mod policy;
mod reads;

use chrono::{DateTime, Utc};
use ledger::event::{CredentialsIssued, Effect};
use ledger::{SessionId, StoredEvent, StreamKey};
use projections::testkit::*;

/// The account of the test roles (projections' testkit uses it too).
pub const ACCOUNT: &str = "111122223333";

/// A role ARN in `account`.
pub fn role_arn(account: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:role/{name}")
}

/// The SourceIdentity the TVM gives a session.
pub fn source_identity(id: SessionId) -> String {
    format!("sentinel-{id}")
}

/// Appends a vended session on `role` to `ledger`; returns its id and stored events.
pub fn vend(ledger: &mut LedgerBuilder, role: &str) -> (SessionId, Vec<StoredEvent>) {
    let id = SessionId::generate();
    let stream = StreamKey::Session(id);
    let issued = CredentialsIssued {
        role_arn: role.parse().expect("a role ARN"),
        source_identity: source_identity(id),
        role_session_name: source_identity(id),
        access_key_id: "ASIATESTKEY".into(),
        expiration: at(ledger.clock + 60),
        session_ends_at: at(ledger.clock + 480),
        token_hash: "ab".repeat(32),
    };
    let events = vec![
        ledger.append(&stream, requested("alice", "dev"), actor("alice")),
        ledger.append(&stream, decided(Effect::Allow), actor("alice")),
        ledger.append(&stream, issued, actor("alice")),
    ];
    (id, events)
}

/// Appends the revocation of session `id`; returns the stored event (the bus event's detail).
pub fn revoke(ledger: &mut LedgerBuilder, id: SessionId) -> StoredEvent {
    ledger.append(&StreamKey::Session(id), revoked("secops"), actor("secops"))
}

/// The EventBridge event the exporter's bus delivers for `event`.
pub fn bus_event(event: &StoredEvent) -> serde_json::Value {
    serde_json::json!({
        "version": "0",
        "id": format!("bus-{}", event.event_id),
        "detail-type": event.event_type,
        "source": "sentinel.ledger",
        "account": ACCOUNT,
        "time": event.occurred_at,
        "region": "us-east-1",
        "resources": [],
        "detail": serde_json::to_value(event).expect("stored events serialise"),
    })
}

/// The bus event, parsed as the handler receives it.
pub fn parsed(event: &StoredEvent) -> aws_lambda_events::eventbridge::EventBridgeEvent<serde_json::Value> {
    enforcer::parse_event(bus_event(event)).expect("a bus event parses")
}

/// The SourceIdentities a written document denies by name.
pub fn denied_identities(document: &str) -> Vec<String> {
    let doc: serde_json::Value = serde_json::from_str(document).expect("the document is JSON");
    let mut found: Vec<String> = doc["Statement"]
        .as_array()
        .expect("Statement is a list")
        .iter()
        .filter_map(|s| s["Condition"]["StringEquals"]["aws:SourceIdentity"].as_array())
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    found.sort();
    found
}

/// The `aws:TokenIssueTime` cut-off of a written document, if any.
pub fn cutoff_of(document: &str) -> Option<DateTime<Utc>> {
    let doc: serde_json::Value = serde_json::from_str(document).expect("the document is JSON");
    doc["Statement"]
        .as_array()?
        .iter()
        .filter_map(|s| s["Condition"]["DateLessThan"]["aws:TokenIssueTime"][0].as_str())
        .filter_map(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .max()
}
