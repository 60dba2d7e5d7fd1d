//! The HTML pages a person sees: login, consent, device code entry, results
//! and errors. Plain forms that work without JavaScript; no script at all
//! (the `Content-Security-Policy` forbids it).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use giponext_shared::{Scope, ScopeSet};

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
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

/// The stylesheet of every page (served at `/oauth2/assets/sandbox.css`).
pub const CSS: &str = "body{font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b}
.banner{background:#fff3cd;border:1px solid #e0c060;padding:.5rem .75rem;border-radius:4px;font-size:.9rem}
h1{font-size:1.4rem}label{display:block;margin:.5rem 0}.scope{border:1px solid #ddd;border-radius:4px;padding:.5rem .75rem;margin:.5rem 0;list-style:none}
.scope p{margin:.25rem 0 0 1.6rem;color:#555}.granted{color:#1a6b2c;font-size:.85rem;margin-left:.5rem}
.error{color:#a11;font-weight:600}code{background:#f3f3f3;padding:0 .25rem}button{margin-right:.5rem;padding:.4rem 1rem}
ul{padding:0}input[type=checkbox]{width:1.5rem;height:1.5rem;margin:0 .4rem 0 0;vertical-align:middle}
input[type=text],input[type=password]{display:block;min-height:2rem;margin-top:.25rem}button{min-height:2.25rem}
fieldset{border:0;padding:0;margin:0}legend{font-weight:600;padding:0}
:focus-visible{outline:3px solid #1a4d8f;outline-offset:2px}";

/// Wraps `body` in the common page and answers with `status`.
pub fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"it\"><head><meta charset=\"utf-8\"><title>{title} · GipoNext (sandbox)</title>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <link rel=\"stylesheet\" href=\"/oauth2/assets/sandbox.css\"></head><body>\
         <p class=\"banner\">Ambiente di prova locale: <strong>non è il vero GipoNext</strong> (account.gipo.it).</p>\
         <h1>{title}</h1>\n{body}\n</body></html>",
        title = esc(title),
    );
    let mut res = (status, Html(html)).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'self'; form-action 'self' http: https:; frame-ancestors 'none'"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    res
}

/// An error page: the request cannot be answered with a redirect.
pub fn error_page(status: StatusCode, error: &str, description: &str) -> Response {
    page(
        status,
        "Richiesta non valida",
        &format!(
            "<p class=\"error\" id=\"error\" data-error=\"{e}\">{d}</p><p>Codice: <code>{e}</code>. \
             Torna all'applicazione e riprova; se il problema resta, contatta chi la gestisce.</p>",
            e = esc(error),
            d = esc(description)
        ),
    )
}

/// The login form.
pub fn login_page(
    request: &str,
    csrf: &str,
    client_id: &str,
    error: Option<&str>,
    username: &str,
) -> Response {
    let err = error
        .map(|e| format!("<p class=\"error\" id=\"error\">{}</p>", esc(e)))
        .unwrap_or_default();
    let status = if error.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    page(
        status,
        "Accedi a GipoNext",
        &format!(
            "<p>L'applicazione <code>{client}</code> chiede di accedere ai tuoi dati GipoNext.</p>{err}\
             <form method=\"post\" action=\"/oauth2/login\" id=\"login\">\
             <input type=\"hidden\" name=\"request\" value=\"{request}\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <label>Nome utente <input type=\"text\" name=\"username\" value=\"{user}\" autocomplete=\"username\" required></label>\
             <label>Password <input type=\"password\" name=\"password\" autocomplete=\"current-password\" required></label>\
             <button type=\"submit\">Accedi</button></form>\
             <p><small>Utenti di prova: mario.rossi, giulia.bianchi, luca.verdi; password <code>sandbox</code>.</small></p>",
            client = esc(client_id),
            request = esc(request),
            csrf = esc(csrf),
            user = esc(username),
        ),
    )
}

/// What the consent page shows.
pub struct ConsentView<'a> {
    /// Pending request id.
    pub request: &'a str,
    /// Anti-CSRF token.
    pub csrf: &'a str,
    /// The client asking.
    pub client_id: &'a str,
    /// Who is logged in (display name).
    pub user_name: &'a str,
    /// Who is logged in (login name).
    pub username: &'a str,
    /// The scopes asked for.
    pub requested: ScopeSet,
    /// What this user granted this client last time, if ever.
    pub previously: Option<ScopeSet>,
    /// The user code, for a device authorization.
    pub user_code: Option<&'a str>,
}

/// The per-scope consent form: every requested scope with its own
/// checkbox, described by what it allows; `openid` checked and disabled (it
/// cannot be refused). The scopes are one group (`fieldset`) with its
/// legend, so a screen reader announces what the checkboxes are about.
pub fn consent_page(v: &ConsentView<'_>) -> Response {
    let mut items = String::new();
    let requested = v.requested.union(ScopeSet::of(&[Scope::OpenId]));
    for scope in requested.iter() {
        let label = scope.label();
        let desc = scope.description();
        let before = if v.previously.is_some_and(|p| p.contains(scope)) {
            "<span class=\"granted\">(già concesso)</span>"
        } else {
            ""
        };
        let input = if scope.is_refusable() {
            format!(
                "<input type=\"checkbox\" name=\"scope\" value=\"{0}\" checked aria-describedby=\"desc-{0}\">",
                scope.as_str()
            )
        } else {
            format!(
                "<input type=\"checkbox\" name=\"scope\" value=\"{0}\" checked disabled aria-describedby=\"desc-{0}\">",
                scope.as_str()
            )
        };
        let required = if scope.is_refusable() {
            ""
        } else {
            " (obbligatorio)"
        };
        items.push_str(&format!(
            "<li class=\"scope\" data-scope=\"{wire}\"><label>{input}{label}{required} <code>{wire}</code>{before}</label><p id=\"desc-{wire}\">{desc}</p></li>",
            wire = scope.as_str(),
            label = esc(label.it),
            desc = esc(desc.it),
        ));
    }
    let device = v
        .user_code
        .map(|c| format!("<p>Codice del dispositivo: <code>{}</code>. Verifica che sia quello mostrato sul dispositivo.</p>", esc(c)))
        .unwrap_or_default();
    let again = if v.previously.is_some() {
        "<p>Hai già autorizzato questa applicazione in passato; ora chiede di nuovo i permessi qui sotto.</p>"
    } else {
        ""
    };
    page(
        StatusCode::OK,
        "Autorizza l'applicazione",
        &format!(
            "<p class=\"who\" data-username=\"{username}\">Ciao {user}. \
             <a id=\"switch-user\" href=\"/oauth2/login?request={request}&amp;switch=1\">Non sei tu? Cambia utente</a></p>\
             <p>L'applicazione <code>{client}</code> chiede questi permessi. \
             Puoi togliere la spunta a quelli che non vuoi concedere.</p>{device}{again}\
             <form method=\"post\" action=\"/oauth2/consent\" id=\"consent\">\
             <input type=\"hidden\" name=\"request\" value=\"{request}\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <fieldset><legend>Permessi richiesti</legend><ul>{items}</ul></fieldset>\
             <button type=\"submit\" name=\"decision\" value=\"allow\">Consenti</button>\
             <button type=\"submit\" name=\"decision\" value=\"deny\">Nega</button></form>",
            user = esc(v.user_name),
            username = esc(v.username),
            client = esc(v.client_id),
            request = esc(v.request),
            csrf = esc(v.csrf),
        ),
    )
}

/// The device code entry form (RFC 8628 §3.3).
pub fn device_entry_page(csrf: &str, prefill: &str, error: Option<&str>) -> Response {
    let err = error
        .map(|e| format!("<p class=\"error\" id=\"error\">{}</p>", esc(e)))
        .unwrap_or_default();
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    page(
        status,
        "Collega un dispositivo",
        &format!(
            "<p>Inserisci il codice mostrato dal dispositivo o dal programma (ad esempio <code>BCDF-GHJK</code>).</p>{err}\
             <form method=\"post\" action=\"/device\" id=\"device\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <label>Codice <input type=\"text\" name=\"user_code\" value=\"{code}\" autocomplete=\"off\" required></label>\
             <button type=\"submit\">Continua</button></form>",
            csrf = esc(csrf),
            code = esc(prefill),
        ),
    )
}

/// The end of a device approval.
pub fn device_done_page(approved: bool) -> Response {
    if approved {
        page(
            StatusCode::OK,
            "Dispositivo autorizzato",
            "<p id=\"result\" data-result=\"approved\">Fatto: puoi tornare al dispositivo. Questa pagina si può chiudere.</p>",
        )
    } else {
        page(
            StatusCode::OK,
            "Accesso negato",
            "<p id=\"result\" data-result=\"denied\">Hai negato l'accesso: il dispositivo non riceverà alcun permesso.</p>",
        )
    }
}

/// After end-session without a redirect.
pub fn logged_out_page() -> Response {
    page(
        StatusCode::OK,
        "Sei uscito",
        "<p id=\"result\" data-result=\"logged-out\">Hai chiuso la sessione su GipoNext (sandbox).</p>",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(esc("Già concesso"), "Già concesso");
    }
}
