//! The DynamoDB views table. This module alone knows its key formats, attribute names, indexes
//! and the SDK's errors (see docs/projections.md).
//!
//! Projection rows: `pk` = stream key, `sk` = `VIEW`, `last_seq` (N), `last_hash`, `data` (M,
//! the view), and the sparse index keys `gsi1pk`/`gsi1sk` (by owner: the person, or for views of
//! streams begun before person keys the principal), `gsi2pk`/`gsi2sk` (by profile),
//! `gsi3pk`/`gsi3sk` (by status), and, on revoked sessions only, `gsi4pk`/`gsi4sk` (by role,
//! then time of revocation). Audit rows: `pk` = `AUDIT#<day>`, `sk` =
//! `<occurred_at>#<stream>#<seq>`, `data` (M), and `gsi1pk`/`gsi1sk` (by principal).

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    Projection as IndexProjection, ProjectionType, ScalarAttributeType,
};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Days, Utc};
use serde::{Deserialize, Serialize};

use ledger::decide::approval::ApprovalStatus;
use ledger::decide::breakglass::BreakGlassStatus;
use ledger::decide::session::SessionStatus;
use ledger::record::format_time;
use ledger::{RoleArn, StreamHead, StreamKey, Who};

use super::{ApprovalIndex, AuditQuery, BreakGlassIndex, Saved, SessionIndex, ViewError, ViewStore};
use crate::audit::AuditRecord;
use crate::fold::Views;
use crate::view::{ApprovalView, BreakGlassView, Projection, SessionView, View};

const VIEW_SK: &str = "VIEW";
const AUDIT: &str = "AUDIT#";
const INDEXES: [(&str, &str, &str); 4] = [
    ("gsi1", "gsi1pk", "gsi1sk"),
    ("gsi2", "gsi2pk", "gsi2sk"),
    ("gsi3", "gsi3pk", "gsi3sk"),
    ("gsi4", "gsi4pk", "gsi4sk"),
];
const BY_OWNER: usize = 0;
const BY_PROFILE: usize = 1;
const BY_STATUS: usize = 2;
/// Revoked sessions by role, then time of revocation (the enforcer's bounded read).
const REVOKED_BY_ROLE: usize = 3;

/// A projection row, attribute for attribute.
#[derive(Debug, Serialize, Deserialize)]
struct ProjectionRow {
    pk: String,
    sk: String,
    last_seq: u64,
    last_hash: String,
    data: View,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi1pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi1sk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi2pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi2sk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi3pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi3sk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi4pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi4sk: Option<String>,
}

/// An audit row, attribute for attribute.
#[derive(Debug, Serialize, Deserialize)]
struct AuditRow {
    pk: String,
    sk: String,
    data: AuditRecord,
    gsi1pk: String,
    gsi1sk: String,
}

/// Index keys: (partition, sort) for each of the four indexes.
type IndexKeys = [Option<(String, String)>; 4];

/// The by-owner partition of a view: `<KIND>#PERSON#<person>`, or `<KIND>#PRINCIPAL#<arn>` for a
/// view that knows no person (its stream began before person keys).
fn owner_key(kind: &str, owner: &Who) -> String {
    match &owner.person {
        Some(person) => format!("{kind}#PERSON#{person}"),
        None => format!("{kind}#PRINCIPAL#{}", owner.principal),
    }
}

/// The by-owner partitions a query for `who` reads: the person's and, for views written before
/// person keys, the principal's.
fn owner_partitions(kind: &str, who: &Who, suffix: &str) -> Vec<String> {
    let mut keys = vec![format!("{kind}#PRINCIPAL#{}{suffix}", who.principal)];
    if let Some(person) = &who.person {
        keys.insert(0, format!("{kind}#PERSON#{person}{suffix}"));
    }
    keys
}

fn index_keys(view: &View) -> IndexKeys {
    match view {
        View::Session(s) => match (s.status, s.issued_at) {
            (Some(status), Some(at)) => {
                let revoked = revoked_key(s);
                let status = session_status(status);
                let tail = format!("{}#{}", format_time(at), s.session_id);
                [
                    Some((owner_key("SESSION", &s.owner()), format!("{status}#{tail}"))),
                    Some((format!("SESSION#PROFILE#{}", s.profile()), format!("{status}#{tail}"))),
                    Some((format!("SESSION#STATUS#{status}"), tail)),
                    revoked,
                ]
            }
            _ => [None, None, None, None],
        },
        View::Approval(a) => {
            let status = a.status.as_str();
            let tail = format!("{}#{}", format_time(a.requested_at), a.approval_id);
            [
                Some((owner_key("APPROVAL", &a.requester()), format!("{status}#{tail}"))),
                Some((format!("APPROVAL#PROFILE#{}", a.request.profile), format!("{status}#{tail}"))),
                Some((format!("APPROVAL#STATUS#{status}"), tail)),
                None,
            ]
        }
        View::BreakGlass(b) => {
            let status = b.status.as_str();
            let tail = format!("{}#{}", format_time(b.invoked_at), b.breakglass_id);
            [
                Some((
                    format!("{}#{}", owner_key("BREAKGLASS", &b.invoker()), b.invoked.profile),
                    format!("{status}#{tail}"),
                )),
                Some((format!("BREAKGLASS#PROFILE#{}", b.invoked.profile), format!("{status}#{tail}"))),
                Some((format!("BREAKGLASS#STATUS#{status}"), tail)),
                None,
            ]
        }
        View::HeadOnly => [None, None, None, None],
    }
}

/// The revocations-index key of a revoked session with credentials: its role, then the time
/// of its revocation.
fn revoked_key(s: &SessionView) -> Option<(String, String)> {
    match (s.status, s.role_arn(), s.ended_at) {
        (Some(SessionStatus::Revoked), Some(role), Some(at)) => {
            Some((revoked_partition(role), format!("{}#{}", format_time(at), s.session_id)))
        }
        _ => None,
    }
}

fn revoked_partition(role: &RoleArn) -> String {
    format!("SESSION#REVOKED#ROLE#{role}")
}

fn session_status(status: SessionStatus) -> &'static str {
    match status {
        SessionStatus::Active => "active",
        SessionStatus::Revoked => "revoked",
        SessionStatus::Expired => "expired",
    }
}

impl ProjectionRow {
    fn of(p: &Projection) -> Self {
        let [one, two, three, four] = index_keys(&p.view);
        let (gsi1pk, gsi1sk) = one.unzip();
        let (gsi2pk, gsi2sk) = two.unzip();
        let (gsi3pk, gsi3sk) = three.unzip();
        let (gsi4pk, gsi4sk) = four.unzip();
        ProjectionRow {
            pk: p.stream.to_string(),
            sk: VIEW_SK.to_owned(),
            last_seq: p.head.seq,
            last_hash: p.head.hash.clone(),
            data: p.view.clone(),
            gsi1pk,
            gsi1sk,
            gsi2pk,
            gsi2sk,
            gsi3pk,
            gsi3sk,
            gsi4pk,
            gsi4sk,
        }
    }

    fn into_projection(self) -> Result<Projection, ViewError> {
        let stream = self.pk.parse().map_err(|e: ledger::ids::IdError| corrupt(&self.pk, e))?;
        Ok(Projection { stream, head: StreamHead { seq: self.last_seq, hash: self.last_hash }, view: self.data })
    }
}

impl AuditRow {
    fn of(r: &AuditRecord) -> Self {
        let sk = audit_sort_key(&r.occurred_at, &r.stream, r.seq);
        AuditRow {
            pk: format!("{AUDIT}{}", r.occurred_at.get(..10).unwrap_or("unknown")),
            gsi1pk: format!("{AUDIT}PRINCIPAL#{}", r.principal),
            gsi1sk: sk.clone(),
            sk,
            data: r.clone(),
        }
    }
}

fn audit_sort_key(occurred_at: &str, stream: &str, seq: u64) -> String {
    format!("{occurred_at}#{stream}#{seq:020}")
}

fn corrupt(key: &str, e: impl std::fmt::Display) -> ViewError {
    ViewError::Corrupt { key: key.to_owned(), detail: e.to_string() }
}

fn unavailable<E, R>(e: SdkError<E, R>) -> ViewError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    ViewError::Unavailable(ledger::store::dynamo::sdk_error_detail(&e))
}

type Item = HashMap<String, AttributeValue>;

fn decode<T: for<'de> Deserialize<'de>>(item: Item) -> Result<T, ViewError> {
    let key = match (item.get("pk"), item.get("sk")) {
        (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) => format!("{pk}/{sk}"),
        _ => "<no key>".to_owned(),
    };
    serde_dynamo::from_item(item).map_err(|e| corrupt(&key, e))
}

fn encode<T: Serialize>(row: &T) -> Result<Item, ViewError> {
    serde_dynamo::to_item(row).map_err(|e| corrupt("<new row>", e))
}

/// The views-table item of a projection, index keys included: what [`ViewStore::save`] puts,
/// for tools that load many rows at once (benchmarks seeding a table with BatchWriteItem).
pub fn projection_item(projection: &Projection) -> Result<HashMap<String, AttributeValue>, ViewError> {
    encode(&ProjectionRow::of(projection))
}

/// The views table through the AWS SDK.
#[derive(Debug, Clone)]
pub struct DynamoViewStore {
    client: Client,
    table: String,
}

/// A key condition on one index (or the table), every page read.
struct KeyQuery<'a> {
    index: Option<&'a str>,
    partition: (&'a str, String),
    sort: Option<SortCondition<'a>>,
}

enum SortCondition<'a> {
    BeginsWith(&'a str, String),
    Between(&'a str, String, String),
    AtLeast(&'a str, String),
}

impl DynamoViewStore {
    /// A store on `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoViewStore { client, table: table.into() }
    }

    /// The table this store reads and writes.
    pub fn table(&self) -> &str {
        &self.table
    }

    async fn query(&self, q: KeyQuery<'_>) -> Result<Vec<Item>, ViewError> {
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .set_index_name(q.index.map(str::to_owned))
            .expression_attribute_names("#p", q.partition.0)
            .expression_attribute_values(":p", AttributeValue::S(q.partition.1));
        let condition = match q.sort {
            None => "#p = :p".to_owned(),
            Some(SortCondition::BeginsWith(name, prefix)) => {
                request = request
                    .expression_attribute_names("#s", name)
                    .expression_attribute_values(":s", AttributeValue::S(prefix));
                "#p = :p AND begins_with(#s, :s)".to_owned()
            }
            Some(SortCondition::Between(name, low, high)) => {
                request = request
                    .expression_attribute_names("#s", name)
                    .expression_attribute_values(":lo", AttributeValue::S(low))
                    .expression_attribute_values(":hi", AttributeValue::S(high));
                "#p = :p AND #s BETWEEN :lo AND :hi".to_owned()
            }
            Some(SortCondition::AtLeast(name, low)) => {
                request = request
                    .expression_attribute_names("#s", name)
                    .expression_attribute_values(":lo", AttributeValue::S(low));
                "#p = :p AND #s >= :lo".to_owned()
            }
        };
        let mut pages = request.key_condition_expression(condition).into_paginator().send();
        let mut items = Vec::new();
        while let Some(page) = pages.next().await {
            items.extend(page.map_err(unavailable)?.items.unwrap_or_default());
        }
        Ok(items)
    }

    async fn views_by(
        &self,
        index: usize,
        partition: String,
        status: Option<&str>,
    ) -> Result<Vec<Projection>, ViewError> {
        let (name, pk, sk) = INDEXES[index];
        let sort = status.map(|s| SortCondition::BeginsWith(sk, format!("{s}#")));
        let items = self.query(KeyQuery { index: Some(name), partition: (pk, partition), sort }).await?;
        items.into_iter().map(|i| decode::<ProjectionRow>(i)?.into_projection()).collect()
    }

    /// The views in any of the by-owner `partitions`, each once.
    async fn views_by_owner(
        &self,
        partitions: Vec<String>,
        status: Option<&str>,
    ) -> Result<Vec<Projection>, ViewError> {
        let mut found: Vec<Projection> = Vec::new();
        for partition in partitions {
            for projection in self.views_by(BY_OWNER, partition, status).await? {
                if !found.iter().any(|p| p.stream == projection.stream) {
                    found.push(projection);
                }
            }
        }
        Ok(found)
    }

    async fn put(&self, item: Item, condition: Option<(&str, u64)>) -> Result<Saved, ViewError> {
        let mut request = self.client.put_item().table_name(&self.table).set_item(Some(item));
        if let Some((expression, seq)) = condition {
            request = request
                .condition_expression(expression)
                .expression_attribute_values(":seq", AttributeValue::N(seq.to_string()));
        }
        match request.send().await {
            Ok(_) => Ok(Saved::Written),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => {
                Ok(Saved::AlreadyCurrent)
            }
            Err(e) => Err(unavailable(e)),
        }
    }
}

#[async_trait]
impl ViewStore for DynamoViewStore {
    async fn projection(&self, stream: &StreamKey) -> Result<Option<Projection>, ViewError> {
        let found = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(stream.to_string()))
            .key("sk", AttributeValue::S(VIEW_SK.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        match found.item {
            Some(item) => Ok(Some(decode::<ProjectionRow>(item)?.into_projection()?)),
            None => Ok(None),
        }
    }

    async fn save(&self, projection: &Projection) -> Result<Saved, ViewError> {
        let item = encode(&ProjectionRow::of(projection))?;
        // Duplicates and older states fail the condition: the stored row stays as it is.
        self.put(item, Some(("attribute_not_exists(pk) OR last_seq < :seq", projection.head.seq))).await
    }

    async fn overwrite(&self, projection: &Projection) -> Result<(), ViewError> {
        self.put(encode(&ProjectionRow::of(projection))?, None).await.map(|_| ())
    }

    async fn save_audit(&self, rows: &[AuditRecord]) -> Result<(), ViewError> {
        for row in rows {
            self.put(encode(&AuditRow::of(row))?, None).await?;
        }
        Ok(())
    }

    async fn sessions(
        &self,
        index: &SessionIndex,
        status: Option<SessionStatus>,
    ) -> Result<Vec<SessionView>, ViewError> {
        let status = status.map(session_status);
        let found = match index {
            SessionIndex::Owner(who) => self.views_by_owner(owner_partitions("SESSION", who, ""), status).await?,
            SessionIndex::Profile(p) => self.views_by(BY_PROFILE, format!("SESSION#PROFILE#{p}"), status).await?,
            SessionIndex::Status(s) => {
                self.views_by(BY_STATUS, format!("SESSION#STATUS#{}", session_status(*s)), None).await?
            }
        };
        Ok(found.into_iter().filter_map(|p| p.session().cloned()).collect())
    }

    async fn revoked_since(&self, role: &RoleArn, since: DateTime<Utc>) -> Result<Vec<SessionView>, ViewError> {
        let (name, pk, sk) = INDEXES[REVOKED_BY_ROLE];
        // "<revoked_at>#<id>" ≥ "<since>" exactly when revoked_at ≥ since (same fixed format).
        let sort = Some(SortCondition::AtLeast(sk, format_time(since)));
        let items = self.query(KeyQuery { index: Some(name), partition: (pk, revoked_partition(role)), sort }).await?;
        let found: Vec<Projection> =
            items.into_iter().map(|i| decode::<ProjectionRow>(i)?.into_projection()).collect::<Result<_, _>>()?;
        Ok(found.into_iter().filter_map(|p| p.session().cloned()).collect())
    }

    async fn approvals(
        &self,
        index: &ApprovalIndex,
        status: Option<ApprovalStatus>,
    ) -> Result<Vec<ApprovalView>, ViewError> {
        let status = status.map(ApprovalStatus::as_str);
        let found = match index {
            ApprovalIndex::Requester(who) => self.views_by_owner(owner_partitions("APPROVAL", who, ""), status).await?,
            ApprovalIndex::Profile(p) => self.views_by(BY_PROFILE, format!("APPROVAL#PROFILE#{p}"), status).await?,
            ApprovalIndex::Status(s) => {
                self.views_by(BY_STATUS, format!("APPROVAL#STATUS#{}", s.as_str()), None).await?
            }
        };
        Ok(found.into_iter().filter_map(|p| p.approval().cloned()).collect())
    }

    async fn break_glass(
        &self,
        index: &BreakGlassIndex,
        status: Option<BreakGlassStatus>,
    ) -> Result<Vec<BreakGlassView>, ViewError> {
        let status = status.map(BreakGlassStatus::as_str);
        let found = match index {
            BreakGlassIndex::InvokerProfile(who, p) => {
                self.views_by_owner(owner_partitions("BREAKGLASS", who, &format!("#{p}")), status).await?
            }
            BreakGlassIndex::Profile(p) => self.views_by(BY_PROFILE, format!("BREAKGLASS#PROFILE#{p}"), status).await?,
            BreakGlassIndex::Status(s) => {
                self.views_by(BY_STATUS, format!("BREAKGLASS#STATUS#{}", s.as_str()), None).await?
            }
        };
        Ok(found.into_iter().filter_map(|p| p.break_glass().cloned()).collect())
    }

    async fn audit(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, ViewError> {
        if query.since >= query.until {
            return Ok(Vec::new());
        }
        // BETWEEN on "<occurred_at>#…" keys: an event at `since` sorts after "<since>", one at
        // `until` after "<until>", so the range is since ≤ t < until.
        let (low, high) = (format_time(query.since), format_time(query.until));
        let rows = match &query.principal {
            Some(p) => {
                let (name, pk, sk) = INDEXES[BY_OWNER];
                let sort = Some(SortCondition::Between(sk, low, high));
                self.query(KeyQuery { index: Some(name), partition: (pk, format!("{AUDIT}PRINCIPAL#{p}")), sort })
                    .await?
            }
            None => {
                let mut rows = Vec::new();
                for day in days(query.since, query.until) {
                    let sort = Some(SortCondition::Between("sk", low.clone(), high.clone()));
                    rows.extend(
                        self.query(KeyQuery { index: None, partition: ("pk", format!("{AUDIT}{day}")), sort }).await?,
                    );
                }
                rows
            }
        };
        rows.into_iter().map(|i| decode::<AuditRow>(i).map(|r| r.data)).collect()
    }

    async fn dump(&self) -> Result<Views, ViewError> {
        let mut pages = self.client.scan().table_name(&self.table).consistent_read(true).into_paginator().send();
        let mut views = Views::default();
        while let Some(page) = pages.next().await {
            for item in page.map_err(unavailable)?.items.unwrap_or_default() {
                let audit = matches!(item.get("pk"), Some(AttributeValue::S(pk)) if pk.starts_with(AUDIT));
                if audit {
                    let row = decode::<AuditRow>(item)?.data;
                    views.audit.insert((row.stream.clone(), row.seq), row);
                } else {
                    let p = decode::<ProjectionRow>(item)?.into_projection()?;
                    views.projections.insert(p.stream.to_string(), p);
                }
            }
        }
        Ok(views)
    }
}

/// The UTC days (`YYYY-MM-DD`) that `since ≤ t < until` touches.
fn days(since: DateTime<Utc>, until: DateTime<Utc>) -> Vec<String> {
    let mut days = Vec::new();
    let mut day = since.date_naive();
    let last = (until - chrono::Duration::milliseconds(1)).date_naive();
    while day <= last {
        days.push(day.format("%Y-%m-%d").to_string());
        match day.checked_add_days(Days::new(1)) {
            Some(next) => day = next,
            None => break,
        }
    }
    days
}

/// Creates the views table (on demand, four overloaded GSIs projecting every attribute), as
/// Terraform does in AWS.
pub async fn create_views_table(client: &Client, table: &str) -> Result<(), ViewError> {
    let build = |e: aws_sdk_dynamodb::error::BuildError| corrupt(table, e);
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(build)
    };
    let key = |name: &str, kind| KeySchemaElement::builder().attribute_name(name).key_type(kind).build().map_err(build);
    let mut request = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute("pk")?)
        .attribute_definitions(attribute("sk")?)
        .key_schema(key("pk", KeyType::Hash)?)
        .key_schema(key("sk", KeyType::Range)?);
    for (name, pk, sk) in INDEXES {
        request = request
            .attribute_definitions(attribute(pk)?)
            .attribute_definitions(attribute(sk)?)
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(name)
                    .key_schema(key(pk, KeyType::Hash)?)
                    .key_schema(key(sk, KeyType::Range)?)
                    .projection(IndexProjection::builder().projection_type(ProjectionType::All).build())
                    .build()
                    .map_err(build)?,
            );
    }
    request.send().await.map_err(unavailable)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn an_audit_range_touches_every_day_it_spans_and_no_more() {
        let t = |d, h| Utc.with_ymd_and_hms(2026, 11, d, h, 0, 0).unwrap();
        assert_eq!(days(t(25, 9), t(25, 10)), vec!["2026-11-25"]);
        assert_eq!(days(t(25, 9), t(27, 0)), vec!["2026-11-25", "2026-11-26"]);
        assert_eq!(days(t(25, 23), t(27, 1)), vec!["2026-11-25", "2026-11-26", "2026-11-27"]);
    }

    #[test]
    fn audit_sort_keys_order_by_time_then_stream_then_seq() {
        let a = audit_sort_key("2026-11-25T09:00:00.000Z", "SESSION#B", 9);
        let b = audit_sort_key("2026-11-25T09:00:00.000Z", "SESSION#B", 10);
        let c = audit_sort_key("2026-11-25T09:00:00.001Z", "SESSION#A", 1);
        assert!(a < b && b < c);
        assert!(a.as_str() > "2026-11-25T09:00:00.000Z" && a.as_str() < "2026-11-25T09:00:00.001Z");
    }
}
