//! The dev identities against the emulated IAM (moto): seeding, stable keys, the two files, and
//! a request signed with a profile from the credentials file going through the gateway.

use std::collections::BTreeMap;
use std::path::PathBuf;

use devstack::gateway::GatewayConfig;
use devstack::identities::{
    self, KeyRegistry, IDENTITY_ROLE_NAME, IDENTITY_ROLE_PATH, ORDINARY_ROLE_NAME, SECOND_IDENTITY_ROLE_NAME,
};
use devstack::Moto;

use crate::support::{Harness, REGION};

fn iam_client(moto: &Moto) -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::new(&devstack::local_sdk_config(moto.endpoint()))
}

/// A scratch directory removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("sentinel-devstack-it-{}", ulid::Ulid::new()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Parses an AWS shared-credentials file into sections of key = value.
fn parse_ini(text: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut sections: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut current = None;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            assert!(sections.insert(name.to_owned(), BTreeMap::new()).is_none(), "[{name}] twice");
            current = Some(name.to_owned());
        } else {
            let (key, value) = line.split_once('=').unwrap();
            let section = current.as_ref().expect("a key before any section");
            sections.get_mut(section).unwrap().insert(key.trim().to_owned(), value.trim().to_owned());
        }
    }
    sections
}

#[tokio::test]
async fn seeding_creates_the_users_and_roles_with_the_principals_iam_reports() {
    let moto = Moto::start(0).await.unwrap();
    let iam = iam_client(&moto);
    let seeded = identities::seed(&iam).await.unwrap();
    let registry = &seeded.registry;

    let profiles: Vec<&str> = registry.entries().iter().map(|e| e.profile.as_str()).collect();
    assert_eq!(profiles, ["alice", "bob", "carol", "oncall", "secops", "mallory", "dana", "dana-ops", "imposter"]);

    let alice_user = iam.get_user().user_name("alice").send().await.unwrap().user.unwrap();
    let alice = registry.by_profile("alice").unwrap();
    assert_eq!(alice.principal_arn, "arn:aws:iam::123456789012:user/alice");
    assert_eq!(alice.principal_arn, alice_user.arn());
    // moto's user ids are not shaped like AWS's (`AIDA…`); the stack derives stable ones.
    assert!(alice.user_id.starts_with("AIDA") && alice.user_id.len() == 21, "{}", alice.user_id);
    assert_eq!(alice.caller_id, alice.user_id);
    assert_eq!(alice.account_id, "123456789012");
    assert!(alice.access_key_id.starts_with("AKIA") && alice.session_token.is_none());

    let role = iam.get_role().role_name(IDENTITY_ROLE_NAME).send().await.unwrap().role.unwrap();
    assert_eq!(role.path(), IDENTITY_ROLE_PATH);
    assert_eq!(seeded.identity_role_arn, role.arn());
    assert!(seeded.identity_role_arn.contains(":role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_"));
    let dana = registry.by_profile("dana").unwrap();
    assert_eq!(
        dana.principal_arn,
        format!("arn:aws:sts::123456789012:assumed-role/{IDENTITY_ROLE_NAME}/dana@example.com")
    );
    assert_eq!(dana.user_id, format!("{}:dana@example.com", role.role_id()));
    assert!(dana.access_key_id.starts_with("ASIA") && dana.session_token.is_some());
    // dana-ops: the same session name through a second identity role, so the same person.
    let ops_role = iam.get_role().role_name(SECOND_IDENTITY_ROLE_NAME).send().await.unwrap().role.unwrap();
    assert_eq!(ops_role.path(), IDENTITY_ROLE_PATH);
    assert_eq!(seeded.identity_role_arns(), [role.arn().to_owned(), ops_role.arn().to_owned()]);
    let dana_ops = registry.by_profile("dana-ops").unwrap();
    assert_eq!(
        dana_ops.principal_arn,
        format!("arn:aws:sts::123456789012:assumed-role/{SECOND_IDENTITY_ROLE_NAME}/dana@example.com")
    );
    assert_eq!(dana_ops.user_id, format!("{}:dana@example.com", ops_role.role_id()));
    assert_ne!(dana_ops.access_key_id, dana.access_key_id);

    let tools = iam.get_role().role_name(ORDINARY_ROLE_NAME).send().await.unwrap().role.unwrap();
    let imposter = registry.by_profile("imposter").unwrap();
    assert_eq!(imposter.principal_arn, "arn:aws:sts::123456789012:assumed-role/DeveloperTools/alice");
    assert_eq!(imposter.user_id, format!("{}:alice", tools.role_id()));
    assert_ne!(imposter.user_id, alice.user_id);
    assert_eq!(seeded.ordinary_role_arn, tools.arn());
    moto.stop().await;
}

#[tokio::test]
async fn seeding_twice_and_on_a_fresh_emulator_keeps_every_key() {
    let moto = Moto::start(0).await.unwrap();
    let first = identities::seed(&iam_client(&moto)).await.unwrap();
    let again = identities::seed(&iam_client(&moto)).await.unwrap();
    assert_eq!(first.registry, again.registry, "re-seeding the same emulator changes nothing");
    moto.stop().await;

    let restarted = Moto::start(0).await.unwrap();
    let fresh = identities::seed(&iam_client(&restarted)).await.unwrap();
    for (before, after) in first.registry.entries().iter().zip(fresh.registry.entries()) {
        assert_eq!(before.profile, after.profile);
        assert_eq!(before.access_key_id, after.access_key_id);
        assert_eq!(before.secret_access_key, after.secret_access_key);
        assert_eq!(before.session_token, after.session_token);
        assert_eq!(before.principal_arn, after.principal_arn);
    }
    restarted.stop().await;
}

#[tokio::test]
async fn the_credentials_file_has_one_profile_per_identity_and_no_default() {
    let moto = Moto::start(0).await.unwrap();
    let seeded = identities::seed(&iam_client(&moto)).await.unwrap();
    moto.stop().await;
    let scratch = Scratch::new();
    seeded.registry.write_files(&scratch.0).unwrap();
    let path = scratch.0.join(identities::CREDENTIALS_FILE);
    let keys = KeyRegistry::read_json(&scratch.0.join(identities::KEYS_FILE)).unwrap();
    assert_eq!(keys, seeded.registry);

    let sections = parse_ini(&std::fs::read_to_string(&path).unwrap());
    let names: Vec<&str> = sections.keys().map(String::as_str).collect();
    assert_eq!(names, ["alice", "bob", "carol", "dana", "dana-ops", "imposter", "mallory", "oncall", "secops"]);
    for entry in seeded.registry.entries() {
        let section = &sections[&entry.profile];
        assert_eq!(section["aws_access_key_id"], entry.access_key_id);
        assert_eq!(section["aws_secret_access_key"], entry.secret_access_key);
        assert_eq!(section.get("aws_session_token"), entry.session_token.as_ref());
    }
    assert!(sections["dana"].contains_key("aws_session_token"));
    assert!(!sections["alice"].contains_key("aws_session_token"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
}

#[tokio::test]
async fn the_key_registry_file_reads_back_as_written() {
    let registry = KeyRegistry::new(vec![crate::support::alice(), crate::support::imposter()]).unwrap();
    let scratch = Scratch::new();
    let path = scratch.0.join("keys.json");
    registry.write_json(&path).unwrap();
    assert_eq!(KeyRegistry::read_json(&path).unwrap(), registry);

    std::fs::write(&path, b"{\"keys\": 3}").unwrap();
    assert!(matches!(KeyRegistry::read_json(&path), Err(identities::IdentityError::Malformed { .. })));
    let missing = scratch.0.join("absent.json");
    assert!(matches!(KeyRegistry::read_json(&missing), Err(identities::IdentityError::Io { .. })));
}

#[tokio::test]
async fn a_registry_with_two_entries_for_one_key_is_refused() {
    let mut twin = crate::support::imposter();
    twin.access_key_id = crate::support::alice().access_key_id;
    let result = KeyRegistry::new(vec![crate::support::alice(), twin]);
    assert!(matches!(result, Err(identities::IdentityError::Duplicate(id)) if id == "AKIAALICE00000000001"));
}

#[tokio::test]
async fn dana_signing_with_her_profile_reaches_the_backend_as_her_identity_role_session() {
    let moto = Moto::start(0).await.unwrap();
    let seeded = identities::seed(&iam_client(&moto)).await.unwrap();
    let role = iam_client(&moto).get_role().role_name(IDENTITY_ROLE_NAME).send().await.unwrap().role.unwrap();
    moto.stop().await;

    let scratch = Scratch::new();
    let path = scratch.0.join("credentials");
    seeded.registry.write_credentials_file(&path).unwrap();
    let dana_section = &parse_ini(&std::fs::read_to_string(&path).unwrap())["dana"];
    let from_file = crate::support::entry(
        "dana",
        &dana_section["aws_access_key_id"],
        &dana_section["aws_secret_access_key"],
        dana_section.get("aws_session_token").map(String::as_str),
        "ignored by the signer",
        "ignored by the signer",
    );

    let harness = Harness::start_with(GatewayConfig::new(0, REGION), seeded.registry.clone()).await;
    let response = harness.signed(&from_file, "GET", "/?profile=dev", &[], b"").await;
    assert_eq!(response.status, 200, "{}", String::from_utf8_lossy(&response.body));
    let iam = &harness.recorder.event_json()[0]["requestContext"]["authorizer"]["iam"];
    assert_eq!(iam["userId"], format!("{}:dana@example.com", role.role_id()));
    assert_eq!(iam["userArn"], format!("arn:aws:sts::123456789012:assumed-role/{IDENTITY_ROLE_NAME}/dana@example.com"));
}
