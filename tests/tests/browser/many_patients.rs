//! A centre with more patients than one API page (at most 100): the
//! pickers find any of them by search, and a patient beyond the first page
//! is shown by name, not as a bare id.

use std::time::{Duration, Instant};

use anyhow::Context;
use fantoccini::Locator;
use giponext_sandbox::users::TENANT_MAIN;
use giponext_shared::fiscal_code::FiscalCode;
use serde_json::json;

use super::harness::World;
use super::run;

const LAST_NAMES: [&str; 5] = ["Zanetti", "Zanella", "Zanotti", "Zampieri", "Zaccaria"];
const FIRST_NAMES: [(&str, bool); 9] = [
    ("Aldo", false),
    ("Bruna", true),
    ("Carlo", false),
    ("Dora", true),
    ("Elio", false),
    ("Fabio", false),
    ("Gina", true),
    ("Ivo", false),
    ("Lea", true),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patient_beyond_the_first_page_is_found_and_named() {
    run("patient_beyond_first_page", async |w: &World| {
        w.sign_in_with("giponext.invoices%20giponext.treatments", "/invoices")
            .await?;
        let t = format!("/v2/tenants/{TENANT_MAIN}");
        // 45 more patients: with the seeded ones, more than one page.
        let mut last = json!(null);
        for (i, (last_name, (first_name, female))) in LAST_NAMES
            .iter()
            .flat_map(|l| FIRST_NAMES.iter().map(move |f| (l, f)))
            .enumerate()
        {
            let birth = chrono::NaiveDate::from_ymd_opt(1950, 1, 1).context("a date")?
                + chrono::Duration::days(i as i64 * 211);
            let code = FiscalCode::compute(last_name, first_name, birth, *female, "F205")
                .context("a fiscal code")?;
            last = w
                .api_post(
                    &format!("{t}/patients"),
                    json!({"firstName": first_name, "lastName": last_name,
                           "fiscalCode": code.as_str(), "birthDate": birth.to_string()}),
                )
                .await?;
        }
        let far = last["id"].as_i64().context("the new patient's id")?;
        let total = w.api_get(&format!("{t}/patients?limit=1")).await?["totalCount"]
            .as_u64()
            .context("totalCount")?;
        anyhow::ensure!(total > 100, "more than one page: {total}");
        // The console reads its patient directory once per page load.
        w.browser.refresh().await?;
        let note = w
            .wait_text(".card p.muted.small", "Mostrati 100 di")
            .await?;
        assert!(note.contains(&total.to_string()), "{note}");
        let far_option = format!("#inv-patient option[value='{far}']");
        assert!(!w.has(&far_option).await?, "beyond the first page");
        // Searching finds the patient.
        w.type_into("#inv-patient-search", "Zaccaria Lea").await?;
        w.wait_text(&far_option, "Zaccaria Lea").await?;
        // Each keystroke searched; let the last answer replace the options.
        tokio::time::sleep(Duration::from_millis(500)).await;
        w.find("#inv-patient")
            .await?
            .select_by_value(&far.to_string())
            .await?;
        // An invoice for that patient, then its detail names the patient.
        w.choose_first("#inv-pricelist").await?;
        w.click("form fieldset > button").await?;
        w.choose_first("#line-0-treatment").await?;
        let number = w.issue_invoice().await?;
        assert_eq!(w.issued_today(&number).await?["patientId"], far);
        w.click("[data-test=open-invoice]").await?;
        let heading = format!("//div[@role='region'][@aria-label='{number}']//h3");
        let start = Instant::now();
        loop {
            let found = w.browser.find_all(Locator::XPath(&heading)).await?;
            let text = match found.first() {
                Some(h) => h.text().await?,
                None => String::new(),
            };
            if text.contains("Zaccaria Lea") {
                break;
            }
            anyhow::ensure!(
                start.elapsed() < Duration::from_secs(20),
                "the invoice's heading names the patient: {text:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        w.assert_accessible("a picker with a search box").await?;
        Ok(())
    })
    .await;
}
