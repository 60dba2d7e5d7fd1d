//! A person at the provider's pages, over plain HTTP with a cookie jar.

use std::sync::Arc;

use anyhow::{Context, bail};
use giponext_shared::ScopeSet;
use reqwest::cookie::Jar;
use reqwest::redirect::Policy;
use reqwest::{Method, Response, StatusCode};
use scraper::{Html, Selector};
use url::{Origin, Url};

/// What the person does on the consent page.
#[derive(Debug, Clone, Copy)]
pub enum Consent {
    /// Tick exactly these of the requested scopes (openid always).
    Grant(ScopeSet),
    /// Leave every requested scope ticked.
    GrantAll,
    /// Press Deny.
    Deny,
}

/// A browser with one cookie jar for every origin on 127.0.0.1 (the provider
/// and the application under test), following redirects by hand.
#[derive(Debug, Clone)]
pub struct HarnessBrowser {
    http: reqwest::Client,
    jar: Arc<Jar>,
    provider: Origin,
}

/// A form as the page would submit it.
#[derive(Debug)]
struct Form {
    action: Url,
    fields: Vec<(String, String)>,
}

impl Form {
    fn set(&mut self, name: &str, value: &str) {
        self.fields.retain(|(n, _)| n != name);
        self.fields.push((name.to_owned(), value.to_owned()));
    }
}

const MAX_STEPS: usize = 25;

impl HarnessBrowser {
    /// A browser for the provider at `issuer`.
    pub fn new(issuer: &Url) -> Self {
        let jar = Arc::new(Jar::default());
        let http = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(Policy::none())
            .build()
            .expect("a plain reqwest client builds");
        HarnessBrowser {
            http,
            jar,
            provider: issuer.origin(),
        }
    }

    /// The underlying client (shares the cookie jar; redirects are not
    /// followed), for calls to the application under test.
    pub fn client(&self) -> &reqwest::Client {
        &self.http
    }

    /// The cookie jar.
    pub fn jar(&self) -> &Arc<Jar> {
        &self.jar
    }

    /// Opens `start` (an authorization URL, or an application URL that
    /// redirects to one), signs in as `user` when asked, answers the consent
    /// page as `consent` says, and returns the first redirect that leaves the
    /// provider (normally the client's redirect URI with `code`, `state` and
    /// `iss`, or `error`), without following it.
    pub async fn authorize(
        &self,
        start: &Url,
        user: &str,
        password: &str,
        consent: Consent,
    ) -> anyhow::Result<Url> {
        let mut visited_provider = start.origin() == self.provider;
        let mut resp = self.send(Method::GET, start.clone(), None).await?;
        for _ in 0..MAX_STEPS {
            if resp.status().is_redirection() {
                let next = location(&resp)?;
                if next.origin() != self.provider && visited_provider {
                    return Ok(next);
                }
                visited_provider |= next.origin() == self.provider;
                resp = self.send(Method::GET, next, None).await?;
                continue;
            }
            // The parsed page is not Send: keep it out of the next await.
            let form = {
                let page = Page::read(resp).await?;
                if let Some(mut form) = page.form("login") {
                    form.set("username", user);
                    form.set("password", password);
                    form
                } else if let Some(form) = page.form("consent") {
                    consent_form(form, &page, consent)?
                } else {
                    bail!(
                        "unexpected page at {} ({}): {}",
                        page.url,
                        page.status,
                        page.text()
                    );
                }
            };
            resp = self.submit(form).await?;
        }
        bail!("no redirect back to the client after {MAX_STEPS} steps")
    }

    /// Approves a device login: enters `user_code` at `verification_uri`,
    /// confirms, signs in and answers consent. Returns the text of the final
    /// page: the success page, or the code prompt again with the reason
    /// (e.g. `access_denied` after [`Consent::Deny`], a wrong code).
    pub async fn approve_device(
        &self,
        verification_uri: &Url,
        user_code: &str,
        user: &str,
        password: &str,
        consent: Consent,
    ) -> anyhow::Result<String> {
        let mut resp = self
            .send(Method::GET, verification_uri.clone(), None)
            .await?;
        let mut code_entered = false;
        for _ in 0..MAX_STEPS {
            if resp.status().is_redirection() {
                let next = location(&resp)?;
                resp = self.send(Method::GET, next, None).await?;
                continue;
            }
            let form = {
                let page = Page::read(resp).await?;
                if let Some(mut form) = page.form("op.deviceInputForm") {
                    if code_entered {
                        // Back at the code prompt: it shows why (refusal, bad code).
                        return Ok(page.text());
                    }
                    code_entered = true;
                    form.set("user_code", user_code);
                    form
                } else if let Some(form) = page.form("op.deviceConfirmForm") {
                    form
                } else if let Some(mut form) = page.form("login") {
                    form.set("username", user);
                    form.set("password", password);
                    form
                } else if let Some(form) = page.form("consent") {
                    consent_form(form, &page, consent)?
                } else {
                    return Ok(page.text());
                }
            };
            resp = self.submit(form).await?;
        }
        bail!("the device approval did not finish after {MAX_STEPS} steps")
    }

    /// Follows an end-session URL (RP-initiated logout), confirms "sign me
    /// out" and returns the first redirect that leaves the provider (the
    /// post-logout redirect URI), or `None` when the provider ends on its own
    /// page.
    pub async fn end_session(&self, url: &Url) -> anyhow::Result<Option<Url>> {
        let mut resp = self.send(Method::GET, url.clone(), None).await?;
        for _ in 0..MAX_STEPS {
            if resp.status().is_redirection() {
                let next = location(&resp)?;
                if next.origin() != self.provider {
                    return Ok(Some(next));
                }
                resp = self.send(Method::GET, next, None).await?;
                continue;
            }
            let form = {
                let page = Page::read(resp).await?;
                if page.status != StatusCode::OK {
                    bail!(
                        "logout failed at {} ({}): {}",
                        page.url,
                        page.status,
                        page.text()
                    );
                }
                let Some(mut form) = page.form("op.logoutForm") else {
                    return Ok(None);
                };
                form.set("logout", "yes");
                form
            };
            resp = self.submit(form).await?;
        }
        bail!("logout did not finish after {MAX_STEPS} steps")
    }

    async fn submit(&self, form: Form) -> anyhow::Result<Response> {
        let body = serde_urlencoded::to_string(&form.fields)?;
        self.send(Method::POST, form.action, Some(body)).await
    }

    async fn send(
        &self,
        method: Method,
        url: Url,
        form: Option<String>,
    ) -> anyhow::Result<Response> {
        let mut req = self.http.request(method.clone(), url.clone());
        if let Some(body) = form {
            req = req
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("{method} {}", without_query(&url)))?;
        if std::env::var_os("INTEROP_TRACE").is_some() {
            eprintln!(
                "interop browser: {method} {} -> {}",
                without_query(&url),
                resp.status()
            );
        }
        Ok(resp)
    }
}

fn consent_form(mut form: Form, page: &Page, consent: Consent) -> anyhow::Result<Form> {
    match consent {
        Consent::Deny => form.set("decision", "deny"),
        Consent::GrantAll => form.set("decision", "allow"),
        Consent::Grant(wanted) => {
            let offered = page.checkbox_values("consent", "scope");
            if offered.is_empty() && !page.text().contains("openid") {
                bail!("the consent page lists no scope");
            }
            form.fields
                .retain(|(name, value)| name != "scope" || value == "openid");
            for value in offered {
                if wanted.iter().any(|s| s.as_str() == value) {
                    form.fields.push(("scope".to_owned(), value));
                }
            }
            form.set("decision", "allow");
        }
    }
    Ok(form)
}

fn location(resp: &Response) -> anyhow::Result<Url> {
    let value = resp
        .headers()
        .get(reqwest::header::LOCATION)
        .context("redirect without Location")?
        .to_str()
        .context("Location is not text")?;
    resp.url().join(value).context("Location is not a URL")
}

fn without_query(url: &Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.to_string()
}

/// A fetched HTML page.
struct Page {
    url: Url,
    status: StatusCode,
    html: Html,
}

impl Page {
    async fn read(resp: Response) -> anyhow::Result<Page> {
        let url = resp.url().clone();
        let status = resp.status();
        let body = resp.text().await?;
        Ok(Page {
            url,
            status,
            html: Html::parse_document(&body),
        })
    }

    fn text(&self) -> String {
        self.html
            .root_element()
            .text()
            .collect::<Vec<_>>()
            .join(" ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The form with this id and the fields it would submit without a
    /// button: hidden and text inputs, and ticked, enabled checkboxes.
    fn form(&self, id: &str) -> Option<Form> {
        let forms = Selector::parse("form").expect("static selector");
        let inputs = Selector::parse("input").expect("static selector");
        let form = self
            .html
            .select(&forms)
            .find(|f| f.value().id() == Some(id))?;
        let action = self
            .url
            .join(form.value().attr("action").unwrap_or(""))
            .ok()?;
        let mut fields = Vec::new();
        for input in form.select(&inputs) {
            let el = input.value();
            let Some(name) = el.attr("name") else {
                continue;
            };
            if el.attr("disabled").is_some() {
                continue;
            }
            let kind = el.attr("type").unwrap_or("text");
            if matches!(kind, "checkbox" | "radio") && el.attr("checked").is_none() {
                continue;
            }
            fields.push((name.to_owned(), el.attr("value").unwrap_or("").to_owned()));
        }
        Some(Form { action, fields })
    }

    /// Values of the enabled checkboxes named `name` in form `id`.
    fn checkbox_values(&self, id: &str, name: &str) -> Vec<String> {
        let forms = Selector::parse("form").expect("static selector");
        let boxes = Selector::parse("input[type=checkbox]").expect("static selector");
        let Some(form) = self
            .html
            .select(&forms)
            .find(|f| f.value().id() == Some(id))
        else {
            return Vec::new();
        };
        form.select(&boxes)
            .filter(|b| {
                b.value().attr("name") == Some(name) && b.value().attr("disabled").is_none()
            })
            .filter_map(|b| b.value().attr("value").map(str::to_owned))
            .collect()
    }
}
