//! Terraform and the code must agree: routes, configuration names and defaults, table keys,
//! event names and IAM conventions are compared with `terraform/contract.json`.

use std::collections::BTreeMap;

use serde_json::Value;

fn contract() -> Value {
    let path = format!("{}/../../terraform/contract.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn every_route_and_its_authorization_type_match_terraform() {
    let code: BTreeMap<String, String> = tvm::routes::ROUTES
        .iter()
        .map(|r| {
            let auth = match r.auth {
                tvm::routes::Auth::None => "NONE",
                tvm::routes::Auth::Iam => "AWS_IAM",
                tvm::routes::Auth::Custom => "CUSTOM",
            };
            (r.key(), auth.to_owned())
        })
        .collect();
    let terraform: BTreeMap<String, String> = serde_json::from_value(contract()["routes"].clone()).unwrap();
    assert_eq!(code, terraform);
}

#[test]
fn configuration_reads_only_contract_names_and_takes_their_defaults() {
    let read = std::sync::Mutex::new(Vec::new());
    let config = tvm::config::TvmConfig::from_vars(|name| {
        read.lock().unwrap().push(name.to_owned());
        None
    })
    .unwrap();
    let env = &contract()["environment"];
    for name in read.into_inner().unwrap() {
        assert!(env.get(&name).is_some(), "the TVM reads {name}, which Terraform does not set");
    }
    use edge::config::{
        ADMINS_PARAMETER, IDEMPOTENCY_TABLE, LEDGER_TABLE, PAGINATION_KEY_PARAMETER, POLICY_ROOT, RATE_LIMIT_REQUESTS,
        RATE_LIMIT_WINDOW, VIEWS_TABLE,
    };
    assert_eq!(env[LEDGER_TABLE.name()]["default"], config.ledger_table);
    assert_eq!(env[IDEMPOTENCY_TABLE.name()]["default"], config.idempotency_table);
    assert_eq!(contract()["tables"]["idempotency"]["default_name"], config.idempotency_table);
    assert_eq!(env[VIEWS_TABLE.name()]["default"], config.views_table);
    assert_eq!(env[POLICY_ROOT.name()]["default"], config.policy_root);
    assert_eq!(env[ADMINS_PARAMETER.name()]["default"], config.admins_parameter);
    assert_eq!(env[PAGINATION_KEY_PARAMETER.name()]["default"], config.pagination_key_parameter);
    assert_eq!(env[RATE_LIMIT_REQUESTS.name()]["default"], config.rate_limit_requests.to_string());
    assert_eq!(env[RATE_LIMIT_WINDOW.name()]["default"], config.rate_limit_window.as_secs().to_string());
    assert!(config.identity_roles.is_empty());
}

#[test]
fn routed_event_names_exist_in_the_catalogue() {
    for detail_type in contract()["event_bus"]["routed_detail_types"].as_object().unwrap().keys() {
        assert!(ledger::event::EVENT_TYPES.contains(&detail_type.as_str()), "{detail_type}");
    }
}

#[test]
fn iam_conventions_match_terraform() {
    let iam = &contract()["iam"];
    assert_eq!(iam["protected_role_name_prefix"], ledger::identity::IdentityConfig::default().protected_role_prefix);
    let prefix = iam["source_identity_prefix"].as_str().unwrap();
    assert!(tvm::vend::session_name(ledger::SessionId::generate()).starts_with(prefix));
    assert_eq!(iam["max_session_duration_seconds"], tvm::vend::MAX_DURATION.as_secs());
}

#[tokio::test]
async fn the_idempotency_table_the_code_creates_has_terraforms_key_and_ttl() {
    let emulator = devstack::DynamoEmulator::start_ephemeral().await.unwrap();
    let client = devstack::dynamodb_client(emulator.endpoint());
    ledger::store::dynamo::create_idempotency_table(&client, "drift-keys").await.unwrap();
    let table = client.describe_table().table_name("drift-keys").send().await.unwrap().table.unwrap();
    let expected = &contract()["tables"]["idempotency"];
    let keys: Vec<(String, String)> =
        table.key_schema().iter().map(|k| (k.attribute_name().to_owned(), k.key_type().as_str().to_owned())).collect();
    assert_eq!(keys, [(expected["hash_key"]["name"].as_str().unwrap().to_owned(), "HASH".to_owned())]);
    assert_eq!(expected["ttl_attribute"], ledger::store::dynamo::KEY_EXPIRES_AT);
    let ttl = client.describe_time_to_live().table_name("drift-keys").send().await.unwrap();
    let ttl = ttl.time_to_live_description().unwrap();
    assert_eq!(ttl.attribute_name(), Some(ledger::store::dynamo::KEY_EXPIRES_AT));
}

#[tokio::test]
async fn the_ledger_table_the_code_creates_has_terraforms_keys_and_stream() {
    let emulator = devstack::DynamoEmulator::start_ephemeral().await.unwrap();
    let client = devstack::dynamodb_client(emulator.endpoint());
    ledger::store::dynamo::create_ledger_table(&client, "drift").await.unwrap();
    let table = client.describe_table().table_name("drift").send().await.unwrap().table.unwrap();
    let expected = &contract()["tables"]["ledger"];
    let keys: Vec<(String, String)> =
        table.key_schema().iter().map(|k| (k.attribute_name().to_owned(), k.key_type().as_str().to_owned())).collect();
    assert_eq!(
        keys,
        [
            (expected["hash_key"]["name"].as_str().unwrap().to_owned(), "HASH".to_owned()),
            (expected["range_key"]["name"].as_str().unwrap().to_owned(), "RANGE".to_owned())
        ]
    );
    let types: BTreeMap<String, String> = table
        .attribute_definitions()
        .iter()
        .map(|a| (a.attribute_name().to_owned(), a.attribute_type().as_str().to_owned()))
        .collect();
    assert_eq!(types[expected["hash_key"]["name"].as_str().unwrap()], expected["hash_key"]["type"]);
    assert_eq!(types[expected["range_key"]["name"].as_str().unwrap()], expected["range_key"]["type"]);
    assert_eq!(
        table.stream_specification().and_then(|s| s.stream_view_type()).map(|v| v.as_str()),
        expected["stream_view_type"].as_str()
    );
}
