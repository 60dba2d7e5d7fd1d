//! Click-through of the day-to-day work: an invoice from treatments at
//! their price-list prices, a patient's episodes, and the agenda. Each test
//! checks what the user sees and what the API holds afterwards.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{Datelike, NaiveDate};
use fantoccini::Locator;
use fantoccini::elements::Element;
use giponext_sandbox::users::TENANT_MAIN;
use giponext_shared::Lang;
use giponext_shared::api::{InvoiceLine, format_eur, invoice_totals};
use serde_json::Value;

use super::harness::{World, items};
use super::run;

/// Waits for the element at an XPath (for "the row that says X").
async fn find_xpath(w: &World, xpath: &str) -> anyhow::Result<Element> {
    let start = Instant::now();
    loop {
        if let Some(e) = w
            .browser
            .find_all(Locator::XPath(xpath))
            .await?
            .into_iter()
            .next()
        {
            return Ok(e);
        }
        if start.elapsed() > Duration::from_secs(20) {
            let body = w.body_text().await.unwrap_or_default();
            bail!("nothing at {xpath}; the page says:\n{body}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invoice_from_treatments_at_price_list_prices() {
    run("invoice_from_price_list", async |w: &World| {
        w.sign_in_with("giponext.invoices%20giponext.treatments", "/invoices")
            .await?;
        let t = format!("/v2/tenants/{TENANT_MAIN}");
        // The list pages: "next" is a plain button that shows the next page.
        w.find("[data-test=invoice-list] tbody tr").await?;
        let next = w.find(".pager button:last-of-type").await?;
        assert_eq!(next.text().await?, "Successivi ›");
        next.click().await?;
        w.wait_text(".pager", "21–40 di").await?;
        w.choose_first("#inv-patient").await?;
        let list_id = w.choose_first("#inv-pricelist").await?;
        let list = w.api_get(&format!("{t}/pricelists/{list_id}")).await?;
        let prices = list["items"].as_array().context("price list items")?;
        anyhow::ensure!(prices.len() >= 2, "two priced treatments: {list}");
        // Two lines: the first two treatments of the list, 1 and 2 of them.
        let mut expected = Vec::new();
        for (i, (item, qty)) in prices.iter().zip([1u32, 2]).enumerate() {
            w.click("form fieldset > button").await?;
            let treatment = item["treatmentId"].as_str().context("treatmentId")?;
            w.find(&format!("#line-{i}-treatment"))
                .await?
                .select_by_value(treatment)
                .await?;
            w.type_into(&format!("#line-{i}-qty"), &qty.to_string())
                .await?;
            expected.push(InvoiceLine {
                treatment_id: treatment.to_owned(),
                description: String::new(),
                quantity: qty,
                unit_price_cents: item["priceCents"].as_i64().context("priceCents")?,
                vat_rate_percent: item["vatRatePercent"].as_u64().context("vat")? as u8,
            });
        }
        let (net, vat, total) = invoice_totals(&expected);
        let eur = |c| format_eur(c, Lang::It);
        // The totals shown before issuing are the price list's.
        w.wait_text("form [data-test=invoice-total]", &eur(total))
            .await?;
        let form_totals = w.find("form dl.totals").await?.text().await?;
        assert!(form_totals.contains(&eur(net)), "{form_totals}");
        assert!(form_totals.contains(&eur(vat)), "{form_totals}");
        let number = w.issue_invoice().await?;
        // Open it: its detail shows the lines at list prices and the total.
        w.click("[data-test=open-invoice]").await?;
        let detail = find_xpath(w, &format!("//div[@role='region'][@aria-label='{number}']"))
            .await?
            .text()
            .await?;
        for line in &expected {
            assert!(detail.contains(&eur(line.unit_price_cents)), "{detail}");
        }
        assert!(detail.contains(&eur(total)), "{detail}");
        w.browser
            .execute("document.querySelector('.detail').scrollIntoView()", vec![])
            .await?;
        w.screenshot("-detail").await?;
        w.assert_accessible("an issued invoice").await?;
        // The API holds it, at the list's prices.
        let stored = w.issued_today(&number).await?;
        assert_eq!(stored["totalCents"], total, "{stored}");
        assert_eq!(stored["netCents"], net, "{stored}");
        let lines = stored["lines"].as_array().context("lines")?;
        assert_eq!(lines.len(), 2, "{stored}");
        for (line, want) in lines.iter().zip(&expected) {
            assert_eq!(line["treatmentId"], want.treatment_id.as_str());
            assert_eq!(line["quantity"], want.quantity);
            assert_eq!(line["unitPriceCents"], want.unit_price_cents);
        }
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patients_episode_created_then_closed() {
    run("episode_create_and_update", async |w: &World| {
        w.sign_in_with("giponext.episodes", "/episodes").await?;
        let patient = w.choose_first("#ep-patient").await?;
        let title = "Lombalgia: controllo a 30 giorni";
        w.type_into("#ep-title", title).await?;
        w.type_into("#ep-notes", "Fisioterapia in corso.").await?;
        // Leaving and coming back (as after a sign-in) keeps the draft, for
        // the same patient.
        w.browser.refresh().await?;
        w.find("[data-test=draft-restored]").await?;
        assert_eq!(w.value("#ep-title").await?, title);
        assert_eq!(w.value("#ep-notes").await?, "Fisioterapia in corso.");
        w.wait_value("#ep-patient", &patient).await?;
        w.click("form button[type=submit]").await?;
        let row = format!("//tr[th[normalize-space(.)='{title}']]");
        let shown = find_xpath(w, &row).await?.text().await?;
        assert!(shown.contains("aperto"), "{shown}");
        assert_eq!(w.value("#ep-title").await?, "", "the form is cleared");
        let t = format!("/v2/tenants/{TENANT_MAIN}");
        let query = format!("{t}/episodes?patientId={patient}&limit=100");
        let find = |page: &Value| {
            items(page)
                .iter()
                .find(|e| e["title"] == title)
                .cloned()
                .with_context(|| format!("episode {title:?} in {page}"))
        };
        let created = find(&w.api_get(&query).await?)?;
        assert_eq!(created["status"], "open", "{created}");
        assert_eq!(created["notes"], "Fisioterapia in corso.");
        assert_eq!(created["patientId"].to_string(), patient);
        // Update it: close the episode from its row.
        find_xpath(w, &format!("{row}//button"))
            .await?
            .click()
            .await?;
        let start = Instant::now();
        loop {
            let shown = find_xpath(w, &row).await?.text().await?;
            if shown.contains("chiuso") && shown.contains("Riapri") {
                break;
            }
            anyhow::ensure!(start.elapsed() < Duration::from_secs(20), "{shown}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let start = Instant::now();
        let updated = loop {
            let e = find(&w.api_get(&query).await?)?;
            if e["status"] == "closed" || start.elapsed() > Duration::from_secs(10) {
                break e;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(updated["status"], "closed", "{updated}");
        assert!(
            updated["version"].as_i64() > created["version"].as_i64(),
            "{updated}"
        );
        Ok(())
    })
    .await;
}

/// The Monday of the week of `day`.
fn monday(day: NaiveDate) -> NaiveDate {
    day - chrono::Duration::days(i64::from(day.weekday().num_days_from_monday()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agenda_week_then_book_and_cancel() {
    run("agenda_book_and_cancel", async |w: &World| {
        w.sign_in_with("giponext.agenda", "/agenda").await?;
        let t = format!("/v2/tenants/{TENANT_MAIN}");
        let agendas = w.api_get(&format!("{t}/agendas?limit=100")).await?;
        let agenda = items(&agendas)
            .first()
            .and_then(|a| a["id"].as_str())
            .context("an agenda")?
            .to_owned();
        w.find(".tabs [role=tab][aria-selected=true]").await?;
        let mut week = monday(chrono::Local::now().date_naive());
        let in_week = |week: NaiveDate| {
            format!(
                "{t}/appointments?agendaId={agenda}&from={week}&to={}&limit=100",
                week + chrono::Duration::days(6)
            )
        };
        // The calendar shows the week's appointments the API holds.
        w.find("[data-test=week] .day").await?;
        let booked = w.api_get(&in_week(week)).await?;
        let start = Instant::now();
        loop {
            let shown = w
                .browser
                .find_all(Locator::Css("[data-test=week] li.appt"))
                .await?
                .len();
            if shown == items(&booked).len() {
                break;
            }
            anyhow::ensure!(
                start.elapsed() < Duration::from_secs(20),
                "the week shows {shown} appointments, the API has {}",
                items(&booked).len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // A free slot: this week, or a later one.
        let (weeks_ahead, slot_start) = w.pick_free_slot().await?;
        week += chrono::Duration::weeks(weeks_ahead);
        let patient = w.choose_first("#book-patient").await?;
        let note = "Prima visita (e2e)";
        w.type_into("#book-notes", note).await?;
        w.click("form button[type=submit]").await?;
        w.wait_text("form .success", "Appuntamento prenotato")
            .await?;
        let item = format!("//li[contains(@class,'appt')][span[normalize-space(.)='{note}']]");
        find_xpath(w, &item).await?;
        let find = |page: &Value| {
            items(page)
                .iter()
                .find(|a| a["notes"] == note)
                .cloned()
                .with_context(|| format!("the appointment in {page}"))
        };
        let made = find(&w.api_get(&in_week(week)).await?)?;
        assert_eq!(made["status"], "booked", "{made}");
        assert_eq!(made["patientId"].to_string(), patient, "{made}");
        assert!(
            made["start"]
                .as_str()
                .is_some_and(|s| s.starts_with(&slot_start)),
            "{made} starts at {slot_start}"
        );
        // Cancel it from the calendar.
        find_xpath(w, &format!("{item}//button"))
            .await?
            .click()
            .await?;
        let start = Instant::now();
        loop {
            let text = find_xpath(w, &item).await?.text().await?;
            if text.contains("annullato") {
                break;
            }
            anyhow::ensure!(start.elapsed() < Duration::from_secs(20), "{text}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let cancelled = find(&w.api_get(&in_week(week)).await?)?;
        assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
        Ok(())
    })
    .await;
}
