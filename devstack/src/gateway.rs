//! The local API Gateway (HTTP API, payload 2.0) on 127.0.0.1: matches a route, authorizes it
//! as API Gateway would (SigV4 for AWS_IAM, a Lambda REQUEST authorizer for CUSTOM), turns the
//! request into the payload-2.0 event API Gateway sends and hands it to a [`Backend`].
//!
//! It holds no handler logic: what a route does is the backend's business (the composition
//! root wires the same handler functions that run in Lambda). The answers that come from API
//! Gateway itself — 404 for an unknown route, 401/403 from the authorizer, 413 for a body over
//! 10 MB — are produced here, in API Gateway's shape; a failed signature is answered as 403
//! `IAM_AUTH_REQUIRED` in the API's error shape plus API Gateway's `message` (DESIGN §4).

use std::collections::BTreeMap;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use async_trait::async_trait;
use aws_lambda_events::apigw::{
    ApiGatewayV2CustomAuthorizerSimpleResponse, ApiGatewayV2CustomAuthorizerV2Request, ApiGatewayV2httpRequest,
    ApiGatewayV2httpResponse,
};
use aws_lambda_events::encodings::Body as LambdaBody;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Version};
use axum::response::Response;
use axum::routing::{MethodFilter, MethodRouter};
use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use crate::identities::{KeyEntry, KeyRegistry};
use crate::sigv4::{self, SignedRequest};

/// API Gateway's payload limit.
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

/// How a route is authorized (an HTTP API route has exactly one type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// No authorization.
    None,
    /// AWS_IAM: SigV4, the caller in `requestContext.authorizer.iam`.
    Iam,
    /// CUSTOM: the Lambda REQUEST authorizer, identity source `$request.header.Authorization`.
    Custom,
}

/// One route: method, path template (`{name}` segments are parameters) and authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The HTTP method, e.g. `GET`.
    pub method: String,
    /// The path template, e.g. `/requests/{id}/approve`.
    pub path: String,
    /// The authorization type.
    pub auth: Auth,
}

impl Route {
    /// A route.
    pub fn new(method: impl Into<String>, path: impl Into<String>, auth: Auth) -> Self {
        Route { method: method.into(), path: path.into(), auth }
    }

    /// API Gateway's route key, e.g. `GET /requests/{id}`.
    pub fn key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// Where and as what the gateway runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayConfig {
    /// The port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// The region SigV4 scopes must name.
    pub region: String,
    /// The account that owns the API (`requestContext.accountId`).
    pub account_id: String,
    /// `requestContext.apiId`.
    pub api_id: String,
    /// The largest body accepted.
    pub max_body_bytes: usize,
}

impl GatewayConfig {
    /// A gateway on `port` for `region`, owned by moto's default account.
    pub fn new(port: u16, region: impl Into<String>) -> Self {
        GatewayConfig {
            port,
            region: region.into(),
            account_id: crate::identities::DEV_ACCOUNT_ID.to_owned(),
            api_id: "local".to_owned(),
            max_body_bytes: MAX_BODY_BYTES,
        }
    }
}

/// What the gateway calls: the integration behind every route and the CUSTOM authorizer.
#[async_trait]
pub trait Backend: Send + Sync {
    /// Runs the route's integration with the payload-2.0 event.
    async fn invoke(&self, request: ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse;
    /// Runs the Lambda REQUEST authorizer (payload 2.0, simple responses).
    async fn authorize(
        &self,
        request: ApiGatewayV2CustomAuthorizerV2Request,
    ) -> ApiGatewayV2CustomAuthorizerSimpleResponse;
}

/// Why the gateway could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// A route's template is not one API Gateway would accept here.
    #[error("route {route:?} is invalid: {reason}")]
    InvalidRoute {
        /// The route key.
        route: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// Two routes have the same key.
    #[error("route {0:?} is defined twice")]
    DuplicateRoute(String),
    /// The port could not be bound.
    #[error("cannot listen on 127.0.0.1:{port} for the local gateway (is the port taken?): {source}")]
    Bind {
        /// The port asked for.
        port: u16,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("the local gateway stopped: {0}")]
    Serve(#[source] std::io::Error),
    /// The server task panicked or was cancelled.
    #[error("the local gateway's task ended abnormally: {0}")]
    Task(String),
}

/// A gateway that is listening; [`RunningGateway::wait`] returns once the shutdown future
/// completed and open requests finished.
#[derive(Debug)]
pub struct RunningGateway {
    url: String,
    addr: SocketAddr,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RunningGateway {
    /// `http://127.0.0.1:<port>` (no trailing slash).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Waits until the gateway has stopped.
    pub async fn wait(self) -> Result<(), GatewayError> {
        match self.task.await {
            Ok(result) => result.map_err(GatewayError::Serve),
            Err(e) => Err(GatewayError::Task(e.to_string())),
        }
    }
}

/// Binds 127.0.0.1:`config.port` and serves `routes` until `shutdown` completes.
pub async fn serve(
    config: GatewayConfig,
    registry: KeyRegistry,
    routes: Vec<Route>,
    backend: Arc<dyn Backend>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<RunningGateway, GatewayError> {
    let mut config = config;
    let port = config.port;
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port))
        .await
        .map_err(|source| GatewayError::Bind { port, source })?;
    let addr = listener.local_addr().map_err(|source| GatewayError::Bind { port, source })?;
    // Events report the port actually bound (`x-forwarded-port`), also when 0 was asked for.
    config.port = addr.port();
    let app = router(config, registry, routes, backend)?;
    let task = tokio::spawn(async move {
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(shutdown)
            .await
    });
    Ok(RunningGateway { url: format!("http://{addr}"), addr, task })
}

/// The gateway as an axum router (for `serve`, or for tests with `oneshot`): each route is
/// registered with axum's router (the same `{name}` template syntax as API Gateway; literal
/// segments win over parameters), and everything else, a known path with another method
/// included, is API Gateway's 404.
pub fn router(
    config: GatewayConfig,
    registry: KeyRegistry,
    routes: Vec<Route>,
    backend: Arc<dyn Backend>,
) -> Result<axum::Router, GatewayError> {
    validate_routes(&routes)?;
    let state = Arc::new(Gateway { config, registry, backend });
    let mut by_path: BTreeMap<String, Vec<Route>> = BTreeMap::new();
    for route in routes {
        by_path.entry(route.path.clone()).or_default().push(route);
    }
    let mut app = axum::Router::new();
    for (path, group) in by_path {
        let mut methods: Option<MethodRouter<Arc<Gateway>>> = None;
        for route in group {
            let filter = method_filter(&route)?;
            let route = Arc::new(route);
            let handler = move |State(gateway): State<Arc<Gateway>>, request: Request| {
                let route = route.clone();
                async move { gateway.handle(&route, request).await }
            };
            methods = Some(match methods {
                None => axum::routing::on(filter, handler),
                Some(methods) => methods.on(filter, handler),
            });
        }
        if let Some(methods) = methods {
            app = app.route(&path, methods);
        }
    }
    Ok(app.fallback(not_found).method_not_allowed_fallback(not_found).with_state(state))
}

struct Gateway {
    config: GatewayConfig,
    registry: KeyRegistry,
    backend: Arc<dyn Backend>,
}

/// API Gateway's answer to a request no route matches.
async fn not_found() -> Response {
    gateway_message(StatusCode::NOT_FOUND, "Not Found", &new_request_id())
}

/// The axum method filter of a route's method.
fn method_filter(route: &Route) -> Result<MethodFilter, GatewayError> {
    let invalid = || GatewayError::InvalidRoute { route: route.key(), reason: "the method must be an HTTP method" };
    let method = axum::http::Method::from_bytes(route.method.as_bytes()).map_err(|_| invalid())?;
    MethodFilter::try_from(method).map_err(|_| invalid())
}

/// Refuses templates API Gateway would not accept here, and duplicate routes.
fn validate_routes(routes: &[Route]) -> Result<(), GatewayError> {
    let mut keys = std::collections::HashSet::new();
    for route in routes {
        let invalid = |reason| GatewayError::InvalidRoute { route: route.key(), reason };
        if route.method.is_empty() || !route.method.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(invalid("the method must be an uppercase HTTP method"));
        }
        let Some(rest) = route.path.strip_prefix('/') else {
            return Err(invalid("the path must start with /"));
        };
        if !rest.is_empty() {
            for part in rest.split('/') {
                if part.is_empty() {
                    return Err(invalid("empty path segment"));
                }
                match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                    Some(name) if !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') => {}
                    Some(_) => {
                        return Err(invalid("parameters are {name} with letters, digits and _ (no greedy {proxy+})"))
                    }
                    None if part.contains(['{', '}']) => return Err(invalid("braces only around a whole segment")),
                    None => {}
                }
            }
        }
        if !keys.insert(route.key()) {
            return Err(GatewayError::DuplicateRoute(route.key()));
        }
    }
    Ok(())
}

/// The path parameters of a matched route: each `{name}` segment of the template with the
/// request's segment at that place, percent-decoded as API Gateway fills `pathParameters`.
fn path_parameters(template: &str, raw_path: &str) -> BTreeMap<String, String> {
    template
        .split('/')
        .zip(raw_path.split('/'))
        .filter_map(|(pattern, actual)| {
            let name = pattern.strip_prefix('{')?.strip_suffix('}')?;
            Some((name.to_owned(), decode_path(actual)))
        })
        .collect()
}

/// One request as it arrived, with what the event needs.
struct Arrival {
    method: String,
    raw_path: String,
    query: String,
    headers: HeaderMap,
    body: Bytes,
    protocol: &'static str,
    source_ip: String,
    port: u16,
    request_id: String,
    at: DateTime<Utc>,
}

impl Gateway {
    /// Serves one request matched to `route`.
    async fn handle(&self, route: &Route, request: Request) -> Response {
        let request_id = new_request_id();
        let connect = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
        let (parts, body) = request.into_parts();
        let body = match axum::body::to_bytes(body, self.config.max_body_bytes).await {
            Ok(body) => body,
            Err(_) => return gateway_message(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large", &request_id),
        };
        let arrival = Arrival {
            method: parts.method.as_str().to_owned(),
            raw_path: parts.uri.path().to_owned(),
            query: parts.uri.query().unwrap_or("").to_owned(),
            headers: parts.headers,
            body,
            protocol: match parts.version {
                Version::HTTP_10 => "HTTP/1.0",
                Version::HTTP_2 => "HTTP/2.0",
                _ => "HTTP/1.1",
            },
            source_ip: connect.map(|a| a.ip().to_string()).unwrap_or_else(|| Ipv4Addr::LOCALHOST.to_string()),
            port: self.config.port,
            request_id,
            at: Utc::now(),
        };
        let path_params = path_parameters(&route.path, &arrival.raw_path);
        self.dispatch(&arrival, route, &path_params).await
    }

    async fn dispatch(&self, arrival: &Arrival, route: &Route, path_params: &BTreeMap<String, String>) -> Response {
        match route.auth {
            Auth::None => {
                let event = self.http_event(arrival, route, path_params, None);
                self.invoke(event, &arrival.request_id).await
            }
            Auth::Iam => {
                let signed = SignedRequest {
                    method: &arrival.method,
                    path: &arrival.raw_path,
                    query: &arrival.query,
                    headers: &arrival.headers,
                    body: &arrival.body,
                };
                match sigv4::verify(&self.registry, &self.config.region, &signed, arrival.at) {
                    Ok(key) => {
                        let authorizer = json!({ "iam": iam_context(key) });
                        let event = self.http_event(arrival, route, path_params, Some(authorizer));
                        self.invoke(event, &arrival.request_id).await
                    }
                    Err(error) => {
                        tracing::info!(request_id = %arrival.request_id, route = %route.key(), %error, "SigV4 refused");
                        iam_auth_required(&error, &arrival.request_id)
                    }
                }
            }
            Auth::Custom => self.custom(arrival, route, path_params).await,
        }
    }

    async fn custom(&self, arrival: &Arrival, route: &Route, path_params: &BTreeMap<String, String>) -> Response {
        let identity = arrival
            .headers
            .get("authorization")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .filter(|v| !v.trim().is_empty());
        let Some(identity) = identity else {
            return gateway_message(StatusCode::UNAUTHORIZED, "Unauthorized", &arrival.request_id);
        };
        let mut event = self.common_event(arrival, route, path_params);
        event.insert("type".into(), json!("REQUEST"));
        event.insert(
            "routeArn".into(),
            json!(format!(
                "arn:aws:execute-api:{}:{}:{}/$default/{}{}",
                self.config.region,
                self.config.account_id,
                self.config.api_id,
                arrival.method,
                decode_path(&arrival.raw_path)
            )),
        );
        event.insert("identitySource".into(), json!([identity]));
        let request = match serde_json::from_value::<ApiGatewayV2CustomAuthorizerV2Request>(Value::Object(event)) {
            Ok(request) => request,
            Err(e) => {
                tracing::error!(request_id = %arrival.request_id, error = %e, "cannot build the authorizer event");
                return gateway_message(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Internal Server Error",
                    &arrival.request_id,
                );
            }
        };
        let answer = self.backend.authorize(request).await;
        if !answer.is_authorized {
            return gateway_message(StatusCode::FORBIDDEN, "Forbidden", &arrival.request_id);
        }
        let context = match answer.context {
            Value::Object(map) => Value::Object(map),
            _ => Value::Object(Map::new()),
        };
        let event = self.http_event(arrival, route, path_params, Some(json!({ "lambda": context })));
        self.invoke(event, &arrival.request_id).await
    }

    /// The fields the integration event and the authorizer event share.
    fn common_event(
        &self,
        arrival: &Arrival,
        route: &Route,
        path_params: &BTreeMap<String, String>,
    ) -> Map<String, Value> {
        let (headers, cookies) = event_headers(arrival);
        let host = arrival.headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1").to_owned();
        let domain_prefix = host.split(':').next().unwrap_or("").split('.').next().unwrap_or("").to_owned();
        let user_agent = headers.get("user-agent").cloned().unwrap_or(json!(""));
        let mut event = Map::new();
        event.insert("version".into(), json!("2.0"));
        event.insert("routeKey".into(), json!(route.key()));
        event.insert("rawPath".into(), json!(decode_path(&arrival.raw_path)));
        event.insert("rawQueryString".into(), json!(arrival.query));
        if !cookies.is_empty() {
            event.insert("cookies".into(), json!(cookies));
        }
        event.insert("headers".into(), Value::Object(headers));
        if let Some(query) = query_parameters(&arrival.query) {
            event.insert("queryStringParameters".into(), Value::Object(query));
        }
        if !path_params.is_empty() {
            event.insert("pathParameters".into(), json!(path_params));
        }
        event.insert(
            "requestContext".into(),
            json!({
                "accountId": self.config.account_id,
                "apiId": self.config.api_id,
                "domainName": host,
                "domainPrefix": domain_prefix,
                "http": {
                    "method": arrival.method,
                    "path": decode_path(&arrival.raw_path),
                    "protocol": arrival.protocol,
                    "sourceIp": arrival.source_ip,
                    "userAgent": user_agent,
                },
                "requestId": arrival.request_id,
                "routeKey": route.key(),
                "stage": "$default",
                "time": arrival.at.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
                "timeEpoch": arrival.at.timestamp_millis(),
            }),
        );
        event
    }

    fn http_event(
        &self,
        arrival: &Arrival,
        route: &Route,
        path_params: &BTreeMap<String, String>,
        authorizer: Option<Value>,
    ) -> Value {
        let mut event = self.common_event(arrival, route, path_params);
        if let (Some(authorizer), Some(Value::Object(context))) = (authorizer, event.get_mut("requestContext")) {
            context.insert("authorizer".into(), authorizer);
        }
        if !arrival.body.is_empty() {
            let (body, base64) = match std::str::from_utf8(&arrival.body) {
                Ok(text) => (text.to_owned(), false),
                Err(_) => (base64::engine::general_purpose::STANDARD.encode(&arrival.body), true),
            };
            event.insert("body".into(), json!(body));
            event.insert("isBase64Encoded".into(), json!(base64));
        } else {
            event.insert("isBase64Encoded".into(), json!(false));
        }
        Value::Object(event)
    }

    async fn invoke(&self, event: Value, request_id: &str) -> Response {
        let request = match serde_json::from_value::<ApiGatewayV2httpRequest>(event) {
            Ok(request) => request,
            Err(e) => {
                tracing::error!(request_id, error = %e, "cannot build the payload-2.0 event");
                return gateway_message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error", request_id);
            }
        };
        let answer = self.backend.invoke(request).await;
        to_http_response(answer, request_id)
    }
}

/// `requestContext.authorizer.iam` for a verified key.
fn iam_context(key: &KeyEntry) -> Value {
    json!({
        "accessKey": key.access_key_id,
        "accountId": key.account_id,
        "callerId": key.caller_id,
        "cognitoIdentity": null,
        "principalOrgId": null,
        "userArn": key.principal_arn,
        "userId": key.user_id,
    })
}

/// Lowercased headers with repeated values comma-joined, plus the headers API Gateway adds;
/// `cookie` headers go to the `cookies` list instead.
fn event_headers(arrival: &Arrival) -> (Map<String, Value>, Vec<String>) {
    let mut headers = Map::new();
    let mut cookies = Vec::new();
    for name in arrival.headers.keys() {
        let values: Vec<String> =
            arrival.headers.get_all(name).iter().map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()).collect();
        if name.as_str() == "cookie" {
            cookies.extend(
                values.iter().flat_map(|v| v.split(';')).map(str::trim).filter(|c| !c.is_empty()).map(str::to_owned),
            );
        } else {
            headers.insert(name.as_str().to_owned(), json!(values.join(",")));
        }
    }
    headers.insert("x-forwarded-for".into(), json!(arrival.source_ip));
    headers.insert("x-forwarded-port".into(), json!(arrival.port.to_string()));
    headers.insert("x-forwarded-proto".into(), json!("http"));
    headers
        .entry("x-amzn-trace-id")
        .or_insert_with(|| json!(format!("Root=1-{:08x}-{}", arrival.at.timestamp(), &hex_id(&arrival.request_id))));
    (headers, cookies)
}

fn hex_id(request_id: &str) -> String {
    let mut hex = hex::encode(request_id.as_bytes());
    hex.truncate(24);
    format!("{hex:0<24}")
}

/// Decoded query parameters with repeated names comma-joined, or `None` when there are none:
/// `application/x-www-form-urlencoded` decoding (`+` is a space, `%2B` a plus; a malformed
/// escape stays as it is, bytes that are not UTF-8 become U+FFFD), as API Gateway fills
/// `queryStringParameters`.
fn query_parameters(query: &str) -> Option<Map<String, Value>> {
    let mut params: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        params.entry(name.into_owned()).or_default().push(value.into_owned());
    }
    if params.is_empty() {
        return None;
    }
    Some(params.into_iter().map(|(k, v)| (k, json!(v.join(",")))).collect())
}

/// A path (or path segment) as API Gateway's HTTP API reports it in `rawPath` and
/// `pathParameters`: percent-decoded (`+` stays a plus), lossy where the bytes are not UTF-8.
fn decode_path(raw: &str) -> String {
    percent_encoding::percent_decode_str(raw).decode_utf8_lossy().into_owned()
}

/// A request id like API Gateway's (`Q2xhcmFfcmVxdWVzdA=`), unique per request.
fn new_request_id() -> String {
    let bytes = ulid::Ulid::new().to_bytes();
    base64::engine::general_purpose::STANDARD.encode(&bytes[5..])
}

/// An answer API Gateway itself gives: `{"message": …}`.
fn gateway_message(status: StatusCode, message: &str, request_id: &str) -> Response {
    json_response(status, &json!({ "message": message }), request_id, None)
}

/// 403 `IAM_AUTH_REQUIRED` in the API's error shape with API Gateway's `message` (DESIGN §4).
fn iam_auth_required(error: &sigv4::SigV4Error, request_id: &str) -> Response {
    let message = error.client_message();
    json_response(
        StatusCode::FORBIDDEN,
        &json!({ "Code": "IAM_AUTH_REQUIRED", "Message": message, "message": message }),
        request_id,
        Some(error.aws_error_type()),
    )
}

fn json_response(status: StatusCode, body: &Value, request_id: &str, error_type: Option<&'static str>) -> Response {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("apigw-requestid", id);
    }
    if let Some(error_type) = error_type {
        headers.insert("x-amzn-errortype", HeaderValue::from_static(error_type));
    }
    response
}

/// Writes the integration's answer back; a malformed answer is API Gateway's 500.
fn to_http_response(answer: ApiGatewayV2httpResponse, request_id: &str) -> Response {
    let internal = || gateway_message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error", request_id);
    let Some(status) = u16::try_from(answer.status_code).ok().and_then(|s| StatusCode::from_u16(s).ok()) else {
        tracing::error!(request_id, status = answer.status_code, "the integration answered an invalid status");
        return internal();
    };
    let body = match answer.body {
        None | Some(LambdaBody::Empty) => Vec::new(),
        Some(LambdaBody::Text(text)) if answer.is_base64_encoded => {
            match base64::engine::general_purpose::STANDARD.decode(text.as_bytes()) {
                Ok(bytes) => bytes,
                Err(_) => {
                    tracing::error!(
                        request_id,
                        "the integration answered isBase64Encoded with a body that is not base64"
                    );
                    return internal();
                }
            }
        }
        Some(LambdaBody::Text(text)) => text.into_bytes(),
        Some(LambdaBody::Binary(bytes)) => bytes,
        Some(_) => {
            tracing::error!(request_id, "the integration answered a body of an unknown kind");
            return internal();
        }
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    for (name, value) in answer.multi_value_headers.iter() {
        headers.append(name.clone(), value.clone());
    }
    for (name, value) in answer.headers.iter() {
        headers.insert(name.clone(), value.clone());
    }
    for cookie in &answer.cookies {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            headers.append(HeaderName::from_static("set-cookie"), value);
        }
    }
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("apigw-requestid", id);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_parameters_are_read_from_the_template_and_percent_decoded() {
        let params = path_parameters("/requests/{id}/approve", "/requests/caf%C3%A9%20x+y/approve");
        assert_eq!(params.len(), 1);
        assert_eq!(params["id"], "café x+y");
        assert!(path_parameters("/requests", "/requests").is_empty());
    }

    #[test]
    fn invalid_templates_are_refused() {
        for path in ["requests", "/a//b", "/{proxy+}", "/a{b}", "/{}"] {
            let result = validate_routes(&[Route::new("GET", path, Auth::None)]);
            assert!(matches!(result, Err(GatewayError::InvalidRoute { .. })), "{path}");
        }
        let twice = validate_routes(&[Route::new("GET", "/a", Auth::None), Route::new("GET", "/a", Auth::Iam)]);
        assert!(matches!(twice, Err(GatewayError::DuplicateRoute(_))));
    }

    #[test]
    fn repeated_query_names_are_comma_joined_and_decoded() {
        let params = query_parameters("a=1&b=x%20y&a=2&c&d=%E2%9C%93+z").unwrap();
        assert_eq!(params["a"], "1,2");
        assert_eq!(params["b"], "x y");
        assert_eq!(params["c"], "");
        assert_eq!(params["d"], "✓ z");
        assert!(query_parameters("").is_none());
    }

    #[test]
    fn a_plus_is_a_space_and_an_escaped_plus_is_a_plus() {
        let params = query_parameters("reason=a+b%2B").unwrap();
        assert_eq!(params["reason"], "a b+");
    }

    #[test]
    fn request_ids_are_unique_and_shaped_like_api_gateways() {
        let a = new_request_id();
        let b = new_request_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 16);
        assert!(a.ends_with('='));
    }
}
