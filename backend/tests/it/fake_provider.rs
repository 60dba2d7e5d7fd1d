//! A tiny, fully controllable OpenID provider + GipoNext API, for the cases
//! the sandbox cannot (or should not) produce: ID tokens with a wrong
//! audience, nonce, expiry, `alg: none` or an unknown key; a wrong `iss`;
//! scope drift; refresh failures; upstream 5xx/429/timeouts.
//!
//! It is strict where the backend must be correct: client authentication,
//! exact redirect URI, PKCE S256, one-time codes, refresh-token rotation
//! with reuse detection.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use giponext_shared::operations::{Method, match_path};
use giponext_shared::{Scope, ScopeSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey as _;
use rsa::traits::PublicKeyParts as _;
use serde_json::{Value, json};
use sha2::Digest as _;

pub const CLIENT_ID: &str = "fake-web";
pub const CLIENT_SECRET: &str = "fake-secret";
pub const TENANT: &str = "tenant-abc123";

struct Keys {
    good: EncodingKey,
    good_jwk: Value,
    unknown: EncodingKey,
    unknown_jwk: Value,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let make = || {
            let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
            let pem = key.to_pkcs1_pem(rsa::pkcs8::LineEnding::LF).unwrap();
            (
                key.clone(),
                EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
            )
        };
        let (good_key, good) = make();
        let (unknown_key, unknown) = make();
        let jwk = |key: &rsa::RsaPrivateKey, kid: &str| {
            json!({
                "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
                "n": URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
                "e": URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
            })
        };
        Keys {
            good,
            good_jwk: jwk(&good_key, "good"),
            unknown,
            unknown_jwk: jwk(&unknown_key, "rotated"),
        }
    })
}

/// How the next ID token is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdTokenMode {
    Valid,
    WrongAud,
    WrongNonce,
    Expired,
    AlgNone,
    /// Signed by a key the provider never published (unknown `kid`).
    UnknownKey,
    /// Signed by another key under the published key's `kid`.
    ForgedKid,
    WrongIss,
}

/// What the fake "user" does at the consent screen.
#[derive(Debug, Clone, Copy)]
pub enum Decision {
    /// Grant exactly these (of what was asked).
    Grant(ScopeSet),
    /// Grant everything asked.
    GrantAll,
    /// Refuse.
    Deny,
}

struct Pending {
    redirect_uri: String,
    challenge: String,
    nonce: String,
    scopes: ScopeSet,
}

struct Grant {
    scopes: ScopeSet,
    current_refresh: String,
    revoked: bool,
}

#[derive(Default)]
pub struct Inner {
    pub issuer: String,
    pub decision: Option<Decision>,
    pub id_token_mode: Option<IdTokenMode>,
    pub iss_override: Option<String>,
    pub omit_iss: bool,
    pub access_ttl: u64,
    /// Last authorization request's scope parameter.
    pub last_scope_param: Option<String>,
    pub last_authorize_query: HashMap<String, String>,
    codes: HashMap<String, (Pending, String)>,
    grants: HashMap<String, Grant>,
    /// access token -> (grant id, expires at unix secs)
    access: HashMap<String, (String, i64)>,
    pub refreshes: u64,
    pub refresh_reuse_detected: u64,
    pub revocations: u64,
    pub fail_refresh: bool,
    /// Forced answer of the API: (status, Retry-After, delay).
    pub api_override: Option<(u16, Option<u64>, Duration)>,
    /// Operation ids the user's GipoNext role forbids.
    pub denied_ops: Vec<&'static str>,
    pub api_calls: u64,
    /// Every token issued, for the leak scan.
    pub issued: Vec<String>,
    pub userinfo_tenants: Vec<(String, String)>,
    /// Discovery lists only `plain` PKCE (an unfit provider).
    pub no_s256: bool,
    /// The provider rotated its signing key after the backend started.
    pub rotated: bool,
    /// Userinfo answers for another subject than the ID token's.
    pub userinfo_sub: Option<String>,
    /// The token endpoint answers after this long (a slow provider).
    pub token_delay: Option<Duration>,
    /// The revocation endpoint answers after this long.
    pub revoke_delay: Option<Duration>,
    /// Refresh answers carry an ID token for this subject (no nonce).
    pub refresh_id_token_sub: Option<String>,
    /// The last ID token a refresh returned.
    pub last_refresh_id_token: Option<String>,
    /// Discovery lists no `end_session_endpoint`.
    pub no_end_session: bool,
}

#[derive(Clone)]
pub struct Fake(pub Arc<Mutex<Inner>>);

impl Fake {
    pub fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.0.lock().unwrap())
    }

    /// Shrinks every grant to `scopes` (the user revoked some at the provider).
    pub fn shrink_grants(&self, scopes: ScopeSet) {
        self.with(|i| {
            for g in i.grants.values_mut() {
                g.scopes = g.scopes.intersection(scopes);
            }
        })
    }

    /// Revokes every grant (refresh then fails with invalid_grant).
    pub fn revoke_all(&self) {
        self.with(|i| i.grants.values_mut().for_each(|g| g.revoked = true))
    }

    /// Expires every access token now.
    pub fn expire_access_tokens(&self) {
        self.with(|i| i.access.values_mut().for_each(|a| a.1 = 0))
    }
}

pub async fn start() -> (Fake, String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    start_on(listener).await
}

/// The fake provider on `listener` (a test that brings the provider up
/// after the backend binds the address it told the backend).
pub async fn start_on(
    listener: tokio::net::TcpListener,
) -> (Fake, String, tokio::task::JoinHandle<()>) {
    let url = format!("http://{}", listener.local_addr().unwrap());
    let fake = Fake(Arc::new(Mutex::new(Inner {
        issuer: url.clone(),
        access_ttl: 300,
        userinfo_tenants: vec![(TENANT.into(), "Poliambulatorio San Marco".into())],
        ..Inner::default()
    })));
    let app = Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks))
        .route("/authorize", get(authorize))
        .route("/token", post(token))
        .route("/revoke", post(revoke))
        .route("/v2/userinfo", get(userinfo))
        .route("/v2/{*rest}", axum::routing::any(api))
        .with_state(fake.clone());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (fake, url, task)
}

async fn discovery(State(f): State<Fake>) -> Json<Value> {
    let (issuer, no_s256, no_end_session) =
        f.with(|i| (i.issuer.clone(), i.no_s256, i.no_end_session));
    let pkce = if no_s256 {
        json!(["plain"])
    } else {
        json!(["S256"])
    };
    let end_session = (!no_end_session).then(|| format!("{issuer}/logout"));
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "revocation_endpoint": format!("{issuer}/revoke"),
        "end_session_endpoint": end_session,
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": pkce,
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        "authorization_response_iss_parameter_supported": true,
        "scopes_supported": ScopeSet::all().iter().map(|s| s.as_str()).collect::<Vec<_>>(),
    }))
}

async fn jwks(State(f): State<Fake>) -> Json<Value> {
    let key = if f.with(|i| i.rotated) {
        &keys().unknown_jwk
    } else {
        &keys().good_jwk
    };
    Json(json!({ "keys": [key.clone()] }))
}

async fn authorize(State(f): State<Fake>, Query(q): Query<HashMap<String, String>>) -> Response {
    let mut inner = f.0.lock().unwrap();
    inner.last_authorize_query = q.clone();
    inner.last_scope_param = q.get("scope").cloned();
    assert_eq!(q.get("client_id").map(String::as_str), Some(CLIENT_ID));
    assert_eq!(q.get("response_type").map(String::as_str), Some("code"));
    assert_eq!(
        q.get("code_challenge_method").map(String::as_str),
        Some("S256")
    );
    let redirect_uri = q["redirect_uri"].clone();
    let state = q["state"].clone();
    let asked = ScopeSet::parse(q.get("scope").map(String::as_str).unwrap_or("")).known;
    let iss = if inner.omit_iss {
        None
    } else {
        Some(
            inner
                .iss_override
                .clone()
                .unwrap_or_else(|| inner.issuer.clone()),
        )
    };
    let mut target = url::Url::parse(&redirect_uri).unwrap();
    {
        let mut qp = target.query_pairs_mut();
        match inner.decision.unwrap_or(Decision::GrantAll) {
            Decision::Deny => {
                qp.append_pair("error", "access_denied");
            }
            d => {
                let granted = match d {
                    Decision::Grant(set) => set
                        .intersection(asked)
                        .union(ScopeSet::of(&[Scope::OpenId])),
                    _ => asked,
                };
                let code = format!("code-{}", rand_token());
                inner.codes.insert(
                    code.clone(),
                    (
                        Pending {
                            redirect_uri: redirect_uri.clone(),
                            challenge: q["code_challenge"].clone(),
                            nonce: q.get("nonce").cloned().unwrap_or_default(),
                            scopes: granted,
                        },
                        String::new(),
                    ),
                );
                qp.append_pair("code", &code);
            }
        }
        qp.append_pair("state", &state);
        if let Some(iss) = iss {
            qp.append_pair("iss", &iss);
        }
    }
    Redirect::to(target.as_str()).into_response()
}

fn rand_token() -> String {
    use rand::RngCore as _;
    let mut b = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

fn oauth_error(code: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": code }))).into_response()
}

fn client_ok(headers: &HeaderMap) -> bool {
    let expected = format!(
        "Basic {}",
        STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(expected.as_str())
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn id_token(inner: &Inner, nonce: &str) -> String {
    id_token_for(inner, "user-mario", Some(nonce))
}

fn id_token_for(inner: &Inner, sub: &str, nonce: Option<&str>) -> String {
    let mode = inner.id_token_mode.unwrap_or(IdTokenMode::Valid);
    let mut claims = json!({
        "iss": inner.issuer, "sub": sub, "aud": CLIENT_ID,
        "exp": now() + 300, "iat": now(), "name": "Mario Rossi",
    });
    if let Some(nonce) = nonce {
        claims["nonce"] = json!(nonce);
    }
    match mode {
        IdTokenMode::WrongAud => claims["aud"] = json!("someone-else"),
        IdTokenMode::WrongNonce => claims["nonce"] = json!("not-the-nonce"),
        IdTokenMode::Expired => {
            claims["exp"] = json!(now() - 3600);
            claims["iat"] = json!(now() - 7200);
        }
        IdTokenMode::WrongIss => claims["iss"] = json!("https://evil.example"),
        _ => {}
    }
    if mode == IdTokenMode::AlgNone {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD.encode(claims.to_string());
        return format!("{header}.{body}.");
    }
    let mut header = Header::new(Algorithm::RS256);
    let (kid, key) = match mode {
        IdTokenMode::UnknownKey => ("unknown", &keys().unknown),
        IdTokenMode::ForgedKid => ("good", &keys().unknown),
        _ if inner.rotated => ("rotated", &keys().unknown),
        _ => ("good", &keys().good),
    };
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, &claims, key).unwrap()
}

fn issue(
    inner: &mut Inner,
    grant_id: &str,
    scopes: ScopeSet,
    with_refresh: bool,
) -> (String, Option<String>) {
    let access = format!("at-{}", rand_token());
    let ttl = inner.access_ttl as i64;
    inner
        .access
        .insert(access.clone(), (grant_id.to_owned(), now() + ttl));
    inner.issued.push(access.clone());
    let refresh = with_refresh.then(|| format!("rt-{}", rand_token()));
    if let Some(r) = &refresh {
        inner.issued.push(r.clone());
    }
    let _ = scopes;
    (access, refresh)
}

async fn token(
    State(f): State<Fake>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if !client_ok(&headers) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    let delay = f.with(|i| i.token_delay);
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let mut inner = f.0.lock().unwrap();
    match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let Some((pending, _)) = inner
                .codes
                .remove(form.get("code").map(String::as_str).unwrap_or(""))
            else {
                return oauth_error("invalid_grant");
            };
            if form.get("redirect_uri") != Some(&pending.redirect_uri) {
                return oauth_error("invalid_grant");
            }
            let verifier = form.get("code_verifier").cloned().unwrap_or_default();
            let challenge = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
            if challenge != pending.challenge {
                return oauth_error("invalid_grant");
            }
            let grant_id = rand_token();
            let offline = pending.scopes.contains(Scope::OfflineAccess);
            let (access, refresh) = issue(&mut inner, &grant_id, pending.scopes, offline);
            inner.grants.insert(
                grant_id,
                Grant {
                    scopes: pending.scopes,
                    current_refresh: refresh.clone().unwrap_or_default(),
                    revoked: false,
                },
            );
            let id_token = id_token(&inner, &pending.nonce);
            inner.issued.push(id_token.clone());
            let mut body = json!({
                "access_token": access, "token_type": "Bearer", "expires_in": inner.access_ttl,
                "scope": pending.scopes.to_wire(), "id_token": id_token,
            });
            if let Some(r) = refresh {
                body["refresh_token"] = json!(r);
            }
            Json(body).into_response()
        }
        Some("refresh_token") => {
            inner.refreshes += 1;
            let presented = form.get("refresh_token").cloned().unwrap_or_default();
            let fail = inner.fail_refresh;
            let Some((grant_id, grant)) = inner
                .grants
                .iter_mut()
                .find(|(_, g)| g.current_refresh == presented)
            else {
                // Reuse of a rotated token: revoke the whole grant (RFC 9700 §4.14.2).
                inner.refresh_reuse_detected += 1;
                return oauth_error("invalid_grant");
            };
            if grant.revoked || fail {
                return oauth_error("invalid_grant");
            }
            let grant_id = grant_id.clone();
            let scopes = grant.scopes;
            let (access, refresh) = issue(&mut inner, &grant_id, scopes, true);
            let refresh = refresh.unwrap();
            inner.grants.get_mut(&grant_id).unwrap().current_refresh = refresh.clone();
            let mut body = json!({
                "access_token": access, "token_type": "Bearer", "expires_in": inner.access_ttl,
                "refresh_token": refresh, "scope": scopes.to_wire(),
            });
            if let Some(sub) = inner.refresh_id_token_sub.clone() {
                let id_token = id_token_for(&inner, &sub, None);
                inner.issued.push(id_token.clone());
                inner.last_refresh_id_token = Some(id_token.clone());
                body["id_token"] = json!(id_token);
            }
            Json(body).into_response()
        }
        _ => oauth_error("unsupported_grant_type"),
    }
}

async fn revoke(
    State(f): State<Fake>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> StatusCode {
    if !client_ok(&headers) {
        return StatusCode::UNAUTHORIZED;
    }
    let delay = f.with(|i| i.revoke_delay);
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let mut inner = f.0.lock().unwrap();
    inner.revocations += 1;
    let token = form.get("token").cloned().unwrap_or_default();
    for g in inner.grants.values_mut() {
        if g.current_refresh == token {
            g.revoked = true;
        }
    }
    StatusCode::OK
}

fn bearer_scopes(inner: &Inner, headers: &HeaderMap) -> Option<ScopeSet> {
    let token = headers
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?;
    let (grant_id, exp) = inner.access.get(token)?;
    let grant = inner.grants.get(grant_id)?;
    (*exp > now() && !grant.revoked).then_some(grant.scopes)
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [("www-authenticate", "Bearer error=\"invalid_token\"")],
        Json(json!({"error": "invalid_token", "message": "expired or invalid"})),
    )
        .into_response()
}

async fn userinfo(State(f): State<Fake>, headers: HeaderMap) -> Response {
    let inner = f.0.lock().unwrap();
    if bearer_scopes(&inner, &headers).is_none() {
        return unauthorized();
    }
    let tenants: Vec<Value> = inner
        .userinfo_tenants
        .iter()
        .map(|(id, name)| json!({"id": id, "name": name}))
        .collect();
    let sub = inner
        .userinfo_sub
        .clone()
        .unwrap_or_else(|| "user-mario".into());
    Json(
        json!({"sub": sub, "name": "Mario Rossi", "email": "mario@example.it", "tenants": tenants}),
    )
    .into_response()
}

async fn api(
    State(f): State<Fake>,
    method: axum::http::Method,
    Path(rest): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let (scopes, forced) = {
        let mut inner = f.0.lock().unwrap();
        inner.api_calls += 1;
        (bearer_scopes(&inner, &headers), inner.api_override)
    };
    if let Some((status, retry_after, delay)) = forced {
        tokio::time::sleep(delay).await;
        let mut r = (
            StatusCode::from_u16(status).unwrap(),
            Json(json!({"error": "forced", "message": "forced"})),
        )
            .into_response();
        if let Some(s) = retry_after {
            r.headers_mut().insert("retry-after", s.into());
        }
        return r;
    }
    let Some(scopes) = scopes else {
        return unauthorized();
    };
    let path = format!("/v2/{rest}");
    let Ok(m) = match_path(Method::from_wire(method.as_str()).unwrap(), &path) else {
        return (StatusCode::NOT_FOUND, Json(json!({"error": "not_found"}))).into_response();
    };
    if let Some(scope) = m.operation.scope
        && !scopes.contains(scope)
    {
        return (
                StatusCode::FORBIDDEN,
                [("www-authenticate", format!("Bearer error=\"insufficient_scope\", scope=\"{scope}\""))],
                Json(json!({"error": "insufficient_scope", "message": "scope missing", "scope": scope.as_str()})),
            )
                .into_response();
    }
    if f.with(|i| i.denied_ops.contains(&m.operation.id)) {
        return (
            StatusCode::FORBIDDEN,
            Json(json!({"error": "permission_denied", "message": "Your role cannot do this."})),
        )
            .into_response();
    }
    let echo = String::from_utf8_lossy(&body).to_string();
    Json(json!({"operation": m.operation.id, "items": [], "totalCount": 0, "offset": 0, "limit": 20, "hasMore": false, "echo": echo}))
        .into_response()
}
