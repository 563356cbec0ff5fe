//! The local gateway through real HTTP on an ephemeral port, with SDK-signed requests.

use std::time::{Duration, SystemTime};

use devstack::gateway::GatewayConfig;
use devstack::identities::KeyRegistry;
use serde_json::json;

use crate::support::{alice, entry, imposter, send, Harness, GOOD_TOKEN, REGION};

#[tokio::test]
async fn an_iam_route_gets_the_payload_v2_event_with_the_verified_identity() {
    let harness = Harness::start().await;
    let response = harness
        .signed(
            &alice(),
            "GET",
            "/requests/01JREQUEST00000000000000?status=pending&a=1&a=2&reason=needs%20access%2C%20now%20%E2%9C%93",
            &[("X-Custom-Header", "Value One"), ("accept", "application/json")],
            b"",
        )
        .await;
    assert_eq!(response.status, 200, "{}", String::from_utf8_lossy(&response.body));

    let events = harness.recorder.event_json();
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(event["version"], "2.0");
    assert_eq!(event["routeKey"], "GET /requests/{id}");
    assert_eq!(event["rawPath"], "/requests/01JREQUEST00000000000000");
    assert_eq!(event["rawQueryString"], "status=pending&a=1&a=2&reason=needs%20access%2C%20now%20%E2%9C%93");
    assert_eq!(event["pathParameters"], json!({ "id": "01JREQUEST00000000000000" }));
    assert_eq!(event["queryStringParameters"]["status"], "pending");
    assert_eq!(event["queryStringParameters"]["a"], "1,2");
    assert_eq!(event["queryStringParameters"]["reason"], "needs access, now ✓");
    assert_eq!(event["headers"]["x-custom-header"], "Value One");
    assert_eq!(event["headers"]["host"], harness.addr().to_string());
    assert_eq!(event["headers"]["x-forwarded-for"], "127.0.0.1");
    assert_eq!(event["headers"]["x-forwarded-port"], harness.addr().port().to_string());
    assert!(event["headers"]["authorization"].as_str().unwrap().starts_with("AWS4-HMAC-SHA256 "));
    assert_eq!(event["isBase64Encoded"], false);
    assert!(event.get("body").is_none());

    let context = &event["requestContext"];
    assert_eq!(context["accountId"], "123456789012");
    assert_eq!(context["apiId"], "local");
    assert_eq!(context["stage"], "$default");
    assert_eq!(context["routeKey"], "GET /requests/{id}");
    assert_eq!(context["http"]["method"], "GET");
    assert_eq!(context["http"]["path"], "/requests/01JREQUEST00000000000000");
    assert_eq!(context["http"]["protocol"], "HTTP/1.1");
    assert_eq!(context["http"]["sourceIp"], "127.0.0.1");
    assert_eq!(context["domainName"], harness.addr().to_string());
    assert!(context["requestId"].as_str().is_some_and(|id| id.len() == 16));
    assert!(context["timeEpoch"].as_i64().is_some_and(|t| t > 1_700_000_000_000));
    assert!(context["time"].as_str().is_some_and(|t| t.ends_with(" +0000")));
    assert_eq!(
        context["authorizer"]["iam"],
        json!({
            "accessKey": "AKIAALICE00000000001",
            "accountId": "123456789012",
            "callerId": "AIDAALICE0000000001",
            "principalOrgId": null,
            "userArn": "arn:aws:iam::123456789012:user/alice",
            "userId": "AIDAALICE0000000001",
        })
    );
    assert_eq!(response.header("apigw-requestid"), context["requestId"].as_str());
}

#[tokio::test]
async fn the_typed_event_the_handlers_read_carries_the_same_facts() {
    let harness = Harness::start().await;
    let response = harness.signed(&alice(), "GET", "/?profile=dev&profile=prod", &[], b"").await;
    assert_eq!(response.status, 200);
    let events = harness.recorder.events.lock().unwrap();
    let event = &events[0];
    assert_eq!(event.route_key.as_deref(), Some("GET /"));
    assert_eq!(event.query_string_parameters.all("profile"), Some(vec!["dev", "prod"]));
    let iam = event.request_context.authorizer.as_ref().and_then(|a| a.iam.as_ref()).unwrap();
    assert_eq!(iam.user_arn.as_deref(), Some("arn:aws:iam::123456789012:user/alice"));
    assert_eq!(iam.access_key.as_deref(), Some("AKIAALICE00000000001"));
    assert_eq!(event.request_context.http.method.as_str(), "GET");
}

#[tokio::test]
async fn a_post_body_reaches_the_backend_and_its_answer_is_written_back() {
    let harness = Harness::start().await;
    let body = br#"{"profile":"prod","justification":"deploy","duration":3600}"#;
    let response = harness
        .signed(&alice(), "POST", "/requests/01JREQ/approve", &[("content-type", "application/json")], body)
        .await;
    assert_eq!(response.status, 201);
    assert_eq!(response.json(), json!({ "route": "POST /requests/{id}/approve" }));
    assert_eq!(response.header("x-sentinel-session-id"), Some("01JRECORDED"));
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.all("set-cookie"), vec!["seen=1; Path=/"]);

    let event = &harness.recorder.event_json()[0];
    assert_eq!(event["body"], std::str::from_utf8(body).unwrap());
    assert_eq!(event["isBase64Encoded"], false);
    assert_eq!(event["pathParameters"]["id"], "01JREQ");
}

#[tokio::test]
async fn a_binary_body_is_base64_encoded_both_ways() {
    let harness = Harness::start().await;
    let body = [0u8, 159, 146, 150, 255];
    let response = harness.signed(&alice(), "POST", "/binary", &[], &body).await;
    assert_eq!(response.status, 201);
    assert_eq!(response.body, vec![0u8, 1, 2, 255]);
    let event = &harness.recorder.event_json()[0];
    assert_eq!(event["isBase64Encoded"], true);
    assert_eq!(event["body"], "AJ+Slv8=");
}

#[tokio::test]
async fn temporary_credentials_of_an_assumed_role_are_verified_with_their_token() {
    let harness = Harness::start().await;
    let response = harness.signed(&imposter(), "GET", "/", &[], b"").await;
    assert_eq!(response.status, 200);
    let iam = &harness.recorder.event_json()[0]["requestContext"]["authorizer"]["iam"];
    assert_eq!(iam["userArn"], "arn:aws:sts::123456789012:assumed-role/DeveloperTools/alice");
    assert_eq!(iam["userId"], "AROADEVTOOLS0000001:alice");
    assert_eq!(iam["accessKey"], "ASIAIMPOSTER00000001");
}

#[tokio::test]
async fn repeated_headers_are_comma_joined_and_cookies_listed_apart() {
    let harness = Harness::start().await;
    let response = harness
        .signed(&alice(), "GET", "/", &[("x-multi", "one"), ("x-multi", "two"), ("cookie", "a=1; b=2")], b"")
        .await;
    assert_eq!(response.status, 200, "{}", String::from_utf8_lossy(&response.body));
    let event = &harness.recorder.event_json()[0];
    assert_eq!(event["headers"]["x-multi"], "one,two");
    assert_eq!(event["cookies"], json!(["a=1", "b=2"]));
    assert!(event["headers"].get("cookie").is_none());
}

fn assert_iam_auth_required(response: &crate::support::HttpResponse) {
    assert_eq!(response.status, 403, "{}", String::from_utf8_lossy(&response.body));
    let body = response.json();
    assert_eq!(body["Code"], "IAM_AUTH_REQUIRED");
    let message = body["Message"].as_str().unwrap();
    assert!(!message.is_empty());
    assert_eq!(body["message"], message);
    assert_eq!(response.header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn a_bad_signature_is_refused_with_iam_auth_required_and_never_reaches_the_backend() {
    let harness = Harness::start().await;
    let mut wrong = alice();
    wrong.secret_access_key = "not-alices-secret".into();
    let response = harness.signed(&wrong, "GET", "/", &[], b"").await;
    assert_iam_auth_required(&response);
    assert!(response.json()["message"].as_str().unwrap().contains("signature"));
    assert!(harness.recorder.events.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_request_changed_after_signing_is_refused() {
    let harness = Harness::start().await;
    let url = format!("{}/?profile=dev", harness.url());
    let headers = crate::support::sign_headers(&alice(), SystemTime::now(), "GET", &url, &[], b"");
    let response = send(harness.addr(), "GET", "/?profile=prod", &headers, b"").await;
    assert_iam_auth_required(&response);
    assert!(harness.recorder.events.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_unknown_key_is_refused_with_iam_auth_required() {
    let harness = Harness::start().await;
    let stranger = entry("stranger", "AKIASTRANGER00000001", "secret", None, "arn:aws:iam::1:user/x", "AIDAX");
    let response = harness.signed(&stranger, "GET", "/", &[], b"").await;
    assert_iam_auth_required(&response);
    assert_eq!(response.json()["message"], "The security token included in the request is invalid.");
    assert_eq!(response.header("x-amzn-errortype"), Some("UnrecognizedClientException"));
}

#[tokio::test]
async fn a_stale_signature_is_refused_with_iam_auth_required() {
    let harness = Harness::start().await;
    let sixteen_minutes_ago = SystemTime::now() - Duration::from_secs(16 * 60);
    let response = harness.signed_at(&alice(), sixteen_minutes_ago, "GET", "/", &[], b"").await;
    assert_iam_auth_required(&response);
    assert!(response.json()["message"].as_str().unwrap().contains("Signature expired"));
}

#[tokio::test]
async fn a_request_without_authorization_is_refused_with_iam_auth_required() {
    let harness = Harness::start().await;
    let response = harness.plain("GET", "/whoami-not-routed", &[], b"").await;
    assert_eq!(response.status, 404, "unknown routes are 404 before any auth");
    let response = harness.plain("GET", "/", &[], b"").await;
    assert_iam_auth_required(&response);
    assert_eq!(response.json()["message"], "Missing Authentication Token");
    assert!(harness.recorder.events.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_signature_for_another_region_is_refused() {
    let harness =
        Harness::start_with(GatewayConfig::new(0, "eu-central-1"), KeyRegistry::new(vec![alice()]).unwrap()).await;
    let response = harness.signed(&alice(), "GET", "/", &[], b"").await;
    assert_iam_auth_required(&response);
    assert!(response.json()["message"].as_str().unwrap().contains(REGION));
}

#[tokio::test]
async fn an_unknown_route_is_api_gateways_404() {
    let harness = Harness::start().await;
    for (method, target) in [("GET", "/nope"), ("DELETE", "/"), ("GET", "/requests"), ("GET", "/requests/a/b/c")] {
        let response = harness.signed(&alice(), method, target, &[], b"").await;
        assert_eq!(response.status, 404, "{method} {target}");
        assert_eq!(response.json(), json!({ "message": "Not Found" }));
    }
    assert!(harness.recorder.events.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_none_route_is_invoked_without_identity() {
    let harness = Harness::start().await;
    let response = harness.plain("GET", "/health", &[], b"").await;
    assert_eq!(response.status, 200);
    let event = &harness.recorder.event_json()[0];
    assert_eq!(event["routeKey"], "GET /health");
    assert!(event["requestContext"].get("authorizer").is_none());
}

#[tokio::test]
async fn the_custom_route_without_authorization_is_401_and_the_authorizer_is_not_called() {
    let harness = Harness::start().await;
    let response = harness.plain("GET", "/credentials", &[], b"").await;
    assert_eq!(response.status, 401);
    assert_eq!(response.json(), json!({ "message": "Unauthorized" }));
    assert!(harness.recorder.authorizations.lock().unwrap().is_empty());
    assert!(harness.recorder.events.lock().unwrap().is_empty());
}

#[tokio::test]
async fn the_custom_route_denied_by_the_authorizer_is_403_forbidden() {
    let harness = Harness::start().await;
    let response = harness.plain("GET", "/credentials", &[("authorization", "01JREVOKED.token")], b"").await;
    assert_eq!(response.status, 403);
    assert_eq!(response.json(), json!({ "message": "Forbidden" }));
    assert_eq!(harness.recorder.authorizations.lock().unwrap().len(), 1);
    assert!(harness.recorder.events.lock().unwrap().is_empty());
}

#[tokio::test]
async fn the_custom_route_passes_the_authorizers_context_to_the_integration() {
    let harness = Harness::start().await;
    let response = harness.plain("GET", "/credentials?x=1", &[("authorization", GOOD_TOKEN)], b"").await;
    assert_eq!(response.status, 200, "{}", String::from_utf8_lossy(&response.body));

    let authorization = &harness.recorder.authorization_json()[0];
    assert_eq!(authorization["version"], "2.0");
    assert_eq!(authorization["type"], "REQUEST");
    assert_eq!(authorization["identitySource"], json!([GOOD_TOKEN]));
    assert_eq!(authorization["routeKey"], "GET /credentials");
    assert_eq!(authorization["rawPath"], "/credentials");
    assert_eq!(authorization["rawQueryString"], "x=1");
    assert_eq!(authorization["routeArn"], "arn:aws:execute-api:us-east-1:123456789012:local/$default/GET/credentials");
    assert_eq!(authorization["headers"]["authorization"], GOOD_TOKEN);
    assert_eq!(authorization["requestContext"]["http"]["method"], "GET");

    let event = &harness.recorder.event_json()[0];
    assert_eq!(event["routeKey"], "GET /credentials");
    assert_eq!(
        event["requestContext"]["authorizer"],
        json!({ "lambda": {
            "session_id": "01JSESSION0000000000000000",
            "principal": "arn:aws:iam::123456789012:user/alice",
        }})
    );
    assert!(event["requestContext"]["authorizer"].get("iam").is_none());
}

#[tokio::test]
async fn every_request_gets_its_own_request_id() {
    let harness = Harness::start().await;
    let first = harness.plain("GET", "/health", &[], b"").await;
    let second = harness.plain("GET", "/health", &[], b"").await;
    let ids: Vec<String> = harness
        .recorder
        .event_json()
        .iter()
        .map(|e| e["requestContext"]["requestId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);
    assert_eq!(first.header("apigw-requestid"), Some(ids[0].as_str()));
    assert_eq!(second.header("apigw-requestid"), Some(ids[1].as_str()));
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_and_never_reaches_the_backend() {
    let mut config = GatewayConfig::new(0, REGION);
    config.max_body_bytes = 1024;
    let harness = Harness::start_with(config, KeyRegistry::new(vec![alice()]).unwrap()).await;
    let big = vec![b'x'; 2048];
    let response = harness.signed(&alice(), "POST", "/", &[], &big).await;
    assert_eq!(response.status, 413);
    assert_eq!(response.json(), json!({ "message": "Request Entity Too Large" }));
    let small = harness.signed(&alice(), "POST", "/", &[], &big[..1000]).await;
    assert_eq!(small.status, 201);
    assert_eq!(harness.recorder.events.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn the_default_limit_is_api_gateways_ten_megabytes() {
    assert_eq!(GatewayConfig::new(0, REGION).max_body_bytes, 10 * 1024 * 1024);
}

#[tokio::test]
async fn the_gateway_stops_when_its_shutdown_future_completes() {
    let harness = Harness::start().await;
    let addr = harness.addr();
    assert_eq!(harness.plain("GET", "/health", &[], b"").await.status, 200);
    harness.stop().await;
    // The port may be free (connection refused) or, under parallel tests, already reused by
    // another server: either way this gateway must no longer answer there.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    if let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await {
        let _ = stream.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), stream.read_to_end(&mut answer)).await;
        assert!(!String::from_utf8_lossy(&answer).contains("apigw-requestid"), "the gateway still answers");
    }
}

#[tokio::test]
async fn a_taken_port_is_a_clear_error() {
    let harness = Harness::start().await;
    let taken = harness.addr().port();
    let result = devstack::gateway::serve(
        GatewayConfig::new(taken, REGION),
        KeyRegistry::default(),
        crate::support::routes(),
        harness.recorder.clone(),
        std::future::pending(),
    )
    .await;
    let error = result.unwrap_err().to_string();
    assert!(error.contains(&format!("127.0.0.1:{taken}")) && error.contains("port taken"), "{error}");
}
