//! API errors: one exhaustive mapping from what went wrong to status, code and a message that
//! is safe to show a client (no deployment ARNs, SSM paths, stack traces or SDK text).

use aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use ledger::{ApprovalId, DomainError, StoreError};

use crate::http::json_response;

/// Everything a route can answer other than success.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("the profile query parameter is required")]
    MissingProfile,
    #[error("invalid profile name")]
    InvalidProfile,
    #[error("invalid duration")]
    InvalidDuration(String),
    #[error("invalid request")]
    InvalidRequest(String),
    #[error("IAM authentication required")]
    IamAuthRequired,
    #[error("policy denied")]
    PolicyDeny { reason: String },
    #[error("approval required")]
    ApprovalRequired { pending: Option<ApprovalId> },
    #[error("session revoked")]
    SessionRevoked,
    #[error("session expired")]
    SessionExpired,
    #[error("not authorized")]
    NotAuthorized(String),
    #[error("self approval")]
    SelfApproval,
    #[error("not found")]
    NotFound,
    #[error("conflict")]
    Conflict(String),
    /// An `Idempotency-Key` already used for a different request.
    #[error("idempotency key reused")]
    IdempotencyKeyReused,
    /// A request of the caller for this profile is still pending.
    #[error("a request is pending")]
    PendingRequest(ApprovalId),
    #[error("rate limited")]
    RateLimited { retry_after_seconds: u64 },
    /// The policy could not be loaded or validated; details go to the log only.
    #[error("policy error")]
    PolicyError,
    /// STS refused or failed; details go to the log only.
    #[error("credential error")]
    CredentialError,
    /// The ledger could not record the outcome; no credentials are returned.
    #[error("ledger unavailable")]
    LedgerUnavailable,
}

impl ApiError {
    /// HTTP status, wire code and client-safe message.
    pub fn parts(&self) -> (i64, &'static str, String) {
        match self {
            ApiError::MissingProfile => (400, "MISSING_PROFILE", "The profile query parameter is required.".into()),
            ApiError::InvalidProfile => (
                400,
                "INVALID_PROFILE",
                "Profile names are 1-64 characters of letters, digits, '_', '.' and '-', starting with a letter or digit.".into(),
            ),
            ApiError::InvalidDuration(m) => (400, "INVALID_DURATION", m.clone()),
            ApiError::InvalidRequest(m) => (400, "INVALID_REQUEST", m.clone()),
            ApiError::IamAuthRequired => (
                403,
                "IAM_AUTH_REQUIRED",
                "This route needs a request signed with AWS Signature Version 4 by an IAM principal.".into(),
            ),
            ApiError::PolicyDeny { reason } => (403, "POLICY_DENY", format!("Policy denied: {reason}")),
            ApiError::ApprovalRequired { pending: Some(id) } => (
                403,
                "APPROVAL_REQUIRED",
                format!("This profile requires an approval. Your request {id} is pending; check it with `sentinel requests show {id}`."),
            ),
            ApiError::ApprovalRequired { pending: None } => (
                403,
                "APPROVAL_REQUIRED",
                "This profile requires an approval. Ask for one with `sentinel request <profile> --justification ...`.".into(),
            ),
            ApiError::SessionRevoked => (403, "SESSION_REVOKED", "The session was revoked.".into()),
            ApiError::SessionExpired => (403, "SESSION_EXPIRED", "The session has expired; start a new one.".into()),
            ApiError::NotAuthorized(m) => (403, "NOT_AUTHORIZED", m.clone()),
            ApiError::SelfApproval => (403, "SELF_APPROVAL", "You cannot approve or deny your own request.".into()),
            ApiError::NotFound => (404, "NOT_FOUND", "Not found.".into()),
            ApiError::Conflict(m) => (409, "CONFLICT", m.clone()),
            ApiError::PendingRequest(id) => (
                409,
                "CONFLICT",
                format!("Your request {id} for this profile is still pending; cancel it or wait for its decision."),
            ),
            ApiError::IdempotencyKeyReused => (
                422,
                "IDEMPOTENCY_KEY_REUSED",
                "This Idempotency-Key was already used for a different request; use a new key for a new request.".into(),
            ),
            ApiError::RateLimited { retry_after_seconds } => (
                429,
                "RATE_LIMITED",
                format!("Too many requests; retry after {retry_after_seconds} s."),
            ),
            ApiError::PolicyError => (
                500,
                "POLICY_ERROR",
                "The profile's policy could not be loaded or is invalid; no credentials were issued. An administrator must fix it (`sentinel policy validate`).".into(),
            ),
            ApiError::CredentialError => (500, "CREDENTIAL_ERROR", "Credentials could not be issued.".into()),
            ApiError::LedgerUnavailable => (
                503,
                "LEDGER_UNAVAILABLE",
                "The request could not be recorded, so no credentials were issued. Retry shortly.".into(),
            ),
        }
    }

    /// The response API Gateway returns for this error.
    pub fn into_response(self) -> ApiGatewayV2httpResponse {
        let (status, code, message) = self.parts();
        let mut body = serde_json::json!({ "Code": code, "Message": message });
        if let ApiError::ApprovalRequired { pending: Some(id) } | ApiError::PendingRequest(id) = &self {
            body["request_id"] = serde_json::Value::String(id.to_string());
        }
        let mut response = json_response(status, &body);
        if let ApiError::RateLimited { retry_after_seconds } = self {
            crate::http::set_header(&mut response, "retry-after", &retry_after_seconds.to_string());
        }
        response
    }
}

/// A decider's refusal as the API answers it.
impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> ApiError {
        match e {
            DomainError::NotFound(_) => ApiError::NotFound,
            DomainError::SelfApproval => ApiError::SelfApproval,
            DomainError::NotRequester => ApiError::NotAuthorized("Only the requester can cancel a request.".into()),
            DomainError::Invalid(why) => ApiError::InvalidRequest(format!("{}.", capitalise(why))),
            DomainError::CoolingDown { retry_after_seconds } => ApiError::RateLimited { retry_after_seconds },
            DomainError::PendingRequest(id) => ApiError::PendingRequest(id),
            DomainError::Expired(what) => ApiError::Conflict(format!("The {what} has expired.")),
            other @ (DomainError::AlreadyExists(_)
            | DomainError::InvalidState { .. }
            | DomainError::NotGranted
            | DomainError::AlreadyDecided
            | DomainError::NotExpired(_)
            | DomainError::StillActive(_)) => ApiError::Conflict(format!("{}.", capitalise(&other.to_string()))),
        }
    }
}

/// A ledger failure: logged with its kind and source, answered 503 without either (the
/// message is safe to show; a denied or missing table is the deployment's fault, not the
/// caller's).
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        let kind = e.failure_kind().map_or("ledger", |k| k.as_str());
        tracing::error!(error = %e, kind, retryable = e.is_retryable(), "ledger operation failed");
        ApiError::LedgerUnavailable
    }
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
