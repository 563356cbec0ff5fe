//! The DynamoDB views table: conditional writes, every query through its index, rebuild.

use aws_sdk_dynamodb::types::AttributeValue;
use ledger::decide::approval::ApprovalStatus;
use ledger::decide::breakglass::BreakGlassStatus;
use ledger::decide::session::SessionStatus;
use ledger::event::Effect;
use ledger::{ApprovalId, BreakGlassId, SessionId, StreamKey};
use projections::rebuild::{rebuild, scan_ledger, Difference, Mode};
use projections::store::memory::MemoryViewStore;
use projections::store::{ApprovalIndex, AuditQuery, BreakGlassIndex, Saved, SessionIndex, ViewStore};
use projections::testkit::*;
use projections::{fold_ledger, project, query};

use crate::support::{tables, write_all};

/// Sessions, approvals and break-glass of several people and profiles.
fn history() -> LedgerBuilder {
    let mut b = LedgerBuilder::new();
    let session = |b: &mut LedgerBuilder, who: &str, profile: &str, ends: i64| {
        let s = StreamKey::Session(SessionId::generate());
        b.append(&s, requested(who, profile), actor(who));
        b.append(&s, decided(Effect::Allow), actor(who));
        b.append(&s, issued(15, ends), actor(who));
        s
    };
    session(&mut b, "alice", "dev", 480);
    let revoked_one = session(&mut b, "alice", "dev", 480);
    b.append(&revoked_one, revoked("secops"), actor("secops"));
    session(&mut b, "bob", "prod", 30);
    let pending = StreamKey::Approval(ApprovalId::generate());
    b.append(&pending, approval_requested("alice", "prod", 2, 240), actor("alice"));
    b.append(&pending, granted("dave"), actor("dave"));
    let approved = StreamKey::Approval(ApprovalId::generate());
    b.append(&approved, approval_requested("bob", "prod", 1, 240), actor("bob"));
    b.append(&approved, granted("carol"), actor("carol"));
    let closed = StreamKey::BreakGlass(BreakGlassId::generate());
    b.append(&closed, break_glass_invoked("oncall", "prod", 60), actor("oncall"));
    b.append(&closed, break_glass_closed("oncall"), actor("oncall"));
    let active = StreamKey::BreakGlass(BreakGlassId::generate());
    b.append(&active, break_glass_invoked("oncall", "prod", 120), actor("oncall"));
    b.append(&StreamKey::Policy(profile("prod")), policy_published("prod", 1), actor("secops"));
    b
}

async fn project_all(b: &LedgerBuilder, ledger: &dyn ledger::store::EventStore, views: &dyn ViewStore) {
    for e in b.events() {
        project(views, ledger, e).await.expect("projected");
    }
}

#[tokio::test]
async fn a_duplicate_or_older_projection_never_overwrites_a_newer_one() {
    let t = tables().await;
    let mut b = LedgerBuilder::new();
    let s = StreamKey::Session(SessionId::generate());
    b.append(&s, requested("alice", "dev"), actor("alice"));
    b.append(&s, decided(Effect::Allow), actor("alice"));
    b.append(&s, issued(15, 480), actor("alice"));
    let older = fold_ledger(&b.events()[..2]).views.projections[&s.to_string()].clone();
    let newer = fold_ledger(b.events()).views.projections[&s.to_string()].clone();
    assert_eq!(t.views.save(&newer).await.unwrap(), Saved::Written);
    assert_eq!(t.views.save(&newer).await.unwrap(), Saved::AlreadyCurrent);
    assert_eq!(t.views.save(&older).await.unwrap(), Saved::AlreadyCurrent);
    assert_eq!(t.views.projection(&s).await.unwrap(), Some(newer));
}

#[tokio::test]
async fn every_query_is_answered_from_its_index_as_the_memory_store_answers_it() {
    let t = tables().await;
    let b = history();
    write_all(&t.ledger, b.events()).await;
    let memory = MemoryViewStore::new();
    project_all(&b, &t.ledger, &t.views).await;
    project_all(&b, &t.ledger, &memory).await;
    let stores: [&dyn ViewStore; 2] = [&t.views, &memory];
    for store in stores {
        let alice = store.sessions(&SessionIndex::Owner(who("alice")), None).await.unwrap();
        assert_eq!(alice.len(), 2);
        let revoked = store.sessions(&SessionIndex::Owner(who("alice")), Some(SessionStatus::Revoked)).await.unwrap();
        assert_eq!(revoked.len(), 1);
        assert_eq!(store.sessions(&SessionIndex::Profile(profile("prod")), None).await.unwrap().len(), 1);
        assert_eq!(store.sessions(&SessionIndex::Status(SessionStatus::Active), None).await.unwrap().len(), 2);
        // bob's session ended at minute 30: expired by time although no SessionExpired was written.
        let expired = query::sessions_at(
            store,
            &SessionIndex::Status(SessionStatus::Expired),
            Some(SessionStatus::Expired),
            at(31),
        )
        .await
        .unwrap();
        assert_eq!(expired.iter().map(|s| s.principal().clone()).collect::<Vec<_>>(), [arn("bob")]);

        let pending =
            store.approvals(&ApprovalIndex::Profile(profile("prod")), Some(ApprovalStatus::Pending)).await.unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].approvers, [who("dave")]);
        assert_eq!(
            store.approvals(&ApprovalIndex::Requester(who("bob")), None).await.unwrap()[0].status,
            ApprovalStatus::Approved
        );
        let for_carol = query::pending_for_approver(store, &who("carol"), &[profile("prod")], at(30)).await.unwrap();
        assert_eq!(for_carol.len(), 1);
        assert!(query::pending_for_approver(store, &who("dave"), &[profile("prod")], at(30)).await.unwrap().is_empty());
        assert!(query::pending_for_approver(store, &who("alice"), &[profile("prod")], at(30))
            .await
            .unwrap()
            .is_empty());

        let active = query::active_break_glass(store, &who("oncall"), &profile("prod"), at(30)).await.unwrap();
        assert_eq!(active.map(|b| b.invoked.expires_at), Some(at(120)));
        assert!(query::active_break_glass(store, &who("oncall"), &profile("prod"), at(120)).await.unwrap().is_none());
        let closed = store.break_glass(&BreakGlassIndex::Status(BreakGlassStatus::Closed), None).await.unwrap();
        assert_eq!(closed.len(), 1);

        let window = AuditQuery { since: at(3), until: at(7), principal: None };
        let rows = store.audit(&window).await.unwrap();
        assert_eq!(
            rows.iter().map(|r| r.occurred_at.clone()).collect::<Vec<_>>(),
            (3..7).map(|m| ledger::record::format_time(at(m))).collect::<Vec<_>>()
        );
        let secops = AuditQuery { since: at(0), until: at(1000), principal: Some(arn("secops")) };
        assert_eq!(
            store.audit(&secops).await.unwrap().iter().map(|r| r.event_type.as_str()).collect::<Vec<_>>(),
            ["SessionRevoked", "PolicyPublished"]
        );
    }
    assert_eq!(t.views.dump().await.unwrap(), memory.dump().await.unwrap(), "both adapters hold the same views");
}

#[tokio::test]
async fn revoked_sessions_are_read_by_role_from_a_time_of_revocation_on() {
    let t = tables().await;
    let mut b = LedgerBuilder::new();
    let dev: ledger::RoleArn = "arn:aws:iam::111122223333:role/SentinelProtected-Dev".parse().unwrap();
    let other = "arn:aws:iam::111122223333:role/SentinelProtected-Prod";
    let session = |b: &mut LedgerBuilder, role: Option<&str>| {
        let s = StreamKey::Session(SessionId::generate());
        b.append(&s, requested("alice", "dev"), actor("alice"));
        b.append(&s, decided(Effect::Allow), actor("alice"));
        let mut credentials = issued(15, 480);
        if let Some(role) = role {
            credentials.role_arn = role.parse().unwrap();
        }
        b.append(&s, credentials, actor("alice"));
        s
    };
    let mut revoked_on_dev = Vec::new();
    for _ in 0..4 {
        let s = session(&mut b, None);
        revoked_on_dev.push((b.append(&s, revoked("secops"), actor("secops")).occurred_at, s));
    }
    let _still_active = session(&mut b, None);
    let on_other_role = session(&mut b, Some(other));
    b.append(&on_other_role, revoked("secops"), actor("secops"));
    write_all(&t.ledger, b.events()).await;
    let memory = MemoryViewStore::new();
    project_all(&b, &t.ledger, &t.views).await;
    project_all(&b, &t.ledger, &memory).await;

    // From the third revocation's instant on: the third and the fourth, oldest first.
    let since = chrono::DateTime::parse_from_rfc3339(&revoked_on_dev[2].0).unwrap().with_timezone(&chrono::Utc);
    let stores: [&dyn ViewStore; 2] = [&t.views, &memory];
    for store in stores {
        let found = store.revoked_since(&dev, since).await.unwrap();
        let streams: Vec<String> = found.iter().map(|v| StreamKey::Session(v.session_id).to_string()).collect();
        let expected: Vec<String> = revoked_on_dev[2..].iter().map(|(_, s)| s.to_string()).collect();
        assert_eq!(streams, expected);
        assert!(found.iter().all(|v| v.status == Some(SessionStatus::Revoked)));
        assert_eq!(store.revoked_since(&dev, at(0)).await.unwrap().len(), 4, "every revocation on the role");
        assert!(store.revoked_since(&dev, at(10_000)).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn an_audit_range_spanning_midnight_reads_both_days() {
    let t = tables().await;
    let mut b = LedgerBuilder::new();
    b.clock = 14 * 60 + 58; // 23:58
    let p = StreamKey::Policy(profile("dev"));
    for v in 0..4 {
        b.append(&p, policy_published("dev", v), actor("secops"));
    }
    write_all(&t.ledger, b.events()).await;
    project_all(&b, &t.ledger, &t.views).await;
    let rows =
        t.views.audit(&AuditQuery { since: at(14 * 60 + 59), until: at(15 * 60 + 2), principal: None }).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.seq).collect::<Vec<_>>(), [2, 3, 4]);
}

#[tokio::test]
async fn rebuild_reproduces_the_views_and_catches_a_deleted_ledger_tail() {
    let t = tables().await;
    let b = history();
    write_all(&t.ledger, b.events()).await;
    project_all(&b, &t.ledger, &t.views).await;
    let events = scan_ledger(&t.client, &t.ledger_table).await.unwrap();
    assert_eq!(events.len(), b.events().len());
    let report = rebuild(&events, &t.views, Mode::Check).await.unwrap();
    assert!(report.is_clean(), "{report:?}");

    // An administrator deletes the last event of a stream: the revocation.
    let last = b.events().iter().find(|e| e.event_type == "SessionRevoked").unwrap();
    t.client
        .delete_item()
        .table_name(&t.ledger_table)
        .key("pk", AttributeValue::S(last.stream.clone()))
        .key("sk", AttributeValue::N(last.seq.to_string()))
        .send()
        .await
        .unwrap();
    let events = scan_ledger(&t.client, &t.ledger_table).await.unwrap();
    let report = rebuild(&events, &t.views, Mode::Check).await.unwrap();
    assert_eq!(
        report.differences,
        [
            Difference::ProjectionAheadOfLedger { stream: last.stream.clone(), stored_seq: 4, ledger_seq: 3 },
            Difference::UnknownAudit { stream: last.stream.clone(), seq: last.seq },
        ]
    );
}

#[tokio::test]
async fn rebuild_in_repair_mode_fills_empty_views() {
    let t = tables().await;
    let b = history();
    write_all(&t.ledger, b.events()).await;
    let events = scan_ledger(&t.client, &t.ledger_table).await.unwrap();
    let first = rebuild(&events, &t.views, Mode::Repair).await.unwrap();
    assert_eq!(first.differences.len(), first.streams + events.len(), "every projection and audit row was missing");
    let second = rebuild(&events, &t.views, Mode::Check).await.unwrap();
    assert!(second.is_clean(), "{second:?}");
    assert_eq!(t.views.dump().await.unwrap(), fold_ledger(b.events()).views);
}

#[tokio::test]
async fn the_views_table_the_code_creates_has_terraforms_indexes() {
    let contract: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{}/../terraform/contract.json", env!("CARGO_MANIFEST_DIR"))).unwrap(),
    )
    .unwrap();
    let t = tables().await;
    let table = t.client.describe_table().table_name(t.views.table()).send().await.unwrap().table.unwrap();
    let mut created: Vec<serde_json::Value> = table
        .global_secondary_indexes()
        .iter()
        .map(|i| {
            let key = |kind: &str| {
                let name = i.key_schema().iter().find(|k| k.key_type().as_str() == kind).unwrap().attribute_name();
                let typ = table.attribute_definitions().iter().find(|a| a.attribute_name() == name).unwrap();
                serde_json::json!({"name": name, "type": typ.attribute_type().as_str()})
            };
            serde_json::json!({"name": i.index_name().unwrap(), "hash_key": key("HASH"), "range_key": key("RANGE")})
        })
        .collect();
    created.sort_by_key(|i| i["name"].as_str().unwrap().to_owned());
    assert_eq!(serde_json::Value::Array(created), contract["tables"]["views"]["indexes"]);
}
