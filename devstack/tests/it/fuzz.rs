//! SigV4 verification at scale: arbitrary `Authorization` headers, dates, headers, paths,
//! queries and bodies never panic and never verify; a request signed by the SDK signer and
//! then changed in one place (a header value, the method, the path, a signature character,
//! the date) is refused, and unchanged it verifies.
//!
//! Cases per test come from `SENTINEL_FUZZ_CASES` (256 by default, `make fuzz` runs 100,000);
//! the seed is fixed (`SENTINEL_FUZZ_SEED` changes it).

use std::time::SystemTime;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use devstack::identities::KeyRegistry;
use devstack::sigv4::{verify, SignedRequest};
use proptest::prelude::*;

use crate::support::{alice, imposter, sign_headers, REGION};

use devstack::fuzz::fuzz;

fn registry() -> KeyRegistry {
    KeyRegistry::new(vec![alice(), imposter()]).unwrap()
}

fn headers(pairs: &[(String, String)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
            map.append(n, v);
        }
    }
    map
}

/// `Authorization` values shaped like SigV4 with random parts, and plain noise.
fn authorization() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,200}",
        (
            prop_oneof![Just("AWS4-HMAC-SHA256".to_owned()), "[A-Z0-9-]{0,20}"],
            prop_oneof![Just("AKIAALICE00000000001".to_owned()), Just("ASIAIMPOSTER00000001".to_owned()), "[A-Z0-9]{0,24}"],
            "[0-9]{0,9}",
            prop_oneof![Just("us-east-1".to_owned()), "[a-z0-9-]{0,12}"],
            prop_oneof![Just("execute-api".to_owned()), "[a-z0-9-]{0,12}"],
            "[a-z0-9;-]{0,60}",
            "[0-9a-fA-F]{0,70}",
            "[ ,=/]{0,3}",
        )
            .prop_map(|(alg, key, date, region, service, signed, sig, sep)| {
                format!("{alg} Credential={key}/{date}/{region}/{service}/aws4_request,{sep}SignedHeaders={signed},{sep}Signature={sig}")
            }),
    ]
}

#[test]
fn fuzz_sigv4_verification_refuses_arbitrary_requests_without_panicking() {
    let registry = registry();
    let strategy = (
        authorization(),
        prop_oneof![Just("20250101T000000Z".to_owned()), "[0-9TZ]{0,20}", "[ -~]{0,20}"],
        proptest::collection::vec(("[a-zA-Z0-9-]{1,20}", "[ -~]{0,40}"), 0..4),
        prop_oneof![Just("GET".to_owned()), Just("POST".to_owned()), "[A-Za-z]{0,8}"],
        "/[ -~]{0,40}",
        "[ -~]{0,60}",
        proptest::collection::vec(any::<u8>(), 0..64),
    );
    fuzz("sigv4 arbitrary", strategy, |(auth, date, extra, method, path, query, body)| {
        let mut pairs = extra;
        pairs.push(("authorization".into(), auth));
        pairs.push(("x-amz-date".into(), date));
        pairs.push(("host".into(), "127.0.0.1:4567".into()));
        let map = headers(&pairs);
        let request = SignedRequest { method: &method, path: &path, query: &query, headers: &map, body: &body };
        let verdict = verify(&registry, REGION, &request, chrono::Utc::now());
        prop_assert!(verdict.is_err(), "a request nobody signed verified: {:?}", verdict);
        Ok(())
    });
}

#[derive(Debug, Clone)]
enum Change {
    Method,
    Path(String),
    HeaderValue(usize, String),
    SignatureChar(usize, char),
    Date,
    Region,
}

#[test]
fn fuzz_sigv4_any_change_to_a_signed_request_is_refused_and_the_unchanged_one_verifies() {
    let registry = registry();
    let strategy = (
        "(/[a-z0-9]{1,8}){0,3}",
        "([a-z]{1,6}=[a-z0-9]{0,6}(&[a-z]{1,6}=[a-z0-9]{0,6}){0,2})?",
        proptest::collection::vec(any::<u8>(), 0..64),
        any::<bool>(),
        any::<bool>(),
        prop_oneof![
            Just(Change::Method),
            "/[a-z]{1,6}".prop_map(Change::Path),
            (0usize..16, "[ -~]{1,10}").prop_map(|(i, v)| Change::HeaderValue(i, v)),
            (0usize..64, proptest::sample::select("0123456789abcdef".chars().collect::<Vec<_>>()))
                .prop_map(|(i, c)| Change::SignatureChar(i, c)),
            Just(Change::Date),
            Just(Change::Region),
        ],
    );
    fuzz("sigv4 tampering", strategy, |(path, query, body, post, role, change)| {
        let path = if path.is_empty() { "/".to_owned() } else { path };
        let key = if role { imposter() } else { alice() };
        let method = if post { "POST" } else { "GET" };
        let url = if query.is_empty() {
            format!("http://127.0.0.1:4567{path}")
        } else {
            format!("http://127.0.0.1:4567{path}?{query}")
        };
        let signed = sign_headers(&key, SystemTime::now(), method, &url, &[("x-custom", "v")], &body);
        let pairs: Vec<(String, String)> = signed;
        let map = headers(&pairs);
        let ok = SignedRequest { method, path: &path, query: &query, headers: &map, body: &body };
        let verified = verify(&registry, REGION, &ok, chrono::Utc::now()).map(|e| e.profile.clone());
        prop_assert_eq!(verified, Ok(key.profile.clone()));

        let mut pairs = pairs;
        let (mut method, mut path) = (method.to_owned(), path);
        let mut region = REGION;
        match change {
            Change::Method => method = if post { "GET".into() } else { "POST".into() },
            Change::Path(p) => {
                if p == path {
                    return Ok(());
                }
                path = p;
            }
            Change::HeaderValue(i, v) => {
                // Only signed headers matter: the SDK signs all of these.
                let i = i % pairs.len();
                if pairs[i].1 == v || pairs[i].0 == "authorization" {
                    return Ok(());
                }
                pairs[i].1 = v;
            }
            Change::SignatureChar(i, c) => {
                let auth = pairs.iter_mut().find(|(n, _)| n == "authorization").unwrap();
                let at = auth.1.rfind("Signature=").unwrap() + "Signature=".len();
                let pos = at + i % (auth.1.len() - at);
                if auth.1.as_bytes()[pos] as char == c {
                    return Ok(());
                }
                auth.1.replace_range(pos..pos + 1, &c.to_string());
            }
            Change::Date => {
                // Another second: still a valid date within the skew, but not the one signed.
                let date = pairs.iter_mut().find(|(n, _)| n == "x-amz-date").unwrap();
                let at = date.1.len() - 2;
                let digit = if &date.1[at..at + 1] == "0" { "1" } else { "0" };
                date.1.replace_range(at..at + 1, digit);
            }
            Change::Region => region = "eu-west-1",
        }
        let map = headers(&pairs);
        let changed = SignedRequest { method: &method, path: &path, query: &query, headers: &map, body: &body };
        let verdict = verify(&registry, region, &changed, chrono::Utc::now());
        prop_assert!(verdict.is_err(), "a changed request verified: {:?}", changed);
        Ok(())
    });
}
