//! SigV4 verification for service `execute-api`, done the way API Gateway does it for AWS_IAM
//! routes: rebuild the canonical request from what arrived, recompute the signature with the
//! key's secret and compare in constant time.
//!
//! Implemented from the published Signature Version 4 specification. Only header
//! authentication (`Authorization: AWS4-HMAC-SHA256 …`) is supported; presigned query-string
//! authentication is refused. Two details follow the signers SDKs use: the path is normalised
//! (empty, `.` and `..` segments removed) before it is encoded a second time, and in the query
//! string `+` decodes to a space.

use axum::http::HeaderMap;
use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::identities::{KeyEntry, KeyRegistry};

/// The only signing algorithm accepted.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The service name in the credential scope of API Gateway requests.
pub const SERVICE: &str = "execute-api";
/// The payload-hash value that opts out of body signing.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// How far `x-amz-date` may be from the verifier's clock, either way (AWS allows 15 minutes).
pub const MAX_CLOCK_SKEW: TimeDelta = TimeDelta::minutes(15);

const AMZ_DATE_FORMAT: &str = "%Y%m%dT%H%M%SZ";
const SCOPE_TERMINATOR: &str = "aws4_request";

/// One HTTP request as it arrived, before any decoding.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    /// The method, e.g. `GET`.
    pub method: &'a str,
    /// The path exactly as sent (still percent-encoded), starting with `/`.
    pub path: &'a str,
    /// The raw query string without `?`; empty when there is none.
    pub query: &'a str,
    /// The request headers.
    pub headers: &'a HeaderMap,
    /// The body bytes.
    pub body: &'a [u8],
}

/// Why a request's signature was refused. Every variant is safe to log; [`Self::client_message`]
/// is what the caller is told.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    /// No `Authorization` header at all.
    #[error("missing Authorization header")]
    MissingAuthorization,
    /// Presigned (query-string) authentication, which the local gateway does not support.
    #[error("presigned query-string authentication is not supported")]
    PresignedUnsupported,
    /// An algorithm other than `AWS4-HMAC-SHA256`.
    #[error("unsupported signing algorithm {0:?}")]
    UnsupportedAlgorithm(String),
    /// The `Authorization` header is not `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.
    #[error("malformed Authorization header: {0}")]
    MalformedAuthorization(&'static str),
    /// The credential scope is not `AKID/YYYYMMDD/REGION/SERVICE/aws4_request`.
    #[error("malformed credential scope")]
    MalformedCredential,
    /// `SignedHeaders` is not a sorted list of distinct lowercase names.
    #[error("SignedHeaders must be lowercase, sorted and distinct")]
    SignedHeadersNotCanonical,
    /// `host` is not among the signed headers.
    #[error("the host header is not signed")]
    HostNotSigned,
    /// A header listed in `SignedHeaders` is missing from the request.
    #[error("signed header {name} is missing")]
    SignedHeaderMissing {
        /// The header's name.
        name: String,
    },
    /// No (single) `x-amz-date` header.
    #[error("missing x-amz-date header")]
    MissingDate,
    /// `x-amz-date` is not `YYYYMMDDTHHMMSSZ`.
    #[error("malformed x-amz-date {0:?}")]
    MalformedDate(String),
    /// `x-amz-date` is not among the signed headers.
    #[error("x-amz-date is not signed")]
    DateNotSigned,
    /// The scope's date is not the date of `x-amz-date`.
    #[error("credential scope date {scope} does not match x-amz-date {date}")]
    ScopeDateMismatch {
        /// `YYYYMMDD` from the scope.
        scope: String,
        /// `YYYYMMDD` from `x-amz-date`.
        date: String,
    },
    /// The scope names another region.
    #[error("credential scope region {found:?}, expected {expected:?}")]
    WrongRegion {
        /// The region configured on the gateway.
        expected: String,
        /// The region in the scope.
        found: String,
    },
    /// The scope names another service.
    #[error("credential scope service {found:?}, expected execute-api")]
    WrongService {
        /// The service in the scope.
        found: String,
    },
    /// `x-amz-date` is more than 15 minutes from now, either way.
    #[error("signature time {signed_at} is more than 15 minutes from {now}")]
    RequestTimeTooSkewed {
        /// When the request says it was signed.
        signed_at: DateTime<Utc>,
        /// The verifier's clock.
        now: DateTime<Utc>,
    },
    /// The access key id is not in the registry.
    #[error("unknown access key id {access_key_id}")]
    UnknownAccessKey {
        /// The key id from the scope.
        access_key_id: String,
    },
    /// Temporary credentials without their `x-amz-security-token`.
    #[error("the session token is missing")]
    MissingSessionToken,
    /// `x-amz-security-token` is present but not signed.
    #[error("the session token is not signed")]
    SessionTokenNotSigned,
    /// `x-amz-security-token` does not belong to the key.
    #[error("the session token does not match the access key")]
    SessionTokenMismatch,
    /// A session token sent with long-term credentials.
    #[error("a session token was sent with long-term credentials")]
    UnexpectedSessionToken,
    /// `x-amz-content-sha256` is neither a SHA-256 hex digest nor `UNSIGNED-PAYLOAD`.
    #[error("malformed x-amz-content-sha256")]
    MalformedPayloadHash,
    /// `x-amz-content-sha256` is not the hash of the body that arrived.
    #[error("x-amz-content-sha256 does not match the body")]
    PayloadHashMismatch,
    /// The query string has a malformed percent escape.
    #[error("malformed query string")]
    MalformedQuery,
    /// The path does not start with `/` or has a malformed percent escape.
    #[error("malformed path")]
    MalformedPath,
    /// Everything parsed, but the signature is not the one the key's secret produces.
    #[error("signature mismatch")]
    SignatureMismatch,
}

impl SigV4Error {
    /// The message API Gateway gives for this failure; never contains secrets or the
    /// deployment's ARNs.
    pub fn client_message(&self) -> String {
        match self {
            SigV4Error::MissingAuthorization => "Missing Authentication Token".into(),
            SigV4Error::PresignedUnsupported => {
                "Presigned (query-string) SigV4 requests are not supported by the local gateway; sign the Authorization header."
                    .into()
            }
            SigV4Error::UnknownAccessKey { .. } => "The security token included in the request is invalid.".into(),
            SigV4Error::MissingSessionToken
            | SigV4Error::SessionTokenMismatch
            | SigV4Error::UnexpectedSessionToken => "The security token included in the request is invalid.".into(),
            SigV4Error::RequestTimeTooSkewed { signed_at, now } => format!(
                "Signature expired or not yet valid: {} is more than 15 min from the server time {}.",
                signed_at.format(AMZ_DATE_FORMAT),
                now.format(AMZ_DATE_FORMAT)
            ),
            SigV4Error::WrongRegion { expected, found } => {
                format!("Credential should be scoped to a valid region, not '{found}'. Use '{expected}'.")
            }
            SigV4Error::WrongService { found } => {
                format!("Credential should be scoped to correct service: 'execute-api', not '{found}'.")
            }
            SigV4Error::SignatureMismatch | SigV4Error::PayloadHashMismatch => {
                "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
                    .into()
            }
            other => format!("Authorization header requires a valid SigV4 signature: {other}."),
        }
    }

    /// The `x-amzn-ErrorType` API Gateway attaches to this failure.
    pub fn aws_error_type(&self) -> &'static str {
        match self {
            SigV4Error::MissingAuthorization => "MissingAuthenticationTokenException",
            SigV4Error::UnknownAccessKey { .. }
            | SigV4Error::MissingSessionToken
            | SigV4Error::SessionTokenMismatch
            | SigV4Error::UnexpectedSessionToken => "UnrecognizedClientException",
            SigV4Error::SignatureMismatch | SigV4Error::PayloadHashMismatch => "InvalidSignatureException",
            SigV4Error::RequestTimeTooSkewed { .. } => "InvalidSignatureException",
            _ => "IncompleteSignatureException",
        }
    }
}

/// The parts of a valid-looking `Authorization` header.
struct Authorization<'h> {
    access_key_id: &'h str,
    scope_date: &'h str,
    region: &'h str,
    service: &'h str,
    signed_headers: Vec<&'h str>,
    signed_headers_raw: &'h str,
    signature: Vec<u8>,
}

/// Verifies `request` for `region` against the keys in `registry` at time `now`, returning the
/// key's entry (the identity API Gateway would put in `requestContext.authorizer.iam`).
pub fn verify<'r>(
    registry: &'r KeyRegistry,
    region: &str,
    request: &SignedRequest<'_>,
    now: DateTime<Utc>,
) -> Result<&'r KeyEntry, SigV4Error> {
    let header = authorization_header(request)?;
    let auth = parse_authorization(header)?;

    let amz_date = single_header(request.headers, "x-amz-date").ok_or(SigV4Error::MissingDate)?;
    if amz_date.len() != 16 || !amz_date.is_ascii() {
        return Err(SigV4Error::MalformedDate(amz_date.chars().take(32).collect()));
    }
    let signed_at = NaiveDateTime::parse_from_str(amz_date, AMZ_DATE_FORMAT)
        .map_err(|_| SigV4Error::MalformedDate(amz_date.to_owned()))?
        .and_utc();
    if !auth.signed_headers.contains(&"x-amz-date") {
        return Err(SigV4Error::DateNotSigned);
    }
    if auth.scope_date != &amz_date[..8] {
        return Err(SigV4Error::ScopeDateMismatch {
            scope: auth.scope_date.to_owned(),
            date: amz_date[..8].to_owned(),
        });
    }
    if auth.service != SERVICE {
        return Err(SigV4Error::WrongService { found: auth.service.to_owned() });
    }
    if auth.region != region {
        return Err(SigV4Error::WrongRegion { expected: region.to_owned(), found: auth.region.to_owned() });
    }
    if (now - signed_at).abs() > MAX_CLOCK_SKEW {
        return Err(SigV4Error::RequestTimeTooSkewed { signed_at, now });
    }

    let entry = registry
        .get(auth.access_key_id)
        .ok_or_else(|| SigV4Error::UnknownAccessKey { access_key_id: auth.access_key_id.to_owned() })?;
    check_session_token(entry, request.headers, &auth.signed_headers)?;

    let payload_hash = payload_hash(request)?;
    let canonical = canonical_request(request, &auth, &payload_hash)?;
    let scope = format!("{}/{}/{}/{SCOPE_TERMINATOR}", auth.scope_date, auth.region, auth.service);
    let string_to_sign =
        format!("{ALGORITHM}\n{amz_date}\n{scope}\n{}", hex::encode(Sha256::digest(canonical.as_bytes())));
    let key = signing_key(&entry.secret_access_key, auth.scope_date, auth.region, auth.service);
    let expected = hmac_sha256(&key, string_to_sign.as_bytes());
    if bool::from(expected.as_slice().ct_eq(auth.signature.as_slice())) {
        Ok(entry)
    } else {
        tracing::debug!(canonical_request = %canonical, "SigV4 signature mismatch");
        Err(SigV4Error::SignatureMismatch)
    }
}

fn authorization_header<'h>(request: &SignedRequest<'h>) -> Result<&'h str, SigV4Error> {
    let mut values = request.headers.get_all("authorization").iter();
    let Some(value) = values.next() else {
        let presigned = query_pairs(request.query)
            .map(|pairs| {
                pairs.iter().any(|(k, _)| k.as_slice() == b"X-Amz-Signature" || k.as_slice() == b"X-Amz-Algorithm")
            })
            .unwrap_or(false);
        return Err(if presigned { SigV4Error::PresignedUnsupported } else { SigV4Error::MissingAuthorization });
    };
    if values.next().is_some() {
        return Err(SigV4Error::MalformedAuthorization("more than one Authorization header"));
    }
    value.to_str().map_err(|_| SigV4Error::MalformedAuthorization("not visible ASCII"))
}

fn parse_authorization(header: &str) -> Result<Authorization<'_>, SigV4Error> {
    let header = header.trim();
    if header.is_empty() {
        return Err(SigV4Error::MissingAuthorization);
    }
    let (algorithm, rest) = header.split_once(' ').unwrap_or((header, ""));
    if algorithm != ALGORITHM {
        return Err(SigV4Error::UnsupportedAlgorithm(algorithm.chars().take(40).collect()));
    }
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for component in rest.split(',') {
        let component = component.trim();
        let (name, value) =
            component.split_once('=').ok_or(SigV4Error::MalformedAuthorization("a component is not name=value"))?;
        let slot = match name {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed,
            "Signature" => &mut signature,
            _ => return Err(SigV4Error::MalformedAuthorization("unknown component")),
        };
        if slot.replace(value).is_some() {
            return Err(SigV4Error::MalformedAuthorization("repeated component"));
        }
    }
    let credential = credential.ok_or(SigV4Error::MalformedAuthorization("missing Credential"))?;
    let signed_headers_raw = signed.ok_or(SigV4Error::MalformedAuthorization("missing SignedHeaders"))?;
    let signature = signature.ok_or(SigV4Error::MalformedAuthorization("missing Signature"))?;

    let parts: Vec<&str> = credential.split('/').collect();
    let [access_key_id, scope_date, region, service, terminator] = parts[..] else {
        return Err(SigV4Error::MalformedCredential);
    };
    if access_key_id.is_empty()
        || scope_date.len() != 8
        || !scope_date.bytes().all(|b| b.is_ascii_digit())
        || region.is_empty()
        || terminator != SCOPE_TERMINATOR
    {
        return Err(SigV4Error::MalformedCredential);
    }

    let signed_headers: Vec<&str> = signed_headers_raw.split(';').collect();
    let canonical = signed_headers.iter().all(|h| !h.is_empty() && !h.bytes().any(|b| b.is_ascii_uppercase()))
        && signed_headers.windows(2).all(|w| w[0] < w[1]);
    if !canonical {
        return Err(SigV4Error::SignedHeadersNotCanonical);
    }
    if !signed_headers.contains(&"host") {
        return Err(SigV4Error::HostNotSigned);
    }

    let well_formed = signature.len() == 64 && signature.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let signature = match hex::decode(signature) {
        Ok(bytes) if well_formed => bytes,
        _ => return Err(SigV4Error::MalformedAuthorization("Signature is not 64 lowercase hex digits")),
    };
    Ok(Authorization { access_key_id, scope_date, region, service, signed_headers, signed_headers_raw, signature })
}

fn single_header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    let mut values = headers.get_all(name).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    value.to_str().ok()
}

fn check_session_token(entry: &KeyEntry, headers: &HeaderMap, signed: &[&str]) -> Result<(), SigV4Error> {
    let sent = headers.get_all("x-amz-security-token").iter().collect::<Vec<_>>();
    match (&entry.session_token, sent.as_slice()) {
        (None, []) => Ok(()),
        (None, _) => Err(SigV4Error::UnexpectedSessionToken),
        (Some(_), []) => Err(SigV4Error::MissingSessionToken),
        (Some(expected), [token]) => {
            if !signed.contains(&"x-amz-security-token") {
                return Err(SigV4Error::SessionTokenNotSigned);
            }
            if bool::from(token.as_bytes().ct_eq(expected.as_bytes())) {
                Ok(())
            } else {
                Err(SigV4Error::SessionTokenMismatch)
            }
        }
        (Some(_), _) => Err(SigV4Error::SessionTokenMismatch),
    }
}

fn payload_hash(request: &SignedRequest<'_>) -> Result<String, SigV4Error> {
    let actual = hex::encode(Sha256::digest(request.body));
    if request.headers.get("x-amz-content-sha256").is_none() {
        return Ok(actual);
    }
    let claimed = single_header(request.headers, "x-amz-content-sha256").ok_or(SigV4Error::MalformedPayloadHash)?;
    if claimed == UNSIGNED_PAYLOAD {
        return Ok(claimed.to_owned());
    }
    if claimed.len() != 64 || !claimed.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(SigV4Error::MalformedPayloadHash);
    }
    if claimed.eq_ignore_ascii_case(&actual) {
        // The signer hashed exactly what it claims; sign over its spelling.
        Ok(claimed.to_owned())
    } else {
        Err(SigV4Error::PayloadHashMismatch)
    }
}

fn canonical_request(
    request: &SignedRequest<'_>,
    auth: &Authorization<'_>,
    payload_hash: &str,
) -> Result<String, SigV4Error> {
    let mut out = String::with_capacity(512);
    out.push_str(request.method);
    out.push('\n');
    out.push_str(&canonical_uri(request.path)?);
    out.push('\n');
    out.push_str(&canonical_query(request.query)?);
    out.push('\n');
    for name in &auth.signed_headers {
        let values = request.headers.get_all(*name).iter().map(|v| trim_all(v.as_bytes())).collect::<Vec<_>>();
        if values.is_empty() {
            return Err(SigV4Error::SignedHeaderMissing { name: (*name).to_owned() });
        }
        out.push_str(name);
        out.push(':');
        out.push_str(&values.join(","));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(auth.signed_headers_raw);
    out.push('\n');
    out.push_str(payload_hash);
    Ok(out)
}

/// Trims spaces around a header value and collapses runs of spaces inside it.
fn trim_all(value: &[u8]) -> String {
    let text = String::from_utf8_lossy(value);
    let mut out = String::with_capacity(text.len());
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// The canonical URI for non-S3 services: the path as sent, normalised, then encoded again.
fn canonical_uri(path: &str) -> Result<String, SigV4Error> {
    if !path.starts_with('/') || !percent_escapes_valid(path.as_bytes()) {
        return Err(SigV4Error::MalformedPath);
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    let trailing_slash = path.len() > 1 && (path.ends_with('/') || path.ends_with("/.") || path.ends_with("/.."));
    let mut normalised = String::with_capacity(path.len());
    for segment in &segments {
        normalised.push('/');
        normalised.push_str(segment);
    }
    if segments.is_empty() || trailing_slash {
        normalised.push('/');
    }
    let mut out = String::with_capacity(normalised.len() * 2);
    for &byte in normalised.as_bytes() {
        if byte == b'/' {
            out.push('/');
        } else {
            uri_encode_byte(byte, &mut out);
        }
    }
    Ok(out)
}

/// The canonical query string: each name and value decoded, then re-encoded per RFC 3986 and
/// sorted by name, then value.
fn canonical_query(query: &str) -> Result<String, SigV4Error> {
    let mut pairs: Vec<(String, String)> =
        query_pairs(query)?.into_iter().map(|(k, v)| (uri_encode(&k), uri_encode(&v))).collect();
    pairs.sort();
    Ok(pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&"))
}

/// A decoded query parameter: name and value bytes.
type QueryPair = (Vec<u8>, Vec<u8>);

/// Decodes a raw query string into byte pairs (`+` is a space; empty pieces are skipped).
fn query_pairs(query: &str) -> Result<Vec<QueryPair>, SigV4Error> {
    query
        .split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
            Ok((percent_decode(name)?, percent_decode(value)?))
        })
        .collect()
}

/// Strict form decoding of one query component: every `%` must start a valid escape (SigV4 is
/// computed on what the client meant, so a malformed escape is refused, not guessed), `+` is a
/// space; the bytes are kept as they are (not necessarily UTF-8).
fn percent_decode(text: &str) -> Result<Vec<u8>, SigV4Error> {
    if !percent_escapes_valid(text.as_bytes()) {
        return Err(SigV4Error::MalformedQuery);
    }
    Ok(percent_encoding::percent_decode_str(&text.replace('+', " ")).collect())
}

fn percent_escapes_valid(bytes: &[u8]) -> bool {
    bytes.iter().enumerate().all(|(i, &b)| {
        b != b'%'
            || (bytes.get(i + 1).and_then(|b| hex_value(*b)).is_some()
                && bytes.get(i + 2).and_then(|b| hex_value(*b)).is_some())
    })
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

fn uri_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for &byte in bytes {
        uri_encode_byte(byte, &mut out);
    }
    out
}

/// RFC 3986 encoding: unreserved characters as they are, every other byte as `%XX` (uppercase).
fn uri_encode_byte(byte: u8, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
        out.push(byte as char);
    } else {
        out.push('%');
        out.push(HEX[(byte >> 4) as usize] as char);
        out.push(HEX[(byte & 0x0f) as usize] as char);
    }
}

fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let k_date = hmac_sha256(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    hmac_sha256(&k_service, SCOPE_TERMINATOR.as_bytes())
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use aws_sdk_iam::config::Credentials;
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    use aws_sigv4::sign::v4;
    use axum::http::{HeaderName, HeaderValue, Uri};
    use proptest::prelude::*;

    use super::*;

    const REGION: &str = "us-east-1";
    const USER_KEY: &str = "AKIAEXAMPLEUSER00001";
    const USER_SECRET: &str = "userSecret/K7MDENG+bPxRfiCYEXAMPLEKEY0001";
    const ROLE_KEY: &str = "ASIAEXAMPLEROLE00001";
    const ROLE_SECRET: &str = "roleSecret/K7MDENG+bPxRfiCYEXAMPLEKEY0002";
    const ROLE_TOKEN: &str = "FwoGZXIvYXdzEexampleSessionToken+/=";

    fn entry(profile: &str, key: &str, secret: &str, token: Option<&str>) -> KeyEntry {
        KeyEntry {
            profile: profile.into(),
            access_key_id: key.into(),
            secret_access_key: secret.into(),
            session_token: token.map(Into::into),
            principal_arn: format!("arn:aws:iam::123456789012:user/{profile}"),
            user_id: format!("AIDA{}", profile.to_uppercase()),
            account_id: "123456789012".into(),
            caller_id: format!("AIDA{}", profile.to_uppercase()),
        }
    }

    fn registry() -> KeyRegistry {
        KeyRegistry::new(vec![
            entry("alice", USER_KEY, USER_SECRET, None),
            entry("imposter", ROLE_KEY, ROLE_SECRET, Some(ROLE_TOKEN)),
        ])
        .unwrap()
    }

    /// What arrives at the gateway: raw path, raw query, headers, body.
    #[derive(Debug, Clone)]
    struct Arrived {
        method: String,
        path: String,
        query: String,
        headers: HeaderMap,
        body: Vec<u8>,
    }

    impl Arrived {
        fn request(&self) -> SignedRequest<'_> {
            SignedRequest {
                method: &self.method,
                path: &self.path,
                query: &self.query,
                headers: &self.headers,
                body: &self.body,
            }
        }

        fn verify_at(&self, now: SystemTime) -> Result<String, SigV4Error> {
            let registry = registry();
            verify(&registry, REGION, &self.request(), now.into()).map(|e| e.profile.clone())
        }

        fn verify(&self) -> Result<String, SigV4Error> {
            self.verify_at(SystemTime::now())
        }
    }

    struct Signer<'a> {
        key: &'a str,
        secret: &'a str,
        token: Option<&'a str>,
        region: &'a str,
        service: &'a str,
        time: SystemTime,
    }

    fn alice() -> Signer<'static> {
        Signer {
            key: USER_KEY,
            secret: USER_SECRET,
            token: None,
            region: REGION,
            service: SERVICE,
            time: SystemTime::now(),
        }
    }

    fn imposter() -> Signer<'static> {
        Signer { key: ROLE_KEY, secret: ROLE_SECRET, token: Some(ROLE_TOKEN), ..alice() }
    }

    /// Signs like an SDK (aws-sigv4, default settings) and returns what the server receives.
    fn signed(signer: &Signer<'_>, method: &str, uri: &str, extra: &[(&str, &str)], body: &[u8]) -> Arrived {
        let uri: Uri = uri.parse().unwrap();
        let identity = Credentials::new(signer.key, signer.secret, signer.token.map(Into::into), None, "test").into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(signer.region)
            .name(signer.service)
            .time(signer.time)
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let unsigned = extra.iter().any(|(n, v)| *n == "x-amz-content-sha256" && *v == UNSIGNED_PAYLOAD);
        let signable_body = if unsigned { SignableBody::UnsignedPayload } else { SignableBody::Bytes(body) };
        let signable = SignableRequest::new(method, uri.to_string(), extra.iter().copied(), signable_body).unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let mut request = axum::http::Request::builder().method(method).uri(uri.clone());
        for (name, value) in extra {
            request = request.header(*name, *value);
        }
        let mut request = request.body(()).unwrap();
        instructions.apply_to_request_http1x(&mut request);
        let mut headers = request.headers().clone();
        headers.insert("host", HeaderValue::from_str(uri.authority().unwrap().as_str()).unwrap());
        Arrived {
            method: method.into(),
            path: uri.path().into(),
            query: uri.query().unwrap_or("").into(),
            headers,
            body: body.to_vec(),
        }
    }

    fn get(uri: &str) -> Arrived {
        signed(&alice(), "GET", uri, &[], b"")
    }

    #[test]
    fn a_plain_get_signed_by_the_sdk_signer_verifies() {
        assert_eq!(get("http://127.0.0.1:4567/").verify().unwrap(), "alice");
    }

    #[test]
    fn query_strings_with_spaces_commas_and_unicode_verify() {
        let arrived = get(
            "http://127.0.0.1:4567/whoami?reason=needs%20access%2C%20now%20%E2%9C%93&profile=dev&a=%C3%A9t%C3%A9&a=b&empty=&flag",
        );
        assert_eq!(arrived.verify().unwrap(), "alice");
    }

    #[test]
    fn unicode_and_reserved_characters_in_the_path_verify() {
        let arrived = get("http://127.0.0.1:4567/requests/caf%C3%A9%20%2C%3A/approve");
        assert_eq!(arrived.verify().unwrap(), "alice");
    }

    #[test]
    fn a_post_with_a_json_body_verifies() {
        let body = br#"{"profile":"prod","justification":"deploy \u00e9","duration":3600}"#;
        let arrived = signed(
            &alice(),
            "POST",
            "http://localhost:9/requests",
            &[("content-type", "application/json"), ("x-custom", "  a   b  ")],
            body,
        );
        assert_eq!(arrived.verify().unwrap(), "alice");
    }

    #[test]
    fn a_signed_content_sha256_header_verifies_and_must_match_the_body() {
        let body = b"{\"reason\":\"x\"}";
        let hash = hex::encode(Sha256::digest(body));
        let arrived = signed(&alice(), "POST", "http://localhost:9/", &[("x-amz-content-sha256", &hash)], body);
        assert_eq!(arrived.verify().unwrap(), "alice");

        let mut lying = arrived.clone();
        lying.body = b"{\"reason\":\"y\"}".to_vec();
        assert_eq!(lying.verify(), Err(SigV4Error::PayloadHashMismatch));
    }

    #[test]
    fn an_unsigned_payload_is_accepted_when_declared() {
        let arrived =
            signed(&alice(), "POST", "http://localhost:9/", &[("x-amz-content-sha256", UNSIGNED_PAYLOAD)], b"anything");
        assert_eq!(arrived.verify().unwrap(), "alice");
    }

    #[test]
    fn temporary_credentials_verify_with_their_session_token() {
        let arrived = signed(&imposter(), "GET", "http://127.0.0.1:4567/whoami", &[], b"");
        assert!(arrived.headers.contains_key("x-amz-security-token"));
        assert_eq!(arrived.verify().unwrap(), "imposter");
    }

    #[test]
    fn temporary_credentials_without_their_token_are_refused() {
        let arrived = signed(&Signer { token: None, ..imposter() }, "GET", "http://127.0.0.1:4567/", &[], b"");
        assert_eq!(arrived.verify(), Err(SigV4Error::MissingSessionToken));
    }

    #[test]
    fn temporary_credentials_with_another_token_are_refused() {
        let arrived =
            signed(&Signer { token: Some("another-token"), ..imposter() }, "GET", "http://127.0.0.1:4567/", &[], b"");
        assert_eq!(arrived.verify(), Err(SigV4Error::SessionTokenMismatch));
    }

    #[test]
    fn an_unsigned_session_token_is_refused() {
        let mut arrived = signed(&Signer { token: None, ..imposter() }, "GET", "http://127.0.0.1:4567/", &[], b"");
        arrived.headers.insert("x-amz-security-token", HeaderValue::from_static(ROLE_TOKEN));
        assert_eq!(arrived.verify(), Err(SigV4Error::SessionTokenNotSigned));
    }

    #[test]
    fn a_session_token_with_long_term_keys_is_refused() {
        let arrived = signed(&Signer { token: Some("stray"), ..alice() }, "GET", "http://127.0.0.1:4567/", &[], b"");
        assert_eq!(arrived.verify(), Err(SigV4Error::UnexpectedSessionToken));
    }

    #[test]
    fn a_changed_signature_is_refused() {
        let mut arrived = get("http://127.0.0.1:4567/");
        let auth = arrived.headers["authorization"].to_str().unwrap().to_owned();
        let last = auth.chars().last().unwrap();
        let flipped = format!("{}{}", &auth[..auth.len() - 1], if last == '0' { '1' } else { '0' });
        arrived.headers.insert("authorization", HeaderValue::from_str(&flipped).unwrap());
        assert_eq!(arrived.verify(), Err(SigV4Error::SignatureMismatch));
    }

    #[test]
    fn a_signature_made_with_the_wrong_secret_is_refused() {
        let arrived =
            signed(&Signer { secret: "not-the-secret", ..alice() }, "GET", "http://127.0.0.1:4567/", &[], b"");
        assert_eq!(arrived.verify(), Err(SigV4Error::SignatureMismatch));
    }

    #[test]
    fn an_unknown_access_key_is_refused() {
        let arrived =
            signed(&Signer { key: "AKIAUNKNOWN000000000", ..alice() }, "GET", "http://127.0.0.1:4567/", &[], b"");
        assert_eq!(
            arrived.verify(),
            Err(SigV4Error::UnknownAccessKey { access_key_id: "AKIAUNKNOWN000000000".into() })
        );
    }

    #[test]
    fn a_signature_sixteen_minutes_old_is_refused_and_fourteen_is_not() {
        let now = SystemTime::now();
        let old = signed(
            &Signer { time: now - std::time::Duration::from_secs(16 * 60), ..alice() },
            "GET",
            "http://127.0.0.1:4567/",
            &[],
            b"",
        );
        assert!(matches!(old.verify_at(now), Err(SigV4Error::RequestTimeTooSkewed { .. })));
        let recent = signed(
            &Signer { time: now - std::time::Duration::from_secs(14 * 60), ..alice() },
            "GET",
            "http://127.0.0.1:4567/",
            &[],
            b"",
        );
        assert_eq!(recent.verify_at(now).unwrap(), "alice");
    }

    #[test]
    fn a_signature_from_the_future_is_refused() {
        let now = SystemTime::now();
        let future = signed(
            &Signer { time: now + std::time::Duration::from_secs(16 * 60), ..alice() },
            "GET",
            "http://127.0.0.1:4567/",
            &[],
            b"",
        );
        assert!(matches!(future.verify_at(now), Err(SigV4Error::RequestTimeTooSkewed { .. })));
    }

    #[test]
    fn a_request_without_authorization_is_refused() {
        let mut arrived = get("http://127.0.0.1:4567/");
        arrived.headers.remove("authorization");
        assert_eq!(arrived.verify(), Err(SigV4Error::MissingAuthorization));
    }

    #[test]
    fn presigned_query_authentication_is_refused_as_unsupported() {
        let mut arrived = get("http://127.0.0.1:4567/");
        arrived.headers.remove("authorization");
        arrived.query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=abc".into();
        assert_eq!(arrived.verify(), Err(SigV4Error::PresignedUnsupported));
    }

    #[test]
    fn another_algorithm_is_refused() {
        let mut arrived = get("http://127.0.0.1:4567/");
        arrived.headers.insert("authorization", HeaderValue::from_static("Bearer abc"));
        assert_eq!(arrived.verify(), Err(SigV4Error::UnsupportedAlgorithm("Bearer".into())));
    }

    #[test]
    fn a_header_changed_after_signing_is_refused() {
        let mut arrived =
            signed(&alice(), "GET", "http://127.0.0.1:4567/", &[("content-type", "application/json")], b"");
        arrived.headers.insert("content-type", HeaderValue::from_static("text/plain"));
        assert_eq!(arrived.verify(), Err(SigV4Error::SignatureMismatch));
    }

    #[test]
    fn a_signed_header_removed_after_signing_is_refused() {
        let mut arrived = signed(&alice(), "GET", "http://127.0.0.1:4567/", &[("x-custom", "1")], b"");
        arrived.headers.remove("x-custom");
        assert_eq!(arrived.verify(), Err(SigV4Error::SignedHeaderMissing { name: "x-custom".into() }));
    }

    #[test]
    fn a_different_host_is_refused() {
        let mut arrived = get("http://127.0.0.1:4567/");
        arrived.headers.insert("host", HeaderValue::from_static("127.0.0.1:4568"));
        assert_eq!(arrived.verify(), Err(SigV4Error::SignatureMismatch));
    }

    #[test]
    fn a_body_changed_after_signing_is_refused() {
        let mut arrived = signed(&alice(), "POST", "http://127.0.0.1:4567/requests", &[], b"{\"a\":1}");
        arrived.body = b"{\"a\":2}".to_vec();
        assert_eq!(arrived.verify(), Err(SigV4Error::SignatureMismatch));
    }

    #[test]
    fn a_method_changed_after_signing_is_refused() {
        let mut arrived = get("http://127.0.0.1:4567/sessions/01J/revoke");
        arrived.method = "POST".into();
        assert_eq!(arrived.verify(), Err(SigV4Error::SignatureMismatch));
    }

    #[test]
    fn a_path_changed_after_signing_is_refused() {
        let mut arrived = get("http://127.0.0.1:4567/sessions/01J");
        arrived.path = "/sessions/01K".into();
        assert_eq!(arrived.verify(), Err(SigV4Error::SignatureMismatch));
    }

    #[test]
    fn another_region_is_refused() {
        let arrived = signed(&Signer { region: "eu-west-1", ..alice() }, "GET", "http://127.0.0.1:4567/", &[], b"");
        assert_eq!(
            arrived.verify(),
            Err(SigV4Error::WrongRegion { expected: REGION.into(), found: "eu-west-1".into() })
        );
    }

    #[test]
    fn another_service_is_refused() {
        let arrived = signed(&Signer { service: "sts", ..alice() }, "GET", "http://127.0.0.1:4567/", &[], b"");
        assert_eq!(arrived.verify(), Err(SigV4Error::WrongService { found: "sts".into() }));
    }

    /// Rewrites the Authorization header's SignedHeaders and re-signs with the verifier's own
    /// primitives, so only the property under test is wrong.
    fn with_signed_headers(arrived: &Arrived, signed_headers: &str) -> Arrived {
        let mut out = arrived.clone();
        let date = out.headers["x-amz-date"].to_str().unwrap().to_owned();
        let scope = format!("{}/{REGION}/{SERVICE}/aws4_request", &date[..8]);
        let auth = Authorization {
            access_key_id: USER_KEY,
            scope_date: &date[..8],
            region: REGION,
            service: SERVICE,
            signed_headers: signed_headers.split(';').collect(),
            signed_headers_raw: signed_headers,
            signature: vec![],
        };
        let hash = hex::encode(Sha256::digest(&out.body));
        let creq = canonical_request(&out.request(), &auth, &hash).unwrap();
        let sts = format!("{ALGORITHM}\n{date}\n{scope}\n{}", hex::encode(Sha256::digest(creq.as_bytes())));
        let signature =
            hex::encode(hmac_sha256(&signing_key(USER_SECRET, &date[..8], REGION, SERVICE), sts.as_bytes()));
        let header =
            format!("{ALGORITHM} Credential={USER_KEY}/{scope}, SignedHeaders={signed_headers}, Signature={signature}");
        out.headers.insert("authorization", HeaderValue::from_str(&header).unwrap());
        out
    }

    #[test]
    fn the_verifiers_own_resigning_helper_produces_accepted_signatures() {
        // Guards the helper used by the next tests: with a valid header list it verifies.
        let arrived = with_signed_headers(&get("http://127.0.0.1:4567/"), "host;x-amz-date");
        assert_eq!(arrived.verify().unwrap(), "alice");
    }

    #[test]
    fn a_signature_that_does_not_sign_host_is_refused() {
        let arrived = with_signed_headers(&get("http://127.0.0.1:4567/"), "x-amz-date");
        assert_eq!(arrived.verify(), Err(SigV4Error::HostNotSigned));
    }

    #[test]
    fn a_signature_that_does_not_sign_the_date_is_refused() {
        let arrived = with_signed_headers(&get("http://127.0.0.1:4567/"), "host");
        assert_eq!(arrived.verify(), Err(SigV4Error::DateNotSigned));
    }

    #[test]
    fn unsorted_signed_headers_are_refused() {
        let arrived = with_signed_headers(&get("http://127.0.0.1:4567/"), "x-amz-date;host");
        assert_eq!(arrived.verify(), Err(SigV4Error::SignedHeadersNotCanonical));
    }

    #[test]
    fn a_scope_date_other_than_the_request_date_is_refused() {
        let mut arrived = get("http://127.0.0.1:4567/");
        let auth = arrived.headers["authorization"].to_str().unwrap().to_owned();
        let date = &arrived.headers["x-amz-date"].to_str().unwrap()[..8].to_owned();
        let other = auth.replace(&format!("/{date}/"), "/20000101/");
        arrived.headers.insert("authorization", HeaderValue::from_str(&other).unwrap());
        assert!(matches!(arrived.verify(), Err(SigV4Error::ScopeDateMismatch { .. })));
    }

    #[test]
    fn malformed_authorization_headers_are_refused_without_panicking() {
        let cases = [
            "AWS4-HMAC-SHA256",
            "AWS4-HMAC-SHA256 Credential=a",
            "AWS4-HMAC-SHA256 Credential=AKIA/20200101/us-east-1/execute-api/aws4_request, SignedHeaders=host, Signature=zz",
            "AWS4-HMAC-SHA256 Credential=AKIA/2020/us-east-1/execute-api/aws4_request, SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA256 Credential=AKIA/20200101/us-east-1/execute-api, SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA256 Credential=x, Credential=y, SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA256 Foo=bar",
            "AWS4-HMAC-SHA256 Credential=AKIA/20200101/us-east-1/execute-api/aws4_request, SignedHeaders=Host;x-amz-date, Signature=00",
        ];
        for case in cases {
            let mut arrived = get("http://127.0.0.1:4567/");
            arrived.headers.insert("authorization", HeaderValue::from_str(case).unwrap());
            let result = arrived.verify();
            assert!(result.is_err(), "{case} was accepted");
            assert_ne!(result, Err(SigV4Error::SignatureMismatch), "{case} should fail before the signature check");
        }
    }

    #[test]
    fn malformed_percent_escapes_in_the_query_are_refused() {
        let mut arrived = get("http://127.0.0.1:4567/?a=%2");
        arrived.query = "a=%zz".into();
        assert_eq!(arrived.verify(), Err(SigV4Error::MalformedQuery));
    }

    #[test]
    fn canonical_uri_normalises_then_encodes_again() {
        assert_eq!(canonical_uri("/").unwrap(), "/");
        assert_eq!(canonical_uri("/a//b/./c/../d/").unwrap(), "/a/b/d/");
        assert_eq!(canonical_uri("/caf%C3%A9 x").unwrap(), "/caf%25C3%25A9%20x");
        assert_eq!(canonical_uri("/a/..").unwrap(), "/");
        assert!(canonical_uri("relative").is_err());
    }

    #[test]
    fn canonical_query_sorts_by_name_then_value_and_encodes_strictly() {
        assert_eq!(canonical_query("b=2&a=z&a=y&c").unwrap(), "a=y&a=z&b=2&c=");
        assert_eq!(canonical_query("r=a+b%2cc%7e*").unwrap(), "r=a%20b%2Cc~%2A");
        assert_eq!(canonical_query("").unwrap(), "");
    }

    #[test]
    fn the_aws_documentation_example_signature_is_reproduced() {
        // The GET ListUsers example of the IAM SigV4 documentation.
        let key = signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150830", "us-east-1", "iam");
        assert_eq!(hex::encode(&key), "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9");
    }

    fn segment() -> impl Strategy<Value = String> {
        proptest::string::string_regex("[a-zA-Z0-9 ,;:@!$'()*+=&é✓~._-]{1,8}")
            .unwrap()
            .prop_filter("dot segments are normalised away", |s| s != "." && s != "..")
    }

    fn encode_component(text: &str) -> String {
        uri_encode(text.as_bytes())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn any_request_signed_by_the_sdk_signer_verifies(
            segments in proptest::collection::vec(segment(), 0..4),
            params in proptest::collection::vec((segment(), proptest::string::string_regex("[a-zA-Z0-9 ,é✓=&+%]{0,8}").unwrap()), 0..4),
            body in proptest::collection::vec(any::<u8>(), 0..256),
            post in any::<bool>(),
        ) {
            let path: String = segments.iter().map(|s| format!("/{}", encode_component(s))).collect();
            let path = if path.is_empty() { "/".to_owned() } else { path };
            let query: Vec<String> = params.iter().map(|(k, v)| format!("{}={}", encode_component(k), encode_component(v))).collect();
            let uri = if query.is_empty() { format!("http://127.0.0.1:4567{path}") } else { format!("http://127.0.0.1:4567{path}?{}", query.join("&")) };
            let method = if post { "POST" } else { "GET" };
            let arrived = signed(&alice(), method, &uri, &[], &body);
            prop_assert_eq!(arrived.verify(), Ok("alice".to_owned()));
        }

        #[test]
        fn any_single_byte_change_to_the_body_is_refused(
            body in proptest::collection::vec(any::<u8>(), 1..256),
            index in any::<prop::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let arrived = signed(&alice(), "POST", "http://127.0.0.1:4567/requests", &[], &body);
            let mut tampered = arrived.clone();
            let i = index.index(body.len());
            tampered.body[i] ^= flip;
            prop_assert!(tampered.verify().is_err());
        }

        #[test]
        fn any_single_byte_change_to_the_query_is_refused(
            params in proptest::collection::vec((segment(), proptest::string::string_regex("[a-zA-Z0-9 ,é✓]{0,6}").unwrap()), 1..4),
            index in any::<prop::sample::Index>(),
            replacement in proptest::sample::select(b"aZ09%&=-._~+B".to_vec()),
        ) {
            let query: Vec<String> = params.iter().map(|(k, v)| format!("{}={}", encode_component(k), encode_component(v))).collect();
            let query = query.join("&");
            let arrived = signed(&alice(), "GET", &format!("http://127.0.0.1:4567/?{query}"), &[], b"");
            prop_assert_eq!(&arrived.query, &query);
            let i = index.index(query.len());
            let original = query.as_bytes()[i];
            prop_assume!(original != replacement);
            // Changing the case of a hex digit in a %XX escape does not change what was sent.
            let in_escape = (i >= 1 && query.as_bytes()[i - 1] == b'%') || (i >= 2 && query.as_bytes()[i - 2] == b'%');
            prop_assume!(!(in_escape && original.eq_ignore_ascii_case(&replacement)));
            let mut bytes = query.into_bytes();
            bytes[i] = replacement;
            let mut tampered = arrived.clone();
            tampered.query = String::from_utf8(bytes).unwrap();
            prop_assert!(tampered.verify().is_err(), "{} verified", tampered.query);
        }
    }

    #[test]
    fn header_names_are_matched_case_insensitively_as_http_requires() {
        let mut arrived = signed(&alice(), "GET", "http://127.0.0.1:4567/", &[("X-Custom", "v")], b"");
        let value = arrived.headers.remove("x-custom").unwrap();
        arrived.headers.insert(HeaderName::from_static("x-custom"), value);
        assert_eq!(arrived.verify().unwrap(), "alice");
    }
}
