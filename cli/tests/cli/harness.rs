//! The test harness: a sandbox, a temp config dir, the binary's environment.

use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;

use giponext_sandbox::testing::{Browser, Consent};
use giponext_sandbox::{RunningSandbox, SandboxConfig, clients, users};
use giponext_shared::{Scope, ScopeSet};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::mpsc;

pub const BIN: &str = env!("CARGO_BIN_EXE_giponext");

/// What a run of the binary left behind.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub struct Env {
    pub sandbox: RunningSandbox,
    pub dir: tempfile::TempDir,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    pub vars: Vec<(String, String)>,
}

impl Env {
    pub async fn start(config: SandboxConfig) -> Env {
        let sandbox = giponext_sandbox::start(config)
            .await
            .expect("sandbox starts");
        let issuer = sandbox.issuer().as_str().trim_end_matches('/').to_owned();
        Env {
            sandbox,
            dir: tempfile::tempdir().expect("temp dir"),
            issuer,
            client_id: clients::CLI_CLIENT_ID.to_owned(),
            client_secret: Some(clients::CLI_CLIENT_SECRET.to_owned()),
            vars: vec![("GIPONEXT_INSECURE_STORAGE".into(), "1".into())],
        }
    }

    pub async fn tests() -> Env {
        Env::start(SandboxConfig::for_tests()).await
    }

    pub fn config_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("config")
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        self.command(BIN, args)
    }

    pub fn command(&self, program: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("GIPONEXT_ISSUER", &self.issuer)
            .env("GIPONEXT_CLIENT_ID", &self.client_id)
            .env(
                "GIPONEXT_CLIENT_SECRET",
                self.client_secret.as_deref().unwrap_or(""),
            )
            .env("GIPONEXT_CONFIG_DIR", self.config_dir())
            .env("GIPONEXT_KEYRING", "off")
            .envs(self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    pub async fn run(&self, args: &[&str]) -> Output {
        let out = tokio::time::timeout(Duration::from_secs(120), self.cmd(args).output())
            .await
            .expect("the command finishes")
            .expect("the binary runs");
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Starts a device login and hands its prompt to `approve` once the
    /// verification URI and user code are on stderr.
    pub async fn device_flow<F, Fut>(&self, args: &[&str], approve: F) -> Output
    where
        F: FnOnce(Prompt, mpsc::UnboundedReceiver<String>) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let mut child = self.cmd(args).spawn().expect("the binary runs");
        let stderr = child.stderr.take().expect("piped");
        let mut stdout = child.stdout.take().expect("piped");
        let (tx, mut rx) = mpsc::unbounded_channel();
        let reader = tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            let mut all = String::new();
            while let Ok(Some(line)) = lines.next_line().await {
                all.push_str(&line);
                all.push('\n');
                let _ = tx.send(line);
            }
            all
        });
        let stdout_task = tokio::spawn(async move {
            let mut s = String::new();
            let _ = stdout.read_to_string(&mut s).await;
            s
        });
        let prompt = tokio::time::timeout(Duration::from_secs(30), Prompt::read(&mut rx))
            .await
            .expect("the prompt appears");
        approve(prompt, rx).await;
        let status = tokio::time::timeout(Duration::from_secs(120), child.wait())
            .await
            .expect("login finishes")
            .expect("wait");
        Output {
            code: status.code().unwrap_or(-1),
            stdout: stdout_task.await.expect("stdout"),
            stderr: reader.await.expect("stderr"),
        }
    }

    /// A device login approved by `user` with `consent`.
    pub async fn login(&self, args: &[&str], user: &str, consent: Consent) -> Output {
        self.device_flow(args, |prompt, _rx| async move {
            approve(&prompt, user, consent).await;
        })
        .await
    }

    /// [`Env::login`] that must succeed (exit 0); its output for further checks.
    pub async fn logged_in(&self, args: &[&str], user: &str, consent: Consent) -> Output {
        let out = self.login(args, user, consent).await;
        assert_eq!(out.code, 0, "{out:?}");
        out
    }

    /// [`Env::logged_in`] as mario.rossi granting all of `--scope scopes`.
    pub async fn logged_in_mario(&self, scopes: &str) -> Output {
        self.logged_in(
            &["login", "--scope", scopes],
            users::MARIO,
            Consent::GrantAll,
        )
        .await
    }

    /// Replaces the stored access token with a dead one, so the next API
    /// call gets 401 and has to refresh; the token file's path.
    pub fn spoil_access_token(&self) -> std::path::PathBuf {
        let path = self.config_dir().join("credentials.json");
        let text = std::fs::read_to_string(&path).expect("token file");
        std::fs::write(
            &path,
            text.replace(&self.stored_token("access_token"), "spoiled"),
        )
        .expect("write");
        path
    }

    /// `auth status --json` must list exactly `granted`, in order.
    pub async fn assert_granted(&self, granted: &[&str]) {
        let v = json(&self.run(&["auth", "status", "--json"]).await);
        assert_eq!(names(&v["granted"]), granted);
    }

    /// The stored login, read from the opt-in token file.
    pub fn stored(&self) -> Option<Value> {
        let path = self.config_dir().join("credentials.json");
        let text = std::fs::read_to_string(path).ok()?;
        let all: HashMap<String, Value> = serde_json::from_str(&text).expect("token file is JSON");
        all.get(&format!("{}@{}", self.client_id, self.issuer))
            .cloned()
    }

    pub fn stored_token(&self, field: &str) -> String {
        self.stored().expect("a stored login")[field]
            .as_str()
            .expect("a token")
            .to_owned()
    }

    pub fn api(&self, path: &str) -> String {
        format!(
            "{}{path}",
            self.sandbox.api_base().as_str().trim_end_matches('/')
        )
    }
}

/// The verification URI and user code as the binary printed them.
#[derive(Debug, Clone)]
pub struct Prompt {
    pub uri: String,
    pub user_code: String,
}

impl Prompt {
    pub async fn read(rx: &mut mpsc::UnboundedReceiver<String>) -> Prompt {
        let mut uri = None;
        let mut code_next = false;
        while let Some(line) = rx.recv().await {
            let t = line.trim();
            if uri.is_none() && t.starts_with("http") {
                uri = Some(t.to_owned());
            } else if t == "and enter the code:" {
                code_next = true;
            } else if code_next && !t.is_empty() {
                return Prompt {
                    uri: uri.expect("the URI comes before the code"),
                    user_code: t.to_owned(),
                };
            }
        }
        panic!("the binary ended before printing the user code");
    }
}

pub async fn approve(prompt: &Prompt, user: &str, consent: Consent) {
    let uri = url::Url::parse(&prompt.uri).expect("verification URI");
    Browser::new()
        .approve_device(&uri, &prompt.user_code, user, users::PASSWORD, consent)
        .await
        .expect("the device code is approved in the browser");
}

pub fn scopes(list: &[Scope]) -> ScopeSet {
    ScopeSet::of(list)
}

pub fn json(out: &Output) -> Value {
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {out:?}"))
}

pub fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("an array")
        .iter()
        .map(|s| s.as_str().expect("a string").to_owned())
        .collect()
}

/// A proxy in front of the sandbox's API that answers 503 to the first
/// `fail_first` requests of each method, and counts what it saw.
pub struct FlakyProxy {
    pub url: String,
    pub seen: std::sync::Arc<std::sync::Mutex<Vec<(String, u16)>>>,
}

impl FlakyProxy {
    pub async fn start(upstream: String, fail_first: usize) -> FlakyProxy {
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(String, u16)>::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            while let Ok((stream, _)) = listener.accept().await {
                let (http, log, upstream) = (http.clone(), log.clone(), upstream.clone());
                tokio::spawn(async move {
                    let mut reader = BufReader::new(stream);
                    let mut head = Vec::new();
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).await.unwrap_or(0) == 0 || line == "\r\n" {
                            break;
                        }
                        head.push(line.trim_end().to_owned());
                    }
                    let Some(request_line) = head.first() else {
                        return;
                    };
                    let mut parts = request_line.split(' ');
                    let (method, target) = (
                        parts.next().unwrap_or("").to_owned(),
                        parts.next().unwrap_or("").to_owned(),
                    );
                    let header = |name: &str| {
                        head.iter().skip(1).find_map(|h| {
                            let (k, v) = h.split_once(':')?;
                            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
                        })
                    };
                    let length: usize = header("content-length")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    let mut body = vec![0; length];
                    let _ = reader.read_exact(&mut body).await;
                    let earlier = log
                        .lock()
                        .expect("log")
                        .iter()
                        .filter(|(m, _)| *m == method)
                        .count();
                    let (status, bytes) = if earlier < fail_first {
                        (
                            503u16,
                            b"{\"error\":\"unavailable\",\"message\":\"try later\"}".to_vec(),
                        )
                    } else {
                        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
                        let mut req = http.request(m, format!("{upstream}{target}")).body(body);
                        for name in ["authorization", "content-type", "accept"] {
                            if let Some(v) = header(name) {
                                req = req.header(name, v);
                            }
                        }
                        let res = req.send().await.expect("upstream");
                        (
                            res.status().as_u16(),
                            res.bytes().await.expect("body").to_vec(),
                        )
                    };
                    log.lock().expect("log").push((method, status));
                    let mut stream = reader.into_inner();
                    let head = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        bytes.len()
                    );
                    let _ = stream.write_all(head.as_bytes()).await;
                    let _ = stream.write_all(&bytes).await;
                });
            }
        });
        FlakyProxy { url, seen }
    }

    pub fn seen(&self, method: &str) -> Vec<u16> {
        self.seen
            .lock()
            .expect("log")
            .iter()
            .filter(|(m, _)| m == method)
            .map(|(_, s)| *s)
            .collect()
    }
}
