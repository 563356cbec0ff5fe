//! The enforcer's names against terraform/contract.json, so the code and the Terraform agree.

use edge::config::{LEDGER_TABLE, VIEWS_TABLE};
use enforcer::policy::{MAX_CREDENTIAL_LIFETIME, POLICY_NAME, PROTECTED_ROLE_PREFIX};
use enforcer::{DETAIL_TYPE, SOURCE};

fn contract() -> serde_json::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../terraform/contract.json");
    let text = std::fs::read_to_string(path).expect("terraform/contract.json is readable");
    serde_json::from_str(&text).expect("contract.json is JSON")
}

#[test]
fn the_enforcers_names_match_the_terraform_contract() {
    let c = contract();
    assert_eq!(c["iam"]["enforcer_inline_policy_name"], POLICY_NAME);
    assert_eq!(c["iam"]["protected_role_name_prefix"], PROTECTED_ROLE_PREFIX);
    assert_eq!(c["iam"]["max_session_duration_seconds"], MAX_CREDENTIAL_LIFETIME.num_seconds());
    assert_eq!(c["event_bus"]["source"], SOURCE);
    assert_eq!(c["event_bus"]["routed_detail_types"][DETAIL_TYPE], "enforcer");
    assert!(c["lambda"]["functions"].as_array().unwrap().iter().any(|f| f == "enforcer"));
}

#[test]
fn configuration_reads_only_contract_names_takes_their_defaults_and_refuses_bad_table_names() {
    let read = std::sync::Mutex::new(Vec::new());
    let config = enforcer::config::Config::from_vars(|name| {
        read.lock().unwrap().push(name.to_owned());
        None
    })
    .unwrap();
    let env = &contract()["environment"];
    for name in read.into_inner().unwrap() {
        assert!(env.get(&name).is_some(), "the enforcer reads {name}, which Terraform does not set");
    }
    assert_eq!(env[LEDGER_TABLE.name()]["default"], config.ledger_table);
    assert_eq!(env[VIEWS_TABLE.name()]["default"], config.views_table);
    let bad =
        enforcer::config::Config::from_vars(|name| (name == VIEWS_TABLE.name()).then(|| "views table!".to_owned()));
    assert_eq!(bad.unwrap_err().variable, VIEWS_TABLE.name());
}
