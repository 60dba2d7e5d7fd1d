//! The booking and invoice forms keep what was typed through a lost
//! session, like the patient and report forms (`expiry.rs`): the grant
//! ends at GipoNext, or the backend forgets the session, while the user
//! fills the form; signing in again brings the user back to the form with
//! every value, and submitting then does what the user asked.

use anyhow::Context;
use fantoccini::Locator;
use giponext_sandbox::users::{MARIO, TENANT_MAIN};

use super::harness::{World, items};
use super::run;

/// Follows the console's "sign in again" link back to `path`.
async fn sign_in_again(w: &World, path: &str) -> anyhow::Result<()> {
    let again = w.find("[role=alert] a.button").await?;
    let href = again.attr("href").await?.unwrap_or_default();
    let back = format!("return_to={}", path.replace('/', "%2F"));
    anyhow::ensure!(
        href.ends_with(&back),
        "signing in again returns to {path}: {href}"
    );
    again.click().await?;
    w.sign_in_at_provider(MARIO, &[]).await?;
    w.wait_path(|p| p == path, path).await?;
    w.find("[data-test=draft-restored]").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn booking_draft_survives_an_expired_session_on_its_own_agenda() {
    run("booking_draft_after_expired_session", async |w: &World| {
        w.sign_in_with("giponext.agenda", "/agenda").await?;
        let t = format!("/v2/tenants/{TENANT_MAIN}");
        // Not the agenda shown first: the second tab.
        let agendas = w.api_get(&format!("{t}/agendas?limit=100")).await?;
        let second = items(&agendas).get(1).context("two agendas")?;
        let agenda = second["id"].as_str().context("agenda id")?.to_owned();
        let name = second["name"].as_str().context("agenda name")?.to_owned();
        w.find(".tabs [role=tab][aria-selected=true]").await?;
        w.click(".tabs [role=tab]:nth-of-type(2)").await?;
        w.wait_text(".tabs [role=tab][aria-selected=true]", &name)
            .await?;
        // A free slot of that agenda: this week or a later one.
        let (_, slot_start) = w.pick_free_slot().await?;
        let slot_end = w.value("#book-end").await?;
        let patient = w.choose_first("#book-patient").await?;
        let note = "Controllo dopo infiltrazione (bozza)";
        w.type_into("#book-notes", note).await?;
        // The grant ends at GipoNext while the user is on the form.
        assert!(w.sandbox().revoke_grants(MARIO) > 0, "a live grant");
        w.click("form button[type=submit]").await?;
        w.wait_text("[role=alert]", "La sessione con GipoNext è scaduta")
            .await?;
        sign_in_again(w, "/agenda").await?;
        // The same agenda, and every value.
        w.wait_text(".tabs [role=tab][aria-selected=true]", &name)
            .await?;
        assert_eq!(w.value("#book-notes").await?, note);
        assert_eq!(w.value("#book-start").await?, slot_start);
        assert_eq!(w.value("#book-end").await?, slot_end);
        w.wait_value("#book-patient", &patient).await?;
        w.click("form button[type=submit]").await?;
        w.wait_text("form .success", "Appuntamento prenotato")
            .await?;
        let day = slot_start.get(..10).context("a date")?;
        let booked = w
            .api_get(&format!(
                "{t}/appointments?agendaId={agenda}&from={day}&to={day}&limit=100"
            ))
            .await?;
        let made = items(&booked)
            .iter()
            .find(|a| a["notes"] == note)
            .with_context(|| format!("the appointment on {agenda}: {booked}"))?;
        assert_eq!(made["agendaId"], agenda.as_str(), "{made}");
        assert_eq!(made["patientId"].to_string(), patient, "{made}");
        assert!(
            made["start"]
                .as_str()
                .is_some_and(|s| s.starts_with(&slot_start)),
            "{made} starts at {slot_start}"
        );
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invoice_draft_survives_the_session_ending_on_the_backend() {
    run("invoice_draft_after_session_deleted", async |w: &World| {
        w.sign_in_with("giponext.invoices%20giponext.treatments", "/invoices")
            .await?;
        let t = format!("/v2/tenants/{TENANT_MAIN}");
        let patient = w.choose_first("#inv-patient").await?;
        let list_id = w.choose_first("#inv-pricelist").await?;
        let list = w.api_get(&format!("{t}/pricelists/{list_id}")).await?;
        let priced = list["items"]
            .as_array()
            .and_then(|items| items.get(1))
            .with_context(|| format!("a second priced treatment in {list}"))?;
        let treatment = priced["treatmentId"].as_str().context("treatmentId")?;
        w.click("form fieldset > button").await?;
        w.find("#line-0-treatment")
            .await?
            .select_by_value(treatment)
            .await?;
        w.type_into("#line-0-qty", "3").await?;
        // The backend forgets the session while the user works.
        w.end_session_on_backend().await?;
        w.click("form button[type=submit]").await?;
        sign_in_again(w, "/invoices").await?;
        w.wait_value("#inv-patient", &patient).await?;
        w.wait_value("#inv-pricelist", &list_id).await?;
        w.wait_value("#line-0-treatment", treatment).await?;
        assert_eq!(w.value("#line-0-qty").await?, "3");
        let lines = w
            .browser
            .find_all(Locator::Css("[id^=line-][id$=-qty]"))
            .await?;
        assert_eq!(lines.len(), 1, "one line, as typed");
        let number = w.issue_invoice().await?;
        let stored = w.issued_today(&number).await?;
        assert_eq!(stored["patientId"].to_string(), patient, "{stored}");
        let line = &stored["lines"][0];
        assert_eq!(line["treatmentId"], treatment, "{stored}");
        assert_eq!(line["quantity"], 3, "{stored}");
        assert_eq!(line["unitPriceCents"], priced["priceCents"], "{stored}");
        Ok(())
    })
    .await;
}
