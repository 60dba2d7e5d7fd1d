//! The GipoNext REST client over the shared resource table.
//!
//! Every call names a row of [`giponext_shared::OPERATIONS`]; the path is
//! filled from the row's template, so the CLI can only call what the table
//! lists. Policy: a 401 refreshes once and retries (the request was not
//! processed); 429 waits for `Retry-After` with jitter (reads only); 5xx and
//! transport errors back off and retry, for reads only; writes are never
//! retried otherwise.

use std::time::Duration;

use anyhow::{Context, Result};
use giponext_shared::api::{ApiError, Page, PageQuery, UserInfo, error_codes};
use giponext_shared::operations::fill_path;
use giponext_shared::{Access, Method, Operation, ScopeSet};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use url::Url;

use crate::auth::Session;
use crate::exit::{Exit, Failure};
use crate::retry;
use crate::secret::Secret;
use crate::store::StoredUser;

/// The JSON line printed (on stdout) when scopes are missing.
pub fn missing_scopes_json(command: &str, missing: ScopeSet, granted: ScopeSet) -> String {
    serde_json::json!({
        "error": "missing_scopes",
        "command": command,
        "missing": missing,
        "granted": granted,
    })
    .to_string()
}

/// `GET {api_base}/v2/userinfo` with a fresh token, right after login.
pub async fn fetch_user(
    http: &reqwest::Client,
    api_base: &Url,
    token: &Secret,
) -> Result<StoredUser> {
    let url = join(api_base, "/v2/userinfo")?;
    let response = http.get(url).bearer_auth(token.expose()).send().await?;
    let status = response.status();
    if !status.is_success() {
        anyhow::bail!("userinfo answered {status}");
    }
    let info: UserInfo = response.json().await.context("userinfo is malformed")?;
    Ok(StoredUser {
        sub: info.sub,
        name: info.name,
        tenant: info.tenants.into_iter().next(),
    })
}

fn join(base: &Url, path: &str) -> Result<Url> {
    let base = base.as_str().trim_end_matches('/');
    Url::parse(&format!("{base}{path}")).context("building the API URL")
}

/// The API client of one run.
pub struct Api<'s> {
    session: &'s mut Session,
}

impl<'s> Api<'s> {
    /// A client acting for the session's user.
    pub fn new(session: &'s mut Session) -> Api<'s> {
        Api { session }
    }

    /// The tenant of the logged-in user.
    pub fn tenant_id(&self) -> Result<String> {
        let creds = self.session.require_login()?;
        creds
            .user
            .as_ref()
            .and_then(|u| u.tenant.as_ref())
            .map(|t| t.id.clone())
            .context("the login has no medical centre (tenant); run `giponext login` again")
    }

    fn url(
        &self,
        op: &Operation,
        params: &[(&str, &str)],
        query: &[(String, String)],
    ) -> Result<Url> {
        let tenant = self.tenant_id()?;
        let mut values: Vec<(&str, &str)> = vec![("tenantId", tenant.as_str())];
        values.extend_from_slice(params);
        let path = fill_path(op.path, &values).ok_or_else(|| {
            Failure::new(
                Exit::Usage,
                format!("invalid identifier for {}: {params:?}", op.id),
            )
        })?;
        let mut url = join(&self.session.config.api_base, &path)?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(url)
    }

    /// Sends one request of `op` and returns the body of a 2xx answer.
    pub async fn send(
        &mut self,
        op: &'static Operation,
        params: &[(&str, &str)],
        query: &[(String, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<Vec<u8>> {
        let url = self.url(op, params, query)?;
        let read = op.access == Access::Read;
        let mut refreshed = false;
        let mut server_retries = 0;
        let mut rate_waits = 0;
        loop {
            let token = self.session.access_token().await?;
            let mut request = match op.method {
                Method::Get => self.session.http.get(url.clone()),
                Method::Post => self.session.http.post(url.clone()),
                Method::Put => self.session.http.put(url.clone()),
                Method::Delete => self.session.http.delete(url.clone()),
            }
            .bearer_auth(token.expose())
            .header("Accept", "application/json");
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = match request.send().await {
                Ok(r) => r,
                Err(e) if read && server_retries < retry::MAX_SERVER_RETRIES => {
                    let wait = retry::backoff(server_retries);
                    tracing::warn!(
                        "{} failed ({e}); retrying in {:.1}s",
                        op.id,
                        wait.as_secs_f64()
                    );
                    server_retries += 1;
                    tokio::time::sleep(wait).await;
                    continue;
                }
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("cannot reach the GipoNext API ({})", op.id));
                }
            };
            let status = response.status();
            let headers = response.headers().clone();
            let bytes = response
                .bytes()
                .await
                .context("reading the API's answer")?
                .to_vec();
            if status.is_success() {
                return Ok(bytes);
            }
            match status {
                StatusCode::UNAUTHORIZED if !refreshed => {
                    // Not processed: refresh once and send again, writes included.
                    tracing::debug!("{} got 401; refreshing the token", op.id);
                    self.session.refresh().await?;
                    refreshed = true;
                    continue;
                }
                StatusCode::TOO_MANY_REQUESTS
                    if read && rate_waits < retry::MAX_RATE_LIMIT_WAITS =>
                {
                    let wait = retry::with_jitter(
                        retry::retry_after(&headers).unwrap_or(Duration::from_secs(1)),
                    );
                    eprintln!(
                        "Rate limited by GipoNext; waiting {:.1}s.",
                        wait.as_secs_f64()
                    );
                    rate_waits += 1;
                    tokio::time::sleep(wait).await;
                    continue;
                }
                s if s.is_server_error() && read && server_retries < retry::MAX_SERVER_RETRIES => {
                    let wait = retry::backoff(server_retries);
                    tracing::warn!("{} got {s}; retrying in {:.1}s", op.id, wait.as_secs_f64());
                    server_retries += 1;
                    tokio::time::sleep(wait).await;
                    continue;
                }
                _ => return Err(self.failure(op, status, &headers, &bytes)),
            }
        }
    }

    fn failure(
        &self,
        op: &Operation,
        status: StatusCode,
        headers: &reqwest::header::HeaderMap,
        body: &[u8],
    ) -> anyhow::Error {
        let error: Option<ApiError> = serde_json::from_slice(body).ok();
        let code = error.as_ref().map_or("", |e| e.error.as_str());
        let message = error.as_ref().map_or("", |e| e.message.as_str());
        if status == StatusCode::FORBIDDEN && code == error_codes::INSUFFICIENT_SCOPE {
            let missing = error
                .as_ref()
                .and_then(|e| e.scope.as_deref())
                .map(|s| ScopeSet::parse(s).known)
                .or(op.scope.map(|s| ScopeSet::of(&[s])))
                .unwrap_or_default();
            println!(
                "{}",
                missing_scopes_json(op.id, missing, self.session.granted())
            );
            return Failure::new(
                Exit::MissingScopes,
                format!(
                    "the token lacks {} for {}; run `giponext auth refresh --scopes {}`",
                    missing, op.id, missing
                ),
            )
            .into();
        }
        let text = match (status, code) {
            (StatusCode::UNAUTHORIZED, _) => {
                return Failure::new(
                    Exit::Generic,
                    "GipoNext refused the token even after a refresh; run `giponext login`",
                )
                .into();
            }
            (StatusCode::FORBIDDEN, error_codes::PERMISSION_DENIED) => format!(
                "your GipoNext user is not allowed to do this ({}): {message}. Ask the centre's administrator; granting scopes does not help",
                op.id
            ),
            (StatusCode::NOT_FOUND, _) => format!("not found ({}): {message}", op.id),
            (StatusCode::CONFLICT, _) => {
                format!("conflict: the record changed meanwhile; read it again ({message})")
            }
            (StatusCode::UNPROCESSABLE_ENTITY, _) => {
                let fields = error
                    .as_ref()
                    .map(|e| {
                        e.fields
                            .iter()
                            .map(|f| format!("\n  {}: {}", f.field, f.message))
                            .collect::<String>()
                    })
                    .unwrap_or_default();
                format!("GipoNext rejected the data: {message}{fields}")
            }
            (StatusCode::TOO_MANY_REQUESTS, _) => {
                let after = retry::retry_after(headers)
                    .map_or(String::new(), |d| format!(" Retry after {}s.", d.as_secs()));
                format!("rate limited by GipoNext; writes are not retried automatically.{after}")
            }
            _ if status.is_server_error() => {
                format!("GipoNext failed ({status}) on {}; try again later", op.id)
            }
            _ => format!("GipoNext answered {status} to {}: {code} {message}", op.id),
        };
        Failure::new(Exit::Api, text).into()
    }

    /// Sends and decodes.
    pub async fn call<T: DeserializeOwned>(
        &mut self,
        op: &'static Operation,
        params: &[(&str, &str)],
        query: &[(String, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<T> {
        let bytes = self.send(op, params, query, body).await?;
        serde_json::from_slice(&bytes)
            .with_context(|| format!("the answer to {} is malformed", op.id))
    }

    /// Reads every page of a list, following `hasMore`.
    pub async fn list_all<T: DeserializeOwned>(
        &mut self,
        op: &'static Operation,
        query: &[(String, String)],
        progress: &indicatif::ProgressBar,
    ) -> Result<Vec<T>> {
        let mut items = Vec::new();
        let mut offset = 0u64;
        loop {
            let mut q = query.to_vec();
            q.push(("offset".into(), offset.to_string()));
            q.push(("limit".into(), PageQuery::MAX_LIMIT.to_string()));
            let page: Page<T> = self.call(op, &[], &q, None).await?;
            progress.set_length(page.total_count);
            let got = page.items.len() as u64;
            items.extend(page.items);
            progress.set_position(items.len() as u64);
            if !page.has_more || got == 0 {
                break;
            }
            offset = page.offset + got;
        }
        progress.finish_and_clear();
        Ok(items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use giponext_shared::Scope;

    #[test]
    fn missing_scopes_line_is_machine_readable() {
        let line = missing_scopes_json(
            "invoices export",
            ScopeSet::of(&[Scope::Invoices]),
            ScopeSet::of(&[Scope::OpenId, Scope::Patients]),
        );
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["error"], "missing_scopes");
        assert_eq!(v["missing"], serde_json::json!(["giponext.invoices"]));
        assert_eq!(
            v["granted"],
            serde_json::json!(["openid", "giponext.patients"])
        );
        assert!(!line.contains('\n'));
    }

    #[test]
    fn urls_join_without_double_slashes() {
        let base = Url::parse("http://127.0.0.1:1/").unwrap();
        assert_eq!(
            join(&base, "/v2/userinfo").unwrap().as_str(),
            "http://127.0.0.1:1/v2/userinfo"
        );
        let base = Url::parse("http://h/api").unwrap();
        assert_eq!(join(&base, "/v2/x").unwrap().as_str(), "http://h/api/v2/x");
    }
}
