//! The DynamoDB ledger table. This module alone knows its attribute names, key formats, the
//! serde_dynamo mapping and the SDK's errors.
//!
//! Item: `pk` (S, stream key) and `sk` (N, seq) as keys, then `event_id`, `type`,
//! `schema_version` (N), `occurred_at`, `actor`, `person` (S, only on events that have one),
//! `correlation_id`, `payload` (M), `prev_hash`, `hash`. Items are only ever put with `attribute_not_exists(pk)`; nothing updates or deletes.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, KeySchemaElement, KeyType, Put,
    ScalarAttributeType, StreamSpecification, StreamViewType, TransactWriteItem,
};
use aws_sdk_dynamodb::Client;
use serde::{Deserialize, Serialize};

use super::{parse_stream, Detail, EventStore, FailureKind, KeyRecord, KeyState, StoreError, StreamCheck};
use crate::ids::StreamKey;
use crate::record::StoredEvent;

const PK: &str = "pk";
const SK: &str = "sk";
const NEW_KEY: &str = "attribute_not_exists(pk)";
/// Every attribute of an item and its DynamoDB type.
const ATTRIBUTE_TYPES: &[(&str, &str)] = &[
    (PK, "S"),
    (SK, "N"),
    ("event_id", "S"),
    ("type", "S"),
    ("schema_version", "N"),
    ("occurred_at", "S"),
    ("actor", "S"),
    ("person", "S"),
    ("correlation_id", "S"),
    ("payload", "M"),
    ("prev_hash", "S"),
    ("hash", "S"),
];
/// How often a transaction cancelled only by a concurrent transaction is tried again.
const CONTENTION_RETRIES: u32 = 5;

/// The ledger table item, field for field.
#[derive(Serialize, Deserialize)]
struct Item {
    pk: String,
    sk: u64,
    event_id: String,
    #[serde(rename = "type")]
    event_type: String,
    schema_version: u32,
    occurred_at: String,
    actor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    person: Option<String>,
    correlation_id: String,
    payload: serde_json::Value,
    prev_hash: String,
    hash: String,
}

impl From<&StoredEvent> for Item {
    fn from(e: &StoredEvent) -> Self {
        Item {
            pk: e.stream.clone(),
            sk: e.seq,
            event_id: e.event_id.clone(),
            event_type: e.event_type.clone(),
            schema_version: e.schema_version,
            occurred_at: e.occurred_at.clone(),
            actor: e.actor.clone(),
            person: e.person.clone(),
            correlation_id: e.correlation_id.clone(),
            payload: e.payload.clone(),
            prev_hash: e.prev_hash.clone(),
            hash: e.hash.clone(),
        }
    }
}

impl From<Item> for StoredEvent {
    fn from(i: Item) -> Self {
        StoredEvent {
            stream: i.pk,
            seq: i.sk,
            event_id: i.event_id,
            event_type: i.event_type,
            schema_version: i.schema_version,
            occurred_at: i.occurred_at,
            actor: i.actor,
            person: i.person,
            correlation_id: i.correlation_id,
            payload: i.payload,
            prev_hash: i.prev_hash,
            hash: i.hash,
        }
    }
}

/// Converts a stored event to a DynamoDB item.
pub fn to_item(event: &StoredEvent) -> Result<HashMap<String, AttributeValue>, StoreError> {
    serde_dynamo::to_item(Item::from(event)).map_err(|e| StoreError::Unencodable(format!("{}: {e}", event.stream)))
}

/// Converts a DynamoDB item (from a read, or a stream record's image as Lambda delivers it) to
/// a stored event; a missing or mistyped attribute is a [`StoreError::Corrupt`] naming the item
/// and the attribute.
pub fn from_item<I: Into<serde_dynamo::Item>>(item: I) -> Result<StoredEvent, StoreError> {
    let item: serde_dynamo::Item = item.into();
    let attribute = |name: &str| match item.get(name) {
        Some(serde_dynamo::AttributeValue::S(s) | serde_dynamo::AttributeValue::N(s)) => s.clone(),
        _ => format!("<no {name}>"),
    };
    let position = format!("{} seq {}", attribute(PK), attribute(SK));
    for (name, expected) in ATTRIBUTE_TYPES {
        let actual = match item.get(*name) {
            None => continue, // serde names a missing attribute itself
            Some(serde_dynamo::AttributeValue::S(_)) => "S",
            Some(serde_dynamo::AttributeValue::N(_)) => "N",
            Some(serde_dynamo::AttributeValue::M(_)) => "M",
            Some(_) => "another type",
        };
        if actual != *expected {
            return Err(StoreError::Corrupt(format!(
                "item {position}: attribute {name} is {actual}, expected {expected}"
            )));
        }
    }
    serde_dynamo::from_item::<_, Item>(item)
        .map(StoredEvent::from)
        .map_err(|e| StoreError::Corrupt(format!("item {position}: {e}")))
}

/// The idempotency table's TTL attribute (epoch seconds).
pub const KEY_EXPIRES_AT: &str = "expires_at";

/// An idempotency record, attribute for attribute: `pk`, `request`, `state` (`running` |
/// `answered`), `claim` (running), `status` (N) and `body` (the answer's JSON text, answered),
/// `written_at`, and `expires_at` (N, epoch seconds: the table's TTL attribute).
#[derive(Serialize, Deserialize)]
struct KeyItem {
    pk: String,
    request: String,
    state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    claim: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    written_at: String,
    expires_at: i64,
}

impl KeyItem {
    fn of(r: &KeyRecord) -> KeyItem {
        let (state, claim, status, body) = match &r.state {
            KeyState::Running { claim } => ("running", Some(claim.clone()), None, None),
            KeyState::Answered { status, body } => ("answered", None, Some(*status), Some(body.to_string())),
        };
        KeyItem {
            pk: r.key.clone(),
            request: r.request.clone(),
            state: state.to_owned(),
            claim,
            status,
            body,
            written_at: crate::record::format_time(r.written_at),
            expires_at: r.expires_at.timestamp(),
        }
    }

    fn into_record(self) -> Result<KeyRecord, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("idempotency record {}: {what}", self.pk));
        let state = match (self.state.as_str(), &self.claim, self.status, &self.body) {
            ("running", Some(claim), _, _) => KeyState::Running { claim: claim.clone() },
            ("answered", _, Some(status), Some(body)) => KeyState::Answered {
                status,
                body: serde_json::from_str(body).map_err(|_| corrupt("the body is not JSON"))?,
            },
            _ => return Err(corrupt("neither running with a claim nor answered with a status and body")),
        };
        let written_at = chrono::DateTime::parse_from_rfc3339(&self.written_at)
            .map_err(|_| corrupt("written_at is not RFC 3339"))?
            .with_timezone(&chrono::Utc);
        let expires_at = chrono::DateTime::from_timestamp(self.expires_at, 0)
            .ok_or_else(|| corrupt("expires_at is out of range"))?;
        Ok(KeyRecord { key: self.pk, request: self.request, state, written_at, expires_at })
    }
}

/// The condition a key record is put on: no record, or one past its expiry (an expired record
/// counts as absent even before DynamoDB's TTL deletes it).
const KEY_FREE: &str = "attribute_not_exists(pk) OR expires_at < :now";

/// The ledger table through the AWS SDK, and the idempotency table beside it.
#[derive(Debug, Clone)]
pub struct DynamoEventStore {
    client: Client,
    table: String,
    key_table: Option<String>,
}

impl DynamoEventStore {
    /// A store on `table`. Build `client` with the SDK's standard retry mode: throttling and
    /// transient errors are retried with backoff there; conflicts are never retried.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoEventStore { client, table: table.into(), key_table: None }
    }

    /// The same store, remembering `Idempotency-Key` answers in `table`.
    pub fn with_key_table(mut self, table: impl Into<String>) -> Self {
        self.key_table = Some(table.into());
        self
    }

    fn key_table(&self) -> Result<&str, StoreError> {
        self.key_table.as_deref().ok_or_else(|| {
            StoreError::failed(FailureKind::Invalid, "idempotency", Detail("no idempotency table configured".into()))
        })
    }

    /// The Put of a key record on [`KEY_FREE`] (or on being the running claim `replacing`).
    fn key_put(&self, record: &KeyRecord, replacing: Option<&str>) -> Result<Put, StoreError> {
        let item = serde_dynamo::to_item(KeyItem::of(record))
            .map_err(|e| StoreError::Unencodable(format!("idempotency record: {e}")))?;
        let mut put = Put::builder()
            .table_name(self.key_table()?)
            .set_item(Some(item))
            .expression_attribute_values(":now", AttributeValue::N(record.written_at.timestamp().to_string()));
        put = match replacing {
            None => put.condition_expression(KEY_FREE),
            Some(claim) => put
                .condition_expression(format!("{KEY_FREE} OR (#state = :running AND claim = :claim)"))
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(":running", AttributeValue::S("running".into()))
                .expression_attribute_values(":claim", AttributeValue::S(claim.to_owned())),
        };
        put.build().map_err(|e| StoreError::failed(FailureKind::Invalid, "PutItem", e))
    }

    /// The table this store writes.
    pub fn table(&self) -> &str {
        &self.table
    }

    async fn put_one(&self, event: &StoredEvent) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(event)?))
            .condition_expression(NEW_KEY)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => {
                Err(StoreError::Conflict { stream: parse_stream(&event.stream)?, expected: event.seq - 1 })
            }
            Err(e) => Err(failed("PutItem", e)),
        }
    }

    async fn transact(
        &self,
        items: &[StoredEvent],
        checks: &[StreamCheck],
        key: Option<&KeyRecord>,
        token: &str,
    ) -> Result<(), StoreError> {
        let mut actions = Vec::with_capacity(items.len() + checks.len() + 1);
        for item in items {
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(to_item(item)?))
                .condition_expression(NEW_KEY)
                .build()
                .map_err(|e| StoreError::failed(FailureKind::Invalid, "TransactWriteItems", e))?;
            actions.push(TransactWriteItem::builder().put(put).build());
        }
        for check in checks {
            let condition = ConditionCheck::builder()
                .table_name(&self.table)
                .key(PK, AttributeValue::S(check.stream.to_string()))
                .key(SK, AttributeValue::N((check.seq + 1).to_string()))
                .condition_expression(NEW_KEY)
                .build()
                .map_err(|e| StoreError::failed(FailureKind::Invalid, "TransactWriteItems", e))?;
            actions.push(TransactWriteItem::builder().condition_check(condition).build());
        }
        if let Some(record) = key {
            actions.push(TransactWriteItem::builder().put(self.key_put(record, None)?).build());
        }
        let mut attempt = 0;
        loop {
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(actions.clone()))
                .client_request_token(token)
                .send()
                .await;
            let err = match result {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            let Some(cancelled) = err.as_service_error().and_then(|s| match s {
                aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c) => Some(c),
                _ => None,
            }) else {
                return Err(failed("TransactWriteItems", err));
            };
            let reasons = cancelled.cancellation_reasons();
            if let Some(index) = reasons.iter().position(|r| r.code() == Some("ConditionalCheckFailed")) {
                return Err(match items.get(index) {
                    Some(item) => StoreError::Conflict { stream: parse_stream(&item.stream)?, expected: item.seq - 1 },
                    None => match checks.get(index - items.len()) {
                        Some(check) => StoreError::Conflict { stream: check.stream.clone(), expected: check.seq },
                        None if key.is_some() && index == items.len() + checks.len() => StoreError::KeyTaken,
                        None => StoreError::failed(
                            FailureKind::Invalid,
                            "TransactWriteItems",
                            Detail(format!("a cancellation reason at index {index} names no action")),
                        ),
                    },
                });
            }
            let contended = reasons.iter().any(|r| r.code() == Some("TransactionConflict"));
            if !contended || attempt >= CONTENTION_RETRIES {
                let kind = if contended { FailureKind::Throttled } else { FailureKind::Unavailable };
                return Err(StoreError::failed(
                    kind,
                    "TransactWriteItems",
                    Detail(format!("transaction cancelled: {reasons:?}")),
                ));
            }
            attempt += 1;
            tokio::time::sleep(backoff(attempt)).await;
        }
    }
}

/// Exponential backoff with jitter: 10 ms, 20 ms, 40 ms … plus up to the same again.
fn backoff(attempt: u32) -> Duration {
    let base = 10u64 << attempt.min(6);
    let jitter = u64::from(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().subsec_nanos(),
    ) % base;
    Duration::from_millis(base + jitter)
}

/// A failed SDK call as a typed store error: its kind from the service's error code (or the
/// transport), the SDK error itself as the source.
fn failed<E, R>(operation: &'static str, e: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    StoreError::failed(failure_kind(&e), operation, Detail(sdk_error_detail(&e)))
}

/// The kind of a failed DynamoDB call, from the service's error code.
pub fn failure_kind<E, R>(e: &SdkError<E, R>) -> FailureKind
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let Some(service) = e.as_service_error() else {
        return FailureKind::Unavailable;
    };
    match service.code() {
        Some(
            "AccessDeniedException"
            | "UnrecognizedClientException"
            | "InvalidSignatureException"
            | "MissingAuthenticationTokenException"
            | "ExpiredTokenException",
        ) => FailureKind::Denied,
        Some(
            "ProvisionedThroughputExceededException"
            | "ThrottlingException"
            | "RequestLimitExceeded"
            | "LimitExceededException",
        ) => FailureKind::Throttled,
        Some("ResourceNotFoundException") => FailureKind::NotFound,
        Some("ValidationException" | "SerializationException") => FailureKind::Invalid,
        _ => FailureKind::Unavailable,
    }
}

/// What went wrong with a DynamoDB call, for logs: the service's code and message, or the
/// transport's error chain. Never shown to API clients.
pub fn sdk_error_detail<E, R>(e: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match e.as_service_error() {
        Some(s) => format!("{}: {}", s.code().unwrap_or("unknown"), s.message().unwrap_or("")),
        None => format!("{}", aws_smithy_types::error::display::DisplayErrorContext(e)),
    }
}

#[async_trait]
impl EventStore for DynamoEventStore {
    async fn write(&self, items: &[StoredEvent], checks: &[StreamCheck], token: &str) -> Result<(), StoreError> {
        match (items, checks) {
            ([one], []) => self.put_one(one).await,
            _ => self.transact(items, checks, None, token).await,
        }
    }

    async fn write_with_key(
        &self,
        items: &[StoredEvent],
        checks: &[StreamCheck],
        record: &KeyRecord,
        token: &str,
    ) -> Result<(), StoreError> {
        self.transact(items, checks, Some(record), token).await
    }

    async fn key_record(&self, key: &str) -> Result<Option<KeyRecord>, StoreError> {
        let got = self
            .client
            .get_item()
            .table_name(self.key_table()?)
            .key(PK, AttributeValue::S(key.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| failed("GetItem", e))?;
        let Some(item) = got.item else { return Ok(None) };
        let item: KeyItem =
            serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(format!("idempotency record {key}: {e}")))?;
        item.into_record().map(Some)
    }

    async fn put_key_record(&self, record: &KeyRecord, replacing: Option<&str>) -> Result<bool, StoreError> {
        let put = self.key_put(record, replacing)?;
        let result = self
            .client
            .put_item()
            .table_name(put.table_name())
            .set_item(Some(put.item().clone()))
            .set_condition_expression(put.condition_expression().map(str::to_owned))
            .set_expression_attribute_names(put.expression_attribute_names().cloned())
            .set_expression_attribute_values(put.expression_attribute_values().cloned())
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => Ok(false),
            Err(e) => Err(failed("PutItem", e)),
        }
    }

    async fn release_key(&self, key: &str, claim: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(self.key_table()?)
            .key(PK, AttributeValue::S(key.to_owned()))
            .condition_expression("#state = :running AND claim = :claim")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":running", AttributeValue::S("running".into()))
            .expression_attribute_values(":claim", AttributeValue::S(claim.to_owned()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Another attempt's claim or an answer: not ours to delete.
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => Ok(()),
            Err(e) => Err(failed("DeleteItem", e)),
        }
    }

    async fn read_stream(&self, stream: &StreamKey, from_seq: u64) -> Result<Vec<StoredEvent>, StoreError> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("pk = :pk AND sk >= :from")
            .expression_attribute_values(":pk", AttributeValue::S(stream.to_string()))
            .expression_attribute_values(":from", AttributeValue::N(from_seq.to_string()))
            .into_paginator()
            .send();
        let mut events = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| failed("Query", e))?;
            for item in page.items.unwrap_or_default() {
                events.push(from_item(item)?);
            }
        }
        Ok(events)
    }
}

impl DynamoEventStore {
    /// Every event of the table (a consistent Scan, every page), for operators: audit export and
    /// verify, view rebuilds. `progress` is told the running count after each page.
    pub async fn scan_all(&self, mut progress: impl FnMut(usize)) -> Result<Vec<StoredEvent>, StoreError> {
        let mut pages = self.client.scan().table_name(&self.table).consistent_read(true).into_paginator().send();
        let mut events = Vec::new();
        while let Some(page) = pages.next().await {
            for item in page.map_err(|e| failed("Scan", e))?.items.unwrap_or_default() {
                events.push(from_item(item)?);
            }
            progress(events.len());
        }
        Ok(events)
    }
}

/// Creates the ledger table (on demand, stream `NEW_IMAGE`), as Terraform does in AWS.
pub async fn create_ledger_table(client: &Client, table: &str) -> Result<(), StoreError> {
    let attribute = |name: &str, kind| AttributeDefinition::builder().attribute_name(name).attribute_type(kind).build();
    let key = |name: &str, kind| KeySchemaElement::builder().attribute_name(name).key_type(kind).build();
    client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute(PK, ScalarAttributeType::S).map_err(build_error)?)
        .attribute_definitions(attribute(SK, ScalarAttributeType::N).map_err(build_error)?)
        .key_schema(key(PK, KeyType::Hash).map_err(build_error)?)
        .key_schema(key(SK, KeyType::Range).map_err(build_error)?)
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewImage)
                .build()
                .map_err(build_error)?,
        )
        .send()
        .await
        .map_err(|e| failed("CreateTable", e))?;
    Ok(())
}

/// Creates the idempotency table (on demand, key `pk`, TTL on `expires_at`), as Terraform does in
/// AWS.
pub async fn create_idempotency_table(client: &Client, table: &str) -> Result<(), StoreError> {
    client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(PK)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(build_error)?,
        )
        .key_schema(
            KeySchemaElement::builder().attribute_name(PK).key_type(KeyType::Hash).build().map_err(build_error)?,
        )
        .send()
        .await
        .map_err(|e| failed("CreateTable", e))?;
    let ttl = aws_sdk_dynamodb::types::TimeToLiveSpecification::builder()
        .attribute_name(KEY_EXPIRES_AT)
        .enabled(true)
        .build()
        .map_err(build_error)?;
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(ttl)
        .send()
        .await
        .map_err(|e| failed("UpdateTimeToLive", e))?;
    Ok(())
}

fn build_error(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::failed(FailureKind::Invalid, "CreateTable", e)
}
