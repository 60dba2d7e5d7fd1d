//! Path tricks against the proxy allow-list: `..`, `%2e%2e`, double
//! encoding, mixed case, trailing slashes, unicode dots, methods.

use giponext_sandbox::users;

use super::harness::{SignedIn, TENANT};
use crate::Report;

pub async fn run(report: Report) {
    let mut s = SignedIn::start().await;
    let done = s
        .login(users::MARIO, "giponext.patients%20giponext.invoices")
        .await;
    let p = format!("/api/giponext/v2/tenants/{TENANT}");
    let (control, _) = s.client.raw("GET", &format!("{p}/patients")).await;
    report.check(
        "control: allowed path, raw request",
        "200",
        format!("login {}; {control}", done.status.as_u16()),
        control == 200,
    );
    let cases: Vec<(&str, String)> = vec![
        ("`..` in the path", format!("{p}/patients/../invoices")),
        (
            "`..` out of the prefix",
            "/api/giponext/../session".to_owned(),
        ),
        (
            "`%2e%2e` in the path",
            format!("{p}/patients/%2e%2e/invoices"),
        ),
        (
            "`%2E%2E` upper-case encoding",
            format!("{p}/patients/%2E%2E/invoices"),
        ),
        (
            "double encoding `%252e%252e`",
            format!("{p}/patients/%252e%252e/invoices"),
        ),
        (
            "encoded slash `%2F`",
            format!("{p}/patients%2F..%2Finvoices"),
        ),
        (
            "double-encoded slash `%252F`",
            format!("{p}/patients%252F1"),
        ),
        (
            "mixed case `V2`",
            format!("/api/giponext/V2/tenants/{TENANT}/patients"),
        ),
        ("mixed case `Patients`", format!("{p}/Patients")),
        (
            "mixed case prefix `/API/giponext`",
            format!("/API/giponext/v2/tenants/{TENANT}/patients"),
        ),
        ("trailing slash", format!("{p}/patients/")),
        ("double slash", format!("{p}//patients")),
        (
            "unicode dots U+FF0E (fullwidth)",
            format!("{p}/patients/%EF%BC%8E%EF%BC%8E/invoices"),
        ),
        (
            "unicode dot leader U+2024",
            format!("{p}/patients/%E2%80%A4%E2%80%A4/invoices"),
        ),
        (
            "tenant via `..`",
            format!("/api/giponext/v2/tenants/../tenants/{TENANT}/patients"),
        ),
        (
            "path not in the table",
            "/api/giponext/v2/admin/users".to_owned(),
        ),
        ("semicolon path parameter", format!("{p}/patients;x=1")),
        ("NUL byte", format!("{p}/patients%00")),
    ];
    for (name, path) in cases {
        let (status, text) = s.client.raw("GET", &path).await;
        let leaked = text.contains("\"items\"");
        // A path outside `/api/` is the console's page (SPA fallback), never
        // the API.
        let console_page = status == 200
            && text
                .to_ascii_lowercase()
                .contains("content-type: text/html");
        report.check(
            format!("path trick: {name}"),
            "404, or the console page; never forwarded",
            format!(
                "{status}{}{}",
                if console_page { " console page" } else { "" },
                if leaked { " with data" } else { "" }
            ),
            ((400..500).contains(&status) || console_page) && !leaked,
        );
    }
    for (method, path, name) in [
        (
            "DELETE",
            format!("{p}/patients/1"),
            "DELETE on a patient (not in the table)",
        ),
        (
            "PATCH",
            format!("{p}/invoices/1"),
            "PATCH on an invoice (not in the table)",
        ),
        ("TRACE", format!("{p}/patients"), "TRACE"),
    ] {
        let (status, _) = s.client.raw(method, &path).await;
        report.check(
            format!("disallowed method: {name}"),
            "404/405",
            format!("{status}"),
            status == 404 || status == 405,
        );
    }
    s.bff.shutdown().await;
}
