//! The five functions' configuration against `terraform/contract.json`: together they read
//! exactly the names Terraform sets (each defined once in `edge::config`), unset they take the
//! contract's defaults, and a bad value of any name fails the cold start of every function that
//! reads it, naming the variable.

use std::collections::BTreeSet;
use std::sync::Mutex;

use edge::config::{Var, ALL};
use edge::ConfigError;

fn contract_names() -> BTreeSet<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../terraform/contract.json");
    let contract: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    contract["environment"].as_object().unwrap().keys().cloned().collect()
}

type Reader = fn(&dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError>;

/// Every function's cold-start reading of the environment, tracing included.
const FUNCTIONS: [(&str, Reader); 6] = [
    ("tvm", |env| tvm::config::TvmConfig::from_vars(env).map(drop)),
    ("authorizer", |env| authorizer::Config::from_vars(env).map(drop)),
    ("projector", |env| projector::Config::from_vars(env).map(drop)),
    ("exporter", |env| exporter::Config::from_vars(env).map(drop)),
    ("enforcer", |env| enforcer::config::Config::from_vars(env).map(drop)),
    ("tracing (every function)", |env| edge::logging::filter(env).map(drop)),
];

fn names_read(read: Reader) -> BTreeSet<String> {
    let names = Mutex::new(BTreeSet::new());
    read(&|name| {
        names.lock().unwrap().insert(name.to_owned());
        None
    })
    .unwrap();
    names.into_inner().unwrap()
}

#[test]
fn the_functions_read_exactly_the_names_terraform_sets_and_edge_defines() {
    let read: BTreeSet<String> = FUNCTIONS.iter().flat_map(|(_, f)| names_read(*f)).collect();
    let defined: BTreeSet<String> = ALL.iter().map(|v| v.name().to_owned()).collect();
    assert_eq!(read, defined, "a name edge defines is read by no function, or one is read that edge does not define");
    assert_eq!(read, contract_names());
}

#[test]
fn unset_every_function_starts_with_the_contract_defaults() {
    let tvm = tvm::config::TvmConfig::from_vars(|_| None).unwrap();
    let defaults = |v: Var| v.default().to_owned();
    assert_eq!(
        (tvm.ledger_table, tvm.views_table, tvm.policy_root, tvm.admins_parameter, tvm.pagination_key_parameter),
        (
            defaults(edge::config::LEDGER_TABLE),
            defaults(edge::config::VIEWS_TABLE),
            defaults(edge::config::POLICY_ROOT),
            defaults(edge::config::ADMINS_PARAMETER),
            defaults(edge::config::PAGINATION_KEY_PARAMETER)
        )
    );
    assert!(tvm.identity_roles.is_empty());
    assert_eq!(tvm.rate_limit_requests.to_string(), edge::config::RATE_LIMIT_REQUESTS.default());
    assert_eq!(tvm.rate_limit_window.as_secs().to_string(), edge::config::RATE_LIMIT_WINDOW.default());
    assert_eq!(exporter::Config::from_vars(|_| None).unwrap().bus, edge::config::EVENT_BUS.default());
    for tables in [
        authorizer::Config::from_vars(|_| None).unwrap(),
        projector::Config::from_vars(|_| None).unwrap(),
        enforcer::config::Config::from_vars(|_| None).unwrap(),
    ] {
        assert_eq!(
            (tables.ledger_table, tables.views_table),
            (defaults(edge::config::LEDGER_TABLE), defaults(edge::config::VIEWS_TABLE))
        );
    }
}

#[test]
fn a_bad_value_of_any_name_fails_the_start_of_every_function_that_reads_it_naming_it() {
    // Invalid for every kind of value: not a table, bus, path, number, role ARN or filter.
    let bad = "not valid=at all!";
    for var in ALL {
        let mut refused_by = Vec::new();
        for (function, read) in FUNCTIONS {
            if !names_read(read).contains(var.name()) {
                continue;
            }
            let error = read(&|name| (name == var.name()).then(|| bad.to_owned()))
                .expect_err(&format!("{function} accepted {}={bad:?}", var.name()));
            assert_eq!((error.variable, error.value.as_str()), (var.name(), bad), "{function}: {error}");
            assert!(error.to_string().starts_with(&format!("{}=", var.name())), "{error}");
            refused_by.push(function);
        }
        assert!(!refused_by.is_empty(), "no function reads {}", var.name());
    }
}
