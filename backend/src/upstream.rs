//! The HTTP client for GipoNext API calls: one request, one whole answer.
//!
//! Every proxied call goes through here, so its cost is the proxy hop's cost.
//! A bare hyper client (connection pool, HTTP/1.1, rustls with the webpki
//! roots, as reqwest is configured) costs about 40 µs less CPU per call than
//! reqwest on the proxy benchmark (README, Performance → Proxy hop); reqwest
//! adds URL re-parsing, redirect, retry, cookie and proxy layers the proxy
//! never uses.
//!
//! When an outbound HTTP proxy applies to the API (`HTTPS_PROXY`,
//! `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY`, read once at start with the
//! same rules reqwest applies), calls go through reqwest, which speaks to
//! proxies; the rest of the backend (the provider's client) honours the same
//! variables, so a clinic behind a proxy gets both or neither.
//!
//! # Security
//! No redirect is followed (a 3xx is passed back as is), nothing is retried
//! (a write is sent once), and the token goes only in the `Authorization`
//! header of the one request.

use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::oidc::error_chain;
use crate::types::Secret;

/// Largest answer read; a larger one is an error, not a truncated body.
pub const MAX_RESPONSE_BYTES: usize = 8 << 20;

/// One API request.
pub struct ApiRequest<'a> {
    /// GET, POST, PUT or DELETE.
    pub method: Method,
    /// The absolute API URL.
    pub uri: Uri,
    /// The user's access token.
    pub token: &'a Secret,
    /// The body's type, forwarded with a body.
    pub content_type: Option<HeaderValue>,
    /// The body (empty for GET and DELETE).
    pub body: Bytes,
}

impl<'a> ApiRequest<'a> {
    /// A GET of `uri` with `token`.
    pub fn get(uri: Uri, token: &'a Secret) -> Self {
        ApiRequest {
            method: Method::GET,
            uri,
            token,
            content_type: None,
            body: Bytes::new(),
        }
    }
}

/// GipoNext's whole answer.
#[derive(Debug)]
pub struct ApiResponse {
    /// The status.
    pub status: StatusCode,
    /// `Content-Type`, if any.
    pub content_type: Option<HeaderValue>,
    /// `Retry-After`, if any and readable.
    pub retry_after: Option<String>,
    /// The body, at most [`MAX_RESPONSE_BYTES`].
    pub body: Bytes,
}

/// Why a call got no answer.
#[derive(Debug, thiserror::Error)]
pub enum ApiCallError {
    /// No whole answer within the upstream timeout.
    #[error("GipoNext did not answer in time")]
    Timeout,
    /// The answer is larger than [`MAX_RESPONSE_BYTES`].
    #[error("GipoNext answer too large")]
    TooLarge,
    /// Connection, TLS or protocol failure (no URL, no token in the text).
    #[error("GipoNext unreachable: {0}")]
    Unreachable(String),
}

impl From<ApiCallError> for crate::AppError {
    fn from(e: ApiCallError) -> Self {
        match e {
            ApiCallError::Timeout => crate::AppError::UpstreamTimeout,
            other => crate::AppError::UpstreamUnavailable(other.to_string()),
        }
    }
}

type Direct = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The API client: a bare hyper client, or reqwest when a proxy applies.
#[derive(Clone)]
pub struct ApiClient {
    transport: Transport,
    timeout: Duration,
}

#[derive(Clone)]
enum Transport {
    Direct(Direct),
    ViaProxy(reqwest::Client),
}

impl ApiClient {
    /// A client for `api_base`, with `timeout` for each whole call; through
    /// reqwest if the environment's proxy settings apply to `api_base`.
    pub fn new(api_base: &Uri, timeout: Duration) -> anyhow::Result<Self> {
        let proxied = hyper_util::client::proxy::matcher::Matcher::from_system()
            .intercept(api_base)
            .is_some();
        let transport = if proxied {
            Transport::ViaProxy(
                reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .retry(reqwest::retry::never())
                    .build()?,
            )
        } else {
            Transport::Direct(direct_client()?)
        };
        Ok(ApiClient { transport, timeout })
    }

    /// Whether calls go through an outbound proxy.
    pub fn via_proxy(&self) -> bool {
        matches!(self.transport, Transport::ViaProxy(_))
    }

    /// Sends `request` once and reads the whole answer, all within the
    /// timeout.
    pub async fn call(&self, request: ApiRequest<'_>) -> Result<ApiResponse, ApiCallError> {
        let call = async {
            match &self.transport {
                Transport::Direct(client) => call_direct(client, request).await,
                Transport::ViaProxy(client) => call_via_reqwest(client, request).await,
            }
        };
        tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|_| ApiCallError::Timeout)?
    }
}

fn direct_client() -> Result<Direct, rustls::Error> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))?
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .retry_canceled_requests(false)
        .build(connector))
}

async fn call_direct(
    client: &Direct,
    request: ApiRequest<'_>,
) -> Result<ApiResponse, ApiCallError> {
    let mut bearer = HeaderValue::try_from(format!("Bearer {}", request.token.expose()))
        .map_err(|_| ApiCallError::Unreachable("the access token is not a header value".into()))?;
    bearer.set_sensitive(true);
    let mut builder = http::Request::builder()
        .method(request.method)
        .uri(request.uri)
        .header(header::AUTHORIZATION, bearer)
        .header(header::ACCEPT, HeaderValue::from_static("application/json"));
    if let Some(ct) = request.content_type {
        builder = builder.header(header::CONTENT_TYPE, ct);
    }
    let http_request = builder
        .body(Full::new(request.body))
        .map_err(|e| ApiCallError::Unreachable(format!("invalid request: {e}")))?;
    let response = client
        .request(http_request)
        .await
        .map_err(|e| ApiCallError::Unreachable(error_chain(&e)))?;
    read_answer(response).await
}

async fn call_via_reqwest(
    client: &reqwest::Client,
    request: ApiRequest<'_>,
) -> Result<ApiResponse, ApiCallError> {
    let unreachable = |e: reqwest::Error| ApiCallError::Unreachable(error_chain(&e.without_url()));
    let mut builder = client
        .request(request.method, request.uri.to_string())
        .bearer_auth(request.token.expose())
        .header(header::ACCEPT, "application/json");
    if let Some(ct) = request.content_type {
        builder = builder.header(header::CONTENT_TYPE, ct);
    }
    if !request.body.is_empty() {
        builder = builder.body(request.body);
    }
    let response = builder.send().await.map_err(unreachable)?;
    read_answer(http::Response::from(response)).await
}

/// The status, the headers the proxy uses, and the body up to
/// [`MAX_RESPONSE_BYTES`], whichever transport brought them.
async fn read_answer<B>(response: http::Response<B>) -> Result<ApiResponse, ApiCallError>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (parts, body) = response.into_parts();
    let body = Limited::new(body, MAX_RESPONSE_BYTES)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                ApiCallError::TooLarge
            } else {
                ApiCallError::Unreachable(format!(
                    "reading the answer failed: {}",
                    error_chain(&*e)
                ))
            }
        })?
        .to_bytes();
    Ok(ApiResponse {
        status: parts.status,
        content_type: parts.headers.get(header::CONTENT_TYPE).cloned(),
        retry_after: parts
            .headers
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::Router;
    use axum::http::HeaderMap;
    use axum::response::IntoResponse;
    use axum::routing::{get, post};

    use super::*;

    const TOKEN: &str = "token-that-must-stay-in-the-header";

    /// A stand-in API; counts the writes it receives.
    async fn api() -> (String, Arc<AtomicUsize>) {
        let writes = Arc::new(AtomicUsize::new(0));
        let counted = writes.clone();
        let app = Router::new()
            .route(
                "/v2/echo",
                get(|headers: HeaderMap| async move {
                    let auth = headers.get("authorization").cloned();
                    let accept = headers.get("accept").cloned();
                    (
                        [(header::CONTENT_TYPE, "application/json")],
                        format!("{auth:?} {accept:?}"),
                    )
                }),
            )
            .route(
                "/v2/write",
                post(move |headers: HeaderMap, body: Bytes| async move {
                    counted.fetch_add(1, Ordering::SeqCst);
                    let ct = headers.get("content-type").cloned();
                    format!("{ct:?} {}", String::from_utf8_lossy(&body))
                }),
            )
            .route(
                "/v2/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late"
                }),
            )
            .route(
                "/v2/big",
                get(|| async { vec![b'x'; MAX_RESPONSE_BYTES + 1] }),
            )
            .route(
                "/v2/moved",
                get(|| async { (StatusCode::FOUND, [(header::LOCATION, "/v2/echo")]) }),
            )
            .route(
                "/v2/busy",
                get(|| async {
                    (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, "7")]).into_response()
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}"), writes)
    }

    /// Both transports, so the proxied path keeps the same semantics.
    fn clients() -> [(&'static str, ApiClient); 2] {
        let timeout = Duration::from_millis(500);
        [
            (
                "direct",
                ApiClient {
                    transport: Transport::Direct(direct_client().expect("TLS setup")),
                    timeout,
                },
            ),
            (
                "reqwest",
                ApiClient {
                    transport: Transport::ViaProxy(
                        reqwest::Client::builder()
                            .no_proxy()
                            .redirect(reqwest::redirect::Policy::none())
                            .retry(reqwest::retry::never())
                            .build()
                            .expect("client"),
                    ),
                    timeout,
                },
            ),
        ]
    }

    fn get_request<'a>(base: &str, path: &str, token: &'a Secret) -> ApiRequest<'a> {
        ApiRequest::get(Uri::try_from(format!("{base}{path}")).expect("uri"), token)
    }

    #[tokio::test]
    async fn both_transports_answer_alike() {
        let (base, writes) = api().await;
        let token = Secret::new(TOKEN);
        for (name, client) in clients() {
            let echo = client
                .call(get_request(&base, "/v2/echo", &token))
                .await
                .expect(name);
            assert_eq!(echo.status, StatusCode::OK, "{name}");
            assert_eq!(
                echo.content_type.as_ref().map(|v| v.as_bytes()),
                Some(&b"application/json"[..]),
                "{name}"
            );
            assert_eq!(
                String::from_utf8_lossy(&echo.body),
                format!("Some(\"Bearer {TOKEN}\") Some(\"application/json\")"),
                "{name}: the token as a bearer, JSON accepted"
            );

            let before = writes.load(Ordering::SeqCst);
            let written = client
                .call(ApiRequest {
                    method: Method::POST,
                    uri: Uri::try_from(format!("{base}/v2/write")).expect("uri"),
                    token: &token,
                    content_type: Some(HeaderValue::from_static("application/json")),
                    body: Bytes::from_static(b"{\"a\":1}"),
                })
                .await
                .expect(name);
            assert_eq!(
                String::from_utf8_lossy(&written.body),
                "Some(\"application/json\") {\"a\":1}",
                "{name}"
            );
            assert_eq!(
                writes.load(Ordering::SeqCst),
                before + 1,
                "{name}: sent once"
            );

            let moved = client
                .call(get_request(&base, "/v2/moved", &token))
                .await
                .expect(name);
            assert_eq!(moved.status, StatusCode::FOUND, "{name}: never followed");

            let busy = client
                .call(get_request(&base, "/v2/busy", &token))
                .await
                .expect(name);
            assert_eq!(busy.status, StatusCode::TOO_MANY_REQUESTS, "{name}");
            assert_eq!(busy.retry_after.as_deref(), Some("7"), "{name}");
        }
    }

    #[tokio::test]
    async fn a_slow_answer_is_a_timeout_and_a_huge_one_is_refused() {
        let (base, _) = api().await;
        let token = Secret::new(TOKEN);
        for (name, client) in clients() {
            let started = std::time::Instant::now();
            let slow = client.call(get_request(&base, "/v2/slow", &token)).await;
            assert!(
                matches!(slow, Err(ApiCallError::Timeout)),
                "{name}: {slow:?}"
            );
            assert!(started.elapsed() < Duration::from_secs(3), "{name}");

            let big = client.call(get_request(&base, "/v2/big", &token)).await;
            assert!(
                matches!(big, Err(ApiCallError::TooLarge)),
                "{name}: {big:?}"
            );
        }
    }

    #[tokio::test]
    async fn an_unreachable_api_is_named_without_url_or_token() {
        // A port that was free a moment ago: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let base = format!("http://127.0.0.1:{port}");
        let token = Secret::new(TOKEN);
        for (name, client) in clients() {
            let err = client
                .call(get_request(&base, "/v2/echo?secret-query=1", &token))
                .await
                .expect_err(name);
            let text = err.to_string();
            assert!(
                matches!(err, ApiCallError::Unreachable(_)),
                "{name}: {text}"
            );
            assert!(
                text.contains("onnect"),
                "{name}: the cause is named: {text}"
            );
            for leak in [TOKEN, "secret-query", "/v2/echo"] {
                assert!(!text.contains(leak), "{name}: {leak} in {text}");
            }
        }
    }

    #[test]
    fn https_is_spoken_to_an_https_api() {
        // The connector accepts both schemes; an https URL is not sent in
        // clear (it fails the TLS handshake against a plain server).
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let (base, _) = api().await;
            let https = base.replacen("http://", "https://", 1);
            let token = Secret::new(TOKEN);
            let (_, client) = clients().into_iter().next().expect("direct");
            let err = client
                .call(get_request(&https, "/v2/echo", &token))
                .await
                .expect_err("a plain server cannot complete a TLS handshake");
            assert!(matches!(err, ApiCallError::Unreachable(_)), "{err}");
        });
    }
}
