//! The `RolePolicies` port on IAM (`GetRolePolicy`, `PutRolePolicy`, `DeleteRolePolicy`: exactly
//! what Terraform grants the enforcer on `role/SentinelProtected-*`). Alone here knows IAM's
//! error shapes and that `GetRolePolicy` returns the document URL-encoded.

use async_trait::async_trait;
use aws_sdk_iam::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_iam::operation::delete_role_policy::DeleteRolePolicyError;
use aws_sdk_iam::operation::get_role_policy::GetRolePolicyError;
use aws_sdk_iam::operation::put_role_policy::PutRolePolicyError;

use super::{PolicyError, ProtectedRole, RolePolicies};

/// Role policies through the AWS SDK.
#[derive(Debug, Clone)]
pub struct IamRolePolicies {
    client: aws_sdk_iam::Client,
}

impl IamRolePolicies {
    /// An adapter over `client`.
    pub fn new(client: aws_sdk_iam::Client) -> Self {
        IamRolePolicies { client }
    }
}

/// The error for a failure no variant of the operation describes.
fn other<E, R>(role: &ProtectedRole, e: &SdkError<E, R>) -> PolicyError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let detail = format!("{}", DisplayErrorContext(e));
    match e.code() {
        Some("AccessDenied") | Some("AccessDeniedException") => {
            PolicyError::AccessDenied { role: role.name().to_owned(), detail }
        }
        _ => PolicyError::Unavailable(detail),
    }
}

#[async_trait]
impl RolePolicies for IamRolePolicies {
    async fn get(&self, role: &ProtectedRole, name: &str) -> Result<Option<String>, PolicyError> {
        let result = self.client.get_role_policy().role_name(role.name()).policy_name(name).send().await;
        match result {
            Ok(out) => percent_decode(out.policy_document()).map(Some).ok_or_else(|| PolicyError::Malformed {
                role: role.name().to_owned(),
                detail: "GetRolePolicy returned a document that is not URL-encoded UTF-8".to_owned(),
            }),
            // Either the policy or the role is missing; a missing role shows on the put.
            Err(e) if matches!(e.as_service_error(), Some(GetRolePolicyError::NoSuchEntityException(_))) => Ok(None),
            Err(e) => Err(other(role, &e)),
        }
    }

    async fn put(&self, role: &ProtectedRole, name: &str, document: &str) -> Result<(), PolicyError> {
        let result = self
            .client
            .put_role_policy()
            .role_name(role.name())
            .policy_name(name)
            .policy_document(document)
            .send()
            .await;
        let role_name = || role.name().to_owned();
        match result {
            Ok(_) => Ok(()),
            Err(e) => Err(match e.as_service_error() {
                Some(PutRolePolicyError::NoSuchEntityException(_)) => PolicyError::NoSuchRole(role_name()),
                Some(PutRolePolicyError::LimitExceededException(_)) => PolicyError::TooLarge(role_name()),
                Some(PutRolePolicyError::MalformedPolicyDocumentException(m)) => {
                    PolicyError::Malformed { role: role_name(), detail: m.message().unwrap_or_default().to_owned() }
                }
                Some(PutRolePolicyError::UnmodifiableEntityException(_)) => PolicyError::Unmodifiable(role_name()),
                _ => other(role, &e),
            }),
        }
    }

    async fn delete(&self, role: &ProtectedRole, name: &str) -> Result<(), PolicyError> {
        let result = self.client.delete_role_policy().role_name(role.name()).policy_name(name).send().await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => Err(match e.as_service_error() {
                Some(DeleteRolePolicyError::NoSuchEntityException(_)) => return Ok(()),
                Some(DeleteRolePolicyError::UnmodifiableEntityException(_)) => {
                    PolicyError::Unmodifiable(role.name().to_owned())
                }
                _ => other(role, &e),
            }),
        }
    }
}

/// Decodes RFC 3986 percent-encoding (IAM returns policy documents so encoded); `None` for a
/// bad escape or a result that is not UTF-8. A document that is not encoded passes unchanged.
pub fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let escapes_valid = bytes
        .iter()
        .enumerate()
        .all(|(i, &b)| b != b'%' || bytes.get(i + 1..i + 3).is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)));
    if !escapes_valid {
        return None;
    }
    percent_encoding::percent_decode_str(s).decode_utf8().ok().map(|text| text.into_owned())
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn url_encoded_documents_decode_and_plain_ones_pass_unchanged() {
        assert_eq!(
            percent_decode("%7B%22Version%22%3A%222012-10-17%22%7D").as_deref(),
            Some(r#"{"Version":"2012-10-17"}"#)
        );
        assert_eq!(percent_decode(r#"{"a":1}"#).as_deref(), Some(r#"{"a":1}"#));
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("%zz"), None);
    }
}
