//! The API against the shared resource table and the platform's error rules.

mod data;
mod errors;
mod flow;
mod table;
mod writes;

use giponext_sandbox::RunningSandbox;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::support;

/// A sandbox and a client to call its API.
pub struct Api {
    pub sandbox: RunningSandbox,
    http: reqwest::Client,
}

/// What the API answered.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    /// The `error` code of an error body.
    pub fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or_default()
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Api {
    pub async fn start() -> Api {
        Api::from(support::sandbox().await)
    }

    pub fn from(sandbox: RunningSandbox) -> Api {
        Api {
            sandbox,
            http: support::http(),
        }
    }

    /// Calls `method path` with an optional bearer token and JSON body.
    pub async fn call(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Answer {
        let mut request = self
            .http
            .request(method, support::api_url(&self.sandbox, path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("the sandbox answers");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("a readable body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{status} {path}: body is not JSON ({e}): {text}"))
        };
        Answer {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, token: &str, path: &str) -> Answer {
        self.call(Some(token), Method::GET, path, None).await
    }

    /// GET that must succeed.
    pub async fn get_ok(&self, token: &str, path: &str) -> Value {
        let answer = self.get(token, path).await;
        assert_eq!(answer.status, StatusCode::OK, "GET {path}: {}", answer.body);
        answer.body
    }

    pub async fn post(&self, token: &str, path: &str, body: &Value) -> Answer {
        self.call(Some(token), Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, token: &str, path: &str, body: &Value) -> Answer {
        self.call(Some(token), Method::PUT, path, Some(body)).await
    }

    /// Every item of a list, walking its pages.
    pub async fn all(&self, token: &str, path: &str) -> Vec<Value> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut items = Vec::new();
        loop {
            let page = self
                .get_ok(
                    token,
                    &format!("{path}{sep}offset={}&limit=100", items.len()),
                )
                .await;
            let batch = page["items"].as_array().expect("items").clone();
            let more = page["hasMore"].as_bool().expect("hasMore");
            assert!(
                !batch.is_empty() || !more,
                "an empty page claims more follow"
            );
            items.extend(batch);
            if !more {
                assert_eq!(page["totalCount"].as_u64(), Some(items.len() as u64));
                return items;
            }
        }
    }
}

/// The main seeded tenant's API root.
pub const MAIN: &str = "/v2/tenants/tenant-abc123";
/// The other seeded tenant's API root.
pub const OTHER: &str = "/v2/tenants/tenant-def456";
