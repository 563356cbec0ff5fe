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

/// The single value of query parameter `name`, decoded from the raw query string as API Gateway
/// fills `queryStringParameters` (`application/x-www-form-urlencoded`: `+` is a space, `%2B` a
/// plus) but without its comma-joining of repeated names: a repeated parameter is refused
/// rather than guessing which one counts, and so is a value that is not UTF-8.
pub fn query_param(request: &ApiGatewayV2httpRequest, name: &str) -> Result<Option<String>, ApiError> {
    let raw = request.raw_query_string.as_deref().unwrap_or("");
    if raw.is_empty() {
        return Ok(request.query_string_parameters.all(name).map(|values| values.join(",")));
    }
    let mut found = None;
    for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
        if key != name {
            continue;
        }
        if found.is_some() {
            return Err(ApiError::InvalidRequest(format!("The {name} query parameter may be given only once.")));
        }
        // The decoder stands U+FFFD in for bytes that are not UTF-8.
        if value.contains(char::REPLACEMENT_CHARACTER) {
            return Err(ApiError::InvalidRequest("The query string is not valid percent-encoded UTF-8.".into()));
        }
        found = Some(value.into_owned());
    }
    Ok(found)
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
    fn a_plus_is_a_space_and_an_escaped_plus_is_a_plus_as_api_gateway_decodes() {
        assert_eq!(query_param(&with_query("reason=a+b%2B"), "reason").unwrap().as_deref(), Some("a b+"));
    }

    #[test]
    fn invalid_utf8_is_refused_and_broken_escapes_stay_literal() {
        assert!(query_param(&with_query("profile=%ff"), "profile").is_err());
        assert!(query_param(&with_query("reason=%C3"), "reason").is_err());
        // As API Gateway passes them: the profile's own validation then refuses the name.
        assert_eq!(query_param(&with_query("profile=%zz"), "profile").unwrap().as_deref(), Some("%zz"));
        assert_eq!(query_param(&with_query("profile=%"), "profile").unwrap().as_deref(), Some("%"));
    }
}
