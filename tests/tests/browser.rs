//! The console in a real headless Chromium, against the backend and the
//! sandbox started in-process: the journey of the web console issue, from a
//! partial consent to signing out. Each test leaves a screenshot of its last
//! screen in `artifacts/`.

#![allow(missing_docs)]

#[path = "browser/a11y.rs"]
mod a11y;
#[path = "browser/ax.rs"]
mod ax;
#[path = "browser/drafts.rs"]
mod drafts;
#[path = "browser/expiry.rs"]
mod expiry;
#[path = "browser/harness.rs"]
mod harness;
#[path = "browser/many_patients.rs"]
mod many_patients;
#[path = "browser/tls_proxy.rs"]
mod tls_proxy;
#[path = "browser/workflows.rs"]
mod workflows;
#[path = "browser/workstation.rs"]
mod workstation;

use giponext_shared::Scope;
use giponext_shared::fiscal_code::FiscalCode;
use harness::World;

/// One browser at a time: the machine has two cores.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn run(name: &'static str, steps: impl AsyncFnOnce(&World) -> anyhow::Result<()>) {
    run_with(name, harness::Setup::default(), steps).await
}

/// [`run`] with the product and browser changed by `setup`.
async fn run_with(
    name: &'static str,
    setup: harness::Setup,
    steps: impl AsyncFnOnce(&World) -> anyhow::Result<()>,
) {
    let _turn = ONE_AT_A_TIME.lock().await;
    let Some(world) = World::start_with(name, setup)
        .await
        .expect("start the product and the browser")
    else {
        return;
    };
    // A failed `assert!` in a step still saves the screen and stops the
    // browser (else Chromium outlives the test).
    match harness::CatchUnwind(Box::pin(steps(&world))).await {
        Ok(Ok(())) => world.finish().await.expect("screenshot and stop"),
        Ok(Err(e)) => {
            let e = world.fail(e).await;
            panic!("{name}: {e:#}");
        }
        Err(panic) => {
            let _ = world.finish().await;
            std::panic::resume_unwind(panic);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_consent_then_invoicing_granted_in_context() {
    run("partial_consent_then_invoicing", async |w: &World| {
        // Signed out: the sign-in page, with the sandbox banner.
        w.open("/invoices").await?;
        w.find("[data-test=sign-in]").await?;
        w.find("[data-test=sandbox-banner]").await?;
        w.assert_accessible("the sign-in page").await?;
        // A sign-in that also asks for Invoicing and Medical reports (as a
        // deep link would), and the user refuses both at the consent screen.
        w.open("/auth/login?scope=giponext.invoices%20giponext.medicalreports&return_to=%2F")
            .await?;
        w.sign_in_at_provider("mario.rossi", &[Scope::Invoices, Scope::MedicalReports])
            .await?;
        // One message says what is off and how to turn it on.
        let notice = w
            .wait_text("[data-test=partial-consent]", "Fatturazione")
            .await?;
        assert!(notice.contains("Referti"), "{notice}");
        // Both sections stay in the navigation, marked unavailable with the
        // reason (never aria-disabled: they are the way to the grant).
        w.wait_text(
            "nav a.off[data-section='/invoices']",
            "non disponibile: serve l'accesso a Fatturazione; puoi concederlo",
        )
        .await?;
        w.wait_text(
            "nav a.off[data-section='/reports']",
            "non disponibile: serve l'accesso a Referti; puoi concederlo",
        )
        .await?;
        assert!(!w.has("nav a.off[data-section='/patients']").await?);
        assert!(!w.has("nav a[aria-disabled]").await?);
        w.click("nav a[data-section='/reports']").await?;
        w.wait_text(
            ".section-disabled",
            "Per mostrare i referti, GipoNext Connect ha bisogno dell'accesso a Referti.",
        )
        .await?;
        w.assert_accessible("reports, disabled with its prompt")
            .await?;
        w.click("nav a[data-section='/invoices']").await?;
        let prompt = w
            .wait_text(
                ".section-disabled",
                "Per mostrare le fatture, GipoNext Connect ha bisogno dell'accesso a Fatturazione.",
            )
            .await?;
        assert!(
            prompt.contains("Avevi rifiutato"),
            "a declined scope says so: {prompt}"
        );
        // Nothing was asked again unprompted: still on the console.
        assert_eq!(w.path().await?, "/invoices");
        // Grant Invoicing from its prompt, consent, land back on invoices.
        let grant = w
            .find(".section-disabled a[data-grant='giponext.invoices']")
            .await?;
        let href = grant.attr("href").await?.unwrap_or_default();
        assert_eq!(
            href,
            "/auth/login?scope=giponext.invoices&return_to=%2Finvoices"
        );
        grant.click().await?;
        w.sign_in_at_provider("mario.rossi", &[]).await?;
        w.wait_path(|p| p == "/invoices", "/invoices").await?;
        let list = w.find("[data-test=invoice-list] tbody tr").await?;
        assert!(!list.text().await?.is_empty());
        assert!(!w.has("nav a.off[data-section='/invoices']").await?);
        w.find("nav a.off[data-section='/reports']").await?;
        let session = w.session_json().await?;
        let granted = session["scopes"]["granted"].to_string();
        assert!(granted.contains("giponext.invoices"), "{granted}");
        assert!(!granted.contains("giponext.medicalreports"), "{granted}");
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn medical_report_draft_survives_granting_reports_midway() {
    run("medical_report_draft", async |w: &World| {
        w.sign_in("mario.rossi").await?;
        w.open("/reports").await?;
        // The writing form is there, with the prompt for what it needs.
        w.wait_text(
            "main",
            "Per scrivere un referto, GipoNext Connect ha bisogno dell'accesso a Referti.",
        )
        .await?;
        let patient = w.choose_first("#report-patient").await?;
        w.type_into("#report-title", "Visita cardiologica di controllo")
            .await?;
        w.type_into(
            "#report-body",
            "Ritmo sinusale regolare.\nNessuna alterazione.",
        )
        .await?;
        // Mid-way: grant Medical reports from the form's prompt.
        let grants = w
            .browser
            .find_all(fantoccini::Locator::Css(
                "a[data-grant='giponext.medicalreports']",
            ))
            .await?;
        grants.last().expect("a grant button").click().await?;
        w.sign_in_at_provider("mario.rossi", &[]).await?;
        w.wait_path(|p| p == "/reports", "/reports").await?;
        // The draft is back, with a notice.
        w.find("[data-test=draft-restored]").await?;
        w.wait_text("main", "Nuovo referto").await?;
        w.assert_accessible("reports with a restored draft").await?;
        assert_eq!(
            w.value("#report-title").await?,
            "Visita cardiologica di controllo"
        );
        assert_eq!(
            w.value("#report-body").await?,
            "Ritmo sinusale regolare.\nNessuna alterazione."
        );
        w.wait_value("#report-patient", &patient).await?;
        assert!(!w.has("a[data-grant='giponext.medicalreports']").await?);
        // Submit: saved, and the draft is gone.
        w.click("form button[type=submit]").await?;
        w.find("[data-test=report-saved]").await?;
        assert_eq!(w.value("#report-title").await?, "");
        // The new report is in the patient's list.
        w.find("#reports-patient")
            .await?
            .select_by_value(&patient)
            .await?;
        w.wait_text("article.report", "Visita cardiologica di controllo")
            .await?;
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_a_patient_then_sign_out() {
    run("create_patient_and_sign_out", async |w: &World| {
        w.sign_in("mario.rossi").await?;
        w.assert_bundle_arrived_compressed().await?;
        w.click("nav a[data-section='/patients']").await?;
        w.find("[data-test=patient-list] tbody tr").await?;
        w.assert_accessible("the patient list").await?;
        // Search narrows the list.
        w.type_into("#patient-search", "rizzi").await?;
        w.click("form[role=search] button[type=submit]").await?;
        w.wait_text("[data-test=patient-list] tbody", "Rizzi")
            .await?;
        let rows = w
            .browser
            .find_all(fantoccini::Locator::Css(
                "[data-test=patient-list] tbody tr",
            ))
            .await?;
        for row in rows {
            let text = row.text().await?;
            assert!(text.contains("Rizzi"), "search shows only matches: {text}");
        }
        w.click("[data-test=new-patient]").await?;
        w.type_into("#p-first", "Anna").await?;
        w.type_into("#p-last", "Esposito").await?;
        w.type_into("#p-fiscal", "NOTAFISCALCODE").await?;
        w.click("[data-test=patient-form] button[type=submit]")
            .await?;
        // The sandbox's validation error shows on the right field, in the
        // console's language (Italian) although the API speaks English.
        let error = w.find("#err-fiscalCode").await?.text().await?;
        assert_eq!(error, "Il codice fiscale deve avere 16 caratteri.");
        w.find(".field.invalid #p-fiscal").await?;
        assert_eq!(
            w.find("#p-fiscal")
                .await?
                .attr("aria-describedby")
                .await?
                .as_deref(),
            Some("err-fiscalCode")
        );
        w.screenshot("-validation").await?;
        let birth = chrono::NaiveDate::from_ymd_opt(1992, 7, 14).expect("a date");
        let code = FiscalCode::compute("Esposito", "Anna", birth, true, "F839").expect("a code");
        w.type_into("#p-fiscal", code.as_str()).await?;
        w.click("[data-test=patient-form] button[type=submit]")
            .await?;
        w.wait_path(
            |p| {
                p.strip_prefix("/patients/")
                    .is_some_and(|id| id.chars().all(|c| c.is_ascii_digit()))
            },
            "the new patient's page",
        )
        .await?;
        w.wait_text("h1", "Esposito Anna").await?;
        assert_eq!(w.value("#p-fiscal").await?, code.as_str());
        // Sign out: the session is gone, the sign-in page is back.
        w.click("[data-test=sign-out]").await?;
        w.find("[data-test=sign-in]").await?;
        let session = w.session_json().await?;
        assert_eq!(session["authenticated"], false, "{session}");
        w.open("/patients").await?;
        w.find("[data-test=sign-in]").await?;
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agenda_asked_in_context_then_shown_as_a_week() {
    run("agenda_week_and_access", async |w: &World| {
        w.sign_in("mario.rossi").await?;
        w.click("nav a[data-section='/agenda']").await?;
        w.wait_text(
            ".section-disabled",
            "Per mostrare l'agenda, GipoNext Connect ha bisogno dell'accesso ad Agenda.",
        )
        .await?;
        w.click(".section-disabled a[data-grant='giponext.agenda']")
            .await?;
        w.sign_in_at_provider("mario.rossi", &[]).await?;
        w.wait_path(|p| p == "/agenda", "/agenda").await?;
        w.find("[data-test=week] .day").await?;
        let days = w
            .browser
            .find_all(fantoccini::Locator::Css("[data-test=week] .day"))
            .await?;
        assert_eq!(days.len(), 7, "a week calendar");
        w.find(".tabs [role=tab][aria-selected=true]").await?;
        w.screenshot("-agenda").await?;
        w.assert_accessible("the agenda week").await?;
        // The access page: every scope with its state.
        w.click("nav a[data-section='/access']").await?;
        w.wait_text("tr[data-scope='giponext.agenda']", "concesso")
            .await?;
        w.wait_text("tr[data-scope='giponext.invoices']", "non ancora richiesto")
            .await?;
        w.find("tr[data-scope='giponext.invoices'] a[data-grant='giponext.invoices']")
            .await?;
        // Connected sessions: this browser, marked as this session.
        w.wait_text("[data-test=sessions] .badge", "Questa sessione")
            .await?;
        w.browser
            .execute(
                "document.querySelector('[data-test=sessions]').scrollIntoView()",
                vec![],
            )
            .await?;
        w.screenshot("-sessions").await?;
        w.assert_accessible("the access page").await?;
        assert!(
            !w.has("tr[data-scope='giponext.agenda'] a[data-grant]")
                .await?
        );
        // English, remembered.
        w.find("select[aria-label=Lingua]")
            .await?
            .select_by_value("en")
            .await?;
        w.wait_text("tr[data-scope='giponext.invoices']", "not yet asked")
            .await?;
        w.open("/access").await?;
        w.wait_text("tr[data-scope='giponext.agenda']", "granted")
            .await?;
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_that_forbids_is_told_apart_from_a_missing_scope() {
    run("front_desk_permission_denied", async |w: &World| {
        // giulia.bianchi works at the front desk: GipoNext itself does not
        // let her write medical reports, whatever the app was granted.
        w.open("/auth/login?scope=giponext.medicalreports&return_to=%2Freports")
            .await?;
        w.sign_in_at_provider("giulia.bianchi", &[]).await?;
        w.wait_path(|p| p == "/reports", "/reports").await?;
        w.choose_first("#report-patient").await?;
        w.type_into("#report-title", "Prova").await?;
        w.type_into("#report-body", "Testo").await?;
        w.click("form button[type=submit]").await?;
        w.wait_text(
            "[role=alert]",
            "Il tuo ruolo in GipoNext non ti consente questa operazione",
        )
        .await?;
        assert!(
            !w.has("form a[data-grant]").await?,
            "no grant button: consent cannot fix it"
        );
        Ok(())
    })
    .await;
}
