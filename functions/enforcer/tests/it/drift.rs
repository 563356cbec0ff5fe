//! The enforcer's names against terraform/contract.json, so the code and the Terraform agree.

use enforcer::config::{DEFAULT_LEDGER_TABLE, DEFAULT_VIEWS_TABLE, LEDGER_TABLE_ENV, VIEWS_TABLE_ENV};
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
    assert_eq!(c["environment"][LEDGER_TABLE_ENV]["default"], DEFAULT_LEDGER_TABLE);
    assert_eq!(c["environment"][VIEWS_TABLE_ENV]["default"], DEFAULT_VIEWS_TABLE);
    assert!(c["lambda"]["functions"].as_array().unwrap().iter().any(|f| f == "enforcer"));
}

#[test]
fn configuration_takes_the_contract_defaults_and_refuses_bad_table_names() {
    let config = enforcer::config::Config::from_vars(|_| None).unwrap();
    assert_eq!(
        (config.ledger_table.as_str(), config.views_table.as_str()),
        (DEFAULT_LEDGER_TABLE, DEFAULT_VIEWS_TABLE)
    );
    let bad = enforcer::config::Config::from_vars(|name| (name == VIEWS_TABLE_ENV).then(|| "views table!".to_owned()));
    assert_eq!(bad.unwrap_err().variable, VIEWS_TABLE_ENV);
}
