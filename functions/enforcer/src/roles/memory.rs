//! An in-memory `RolePolicies` for tests: roles that exist, their inline policies, IAM's total
//! size limit per role, and a count of writes (to tell an idempotent run from a rewrite).

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{PolicyError, ProtectedRole, RolePolicies};
use crate::policy::IAM_INLINE_POLICY_LIMIT;

#[derive(Debug, Default)]
struct State {
    /// Role name → policy name → document.
    roles: BTreeMap<String, BTreeMap<String, String>>,
    writes: usize,
}

/// Roles and their inline policies, kept in memory.
#[derive(Debug, Default)]
pub struct MemoryRolePolicies {
    state: Mutex<State>,
}

impl MemoryRolePolicies {
    /// No roles.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut state)
    }

    /// Creates role `name` with no inline policies.
    pub fn create_role(&self, name: &str) {
        self.with(|s| {
            s.roles.entry(name.to_owned()).or_default();
        });
    }

    /// Puts an inline policy as an operator would (not counted as a write of the enforcer).
    pub fn put_other(&self, role: &str, policy: &str, document: &str) {
        self.with(|s| {
            s.roles.entry(role.to_owned()).or_default().insert(policy.to_owned(), document.to_owned());
        });
    }

    /// The document of `role`'s inline policy `policy`.
    pub fn policy(&self, role: &str, policy: &str) -> Option<String> {
        self.with(|s| s.roles.get(role).and_then(|p| p.get(policy)).cloned())
    }

    /// The names of every role that has inline policy `policy`.
    pub fn roles_with(&self, policy: &str) -> Vec<String> {
        self.with(|s| s.roles.iter().filter(|(_, p)| p.contains_key(policy)).map(|(r, _)| r.clone()).collect())
    }

    /// How many puts and deletes changed something.
    pub fn writes(&self) -> usize {
        self.with(|s| s.writes)
    }
}

/// IAM counts characters other than whitespace.
fn iam_size(document: &str) -> usize {
    document.chars().filter(|c| !c.is_whitespace()).count()
}

#[async_trait]
impl RolePolicies for MemoryRolePolicies {
    async fn get(&self, role: &ProtectedRole, name: &str) -> Result<Option<String>, PolicyError> {
        Ok(self.policy(role.name(), name))
    }

    async fn put(&self, role: &ProtectedRole, name: &str, document: &str) -> Result<(), PolicyError> {
        if serde_json::from_str::<serde_json::Value>(document).is_err() {
            return Err(PolicyError::Malformed { role: role.name().to_owned(), detail: "not JSON".to_owned() });
        }
        self.with(|s| {
            let policies =
                s.roles.get_mut(role.name()).ok_or_else(|| PolicyError::NoSuchRole(role.name().to_owned()))?;
            let others: usize = policies.iter().filter(|(n, _)| n.as_str() != name).map(|(_, d)| iam_size(d)).sum();
            if others + iam_size(document) > IAM_INLINE_POLICY_LIMIT {
                return Err(PolicyError::TooLarge(role.name().to_owned()));
            }
            policies.insert(name.to_owned(), document.to_owned());
            s.writes += 1;
            Ok(())
        })
    }

    async fn delete(&self, role: &ProtectedRole, name: &str) -> Result<(), PolicyError> {
        self.with(|s| {
            if let Some(policies) = s.roles.get_mut(role.name()) {
                if policies.remove(name).is_some() {
                    s.writes += 1;
                }
            }
            Ok(())
        })
    }
}
