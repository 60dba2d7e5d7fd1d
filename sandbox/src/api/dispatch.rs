//! The one entry point of the API: match the row of the resource table, then
//! apply the platform's checks in order, then run the operation.
//!
//! # Security
//! The order is deliberate: an unknown path is 404 before anything else (the
//! table is the whole API); then the bearer token (RFC 6750 §2.1, 401
//! `invalid_token` on any failure, §3.1); the rate limit, keyed by the
//! token's client; the scope (403 `insufficient_scope` naming it, §3.1); the
//! tenant (another tenant's data is "not found", never "forbidden", so its
//! existence does not leak); and last the user's GipoNext permission.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use giponext_shared::api::{TenantRef, UserInfo};
use giponext_shared::operations::{Access, Method, NoMatch, Operation, match_path};
use rusqlite::Connection;

use super::error::ApiFailure;
use super::params::Query;
use super::{agenda, catalogue, clinical, invoices, patients};
use crate::account::tokens::{AccessClaims, TokenError, verify_access_token};
use crate::server::SandboxState;
use crate::users::{self, User};

/// The largest request body the API reads.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What an operation answers: a status and a JSON body.
pub type Reply = (StatusCode, serde_json::Value);

/// Everything an operation needs about its request, already checked.
pub struct Ctx {
    /// The matched row.
    pub operation: &'static Operation,
    /// The token's tenant (equal to the path's, when the path has one).
    pub tenant: String,
    /// The calling user.
    pub user: &'static User,
    /// The path parameters.
    pub params: Vec<(&'static str, String)>,
    /// The query string.
    pub query: Query,
    /// The body (empty for reads).
    pub body: Bytes,
}

impl Ctx {
    /// A path parameter (always present: the row's template names it).
    pub fn param(&self, name: &str) -> &str {
        self.params
            .iter()
            .find(|(n, _)| *n == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// A numeric path id; anything else names no record, hence 404.
    pub fn id(&self, name: &str, what: &str) -> Result<i64, ApiFailure> {
        let raw = self.param(name);
        raw.parse::<i64>()
            .map_err(|_| ApiFailure::NotFound(format!("no {what} {raw}")))
    }
}

/// Serialises a response body (our own types cannot fail to serialise).
pub fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> Result<Reply, ApiFailure> {
    Ok((
        status,
        serde_json::to_value(value).map_err(anyhow::Error::from)?,
    ))
}

/// The fallback handler serving the whole API.
pub async fn handle(State(state): State<Arc<SandboxState>>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    match serve(state, request).await {
        Ok((status, body)) => {
            // A created record is at its collection's path plus its id
            // (RFC 9110 §15.3.2).
            let location = (status == StatusCode::CREATED)
                .then(|| body["id"].as_i64())
                .flatten()
                .and_then(|id| header::HeaderValue::from_str(&format!("{path}/{id}")).ok());
            let mut response = (status, axum::Json(body)).into_response();
            if let Some(location) = location {
                response.headers_mut().insert(header::LOCATION, location);
            }
            response
        }
        Err(failure) => failure.into_response(),
    }
}

fn allowed_methods(path: &str) -> Vec<Method> {
    [Method::Get, Method::Post, Method::Put, Method::Delete]
        .into_iter()
        .filter(|m| match_path(*m, path).is_ok())
        .collect()
}

fn bearer_token(headers: &HeaderMap) -> Result<&str, ApiFailure> {
    let value = headers.get(header::AUTHORIZATION).ok_or_else(|| {
        ApiFailure::InvalidToken("an access token is required (Authorization: Bearer ...)".into())
    })?;
    let value = value
        .to_str()
        .map_err(|_| ApiFailure::InvalidToken("the Authorization header is not readable".into()))?;
    match value.split_once(' ') {
        // The scheme is case-insensitive (RFC 9110 §11.1).
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim())
        }
        _ => Err(ApiFailure::InvalidToken(
            "the Authorization header must be: Bearer <access token>".into(),
        )),
    }
}

fn check_token(state: &SandboxState, headers: &HeaderMap) -> Result<AccessClaims, ApiFailure> {
    let token = bearer_token(headers)?;
    verify_access_token(state, token).map_err(|e| match e {
        TokenError::Internal(err) => ApiFailure::Internal(err),
        other => ApiFailure::InvalidToken(other.to_string()),
    })
}

async fn serve(state: Arc<SandboxState>, request: Request) -> Result<Reply, ApiFailure> {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path();
    let matched = match Method::from_wire(parts.method.as_str()) {
        Some(method) => match_path(method, path),
        None => Err(if allowed_methods(path).is_empty() {
            NoMatch::UnknownPath
        } else {
            NoMatch::MethodNotAllowed
        }),
    };
    let matched = match matched {
        Ok(m) => m,
        Err(NoMatch::UnknownPath) => {
            return Err(ApiFailure::NotFound(format!("no API resource at {path}")));
        }
        Err(NoMatch::MethodNotAllowed) => {
            let allow = allowed_methods(path)
                .iter()
                .map(|m| m.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            return Err(ApiFailure::MethodNotAllowed(allow));
        }
    };
    let operation = matched.operation;

    let claims = check_token(&state, &parts.headers)?;
    state
        .rate_limiter
        .check(&claims.client_id)
        .map_err(ApiFailure::RateLimited)?;
    if let Some(scope) = operation.scope
        && !claims.scopes().contains(scope)
    {
        return Err(ApiFailure::InsufficientScope(scope));
    }
    let user = users::by_sub(&claims.sub)
        .ok_or_else(|| ApiFailure::InvalidToken("the token's user does not exist".into()))?;
    if let Some(tenant) = matched.tenant_id()
        && tenant != claims.tenant
    {
        return Err(ApiFailure::NotFound(format!("tenant {tenant} not found")));
    }
    if !user
        .permissions
        .allows(operation.resource, operation.access)
    {
        let action = if operation.access == Access::Write {
            "change"
        } else {
            "read"
        };
        return Err(ApiFailure::PermissionDenied(format!(
            "your GipoNext role does not allow you to {action} {}; ask your centre's administrator",
            resource_name(operation)
        )));
    }

    let query = Query::parse(parts.uri.query())?;
    let body = if operation.access == Access::Write && operation.method != Method::Delete {
        if let Some(ct) = parts.headers.get(header::CONTENT_TYPE) {
            let ct = ct.to_str().unwrap_or_default().to_ascii_lowercase();
            if !ct.starts_with("application/json") {
                return Err(ApiFailure::BadRequest(format!(
                    "the body must be JSON (Content-Type: application/json), got {ct:?}"
                )));
            }
        }
        axum::body::to_bytes(body, MAX_BODY_BYTES)
            .await
            .map_err(|_| ApiFailure::PayloadTooLarge)?
    } else {
        Bytes::new()
    };
    let ctx = Ctx {
        operation,
        tenant: claims.tenant.clone(),
        user,
        params: matched
            .params
            .iter()
            .map(|(n, v)| (*n, (*v).to_owned()))
            .collect(),
        query,
        body,
    };
    let db_state = state.clone();
    tokio::task::spawn_blocking(move || db_state.db.with(|conn| run(conn, &ctx)))
        .await
        .map_err(|e| ApiFailure::Internal(anyhow::anyhow!("the API task failed: {e}")))?
}

fn resource_name(operation: &Operation) -> &'static str {
    operation.id.split('.').next().unwrap_or("this resource")
}

/// Runs the operation of a row. Every row of the table has an arm; a test
/// walks the whole table to prove it.
fn run(conn: &mut Connection, ctx: &Ctx) -> Result<Reply, ApiFailure> {
    match ctx.operation.id {
        "userinfo.get" => userinfo(ctx),
        "patients.list" => patients::list(conn, ctx),
        "patients.get" => patients::get(conn, ctx),
        "patients.create" => patients::create(conn, ctx),
        "patients.update" => patients::update(conn, ctx),
        "agendas.list" => agenda::list_agendas(conn, ctx),
        "agendas.get" => agenda::get_agenda(conn, ctx),
        "appointments.list" => agenda::list_appointments(conn, ctx),
        "appointments.get" => agenda::get_appointment(conn, ctx),
        "appointments.create" => agenda::create_appointment(conn, ctx),
        "appointments.cancel" => agenda::cancel_appointment(conn, ctx),
        "availabilities.list" => agenda::list_availabilities(conn, ctx),
        "treatments.list" => catalogue::list_treatments(conn, ctx),
        "treatments.get" => catalogue::get_treatment(conn, ctx),
        "pricelists.list" => catalogue::list_price_lists(conn, ctx),
        "pricelists.get" => catalogue::get_price_list(conn, ctx),
        "episodes.list" => clinical::list_episodes(conn, ctx),
        "episodes.get" => clinical::get_episode(conn, ctx),
        "episodes.create" => clinical::create_episode(conn, ctx),
        "episodes.update" => clinical::update_episode(conn, ctx),
        "medicalreports.list" => clinical::list_reports(conn, ctx),
        "medicalreports.get" => clinical::get_report(conn, ctx),
        "medicalreports.create" => clinical::create_report(conn, ctx),
        "invoices.list" => invoices::list(conn, ctx),
        "invoices.get" => invoices::get(conn, ctx),
        "invoices.create" => invoices::create(conn, ctx),
        other => Err(ApiFailure::Internal(anyhow::anyhow!(
            "the sandbox does not implement operation {other}"
        ))),
    }
}

/// `GET /v2/userinfo`: also the OpenID `userinfo_endpoint`.
fn userinfo(ctx: &Ctx) -> Result<Reply, ApiFailure> {
    let user = ctx.user;
    let tenants = users::tenant(&ctx.tenant)
        .map(|t| TenantRef {
            id: t.id.to_owned(),
            name: t.name.to_owned(),
        })
        .into_iter()
        .collect();
    json(
        StatusCode::OK,
        &UserInfo {
            sub: user.sub.to_owned(),
            name: user.name.to_owned(),
            email: Some(user.email.to_owned()),
            tenants,
        },
    )
}
