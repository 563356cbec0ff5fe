//! What can go wrong, as the user sees it: the API's two error shapes, local failures with a
//! code, their exit codes, and how they are printed (a message plus what to do next, or
//! `{"Code","Message"}` for scripts).

use std::fmt;

use crate::args::OutputFormat;

/// The exit codes of DESIGN §6.
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// Internal error, or a check that failed.
    pub const INTERNAL: u8 = 1;
    /// Bad flags or values.
    pub const USAGE: u8 = 2;
    /// Refused: policy, approval, authentication, rights, rate limit.
    pub const DENIED: u8 = 3;
    /// Unknown id or profile.
    pub const NOT_FOUND: u8 = 4;
    /// Already decided, revoked, closed; stacked break-glass.
    pub const CONFLICT: u8 = 5;
    /// The API, the ledger or the network.
    pub const UNAVAILABLE: u8 = 6;
}

/// An error answer of the HTTP API, in either shape: ours (`{"Code","Message"}`) or API
/// Gateway's own (`{"message"}`, e.g. 403 Forbidden from the authorizer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiFailure {
    /// HTTP status.
    pub status: u16,
    /// `Code`, or one derived from the status for API Gateway's answers.
    pub code: String,
    /// `Message` (or `message`).
    pub message: String,
    /// The pending approval request, with `APPROVAL_REQUIRED`.
    pub request_id: Option<String>,
    /// `Retry-After`, with 429.
    pub retry_after: Option<String>,
}

impl ApiFailure {
    /// Reads an error response; anything unparseable still yields a code from the status.
    pub fn from_response(status: u16, body: &[u8], retry_after: Option<String>) -> ApiFailure {
        let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let text = |key: &str| json.get(key).and_then(|v| v.as_str()).map(str::to_owned);
        let code = text("Code").unwrap_or_else(|| {
            match status {
                400 => "BAD_REQUEST",
                401 => "UNAUTHORIZED",
                403 => "FORBIDDEN",
                404 => "NOT_FOUND",
                409 => "CONFLICT",
                429 => "TOO_MANY_REQUESTS",
                502..=504 => "UNAVAILABLE",
                _ if status >= 500 => "SERVER_ERROR",
                _ => "HTTP_ERROR",
            }
            .to_owned()
        });
        let message = text("Message").or_else(|| text("message")).unwrap_or_else(|| {
            let raw = String::from_utf8_lossy(body);
            let raw: String = raw.chars().filter(|c| !c.is_control()).take(200).collect();
            if raw.trim().is_empty() {
                format!("The API answered HTTP {status}.")
            } else {
                format!("The API answered HTTP {status}: {raw}")
            }
        });
        ApiFailure { status, code, message, request_id: text("request_id"), retry_after }
    }

    /// The exit code for this answer.
    pub fn exit_code(&self) -> u8 {
        match self.status {
            400 | 405 | 413 | 414 => exit::USAGE,
            401 | 403 | 429 => exit::DENIED,
            404 => exit::NOT_FOUND,
            409 => exit::CONFLICT,
            s if s >= 500 => exit::UNAVAILABLE,
            _ => exit::INTERNAL,
        }
    }

    /// What the user should do next, if there is something useful to say.
    pub fn hint(&self) -> Option<String> {
        Some(match self.code.as_str() {
            "POLICY_DENY" => {
                "The policy refuses you for this profile; see which rule applies with `sentinel whoami --profile <profile>`, or ask the profile's owners.".into()
            }
            "APPROVAL_REQUIRED" => match &self.request_id {
                Some(id) => format!("Your request {id} is pending; check it with `sentinel requests show {id}`."),
                None => "Ask for an approval with `sentinel request <profile> --justification '...' --duration 1h`, then retry once it is approved.".into(),
            },
            "IAM_AUTH_REQUIRED" => CHECK_CREDENTIALS.into(),
            "FORBIDDEN" if about_signing(&self.message) => CHECK_CREDENTIALS.into(),
            "FORBIDDEN" => "The API refused the request: the session is revoked, expired or unknown, or your credentials are not accepted. Check your AWS credentials, or start a new session.".into(),
            "UNAUTHORIZED" => "The request carried no credentials the API accepts; check your AWS credentials or the session token.".into(),
            "SESSION_REVOKED" | "SESSION_EXPIRED" => "Start a new session with `sentinel exec`.".into(),
            "NOT_AUTHORIZED" => "You lack the right for this (approver, revoker, admin or break-glass user); ask someone who has it.".into(),
            "SELF_APPROVAL" => "Another approver must decide your request.".into(),
            "NOT_FOUND" => "Check the id or profile (`sentinel requests list`, `sentinel sessions list`, `sentinel profiles`).".into(),
            "RATE_LIMITED" | "TOO_MANY_REQUESTS" => match &self.retry_after {
                Some(s) => format!("Retry after {s} s."),
                None => "Retry in a little while.".into(),
            },
            "LEDGER_UNAVAILABLE" => "Nothing was issued or changed; retry in a few seconds.".into(),
            "POLICY_ERROR" => "An administrator must fix the profile's policy (`sentinel policy validate`, `sentinel policy push`).".into(),
            "CREDENTIAL_ERROR" | "SERVER_ERROR" | "UNAVAILABLE" => "Retry in a few seconds; if it persists, tell the Sentinel operators.".into(),
            _ => return None,
        })
    }
}

const CHECK_CREDENTIALS: &str = "Check your AWS credentials (AWS_PROFILE, `aws sts get-caller-identity`) and that --region / AWS_REGION is the API's region.";

/// Whether API Gateway's message is about the request's signature or keys.
fn about_signing(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    ["signature", "security token", "access key", "credential", "authorization header"].iter().any(|w| m.contains(w))
}

impl fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiFailure {}

/// A failure decided by the CLI itself, with its code, exit code and an optional hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalFailure {
    /// A stable code, e.g. `CHAIN_BROKEN`.
    pub code: &'static str,
    /// What happened.
    pub message: String,
    /// What to do next.
    pub hint: Option<String>,
    /// The exit code.
    pub exit: u8,
}

impl LocalFailure {
    /// A failure with `code`, `exit` and `message`.
    pub fn new(code: &'static str, exit: u8, message: impl Into<String>) -> Self {
        LocalFailure { code, message: message.into(), hint: None, exit }
    }

    /// Adds what to do next.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The network or the API could not be reached.
    pub fn unavailable(message: impl Into<String>) -> Self {
        LocalFailure::new("UNAVAILABLE", exit::UNAVAILABLE, message)
    }

    /// A value the CLI refuses before sending anything.
    pub fn usage(message: impl Into<String>) -> Self {
        LocalFailure::new("USAGE", exit::USAGE, message)
    }
}

impl fmt::Display for LocalFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for LocalFailure {}

/// How an error is reported: code, message, hint and exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub code: String,
    pub message: String,
    pub hint: Option<String>,
    pub exit: u8,
    /// Extra top-level fields for the JSON form (e.g. `request_id`).
    pub extra: Vec<(String, String)>,
}

impl Report {
    /// Classifies any error: ours carry their codes; anything else is internal, with its
    /// context chain as the message.
    pub fn of(error: &anyhow::Error) -> Report {
        for cause in error.chain() {
            if let Some(api) = cause.downcast_ref::<ApiFailure>() {
                let mut extra = Vec::new();
                if let Some(id) = &api.request_id {
                    extra.push(("request_id".to_owned(), id.clone()));
                }
                // The API's own message may already name the command to run next.
                let hint = if api.message.contains("`sentinel ") { None } else { api.hint() };
                return Report {
                    code: api.code.clone(),
                    message: prefixed(error, &api.message),
                    hint,
                    exit: api.exit_code(),
                    extra,
                };
            }
            if let Some(local) = cause.downcast_ref::<LocalFailure>() {
                return Report {
                    code: local.code.to_owned(),
                    message: prefixed(error, &local.message),
                    hint: local.hint.clone(),
                    exit: local.exit,
                    extra: Vec::new(),
                };
            }
        }
        let message = error.chain().map(ToString::to_string).collect::<Vec<_>>().join(": ");
        Report { code: "INTERNAL".into(), message, hint: None, exit: exit::INTERNAL, extra: Vec::new() }
    }

    /// Prints the report on stderr in the chosen format.
    pub fn print(&self, format: OutputFormat) {
        eprint!("{}", self.render(format));
    }

    /// The text printed on stderr.
    pub fn render(&self, format: OutputFormat) -> String {
        match format {
            OutputFormat::Table => {
                let mut out = format!("sentinel: {}\n", self.message);
                if let Some(hint) = &self.hint {
                    out.push_str(&format!("hint: {hint}\n"));
                }
                out
            }
            OutputFormat::Json => {
                let mut body = serde_json::json!({ "Code": self.code, "Message": self.message });
                for (key, value) in &self.extra {
                    body[key] = serde_json::Value::String(value.clone());
                }
                format!("{body}\n")
            }
        }
    }
}

/// The outer contexts of `error` (what the CLI was doing) before the failure's own message.
fn prefixed(error: &anyhow::Error, message: &str) -> String {
    let outer: Vec<String> = error
        .chain()
        .take_while(|c| c.downcast_ref::<ApiFailure>().is_none() && c.downcast_ref::<LocalFailure>().is_none())
        .map(ToString::to_string)
        .collect();
    if outer.is_empty() {
        message.to_owned()
    } else {
        format!("{}: {message}", outer.join(": "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_error_shape_keeps_code_message_and_request_id() {
        let body =
            br#"{"Code":"APPROVAL_REQUIRED","Message":"needs approval","request_id":"01ARZ3NDEKTSV4RRFFQ69G5FAV"}"#;
        let failure = ApiFailure::from_response(403, body, None);
        assert_eq!(failure.code, "APPROVAL_REQUIRED");
        assert_eq!(failure.exit_code(), exit::DENIED);
        assert!(failure.hint().unwrap().contains("sentinel requests show 01ARZ3NDEKTSV4RRFFQ69G5FAV"));
    }

    #[test]
    fn api_gateway_shape_gets_a_code_from_its_status() {
        let failure = ApiFailure::from_response(403, br#"{"message":"Forbidden"}"#, None);
        assert_eq!((failure.code.as_str(), failure.message.as_str()), ("FORBIDDEN", "Forbidden"));
        let failure = ApiFailure::from_response(401, br#"{"message":"Unauthorized"}"#, None);
        assert_eq!(failure.code, "UNAUTHORIZED");
        assert_eq!(failure.exit_code(), exit::DENIED);
    }

    #[test]
    fn statuses_map_to_the_documented_exit_codes() {
        let code = |status| ApiFailure::from_response(status, b"", None).exit_code();
        assert_eq!(
            [code(400), code(403), code(404), code(409), code(429), code(500), code(503)],
            [2, 3, 4, 5, 3, 6, 6]
        );
    }

    #[test]
    fn context_is_kept_in_front_of_the_api_message() {
        let error =
            anyhow::Error::new(ApiFailure::from_response(404, br#"{"Code":"NOT_FOUND","Message":"Not found."}"#, None))
                .context("cannot show request X");
        let report = Report::of(&error);
        assert_eq!(report.message, "cannot show request X: Not found.");
        assert_eq!(report.exit, exit::NOT_FOUND);
    }
}
