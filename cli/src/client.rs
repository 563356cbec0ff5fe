//! The HTTP API client: requests signed with SigV4 (service `execute-api`) using the standard
//! AWS credential chain (every provider on, `--aws-profile` choosing the profile), over rustls (https) or plain http to loopback (the local gateway),
//! with timeouts. Error answers become [`ApiFailure`]s, network trouble a [`LocalFailure`].

use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::OnceCell;

use crate::failure::{exit, ApiFailure, LocalFailure};

/// The service name API Gateway verifies signatures for.
pub const SERVICE: &str = "execute-api";
/// How long one request may take, connection included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long connecting may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Error bodies and answers larger than this are refused.
const MAX_BODY: usize = 16 * 1024 * 1024;

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

/// An answer of the API.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

impl Response {
    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
    }

    /// The body as JSON.
    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_slice(&self.body).context("the API's answer is not JSON")
    }
}

/// The base URL of the API, checked once.
#[derive(Debug, Clone)]
pub struct BaseUrl {
    scheme: String,
    authority: String,
    /// A stage path such as `/prod`, without a trailing slash (may be empty).
    prefix: String,
}

impl BaseUrl {
    /// Accepts `https://…` anywhere and `http://…` only to loopback (the local gateway), so
    /// vended credentials never cross a network in clear text.
    pub fn parse(text: &str) -> Result<BaseUrl, LocalFailure> {
        let bad = |why: &str| {
            LocalFailure::usage(format!("invalid --remote-server {text:?}: {why}"))
                .hint("Pass the API's base URL, e.g. https://abc123.execute-api.eu-west-1.amazonaws.com, or set SENTINEL_TVM_URL.")
        };
        let uri: Uri = text.trim().parse().map_err(|_| bad("not a URL"))?;
        let scheme = uri.scheme_str().ok_or_else(|| bad("no scheme (http:// or https://)"))?.to_ascii_lowercase();
        let authority = uri.authority().ok_or_else(|| bad("no host"))?.clone();
        if uri.query().is_some() {
            return Err(bad("a query string is not allowed"));
        }
        let host = authority.host().trim_start_matches('[').trim_end_matches(']');
        let loopback = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
        match scheme.as_str() {
            "https" => {}
            "http" if loopback => {}
            "http" => return Err(bad("plain http is only allowed to 127.0.0.1 or localhost; use https")),
            _ => return Err(bad("the scheme must be https (or http to loopback)")),
        }
        if authority.as_str().contains('@') {
            return Err(bad("user information is not allowed"));
        }
        let prefix = uri.path().trim_end_matches('/').to_owned();
        Ok(BaseUrl { scheme, authority: authority.as_str().to_owned(), prefix })
    }

    /// The full URL of `path` (starting with `/`) with an encoded query.
    pub fn join(&self, path: &str, query: &[(&str, String)]) -> String {
        let mut url = format!("{}://{}{}{}", self.scheme, self.authority, self.prefix, path);
        if !query.is_empty() {
            let pairs: Vec<String> = query.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect();
            url.push('?');
            url.push_str(&pairs.join("&"));
        }
        url
    }

    /// The region in an `execute-api` host name (`<id>.execute-api.<region>.amazonaws.com`).
    pub fn region_hint(&self) -> Option<String> {
        let host = self.authority.split(':').next()?;
        let mut parts = host.split('.');
        let (_, service, region) = (parts.next()?, parts.next()?, parts.next()?);
        (service == "execute-api").then(|| region.to_owned())
    }

    /// The URL as given (scheme, host and stage).
    pub fn display(&self) -> String {
        format!("{}://{}{}", self.scheme, self.authority, self.prefix)
    }
}

/// RFC 3986 percent-encoding of everything but the unreserved characters (what SigV4 expects).
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The caller's own AWS configuration: the SDK's default chain with every credential provider
/// (environment, shared files, `credential_process`, IAM Identity Center from the token cache
/// of `aws sso login`, web identity, container and instance metadata). `profile` is
/// `--aws-profile` (else the SDK reads `AWS_PROFILE`); `region` is `--region`.
pub async fn aws_config(region: Option<&str>, profile: Option<&str>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(profile) = profile {
        loader = loader.profile_name(profile);
    }
    if let Some(region) = region {
        loader = loader.region(Region::new(region.to_owned()));
    }
    loader.load().await
}

/// A client of one API deployment.
pub struct Client {
    base: BaseUrl,
    http: hyper_util::client::legacy::Client<Https, Full<Bytes>>,
    region_flag: Option<String>,
    aws_profile: Option<String>,
    signer: OnceCell<(String, SharedCredentialsProvider)>,
}

impl Client {
    /// A client for `url`; credentials (from `aws_profile` when given) and region are resolved
    /// on the first signed request.
    pub fn new(url: &str, region_flag: Option<&str>, aws_profile: Option<&str>) -> Result<Client> {
        let base = BaseUrl::parse(url)?;
        let mut connector = HttpConnector::new();
        connector.enforce_http(false);
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        connector.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
            .context("cannot load the system's TLS root certificates")?
            .https_or_http()
            .enable_http1()
            .wrap_connector(connector);
        let http = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(https);
        Ok(Client {
            base,
            http,
            region_flag: region_flag.map(str::to_owned),
            aws_profile: aws_profile.map(str::to_owned),
            signer: OnceCell::new(),
        })
    }

    /// The API's base URL.
    pub fn base(&self) -> &BaseUrl {
        &self.base
    }

    /// Region and credentials: `--region`, else the region in an execute-api host name, else
    /// AWS_REGION and the AWS config; credentials from the default chain.
    async fn signer(&self) -> Result<&(String, SharedCredentialsProvider)> {
        self.signer
            .get_or_try_init(|| async {
                let config = aws_config(None, self.aws_profile.as_deref()).await;
                let region = self
                    .region_flag
                    .clone()
                    .or_else(|| self.base.region_hint())
                    .or_else(|| config.region().map(|r| r.as_ref().to_owned()))
                    .ok_or_else(|| {
                        LocalFailure::usage("no AWS region: requests to the API are signed for its region")
                            .hint("Pass --region or set AWS_REGION.")
                    })?;
                let provider = config.credentials_provider().ok_or_else(|| {
                    LocalFailure::new("NO_CREDENTIALS", exit::DENIED, "no AWS credentials provider is configured")
                })?;
                Ok::<_, anyhow::Error>((region, provider))
            })
            .await
    }

    /// The region requests are signed for (and the command of `exec` is given).
    pub async fn region(&self) -> Result<String> {
        Ok(self.signer().await?.0.clone())
    }

    /// Sends a SigV4-signed request; a non-2xx answer is an [`ApiFailure`].
    pub async fn signed(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<Response> {
        let (region, provider) = self.signer().await?;
        let credentials = provider.provide_credentials().await.map_err(|e| {
            LocalFailure::new(
                "NO_CREDENTIALS",
                exit::DENIED,
                format!("cannot load your AWS credentials: {}", DisplayErrorContext(&e)),
            )
            .hint("Configure AWS credentials (--aws-profile or AWS_PROFILE, `aws configure`, `aws sso login`, or environment variables) for the account that hosts Sentinel.")
        })?;
        let url = self.base.join(path, query);
        let (content_type, bytes) = match body {
            Some((content_type, bytes)) => (Some(content_type), bytes),
            None => (None, Vec::new()),
        };
        let mut builder = Request::builder().method(method.clone()).uri(&url).header("accept", "application/json");
        if let Some(content_type) = content_type {
            builder = builder.header("content-type", content_type);
        }
        builder = builder.header("user-agent", concat!("sentinel-cli/", env!("CARGO_PKG_VERSION")));
        let mut request = builder.body(Full::new(Bytes::from(bytes.clone()))).context("cannot build the request")?;
        let identity: Identity = credentials.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name(SERVICE)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .context("cannot prepare the request signature")?
            .into();
        let headers: Vec<(String, String)> = request
            .headers()
            .iter()
            .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_owned(), v.to_owned())))
            .collect();
        let signable = SignableRequest::new(
            method.as_str(),
            url.as_str(),
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(&bytes),
        )
        .context("cannot sign the request")?;
        let (instructions, _) = sign(signable, &params).context("cannot sign the request")?.into_parts();
        instructions.apply_to_request_http1x(&mut request);
        let response = self.send(request).await?;
        if (200..300).contains(&response.status) {
            Ok(response)
        } else {
            Err(ApiFailure::from_response(response.status, &response.body, response.header("retry-after")).into())
        }
    }

    /// A signed request whose answer must be JSON.
    pub async fn json(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<serde_json::Value>,
    ) -> Result<serde_json::Value> {
        let body = body.map(|b| ("application/json", b.to_string().into_bytes()));
        self.signed(method, path, query, body).await?.json()
    }

    /// An unsigned GET with a raw `Authorization` value (the session token on `/credentials`);
    /// the answer is returned whatever its status.
    pub async fn get_with_token(&self, path: &str, token: &str) -> Result<Response> {
        let request = Request::builder()
            .method(Method::GET)
            .uri(self.base.join(path, &[]))
            .header("authorization", token)
            .header("accept", "application/json")
            .header("user-agent", concat!("sentinel-cli/", env!("CARGO_PKG_VERSION")))
            .body(Full::new(Bytes::new()))
            .context("cannot build the request")?;
        self.send(request).await
    }

    async fn send(&self, request: Request<Full<Bytes>>) -> Result<Response> {
        let unreachable = |why: String| {
            LocalFailure::unavailable(format!("cannot reach the Sentinel API at {}: {why}", self.base.display()))
                .hint("Check --remote-server / SENTINEL_TVM_URL and your network, then retry.")
        };
        let exchange = async {
            let response = self.http.request(request).await.map_err(|e| unreachable(error_chain(&e)))?;
            let (parts, body) = response.into_parts();
            let body = http_body_util::Limited::new(body, MAX_BODY)
                .collect()
                .await
                .map_err(|e| unreachable(format!("reading the answer failed: {e}")))?
                .to_bytes();
            Ok::<_, LocalFailure>(Response { status: parts.status.as_u16(), headers: parts.headers, body })
        };
        match tokio::time::timeout(REQUEST_TIMEOUT, exchange).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(unreachable(format!("no answer within {} s", REQUEST_TIMEOUT.as_secs())).into()),
        }
    }
}

/// An error and its sources on one line (hyper's top-level message alone says little).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(e) = source {
        let text = e.to_string();
        if !parts.contains(&text) {
            parts.push(text);
        }
        source = e.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_refused_except_to_loopback() {
        assert!(BaseUrl::parse("http://127.0.0.1:8787").is_ok());
        assert!(BaseUrl::parse("http://localhost:8787/").is_ok());
        assert!(BaseUrl::parse("https://abc.execute-api.eu-west-1.amazonaws.com/prod").is_ok());
        assert!(BaseUrl::parse("http://api.example.com").is_err());
        assert!(BaseUrl::parse("ftp://127.0.0.1").is_err());
        assert!(BaseUrl::parse("127.0.0.1:8787").is_err());
    }

    #[test]
    fn stage_paths_and_queries_are_joined_and_encoded() {
        let base = BaseUrl::parse("https://abc.execute-api.eu-west-1.amazonaws.com/prod/").unwrap();
        assert_eq!(
            base.join("/", &[("profile", "dev".into()), ("reason", "fix #42 & more".into())]),
            "https://abc.execute-api.eu-west-1.amazonaws.com/prod/?profile=dev&reason=fix%20%2342%20%26%20more"
        );
        assert_eq!(base.region_hint().as_deref(), Some("eu-west-1"));
        assert_eq!(BaseUrl::parse("http://127.0.0.1:1").unwrap().region_hint(), None);
    }
}
