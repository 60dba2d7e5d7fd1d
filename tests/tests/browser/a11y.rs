//! The consent journey as assistive technology and a keyboard meet it
//! (issue 15): sign in, refuse a scope, reach the section, grant it in
//! context, come back to the same page. One run is driven by role and
//! accessible name through Chromium's accessibility tree, in Italian; the
//! other by the keyboard alone (no clicks), in English. Each step leaves a
//! screenshot in `artifacts/`.
//!
//! The backend registers every scope but Medical reports, so the
//! navigation and the home page show both kinds of "off": one the user can
//! grant, one only an administrator can have added.

use fantoccini::key::Key;
use giponext_sandbox::users::MARIO;
use giponext_shared::{RegisteredScopes, Scope, ScopeSet};

use super::ax::Needs;
use super::harness::World;
use super::run_with;

/// Medical reports not registered for the app: only an administrator can
/// turn that section on.
fn without_reports() -> super::harness::Setup {
    super::harness::Setup {
        config: Some(Box::new(|config: &mut giponext_bff::Config| {
            config.registered_scopes = RegisteredScopes::new(
                ScopeSet::all().difference(ScopeSet::of(&[Scope::MedicalReports])),
            );
        })),
        ..Default::default()
    }
}

/// The console's own controls, on every signed-in page.
const SHELL: &[(&str, &str)] = &[
    ("combobox", "Lingua"),
    ("button", "Esci"),
    ("link", "Home"),
    ("link", "Pazienti"),
    ("link", "Fatture"),
    ("link", "Referti"),
    ("link", "Accessi"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_journey_through_the_accessibility_tree() {
    run_with("a11y_tree", without_reports(), async |w: &World| {
        // Signed out, on the page the user wanted.
        w.open("/invoices").await?;
        w.assert_nothing_needed_is_disabled(&Needs {
            page: "the sign-in page",
            controls: &[("link", "Accedi con GipoNext"), ("combobox", "Lingua")],
            may_be_disabled: &[],
        })
        .await?;
        w.screenshot("-it-1-signin").await?;
        w.activate("link", "Accedi con GipoNext", "").await?;

        // The provider's login page.
        w.assert_nothing_needed_is_disabled(&Needs {
            page: "the provider's login page",
            controls: &[
                ("textbox", "Nome utente"),
                ("textbox", "Password"),
                ("button", "Accedi"),
            ],
            may_be_disabled: &[],
        })
        .await?;
        w.by_role("textbox", "Nome utente", "")
            .await?
            .send_keys(MARIO)
            .await?;
        w.by_role("textbox", "Password", "")
            .await?
            .send_keys("sandbox")
            .await?;
        w.screenshot("-it-2-login").await?;
        w.activate("button", "Accedi", "").await?;

        // The provider's consent page: openid alone may be disabled (it
        // cannot be refused).
        let consent = Needs {
            page: "the provider's consent page",
            controls: &[
                ("checkbox", "Pazienti"),
                ("button", "Consenti"),
                ("button", "Nega"),
            ],
            may_be_disabled: &[("checkbox", "Identità")],
        };
        w.assert_nothing_needed_is_disabled(&consent).await?;
        w.screenshot("-it-3-consent").await?;
        w.activate("button", "Consenti", "").await?;

        // Back on the invoices, which need Invoicing: the grant button is
        // the control the user needs, and it must be enabled.
        w.wait_path(|p| p == "/invoices", "/invoices").await?;
        w.wait_role("link", "Concedi accesso", "").await?;
        let grant = "Per mostrare le fatture";
        w.wait_role("link", "Concedi accesso", grant).await?;
        let mut needed = SHELL.to_vec();
        needed.push(("link", "Concedi accesso"));
        w.assert_nothing_needed_is_disabled(&Needs {
            page: "the invoices, not yet granted",
            controls: &needed,
            may_be_disabled: &[],
        })
        .await?;
        // The section is a region named with its state; the navigation
        // says which sections the user can grant and which need an
        // administrator.
        let tree = w.ax().await?;
        anyhow::ensure!(
            !tree
                .all("region", "Fatture non disponibile: puoi concederlo")
                .is_empty(),
            "the invoice list's section names its state:\n  {}",
            tree.0
                .iter()
                .filter(|n| n.role == "region")
                .map(|n| n.said())
                .collect::<Vec<_>>()
                .join("\n  ")
        );
        let fatture = w.wait_role("link", "Fatture (", "").await?;
        assert_eq!(
            fatture.name,
            "Fatture (non disponibile: serve l'accesso a Fatturazione; puoi concederlo)"
        );
        let referti = w.wait_role("link", "Referti (", "").await?;
        assert_eq!(
            referti.name,
            "Referti (non disponibile: serve l'accesso a Referti; serve l'amministratore)"
        );
        let pazienti = w.wait_role("link", "Pazienti", "").await?;
        assert_eq!(pazienti.name, "Pazienti", "a section that is on says nothing more");
        w.assert_accessible("the invoices, not yet granted").await?;
        w.assert_target_sizes("the invoices, not yet granted")
            .await?;
        w.assert_badge_contrast("the invoices, not yet granted")
            .await?;
        w.screenshot("-it-4-invoices-off").await?;

        // Home tells the two kinds of "off" apart, in words and in style.
        w.activate("link", "Home", "").await?;
        w.wait_text("main", "Cosa è attivo").await?;
        let badges = w.assert_badge_contrast("the home page").await?;
        for words in ["attiva", "puoi concederlo", "serve l'amministratore"] {
            assert!(
                badges.iter().any(|b| b == words),
                "a “{words}” badge on the home page: {badges:?}"
            );
        }
        let styles = w
            .browser
            .execute(
                "return ['grant', 'admin'].map(k => { const b = document.querySelector('main .badge.' + k);\
                   const s = getComputedStyle(b); return [s.backgroundColor, s.borderStyle]; });",
                vec![],
            )
            .await?;
        assert_ne!(styles[0], styles[1], "the two look different: {styles}");
        w.assert_nothing_needed_is_disabled(&Needs {
            page: "the home page",
            controls: SHELL,
            may_be_disabled: &[],
        })
        .await?;
        w.assert_accessible("the home page").await?;
        w.assert_target_sizes("the home page").await?;
        w.screenshot("-it-5-home").await?;

        // Reach the section from the navigation and grant in context, then
        // refuse at the consent screen.
        w.activate("link", "Fatture (", "").await?;
        w.activate("link", "Concedi accesso", grant).await?;
        w.assert_nothing_needed_is_disabled(&Needs {
            controls: &[
                ("checkbox", "Fatturazione"),
                ("button", "Consenti"),
                ("button", "Nega"),
            ],
            ..consent
        })
        .await?;
        w.assert_accessible("the provider's consent page").await?;
        w.assert_target_sizes("the provider's consent page")
            .await?;
        let invoicing = w.by_role("checkbox", "Fatturazione", "").await?;
        invoicing.click().await?;
        let now = w.wait_role("checkbox", "Fatturazione", "").await?;
        assert_eq!(now.checked.as_deref(), Some("false"), "{now:?}");
        w.screenshot("-it-6-consent-refuse").await?;
        w.activate("button", "Consenti", "").await?;

        // Back on the same page: the refusal is said, the button is still
        // there and enabled, focus is on the page's heading.
        w.wait_path(|p| p == "/invoices", "/invoices").await?;
        w.wait_text(".section-disabled", "Avevi rifiutato").await?;
        w.wait_focus("heading", "Fatture").await?;
        let heading = w.ax().await?.focused().cloned();
        assert_eq!(heading.and_then(|h| h.level), Some(1), "the page's own heading");
        w.wait_text("[data-test=grant-announcement]", "Nessun nuovo accesso")
            .await?;
        w.assert_nothing_needed_is_disabled(&Needs {
            page: "the invoices, refused",
            controls: &needed,
            may_be_disabled: &[],
        })
        .await?;
        w.screenshot("-it-7-refused").await?;

        // Grant it after all.
        w.activate("link", "Concedi accesso", grant).await?;
        w.wait_role("checkbox", "Fatturazione", "").await?;
        w.activate("button", "Consenti", "").await?;
        w.wait_path(|p| p == "/invoices", "/invoices").await?;
        w.find("[data-test=invoice-list] tbody tr").await?;
        w.wait_focus("heading", "Fatture").await?;
        let said = w
            .wait_text("[data-test=grant-announcement]", "Accesso concesso")
            .await?;
        assert_eq!(said, "Accesso concesso: ora puoi usare Fatture.");
        let tree = w.ax().await?;
        assert!(
            tree.0
                .iter()
                .any(|n| n.role == "status" && n.live.as_deref() == Some("polite")),
            "the announcement is a polite live region"
        );
        let fatture = w.wait_role("link", "Fatture", "").await?;
        assert_eq!(fatture.name, "Fatture", "no longer unavailable");
        w.assert_nothing_needed_is_disabled(&Needs {
            page: "the invoices, granted",
            controls: SHELL,
            // The list's first page: there is nothing before it.
            may_be_disabled: &[("button", "Precedenti")],
        })
        .await?;
        w.assert_accessible("the invoices, granted").await?;
        w.assert_target_sizes("the invoices, granted").await?;
        w.screenshot("-it-8-granted").await?;
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_journey_by_keyboard_alone() {
    run_with("a11y_keyboard", without_reports(), async |w: &World| {
        // English, chosen before the first page is drawn.
        w.open("/invoices").await?;
        w.browser
            .execute(
                "localStorage.setItem('gx.lang', 'en'); location.reload();",
                vec![],
            )
            .await?;
        w.wait_text("main", "Sign in with GipoNext").await?;
        let order = w.tab_to("link", "Sign in with GipoNext", false, 4).await?;
        assert_eq!(
            order[0].0, "combobox",
            "the language comes first: {order:?}"
        );
        w.screenshot("-en-1-signin").await?;
        w.press(&[Key::Enter]).await?;

        // The provider's login: type, Tab, type, Enter.
        w.wait_text("body", "Nome utente").await?;
        w.tab_to("textbox", "Nome utente", false, 4).await?;
        w.type_text(MARIO).await?;
        w.tab_to("textbox", "Password", false, 1).await?;
        w.type_text("sandbox").await?;
        w.screenshot("-en-2-login").await?;
        w.press(&[Key::Enter]).await?;

        // The consent page: to the allow button, Enter.
        w.wait_text("body", "Consenti").await?;
        w.tab_to("button", "Consenti", false, 8).await?;
        w.screenshot("-en-3-consent").await?;
        w.press(&[Key::Enter]).await?;

        // The invoices, not yet granted. First stop: the skip link; Enter
        // on it, and the next Tab is the grant button of the invoice list.
        w.wait_path(|p| p == "/invoices", "/invoices").await?;
        w.wait_text(".section-disabled", "To show invoices").await?;
        let first = w.tab_to("link", "Skip to content", false, 1).await?;
        assert_eq!(first.len(), 1);
        w.press(&[Key::Enter]).await?;
        let order = w.tab_to("link", "Grant access", false, 2).await?;
        assert_eq!(
            order.len(),
            1,
            "the grant button is the first stop in the page: {order:?}"
        );
        let focused = w.ax().await?;
        let here = focused.focused().expect("focus").clone();
        assert!(
            here.description.contains("To show invoices"),
            "the grant button says what it is for: {here:?}"
        );
        // Shift+Tab goes back to the navigation's last section, Tab returns.
        let back = w.tab_to("link", "Access", true, 1).await?;
        assert_eq!(back.len(), 1, "{back:?}");
        w.tab_to("link", "Grant access", false, 1).await?;
        w.screenshot("-en-4-invoices-off").await?;
        w.press(&[Key::Enter]).await?;

        // Refuse Invoicing: to its checkbox, Space, to the allow button.
        w.wait_text("body", "Fatturazione").await?;
        w.tab_to("checkbox", "Fatturazione", false, 8).await?;
        w.press(&[Key::Space]).await?;
        let refused = w.wait_role("checkbox", "Fatturazione", "").await?;
        assert_eq!(refused.checked.as_deref(), Some("false"), "{refused:?}");
        w.screenshot("-en-5-consent-refuse").await?;
        w.tab_to("button", "Consenti", false, 4).await?;
        w.press(&[Key::Enter]).await?;

        // Back on the same page, focus on its heading, the news announced.
        w.wait_path(|p| p == "/invoices", "/invoices").await?;
        w.wait_focus("heading", "Invoices").await?;
        w.wait_text(
            "[data-test=grant-announcement]",
            "No new access was granted",
        )
        .await?;
        w.wait_text("[data-test=partial-consent]", "Invoicing")
            .await?;
        w.screenshot("-en-6-refused").await?;
        // The notice about the refusal sits just before the heading:
        // Shift+Tab reaches its button, Escape dismisses it, and focus goes
        // back to the heading instead of being lost.
        w.tab_to("button", "Dismiss", true, 1).await?;
        w.press(&[Key::Escape]).await?;
        w.wait_focus("heading", "Invoices").await?;
        anyhow::ensure!(
            !w.has("[data-test=partial-consent]").await?,
            "Escape dismissed the notice"
        );

        // Grant after all: Tab to the button, Enter, allow.
        w.tab_to("link", "Grant access", false, 2).await?;
        w.press(&[Key::Enter]).await?;
        w.wait_text("body", "Fatturazione").await?;
        w.tab_to("button", "Consenti", false, 8).await?;
        w.press(&[Key::Enter]).await?;
        w.wait_path(|p| p == "/invoices", "/invoices").await?;
        w.wait_focus("heading", "Invoices").await?;
        let said = w
            .wait_text("[data-test=grant-announcement]", "Access granted")
            .await?;
        assert_eq!(said, "Access granted: you can now use Invoices.");
        w.find("[data-test=invoice-list] tbody tr").await?;
        // From the heading, Tab goes on into the invoice list.
        let next = w.tab_to("button", "", false, 1).await?;
        assert_eq!(next.len(), 1, "{next:?}");
        w.screenshot("-en-7-granted").await?;
        Ok(())
    })
    .await;
}
