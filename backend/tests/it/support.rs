//! The test harness: a backend, a browser-like HTTP client with a cookie jar,
//! and a record of every response the browser got (for the token leak scan).

use std::sync::{Arc, Mutex};

use giponext_bff::config::Upstream;
use giponext_bff::{Config, RunningBff};
use giponext_shared::session::SessionInfo;
use reqwest::cookie::{CookieStore as _, Jar};
use reqwest::{Method, StatusCode};
use url::Url;

use crate::fake_provider::{self, Fake};

/// A response as the browser saw it.
pub struct Seen {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Seen {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
    pub fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// A browser session against one backend.
#[derive(Clone)]
pub struct Client {
    pub base: String,
    pub jar: Arc<Jar>,
    pub http: reqwest::Client,
    pub seen: Arc<Mutex<Vec<String>>>,
}

impl Client {
    pub fn new(base: &str) -> Self {
        let jar = Arc::new(Jar::default());
        let http = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Client {
            base: base.to_owned(),
            jar,
            http,
            seen: Arc::default(),
        }
    }

    fn record(&self, status: StatusCode, headers: &reqwest::header::HeaderMap, body: &str) {
        let mut text = format!("{status}\n");
        for (k, v) in headers {
            text.push_str(&format!("{k}: {}\n", String::from_utf8_lossy(v.as_bytes())));
        }
        text.push_str(body);
        self.seen.lock().unwrap().push(text);
    }

    /// Any request; `path` may be absolute.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Seen {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        let mut req = self.http.request(method, &url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_owned());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.text().await.unwrap();
        if url.starts_with(&self.base) {
            self.record(status, &headers, &body);
        }
        Seen {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Seen {
        self.send(Method::GET, path, &[], None).await
    }

    /// `POST /auth/logout` as the console sends it (with `X-CSRF: 1`).
    pub async fn logout(&self) -> Seen {
        self.send(Method::POST, "/auth/logout", &[("x-csrf", "1")], None)
            .await
    }

    /// "Cambia utente": `POST /auth/logout` with `{"switch_user": true}`.
    pub async fn switch_user(&self) -> Seen {
        self.send(
            Method::POST,
            "/auth/logout",
            &[("x-csrf", "1")],
            Some(r#"{"switch_user": true}"#),
        )
        .await
    }

    /// An API call as the console makes it (with `X-CSRF: 1`).
    pub async fn api(&self, method: Method, path: &str, body: Option<&str>) -> Seen {
        self.send(
            method,
            path,
            &[("x-csrf", "1"), ("accept", "application/json")],
            body,
        )
        .await
    }

    pub async fn session(&self) -> SessionInfo {
        let seen = self.get("/api/session").await;
        assert_eq!(seen.status, 200, "{}", seen.body);
        serde_json::from_str(&seen.body).unwrap()
    }

    /// A cookie the browser would send to `path`.
    pub fn cookie(&self, path: &str, name: &str) -> Option<String> {
        let url = Url::parse(&format!("{}{path}", self.base)).unwrap();
        let header = self.jar.cookies(&url)?;
        let prefix = format!("{name}=");
        header
            .to_str()
            .ok()?
            .split("; ")
            .find_map(|c| c.strip_prefix(prefix.as_str()).map(str::to_owned))
    }

    /// The session cookie's value, if any.
    pub fn session_cookie(&self) -> Option<String> {
        let url = Url::parse(&self.base).unwrap();
        let header = self.jar.cookies(&url)?;
        header
            .to_str()
            .ok()?
            .split("; ")
            .find_map(|c| c.strip_prefix("gx_session=").map(str::to_owned))
    }

    /// Sends a raw HTTP/1.1 request line, so paths reach the server exactly
    /// as written (reqwest would normalise `..` and `%2e%2e`).
    pub async fn raw(&self, method: &str, path: &str) -> (u16, String) {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let url = Url::parse(&self.base).unwrap();
        let host = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap());
        let cookie = self
            .session_cookie()
            .map(|c| format!("Cookie: gx_session={c}\r\n"))
            .unwrap_or_default();
        let mut stream = tokio::net::TcpStream::connect(&host).await.unwrap();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\nX-CSRF: 1\r\nAccept: application/json\r\n{cookie}Connection: close\r\nContent-Length: 0\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        stream.read_to_end(&mut out).await.unwrap();
        let text = String::from_utf8_lossy(&out).to_string();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        self.seen.lock().unwrap().push(text.clone());
        (status, text)
    }
}

/// A backend wired to the fake provider.
pub struct FakeSetup {
    pub fake: Fake,
    pub bff: RunningBff,
    pub client: Client,
    _task: tokio::task::JoinHandle<()>,
}

impl FakeSetup {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tune: impl FnOnce(&mut Config)) -> Self {
        Self::start_tuned(|_| {}, tune).await
    }

    /// Like [`FakeSetup::start_with`], with the fake provider tuned before
    /// the backend discovers it.
    pub async fn start_tuned(
        tune_fake: impl FnOnce(&mut fake_provider::Inner),
        tune: impl FnOnce(&mut Config),
    ) -> Self {
        let (fake, url, task) = fake_provider::start().await;
        fake.with(tune_fake);
        let mut config = Config::for_tests();
        config.upstream = Upstream::External {
            issuer: url.clone(),
            api_base: Url::parse(&url).unwrap(),
        };
        config.client_id = fake_provider::CLIENT_ID.into();
        config.client_secret = giponext_bff::types::Secret::new(fake_provider::CLIENT_SECRET);
        tune(&mut config);
        let bff = giponext_bff::serve(config).await.unwrap();
        let client = Client::new(bff.url());
        FakeSetup {
            fake,
            bff,
            client,
            _task: task,
        }
    }

    /// Runs a sign-in through the fake provider; returns the callback answer.
    pub async fn login(&self, query: &str) -> Seen {
        let start = self.client.get(&format!("/auth/login{query}")).await;
        assert_eq!(start.status, 302, "{}", start.body);
        let at_provider = self.client.get(start.location()).await;
        assert!(at_provider.status.is_redirection(), "{}", at_provider.body);
        let callback = at_provider.location().to_owned();
        self.client.get(&callback).await
    }

    /// The authorization redirect of a started sign-in (not completed).
    pub async fn provider_redirect(&self, query: &str) -> Url {
        let start = self.client.get(&format!("/auth/login{query}")).await;
        assert_eq!(start.status, 302, "{}", start.body);
        let at_provider = self.client.get(start.location()).await;
        Url::parse(at_provider.location()).unwrap()
    }
}

/// Replaces (or adds) a query parameter.
pub fn with_param(url: &Url, name: &str, value: &str) -> Url {
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != name)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut out = url.clone();
    out.query_pairs_mut()
        .clear()
        .extend_pairs(pairs)
        .append_pair(name, value);
    out
}

/// Asserts that none of `secrets` appears in anything the browser received.
pub fn assert_no_leak(seen: &[String], secrets: &[String]) {
    for secret in secrets.iter().filter(|s| s.len() > 8) {
        for response in seen {
            assert!(
                !response.contains(secret.as_str()),
                "a token reached the browser:\n{response}"
            );
        }
    }
}

/// A backend configuration on an external `sandbox` (its API at
/// `api_base`, by default the sandbox's), signing in as the confidential
/// client `client_id` the test registered there.
pub fn config_on(
    sandbox: &giponext_sandbox::RunningSandbox,
    api_base: Option<Url>,
    client_id: &str,
    client_secret: &str,
) -> Config {
    let mut config = Config::for_tests();
    config.upstream = Upstream::External {
        issuer: sandbox.state().issuer.clone(),
        api_base: api_base.unwrap_or_else(|| sandbox.api_base().clone()),
    };
    config.client_id = client_id.to_owned();
    config.client_secret = giponext_bff::types::Secret::new(client_secret);
    config
}
