//! Who is calling (DESIGN §2, §4): the caller as API Gateway's IAM authorizer context
//! describes it, checked for consistency; their person key (one human across principals); and
//! a policy name only when the caller could not have chosen it.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::ids::{PersonKey, PrincipalArn, Who};
use crate::policy::Subject;

/// Role names starting with this are Sentinel's protected roles by default.
pub const DEFAULT_PROTECTED_ROLE_PREFIX: &str = "SentinelProtected-";

/// `requestContext.authorizer.iam` of an API Gateway HTTP API (payload 2.0) request on an
/// `AWS_IAM` route. Every field is optional on input; [`Caller::from_iam`] decides what
/// is required. Unknown fields (e.g. `cognitoIdentity`) are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IamContext {
    /// The access key id that signed the request.
    #[serde(default)]
    pub access_key: Option<String>,
    /// The caller's account.
    #[serde(default)]
    pub account_id: Option<String>,
    /// The caller id (for IAM principals, the same as `userId`).
    #[serde(default)]
    pub caller_id: Option<String>,
    /// The caller's AWS Organizations id, when it has one.
    #[serde(default)]
    pub principal_org_id: Option<String>,
    /// The caller's principal ARN.
    #[serde(default)]
    pub user_arn: Option<String>,
    /// The caller's unique id: `AIDA…` (IAM user), `AROA…:session` (assumed role),
    /// `account:name` (federated user), the account id (root).
    #[serde(default)]
    pub user_id: Option<String>,
}

/// How callers are recognised; built once at cold start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityConfig {
    /// Role ids (`AROA…`) of the identity roles (e.g. SSO permission-set roles), resolved
    /// from the configured role ARNs at cold start. A session on one of these roles is
    /// evaluated under its session name; on any other role, under no name.
    pub identity_role_ids: BTreeSet<String>,
    /// Callers on roles whose name starts with this (compared ignoring ASCII case) are refused.
    pub protected_role_prefix: String,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self { identity_role_ids: BTreeSet::new(), protected_role_prefix: DEFAULT_PROTECTED_ROLE_PREFIX.to_owned() }
    }
}

/// Why a request's IAM context does not identify a caller Sentinel serves.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// The context lacks a field (or it is empty): not an IAM-authenticated request.
    #[error("the request carries no IAM identity ({field} is missing)")]
    MissingContext { field: &'static str },
    /// The ARN is not a principal ARN of a known shape.
    #[error("the caller ARN is malformed")]
    MalformedArn,
    /// A well-formed ARN of a kind that cannot call Sentinel.
    #[error("this kind of principal cannot call Sentinel")]
    UnsupportedPrincipal,
    /// A federated user (`GetFederationToken`): its name is the caller's choice and it names
    /// no person, so it is refused.
    #[error("federated users cannot call Sentinel; sign in as an IAM user or through an identity role")]
    FederatedUser,
    /// `accountId` differs from the ARN's account.
    #[error("the caller's account does not match its ARN")]
    AccountMismatch,
    /// `userId` does not belong to the ARN (wrong id kind, or another session name).
    #[error("the caller's user id does not match its ARN")]
    UserIdMismatch,
    /// The caller is on a protected role: vended credentials cannot mint new sessions.
    #[error("callers on protected role {role_name} cannot use Sentinel")]
    ProtectedRole { role_name: String },
}

/// What kind of principal the caller is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CallerKind {
    /// An IAM user (`arn:P:iam::A:user/path/name`).
    IamUser { name: String },
    /// A role session (`arn:P:sts::A:assumed-role/ROLE/SESSION`).
    AssumedRole {
        role_name: String,
        /// The role's unique id (`AROA…`), from `userId`.
        role_id: String,
        session_name: String,
        /// Whether the role id is a configured identity role.
        identity_role: bool,
    },
    /// The account root user.
    Root,
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Caller {
    /// The principal ARN exactly as AWS reported it.
    pub principal: PrincipalArn,
    /// The caller's account (12 digits).
    pub account_id: String,
    /// `userId` as AWS reported it. For rate limiting use [`Caller::rate_limit_key`],
    /// which leaves out session names the caller chose.
    pub user_id: String,
    /// What kind of principal.
    pub kind: CallerKind,
    /// Who the caller is, whatever principal they use.
    pub person: PersonKey,
    /// The name policies match: `iam:<user name>` for an IAM user, `idp:<session name>` on an
    /// identity role. `None` for everyone else, whatever their session is called.
    pub policy_user: Option<String>,
}

impl Caller {
    /// Checks the IAM context and recognises the caller. The ARN's partition may be any
    /// AWS partition (`aws`, `aws-cn`, `aws-us-gov`, `aws-iso`, …); `accountId` and
    /// `userId` must agree with the ARN.
    pub fn from_iam(ctx: &IamContext, cfg: &IdentityConfig) -> Result<Caller, IdentityError> {
        let arn_text = required(&ctx.user_arn, "userArn")?;
        let user_id = required(&ctx.user_id, "userId")?;
        let account_id = required(&ctx.account_id, "accountId")?;
        let arn = parse_principal_arn(arn_text)?;
        if arn.account != account_id {
            return Err(IdentityError::AccountMismatch);
        }
        let kind = match arn.resource {
            Resource::Root => {
                if user_id != arn.account {
                    return Err(IdentityError::UserIdMismatch);
                }
                CallerKind::Root
            }
            Resource::User { name } => {
                if !is_unique_id(user_id, "AIDA") {
                    return Err(IdentityError::UserIdMismatch);
                }
                CallerKind::IamUser { name: name.to_owned() }
            }
            Resource::AssumedRole { role, session } => {
                let (role_id, id_session) = user_id.split_once(':').ok_or(IdentityError::UserIdMismatch)?;
                if !is_unique_id(role_id, "AROA") || id_session != session {
                    return Err(IdentityError::UserIdMismatch);
                }
                if starts_with_ignore_ascii_case(role, &cfg.protected_role_prefix) {
                    return Err(IdentityError::ProtectedRole { role_name: role.to_owned() });
                }
                CallerKind::AssumedRole {
                    role_name: role.to_owned(),
                    role_id: role_id.to_owned(),
                    session_name: session.to_owned(),
                    // By role id only: anyone able to create a role can copy a role name.
                    identity_role: cfg.identity_role_ids.contains(role_id),
                }
            }
            Resource::FederatedUser { name } => {
                if user_id.split_once(':') != Some((arn.account, name)) {
                    return Err(IdentityError::UserIdMismatch);
                }
                return Err(IdentityError::FederatedUser);
            }
        };
        let person = match &kind {
            CallerKind::IamUser { name } => PersonKey::iam(account_id, name),
            CallerKind::AssumedRole { session_name, identity_role: true, .. } => PersonKey::idp(session_name),
            CallerKind::AssumedRole { role_id, .. } => PersonKey::role(role_id),
            CallerKind::Root => PersonKey::root(account_id),
        }
        // Every part was validated above, so the key is well-formed.
        .map_err(|_| IdentityError::MalformedArn)?;
        let policy_user = person.policy_name();
        let principal = arn_text.parse().map_err(|_| IdentityError::MalformedArn)?;
        Ok(Caller {
            principal,
            account_id: account_id.to_owned(),
            user_id: user_id.to_owned(),
            kind,
            person,
            policy_user,
        })
    }

    /// The same caller with the person `/sentinel/admins` joins their key into (its `people:`
    /// groups make several keys one human); the policy name stays the principal's own.
    pub fn joined(mut self, admins: Option<&crate::policy::AdminsDocument>) -> Caller {
        if let Some(admins) = admins {
            self.person = admins.person(&self.person);
        }
        self
    }

    /// The caller as someone who acts: principal and person.
    pub fn who(&self) -> Who {
        Who::new(self.principal.clone(), self.person.clone())
    }

    /// What policy matching sees of this caller.
    pub fn subject(&self) -> Subject {
        Subject { principal: self.principal.clone(), policy_user: self.policy_user.clone() }
    }

    /// The key of per-person rate limiting: the person key, so a person's principals share one
    /// budget and the session names of an ordinary role never make a fresh one.
    pub fn rate_limit_key(&self) -> String {
        self.person.to_string()
    }
}

/// Why an identity role's trust policy would let a caller choose the session name, and so the
/// person (`idp:<session name>`) Sentinel takes them for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustProblem {
    #[error("the trust policy is not a JSON policy document")]
    NotADocument,
    #[error(
        "statement {index} lets {principal} assume the role without pinning sts:RoleSessionName to the signed-in user"
    )]
    ChosenSessionName { index: usize, principal: String },
}

/// Checks an identity role's trust policy (the decoded `AssumeRolePolicyDocument`): every
/// statement that allows assuming the role must trust only SAML or OIDC providers (`Federated`
/// principals: the identity provider sets the session name), or pin `sts:RoleSessionName` to a
/// policy variable naming the signed-in user (`${aws:username}`, `${saml:sub}`, …) with
/// `StringEquals` or `StringLike`. An account, role, user, service or `*` principal without that
/// condition could pick any session name — any person.
pub fn check_identity_role_trust(document: &serde_json::Value) -> Result<(), TrustProblem> {
    use serde_json::Value;
    let statements = match document.get("Statement") {
        Some(Value::Array(list)) => list.iter().collect::<Vec<_>>(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => return Err(TrustProblem::NotADocument),
    };
    let strings = |v: Option<&Value>| -> Vec<String> {
        match v {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(items)) => items.iter().filter_map(|i| i.as_str().map(str::to_owned)).collect(),
            _ => Vec::new(),
        }
    };
    for (index, statement) in statements.into_iter().enumerate() {
        if statement.get("Effect").and_then(Value::as_str) != Some("Allow") {
            continue;
        }
        let assumes = strings(statement.get("Action")).iter().any(|a| {
            let a = a.to_ascii_lowercase();
            a == "*" || a == "sts:*" || a.starts_with("sts:assumerole")
        }) || statement.get("NotAction").is_some();
        if !assumes {
            continue;
        }
        let choosers: Vec<String> = match statement.get("Principal") {
            Some(Value::Object(by_kind)) => by_kind
                .iter()
                .filter(|(kind, _)| kind.as_str() != "Federated")
                .flat_map(|(kind, v)| strings(Some(v)).into_iter().map(move |p| format!("{kind} principal {p}")))
                .collect(),
            Some(Value::String(any)) => vec![format!("principal {any}")],
            _ => vec!["every principal (NotPrincipal)".to_owned()],
        };
        if choosers.is_empty() || pins_session_name(statement.get("Condition")) {
            continue;
        }
        return Err(TrustProblem::ChosenSessionName { index, principal: choosers.join(", ") });
    }
    Ok(())
}

/// Whether a statement's conditions tie `sts:RoleSessionName` to policy variables only.
fn pins_session_name(condition: Option<&serde_json::Value>) -> bool {
    let Some(serde_json::Value::Object(operators)) = condition else { return false };
    operators.iter().any(|(operator, keys)| {
        let operator_ok = matches!(operator.as_str(), "StringEquals" | "StringLike");
        let values: Vec<&str> = keys
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(key, _)| key.eq_ignore_ascii_case("sts:RoleSessionName"))
            .flat_map(|(_, v)| match v {
                serde_json::Value::String(s) => vec![s.as_str()],
                serde_json::Value::Array(items) => items.iter().filter_map(|i| i.as_str()).collect(),
                _ => Vec::new(),
            })
            .collect();
        let is_variable = |v: &&str| v.starts_with("${") && v.ends_with('}') && v.matches("${").count() == 1;
        operator_ok && !values.is_empty() && values.iter().all(is_variable)
    })
}

fn required<'a>(value: &'a Option<String>, field: &'static str) -> Result<&'a str, IdentityError> {
    match value.as_deref() {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(IdentityError::MissingContext { field }),
    }
}

/// An IAM unique id of the given kind: the prefix, then upper-case letters and digits.
fn is_unique_id(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix)
        .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()))
}

fn starts_with_ignore_ascii_case(text: &str, prefix: &str) -> bool {
    text.get(..prefix.len()).is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

struct ParsedArn<'a> {
    account: &'a str,
    resource: Resource<'a>,
}

enum Resource<'a> {
    Root,
    User { name: &'a str },
    AssumedRole { role: &'a str, session: &'a str },
    FederatedUser { name: &'a str },
}

/// `arn:PARTITION:SERVICE::ACCOUNT:RESOURCE` for the principal kinds that call Sentinel.
fn parse_principal_arn(arn: &str) -> Result<ParsedArn<'_>, IdentityError> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some(service), Some(region), Some(account), Some(resource)) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(IdentityError::MalformedArn);
    };
    let account_ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
    if !is_partition(partition) || !region.is_empty() || !account_ok {
        return Err(IdentityError::MalformedArn);
    }
    let resource = match (service, resource) {
        ("iam", "root") => Resource::Root,
        ("iam", user) if user.starts_with("user/") => {
            // `user/path/name`: the name is the last segment.
            let name = user.rsplit('/').next().unwrap_or_default();
            if !is_iam_name(name, 1) {
                return Err(IdentityError::MalformedArn);
            }
            Resource::User { name }
        }
        ("sts", session) if session.starts_with("assumed-role/") => {
            let segments: Vec<&str> = session.split('/').collect();
            let [_, role, session] = segments[..] else {
                return Err(IdentityError::MalformedArn);
            };
            if !is_iam_name(role, 1) || !is_iam_name(session, 2) {
                return Err(IdentityError::MalformedArn);
            }
            Resource::AssumedRole { role, session }
        }
        ("sts", federated) if federated.starts_with("federated-user/") => {
            let name = &federated["federated-user/".len()..];
            if !is_iam_name(name, 2) {
                return Err(IdentityError::MalformedArn);
            }
            Resource::FederatedUser { name }
        }
        ("iam" | "sts", _) => return Err(IdentityError::UnsupportedPrincipal),
        _ => return Err(IdentityError::MalformedArn),
    };
    Ok(ParsedArn { account, resource })
}

/// `aws`, or `aws-` followed by lower-case letters, digits and hyphens (`aws-cn`,
/// `aws-us-gov`, `aws-iso`, `aws-iso-b`, …).
fn is_partition(partition: &str) -> bool {
    partition == "aws"
        || partition.strip_prefix("aws-").is_some_and(|rest| {
            !rest.is_empty()
                && !rest.ends_with('-')
                && rest.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

/// User, role, session and federated names: `[A-Za-z0-9_+=,.@-]`, `min`–64 characters.
fn is_iam_name(name: &str, min: usize) -> bool {
    (min..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b))
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::policy::{Effect, PolicyDocument, Request};

    const ACCOUNT: &str = "111122223333";
    const IDENTITY_ROLE_ID: &str = "AROAIDENTITYROLE0001";

    fn ctx(arn: &str, user_id: &str) -> IamContext {
        IamContext {
            access_key: Some("ASIAEXAMPLE".into()),
            account_id: Some(arn.split(':').nth(4).filter(|a| !a.is_empty()).unwrap_or(ACCOUNT).into()),
            caller_id: Some(user_id.into()),
            principal_org_id: None,
            user_arn: Some(arn.into()),
            user_id: Some(user_id.into()),
        }
    }

    fn cfg() -> IdentityConfig {
        IdentityConfig { identity_role_ids: [IDENTITY_ROLE_ID.to_owned()].into(), ..IdentityConfig::default() }
    }

    fn caller(arn: &str, user_id: &str) -> Result<Caller, IdentityError> {
        Caller::from_iam(&ctx(arn, user_id), &cfg())
    }

    #[test]
    fn identity_roles_must_trust_only_identity_providers_or_pin_the_session_name() {
        let doc = |statement: serde_json::Value| serde_json::json!({"Version": "2012-10-17", "Statement": [statement]});
        let sso = doc(serde_json::json!({
            "Effect": "Allow",
            "Principal": {"Federated": "arn:aws:iam::111122223333:saml-provider/AWSSSO_0123_DO_NOT_DELETE"},
            "Action": ["sts:AssumeRoleWithSAML", "sts:TagSession"],
            "Condition": {"StringEquals": {"SAML:aud": "https://signin.aws.amazon.com/saml"}}
        }));
        assert_eq!(check_identity_role_trust(&sso), Ok(()));
        let account = doc(serde_json::json!({
            "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "sts:AssumeRole"
        }));
        assert!(matches!(
            check_identity_role_trust(&account),
            Err(TrustProblem::ChosenSessionName { index: 0, ref principal }) if principal.contains("111122223333:root")
        ));
        let pinned = doc(serde_json::json!({
            "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:RoleSessionName": "${aws:username}"}}
        }));
        assert_eq!(check_identity_role_trust(&pinned), Ok(()));
        let wildcard = doc(serde_json::json!({
            "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "sts:AssumeRole",
            "Condition": {"StringLike": {"sts:RoleSessionName": "*"}}
        }));
        assert!(check_identity_role_trust(&wildcard).is_err(), "a wildcard pins nothing");
        let anyone = doc(serde_json::json!({"Effect": "Allow", "Principal": "*", "Action": "sts:*"}));
        assert!(check_identity_role_trust(&anyone).is_err());
        let service = doc(serde_json::json!({
            "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"
        }));
        assert!(check_identity_role_trust(&service).is_err());
        // A Deny, or an Allow of something else than assuming, is no way in.
        let harmless = serde_json::json!({"Statement": [
            sso["Statement"][0].clone(),
            {"Effect": "Deny", "Principal": "*", "Action": "sts:AssumeRole"},
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "sts:TagSession"}
        ]});
        assert_eq!(check_identity_role_trust(&harmless), Ok(()));
        assert_eq!(check_identity_role_trust(&serde_json::json!("nope")), Err(TrustProblem::NotADocument));
    }

    #[test]
    fn the_admins_document_joins_several_keys_into_one_person() {
        let admins = crate::policy::AdminsDocument::parse(
            "version: \"1\"\npeople:\n  - [idp:secops@example.com, \"iam:111122223333:secops\"]\n",
        )
        .unwrap();
        let iam = caller("arn:aws:iam::111122223333:user/secops", "AIDASECOPS0001").unwrap().joined(Some(&admins));
        assert_eq!(iam.person.to_string(), "idp:secops@example.com");
        assert_eq!(iam.policy_user.as_deref(), Some("iam:secops"), "the policy name stays the principal's");
        let other = caller("arn:aws:iam::111122223333:user/alice", "AIDAALICE0001").unwrap().joined(Some(&admins));
        assert_eq!(other.person.to_string(), "iam:111122223333:alice");
        let e = crate::policy::AdminsDocument::parse("version: \"1\"\npeople:\n  - [alice, bob]\n").unwrap_err();
        assert_eq!(e.field, "people[0][0]", "{e}");
    }

    #[test]
    fn iam_user_is_evaluated_under_their_user_name() {
        let c = caller("arn:aws:iam::111122223333:user/alice", "AIDAALICE0001").unwrap();
        assert_eq!(c.kind, CallerKind::IamUser { name: "alice".into() });
        assert_eq!(c.policy_user.as_deref(), Some("iam:alice"));
        assert_eq!(c.account_id, ACCOUNT);
        assert_eq!(c.person.to_string(), "iam:111122223333:alice");
        assert_eq!(c.rate_limit_key(), "iam:111122223333:alice");
    }

    #[test]
    fn iam_user_name_is_the_last_path_segment() {
        let c = caller("arn:aws:iam::111122223333:user/engineering/platform/alice", "AIDAALICE0001").unwrap();
        assert_eq!(c.policy_user.as_deref(), Some("iam:alice"));
        assert_eq!(c.person.to_string(), "iam:111122223333:alice");
    }

    #[test]
    fn assumed_role_named_alice_is_not_alice() {
        let c = caller("arn:aws:sts::111122223333:assumed-role/Ordinary/alice", "AROAORDINARY0001:alice").unwrap();
        assert_eq!(c.policy_user, None);
        assert!(matches!(c.kind, CallerKind::AssumedRole { identity_role: false, .. }));
        assert_eq!(c.person.to_string(), "role:AROAORDINARY0001");
    }

    #[test]
    fn identity_role_session_is_the_policy_user() {
        let c = caller(
            "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Dev_0123456789abcdef/dana@example.com",
            "AROAIDENTITYROLE0001:dana@example.com",
        )
        .unwrap();
        assert_eq!(c.policy_user.as_deref(), Some("idp:dana@example.com"));
        assert_eq!(c.person.to_string(), "idp:dana@example.com");
        assert_eq!(c.rate_limit_key(), "idp:dana@example.com");
    }

    #[test]
    fn two_identity_roles_with_one_session_name_are_one_person() {
        let cfg = IdentityConfig {
            identity_role_ids: ["AROAIDENTITYROLE0001".to_owned(), "AROAIDENTITYROLE0002".to_owned()].into(),
            ..IdentityConfig::default()
        };
        let dev = ctx(
            "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Dev_01/dana@example.com",
            "AROAIDENTITYROLE0001:dana@example.com",
        );
        let ops = ctx(
            "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Ops_02/dana@example.com",
            "AROAIDENTITYROLE0002:dana@example.com",
        );
        let (dev, ops) = (Caller::from_iam(&dev, &cfg).unwrap(), Caller::from_iam(&ops, &cfg).unwrap());
        assert_ne!(dev.principal, ops.principal);
        assert_eq!(dev.person, ops.person);
        assert!(dev.who().is(&ops.who()));
        assert_eq!(dev.rate_limit_key(), ops.rate_limit_key());
    }

    #[test]
    fn an_iam_user_and_an_sso_user_with_one_name_are_two_people() {
        let iam = caller("arn:aws:iam::111122223333:user/secops@example.com", "AIDASECOPS0001").unwrap();
        let sso = caller(
            "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Admin/secops@example.com",
            "AROAIDENTITYROLE0001:secops@example.com",
        )
        .unwrap();
        assert_ne!(iam.person, sso.person);
        assert_ne!(iam.policy_user, sso.policy_user);
        assert!(!iam.who().is(&sso.who()));
    }

    #[test]
    fn role_named_like_the_identity_role_is_not_an_identity_role() {
        // Same role name, another account and another role id: only the id counts.
        let c = caller(
            "arn:aws:sts::999988887777:assumed-role/AWSReservedSSO_Dev_0123456789abcdef/dana@example.com",
            "AROACOPYCAT00000001:dana@example.com",
        )
        .unwrap();
        assert_eq!(c.policy_user, None);
        let same_account = caller(
            "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Dev_0123456789abcdef/dana@example.com",
            "AROACOPYCAT00000001:dana@example.com",
        )
        .unwrap();
        assert_eq!(same_account.policy_user, None);
    }

    #[test]
    fn session_name_in_user_id_must_match_the_arn() {
        // An identity-role id paired with someone else's session name is refused.
        let e = caller(
            "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Dev/alice",
            "AROAIDENTITYROLE0001:dana@example.com",
        );
        assert_eq!(e, Err(IdentityError::UserIdMismatch));
        let e = caller("arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Dev/alice", "AROAIDENTITYROLE0001");
        assert_eq!(e, Err(IdentityError::UserIdMismatch));
        let e = caller("arn:aws:sts::111122223333:assumed-role/R/alice", "AIDAALICE0001:alice");
        assert_eq!(e, Err(IdentityError::UserIdMismatch));
    }

    #[test]
    fn ordinary_role_sessions_share_one_rate_limit_key() {
        let a = caller("arn:aws:sts::111122223333:assumed-role/Ordinary/one", "AROAORDINARY0001:one").unwrap();
        let b = caller("arn:aws:sts::111122223333:assumed-role/Ordinary/two", "AROAORDINARY0001:two").unwrap();
        assert_eq!(a.rate_limit_key(), b.rate_limit_key());
        assert_eq!(a.rate_limit_key(), "role:AROAORDINARY0001");
        assert_eq!(a.person, b.person, "the session names of an ordinary role are the caller's choice: one actor");
    }

    #[test]
    fn protected_role_callers_are_refused() {
        let e = caller(
            "arn:aws:sts::111122223333:assumed-role/SentinelProtected-Prod/sentinel-01HXYZ",
            "AROAPROTECTED0001:sentinel-01HXYZ",
        );
        assert_eq!(e, Err(IdentityError::ProtectedRole { role_name: "SentinelProtected-Prod".into() }));
        // IAM role names are case-insensitive, so the check is too.
        let e = caller("arn:aws:sts::111122223333:assumed-role/sentinelprotected-prod/x1", "AROAPROTECTED0001:x1");
        assert!(matches!(e, Err(IdentityError::ProtectedRole { .. })));
        // Even when the protected role id were configured as an identity role.
        let cfg =
            IdentityConfig { identity_role_ids: ["AROAPROTECTED0001".to_owned()].into(), ..IdentityConfig::default() };
        let protected_identity =
            ctx("arn:aws:sts::111122223333:assumed-role/SentinelProtected-Dev/alice", "AROAPROTECTED0001:alice");
        assert!(matches!(Caller::from_iam(&protected_identity, &cfg), Err(IdentityError::ProtectedRole { .. })));
        // A custom prefix replaces the default.
        let custom = IdentityConfig { protected_role_prefix: "Vended-".into(), ..IdentityConfig::default() };
        let ctx_vended = ctx("arn:aws:sts::111122223333:assumed-role/Vended-Dev/s1", "AROAVENDED0001:s1");
        assert!(matches!(Caller::from_iam(&ctx_vended, &custom), Err(IdentityError::ProtectedRole { .. })));
    }

    #[test]
    fn govcloud_china_and_iso_partitions_are_understood() {
        let gov = caller("arn:aws-us-gov:iam::111122223333:user/alice", "AIDAALICE0001").unwrap();
        assert_eq!(gov.policy_user.as_deref(), Some("iam:alice"));
        assert_eq!(gov.principal.as_str(), "arn:aws-us-gov:iam::111122223333:user/alice");
        let cn = caller("arn:aws-cn:sts::111122223333:assumed-role/Ordinary/alice", "AROAORDINARY0001:alice").unwrap();
        assert_eq!(cn.policy_user, None);
        let iso = caller("arn:aws-iso-b:iam::111122223333:root", ACCOUNT).unwrap();
        assert_eq!(iso.kind, CallerKind::Root);
        let protected =
            caller("arn:aws-us-gov:sts::111122223333:assumed-role/SentinelProtected-Prod/s1", "AROAPROTECTED0001:s1");
        assert!(matches!(protected, Err(IdentityError::ProtectedRole { .. })));
    }

    #[test]
    fn root_has_no_policy_user() {
        let root = caller("arn:aws:iam::111122223333:root", ACCOUNT).unwrap();
        assert_eq!((root.kind.clone(), root.policy_user.clone()), (CallerKind::Root, None));
        assert_eq!(root.person.to_string(), "root:111122223333");
        assert_eq!(caller("arn:aws:iam::111122223333:root", "AIDAROOT0001"), Err(IdentityError::UserIdMismatch));
    }

    #[test]
    fn federated_users_are_refused() {
        assert_eq!(
            caller("arn:aws:sts::111122223333:federated-user/alice", "111122223333:alice"),
            Err(IdentityError::FederatedUser)
        );
        assert_eq!(
            caller("arn:aws:sts::111122223333:federated-user/alice", "111122223333:bob"),
            Err(IdentityError::UserIdMismatch)
        );
    }

    #[test]
    fn missing_or_empty_context_is_refused() {
        let cfg = cfg();
        assert_eq!(
            Caller::from_iam(&IamContext::default(), &cfg),
            Err(IdentityError::MissingContext { field: "userArn" })
        );
        let mut c = ctx("arn:aws:iam::111122223333:user/alice", "AIDAALICE0001");
        c.user_id = Some(String::new());
        assert_eq!(Caller::from_iam(&c, &cfg), Err(IdentityError::MissingContext { field: "userId" }));
        let mut c = ctx("arn:aws:iam::111122223333:user/alice", "AIDAALICE0001");
        c.account_id = None;
        assert_eq!(Caller::from_iam(&c, &cfg), Err(IdentityError::MissingContext { field: "accountId" }));
    }

    #[test]
    fn account_must_match_the_arn() {
        let mut c = ctx("arn:aws:iam::111122223333:user/alice", "AIDAALICE0001");
        c.account_id = Some("999988887777".into());
        assert_eq!(Caller::from_iam(&c, &cfg()), Err(IdentityError::AccountMismatch));
    }

    #[test]
    fn iam_user_id_must_be_a_user_id() {
        assert_eq!(
            caller("arn:aws:iam::111122223333:user/alice", "AROAALICE0001:alice"),
            Err(IdentityError::UserIdMismatch)
        );
        assert_eq!(caller("arn:aws:iam::111122223333:user/alice", "alice"), Err(IdentityError::UserIdMismatch));
    }

    #[test]
    fn malformed_and_unsupported_arns_are_refused() {
        for arn in [
            "alice",
            "arn:aws:iam::1:user/alice",
            "arn:aws:iam:us-east-1:111122223333:user/alice",
            "arn:azure:iam::111122223333:user/alice",
            "arn:AWS:iam::111122223333:user/alice",
            "arn:aws-:iam::111122223333:user/alice",
            "arn:aws:sts::111122223333:assumed-role/OnlyRole",
            "arn:aws:sts::111122223333:assumed-role/Role/session/extra",
            "arn:aws:sts::111122223333:assumed-role/Role/a b",
            "arn:aws:iam::111122223333:user/",
            "arn:aws:s3:::bucket",
        ] {
            assert_eq!(caller(arn, "AIDAX0001"), Err(IdentityError::MalformedArn), "{arn}");
        }
        for arn in [
            "arn:aws:iam::111122223333:role/Admin",
            "arn:aws:iam::111122223333:group/admins",
            "arn:aws:sts::111122223333:self",
        ] {
            assert_eq!(caller(arn, "AIDAX0001"), Err(IdentityError::UnsupportedPrincipal), "{arn}");
        }
    }

    #[test]
    fn iam_context_reads_the_api_gateway_shape() {
        let json = r#"{
            "accessKey": "ASIAEXAMPLE",
            "accountId": "111122223333",
            "callerId": "AROAORDINARY0001:alice",
            "cognitoIdentity": null,
            "principalOrgId": "o-abc123",
            "userArn": "arn:aws:sts::111122223333:assumed-role/Ordinary/alice",
            "userId": "AROAORDINARY0001:alice"
        }"#;
        let ctx: IamContext = serde_json::from_str(json).unwrap();
        assert_eq!(ctx.principal_org_id.as_deref(), Some("o-abc123"));
        let caller = Caller::from_iam(&ctx, &cfg()).unwrap();
        assert_eq!(caller.policy_user, None);
        let sparse: IamContext = serde_json::from_str("{}").unwrap();
        assert_eq!(sparse, IamContext::default());
    }

    #[test]
    fn imposter_session_cannot_use_alices_dev_access() {
        let policy = PolicyDocument::parse(include_str!("../../examples/policies/dev.yaml"), None).unwrap();
        let now = Utc.with_ymd_and_hms(2024, 5, 1, 9, 0, 0).unwrap();
        let effect = |c: &Caller| policy.evaluate(&Request { caller: &c.subject(), now, requested: None }).effect;
        let alice = caller("arn:aws:iam::111122223333:user/alice", "AIDAALICE0001").unwrap();
        let imposter =
            caller("arn:aws:sts::111122223333:assumed-role/Ordinary/alice", "AROAORDINARY0001:alice").unwrap();
        let dana = caller(
            "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Dev/dana@example.com",
            "AROAIDENTITYROLE0001:dana@example.com",
        )
        .unwrap();
        let fake_dana = caller(
            "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Dev/dana@example.com",
            "AROACOPYCAT00000001:dana@example.com",
        )
        .unwrap();
        assert_eq!(effect(&alice), Effect::Allow);
        assert_eq!(effect(&dana), Effect::Allow);
        assert_eq!(effect(&imposter), Effect::Deny);
        assert_eq!(effect(&fake_dana), Effect::Deny);
        let alice_upper = caller("arn:aws:iam::111122223333:user/Alice", "AIDAALICE0002").unwrap();
        assert_eq!(effect(&alice_upper), Effect::Deny);
    }
}
