//! Pagination of the list routes and `GET /audit`: `limit` (default [`DEFAULT_LIMIT`], at most
//! [`MAX_LIMIT`]) and an opaque `next_token`, newest first.
//!
//! A token names the last key a page returned; the next page holds the items strictly after it
//! (in newest-first order), so paging returns each item once even while items arrive. It is
//! sealed with HMAC-SHA256 under the TVM's [`PageKey`] over the route, the filters (every other
//! query parameter), the caller and the position, and is valid for [`TOKEN_TTL`]. A forged,
//! foreign (other route, filters or caller) or expired token is 400 `INVALID_REQUEST`.

use std::sync::Arc;

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::http::{json_response, query_param};

/// Items per page when `limit` is not given.
pub const DEFAULT_LIMIT: usize = 50;
/// The largest `limit` accepted.
pub const MAX_LIMIT: usize = 500;
/// How long a `next_token` may be used after it was issued.
pub const TOKEN_TTL: chrono::Duration = chrono::Duration::hours(1);
/// The shortest key accepted, in bytes.
pub const MIN_KEY_BYTES: usize = 32;

/// The query parameters that steer paging; every other one is a filter the token binds.
const PAGING_PARAMS: [&str; 2] = ["limit", "next_token"];
/// Separates a token's version, payload and seal.
const VERSION: &str = "p1";

/// The secret that seals page tokens; only the TVM holds it.
#[derive(Clone)]
pub struct PageKey(Arc<Vec<u8>>);

impl PageKey {
    /// A key of at least [`MIN_KEY_BYTES`] bytes.
    pub fn new(bytes: Vec<u8>) -> Result<PageKey, String> {
        if bytes.len() < MIN_KEY_BYTES {
            return Err(format!("a pagination key needs at least {MIN_KEY_BYTES} bytes, not {}", bytes.len()));
        }
        Ok(PageKey(Arc::new(bytes)))
    }

    /// A fresh random key of [`MIN_KEY_BYTES`] bytes (tests, and a TVM that creates its key).
    pub fn random() -> Result<PageKey, getrandom::Error> {
        let mut bytes = vec![0u8; MIN_KEY_BYTES];
        getrandom::fill(&mut bytes)?;
        Ok(PageKey(Arc::new(bytes)))
    }

    /// The key as standard base64 (how the SSM parameter stores it).
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.0.as_slice())
    }

    fn mac(&self, binding: &[u8], payload: &[u8]) -> Hmac<Sha256> {
        // HMAC takes a key of any length; the constructor cannot fail.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!());
        mac.update(VERSION.as_bytes());
        mac.update(&(binding.len() as u64).to_be_bytes());
        mac.update(binding);
        mac.update(payload);
        mac
    }
}

impl std::fmt::Debug for PageKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PageKey(<redacted>)")
    }
}

/// What a token says: the last key returned and when it stops being valid (Unix seconds).
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Position {
    after: String,
    exp: i64,
}

/// One list request's paging: its limit, where it starts, and what its tokens bind.
pub struct Pager {
    key: PageKey,
    binding: Vec<u8>,
    limit: usize,
    after: Option<String>,
    now: DateTime<Utc>,
}

impl Pager {
    /// Reads `limit` and `next_token` for `route` as `caller` at `now`; a bad limit or a token
    /// that is forged, foreign or expired is 400.
    pub fn of(
        key: &PageKey,
        route: &str,
        caller: &str,
        request: &ApiGatewayV2httpRequest,
        now: DateTime<Utc>,
    ) -> Result<Pager, ApiError> {
        let limit = match query_param(request, "limit")? {
            None => DEFAULT_LIMIT,
            Some(text) => match text.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    return Err(ApiError::InvalidRequest(format!(
                        "limit must be a whole number from 1 to {MAX_LIMIT}."
                    )))
                }
            },
        };
        let binding = binding(route, caller, &filters(request)?);
        let mut pager = Pager { key: key.clone(), binding, limit, after: None, now };
        if let Some(token) = query_param(request, "next_token")? {
            pager.after = Some(pager.open(&token)?);
        }
        Ok(pager)
    }

    /// The page of `items` this request asked for: sorted newest first by `key` (a key that
    /// sorts by age, such as a ULID), strictly after the token's position, at most `limit`,
    /// with a `next_token` when more remain.
    pub fn respond(
        &self,
        items: Vec<serde_json::Value>,
        key: impl Fn(&serde_json::Value) -> String,
    ) -> ApiGatewayV2httpResponse {
        let mut keyed: Vec<(String, serde_json::Value)> = items.into_iter().map(|v| (key(&v), v)).collect();
        keyed.sort_by(|a, b| b.0.cmp(&a.0));
        let mut rest = keyed.into_iter().filter(|(k, _)| self.after.as_ref().is_none_or(|after| k < after)).peekable();
        let mut page = Vec::with_capacity(self.limit);
        let mut last = None;
        while page.len() < self.limit {
            let Some((k, v)) = rest.next() else { break };
            page.push(v);
            last = Some(k);
        }
        let next_token = match (rest.peek(), last) {
            (Some(_), Some(last)) => Some(self.seal(last)),
            _ => None,
        };
        json_response(200, &serde_json::json!({ "items": page, "next_token": next_token }))
    }

    fn seal(&self, after: String) -> String {
        let position = Position { after, exp: (self.now + TOKEN_TTL).timestamp() };
        let payload = serde_json::to_vec(&position).unwrap_or_default();
        let tag = self.key.mac(&self.binding, &payload).finalize().into_bytes();
        format!("{VERSION}.{}.{}", URL_SAFE_NO_PAD.encode(&payload), URL_SAFE_NO_PAD.encode(tag))
    }

    fn open(&self, token: &str) -> Result<String, ApiError> {
        let invalid = || {
            ApiError::InvalidRequest(
                "next_token is not valid for this request (forged, expired, or from another list or caller).".into(),
            )
        };
        let mut parts = token.split('.');
        let (Some(VERSION), Some(payload), Some(tag), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid());
        };
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| invalid())?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| invalid())?;
        self.key.mac(&self.binding, &payload).verify_slice(&tag).map_err(|_| invalid())?;
        let position: Position = serde_json::from_slice(&payload).map_err(|_| invalid())?;
        if self.now.timestamp() >= position.exp {
            return Err(invalid());
        }
        Ok(position.after)
    }
}

/// Every query parameter but the paging ones, sorted by name (the filters a token binds).
fn filters(request: &ApiGatewayV2httpRequest) -> Result<Vec<(String, String)>, ApiError> {
    let raw = request.raw_query_string.as_deref().unwrap_or("");
    let mut names: Vec<String> = if raw.is_empty() {
        request.query_string_parameters.iter().map(|(k, _)| k.to_owned()).collect()
    } else {
        form_urlencoded::parse(raw.as_bytes()).map(|(k, _)| k.into_owned()).collect()
    };
    names.sort();
    names.dedup();
    let mut pairs = Vec::new();
    for name in names.into_iter().filter(|n| !PAGING_PARAMS.contains(&n.as_str())) {
        let value = query_param(request, &name)?.unwrap_or_default();
        pairs.push((name, value));
    }
    Ok(pairs)
}

/// The SHA-256 of route, caller and filters, each length-prefixed so that no two differ only
/// in where one ends.
fn binding(route: &str, caller: &str, filters: &[(String, String)]) -> Vec<u8> {
    let mut hash = Sha256::new();
    let mut field = |text: &str| {
        hash.update((text.len() as u64).to_be_bytes());
        hash.update(text.as_bytes());
    };
    field(route);
    field(caller);
    for (name, value) in filters {
        field(name);
        field(value);
    }
    hash.finalize().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(query: &str) -> ApiGatewayV2httpRequest {
        let mut request = ApiGatewayV2httpRequest::default();
        request.raw_query_string = Some(query.to_owned());
        request
    }

    fn items(n: usize) -> Vec<serde_json::Value> {
        (0..n).map(|i| serde_json::json!({ "id": format!("{i:04}") })).collect()
    }

    fn body(response: &ApiGatewayV2httpResponse) -> serde_json::Value {
        match &response.body {
            Some(aws_lambda_events::encodings::Body::Text(t)) => serde_json::from_str(t).unwrap(),
            _ => panic!("no body"),
        }
    }

    #[test]
    fn pages_are_newest_first_and_each_item_comes_once() {
        let key = PageKey::random().unwrap();
        let now = Utc::now();
        let (mut seen, mut query) = (Vec::new(), "status=active&limit=3".to_owned());
        loop {
            let pager = Pager::of(&key, "GET /x", "alice", &request(&query), now).unwrap();
            let page = body(&pager.respond(items(10), |v| v["id"].as_str().unwrap().to_owned()));
            seen.extend(page["items"].as_array().unwrap().iter().map(|v| v["id"].as_str().unwrap().to_owned()));
            match page["next_token"].as_str() {
                Some(token) => query = format!("status=active&limit=3&next_token={token}"),
                None => break,
            }
        }
        let expected: Vec<String> = (0..10).rev().map(|i| format!("{i:04}")).collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn a_short_key_is_refused() {
        assert!(PageKey::new(vec![0; 31]).is_err());
        assert!(PageKey::new(vec![0; 32]).is_ok());
    }
}
