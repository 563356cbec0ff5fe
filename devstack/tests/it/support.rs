//! Test helpers: a recording backend, an SDK-style SigV4 signer and a tiny HTTP/1.1 client.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use async_trait::async_trait;
use aws_lambda_events::apigw::{
    ApiGatewayV2CustomAuthorizerSimpleResponse, ApiGatewayV2CustomAuthorizerV2Request, ApiGatewayV2httpRequest,
    ApiGatewayV2httpResponse,
};
use aws_lambda_events::encodings::Body;
use aws_sdk_iam::config::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use axum::http::HeaderValue;
use devstack::gateway::{self, Auth, Backend, GatewayConfig, Route, RunningGateway};
use devstack::identities::{KeyEntry, KeyRegistry};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

pub const REGION: &str = "us-east-1";
/// The token the recording authorizer accepts.
pub const GOOD_TOKEN: &str = "01JSESSION0000000000000000.c2VjcmV0";

/// Records every event and answers with a fixed response; authorizes [`GOOD_TOKEN`] only.
#[derive(Default)]
pub struct Recorder {
    pub events: Mutex<Vec<ApiGatewayV2httpRequest>>,
    pub authorizations: Mutex<Vec<ApiGatewayV2CustomAuthorizerV2Request>>,
}

impl Recorder {
    /// The recorded integration events, as the JSON API Gateway would send.
    pub fn event_json(&self) -> Vec<Value> {
        self.events.lock().unwrap().iter().map(|e| serde_json::to_value(e).unwrap()).collect()
    }

    pub fn authorization_json(&self) -> Vec<Value> {
        self.authorizations.lock().unwrap().iter().map(|e| serde_json::to_value(e).unwrap()).collect()
    }
}

#[async_trait]
impl Backend for Recorder {
    async fn invoke(&self, request: ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse {
        let route = request.route_key.clone().unwrap_or_default();
        let binary = request.raw_path.as_deref() == Some("/binary");
        self.events.lock().unwrap().push(request);
        let mut response = ApiGatewayV2httpResponse::default();
        response.status_code = if route.starts_with("POST") { 201 } else { 200 };
        response.headers.insert("content-type", HeaderValue::from_static("application/json"));
        response.headers.insert("x-sentinel-session-id", HeaderValue::from_static("01JRECORDED"));
        response.cookies = vec!["seen=1; Path=/".into()];
        if binary {
            response.body = Some(Body::Text("AAEC/w==".into()));
            response.is_base64_encoded = true;
        } else {
            response.body = Some(Body::Text(json!({ "route": route }).to_string()));
        }
        response
    }

    async fn authorize(
        &self,
        request: ApiGatewayV2CustomAuthorizerV2Request,
    ) -> ApiGatewayV2CustomAuthorizerSimpleResponse {
        let allowed = request.identity_source.as_deref() == Some(&[GOOD_TOKEN.to_owned()][..]);
        self.authorizations.lock().unwrap().push(request);
        let mut response = ApiGatewayV2CustomAuthorizerSimpleResponse::default();
        response.is_authorized = allowed;
        response.context =
            json!({ "session_id": "01JSESSION0000000000000000", "principal": "arn:aws:iam::123456789012:user/alice" });
        response
    }
}

/// The routes the tests use: IAM, CUSTOM and NONE, with and without parameters.
pub fn routes() -> Vec<Route> {
    vec![
        Route::new("GET", "/", Auth::Iam),
        Route::new("POST", "/", Auth::Iam),
        Route::new("GET", "/health", Auth::None),
        Route::new("GET", "/credentials", Auth::Custom),
        Route::new("GET", "/requests/{id}", Auth::Iam),
        Route::new("POST", "/requests", Auth::Iam),
        Route::new("POST", "/requests/{id}/approve", Auth::Iam),
        Route::new("PUT", "/policies/{profile}", Auth::Iam),
        Route::new("POST", "/binary", Auth::Iam),
    ]
}

/// A key entry for tests that need no emulator.
pub fn entry(
    profile: &str,
    access_key_id: &str,
    secret: &str,
    token: Option<&str>,
    arn: &str,
    user_id: &str,
) -> KeyEntry {
    KeyEntry {
        profile: profile.into(),
        access_key_id: access_key_id.into(),
        secret_access_key: secret.into(),
        session_token: token.map(Into::into),
        principal_arn: arn.into(),
        user_id: user_id.into(),
        account_id: "123456789012".into(),
        caller_id: user_id.into(),
    }
}

pub fn alice() -> KeyEntry {
    entry(
        "alice",
        "AKIAALICE00000000001",
        "alice-secret-0000000000000000000000000001",
        None,
        "arn:aws:iam::123456789012:user/alice",
        "AIDAALICE0000000001",
    )
}

pub fn imposter() -> KeyEntry {
    entry(
        "imposter",
        "ASIAIMPOSTER00000001",
        "imposter-secret-00000000000000000000000001",
        Some("imposter-session-token"),
        "arn:aws:sts::123456789012:assumed-role/DeveloperTools/alice",
        "AROADEVTOOLS0000001:alice",
    )
}

/// A running gateway with its recorder; stops when dropped.
pub struct Harness {
    pub gateway: Option<RunningGateway>,
    pub recorder: Arc<Recorder>,
    stop: Option<oneshot::Sender<()>>,
}

impl Harness {
    pub async fn start() -> Self {
        Self::start_with(GatewayConfig::new(0, REGION), KeyRegistry::new(vec![alice(), imposter()]).unwrap()).await
    }

    pub async fn start_with(config: GatewayConfig, registry: KeyRegistry) -> Self {
        let recorder = Arc::new(Recorder::default());
        let (tx, rx) = oneshot::channel::<()>();
        let gateway = gateway::serve(config, registry, routes(), recorder.clone(), async move {
            let _ = rx.await;
        })
        .await
        .unwrap();
        Harness { gateway: Some(gateway), recorder, stop: Some(tx) }
    }

    pub fn addr(&self) -> SocketAddr {
        self.gateway.as_ref().unwrap().addr()
    }

    pub fn url(&self) -> String {
        self.gateway.as_ref().unwrap().url().to_owned()
    }

    /// Stops the gateway and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(gateway) = self.gateway.take() {
            gateway.wait().await.unwrap();
        }
    }

    /// Sends a request signed with `key` (at `time`), like an SDK would.
    pub async fn signed(
        &self,
        key: &KeyEntry,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> HttpResponse {
        self.signed_at(key, SystemTime::now(), method, target, headers, body).await
    }

    pub async fn signed_at(
        &self,
        key: &KeyEntry,
        time: SystemTime,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> HttpResponse {
        let url = format!("{}{target}", self.url());
        let all = sign_headers(key, time, method, &url, headers, body);
        send(self.addr(), method, target, &all, body).await
    }

    /// Sends an unsigned request.
    pub async fn plain(&self, method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> HttpResponse {
        let mut all: Vec<(String, String)> = headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
        all.push(("host".into(), self.addr().to_string()));
        send(self.addr(), method, target, &all, body).await
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// The headers an SDK sends for this request: `headers`, `host`, and what aws-sigv4 adds.
pub fn sign_headers(
    key: &KeyEntry,
    time: SystemTime,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Vec<(String, String)> {
    let identity =
        Credentials::new(&key.access_key_id, &key.secret_access_key, key.session_token.clone(), None, "test").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name("execute-api")
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let signable = SignableRequest::new(method, url, headers.iter().copied(), SignableBody::Bytes(body)).unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let uri: axum::http::Uri = url.parse().unwrap();
    let mut out: Vec<(String, String)> = headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
    out.push(("host".into(), uri.authority().unwrap().to_string()));
    out.extend(instructions.headers().map(|(n, v)| (n.to_owned(), v.to_owned())));
    out
}

/// An HTTP answer.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect()
    }
}

/// One HTTP/1.1 request on a fresh connection (`connection: close`), headers sent as given.
pub async fn send(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> HttpResponse {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut head = format!("{method} {target} HTTP/1.1\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("content-length: {}\r\nconnection: close\r\n\r\n", body.len()));
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> HttpResponse {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete response head");
    let head = std::str::from_utf8(&raw[..split]).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.trim().to_lowercase(), v.trim().to_owned())
        })
        .collect();
    let rest = &raw[split + 4..];
    let chunked = headers.iter().any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked { dechunk(rest) } else { rest.to_vec() };
    HttpResponse { status, headers, body }
}

fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).unwrap().trim(), 16).unwrap();
        rest = &rest[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}
