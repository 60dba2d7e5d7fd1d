//! Starts the sandbox and the backend in-process, serving the trunk-built
//! console, and drives a headless Chromium through chromedriver (WebDriver).
//!
//! A test skips (with the reason printed) only when Chromium, chromedriver or
//! the console bundle is absent, unless `GIPONEXT_E2E_REQUIRED=1`, which CI
//! sets: there a missing piece fails the test.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use fantoccini::{Client, ClientBuilder, Locator};
use giponext_bff::{Config, RunningBff};
use giponext_shared::Scope;
use serde_json::json;
use tokio::process::{Child, Command};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long a page may take to show what a step waits for.
const PATIENCE: Duration = Duration::from_secs(20);

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

fn dist() -> PathBuf {
    std::env::var_os("GIPONEXT_CONSOLE_DIST")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("frontend/dist"))
}

/// Why the browser tests cannot run here, if they cannot.
fn missing_piece() -> Option<String> {
    if !std::path::Path::new(CHROMIUM).exists() {
        return Some(format!(
            "{CHROMIUM} is not installed (apt-get install chromium)"
        ));
    }
    if !std::path::Path::new(CHROMEDRIVER).exists() {
        return Some(format!(
            "{CHROMEDRIVER} is not installed (apt-get install chromium-driver)"
        ));
    }
    let index = dist().join("index.html");
    if !index.exists() {
        return Some(format!(
            "the console bundle {} is missing (trunk build --release)",
            index.display()
        ));
    }
    None
}

/// The `items` of an API page.
pub fn items(page: &serde_json::Value) -> &[serde_json::Value] {
    page["items"].as_array().map_or(&[], Vec::as_slice)
}

/// One running product (sandbox + backend + console) and one browser.
pub struct World {
    /// The browser.
    pub browser: Client,
    /// The console's origin, e.g. `http://127.0.0.1:40123`.
    pub base: String,
    bff: RunningBff,
    driver: Child,
    profile: PathBuf,
    name: &'static str,
}

/// A change to the backend's configuration.
pub type ConfigChange = Box<dyn FnOnce(&mut Config) + Send>;

/// What one test changes in the product and the browser.
#[derive(Default)]
pub struct Setup {
    /// Applied to the backend's configuration before it starts.
    pub config: Option<ConfigChange>,
    /// More Chromium command-line arguments.
    pub browser_args: Vec<String>,
}

impl World {
    /// Starts everything for the test `name`, the backend and browser
    /// changed by `setup`; `None` (after printing why) when the browser or
    /// the bundle is absent and not required.
    pub async fn start_with(name: &'static str, setup: Setup) -> anyhow::Result<Option<World>> {
        if let Some(reason) = missing_piece() {
            if std::env::var("GIPONEXT_E2E_REQUIRED").as_deref() == Ok("1") {
                bail!("browser test {name} cannot run: {reason}");
            }
            eprintln!("SKIPPED browser test {name}: {reason}");
            return Ok(None);
        }
        let mut config = Config::for_tests();
        config.static_dir = dist();
        if let Some(change) = setup.config {
            change(&mut config);
        }
        let bff = giponext_bff::serve(config)
            .await
            .context("starting the backend")?;
        let base = bff.url().trim_end_matches('/').to_owned();

        let port = free_port()?;
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting chromedriver")?;
        wait_for_port(port).await?;

        let profile =
            std::env::temp_dir().join(format!("gx-e2e-{name}-{}-{}", std::process::id(), port));
        let mut args: Vec<String> = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,900",
        ]
        .map(String::from)
        .into();
        args.push(format!("--user-data-dir={}", profile.display()));
        args.extend(setup.browser_args);
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({ "binary": CHROMIUM, "args": args }),
        );
        // Plain http to chromedriver on loopback: no TLS stack needed.
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let browser = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .context("opening a Chromium session")?;
        Ok(Some(World {
            browser,
            base,
            bff,
            driver,
            profile,
            name,
        }))
    }

    /// Opens a path of the console.
    pub async fn open(&self, path: &str) -> anyhow::Result<()> {
        self.browser.goto(&format!("{}{path}", self.base)).await?;
        Ok(())
    }

    /// The current path (with query).
    pub async fn path(&self) -> anyhow::Result<String> {
        let url = self.browser.current_url().await?;
        Ok(match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        })
    }

    /// Waits for an element.
    pub async fn find(&self, css: &str) -> anyhow::Result<fantoccini::elements::Element> {
        match self
            .browser
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(e) => Ok(e),
            Err(e) => {
                let body = self.body_text().await.unwrap_or_default();
                let path = self.path().await.unwrap_or_default();
                bail!("no `{css}` on {path} ({e}); the page says:\n{body}")
            }
        }
    }

    /// Whether an element is there right now.
    pub async fn has(&self, css: &str) -> anyhow::Result<bool> {
        Ok(!self.browser.find_all(Locator::Css(css)).await?.is_empty())
    }

    /// Waits until the element's text contains `needle`; returns the text.
    pub async fn wait_text(&self, css: &str, needle: &str) -> anyhow::Result<String> {
        let start = Instant::now();
        loop {
            if let Ok(list) = self.browser.find_all(Locator::Css(css)).await {
                for e in list {
                    if let Ok(text) = e.text().await
                        && text.contains(needle)
                    {
                        return Ok(text);
                    }
                }
            }
            if start.elapsed() > PATIENCE {
                let body = self.body_text().await.unwrap_or_default();
                let path = self.path().await.unwrap_or_default();
                bail!("`{css}` never said {needle:?} on {path}; the page says:\n{body}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the path is `path` (or matches `pred`).
    pub async fn wait_path(
        &self,
        pred: impl Fn(&str) -> bool,
        what: &str,
    ) -> anyhow::Result<String> {
        let start = Instant::now();
        loop {
            let path = self.path().await?;
            if pred(&path) {
                return Ok(path);
            }
            if start.elapsed() > PATIENCE {
                let body = self.body_text().await.unwrap_or_default();
                bail!("never reached {what}; still on {path}:\n{body}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The visible text of the page.
    pub async fn body_text(&self) -> anyhow::Result<String> {
        Ok(self
            .browser
            .find(Locator::Css("body"))
            .await?
            .text()
            .await?)
    }

    /// Clicks an element (waiting for it).
    pub async fn click(&self, css: &str) -> anyhow::Result<()> {
        self.find(css).await?.click().await?;
        Ok(())
    }

    /// Types into an input (waiting for it), replacing what it held.
    pub async fn type_into(&self, css: &str, text: &str) -> anyhow::Result<()> {
        let e = self.find(css).await?;
        e.clear().await?;
        e.send_keys(text).await?;
        Ok(())
    }

    /// The current `value` of an input.
    pub async fn value(&self, css: &str) -> anyhow::Result<String> {
        Ok(self
            .find(css)
            .await?
            .prop("value")
            .await?
            .unwrap_or_default())
    }

    /// Waits until the input at `css` holds `want` (a `<select>` fills in
    /// once its options load).
    pub async fn wait_value(&self, css: &str, want: &str) -> anyhow::Result<()> {
        let start = Instant::now();
        loop {
            let got = self.value(css).await?;
            if got == want {
                return Ok(());
            }
            anyhow::ensure!(
                start.elapsed() < Duration::from_secs(20),
                "{css} holds {got:?}, expected {want:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Chooses the first real option of a `<select>` once options are
    /// loaded; returns its value.
    pub async fn choose_first(&self, select_css: &str) -> anyhow::Result<String> {
        let option = self
            .find(&format!("{select_css} option:not([value=''])"))
            .await?;
        let value = option.attr("value").await?.unwrap_or_default();
        self.find(select_css).await?.select_by_value(&value).await?;
        Ok(value)
    }

    /// `GET /api/session` from the page (same cookies as the console).
    pub async fn session_json(&self) -> anyhow::Result<serde_json::Value> {
        let v = self
            .browser
            .execute_async(
                "const done = arguments[arguments.length - 1];\
                 fetch('/api/session', {credentials: 'same-origin'})\
                   .then(r => r.json()).then(done, e => done({error: String(e)}));",
                vec![],
            )
            .await?;
        Ok(v)
    }

    /// What the tab's `sessionStorage` holds, as one JSON text.
    pub async fn session_storage(&self) -> anyhow::Result<String> {
        let v = self
            .browser
            .execute(
                "return JSON.stringify(Object.assign({}, sessionStorage));",
                vec![],
            )
            .await?;
        Ok(v.as_str().unwrap_or_default().to_owned())
    }

    /// `GET /api/session/remaining` from the page: `{idle_seconds_left,
    /// absolute_seconds_left}`, or `{status}` when not 200.
    pub async fn remaining(&self) -> anyhow::Result<serde_json::Value> {
        let v = self
            .browser
            .execute_async(
                "const done = arguments[arguments.length - 1];\
                 fetch('/api/session/remaining', {credentials: 'same-origin'})\
                   .then(async r => done(r.status === 200 ? await r.json() : {status: r.status}),\
                         e => done({error: String(e)}));",
                vec![],
            )
            .await?;
        Ok(v)
    }

    /// The person walks away: the backend's session ends (idle timeout) and
    /// so does the provider's (its cookies go), so the next sign-in at this
    /// browser asks who is there.
    pub async fn walk_away(&self) -> anyhow::Result<()> {
        self.end_session_on_backend().await?;
        self.browser.delete_all_cookies().await?;
        Ok(())
    }

    /// The backend (its session store, for tests that end a session).
    pub fn bff(&self) -> &RunningBff {
        &self.bff
    }

    /// The sandbox the backend embeds (test hooks: revoke or shrink grants).
    pub fn sandbox(&self) -> &giponext_sandbox::RunningSandbox {
        self.bff
            .sandbox()
            .expect("Config::for_tests embeds the sandbox")
    }

    /// `GET {API_PREFIX}{path}` from the page, with the console's session:
    /// what the GipoNext API holds, not what the DOM shows. Fails unless 200.
    pub async fn api_get(&self, path: &str) -> anyhow::Result<serde_json::Value> {
        let v = self
            .browser
            .execute_async(
                "const done = arguments[arguments.length - 1];\
                 fetch('/api/giponext' + arguments[0], {credentials: 'same-origin', headers: {'X-CSRF': '1'}})\
                   .then(async r => done({status: r.status, body: await r.json()}),\
                         e => done({status: 0, body: String(e)}));",
                vec![json!(path)],
            )
            .await?;
        anyhow::ensure!(v["status"] == 200, "GET {path}: {v}");
        Ok(v["body"].clone())
    }

    /// `POST {API_PREFIX}{path}` with a JSON body from the page, with the
    /// console's session. Fails unless 201.
    pub async fn api_post(
        &self,
        path: &str,
        body: serde_json::Value,
    ) -> anyhow::Result<serde_json::Value> {
        let v = self
            .browser
            .execute_async(
                "const done = arguments[arguments.length - 1];\
                 fetch('/api/giponext' + arguments[0], {method: 'POST', credentials: 'same-origin',\
                        headers: {'X-CSRF': '1', 'Content-Type': 'application/json'}, body: JSON.stringify(arguments[1])})\
                   .then(async r => done({status: r.status, body: await r.json()}),\
                         e => done({status: 0, body: String(e)}));",
                vec![json!(path), body],
            )
            .await?;
        anyhow::ensure!(v["status"] == 201, "POST {path}: {v}");
        Ok(v["body"].clone())
    }

    /// Clicks the first free slot of the agenda on screen, this week or a
    /// later one (within 30 s of paging); returns how many weeks ahead it
    /// is and the start the slot wrote into the booking form.
    pub async fn pick_free_slot(&self) -> anyhow::Result<(i64, String)> {
        let slot_css = "[data-test=week] button.slot:not([disabled])";
        let start = Instant::now();
        let mut weeks_ahead = 0;
        loop {
            self.find("[data-test=week] .day").await?;
            tokio::time::sleep(Duration::from_millis(300)).await;
            if self.has(slot_css).await? {
                break;
            }
            anyhow::ensure!(start.elapsed() < Duration::from_secs(30), "no free slot");
            self.click(".week-nav button:nth-of-type(3)").await?;
            weeks_ahead += 1;
        }
        self.click(slot_css).await?;
        let slot_start = self.value("#book-start").await?;
        anyhow::ensure!(!slot_start.is_empty(), "the slot fills the form");
        Ok((weeks_ahead, slot_start))
    }

    /// Submits the invoice form and returns the number the console
    /// announces as issued.
    pub async fn issue_invoice(&self) -> anyhow::Result<String> {
        self.click("form button[type=submit]").await?;
        let issued = self.wait_text("form .success", "Fattura emessa").await?;
        Ok(issued
            .rsplit(' ')
            .next()
            .context("the invoice number")?
            .trim()
            .to_owned())
    }

    /// The backend forgets this browser's session (idle timeout, signed
    /// out from another device...), while the page stays as it is.
    pub async fn end_session_on_backend(&self) -> anyhow::Result<()> {
        let cookie = self.browser.get_named_cookie("gx_session").await?;
        let id = giponext_bff::types::SessionId::from_cookie(cookie.value())
            .context("a session cookie")?;
        self.bff().state().sessions.delete(&id).await?;
        Ok(())
    }

    /// The invoice issued today with `number`, as the API holds it.
    pub async fn issued_today(&self, number: &str) -> anyhow::Result<serde_json::Value> {
        let page = self
            .api_get(&format!(
                "/v2/tenants/{}/invoices?from={}&limit=100",
                giponext_sandbox::users::TENANT_MAIN,
                chrono::Local::now().date_naive()
            ))
            .await?;
        items(&page)
            .iter()
            .find(|i| i["number"] == number)
            .cloned()
            .with_context(|| format!("invoice {number} in {page}"))
    }

    /// On the sandbox's pages: signs in as `user` if asked, then on the
    /// consent screen unticks `refuse` and allows the rest. Ends back on the
    /// console.
    pub async fn sign_in_at_provider(&self, user: &str, refuse: &[Scope]) -> anyhow::Result<()> {
        self.find("form#login, form#consent").await?;
        if self.has("form#login").await? {
            self.type_into("form#login input[name=username]", user)
                .await?;
            self.type_into("form#login input[name=password]", "sandbox")
                .await?;
            self.click("form#login button[type=submit]").await?;
        }
        self.consent(refuse).await
    }

    /// On the consent screen: untick `refuse`, allow the rest, and wait to
    /// be back on the console.
    pub async fn consent(&self, refuse: &[Scope]) -> anyhow::Result<()> {
        self.find("form#consent").await?;
        for scope in refuse {
            let css = format!("form#consent input[name=scope][value='{}']", scope.as_str());
            let checkbox = self.find(&css).await?;
            if checkbox.prop("checked").await?.as_deref() == Some("true") {
                checkbox.click().await?;
            }
        }
        self.click("form#consent button[value=allow]").await?;
        let base = self.base.clone();
        let start = Instant::now();
        loop {
            let url = self.browser.current_url().await?;
            if url.as_str().starts_with(&base) && !url.path().starts_with("/auth/") {
                return Ok(());
            }
            if start.elapsed() > PATIENCE {
                let body = self.body_text().await.unwrap_or_default();
                bail!("not back on the console after consent; on {url}:\n{body}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Signs in as Mario asking also for `scope` (URL-encoded, e.g.
    /// `giponext.invoices%20giponext.treatments`), granting everything
    /// asked, and waits to be back on `path`.
    pub async fn sign_in_with(&self, scope: &str, path: &str) -> anyhow::Result<()> {
        self.open(&format!(
            "/auth/login?scope={scope}&return_to={}",
            path.replace('/', "%2F")
        ))
        .await?;
        self.sign_in_at_provider(giponext_sandbox::users::MARIO, &[])
            .await?;
        self.wait_path(|p| p == path, path).await?;
        Ok(())
    }

    /// Signs in from the console's sign-in page (essentials only) as `user`.
    pub async fn sign_in(&self, user: &str) -> anyhow::Result<()> {
        self.open("/").await?;
        self.click("[data-test=sign-in]").await?;
        self.sign_in_at_provider(user, &[]).await?;
        self.find("[data-test=user]").await?;
        Ok(())
    }

    /// Checks, from the browser's own resource timings, that the console's
    /// WebAssembly arrived compressed (the `.br` or `.gz` that `cargo xtask`
    /// writes beside it). A bundle built without them (plain `trunk build`)
    /// is skipped with a note, unless `GIPONEXT_E2E_REQUIRED=1`.
    pub async fn assert_bundle_arrived_compressed(&self) -> anyhow::Result<()> {
        let has_precompressed = std::fs::read_dir(dist())?
            .filter_map(Result::ok)
            .any(|e| e.file_name().to_string_lossy().ends_with(".wasm.gz"));
        if !has_precompressed {
            if std::env::var("GIPONEXT_E2E_REQUIRED").as_deref() == Ok("1") {
                bail!(
                    "the bundle has no precompressed .wasm.gz (build it with cargo xtask bundle)"
                );
            }
            eprintln!("SKIPPED compressed-transfer check: the bundle was not precompressed");
            return Ok(());
        }
        let sizes = self
            .browser
            .execute(
                "return performance.getEntriesByType('resource')\
                   .filter(e => e.name.endsWith('.wasm'))\
                   .map(e => [e.encodedBodySize, e.decodedBodySize]);",
                vec![],
            )
            .await?;
        let sizes: Vec<(u64, u64)> = serde_json::from_value(sizes)?;
        let [(encoded, decoded)] = sizes[..] else {
            bail!("expected one .wasm download, saw {sizes:?}");
        };
        anyhow::ensure!(
            decoded > 0 && encoded * 2 < decoded,
            "the WebAssembly travelled uncompressed: {encoded} bytes on the wire for {decoded}"
        );
        Ok(())
    }

    /// Runs axe-core (WCAG 2 A and AA rules) on the current page and fails
    /// on any violation. axe-core comes from npm into `.tools/`
    /// (scripts/ensure-tools.sh axe); without it the check is skipped with
    /// a note, unless `GIPONEXT_E2E_REQUIRED=1`.
    pub async fn assert_accessible(&self, page: &str) -> anyhow::Result<()> {
        let file = root().join(".tools/node_modules/axe-core/axe.min.js");
        let Ok(axe) = std::fs::read_to_string(&file) else {
            if std::env::var("GIPONEXT_E2E_REQUIRED").as_deref() == Ok("1") {
                bail!(
                    "{} is missing (scripts/ensure-tools.sh axe)",
                    file.display()
                );
            }
            eprintln!(
                "SKIPPED accessibility check of {page}: {} is missing",
                file.display()
            );
            return Ok(());
        };
        // Let the page settle (loading states replaced by content).
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.browser
            .execute(&format!("{axe}\nreturn true;"), vec![])
            .await?;
        let found = self
            .browser
            .execute_async(
                "const done = arguments[arguments.length - 1];\
                 axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})\
                   .then(r => done({passes: r.passes.length, violations: r.violations.map(v => v.id + ' (' +\
                     v.impact + '): ' + v.help + ' at ' + v.nodes.map(n => n.target.join(' ')).join(', '))}),\
                         e => done({passes: 0, violations: ['axe failed: ' + e]}));",
                vec![],
            )
            .await?;
        let passes = found["passes"].as_u64().unwrap_or(0);
        let violations: Vec<String> = serde_json::from_value(found["violations"].clone())?;
        // A run that checked nothing proves nothing.
        anyhow::ensure!(
            passes > 0 || !violations.is_empty(),
            "axe-core checked no rule on {page}"
        );
        if !violations.is_empty() {
            bail!(
                "axe-core found violations on {page}:\n{}",
                violations.join("\n")
            );
        }
        Ok(())
    }

    /// Saves a screenshot under `artifacts/`.
    pub async fn screenshot(&self, suffix: &str) -> anyhow::Result<PathBuf> {
        let dir = root().join("artifacts");
        std::fs::create_dir_all(&dir)?;
        let file = dir.join(format!("{}{suffix}.png", self.name));
        let png = self.browser.screenshot().await?;
        std::fs::write(&file, png)?;
        Ok(file)
    }

    /// Saves the last screen and stops everything.
    pub async fn finish(self) -> anyhow::Result<()> {
        let shot = self.screenshot("").await;
        let World {
            browser,
            bff,
            mut driver,
            profile,
            ..
        } = self;
        let _ = browser.close().await;
        let _ = driver.kill().await;
        bff.shutdown().await;
        let _ = std::fs::remove_dir_all(profile);
        shot.map(|p| eprintln!("screenshot: {}", p.display()))
    }

    /// Saves the screen of a failed step, then stops everything and
    /// returns the step's error.
    pub async fn fail(self, error: anyhow::Error) -> anyhow::Error {
        let _ = self.finish().await;
        error
    }
}

/// Runs a future, turning a panic inside it into an `Err` (as
/// `std::panic::catch_unwind` does for a closure).
pub struct CatchUnwind<F>(pub std::pin::Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = std::thread::Result<F::Output>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let inner = self.get_mut().0.as_mut();
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
            Ok(std::task::Poll::Ready(v)) => std::task::Poll::Ready(Ok(v)),
            Err(panic) => std::task::Poll::Ready(Err(panic)),
        }
    }
}

/// A loopback port nothing listens on now.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Waits (at most 15 s) until something listens on loopback `port`.
pub async fn wait_for_port(port: u16) -> anyhow::Result<()> {
    let start = Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        if start.elapsed() > Duration::from_secs(15) {
            bail!("nothing listened on port {port} within 15 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}
