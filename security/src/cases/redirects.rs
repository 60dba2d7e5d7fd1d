//! Open redirects through `return_to`.

use reqwest::Method;

use super::snippet;
use crate::Report;
use crate::support::FakeSetup;

pub async fn run(report: Report) {
    let s = FakeSetup::start().await;
    for evil in [
        "https://evil.example",
        "//evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "/%2F%2Fevil.example",
        "%2F%2Fevil.example",
        "/%5Cevil.example",
        "/%252F%252Fevil.example",
        "https:evil.example",
        "javascript:alert(1)",
        "/\t/evil.example",
        "/..//evil.example",
        "http://127.0.0.1@evil.example/",
    ] {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("return_to", evil)
            .finish();
        let mut observed = Vec::new();
        let mut ok = true;
        for accept in ["text/html", "application/json"] {
            let r = s
                .client
                .send(
                    Method::GET,
                    &format!("/auth/login?{query}"),
                    &[("accept", accept)],
                    None,
                )
                .await;
            ok &= r.status == 400 && r.headers.get("location").is_none();
            observed.push(format!("{} {}", r.status.as_u16(), snippet(r.location())));
        }
        report.check(
            format!("open redirect return_to={evil:?}"),
            "400, no Location",
            observed.join("; "),
            ok,
        );
    }
    let started = s.fake.with(|i| i.last_scope_param.is_some());
    report.check(
        "open redirect attempts start no sign-in",
        "no authorization request",
        format!("authorization request made: {started}"),
        !started,
    );
    let r = s.login("?return_to=%2Fpatients%3Fq%3Drossi").await;
    report.check(
        "control: a local return_to is honoured",
        "302 to /patients?q=rossi",
        format!("{} {}", r.status.as_u16(), r.location()),
        r.status == 302 && r.location() == "/patients?q=rossi",
    );
}
