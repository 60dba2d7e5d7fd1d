//! Every HTTP call of the console, and nothing else.
//!
//! The console never sees a token: it reads `GET /api/session`, calls the
//! GipoNext API through the backend at `/api/giponext/v2/...`, and signs out
//! with `POST /auth/logout`. Every call is same-origin with cookies, and every
//! call carries the anti-CSRF header the backend requires.
//!
//! # Security
//! The `X-CSRF: 1` header cannot be set by a cross-site form or a simple
//! request, so the backend refuses any state-changing call without it
//! (OAuth 2.0 for Browser-Based Applications, BFF section).

use giponext_shared::Scope;
use giponext_shared::api::{ApiError, FieldError};
use giponext_shared::session::{Problem, ProblemType, SessionInfo};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use leptos::prelude::{Get, LocalResource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, RequestCredentials, RequestInit, Response};

/// Where the backend proxies the GipoNext API.
pub const API_PREFIX: &str = "/api/giponext";

/// Why a call failed, typed so views can react to each case.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Failure {
    /// A backend problem document (`application/problem+json`): a missing
    /// scope, a permission, a lost session...
    #[error("{}", .0.title)]
    Problem(Problem),
    /// An error of the GipoNext API passed through (404, 409, 422, 429...).
    #[error("{}: {}", .error.error, .error.message)]
    Api {
        /// HTTP status.
        status: u16,
        /// The API's error body.
        error: ApiError,
    },
    /// A status with a body we could not read.
    #[error("HTTP {0}")]
    Http(u16),
    /// The request did not reach the backend.
    #[error("network error: {0}")]
    Network(String),
    /// The answer was not the JSON we expected.
    #[error("unexpected answer: {0}")]
    Decode(String),
}

impl Failure {
    /// The problem type, when the backend sent a problem document.
    pub fn problem_type(&self) -> Option<ProblemType> {
        match self {
            Failure::Problem(p) => Some(p.kind),
            _ => None,
        }
    }

    /// The per-field errors of a 422 answer.
    pub fn field_errors(&self) -> &[FieldError] {
        match self {
            Failure::Api { error, .. } => &error.fields,
            _ => &[],
        }
    }

    /// The message for one field of a 422 answer, in the console's
    /// language.
    pub fn field_error(&self, field: &str) -> Option<String> {
        self.field_errors()
            .iter()
            .find(|f| f.field == field)
            .map(crate::i18n::field_message)
    }

    /// Whether retrying the same call may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Failure::Network(_) | Failure::Http(_) => true,
            Failure::Problem(p) => matches!(
                p.kind,
                ProblemType::UpstreamUnavailable
                    | ProblemType::UpstreamTimeout
                    | ProblemType::RateLimited
                    | ProblemType::SessionUnavailable
                    | ProblemType::Internal
            ),
            Failure::Api { status, .. } => *status == 429 || *status >= 500,
            Failure::Decode(_) => false,
        }
    }
}

/// The answer of `POST /auth/logout`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct LogoutAnswer {
    /// The provider's end-session URL, to navigate to; absent when the
    /// provider has none.
    #[serde(default)]
    pub end_session_url: Option<String>,
}

/// `/auth/login?scope=...&return_to=...`: a full-page navigation that asks
/// for `scopes` (none: the first, essential sign-in) and comes back to
/// `return_to`.
pub fn login_url(scopes: &[Scope], return_to: &str) -> String {
    let mut url = String::from("/auth/login?");
    if !scopes.is_empty() {
        let wire = scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        url.push_str("scope=");
        url.push_str(&urlencoding::encode(&wire));
        url.push('&');
    }
    url.push_str("return_to=");
    url.push_str(&urlencoding::encode(return_to));
    url
}

/// `GET /api/session`.
pub async fn session() -> Result<SessionInfo, Failure> {
    request("GET", "/api/session", None).await
}

/// `POST /auth/logout`; with `switch_user` ("Cambia utente") the backend
/// also has the provider ask for a password at the next sign-in.
pub async fn logout(switch_user: bool) -> Result<LogoutAnswer, Failure> {
    let body = switch_user.then(|| r#"{"switch_user":true}"#.to_owned());
    request("POST", "/auth/logout", body).await
}

/// A call to the backend's own routes (e.g. `/api/sessions`); the answer's
/// text.
pub async fn backend(method: &str, url: &str) -> Result<String, Failure> {
    exchange(method, url, None).await
}

/// `GET {API_PREFIX}{path}`, e.g. `path` = `/v2/tenants/t/patients?limit=20`.
pub async fn get<T: DeserializeOwned>(path: &str) -> Result<T, Failure> {
    request("GET", &format!("{API_PREFIX}{path}"), None).await
}

/// `POST` a JSON body.
pub async fn post<B: Serialize, T: DeserializeOwned>(path: &str, body: &B) -> Result<T, Failure> {
    let json = serde_json::to_string(body).map_err(|e| Failure::Decode(e.to_string()))?;
    request("POST", &format!("{API_PREFIX}{path}"), Some(json)).await
}

/// `PUT` a JSON body.
pub async fn put<B: Serialize, T: DeserializeOwned>(path: &str, body: &B) -> Result<T, Failure> {
    let json = serde_json::to_string(body).map_err(|e| Failure::Decode(e.to_string()))?;
    request("PUT", &format!("{API_PREFIX}{path}"), Some(json)).await
}

/// `DELETE`; the body of the answer, if any, is ignored.
pub async fn delete(path: &str) -> Result<(), Failure> {
    exchange("DELETE", &format!("{API_PREFIX}{path}"), None)
        .await
        .map(|_| ())
}

/// A list or record read from the API, re-read when the signals its path
/// reads change.
///
/// Every view reads through this one type: a `LocalResource` per response
/// type would compile the whole async machinery once per type, and the
/// bundle has a size budget. The body is kept as text and parsed where it
/// is shown.
#[derive(Clone, Copy)]
pub struct ApiResource(LocalResource<Result<String, Failure>>);

impl ApiResource {
    /// Reads `GET {API_PREFIX}{path()}`; a `None` path reads nothing (the
    /// value is then JSON `null`).
    pub fn new(path: impl Fn() -> Option<String> + 'static) -> ApiResource {
        let path: Rc<dyn Fn() -> Option<String>> = Rc::new(path);
        ApiResource(LocalResource::new(move || fetch_text(path())))
    }

    /// The value, parsed as `T`, once read (tracked).
    pub fn read<T: DeserializeOwned>(self) -> Option<Result<T, Failure>> {
        self.text().map(|r| r.and_then(|text| parse(&text)))
    }

    /// The body as read, before parsing (tracked). Kept out of `read` so
    /// the resource's machinery is compiled once, not once per type.
    #[inline(never)]
    fn text(self) -> Option<Result<String, Failure>> {
        self.0.get()
    }

    /// Reads again.
    pub fn refetch(self) {
        self.0.refetch();
    }
}

type TextFuture = Pin<Box<dyn Future<Output = Result<String, Failure>>>>;

fn fetch_text(path: Option<String>) -> TextFuture {
    Box::pin(async move {
        match path {
            Some(path) => exchange("GET", &format!("{API_PREFIX}{path}"), None).await,
            None => Ok(String::new()),
        }
    })
}

fn parse<T: DeserializeOwned>(text: &str) -> Result<T, Failure> {
    let text = if text.trim().is_empty() { "null" } else { text };
    from_json(text).map_err(Failure::Decode)
}

/// Parses JSON text as `T`: the one JSON reader of the console (answers
/// and drafts).
///
/// Straight from the text: going through a `serde_json::Value` first costs
/// 6 KB gzipped more (measured), because every type is then also compiled
/// against `Value`'s deserializer.
pub fn from_json<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_json::from_str(text).map_err(|e| e.to_string())
}

/// A tenant-scoped API path: `/v2/tenants/{tenant}/{rest}`.
pub fn tenant_path(tenant: &str, rest: &str) -> String {
    format!("/v2/tenants/{}/{rest}", urlencoding::encode(tenant))
}

async fn request<T: DeserializeOwned>(
    method: &str,
    url: &str,
    body: Option<String>,
) -> Result<T, Failure> {
    let text = exchange(method, url, body).await?;
    parse(&text)
}

/// The non-generic part of every call (kept out of `request` so it is not
/// compiled once per response type: the bundle has a size budget).
async fn exchange(method: &str, url: &str, body: Option<String>) -> Result<String, Failure> {
    let response = send(method, url, body).await?;
    let status = response.status();
    let text = read_text(&response).await?;
    if (200..300).contains(&status) {
        Ok(text)
    } else {
        Err(classify(status, &text))
    }
}

/// Reads an error answer: a backend problem document, an API error body, or
/// neither.
pub fn classify(status: u16, body: &str) -> Failure {
    if let Ok(problem) = from_json::<Problem>(body) {
        return Failure::Problem(problem);
    }
    if let Ok(error) = from_json::<ApiError>(body) {
        return Failure::Api { status, error };
    }
    Failure::Http(status)
}

async fn send(method: &str, url: &str, body: Option<String>) -> Result<Response, Failure> {
    let network = |e: JsValue| Failure::Network(js_error_text(&e));
    let window = web_sys::window().ok_or_else(|| Failure::Network("no window".into()))?;
    let headers = Headers::new().map_err(network)?;
    headers.set("Accept", "application/json").map_err(network)?;
    headers.set("X-CSRF", "1").map_err(network)?;
    let init = RequestInit::new();
    init.set_method(method);
    init.set_credentials(RequestCredentials::SameOrigin);
    if let Some(body) = body {
        headers
            .set("Content-Type", "application/json")
            .map_err(network)?;
        init.set_body(&JsValue::from_str(&body));
    }
    init.set_headers(&headers);
    let promise = window.fetch_with_str_and_init(url, &init);
    let value = JsFuture::from(promise).await.map_err(network)?;
    value
        .dyn_into::<Response>()
        .map_err(|_| Failure::Network("not a response".into()))
}

async fn read_text(response: &Response) -> Result<String, Failure> {
    let promise = response
        .text()
        .map_err(|e| Failure::Network(js_error_text(&e)))?;
    let value = JsFuture::from(promise)
        .await
        .map_err(|e| Failure::Network(js_error_text(&e)))?;
    Ok(value.as_string().unwrap_or_default())
}

/// What a JavaScript exception says (`TypeError: Failed to fetch`), read
/// from the error itself: the release bundle is built without `Debug`
/// formatting (`-Zfmt-debug=none`), so `{:?}` would print nothing.
fn js_error_text(e: &JsValue) -> String {
    match e.dyn_ref::<js_sys::Error>() {
        Some(error) => format!(
            "{}: {}",
            String::from(error.name()),
            String::from(error.message())
        ),
        None => e
            .as_string()
            .unwrap_or_else(|| "the browser refused the request".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn login_url_encodes_scopes_and_return_path() {
        assert_eq!(
            login_url(&[Scope::Invoices], "/invoices"),
            "/auth/login?scope=giponext.invoices&return_to=%2Finvoices"
        );
        assert_eq!(
            login_url(&[Scope::Invoices, Scope::Treatments], "/a?b=c"),
            "/auth/login?scope=giponext.invoices%20giponext.treatments&return_to=%2Fa%3Fb%3Dc"
        );
        assert_eq!(login_url(&[], "/"), "/auth/login?return_to=%2F");
    }

    #[test]
    fn classify_tells_problems_from_api_errors() {
        let p = classify(
            403,
            r#"{"type":"scope_missing","title":"t","status":403,"scope":"giponext.invoices"}"#,
        );
        assert_eq!(p.problem_type(), Some(ProblemType::ScopeMissing));
        let a = classify(
            422,
            r#"{"error":"validation_failed","message":"m","fields":[{"field":"fiscalCode","message":"bad"}]}"#,
        );
        assert_eq!(a.field_error("fiscalCode").as_deref(), Some("bad"));
        assert_eq!(classify(500, "<html>"), Failure::Http(500));
    }

    #[test]
    fn network_errors_keep_the_browser_message() {
        let error = js_sys::Error::new("Failed to fetch");
        error.set_name("TypeError");
        assert_eq!(js_error_text(&error.into()), "TypeError: Failed to fetch");
        assert_eq!(js_error_text(&JsValue::from_str("aborted")), "aborted");
        assert_eq!(
            js_error_text(&JsValue::NULL),
            "the browser refused the request"
        );
    }
}
