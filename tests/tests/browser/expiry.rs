//! A form being filled survives an expired session: the grant ends at
//! GipoNext while the user types, the next action is answered with
//! `reauth_required`, the console offers to sign in again, and the user
//! comes back to the same form with the draft restored.

use anyhow::Context;
use giponext_sandbox::users::{MARIO, TENANT_MAIN};
use giponext_shared::fiscal_code::FiscalCode;

use super::harness::World;
use super::run;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patient_draft_survives_an_expired_session() {
    run("patient_draft_after_expired_session", async |w: &World| {
        w.sign_in(MARIO).await?;
        w.open("/patients/new").await?;
        let birth = chrono::NaiveDate::from_ymd_opt(1987, 3, 2).expect("a date");
        let code = FiscalCode::compute("Fontana", "Chiara", birth, true, "L219").expect("a code");
        w.type_into("#p-first", "Chiara").await?;
        w.type_into("#p-last", "Fontana").await?;
        w.type_into("#p-fiscal", code.as_str()).await?;
        w.type_into("#p-phone", "011 555 0199").await?;
        // Meanwhile the grant ends at GipoNext (revoked there): the access
        // token is refused and the refresh token no longer works.
        assert!(w.sandbox().revoke_grants(MARIO) > 0, "a live grant");
        w.click("[data-test=patient-form] button[type=submit]")
            .await?;
        let alert = w
            .wait_text("[role=alert]", "La sessione con GipoNext è scaduta")
            .await?;
        assert!(alert.contains("resta salvato"), "{alert}");
        let again = w.find("[role=alert] a.button").await?;
        let href = again.attr("href").await?.unwrap_or_default();
        assert!(
            href.ends_with("return_to=%2Fpatients%2Fnew"),
            "signing in again comes back to the form: {href}"
        );
        assert_eq!(w.session_json().await?["token"], "reauth_required");
        again.click().await?;
        w.sign_in_at_provider(MARIO, &[]).await?;
        w.wait_path(|p| p == "/patients/new", "/patients/new")
            .await?;
        // The draft is back, with the notice, field by field.
        w.find("[data-test=draft-restored]").await?;
        assert_eq!(w.value("#p-first").await?, "Chiara");
        assert_eq!(w.value("#p-last").await?, "Fontana");
        assert_eq!(w.value("#p-fiscal").await?, code.as_str());
        assert_eq!(w.value("#p-phone").await?, "011 555 0199");
        w.assert_accessible("a form restored after signing in again")
            .await?;
        // Submit works in the new session, and the draft is gone.
        w.click("[data-test=patient-form] button[type=submit]")
            .await?;
        let path = w
            .wait_path(
                |p| {
                    p.strip_prefix("/patients/")
                        .is_some_and(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()))
                },
                "the new patient's page",
            )
            .await?;
        w.wait_text("h1", "Fontana Chiara").await?;
        let stored = w
            .api_get(&format!("/v2/tenants/{TENANT_MAIN}{path}"))
            .await?;
        assert_eq!(stored["fiscalCode"], code.as_str(), "{stored}");
        assert_eq!(stored["phone"], "011 555 0199", "{stored}");
        w.open("/patients/new").await?;
        w.find("#p-first").await?;
        assert!(!w.has("[data-test=draft-restored]").await?);
        assert_eq!(w.value("#p-first").await?, "");
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_draft_survives_the_session_ending_on_the_backend() {
    run("report_draft_after_session_deleted", async |w: &World| {
        w.sign_in_with("giponext.medicalreports", "/reports")
            .await?;
        let patient = w.choose_first("#report-patient").await?;
        w.type_into("#report-title", "Ecografia addome").await?;
        w.type_into("#report-body", "Fegato nei limiti.").await?;
        // The backend forgets the session (idle timeout, signed out from
        // another device...) while the user types.
        w.end_session_on_backend().await?;
        w.click("form button[type=submit]").await?;
        let again = w.find("[role=alert] a.button").await?;
        let href = again.attr("href").await?.unwrap_or_default();
        // Back to this page, asking again for what was granted (the backend
        // no longer knows it).
        assert!(href.ends_with("return_to=%2Freports"), "{href}");
        assert!(href.contains("giponext.medicalreports"), "{href}");
        again.click().await?;
        w.sign_in_at_provider(MARIO, &[]).await?;
        w.wait_path(|p| p == "/reports", "/reports").await?;
        w.find("[data-test=draft-restored]").await?;
        assert_eq!(w.value("#report-title").await?, "Ecografia addome");
        assert_eq!(w.value("#report-body").await?, "Fegato nei limiti.");
        w.wait_value("#report-patient", &patient).await?;
        w.click("form button[type=submit]").await?;
        w.find("[data-test=report-saved]").await?;
        let reports = w
            .api_get(&format!(
                "/v2/tenants/{TENANT_MAIN}/medicalreports?patientId={patient}&limit=100"
            ))
            .await?;
        let saved = reports["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["title"] == "Ecografia addome")
            .with_context(|| format!("the report in {reports}"))?;
        assert_eq!(saved["body"], "Fegato nei limiti.", "{saved}");
        Ok(())
    })
    .await;
}
