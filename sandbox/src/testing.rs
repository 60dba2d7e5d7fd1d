//! Drives the sandbox's login, consent and device pages as a person would,
//! for tests of every crate (sandbox, backend, CLI, end-to-end).
//!
//! ```no_run
//! # async fn demo(auth_url: url::Url) -> anyhow::Result<()> {
//! use giponext_sandbox::testing::{Browser, Consent};
//! use giponext_shared::{Scope, ScopeSet};
//!
//! let browser = Browser::new();
//! // Log in as Mario and grant everything asked except invoicing:
//! let asked_minus_invoices = ScopeSet::all().difference(ScopeSet::of(&[Scope::Invoices]));
//! let callback = browser
//!     .authorize(&auth_url, "mario.rossi", "sandbox", Consent::Grant(asked_minus_invoices))
//!     .await?;
//! // `callback` is the redirect to the client's redirect_uri, with `code`,
//! // `state` and `iss` (or `error`): NOT followed, the test decides.
//! # Ok(()) }
//! ```
//!
//! The browser keeps cookies (so a second `authorize` with the same browser
//! skips the login, as a real one would, unless `prompt=login`; if another
//! user is logged in it presses "Non sei tu? Cambia utente" and logs in as
//! the one asked for) and never
//! follows a redirect to the client by itself. The pages are plain HTML
//! forms; every hidden field (request id, anti-CSRF token) is submitted back.

use anyhow::{Context, bail};
use giponext_shared::{Scope, ScopeSet};
use reqwest::header::LOCATION;
use scraper::{ElementRef, Html, Selector};
use url::Url;

/// What the person does on the consent page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consent {
    /// Tick exactly these scopes (those of them the page offers) and press
    /// "Consenti". `openid` is always granted: it cannot be refused.
    Grant(ScopeSet),
    /// Leave every requested scope ticked and press "Consenti".
    GrantAll,
    /// Press "Nega": the client gets `access_denied`.
    Deny,
}

/// A cookie-keeping HTTP client that fills in the sandbox's forms.
#[derive(Debug, Clone)]
pub struct Browser {
    client: reqwest::Client,
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

/// How many pages one flow may take before we assume a loop.
const MAX_STEPS: usize = 20;

impl Browser {
    /// A browser with its own cookie store that does not follow redirects.
    ///
    /// # Panics
    /// If the TLS backend cannot initialise (never in practice).
    pub fn new() -> Self {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("building a reqwest client with rustls");
        Browser { client }
    }

    /// A browser over a caller's client, e.g. one sharing a cookie jar with
    /// the test's calls to the backend. The client MUST keep cookies and MUST
    /// NOT follow redirects (`reqwest::redirect::Policy::none()`), or the
    /// flow cannot stop at the client's redirect URI.
    pub fn with_client(client: reqwest::Client) -> Self {
        Browser { client }
    }

    /// The underlying HTTP client (same cookies).
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Opens `auth_url` (an authorization request to the sandbox, or any URL
    /// that redirects to one, e.g. the backend's `/auth/login`), logs in as
    /// `user` if the sandbox asks, answers the consent page as `consent`
    /// says, and returns the redirect to the client's `redirect_uri` (with
    /// `code`, `state`, `iss`, or `error`) without following it.
    ///
    /// Errors if a page is an error page (e.g. unregistered redirect URI: the
    /// message names it), the login fails, or no redirect to the client comes.
    pub async fn authorize(
        &self,
        auth_url: &Url,
        user: &str,
        password: &str,
        consent: Consent,
    ) -> anyhow::Result<Url> {
        let mut redirect_uri = redirect_uri_of(auth_url);
        let mut url = auth_url.clone();
        let mut login_tried = false;
        let mut request = self.client.get(url.clone());
        for _ in 0..MAX_STEPS {
            let res = request
                .send()
                .await
                .with_context(|| format!("requesting {url}"))?;
            url = res.url().clone();
            if res.status().is_redirection() {
                let next = location(&url, &res)?;
                if let Some(r) = &redirect_uri
                    && without_query(&next) == *r
                {
                    return Ok(next);
                }
                // A pushed request (RFC 9126) names no redirect URI in the
                // browser: the answer to the client is the redirect that
                // carries the authorization response with its RFC 9207 `iss`.
                if redirect_uri.is_none() && is_authorization_response(&next) {
                    return Ok(next);
                }
                if redirect_uri.is_none() {
                    redirect_uri = redirect_uri_of(&next);
                }
                url = next;
                request = self.client.get(url.clone());
                continue;
            }
            let status = res.status();
            let body = res.text().await.context("reading a page")?;
            let page = Page::parse(&body);
            let Some(form) = page.form(&url)? else {
                bail!(
                    "the page at {url} ({status}) has no form: {}",
                    page.error_text()
                );
            };
            if let Some(next) = self.answer_sign_in(
                &page,
                &form,
                &url,
                user,
                password,
                consent,
                &mut login_tried,
            )? {
                request = next;
            } else if !status.is_success() {
                bail!("error page at {url} ({status}): {}", page.error_text());
            } else {
                bail!("unexpected form at {url}: {}", page.error_text());
            }
        }
        bail!("no redirect to the client after {MAX_STEPS} pages (last: {url})")
    }

    /// Approves (or denies, with [`Consent::Deny`]) a device authorization:
    /// opens `verification_uri` (plain or `_complete`), enters `user_code`,
    /// logs in as `user` if asked and answers the consent page. Returns when
    /// the sandbox shows its result page.
    ///
    /// Errors if the code is refused (unknown or expired), the login fails,
    /// or an error page is shown.
    pub async fn approve_device(
        &self,
        verification_uri: &Url,
        user_code: &str,
        user: &str,
        password: &str,
        consent: Consent,
    ) -> anyhow::Result<()> {
        let mut url = verification_uri.clone();
        let mut login_tried = false;
        let mut code_entered = false;
        let mut request = self.client.get(url.clone());
        for _ in 0..MAX_STEPS {
            let res = request
                .send()
                .await
                .with_context(|| format!("requesting {url}"))?;
            url = res.url().clone();
            if res.status().is_redirection() {
                url = location(&url, &res)?;
                request = self.client.get(url.clone());
                continue;
            }
            let status = res.status();
            let body = res.text().await.context("reading a page")?;
            let page = Page::parse(&body);
            let Some(form) = page.form(&url)? else {
                if status.is_success() && page.has_result() {
                    return Ok(());
                }
                bail!(
                    "the page at {url} ({status}) has no form: {}",
                    page.error_text()
                );
            };
            if form.has_field("user_code") {
                if code_entered {
                    bail!("the code {user_code} was refused: {}", page.error_text());
                }
                code_entered = true;
                let mut fields = form.default_fields();
                fields.retain(|(k, _)| k != "user_code");
                fields.push(("user_code".into(), user_code.into()));
                request = self.client.post(form.action.clone()).form(&fields);
            } else if let Some(next) = self.answer_sign_in(
                &page,
                &form,
                &url,
                user,
                password,
                consent,
                &mut login_tried,
            )? {
                request = next;
            } else {
                bail!("unexpected form at {url} ({status}): {}", page.error_text());
            }
        }
        bail!("device approval did not finish after {MAX_STEPS} pages (last: {url})")
    }

    /// The next request when `page` is one of the sign-in steps both flows
    /// share (login, switch user, consent); `None` for any other page.
    #[allow(clippy::too_many_arguments)]
    fn answer_sign_in(
        &self,
        page: &Page,
        form: &Form,
        url: &Url,
        user: &str,
        password: &str,
        consent: Consent,
        login_tried: &mut bool,
    ) -> anyhow::Result<Option<reqwest::RequestBuilder>> {
        if form.has_field("password") {
            if *login_tried {
                bail!("login as {user} failed: {}", page.error_text());
            }
            *login_tried = true;
            let fields = form.login_fields(user, password);
            return Ok(Some(self.client.post(form.action.clone()).form(&fields)));
        }
        if let Some(switch) = page.switch_user_link(url, user)? {
            // Someone else is logged in at the sandbox in this browser.
            if *login_tried {
                bail!("the sandbox kept another user logged in instead of {user}");
            }
            return Ok(Some(self.client.get(switch)));
        }
        if form.has_field("decision") {
            let fields = form.consent_fields(consent);
            return Ok(Some(self.client.post(form.action.clone()).form(&fields)));
        }
        Ok(None)
    }
}

fn redirect_uri_of(url: &Url) -> Option<String> {
    let has_client = url.query_pairs().any(|(k, _)| k == "client_id");
    url.query_pairs()
        .find(|(k, _)| k == "redirect_uri" && has_client)
        .map(|(_, v)| v.into_owned())
}

fn is_authorization_response(url: &Url) -> bool {
    let has = |name: &str| url.query_pairs().any(|(k, _)| k == name);
    has("iss") && (has("code") || has("error"))
}

fn without_query(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}

fn location(base: &Url, res: &reqwest::Response) -> anyhow::Result<Url> {
    let loc = res
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .with_context(|| format!("redirect from {base} without a Location"))?;
    base.join(loc)
        .with_context(|| format!("bad Location {loc:?} from {base}"))
}

struct Page {
    html: Html,
}

#[derive(Debug)]
struct Field {
    name: String,
    value: String,
    kind: String,
    checked: bool,
    disabled: bool,
}

struct Form {
    action: Url,
    fields: Vec<Field>,
}

fn sel(s: &str) -> Selector {
    Selector::parse(s).expect("static selector is valid")
}

impl Page {
    fn parse(body: &str) -> Page {
        Page {
            html: Html::parse_document(body),
        }
    }

    /// On a consent page for someone other than `user`: the "not you?" link.
    fn switch_user_link(&self, page_url: &Url, user: &str) -> anyhow::Result<Option<Url>> {
        let Some(who) = self.html.select(&sel("[data-username]")).next() else {
            return Ok(None);
        };
        if who.value().attr("data-username") == Some(user) {
            return Ok(None);
        }
        let href = self
            .html
            .select(&sel("#switch-user"))
            .next()
            .and_then(|a| a.value().attr("href"))
            .context("consent page for another user without a switch-user link")?;
        Ok(Some(
            page_url
                .join(href)
                .with_context(|| format!("bad link {href:?}"))?,
        ))
    }

    fn has_result(&self) -> bool {
        self.html.select(&sel("#result")).next().is_some()
    }

    /// The page's error message, or its text, shortened.
    fn error_text(&self) -> String {
        let text = |e: ElementRef<'_>| {
            e.text()
                .collect::<Vec<_>>()
                .join(" ")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        };
        let found = self.html.select(&sel("#error")).next().map(text);
        let mut t = found.unwrap_or_else(|| {
            self.html
                .select(&sel("body"))
                .next()
                .map(text)
                .unwrap_or_default()
        });
        if t.len() > 400 {
            let cut = (0..=400)
                .rev()
                .find(|i| t.is_char_boundary(*i))
                .unwrap_or(0);
            t.truncate(cut);
        }
        t
    }

    fn form(&self, page_url: &Url) -> anyhow::Result<Option<Form>> {
        let Some(form) = self.html.select(&sel("form")).next() else {
            return Ok(None);
        };
        let action = form.value().attr("action").unwrap_or("");
        let action = page_url
            .join(action)
            .with_context(|| format!("bad form action {action:?}"))?;
        let mut fields = Vec::new();
        for el in form.select(&sel("input, button")) {
            let v = el.value();
            let Some(name) = v.attr("name") else { continue };
            let default_kind = if v.name() == "button" {
                "submit"
            } else {
                "text"
            };
            fields.push(Field {
                name: name.to_owned(),
                value: v.attr("value").unwrap_or("").to_owned(),
                kind: v.attr("type").unwrap_or(default_kind).to_ascii_lowercase(),
                checked: v.attr("checked").is_some(),
                disabled: v.attr("disabled").is_some(),
            });
        }
        Ok(Some(Form { action, fields }))
    }
}

impl Form {
    fn has_field(&self, name: &str) -> bool {
        self.fields.iter().any(|f| f.name == name)
    }

    /// What submitting the form untouched sends (without any button).
    fn default_fields(&self) -> Vec<(String, String)> {
        self.fields
            .iter()
            .filter(|f| !f.disabled && f.kind != "submit")
            .filter(|f| !matches!(f.kind.as_str(), "checkbox" | "radio") || f.checked)
            .map(|f| (f.name.clone(), f.value.clone()))
            .collect()
    }

    fn login_fields(&self, user: &str, password: &str) -> Vec<(String, String)> {
        let mut fields: Vec<(String, String)> = self
            .default_fields()
            .into_iter()
            .filter(|(k, _)| k != "username" && k != "password")
            .collect();
        fields.push(("username".into(), user.into()));
        fields.push(("password".into(), password.into()));
        fields
    }

    fn consent_fields(&self, consent: Consent) -> Vec<(String, String)> {
        let mut fields: Vec<(String, String)> = self
            .fields
            .iter()
            .filter(|f| !f.disabled && f.kind == "hidden")
            .map(|f| (f.name.clone(), f.value.clone()))
            .collect();
        for f in self
            .fields
            .iter()
            .filter(|f| f.kind == "checkbox" && !f.disabled)
        {
            let tick = match consent {
                Consent::GrantAll | Consent::Deny => f.checked,
                Consent::Grant(set) => Scope::from_wire(&f.value).is_some_and(|s| set.contains(s)),
            };
            if tick {
                fields.push((f.name.clone(), f.value.clone()));
            }
        }
        let decision = if consent == Consent::Deny {
            "deny"
        } else {
            "allow"
        };
        fields.push(("decision".into(), decision.into()));
        fields
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONSENT: &str = r#"<form method="post" action="/oauth2/consent">
        <input type="hidden" name="request" value="r1"><input type="hidden" name="csrf" value="c1">
        <input type="checkbox" name="scope" value="openid" checked disabled>
        <input type="checkbox" name="scope" value="giponext.patients" checked>
        <input type="checkbox" name="scope" value="giponext.invoices" checked>
        <button type="submit" name="decision" value="allow">Consenti</button>
        <button type="submit" name="decision" value="deny">Nega</button></form>"#;

    fn consent_form() -> Form {
        let base = Url::parse("http://127.0.0.1:1/oauth2/consent?request=r1").expect("URL");
        Page::parse(CONSENT)
            .form(&base)
            .expect("parses")
            .expect("has a form")
    }

    #[test]
    fn consent_ticks_exactly_the_chosen_scopes_and_keeps_hidden_fields() {
        let form = consent_form();
        assert_eq!(form.action.as_str(), "http://127.0.0.1:1/oauth2/consent");
        let grant = form.consent_fields(Consent::Grant(ScopeSet::of(&[
            Scope::Invoices,
            Scope::Agenda,
        ])));
        let pairs = |v: &[(&str, &str)]| {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            grant,
            pairs(&[
                ("request", "r1"),
                ("csrf", "c1"),
                ("scope", "giponext.invoices"),
                ("decision", "allow")
            ])
        );
        let all = form.consent_fields(Consent::GrantAll);
        assert!(all.contains(&("scope".into(), "giponext.patients".into())));
        assert!(
            !all.iter().any(|(_, v)| v == "openid"),
            "disabled boxes are not submitted"
        );
        let deny = form.consent_fields(Consent::Deny);
        assert_eq!(
            deny.last(),
            Some(&("decision".to_owned(), "deny".to_owned()))
        );
    }

    #[test]
    fn login_fields_replace_username_and_password() {
        let html = r#"<form action="/oauth2/login"><input type="hidden" name="request" value="r">
            <input name="username" value="old"><input type="password" name="password"></form>"#;
        let base = Url::parse("http://h/x").expect("URL");
        let form = Page::parse(html)
            .form(&base)
            .expect("parses")
            .expect("form");
        assert!(form.has_field("password"));
        let fields = form.login_fields("mario.rossi", "sandbox");
        assert_eq!(fields.iter().filter(|(k, _)| k == "username").count(), 1);
        assert!(fields.contains(&("username".into(), "mario.rossi".into())));
        assert!(fields.contains(&("request".into(), "r".into())));
    }

    #[test]
    fn the_redirect_uri_is_read_from_an_authorization_request() {
        let url =
            Url::parse("http://h/oauth2/authorize?client_id=c&redirect_uri=http%3A%2F%2Fapp%2Fcb")
                .expect("URL");
        assert_eq!(redirect_uri_of(&url).as_deref(), Some("http://app/cb"));
        assert_eq!(
            redirect_uri_of(&Url::parse("http://h/auth/login").expect("URL")),
            None
        );
        let cb = Url::parse("http://app/cb?code=1&state=2").expect("URL");
        assert_eq!(without_query(&cb), "http://app/cb");
    }
}
