//! The CLI's own credential sources against the real local stack: `whoami` signed with dana's
//! dev keys that reach the CLI only through a `credential_process` profile, an IAM Identity
//! Center profile (`sso_session`) or a legacy SSO profile (`sso_start_url`). The SSO portal's
//! GetRoleCredentials is a stand-in on 127.0.0.1 (`AWS_ENDPOINT_URL_SSO`) that answers with
//! dana's keys; the access token comes from a cache file laid out as `aws sso login` writes it.
//! Each scenario gets its own HOME and config file, and no shared-credentials file, so the keys
//! can only have come from the source under test.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};
use sha1::{Digest, Sha1};

use crate::support::{bin, text, Canned, Stub};

/// The account and role the SSO profiles name (the stand-in checks they arrive).
const SSO_ACCOUNT: &str = "123456789012";
const SSO_ROLE: &str = "SentinelDevAccess";
const SSO_TOKEN: &str = "sso-access-token-from-aws-sso-login";
const START_URL: &str = "https://sentinel-dev.awsapps.com/start";

/// Dana's dev keys, read from the stack's shared-credentials file.
struct Keys {
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
}

fn dana_keys(stack_env: &[(String, String)]) -> Keys {
    let path = stack_env
        .iter()
        .find(|(k, _)| k == "AWS_SHARED_CREDENTIALS_FILE")
        .map(|(_, v)| v.clone())
        .expect("the stack exports AWS_SHARED_CREDENTIALS_FILE");
    let file = std::fs::read_to_string(&path).expect("the stack's credentials file");
    let section = file.split("[dana]").nth(1).expect("a [dana] section").split("\n[").next().unwrap_or_default();
    let values: HashMap<&str, &str> =
        section.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.trim(), v.trim())).collect();
    Keys {
        access_key_id: values["aws_access_key_id"].to_owned(),
        secret_access_key: values["aws_secret_access_key"].to_owned(),
        session_token: values.get("aws_session_token").map(|t| (*t).to_owned()),
    }
}

/// `sentinel ARGS` with the stack's environment, but no credentials of its own: HOME and the
/// config file are `home`'s, the shared-credentials file is empty.
fn sentinel(stack_env: &[(String, String)], home: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(bin());
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(stack_env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("HOME", home)
        .env("AWS_CONFIG_FILE", home.join(".aws/config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args(args);
    command
}

fn whoami_arn(out: &Output, source: &str) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "whoami from {source}\nstdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let me: Value = serde_json::from_slice(&out.stdout).expect("whoami prints JSON");
    me["arn"].as_str().expect("whoami names an ARN").to_owned()
}

fn fresh_home(dir: &Path, name: &str, config: &str) -> PathBuf {
    let home = dir.join(name);
    std::fs::create_dir_all(home.join(".aws")).unwrap();
    std::fs::write(home.join(".aws/config"), config).unwrap();
    home
}

/// A `credential_process` profile: a script prints dana's keys as the SDK expects them.
pub(crate) fn whoami_works_from_a_credential_process_profile(stack_env: &[(String, String)], dir: &Path) {
    let keys = dana_keys(stack_env);
    let mut answer = json!({
        "Version": 1,
        "AccessKeyId": keys.access_key_id,
        "SecretAccessKey": keys.secret_access_key,
    });
    if let Some(token) = &keys.session_token {
        answer["SessionToken"] = json!(token);
    }
    let script = dir.join("credential-process.sh");
    std::fs::write(&script, format!("#!/bin/sh\ncat <<'EOF'\n{answer}\nEOF\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).unwrap();
    let config = format!("[profile dana-process]\ncredential_process = {}\nregion = us-east-1\n", script.display());
    let home = fresh_home(dir, "home-process", &config);

    // Chosen by AWS_PROFILE, and by --aws-profile over an AWS_PROFILE that does not exist.
    let by_env =
        sentinel(stack_env, &home, &["--output", "json", "whoami"]).env("AWS_PROFILE", "dana-process").output();
    let arn = whoami_arn(&by_env.unwrap(), "AWS_PROFILE=dana-process");
    assert!(arn.ends_with("/dana@example.com"), "whoami through credential_process saw {arn}");
    let by_flag = sentinel(stack_env, &home, &["--output", "json", "--aws-profile", "dana-process", "whoami"])
        .env("AWS_PROFILE", "nobody")
        .output();
    assert_eq!(whoami_arn(&by_flag.unwrap(), "--aws-profile dana-process"), arn);

    // Without a profile that holds credentials, nothing signs.
    let none = sentinel(stack_env, &home, &["--output", "json", "whoami"]).env("AWS_PROFILE", "nobody").output();
    let none = none.unwrap();
    assert_eq!(none.status.code(), Some(3), "no credentials is a denial: {}", text(&none.stderr));
    assert!(text(&none.stderr).contains("NO_CREDENTIALS"), "{}", text(&none.stderr));
}

/// The SSO portal stand-in: GetRoleCredentials answers dana's keys, expiring in an hour.
fn sso_portal(keys: &Keys) -> Stub {
    let expiration =
        (std::time::SystemTime::now() + std::time::Duration::from_secs(3600)).duration_since(std::time::UNIX_EPOCH);
    let mut credentials = json!({
        "accessKeyId": keys.access_key_id,
        "secretAccessKey": keys.secret_access_key,
        "expiration": expiration.unwrap().as_millis() as u64,
    });
    if let Some(token) = &keys.session_token {
        credentials["sessionToken"] = json!(token);
    }
    Stub::start(vec![("GET", "/federation/credentials", Canned::json(200, json!({ "roleCredentials": credentials })))])
}

/// The token cache file `aws sso login` writes: `~/.aws/sso/cache/<sha1 of key>.json`, where the
/// key is the session name (`sso_session`) or the start URL (legacy profiles).
fn write_token_cache(home: &Path, key: &str) {
    let cache = home.join(".aws/sso/cache");
    std::fs::create_dir_all(&cache).unwrap();
    let token = json!({
        "startUrl": START_URL,
        "region": "us-east-1",
        "accessToken": SSO_TOKEN,
        "expiresAt": "2099-01-01T00:00:00Z",
    });
    std::fs::write(cache.join(format!("{}.json", hex::encode(Sha1::digest(key.as_bytes())))), token.to_string())
        .unwrap();
}

/// The stand-in was asked for our account and role with the cached token.
fn assert_portal_asked(portal: &Stub, source: &str) {
    let asked = portal.requests_to("/federation/credentials");
    assert_eq!(asked.len(), 1, "{source}: one GetRoleCredentials call, saw {asked:?}");
    let request = &asked[0];
    assert_eq!(request.headers.get("x-amz-sso_bearer_token").map(String::as_str), Some(SSO_TOKEN), "{source}");
    assert!(request.target.contains(&format!("account_id={SSO_ACCOUNT}")), "{source}: {}", request.target);
    assert!(request.target.contains(&format!("role_name={SSO_ROLE}")), "{source}: {}", request.target);
}

/// IAM Identity Center profiles, with an `sso-session` section and in the legacy form.
pub(crate) fn whoami_works_from_an_sso_profile(stack_env: &[(String, String)], dir: &Path) {
    let keys = dana_keys(stack_env);
    let session = format!(
        "[profile dana-sso]\nsso_session = sentinel-dev\nsso_account_id = {SSO_ACCOUNT}\nsso_role_name = {SSO_ROLE}\n\
         region = us-east-1\n\n[sso-session sentinel-dev]\nsso_start_url = {START_URL}\nsso_region = us-east-1\n\
         sso_registration_scopes = sso:account:access\n"
    );
    let legacy = format!(
        "[profile dana-sso-legacy]\nsso_start_url = {START_URL}\nsso_region = us-east-1\n\
         sso_account_id = {SSO_ACCOUNT}\nsso_role_name = {SSO_ROLE}\nregion = us-east-1\n"
    );
    for (source, config, cache_key) in [("dana-sso", session, "sentinel-dev"), ("dana-sso-legacy", legacy, START_URL)] {
        let portal = sso_portal(&keys);
        let home = fresh_home(dir, &format!("home-{source}"), &config);
        let mut command = sentinel(stack_env, &home, &["--output", "json", "--aws-profile", source, "whoami"]);
        command.env("AWS_ENDPOINT_URL_SSO", &portal.url);

        // Before `aws sso login` there is no token: a denial that says so, and no portal call.
        let before = command.output().unwrap();
        assert_eq!(before.status.code(), Some(3), "{source} without a token: {}", text(&before.stderr));
        assert!(portal.requests_to("/federation/credentials").is_empty(), "{source}: asked the portal without a token");

        write_token_cache(&home, cache_key);
        let arn = whoami_arn(&command.output().unwrap(), source);
        assert!(arn.ends_with("/dana@example.com"), "whoami through {source} saw {arn}");
        assert_portal_asked(&portal, source);
    }
}
