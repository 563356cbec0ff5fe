//! The handler on Lambda-shaped events: JSON as Lambda sends it, unknown types, removals, config.

use edge::ConfigError;
use ledger::event::Effect;
use ledger::record::DecodeErrorKind;
use ledger::{SessionId, StreamKey};
use projections::store::ViewStore;
use projections::testkit::*;
use projections::{FoldError, ProjectError};
use projector::Config;

use crate::support::{deps, event, record};

fn opened() -> (StreamKey, LedgerBuilder) {
    let mut b = LedgerBuilder::new();
    let s = StreamKey::Session(SessionId::generate());
    b.append(&s, requested("alice", "dev"), actor("alice"));
    b.append(&s, decided(Effect::Allow), actor("alice"));
    b.append(&s, issued(15, 480), actor("alice"));
    (s, b)
}

#[tokio::test]
async fn a_stream_event_in_lambdas_json_shape_is_projected() {
    let (s, b) = opened();
    let images: Vec<serde_json::Value> = b
        .events()
        .iter()
        .map(|e| serde_json::to_value(serde_dynamo::Item::from(ledger::store::dynamo::to_item(e).unwrap())).unwrap())
        .collect();
    let records: Vec<serde_json::Value> = images
        .iter()
        .enumerate()
        .map(|(i, image)| {
            serde_json::json!({
                "eventID": format!("c4ca4238a0b923820dcc509a6f75849{i}"),
                "eventName": "INSERT",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": "eu-central-1",
                "dynamodb": {
                    "ApproximateCreationDateTime": 1764061200.0,
                    "Keys": {"pk": image["pk"], "sk": image["sk"]},
                    "NewImage": image,
                    "SequenceNumber": format!("11100000000000000000000{i}"),
                    "SizeBytes": 512,
                    "StreamViewType": "NEW_IMAGE"
                },
                "eventSourceARN": "arn:aws:dynamodb:eu-central-1:111122223333:table/sentinel-ledger/stream/2026-11-25T09:00:00.000"
            })
        })
        .collect();
    let lambda_event: aws_lambda_events::dynamodb::Event =
        serde_json::from_value(serde_json::json!({ "Records": records })).expect("Lambda's shape parses");
    let (deps, views) = deps(b.events(), vec![]).await;
    let response = projector::handle(&deps, lambda_event).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    let p = views.projection(&s).await.unwrap().expect("projected");
    assert_eq!(p.head.seq, 3);
    assert_eq!(p.session().unwrap().token_hash(), Some("ab".repeat(32).as_str()));
    assert_eq!(serde_json::to_value(&response).unwrap(), serde_json::json!({"batchItemFailures": []}));
}

#[tokio::test]
async fn an_unknown_event_type_fails_its_record_and_every_record_after_it() {
    let (s, mut b) = opened();
    let mut unknown = b.append(&s, revoked("secops"), actor("secops"));
    unknown.event_type = "SessionTeleported".into();
    unknown.hash = unknown.compute_hash().unwrap();
    let mut events = b.events().to_vec();
    *events.last_mut().unwrap() = unknown.clone();
    let other = StreamKey::Policy(profile("dev"));
    let later = LedgerBuilder::new().append(&other, policy_published("dev", 1), actor("secops"));
    events.push(later);
    let (deps, views) = deps(&events, vec![]).await;

    let records: Vec<_> = events.iter().enumerate().map(|(i, e)| record(e, i as u64)).collect();
    let response = projector::handle(&deps, event(records.clone())).await;
    let failed: Vec<_> = response.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect();
    assert_eq!(failed, [records[3].change.sequence_number.clone(), records[4].change.sequence_number.clone()]);
    assert_eq!(views.projection(&s).await.unwrap().unwrap().head.seq, 3, "the view stops before the unknown event");
    assert!(views.projection(&other).await.unwrap().is_none(), "nothing after the failure is processed");

    let err = projections::project(deps.views.as_ref(), deps.ledger.as_ref(), &unknown).await.unwrap_err();
    assert!(
        matches!(&err, ProjectError::Fold(FoldError::Decode(d)) if matches!(d.kind, DecodeErrorKind::Payload(ledger::event::PayloadError::UnknownType(_)))),
        "{err}"
    );
}

#[tokio::test]
async fn a_record_that_is_not_a_ledger_item_fails() {
    let (_, b) = opened();
    let (deps, _) = deps(b.events(), vec![]).await;
    let mut bad = record(&b.events()[0], 7);
    bad.change.new_image.remove("hash");
    let response = projector::handle(&deps, event(vec![bad])).await;
    assert_eq!(response.batch_item_failures.len(), 1);
    let err = edge::stream::stored_event(&record(&b.events()[0], 8)).map(|e| e.is_some());
    assert!(matches!(err, Ok(true)));
    let mut empty = record(&b.events()[0], 9);
    empty.change.new_image = Default::default();
    assert!(edge::stream::stored_event(&empty).is_err());
}

#[tokio::test]
async fn a_removal_has_nothing_to_project_and_does_not_block_the_shard() {
    let (s, b) = opened();
    let (deps, views) = deps(b.events(), vec![]).await;
    let mut removal = record(&b.events()[2], 1);
    removal.event_name = "REMOVE".into();
    removal.change.new_image = Default::default();
    let records = vec![record(&b.events()[0], 0), removal, record(&b.events()[2], 2)];
    let response = projector::handle(&deps, event(records)).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(views.projection(&s).await.unwrap().unwrap().head.seq, 3);
}

#[test]
fn configuration_defaults_to_the_documented_table_names_and_refuses_bad_ones() {
    let config = Config::from_vars(|_| None).unwrap();
    assert_eq!((config.ledger_table.as_str(), config.views_table.as_str()), ("sentinel-ledger", "sentinel-views"));
    let custom = Config::from_vars(|n| (n == "SENTINEL_VIEWS_TABLE").then(|| "prod-views".to_owned())).unwrap();
    assert_eq!(custom.views_table, "prod-views");
    let bad = Config::from_vars(|n| (n == "SENTINEL_LEDGER_TABLE").then(|| "no spaces".to_owned()));
    assert!(matches!(bad, Err(ConfigError { variable: "SENTINEL_LEDGER_TABLE", .. })));
}
