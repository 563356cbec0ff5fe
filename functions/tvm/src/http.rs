//! Reading API Gateway payload-2.0 requests and building responses.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::{HeaderName, HeaderValue};

use crate::error::ApiError;

/// A JSON response with the headers every answer carries.
pub fn json_response(status: i64, body: &serde_json::Value) -> ApiGatewayV2httpResponse {
    let mut response = ApiGatewayV2httpResponse::default();
    response.status_code = status;
    response.body = Some(Body::Text(body.to_string()));
    set_header(&mut response, "content-type", "application/json; charset=utf-8");
    set_header(&mut response, "cache-control", "no-store");
    response
}

/// A route's successful answer before it becomes a response: status and JSON body, so that it
/// can be remembered under an `Idempotency-Key` as it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: i64,
    pub body: serde_json::Value,
}

impl Answer {
    /// `200` with `body`.
    pub fn ok(body: serde_json::Value) -> Answer {
        Answer { status: 200, body }
    }

    /// `201` with `body`.
    pub fn created(body: serde_json::Value) -> Answer {
        Answer { status: 201, body }
    }

    /// The response.
    pub fn into_response(self) -> ApiGatewayV2httpResponse {
        json_response(self.status, &self.body)
    }

    /// The response to a retry answered from the remembered first answer.
    pub fn replayed(self) -> ApiGatewayV2httpResponse {
        let mut response = self.into_response();
        set_header(&mut response, "idempotent-replayed", "true");
        response
    }
}

/// Sets a header; values are produced by this crate and always valid.
pub fn set_header(response: &mut ApiGatewayV2httpResponse, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers.insert(HeaderName::from_static(name), value);
    }
}

/// The single value of query parameter `name`, percent-decoded from the raw query string
/// (API Gateway's parsed map splits values at commas). A repeated parameter is refused rather
/// than guessing which one counts.
pub fn query_param(request: &ApiGatewayV2httpRequest, name: &str) -> Result<Option<String>, ApiError> {
    let raw = request.raw_query_string.as_deref().unwrap_or("");
    if raw.is_empty() {
        return Ok(request.query_string_parameters.all(name).map(|values| values.join(",")));
    }
    let mut found = None;
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if percent_decode(key)? != name {
            continue;
        }
        if found.is_some() {
            return Err(ApiError::InvalidRequest(format!("The {name} query parameter may be given only once.")));
        }
        found = Some(percent_decode(value)?);
    }
    Ok(found)
}

/// Decodes `%XX` escapes and `+` (space); the result must be UTF-8.
fn percent_decode(text: &str) -> Result<String, ApiError> {
    let bad = || ApiError::InvalidRequest("The query string is not valid percent-encoded UTF-8.".into());
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).ok_or_else(bad)?;
                let hex = std::str::from_utf8(hex).map_err(|_| bad())?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

/// The API Gateway request id, for logs and `correlation_id`.
pub fn request_id(request: &ApiGatewayV2httpRequest) -> String {
    request.request_context.request_id.clone().unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_query(raw: &str) -> ApiGatewayV2httpRequest {
        let mut request = ApiGatewayV2httpRequest::default();
        request.raw_query_string = Some(raw.to_owned());
        request
    }

    #[test]
    fn values_are_percent_decoded_and_keep_their_commas() {
        let request = with_query("profile=dev&reason=fix%2C+deploy%20now");
        assert_eq!(query_param(&request, "reason").unwrap().as_deref(), Some("fix, deploy now"));
        assert_eq!(query_param(&request, "profile").unwrap().as_deref(), Some("dev"));
        assert_eq!(query_param(&request, "duration").unwrap(), None);
    }

    #[test]
    fn a_repeated_parameter_is_refused() {
        assert!(query_param(&with_query("profile=dev&profile=prod"), "profile").is_err());
        assert!(query_param(&with_query("prof%69le=dev&profile=prod"), "profile").is_err());
    }

    #[test]
    fn broken_escapes_and_invalid_utf8_are_refused() {
        assert!(query_param(&with_query("profile=%zz"), "profile").is_err());
        assert!(query_param(&with_query("profile=%"), "profile").is_err());
        assert!(query_param(&with_query("profile=%ff"), "profile").is_err());
    }
}
