//! The sign-in page: what the app is, one button, and a banner on the
//! sandbox.

use giponext_shared::Scope;
use leptos::prelude::*;

use crate::api::login_url;
use crate::components::SandboxBanner;
use crate::i18n::t;
use crate::tr;

/// `/signin`, and what a signed-out user sees anywhere.
#[component]
pub fn SignIn() -> impl IntoView {
    let location = use_context::<crate::router::Location>();
    let error = move || crate::router::query(location, "error");
    // Signed out on some page: come back to it after signing in.
    let return_to = {
        let path = crate::session::current_path();
        if path.starts_with("/signin") {
            "/".to_owned()
        } else {
            path
        }
    };
    let href = login_url(&[], &return_to);
    let essentials = [Scope::Patients]
        .into_iter()
        .map(|s| view! { <li><strong>{t(s.label())}</strong>": "{t(s.description())}</li> })
        .collect_view();
    view! {
        <SandboxBanner/>
        <main id="main" class="signin" tabindex="-1">
            <section class="card signin-card">
                <h1>"GipoNext Connect"</h1>
                <p class="lead">{tr!(
                    "La console per il personale del centro medico: pazienti, agenda, prestazioni, episodi, referti e fatture di GipoNext, in un unico posto.",
                    "The console for medical centre staff: GipoNext patients, agenda, treatments, episodes, reports and invoices, in one place."
                )}</p>
                {move || error().map(|e| {
                    let text = if e == "access_denied" {
                        tr!(
                            "Accesso annullato: non hai autorizzato GipoNext Connect. Puoi riprovare quando vuoi.",
                            "Sign-in cancelled: you did not authorise GipoNext Connect. You can try again any time."
                        ).to_owned()
                    } else {
                        format!("{} ({e})", tr!("Accesso non riuscito.", "Sign-in failed."))
                    };
                    view! { <div class="banner warning" role="alert" data-test="signin-error">{text}</div> }
                })}
                <p>{tr!(
                    "Al primo accesso ti chiediamo solo l'essenziale:",
                    "At first sign-in we only ask for the essentials:"
                )}</p>
                <ul class="plain">{essentials}</ul>
                <p class="muted">{tr!(
                    "Il resto (agenda, referti, fatture…) lo chiediamo quando apri la sezione che ne ha bisogno. Puoi sempre rifiutare.",
                    "Everything else (agenda, reports, invoices…) is asked for when you open the section that needs it. You can always refuse."
                )}</p>
                <a class="button primary large" rel="external" href=href data-test="sign-in">
                    {tr!("Accedi con GipoNext", "Sign in with GipoNext")}
                </a>
            </section>
        </main>
    }
}
