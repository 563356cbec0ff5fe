//! The HTTP API's route table: each route's method, path, authorization and handler, declared
//! once. The TVM dispatches from it, the local gateway registers from it, and a drift test
//! compares it with `terraform/`.

use std::future::Future;
use std::pin::Pin;

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};

use crate::error::ApiError;
use crate::workflow::{admin, approvals, breakglass, refresh, sessions};
use crate::{vend, Deps};

/// How API Gateway authorizes a route (an HTTP API route has exactly one type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// No authorization (`GET /health`).
    None,
    /// SigV4, the caller in `requestContext.authorizer.iam`.
    Iam,
    /// The revocation authorizer (Lambda REQUEST authorizer, simple responses, TTL 0).
    Custom,
}

/// What a route's handler returns.
pub type Reply<'a> = Pin<Box<dyn Future<Output = Result<ApiGatewayV2httpResponse, ApiError>> + Send + 'a>>;

/// A route's handler.
pub type Handler = for<'a> fn(&'a Deps, &'a ApiGatewayV2httpRequest) -> Reply<'a>;

/// One route: method, path template (`{id}` parameters), authorization and handler.
#[derive(Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub auth: Auth,
    pub handler: Handler,
}

impl Route {
    /// API Gateway's route key, e.g. `GET /requests/{id}`.
    pub fn key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("auth", &self.auth)
            .finish()
    }
}

/// Declares a route whose handler is the async fn `$handler(&Deps, &ApiGatewayV2httpRequest)`.
macro_rules! route {
    ($method:literal, $path:literal, $auth:ident, $handler:path) => {{
        fn handler<'a>(deps: &'a Deps, request: &'a ApiGatewayV2httpRequest) -> Reply<'a> {
            Box::pin($handler(deps, request))
        }
        Route { method: $method, path: $path, auth: Auth::$auth, handler }
    }};
}

/// Every route of the HTTP API (docs/contract.md §4).
pub const ROUTES: &[Route] = &[
    route!("GET", "/", Iam, vend::vend),
    route!("POST", "/", Iam, vend::vend),
    route!("GET", "/credentials", Custom, refresh::refresh),
    route!("GET", "/health", None, crate::health),
    route!("GET", "/profiles", Iam, crate::profiles),
    route!("GET", "/whoami", Iam, crate::whoami),
    route!("POST", "/requests", Iam, approvals::create),
    route!("GET", "/requests", Iam, approvals::list),
    route!("GET", "/requests/{id}", Iam, approvals::show),
    route!("POST", "/requests/{id}/approve", Iam, approvals::approve),
    route!("POST", "/requests/{id}/deny", Iam, approvals::deny),
    route!("POST", "/requests/{id}/cancel", Iam, approvals::cancel),
    route!("POST", "/requests/{id}/revoke", Iam, approvals::revoke),
    route!("POST", "/breakglass", Iam, breakglass::invoke),
    route!("GET", "/breakglass", Iam, breakglass::list),
    route!("GET", "/breakglass/{id}", Iam, breakglass::show),
    route!("POST", "/breakglass/{id}/close", Iam, breakglass::close),
    route!("GET", "/sessions", Iam, sessions::list),
    route!("GET", "/sessions/{id}", Iam, sessions::show),
    route!("POST", "/sessions/{id}/revoke", Iam, sessions::revoke),
    route!("PUT", "/policies/{profile}", Iam, admin::put_policy),
    route!("GET", "/audit", Iam, admin::audit),
];

/// The route API Gateway matched (`routeKey`); for an event without one (a hand-made test
/// event), the route whose template is the raw path itself.
pub fn find(request: &ApiGatewayV2httpRequest) -> Option<&'static Route> {
    let method = request.request_context.http.method.as_str();
    match request.route_key.as_deref() {
        Some(key) if key != "$default" => ROUTES.iter().find(|r| r.key() == key),
        _ => {
            let path = request.raw_path.as_deref().unwrap_or("/");
            ROUTES.iter().find(|r| r.method == method && r.path == path)
        }
    }
}
