//! A full console session against the embedded sandbox: cookie attributes,
//! security headers, token-leak scan, session fixation, CSRF (API and
//! logout), CORS, and tenant switching in paths and bodies.

use giponext_bff::types::SessionId;
use giponext_sandbox::users;
use reqwest::Method;
use url::Url;

use super::harness::{OTHER_TENANT, SignedIn, TENANT};
use super::{check_status, get_with_session, snippet};
use crate::Report;
use crate::support::{Client, Seen};

fn header_lines(seen: &Seen) -> Vec<(String, String)> {
    seen.headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

pub async fn run(report: Report) {
    let mut s = SignedIn::start().await;
    let mut pages: Vec<(String, Seen)> = Vec::new();

    // Session fixation: a planted session id is never adopted.
    let planted = SessionId::generate();
    let base = Url::parse(s.bff.url()).expect("url");
    s.client.jar.add_cookie_str(
        &format!("gx_session={}; Path=/", planted.cookie_value()),
        &base,
    );
    pages.push((
        "/api/session (planted id)".into(),
        s.client.get("/api/session").await,
    ));
    let done = s.login(users::MARIO, "giponext.patients").await;
    let first = s.client.session_cookie();
    report.check(
        "session fixation: planted id before login",
        "new id after login",
        format!(
            "login {}; id changed: {}",
            done.status.as_u16(),
            first.as_deref() != Some(planted.cookie_value())
        ),
        done.status == 302 && first.is_some() && first.as_deref() != Some(planted.cookie_value()),
    );
    pages.push(("callback".into(), done));
    let again = s.login(users::MARIO, "giponext.patients").await;
    let second = s.client.session_cookie();
    report.check(
        "session fixation: id before/after a new login",
        "ids differ",
        format!(
            "login {}; differ: {}",
            again.status.as_u16(),
            first != second
        ),
        again.status == 302 && second.is_some() && first != second,
    );
    pages.push(("callback (again)".into(), again));
    let old = first.unwrap_or_default();
    let r = get_with_session(
        &s.client,
        &format!("/api/giponext/v2/tenants/{TENANT}/patients"),
        &old,
    )
    .await;
    check_status(
        &report,
        "previous session id after re-login",
        "401 (old session gone)",
        &r,
        401,
    );

    // A console session's responses.
    let patients = format!("/api/giponext/v2/tenants/{TENANT}/patients");
    for path in [
        "/",
        "/patients",
        "/index.html",
        "/api/session",
        "/healthz",
        "/nope/../x",
    ] {
        pages.push((path.into(), s.client.get(path).await));
    }
    let list = s.client.api(Method::GET, &patients, None).await;
    check_status(&report, "control: signed-in API call", "200", &list, 200);
    pages.push((patients.clone(), list));
    s.remember(&s.client.clone()).await;

    // CSRF on the API.
    let r = s
        .client
        .send(
            Method::GET,
            &patients,
            &[("accept", "application/json")],
            None,
        )
        .await;
    report.check(
        "API call without X-CSRF",
        "403 JSON",
        format!("{} {}", r.status.as_u16(), snippet(&r.body)),
        r.status == 403 && r.header("content-type").contains("json"),
    );
    pages.push(("no csrf".into(), r));
    let r = s
        .client
        .send(Method::GET, &patients, &[("x-csrf", "0")], None)
        .await;
    check_status(&report, "API call with X-CSRF: 0", "403", &r, 403);
    let r = s
        .client
        .send(
            Method::POST,
            &patients,
            &[
                ("origin", "https://evil.example"),
                ("content-type", "text/plain"),
            ],
            None,
        )
        .await;
    check_status(
        &report,
        "cross-site simple POST to the API (no preflight)",
        "403",
        &r,
        403,
    );
    let r = s
        .client
        .send(
            Method::OPTIONS,
            &patients,
            &[
                ("origin", "https://evil.example"),
                ("access-control-request-method", "GET"),
                ("access-control-request-headers", "x-csrf"),
            ],
            None,
        )
        .await;
    let acao = r.header("access-control-allow-origin").to_owned();
    report.check(
        "CORS preflight from another origin",
        "no Access-Control-Allow-Origin",
        format!("{} ACAO={acao:?}", r.status.as_u16()),
        acao.is_empty(),
    );

    // No session.
    let stranger = Client::new(s.bff.url());
    let r = stranger.api(Method::GET, &patients, None).await;
    report.check(
        "API call without a session",
        "401 JSON, no redirect",
        format!("{} location={:?}", r.status.as_u16(), r.location()),
        r.status == 401 && r.location().is_empty() && r.header("content-type").contains("json"),
    );

    // Tenant switching.
    let r = s
        .client
        .api(
            Method::GET,
            &format!("/api/giponext/v2/tenants/{OTHER_TENANT}/patients"),
            None,
        )
        .await;
    report.check(
        "another tenant's id in the path",
        "403 tenant_mismatch",
        format!("{} {}", r.status.as_u16(), snippet(&r.body)),
        r.status == 403 && r.body.contains("tenant"),
    );
    let (luca, luca_browser) = s.other_browser();
    let l = s
        .login_as(&luca, &luca_browser, users::LUCA, "giponext.patients")
        .await;
    let luca_list = luca
        .api(
            Method::GET,
            &format!("/api/giponext/v2/tenants/{OTHER_TENANT}/patients"),
            None,
        )
        .await;
    let luca_patient = luca_list.json()["items"][0]["id"]
        .as_str()
        .map(str::to_owned)
        .or_else(|| {
            luca_list.json()["items"][0]["id"]
                .as_u64()
                .map(|n| n.to_string())
        })
        .unwrap_or_default();
    let r = s
        .client
        .api(Method::GET, &format!("{patients}/{luca_patient}"), None)
        .await;
    report.check(
        "another tenant's patient id under my tenant",
        "404",
        format!(
            "luca login {}, id {luca_patient:?}: {}",
            l.status.as_u16(),
            r.status.as_u16()
        ),
        l.status == 302 && !luca_patient.is_empty() && r.status == 404,
    );
    let body = format!(
        r#"{{"firstName":"Eva","lastName":"Intrusa","fiscalCode":"RSSMRA85T10A562S","tenantId":"{OTHER_TENANT}","tenant":"{OTHER_TENANT}"}}"#
    );
    let r = s.client.api(Method::POST, &patients, Some(&body)).await;
    let seen_by_luca = luca
        .api(
            Method::GET,
            &format!("/api/giponext/v2/tenants/{OTHER_TENANT}/patients?q=Intrusa"),
            None,
        )
        .await;
    report.check(
        "another tenant's id in the body",
        "not written into the other tenant",
        format!(
            "create {}; other tenant sees it: {}",
            r.status.as_u16(),
            seen_by_luca.body.contains("Intrusa")
        ),
        r.status.is_client_error()
            || r.status.is_success()
                && !seen_by_luca.body.contains("Intrusa")
                && seen_by_luca.status == 200,
    );

    // Logout CSRF.
    let r = s
        .client
        .send(
            Method::POST,
            "/auth/logout",
            &[
                ("origin", "https://evil.example"),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            None,
        )
        .await;
    let still = s.client.session().await.authenticated;
    report.check(
        "logout CSRF (cross-site form POST)",
        "403, still signed in",
        format!("{}; signed in: {still}", r.status.as_u16()),
        r.status == 403 && still,
    );
    pages.push(("logout csrf".into(), r));
    let r = s.client.get("/auth/logout").await;
    report.check(
        "logout by GET (link/img CSRF)",
        "not 2xx, still signed in",
        format!("{}", r.status.as_u16()),
        !r.status.is_success() && s.client.session().await.authenticated,
    );
    s.remember(&s.client.clone()).await;
    let before = s.client.session_cookie().unwrap_or_default();
    let r = s
        .client
        .send(Method::POST, "/auth/logout", &[("x-csrf", "1")], None)
        .await;
    pages.push(("logout".into(), r));
    let r = get_with_session(&s.client, &patients, &before).await;
    check_status(
        &report,
        "session cookie replayed after logout",
        "401",
        &r,
        401,
    );

    // Cookie attributes on every Set-Cookie.
    let mut cookies = Vec::new();
    for (_, p) in &pages {
        for (k, v) in header_lines(p) {
            if k == "set-cookie" {
                cookies.push(v);
            }
        }
    }
    for seen in s.client.seen.lock().map(|v| v.clone()).unwrap_or_default() {
        for line in seen.lines() {
            if let Some(v) = line.strip_prefix("set-cookie: ") {
                cookies.push(v.to_owned());
            }
        }
    }
    cookies.sort();
    cookies.dedup();
    let bad: Vec<&String> = cookies
        .iter()
        .filter(|c| {
            let l = c.to_ascii_lowercase();
            !(l.contains("httponly")
                && (l.contains("samesite=lax") || l.contains("samesite=strict"))
                && l.contains("path=/"))
        })
        .collect();
    report.check(
        "attributes of every Set-Cookie (http dev)",
        "HttpOnly; SameSite=Lax|Strict; Path",
        format!(
            "{} cookies, {} bad {:?}",
            cookies.len(),
            bad.len(),
            bad.first()
        ),
        !cookies.is_empty() && bad.is_empty(),
    );

    // Security headers on every response.
    let mut missing = Vec::new();
    for (label, p) in &pages {
        let csp = p.header("content-security-policy");
        let fine = csp.contains("frame-ancestors 'none'")
            && csp.contains("default-src")
            && !csp.contains("'unsafe-inline'")
            && !csp.contains("'unsafe-eval'")
            && p.header("x-content-type-options") == "nosniff"
            && p.header("referrer-policy") == "no-referrer"
            && p.header("x-frame-options") == "DENY";
        if !fine {
            missing.push(format!("{label} ({})", p.status.as_u16()));
        }
    }
    report.check(
        "CSP, nosniff, Referrer-Policy, X-Frame-Options on every response",
        "present on all",
        format!("{} responses, lacking: {missing:?}", pages.len()),
        missing.is_empty(),
    );
    let api_no_store = pages
        .iter()
        .filter(|(l, _)| l.starts_with("/api"))
        .all(|(_, p)| p.header("cache-control").contains("no-store"));
    report.check(
        "Cache-Control: no-store on API responses",
        "no-store",
        format!("all: {api_no_store}"),
        api_no_store,
    );

    // Token leak scan over everything the browsers received.
    let mut seen = s.client.seen.lock().map(|v| v.clone()).unwrap_or_default();
    seen.extend(luca.seen.lock().map(|v| v.clone()).unwrap_or_default());
    s.secrets.push("sandbox-web-secret".into());
    let leaks: Vec<&String> = seen
        .iter()
        .filter(|r| {
            s.secrets
                .iter()
                .any(|t| t.len() > 8 && r.contains(t.as_str()))
        })
        .collect();
    report.check(
        "token-leak scan over every response of the session",
        "no access/refresh token, code or client secret",
        format!(
            "{} responses, {} secrets, {} leaking {:?}",
            seen.len(),
            s.secrets.len(),
            leaks.len(),
            leaks.first().map(|l| snippet(l))
        ),
        leaks.is_empty() && s.secrets.len() >= 4,
    );
    // The ID token stays server-side: the logout answer holds a one-time
    // step, and the provider URL with id_token_hint is only ever a
    // redirect's Location (not readable by script), never a body.
    let with_id_token: Vec<&String> = seen
        .iter()
        .filter(|r| s.id_tokens.iter().any(|t| r.contains(t.as_str())))
        .collect();
    report.check(
        "ID token in any response the console's script can read",
        "in none",
        format!(
            "{} responses hold it {:?}",
            with_id_token.len(),
            with_id_token.first().map(|l| snippet(l))
        ),
        !s.id_tokens.is_empty() && with_id_token.is_empty(),
    );
    s.bff.shutdown().await;
}
