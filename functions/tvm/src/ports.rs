//! The TVM's ports: where policies come from, who mints credentials, and how live grants
//! (approvals, break-glass) are found. Each has an in-memory implementation for tests.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ledger::policy::{AdminsDocument, PolicyDocument, PolicyError};
use ledger::{ApprovalId, Basis, Profile, RoleArn, SessionId, StreamHead, StreamKey, Who};

/// A secret string that never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Why a policy could not be had.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PolicyLoadError {
    #[error("the policy of {profile} is invalid: {error}")]
    Invalid { profile: String, error: Box<PolicyError> },
    #[error("the policy store is unavailable: {0}")]
    Unavailable(String),
}

/// One profile as `GET /profiles` lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProfileEntry {
    pub name: String,
    pub policy_path: String,
}

/// Where validated policies come from (SSM in AWS).
#[async_trait]
pub trait PolicySource: Send + Sync {
    /// The profile's validated policy; `None` when the profile has none.
    async fn policy(&self, profile: &Profile) -> Result<Option<Arc<PolicyDocument>>, PolicyLoadError>;
    /// Every profile with a policy parameter.
    async fn profiles(&self) -> Result<Vec<ProfileEntry>, PolicyLoadError>;
    /// The admins document; `None` when there is none (nobody is admin).
    async fn admins(&self) -> Result<Option<Arc<AdminsDocument>>, PolicyLoadError>;
    /// The parameter path root, e.g. `/sentinel/policies`.
    fn root(&self) -> &str;
}

/// Why a policy could not be written.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot write the policy: {0}")]
pub struct PolicyWriteError(pub String);

/// Writes validated policy text where the source reads it (SSM in AWS).
#[async_trait]
pub trait PolicyWriter: Send + Sync {
    async fn put(&self, profile: &Profile, yaml: &str) -> Result<(), PolicyWriteError>;
}

/// What the TVM asks STS for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssumeRoleInput {
    pub role_arn: RoleArn,
    pub role_session_name: String,
    pub source_identity: String,
    pub duration: Duration,
    /// Session tags, all transitive.
    pub tags: Vec<(String, String)>,
}

/// Credentials as STS returned them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCredentials {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Secret,
    pub expiration: DateTime<Utc>,
}

/// Why STS did not return credentials; the detail goes to the log only.
#[derive(Debug, Clone, thiserror::Error)]
#[error("AssumeRole failed: {0}")]
pub struct IssueError(pub String);

/// Mints role credentials (STS in AWS).
#[async_trait]
pub trait Issuer: Send + Sync {
    async fn assume_role(&self, input: &AssumeRoleInput) -> Result<IssuedCredentials, IssueError>;
}

/// A live grant a vend may rest on, and the stream position to hold it to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveGrant {
    pub basis: Basis,
    pub stream: StreamKey,
    /// The grant's stream as read: it must still be there when the vend commits (the vend
    /// appends `GrantUsed` right after it).
    pub head: StreamHead,
    /// The sessions the grant's stream already lists as resting on it.
    pub sessions: Vec<SessionId>,
    /// When the grant stops being usable.
    pub expires_at: DateTime<Utc>,
}

/// What the caller's approvals for a profile amount to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApprovalLookup {
    Granted(ActiveGrant),
    Pending(ApprovalId),
    Nothing,
}

/// Why grants could not be read; the TVM then refuses (fail closed).
#[derive(Debug, Clone, thiserror::Error)]
#[error("grants unavailable: {0}")]
pub struct GrantError(pub String);

/// Finds a person's live approvals and break-glass for a profile.
#[async_trait]
pub trait GrantReader: Send + Sync {
    async fn approval(&self, who: &Who, profile: &Profile, now: DateTime<Utc>) -> Result<ApprovalLookup, GrantError>;
    async fn break_glass(
        &self,
        who: &Who,
        profile: &Profile,
        now: DateTime<Utc>,
    ) -> Result<Option<ActiveGrant>, GrantError>;
}

/// The key test grants are kept under: the person when known, else the principal.
fn owner_key(who: &Who) -> String {
    who.person.as_ref().map_or_else(|| who.principal.to_string(), ToString::to_string)
}

/// In-memory ports for tests and examples.
pub mod memory {
    use super::*;

    /// Policies held in memory, parsed with the same strict parser.
    #[derive(Default)]
    pub struct MemoryPolicies {
        policies: Mutex<HashMap<String, Result<Arc<PolicyDocument>, PolicyError>>>,
        admins: Mutex<Option<Arc<AdminsDocument>>>,
        unavailable: Mutex<bool>,
    }

    impl MemoryPolicies {
        /// An empty source.
        pub fn new() -> Self {
            Self::default()
        }
        /// Stores `yaml` as `profile`'s policy; an invalid one is kept as its error.
        pub fn put(&self, profile: &str, yaml: &str) {
            let expected: Option<Profile> = profile.parse().ok();
            let parsed = PolicyDocument::parse(yaml, expected.as_ref()).map(Arc::new);
            self.policies.lock().unwrap_or_else(|p| p.into_inner()).insert(profile.to_owned(), parsed);
        }
        /// Stores the admins document.
        pub fn put_admins(&self, yaml: &str) -> Result<(), PolicyError> {
            let doc = AdminsDocument::parse(yaml)?;
            *self.admins.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(doc));
            Ok(())
        }
        /// Makes every call fail as an unreachable store would.
        pub fn set_unavailable(&self, unavailable: bool) {
            *self.unavailable.lock().unwrap_or_else(|p| p.into_inner()) = unavailable;
        }
        fn check(&self) -> Result<(), PolicyLoadError> {
            if *self.unavailable.lock().unwrap_or_else(|p| p.into_inner()) {
                return Err(PolicyLoadError::Unavailable("memory source set unavailable".into()));
            }
            Ok(())
        }
    }

    #[async_trait]
    impl PolicySource for MemoryPolicies {
        async fn policy(&self, profile: &Profile) -> Result<Option<Arc<PolicyDocument>>, PolicyLoadError> {
            self.check()?;
            let policies = self.policies.lock().unwrap_or_else(|p| p.into_inner());
            match policies.get(profile.as_str()) {
                None => Ok(None),
                Some(Ok(doc)) => Ok(Some(doc.clone())),
                Some(Err(error)) => {
                    Err(PolicyLoadError::Invalid { profile: profile.to_string(), error: Box::new(error.clone()) })
                }
            }
        }
        async fn profiles(&self) -> Result<Vec<ProfileEntry>, PolicyLoadError> {
            self.check()?;
            let policies = self.policies.lock().unwrap_or_else(|p| p.into_inner());
            let mut names: Vec<&String> = policies.keys().collect();
            names.sort();
            Ok(names
                .into_iter()
                .map(|name| ProfileEntry { name: name.clone(), policy_path: format!("{}/{name}", self.root()) })
                .collect())
        }
        async fn admins(&self) -> Result<Option<Arc<AdminsDocument>>, PolicyLoadError> {
            self.check()?;
            Ok(self.admins.lock().unwrap_or_else(|p| p.into_inner()).clone())
        }
        fn root(&self) -> &str {
            edge::config::POLICY_ROOT.default()
        }
    }

    #[async_trait]
    impl PolicyWriter for MemoryPolicies {
        async fn put(&self, profile: &Profile, yaml: &str) -> Result<(), PolicyWriteError> {
            self.check().map_err(|e| PolicyWriteError(e.to_string()))?;
            MemoryPolicies::put(self, profile.as_str(), yaml);
            Ok(())
        }
    }

    /// An issuer that mints fake credentials and records every call.
    #[derive(Default)]
    pub struct MemoryIssuer {
        pub calls: Mutex<Vec<AssumeRoleInput>>,
        failing: Mutex<bool>,
        clock: Mutex<Option<Arc<dyn crate::Clock>>>,
    }

    impl MemoryIssuer {
        /// Expirations are computed from `clock` (the system clock otherwise).
        pub fn set_clock(&self, clock: Arc<dyn crate::Clock>) {
            *self.clock.lock().unwrap_or_else(|p| p.into_inner()) = Some(clock);
        }
        /// Makes every call fail.
        pub fn set_failing(&self, failing: bool) {
            *self.failing.lock().unwrap_or_else(|p| p.into_inner()) = failing;
        }
        /// The calls made so far.
        pub fn calls(&self) -> Vec<AssumeRoleInput> {
            self.calls.lock().unwrap_or_else(|p| p.into_inner()).clone()
        }
    }

    #[async_trait]
    impl Issuer for MemoryIssuer {
        async fn assume_role(&self, input: &AssumeRoleInput) -> Result<IssuedCredentials, IssueError> {
            if *self.failing.lock().unwrap_or_else(|p| p.into_inner()) {
                return Err(IssueError("memory issuer set failing".into()));
            }
            let n = {
                let mut calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
                calls.push(input.clone());
                calls.len()
            };
            Ok(IssuedCredentials {
                access_key_id: format!("ASIAMEMORY{n:010}"),
                secret_access_key: Secret::new(format!("memory-secret-{n}")),
                session_token: Secret::new(format!("memory-token-{n}")),
                expiration: self
                    .clock
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .as_ref()
                    .map_or_else(Utc::now, |c| c.now())
                    + chrono::Duration::seconds(input.duration.as_secs() as i64),
            })
        }
    }

    /// Grants set directly by a test.
    #[derive(Default)]
    pub struct MemoryGrants {
        approvals: Mutex<HashMap<(String, String), ApprovalLookup>>,
        break_glass: Mutex<HashMap<(String, String), ActiveGrant>>,
    }

    impl MemoryGrants {
        /// Sets what the approval lookup answers for `who` and `profile`.
        pub fn set_approval(&self, who: &Who, profile: &Profile, lookup: ApprovalLookup) {
            self.approvals
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert((owner_key(who), profile.to_string()), lookup);
        }
        /// Sets an active break-glass for `who` and `profile`.
        pub fn set_break_glass(&self, who: &Who, profile: &Profile, grant: ActiveGrant) {
            self.break_glass
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert((owner_key(who), profile.to_string()), grant);
        }
    }

    #[async_trait]
    impl GrantReader for MemoryGrants {
        async fn approval(
            &self,
            who: &Who,
            profile: &Profile,
            now: DateTime<Utc>,
        ) -> Result<ApprovalLookup, GrantError> {
            let approvals = self.approvals.lock().unwrap_or_else(|p| p.into_inner());
            Ok(match approvals.get(&(owner_key(who), profile.to_string())) {
                Some(ApprovalLookup::Granted(g)) if g.expires_at <= now => ApprovalLookup::Nothing,
                Some(lookup) => lookup.clone(),
                None => ApprovalLookup::Nothing,
            })
        }
        async fn break_glass(
            &self,
            who: &Who,
            profile: &Profile,
            now: DateTime<Utc>,
        ) -> Result<Option<ActiveGrant>, GrantError> {
            let grants = self.break_glass.lock().unwrap_or_else(|p| p.into_inner());
            Ok(grants.get(&(owner_key(who), profile.to_string())).filter(|g| g.expires_at > now).cloned())
        }
    }
}
