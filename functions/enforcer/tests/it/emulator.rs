//! The enforcer against emulators: views and ledger on dynoxide, IAM on moto.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use devstack::{DynamoEmulator, Moto};
use enforcer::policy::{POLICY_BUDGET, POLICY_NAME};
use enforcer::roles::iam::{percent_decode, IamRolePolicies};
use enforcer::{handle, Applied, Deps, FixedClock};
use ledger::store::dynamo::{create_ledger_table, DynamoEventStore};
use ledger::store::EventStore;
use projections::store::dynamo::{create_views_table, DynamoViewStore};
use projections::testkit::LedgerBuilder;

use crate::{denied_identities, parsed, revoke, role_arn, source_identity, vend};

const TRUST: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_enforcer_writes_an_iam_deny_of_the_revoked_source_identity_on_the_protected_role() {
    let dynamodb = DynamoEmulator::start_ephemeral().await.unwrap();
    let moto = Moto::start(0).await.expect("moto starts (run `make venv` once)");
    let sdk = devstack::local_sdk_config(moto.endpoint());
    let iam = aws_sdk_iam::Client::new(&sdk);
    let account =
        aws_sdk_sts::Client::new(&sdk).get_caller_identity().send().await.unwrap().account().unwrap().to_owned();
    iam.create_role().role_name("SentinelProtected-Test").assume_role_policy_document(TRUST).send().await.unwrap();

    let client = devstack::dynamodb_client(dynamodb.endpoint());
    let ledger_table = devstack::unique_table_name("ledger");
    let views_table = devstack::unique_table_name("views");
    create_ledger_table(&client, &ledger_table).await.unwrap();
    create_views_table(&client, &views_table).await.unwrap();
    let ledger = Arc::new(DynamoEventStore::new(client.clone(), &ledger_table));
    let views = Arc::new(DynamoViewStore::new(client, &views_table));

    let mut builder = LedgerBuilder::new();
    let (id, mut events) = vend(&mut builder, &role_arn(&account, "SentinelProtected-Test"));
    let (bystander, more) = vend(&mut builder, &role_arn(&account, "SentinelProtected-Test"));
    events.extend(more);
    let revocation = revoke(&mut builder, id);
    events.push(revocation.clone());
    for e in &events {
        ledger.write(std::slice::from_ref(e), &[], &e.event_id).await.unwrap();
    }
    // The projector has seen the issuances but not the revocation: view + tail covers it.
    for e in &events[..events.len() - 1] {
        projections::project(views.as_ref(), ledger.as_ref(), e).await.unwrap();
    }

    let revoked_at = DateTime::parse_from_rfc3339(&revocation.occurred_at).unwrap().with_timezone(&Utc);
    let deps = Deps {
        views,
        ledger,
        roles: Arc::new(IamRolePolicies::new(iam.clone())),
        account,
        clock: Arc::new(FixedClock(revoked_at + TimeDelta::seconds(2))),
        budget: POLICY_BUDGET,
    };
    let done = handle(&deps, parsed(&revocation)).await.unwrap();
    assert_eq!(done.applied, Applied::Written);

    let stored =
        iam.get_role_policy().role_name("SentinelProtected-Test").policy_name(POLICY_NAME).send().await.unwrap();
    let document = percent_decode(stored.policy_document()).expect("a URL-encoded document");
    let parsed_doc: serde_json::Value = serde_json::from_str(&document).expect("valid JSON");
    assert_eq!(parsed_doc["Version"], "2012-10-17");
    assert_eq!(parsed_doc["Statement"][0]["Effect"], "Deny");
    assert_eq!(denied_identities(&document), vec![source_identity(id)]);
    assert!(!document.contains(&source_identity(bystander)));

    // A redelivery reads the document back through IAM and changes nothing.
    let again = handle(&deps, parsed(&revocation)).await.unwrap();
    assert_eq!(again.applied, Applied::Unchanged);

    // Hours later nothing is live: the policy is deleted, and deleting twice is tolerated.
    let later = Deps { clock: Arc::new(FixedClock(revoked_at + TimeDelta::hours(3))), ..deps };
    assert_eq!(handle(&later, parsed(&revocation)).await.unwrap().applied, Applied::Deleted);
    assert_eq!(handle(&later, parsed(&revocation)).await.unwrap().applied, Applied::Deleted);
    let gone = iam.get_role_policy().role_name("SentinelProtected-Test").policy_name(POLICY_NAME).send().await;
    assert!(gone.is_err(), "{gone:?}");
    moto.stop().await;
}
