//! AWS adapters of the TVM's ports: policies from SSM (cached ≤ 30 s), credentials from STS,
//! identity-role ids from IAM.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_sts::types::Tag;
use base64::Engine;
use chrono::{DateTime, Utc};
use ledger::policy::{AdminsDocument, PolicyDocument};
use ledger::{Profile, RoleArn};

use crate::ports::{
    AssumeRoleInput, IssueError, IssuedCredentials, Issuer, PolicyLoadError, PolicySource, PolicyWriteError,
    PolicyWriter, ProfileEntry, Secret,
};
use crate::workflow::page::PageKey;

/// How long a policy (or its absence) is trusted before SSM is asked again.
pub const POLICY_CACHE_TTL: Duration = Duration::from_secs(30);

type Cached<T> = (Instant, Result<Option<Arc<T>>, PolicyLoadError>);

/// Policies in SSM Parameter Store: `<root>/<profile>`, and the admins parameter.
pub struct SsmPolicies {
    client: aws_sdk_ssm::Client,
    root: String,
    admins_parameter: String,
    policies: Mutex<HashMap<Profile, Cached<PolicyDocument>>>,
    admins: Mutex<Option<Cached<AdminsDocument>>>,
}

impl SsmPolicies {
    /// A source reading `root` (no trailing slash) and `admins_parameter`.
    pub fn new(client: aws_sdk_ssm::Client, root: impl Into<String>, admins_parameter: impl Into<String>) -> Self {
        SsmPolicies {
            client,
            root: root.into(),
            admins_parameter: admins_parameter.into(),
            policies: Mutex::new(HashMap::new()),
            admins: Mutex::new(None),
        }
    }

    async fn get_parameter(&self, name: &str) -> Result<Option<String>, PolicyLoadError> {
        match self.client.get_parameter().name(name).with_decryption(true).send().await {
            Ok(out) => Ok(out.parameter.and_then(|p| p.value)),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_parameter_not_found()) => Ok(None),
            Err(e) => Err(PolicyLoadError::Unavailable(aws_smithy_types_display(&e))),
        }
    }
}

/// An SDK error with its whole chain of causes (for logs only; never shown to clients).
fn aws_smithy_types_display<E: std::error::Error>(e: &E) -> String {
    aws_smithy_types::error::display::DisplayErrorContext(e).to_string()
}

fn fresh<T>(entry: Option<&Cached<T>>) -> Option<Result<Option<Arc<T>>, PolicyLoadError>> {
    entry.filter(|(at, _)| at.elapsed() < POLICY_CACHE_TTL).map(|(_, r)| r.clone())
}

#[async_trait]
impl PolicySource for SsmPolicies {
    async fn policy(&self, profile: &Profile) -> Result<Option<Arc<PolicyDocument>>, PolicyLoadError> {
        if let Some(hit) = fresh(self.policies.lock().unwrap_or_else(|p| p.into_inner()).get(profile)) {
            return hit;
        }
        let loaded = match self.get_parameter(&format!("{}/{profile}", self.root)).await {
            Err(e) => return Err(e), // transient: not cached
            Ok(None) => Ok(None),
            Ok(Some(yaml)) => PolicyDocument::parse(&yaml, Some(profile))
                .map(|doc| Some(Arc::new(doc)))
                .map_err(|error| PolicyLoadError::Invalid { profile: profile.to_string(), error: Box::new(error) }),
        };
        self.policies
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(profile.clone(), (Instant::now(), loaded.clone()));
        loaded
    }

    async fn profiles(&self) -> Result<Vec<ProfileEntry>, PolicyLoadError> {
        let mut pages = self.client.get_parameters_by_path().path(&self.root).recursive(false).into_paginator().send();
        let mut entries = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| PolicyLoadError::Unavailable(aws_smithy_types_display(&e)))?;
            for parameter in page.parameters.unwrap_or_default() {
                let Some(path) = parameter.name else { continue };
                let name = path.rsplit('/').next().unwrap_or_default();
                if name.parse::<Profile>().is_ok() {
                    entries.push(ProfileEntry { name: name.to_owned(), policy_path: path.clone() });
                }
            }
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    async fn admins(&self) -> Result<Option<Arc<AdminsDocument>>, PolicyLoadError> {
        if let Some(hit) = fresh(self.admins.lock().unwrap_or_else(|p| p.into_inner()).as_ref()) {
            return hit;
        }
        let loaded = match self.get_parameter(&self.admins_parameter).await? {
            None => Ok(None),
            Some(yaml) => AdminsDocument::parse(&yaml)
                .map(|doc| Some(Arc::new(doc)))
                .map_err(|error| PolicyLoadError::Invalid { profile: "admins".into(), error: Box::new(error) }),
        };
        *self.admins.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), loaded.clone()));
        loaded
    }

    fn root(&self) -> &str {
        &self.root
    }
}

#[async_trait]
impl PolicyWriter for SsmPolicies {
    async fn put(&self, profile: &Profile, yaml: &str) -> Result<(), PolicyWriteError> {
        self.client
            .put_parameter()
            .name(format!("{}/{profile}", self.root))
            .value(yaml)
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .overwrite(true)
            .send()
            .await
            .map_err(|e| PolicyWriteError(aws_smithy_types_display(&e)))?;
        // This instance serves the new text at once; others within the cache's 30 s.
        self.policies.lock().unwrap_or_else(|p| p.into_inner()).remove(profile);
        Ok(())
    }
}

/// The key that seals page tokens, from the SSM SecureString parameter `name` (base64 of at
/// least 32 bytes). A missing parameter is created with 32 random bytes (`Overwrite=false`);
/// when another instance created it first, its key is read and used.
pub async fn pagination_key(client: &aws_sdk_ssm::Client, name: &str) -> anyhow::Result<PageKey> {
    let read = || async {
        match client.get_parameter().name(name).with_decryption(true).send().await {
            Ok(out) => Ok(out.parameter.and_then(|p| p.value)),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_parameter_not_found()) => Ok(None),
            Err(e) => Err(anyhow::anyhow!("cannot read the pagination key {name}: {}", aws_smithy_types_display(&e))),
        }
    };
    let decode = |text: String| -> anyhow::Result<PageKey> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|e| anyhow::anyhow!("the pagination key {name} is not base64: {e}"))?;
        PageKey::new(bytes).map_err(|e| anyhow::anyhow!("the pagination key {name} is unusable: {e}"))
    };
    if let Some(text) = read().await? {
        return decode(text);
    }
    let key = PageKey::random().map_err(|e| anyhow::anyhow!("no randomness for a pagination key: {e}"))?;
    let created = client
        .put_parameter()
        .name(name)
        .description("Seals Sentinel list pages' next_token (created by the TVM; rotate by deleting it).")
        .value(key.to_base64())
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .overwrite(false)
        .send()
        .await;
    match created {
        Ok(_) => {
            tracing::info!(parameter = name, "pagination key created");
            Ok(key)
        }
        Err(e) if e.as_service_error().is_some_and(|s| s.is_parameter_already_exists()) => {
            let text = read().await?.ok_or_else(|| anyhow::anyhow!("the pagination key {name} vanished"))?;
            decode(text)
        }
        Err(e) => Err(anyhow::anyhow!("cannot create the pagination key {name}: {}", aws_smithy_types_display(&e))),
    }
}

/// Credentials from STS `AssumeRole` (role chaining from the Lambda's role).
pub struct StsIssuer {
    client: aws_sdk_sts::Client,
}

impl StsIssuer {
    pub fn new(client: aws_sdk_sts::Client) -> Self {
        StsIssuer { client }
    }
}

#[async_trait]
impl Issuer for StsIssuer {
    async fn assume_role(&self, input: &AssumeRoleInput) -> Result<IssuedCredentials, IssueError> {
        let mut call = self
            .client
            .assume_role()
            .role_arn(input.role_arn.as_str())
            .role_session_name(&input.role_session_name)
            .source_identity(&input.source_identity)
            .duration_seconds(i32::try_from(input.duration.as_secs()).unwrap_or(900));
        for (key, value) in &input.tags {
            let tag = Tag::builder().key(key).value(value).build().map_err(|e| IssueError(e.to_string()))?;
            call = call.tags(tag).transitive_tag_keys(key);
        }
        let out = call.send().await.map_err(|e| IssueError(aws_smithy_types_display(&e)))?;
        let c = out.credentials.ok_or_else(|| IssueError("STS returned no credentials".into()))?;
        let expiration = DateTime::<Utc>::from_timestamp(c.expiration.secs(), c.expiration.subsec_nanos())
            .ok_or_else(|| IssueError("STS returned an invalid expiration".into()))?;
        Ok(IssuedCredentials {
            access_key_id: c.access_key_id,
            secret_access_key: Secret::new(c.secret_access_key),
            session_token: Secret::new(c.session_token),
            expiration,
        })
    }
}

/// Resolves identity-role ARNs to their role ids (`AROA…`) once, at cold start, and refuses to
/// start unless each role's trust policy trusts only SAML/OIDC providers or pins
/// `sts:RoleSessionName` to the signed-in user: otherwise a caller allowed to assume it could
/// choose any session name, and so any person.
pub async fn resolve_identity_roles(
    client: &aws_sdk_iam::Client,
    roles: &[RoleArn],
) -> anyhow::Result<BTreeSet<String>> {
    let mut ids = BTreeSet::new();
    for arn in roles {
        let name = arn.as_str().rsplit('/').next().unwrap_or_default();
        let role = client
            .get_role()
            .role_name(name)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("cannot resolve identity role {arn}: {}", aws_smithy_types_display(&e)))?
            .role
            .ok_or_else(|| anyhow::anyhow!("identity role {arn} does not exist"))?;
        anyhow::ensure!(role.arn == arn.as_str(), "identity role {arn} resolved to a different role ({})", role.arn);
        let text = role.assume_role_policy_document.as_deref().unwrap_or("");
        // IAM returns the document URL-encoded; emulators may not.
        let decoded = percent_encoding::percent_decode_str(text).decode_utf8_lossy();
        let document: serde_json::Value = serde_json::from_str(&decoded).unwrap_or(serde_json::Value::Null);
        ledger::identity::check_identity_role_trust(&document).map_err(|problem| {
            anyhow::anyhow!(
                "identity role {arn} is not safe to take session names from: {problem}; it must trust only SAML or OIDC providers, or pin sts:RoleSessionName to the signed-in user"
            )
        })?;
        ids.insert(role.role_id);
    }
    Ok(ids)
}
