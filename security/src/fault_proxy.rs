//! A fault-injecting HTTP proxy in front of the (fake) provider: per path it
//! forwards at once, waits before forwarding (a slow provider), or forwards
//! and then holds the answer back (the provider acted, its answer never
//! arrives: the window for "crash between receiving and storing a rotated
//! refresh token").

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// What the proxy does with requests to one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Waits this long, then forwards.
    Delay(Duration),
    /// Forwards, then holds the answer until the client gives up.
    HoldAnswer,
}

#[derive(Default)]
struct Rules {
    faults: HashMap<String, Fault>,
    /// Answers held back so far.
    held: u64,
}

#[derive(Clone)]
struct Shared {
    upstream: String,
    http: reqwest::Client,
    rules: Arc<Mutex<Rules>>,
}

/// A running proxy; stops with the runtime (or on drop of its task).
pub struct FaultProxy {
    url: String,
    shared: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Starts a proxy on a free port forwarding to `upstream` (no trailing
    /// slash).
    pub async fn start(upstream: &str) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let shared = Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            rules: Arc::default(),
        };
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(FaultProxy { url, shared, task })
    }

    /// The proxy's base URL (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sets (or with `None` clears) the fault for `path`.
    pub fn set(&self, path: &str, fault: Option<Fault>) {
        let mut rules = self.shared.rules.lock().unwrap_or_else(|e| e.into_inner());
        match fault {
            Some(f) => rules.faults.insert(path.to_owned(), f),
            None => rules.faults.remove(path),
        };
    }

    /// How many answers were held back so far.
    pub fn held(&self) -> u64 {
        self.shared
            .rules
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .held
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward(
    State(s): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fault = {
        let rules = s.rules.lock().unwrap_or_else(|e| e.into_inner());
        rules.faults.get(uri.path()).copied()
    };
    if let Some(Fault::Delay(d)) = fault {
        tokio::time::sleep(d).await;
    }
    let target = format!(
        "{}{}",
        s.upstream,
        uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let mut request = s.http.request(method, target).body(body);
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            request = request.header(name, value);
        }
    }
    let answer = match request.send().await {
        Ok(a) => a,
        Err(_) => return StatusCode::BAD_GATEWAY.into_response(),
    };
    let status = answer.status();
    let answer_headers = answer.headers().clone();
    let bytes = answer.bytes().await.unwrap_or_default();
    if fault == Some(Fault::HoldAnswer) {
        s.rules.lock().unwrap_or_else(|e| e.into_inner()).held += 1;
        // The provider has acted; its answer never leaves.
        std::future::pending::<()>().await;
    }
    let mut response = (status, bytes).into_response();
    for (name, value) in &answer_headers {
        if name != "content-length" && name != "transfer-encoding" {
            response.headers_mut().insert(name, value.clone());
        }
    }
    response
}
