//! Nothing typed lost, nothing done twice, checked at the HTTP level against
//! the sandbox (real data): a write refused for an authorization reason is
//! not executed, the answer tells the console how to get the user back to
//! the form (the console keeps the draft: the browser tests cover that), and
//! the same write sent again after signing in is executed exactly once.

use chrono::NaiveDate;
use giponext_sandbox::testing::Consent;
use giponext_sandbox::users;
use giponext_shared::fiscal_code::FiscalCode;
use giponext_shared::{Scope, ScopeSet};
use reqwest::Method;
use url::Url;

use super::{clear, is_problem, seen};
use crate::Report;
use crate::cases::harness::{SignedIn, TENANT};
use crate::support::{Client, Seen};

const FORM: &str = "/patients/new";

fn patients() -> String {
    format!("/api/giponext/v2/tenants/{TENANT}/patients")
}

/// A new patient with a valid fiscal code (unique per `last` and `day`).
fn draft(last: &str, day: u32) -> String {
    let birth = NaiveDate::from_ymd_opt(1980, 3, day).expect("valid date");
    let code = FiscalCode::compute(last, "Bozza", birth, true, "F205").expect("valid municipality");
    serde_json::json!({
        "firstName": "Bozza", "lastName": last, "fiscalCode": code.as_str(),
        "birthDate": birth, "sex": "F",
    })
    .to_string()
}

/// The console's POST of a form: `X-CSRF` and the page to come back to.
async fn submit(client: &Client, body: &str) -> Seen {
    client
        .send(
            Method::POST,
            &patients(),
            &[
                ("x-csrf", "1"),
                ("accept", "application/json"),
                ("x-return-to", FORM),
            ],
            Some(body),
        )
        .await
}

/// How many patients carry this last name (as the user's session sees it).
async fn count(client: &Client, last: &str) -> Option<u64> {
    let r = client
        .api(Method::GET, &format!("{}?search={last}", patients()), None)
        .await;
    (r.status == 200)
        .then(|| r.json()["totalCount"].as_u64())
        .flatten()
}

/// Signs in through the sandbox forms, granting exactly `scopes` (+ openid).
async fn sign_in(s: &SignedIn, start: &str, grant: Consent) -> Seen {
    let first = s.client.get(start).await;
    let Ok(auth) = Url::parse(first.location()) else {
        return first;
    };
    match s
        .browser
        .authorize(&auth, users::MARIO, "sandbox", grant)
        .await
    {
        Ok(callback) => s.client.get(callback.as_str()).await,
        Err(_) => first,
    }
}

pub(super) async fn run(report: Report) {
    let s = SignedIn::start().await;
    let no_patients = ScopeSet::of(&[Scope::OpenId, Scope::OfflineAccess, Scope::Agenda]);
    let done = sign_in(
        &s,
        "/auth/login?scope=giponext.agenda",
        Consent::Grant(no_patients),
    )
    .await;

    // 1. The scope was never granted: refused before anything is executed.
    let body = draft("Senzascopo", 11);
    let r = submit(&s.client, &body).await;
    let grant_url = r.json()["grant_url"].as_str().unwrap_or("").to_owned();
    let back = sign_in(&s, &grant_url, Consent::GrantAll).await;
    let before = count(&s.client, "Senzascopo").await;
    let again = submit(&s.client, &body).await;
    let after = count(&s.client, "Senzascopo").await;
    report.check(
        "write without the scope (POST patient, giponext.patients not granted)",
        "403 scope_missing with a grant_url back to the form; not created; created once when sent again after granting",
        format!(
            "login {}; {}; grant_url {grant_url}; after consent back at {:?}; before resend {before:?}, resend {}, after {after:?}",
            done.status.as_u16(),
            seen(&r),
            back.location(),
            again.status.as_u16()
        ),
        r.status == 403
            && is_problem(&r, "scope_missing")
            && grant_url.contains("return_to=%2Fpatients%2Fnew")
            && back.location() == FORM
            && before == Some(0)
            && again.status == 201
            && after == Some(1),
    );

    // 2. The grant is revoked at the provider while the user types.
    let body = draft("Revocato", 12);
    let revoked = s.bff.sandbox().map(|sb| sb.revoke_grants(users::MARIO));
    let r = submit(&s.client, &body).await;
    let login_url = r.json()["login_url"].as_str().unwrap_or("").to_owned();
    let back = sign_in(&s, &login_url, Consent::GrantAll).await;
    let before = count(&s.client, "Revocato").await;
    let again = submit(&s.client, &body).await;
    let after = count(&s.client, "Revocato").await;
    report.check(
        "write after the grant was revoked at the provider (POST patient)",
        "401 reauth_required with login_url; not created; created once when sent again after signing in",
        format!(
            "revoked {revoked:?} grants; {}; signed in again {}; before resend {before:?}, resend {}, after {after:?}",
            seen(&r),
            back.status.as_u16(),
            again.status.as_u16()
        ),
        r.status == 401
            && is_problem(&r, "reauth_required")
            && !login_url.is_empty()
            && before == Some(0)
            && again.status == 201
            && after == Some(1),
    );

    // 3. The same write sent twice (a double click, a retry): done once.
    let r = submit(&s.client, &body).await;
    let after = count(&s.client, "Revocato").await;
    report.check(
        "the same write sent again (double submit of a created patient)",
        "409 conflict passed through, still exactly one",
        format!(
            "{} {}; patients {after:?}",
            r.status.as_u16(),
            snippet(&r.body)
        ),
        r.status == 409 && after == Some(1) && clear(&r),
    );

    // 4. A cross-site POST (no X-CSRF): refused before anything is executed.
    let body = draft("Forgiato", 13);
    let r = s
        .client
        .send(
            Method::POST,
            &patients(),
            &[("accept", "application/json")],
            Some(&body),
        )
        .await;
    let after = count(&s.client, "Forgiato").await;
    report.check(
        "write without X-CSRF (POST patient)",
        "403 csrf_header_missing, not created",
        format!("{}; patients {after:?}", seen(&r)),
        r.status == 403 && is_problem(&r, "csrf_header_missing") && after == Some(0),
    );
    s.bff.shutdown().await;
}

fn snippet(body: &str) -> String {
    crate::cases::snippet(body)
}
