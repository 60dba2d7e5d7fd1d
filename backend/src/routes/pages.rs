//! Small server-rendered pages for browser navigations that cannot go on
//! (a sign-in that failed a check, a scope outside the registration).
//! No script, no inline style: they pass the CSP as they are.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

/// Escapes text for HTML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A page with a title, paragraphs (plain text) and a link back to the app.
pub fn page(
    status: StatusCode,
    title: &str,
    paragraphs: &[&str],
    preformatted: Option<&str>,
) -> Response {
    let mut body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t} - GipoNext Connect</title></head><body><main><h1>{t}</h1>",
        t = escape(title)
    );
    for p in paragraphs {
        body.push_str(&format!("<p>{}</p>", escape(p)));
    }
    if let Some(pre) = preformatted {
        body.push_str(&format!("<pre>{}</pre>", escape(pre)));
    }
    body.push_str("<p><a href=\"/\">Back to GipoNext Connect</a> &middot; <a href=\"/auth/login\">Sign in</a></p></main></body></html>");
    let mut response = (status, Html(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_everything_it_shows() {
        assert_eq!(
            escape("<script>\"x\"&'"),
            "&lt;script&gt;&quot;x&quot;&amp;&#39;"
        );
    }
}
