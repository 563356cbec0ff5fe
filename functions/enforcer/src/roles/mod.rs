//! The `RolePolicies` port: read, write and delete one inline policy of a protected role, with
//! an IAM adapter and an in-memory one. [`ProtectedRole`] is the only way to name a role here,
//! so nothing but a `SentinelProtected-` role of the enforcer's own account is ever touched.

pub mod iam;
pub mod memory;

use std::fmt;

use async_trait::async_trait;
use ledger::RoleArn;

use crate::policy::PROTECTED_ROLE_PREFIX;

/// A protected role of the enforcer's account, by name (what IAM's role-policy calls take).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProtectedRole {
    arn: RoleArn,
    name: String,
}

/// Why a role may not be touched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleRefused {
    /// The role's name does not start with [`PROTECTED_ROLE_PREFIX`] (or it has a path, which
    /// the enforcer's IAM grant does not cover).
    #[error("role {0} is not a protected role (role/{PROTECTED_ROLE_PREFIX}*)")]
    NotProtected(RoleArn),
    /// The role is in another account: the role-policy calls would land on a role of the same
    /// name in the enforcer's own account. That account needs its own enforcer.
    #[error("role {role} is in account {role_account}, the enforcer acts only in {own_account}")]
    ForeignAccount {
        /// The role.
        role: RoleArn,
        /// The role's account.
        role_account: String,
        /// The enforcer's account.
        own_account: String,
    },
}

impl ProtectedRole {
    /// `arn` if it names a protected role (`arn:<partition>:iam::<account>:role/SentinelProtected-*`,
    /// no path) of `own_account`.
    pub fn from_arn(arn: &RoleArn, own_account: &str) -> Result<Self, RoleRefused> {
        let not_protected = || RoleRefused::NotProtected(arn.clone());
        // arn:<partition>:iam::<account>:role/<name>
        let mut parts = arn.as_str().splitn(6, ':');
        let (Some("arn"), Some(_partition), Some("iam"), Some(""), Some(account), Some(resource)) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(not_protected());
        };
        let name = resource.strip_prefix("role/").ok_or_else(not_protected)?;
        let valid_name = name.len() <= 64
            && name.len() > PROTECTED_ROLE_PREFIX.len()
            && name.starts_with(PROTECTED_ROLE_PREFIX)
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
        if !valid_name {
            return Err(not_protected());
        }
        if account != own_account {
            return Err(RoleRefused::ForeignAccount {
                role: arn.clone(),
                role_account: account.to_owned(),
                own_account: own_account.to_owned(),
            });
        }
        Ok(ProtectedRole { arn: arn.clone(), name: name.to_owned() })
    }

    /// The role name (`SentinelProtected-…`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The role ARN.
    pub fn arn(&self) -> &RoleArn {
        &self.arn
    }
}

impl fmt::Display for ProtectedRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// Why a role-policy call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The role does not exist.
    #[error("role {0} does not exist")]
    NoSuchRole(String),
    /// The role's inline policies would exceed IAM's size limit.
    #[error("the inline policies of role {0} would exceed IAM's size limit")]
    TooLarge(String),
    /// IAM refused the document.
    #[error("IAM refused the policy document for role {role}: {detail}")]
    Malformed {
        /// The role.
        role: String,
        /// IAM's message.
        detail: String,
    },
    /// The role is service-linked or otherwise unmodifiable.
    #[error("role {0} cannot be modified")]
    Unmodifiable(String),
    /// The enforcer's role lacks a permission (a deployment error; retried, then queued).
    #[error("IAM denied the enforcer access to role {role}: {detail}")]
    AccessDenied {
        /// The role.
        role: String,
        /// IAM's message.
        detail: String,
    },
    /// IAM could not be reached or throttled, even after the SDK's retries.
    #[error("IAM is unavailable: {0}")]
    Unavailable(String),
}

impl PolicyError {
    /// Whether running again later can succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, PolicyError::Unavailable(_) | PolicyError::AccessDenied { .. })
    }
}

/// One inline policy of a protected role.
#[async_trait]
pub trait RolePolicies: Send + Sync {
    /// The policy document (decoded JSON), or `None` when the role has no such policy.
    async fn get(&self, role: &ProtectedRole, name: &str) -> Result<Option<String>, PolicyError>;

    /// Creates or replaces the policy.
    async fn put(&self, role: &ProtectedRole, name: &str, document: &str) -> Result<(), PolicyError>;

    /// Deletes the policy; a policy that is already gone is not an error.
    async fn delete(&self, role: &ProtectedRole, name: &str) -> Result<(), PolicyError>;
}
