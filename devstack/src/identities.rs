//! The dev identities of the local stack (DESIGN §7): who they are, their keys (the same on
//! every start), their users and roles in the emulated IAM, and the two files that publish
//! them — `.sentinel-dev/credentials` for clients and `.sentinel-dev/keys.json` for the gateway.
//!
//! Keys are derived, not stored: HMAC-SHA256 of the identity's name under [`DEV_KEY_SEED`], a
//! public, dev-only seed. Anyone can recompute them, which is fine for a stack that listens on
//! 127.0.0.1 and guards nothing real — and the reason these keys must never leave it.

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;

use aws_sdk_iam::error::DisplayErrorContext;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The public seed every dev key is derived from. Changing it changes every dev key.
pub const DEV_KEY_SEED: &[u8] = b"sentinel-ledger dev identities v1 -- public, for 127.0.0.1 only";

/// moto's default account, which owns every emulated user and role.
pub const DEV_ACCOUNT_ID: &str = "123456789012";

/// The SSO-style identity role `dana` signs in through (configured in `SENTINEL_IDENTITY_ROLES`).
pub const IDENTITY_ROLE_NAME: &str = "AWSReservedSSO_SentinelDeveloper_0123456789abcdef";
/// A second SSO-style identity role (another permission set): `dana-ops` is dana again through it,
/// with the same session name, so the same person.
pub const SECOND_IDENTITY_ROLE_NAME: &str = "AWSReservedSSO_SentinelOperator_fedcba9876543210";
/// Where IAM Identity Center puts its permission-set roles.
pub const IDENTITY_ROLE_PATH: &str = "/aws-reserved/sso.amazonaws.com/";
/// An ordinary role anyone with `iam:CreateRole` could have made; `imposter` uses it.
pub const ORDINARY_ROLE_NAME: &str = "DeveloperTools";

/// The credentials file's name in the stack's directory (`.sentinel-dev/`).
pub const CREDENTIALS_FILE: &str = "credentials";
/// The gateway's key registry's name in the stack's directory.
pub const KEYS_FILE: &str = "keys.json";

/// The IAM users of §7, in the order the credentials file lists them.
pub const IAM_USERS: [&str; 6] = ["alice", "bob", "carol", "oncall", "secops", "mallory"];

/// How a dev identity authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DevPrincipal {
    /// An IAM user with long-term keys (`AKIA…`).
    IamUser {
        /// The user name.
        user: &'static str,
    },
    /// A session of an assumed role, with temporary keys (`ASIA…` and a session token).
    AssumedRole {
        /// The role's name.
        role: &'static str,
        /// The role's path.
        path: &'static str,
        /// The session name (what appears after the role in the principal ARN).
        session: &'static str,
    },
}

/// One dev identity: the profile name in the credentials file and how it authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevIdentity {
    /// The profile (section) name, e.g. `dana`.
    pub profile: &'static str,
    /// Its principal.
    pub principal: DevPrincipal,
}

/// Every dev identity of DESIGN §7: the six IAM users, `dana` through the identity role,
/// `dana-ops` (dana through the second identity role: one person, two principals) and
/// `imposter`, a session named `alice` of an ordinary role (must never count as alice).
pub fn dev_identities() -> Vec<DevIdentity> {
    let mut out: Vec<DevIdentity> =
        IAM_USERS.iter().map(|user| DevIdentity { profile: user, principal: DevPrincipal::IamUser { user } }).collect();
    out.push(DevIdentity {
        profile: "dana",
        principal: DevPrincipal::AssumedRole {
            role: IDENTITY_ROLE_NAME,
            path: IDENTITY_ROLE_PATH,
            session: "dana@example.com",
        },
    });
    out.push(DevIdentity {
        profile: "dana-ops",
        principal: DevPrincipal::AssumedRole {
            role: SECOND_IDENTITY_ROLE_NAME,
            path: IDENTITY_ROLE_PATH,
            session: "dana@example.com",
        },
    });
    out.push(DevIdentity {
        profile: "imposter",
        principal: DevPrincipal::AssumedRole { role: ORDINARY_ROLE_NAME, path: "/", session: "alice" },
    });
    out
}

/// Keys of one identity, derived from [`DEV_KEY_SEED`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevKeys {
    /// `AKIA` or `ASIA` plus 16 base32 characters, like AWS's.
    pub access_key_id: String,
    /// 40 characters of base64, like AWS's.
    pub secret_access_key: String,
    /// Present for assumed-role identities.
    pub session_token: Option<String>,
}

/// The keys of `identity`; the same on every machine and every start.
pub fn derive_keys(identity: &DevIdentity) -> DevKeys {
    let name = identity.profile;
    let (prefix, temporary) = match identity.principal {
        DevPrincipal::IamUser { .. } => ("AKIA", false),
        DevPrincipal::AssumedRole { .. } => ("ASIA", true),
    };
    let id_bytes = derive(&format!("access-key-id:{name}"));
    let access_key_id = format!("{prefix}{}", base32(&id_bytes[..10]));
    let secret = base64::engine::general_purpose::STANDARD_NO_PAD.encode(derive(&format!("secret-access-key:{name}")));
    let session_token = temporary.then(|| {
        let mut token = derive(&format!("session-token:{name}:1"));
        token.extend(derive(&format!("session-token:{name}:2")));
        format!("SentinelDev{}", base64::engine::general_purpose::STANDARD.encode(token))
    });
    DevKeys { access_key_id, secret_access_key: secret[..40].to_owned(), session_token }
}

fn derive(label: &str) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(DEV_KEY_SEED)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(label.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// RFC 4648 base32 without padding (`A-Z2-7`), the alphabet of AWS access key ids.
fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len() * 8 / 5 + 1);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// One key the gateway accepts, with the identity API Gateway would report for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyEntry {
    /// The profile name in the credentials file.
    pub profile: String,
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
    /// The session token of temporary credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_token: Option<String>,
    /// `requestContext.authorizer.iam.userArn`.
    pub principal_arn: String,
    /// `requestContext.authorizer.iam.userId` (`AIDA…` or `AROA…:session`).
    pub user_id: String,
    /// `requestContext.authorizer.iam.accountId`.
    pub account_id: String,
    /// `requestContext.authorizer.iam.callerId`.
    pub caller_id: String,
}

/// The keys the gateway accepts, by access key id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRegistry {
    keys: Vec<KeyEntry>,
}

/// Why the dev identities could not be seeded, loaded or written.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// An emulated IAM call failed.
    #[error("IAM {operation} {name} failed: {message}")]
    Iam {
        /// The IAM operation, e.g. `CreateRole`.
        operation: &'static str,
        /// The user or role.
        name: String,
        /// The SDK error with its context.
        message: String,
    },
    /// IAM answered without a field the registry needs.
    #[error("IAM {operation} {name} answered without {field}")]
    IncompleteAnswer {
        /// The IAM operation.
        operation: &'static str,
        /// The user or role.
        name: String,
        /// The missing field.
        field: &'static str,
    },
    /// Two entries share an access key id or a profile.
    #[error("the key registry has two entries for {0}")]
    Duplicate(String),
    /// Reading or writing a file failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// `read` or `write`.
        action: &'static str,
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// `keys.json` is not a key registry.
    #[error("{path} is not a key registry: {source}")]
    Malformed {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
}

impl KeyRegistry {
    /// A registry of `keys`; refuses two entries with the same access key id or profile.
    pub fn new(keys: Vec<KeyEntry>) -> Result<Self, IdentityError> {
        let mut ids = HashSet::new();
        let mut profiles = HashSet::new();
        for key in &keys {
            if !ids.insert(key.access_key_id.as_str()) {
                return Err(IdentityError::Duplicate(key.access_key_id.clone()));
            }
            if !profiles.insert(key.profile.as_str()) {
                return Err(IdentityError::Duplicate(key.profile.clone()));
            }
        }
        Ok(KeyRegistry { keys })
    }

    /// The entry of `access_key_id`.
    pub fn get(&self, access_key_id: &str) -> Option<&KeyEntry> {
        self.keys.iter().find(|k| k.access_key_id == access_key_id)
    }

    /// The entry of profile `profile`.
    pub fn by_profile(&self, profile: &str) -> Option<&KeyEntry> {
        self.keys.iter().find(|k| k.profile == profile)
    }

    /// Every entry, in credentials-file order.
    pub fn entries(&self) -> &[KeyEntry] {
        &self.keys
    }

    /// The AWS shared-credentials file: one section per identity, no `[default]`.
    pub fn credentials_file(&self) -> String {
        let mut out = String::from(
            "# Sentinel local stack (`make dev`): dev identities with keys derived from a public seed.\n\
             # They only work against the local gateway on 127.0.0.1. Regenerated at every start.\n",
        );
        for key in &self.keys {
            out.push_str(&format!(
                "\n[{}]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
                key.profile, key.access_key_id, key.secret_access_key
            ));
            if let Some(token) = &key.session_token {
                out.push_str(&format!("aws_session_token = {token}\n"));
            }
        }
        out
    }

    /// Writes the credentials file atomically, readable by the owner only.
    pub fn write_credentials_file(&self, path: &Path) -> Result<(), IdentityError> {
        write_private(path, self.credentials_file().as_bytes())
    }

    /// Writes the gateway's key registry (`keys.json`) atomically, readable by the owner only.
    pub fn write_json(&self, path: &Path) -> Result<(), IdentityError> {
        let json = serde_json::to_vec_pretty(self)
            .map_err(|source| IdentityError::Malformed { path: path.display().to_string(), source })?;
        write_private(path, &json)
    }

    /// Writes [`CREDENTIALS_FILE`] and [`KEYS_FILE`] into `dir` (`.sentinel-dev/`).
    pub fn write_files(&self, dir: &Path) -> Result<(), IdentityError> {
        self.write_credentials_file(&dir.join(CREDENTIALS_FILE))?;
        self.write_json(&dir.join(KEYS_FILE))
    }

    /// Reads a registry written by [`KeyRegistry::write_json`].
    pub fn read_json(path: &Path) -> Result<Self, IdentityError> {
        let bytes = std::fs::read(path).map_err(|source| IdentityError::Io {
            action: "read",
            path: path.display().to_string(),
            source,
        })?;
        let registry: KeyRegistry = serde_json::from_slice(&bytes)
            .map_err(|source| IdentityError::Malformed { path: path.display().to_string(), source })?;
        KeyRegistry::new(registry.keys)
    }
}

/// Writes `bytes` to `path` through a temporary file and a rename, mode 0600.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), IdentityError> {
    let io = |source| IdentityError::Io { action: "write", path: path.display().to_string(), source };
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp).map_err(io)?;
    file.write_all(bytes).and_then(|_| file.sync_all()).map_err(io)?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(io)
}

impl SeededIdentities {
    /// Every identity role's ARN, for `SENTINEL_IDENTITY_ROLES`.
    pub fn identity_role_arns(&self) -> Vec<String> {
        vec![self.identity_role_arn.clone(), self.second_identity_role_arn.clone()]
    }
}

/// What [`seed`] made: the registry and the roles the composition root configures.
#[derive(Debug, Clone)]
pub struct SeededIdentities {
    /// Every dev identity's key and principal.
    pub registry: KeyRegistry,
    /// The identity role's ARN (for `SENTINEL_IDENTITY_ROLES`).
    pub identity_role_arn: String,
    /// The second identity role's ARN (`dana-ops`'s).
    pub second_identity_role_arn: String,
    /// The ordinary role's ARN (`imposter`'s).
    pub ordinary_role_arn: String,
}

/// A user or role as IAM reports it.
struct IamPrincipal {
    arn: String,
    id: String,
}

/// Creates the dev users and roles in the emulated IAM (tolerating ones that already exist)
/// and returns their keys with the principal and user id IAM reports for each.
pub async fn seed(iam: &aws_sdk_iam::Client) -> Result<SeededIdentities, IdentityError> {
    let identity_role = ensure_role(iam, IDENTITY_ROLE_NAME, IDENTITY_ROLE_PATH, identity_trust_policy()).await?;
    let second_identity_role =
        ensure_role(iam, SECOND_IDENTITY_ROLE_NAME, IDENTITY_ROLE_PATH, identity_trust_policy()).await?;
    let ordinary_role = ensure_role(iam, ORDINARY_ROLE_NAME, "/", trust_policy()).await?;
    let mut keys = Vec::new();
    for identity in dev_identities() {
        let DevKeys { access_key_id, secret_access_key, session_token } = derive_keys(&identity);
        let (principal_arn, user_id, account_id) = match identity.principal {
            DevPrincipal::IamUser { user } => {
                let created = ensure_user(iam, user).await?;
                let account = account_of(&created.arn);
                // AWS's IAM user ids start with `AIDA` and the TVM checks that; moto makes up
                // lowercase ones, so the stack derives a stable AWS-shaped id instead.
                let id = if created.id.starts_with("AIDA") {
                    created.id
                } else {
                    let bytes = derive(&format!("user-id:{}", identity.profile));
                    format!("AIDA{}", &base32(&bytes)[..17])
                };
                (created.arn, id, account)
            }
            DevPrincipal::AssumedRole { role, session, .. } => {
                let role_principal = match role {
                    IDENTITY_ROLE_NAME => &identity_role,
                    SECOND_IDENTITY_ROLE_NAME => &second_identity_role,
                    _ => &ordinary_role,
                };
                let account = account_of(&role_principal.arn);
                (
                    format!("arn:aws:sts::{account}:assumed-role/{role}/{session}"),
                    format!("{}:{session}", role_principal.id),
                    account,
                )
            }
        };
        keys.push(KeyEntry {
            profile: identity.profile.to_owned(),
            access_key_id,
            secret_access_key,
            session_token,
            principal_arn,
            caller_id: user_id.clone(),
            user_id,
            account_id,
        });
    }
    Ok(SeededIdentities {
        registry: KeyRegistry::new(keys)?,
        identity_role_arn: identity_role.arn,
        second_identity_role_arn: second_identity_role.arn,
        ordinary_role_arn: ordinary_role.arn,
    })
}

/// The account of an IAM ARN (`arn:aws:iam::ACCOUNT:…`), or moto's default.
fn account_of(arn: &str) -> String {
    arn.split(':').nth(4).filter(|a| !a.is_empty()).unwrap_or(DEV_ACCOUNT_ID).to_owned()
}

/// The trust of the identity roles: an IAM Identity Center style SAML provider, so the session
/// name (the person) is set by the identity provider, never by a caller (the TVM checks this at
/// start).
fn identity_trust_policy() -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": format!("arn:aws:iam::{DEV_ACCOUNT_ID}:saml-provider/AWSSSO_SentinelDev_DO_NOT_DELETE")},
            "Action": ["sts:AssumeRoleWithSAML", "sts:TagSession"],
            "Condition": {"StringEquals": {"SAML:aud": "https://signin.aws.amazon.com/saml"}}
        }]
    })
    .to_string()
}

fn trust_policy() -> String {
    // Who may assume the dev roles does not matter locally: nothing assumes them (their
    // sessions' keys are derived); the account root keeps the document valid.
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{DEV_ACCOUNT_ID}:root")},
            "Action": ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"]
        }]
    })
    .to_string()
}

async fn ensure_role(
    iam: &aws_sdk_iam::Client,
    name: &str,
    path: &str,
    trust: String,
) -> Result<IamPrincipal, IdentityError> {
    let created = iam
        .create_role()
        .role_name(name)
        .path(path)
        .assume_role_policy_document(trust)
        .description("Sentinel local stack dev identity")
        .send()
        .await;
    let role = match created {
        Ok(out) => out.role,
        Err(e) if e.as_service_error().is_some_and(|s| s.is_entity_already_exists_exception()) => {
            iam.get_role().role_name(name).send().await.map_err(|e| iam_error("GetRole", name, e))?.role
        }
        Err(e) => return Err(iam_error("CreateRole", name, e)),
    };
    let role =
        role.ok_or_else(|| IdentityError::IncompleteAnswer { operation: "GetRole", name: name.into(), field: "Role" })?;
    Ok(IamPrincipal { arn: role.arn().to_owned(), id: role.role_id().to_owned() })
}

async fn ensure_user(iam: &aws_sdk_iam::Client, name: &str) -> Result<IamPrincipal, IdentityError> {
    let created = iam.create_user().user_name(name).send().await;
    let user = match created {
        Ok(out) => out.user,
        Err(e) if e.as_service_error().is_some_and(|s| s.is_entity_already_exists_exception()) => {
            iam.get_user().user_name(name).send().await.map_err(|e| iam_error("GetUser", name, e))?.user
        }
        Err(e) => return Err(iam_error("CreateUser", name, e)),
    };
    let user =
        user.ok_or_else(|| IdentityError::IncompleteAnswer { operation: "GetUser", name: name.into(), field: "User" })?;
    Ok(IamPrincipal { arn: user.arn().to_owned(), id: user.user_id().to_owned() })
}

fn iam_error<E: std::error::Error + 'static>(operation: &'static str, name: &str, e: E) -> IdentityError {
    IdentityError::Iam { operation, name: name.to_owned(), message: DisplayErrorContext(e).to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_matches_rfc_4648_vectors() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"foob"), "MZXW6YQ");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
    }

    #[test]
    fn keys_are_the_same_on_every_derivation_and_differ_between_identities() {
        let identities = dev_identities();
        let first: Vec<DevKeys> = identities.iter().map(derive_keys).collect();
        let again: Vec<DevKeys> = identities.iter().map(derive_keys).collect();
        assert_eq!(first, again);
        let ids: HashSet<&str> = first.iter().map(|k| k.access_key_id.as_str()).collect();
        assert_eq!(ids.len(), identities.len());
    }

    #[test]
    fn access_key_ids_look_like_aws_ones() {
        for identity in dev_identities() {
            let keys = derive_keys(&identity);
            let (prefix, rest) = keys.access_key_id.split_at(4);
            match identity.principal {
                DevPrincipal::IamUser { .. } => {
                    assert_eq!(prefix, "AKIA");
                    assert!(keys.session_token.is_none());
                }
                DevPrincipal::AssumedRole { .. } => {
                    assert_eq!(prefix, "ASIA");
                    assert!(keys.session_token.as_deref().is_some_and(|t| t.len() > 64));
                }
            }
            assert_eq!(rest.len(), 16);
            assert!(rest.bytes().all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)), "{rest}");
            assert_eq!(keys.secret_access_key.len(), 40);
        }
    }

    #[test]
    fn the_identities_are_those_of_the_design() {
        let profiles: Vec<&str> = dev_identities().iter().map(|i| i.profile).collect();
        assert_eq!(profiles, ["alice", "bob", "carol", "oncall", "secops", "mallory", "dana", "dana-ops", "imposter"]);
    }
}
