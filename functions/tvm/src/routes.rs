//! The HTTP API's routes and their authorization types: the one list Terraform, the local
//! gateway and the handlers agree on (a drift test compares it with `terraform/`).

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

/// One route: method, path template (`{id}` parameters) and authorization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub auth: Auth,
}

impl Route {
    /// API Gateway's route key, e.g. `GET /requests/{id}`.
    pub fn key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

const fn route(method: &'static str, path: &'static str, auth: Auth) -> Route {
    Route { method, path, auth }
}

/// Every route of the HTTP API (DESIGN §4).
pub const ROUTES: &[Route] = &[
    route("GET", "/", Auth::Iam),
    route("POST", "/", Auth::Iam),
    route("GET", "/credentials", Auth::Custom),
    route("GET", "/health", Auth::None),
    route("GET", "/profiles", Auth::Iam),
    route("GET", "/whoami", Auth::Iam),
    route("POST", "/requests", Auth::Iam),
    route("GET", "/requests", Auth::Iam),
    route("GET", "/requests/{id}", Auth::Iam),
    route("POST", "/requests/{id}/approve", Auth::Iam),
    route("POST", "/requests/{id}/deny", Auth::Iam),
    route("POST", "/requests/{id}/cancel", Auth::Iam),
    route("POST", "/breakglass", Auth::Iam),
    route("GET", "/breakglass", Auth::Iam),
    route("GET", "/breakglass/{id}", Auth::Iam),
    route("POST", "/breakglass/{id}/close", Auth::Iam),
    route("GET", "/sessions", Auth::Iam),
    route("GET", "/sessions/{id}", Auth::Iam),
    route("POST", "/sessions/{id}/revoke", Auth::Iam),
    route("PUT", "/policies/{profile}", Auth::Iam),
    route("GET", "/audit", Auth::Iam),
];
