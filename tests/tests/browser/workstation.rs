//! A shared clinic workstation (issue 14): several people on one browser,
//! one after the other, with several tabs open.
//!
//! - A draft comes back only to the person and centre that typed it, and is
//!   not readable from `sessionStorage` by the next person.
//! - Two minutes before the idle timeout the console warns, accessibly, and
//!   "Resta collegato" keeps the session; at zero the sign-in page shows and
//!   the draft stays for the same person.
//! - Signing out in one tab signs out the others within a second; another
//!   person signing in in one tab never leaves the previous person's data in
//!   another.
//! - "Cambia utente" sends `{"switch_user": true}` and goes through the
//!   provider's end-session (the provider asks for a password again).

use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use giponext_sandbox::users::{GIULIA, LUCA, MARIO};
use giponext_shared::fiscal_code::FiscalCode;

use super::harness::World;
use super::{run, run_with};

fn chiara() -> FiscalCode {
    let birth = chrono::NaiveDate::from_ymd_opt(1987, 3, 2).expect("a date");
    FiscalCode::compute("Fontana", "Chiara", birth, true, "L219").expect("a code")
}

/// Types Chiara Fontana into the new-patient form (no `clear`: the fields
/// start empty, and the idle dialog may be over the form).
async fn type_chiara(w: &World) -> anyhow::Result<()> {
    w.find("#p-first").await?.send_keys("Chiara").await?;
    w.find("#p-last").await?.send_keys("Fontana").await?;
    w.find("#p-fiscal")
        .await?
        .send_keys(chiara().as_str())
        .await?;
    // Sealing the draft runs in the background.
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok(())
}

async fn assert_chiara_restored(w: &World) -> anyhow::Result<()> {
    w.find("[data-test=draft-restored]").await?;
    assert_eq!(w.value("#p-first").await?, "Chiara");
    assert_eq!(w.value("#p-last").await?, "Fontana");
    assert_eq!(w.value("#p-fiscal").await?, chiara().as_str());
    Ok(())
}

async fn assert_nothing_readable(w: &World, who: &str) -> anyhow::Result<()> {
    let stored = w.session_storage().await?;
    for secret in ["Chiara", "Fontana", chiara().as_str()] {
        ensure!(
            !stored.contains(secret),
            "{who}: sessionStorage shows {secret:?} in plain text: {stored}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draft_comes_back_only_to_the_person_and_centre_that_typed_it() {
    run("workstation_drafts_per_person", async |w: &World| {
        w.sign_in(MARIO).await?;
        w.open("/patients/new").await?;
        type_chiara(w).await?;
        let stored = w.session_storage().await?;
        ensure!(stored.contains("gx.draft."), "a draft is kept: {stored}");
        assert_nothing_readable(w, "Mario's own tab").await?;
        // Mario walks away; Luca (another centre), then Giulia (Mario's
        // centre), sign in at the same browser, in the same tab.
        w.walk_away().await?;
        for user in [LUCA, GIULIA] {
            w.sign_in(user).await?;
            w.open("/patients/new").await?;
            w.find("#p-first").await?;
            tokio::time::sleep(Duration::from_millis(300)).await;
            ensure!(
                !w.has("[data-test=draft-restored]").await?,
                "{user} is offered Mario's draft"
            );
            assert_eq!(w.value("#p-first").await?, "", "{user}");
            assert_eq!(w.value("#p-fiscal").await?, "", "{user}");
            assert_nothing_readable(w, user).await?;
            w.walk_away().await?;
        }
        // Mario comes back: his draft is there, field by field.
        w.sign_in(MARIO).await?;
        w.open("/patients/new").await?;
        assert_chiara_restored(w).await?;
        Ok(())
    })
    .await;
}

/// The idle timeout of the warning test: under the two minutes of the
/// warning, so it shows as soon as the form opens.
const SHORT_IDLE: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_idle_warning_keeps_the_session_or_ends_it_keeping_the_draft() {
    run_with(
        "workstation_idle_warning",
        super::harness::Setup {
            config: Some(Box::new(|config: &mut giponext_bff::Config| {
                config.timings.session_idle = SHORT_IDLE;
            })),
            ..Default::default()
        },
        async |w: &World| {
            w.sign_in(MARIO).await?;
            w.open("/patients/new").await?;
            // Not shown yet: nothing of it in the accessibility tree.
            ensure!(
                w.ax().await?.all("alertdialog", "").is_empty(),
                "an idle warning is exposed before the last two minutes"
            );
            let countdown = w.wait_text("[data-test=idle-countdown]", "0:").await?;
            // As assistive technology reads it: an alertdialog named by its
            // title, with its one button enabled.
            w.wait_role("alertdialog", "Sei ancora lì?", "inattività")
                .await?;
            w.wait_role("button", "Resta collegato", "").await?;
            let dialog = w.find("[role=alertdialog][data-test=idle-warning]").await?;
            assert_eq!(dialog.attr("aria-modal").await?.as_deref(), Some("true"));
            ensure!(dialog.is_displayed().await?, "the warning is not visible");
            assert!(countdown.contains("inattività"), "{countdown}");
            w.wait_text("[data-test=idle-announcement]", "sta per scadere")
                .await?;
            let live = w
                .find("[data-test=idle-announcement]")
                .await?
                .attr("aria-live")
                .await?;
            assert_eq!(live.as_deref(), Some("assertive"));
            let focused = "return document.activeElement && document.activeElement.dataset.test;";
            assert_eq!(
                w.browser.execute(focused, vec![]).await?,
                "stay-signed-in",
                "focus moves to the dialog"
            );
            // Escape does not dismiss it, and focus stays in it.
            w.find("[data-test=stay-signed-in]")
                .await?
                .send_keys("\u{e00c}")
                .await?;
            tokio::time::sleep(Duration::from_millis(300)).await;
            ensure!(
                w.has("[data-test=idle-warning]").await?,
                "Escape dismissed the warning"
            );
            assert_eq!(w.browser.execute(focused, vec![]).await?, "stay-signed-in");
            w.assert_accessible("the idle warning").await?;
            // What was typed before (the dialog is over the form).
            type_chiara(w).await?;
            // Some seconds later, "Resta collegato" restarts the idle timer
            // at the backend, and the countdown follows it.
            tokio::time::sleep(Duration::from_secs(4)).await;
            let before = w.remaining().await?["idle_seconds_left"]
                .as_u64()
                .context("signed in")?;
            ensure!(before <= 15, "{before} s left before keeping alive");
            w.click("[data-test=stay-signed-in]").await?;
            let start = Instant::now();
            loop {
                let after = w.remaining().await?["idle_seconds_left"].as_u64();
                if after.is_some_and(|a| a >= 18) {
                    break;
                }
                ensure!(
                    start.elapsed() < Duration::from_secs(3),
                    "not kept alive: {after:?}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            w.wait_text("[data-test=idle-countdown]", "0:1").await?;
            // Past the first timeout: still signed in.
            tokio::time::sleep(Duration::from_secs(8)).await;
            ensure!(w.remaining().await?["idle_seconds_left"].as_u64().is_some());
            // Now nobody is there: at zero the sign-in page shows.
            let start = Instant::now();
            while !w.has("[data-test=sign-in]").await? {
                ensure!(
                    start.elapsed() < SHORT_IDLE + Duration::from_secs(10),
                    "no sign-in page after the idle timeout:\n{}",
                    w.body_text().await?
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            ensure!(!w.has("[data-test=idle-warning]").await?);
            assert_eq!(w.session_json().await?["authenticated"], false);
            assert_nothing_readable(w, "the signed-out page").await?;
            // Mario signs in again from there and finds his draft.
            w.click("[data-test=sign-in]").await?;
            w.sign_in_at_provider(MARIO, &[]).await?;
            w.wait_path(|p| p == "/patients/new", "/patients/new")
                .await?;
            assert_chiara_restored(w).await?;
            Ok(())
        },
    )
    .await;
}

/// Milliseconds since the epoch, in the current tab.
async fn epoch_ms(w: &World, what: &str) -> anyhow::Result<f64> {
    w.browser
        .execute(&format!("return {what};"), vec![])
        .await?
        .as_f64()
        .with_context(|| format!("{what} is a number"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tabs_of_one_browser_follow_one_person() {
    run("workstation_tabs", async |w: &World| {
        w.sign_in(MARIO).await?;
        w.open("/patients").await?;
        w.find("[data-test=patient-list]").await?;
        let first = w.browser.window().await?;
        let second = w.browser.new_window(true).await?.handle;
        w.browser.switch_to_window(second.clone()).await?;
        w.open("/patients").await?;
        w.wait_text("[data-test=user]", "Mario Rossi").await?;

        // Back in the first tab, a watcher notes when the sign-in page
        // shows; then the second tab signs out.
        w.browser.switch_to_window(first.clone()).await?;
        w.find("[data-test=patient-list]").await?;
        w.browser
            .execute(
                "window.__signedOutAt = null;\
                 new MutationObserver(() => { if (!window.__signedOutAt &&\
                   document.querySelector('[data-test=sign-in]')) window.__signedOutAt = Date.now(); })\
                   .observe(document.body, {childList: true, subtree: true});",
                vec![],
            )
            .await?;
        w.browser.switch_to_window(second.clone()).await?;
        let clicked = epoch_ms(w, "Date.now()").await?;
        w.click("[data-test=sign-out]").await?;
        w.find("[data-test=sign-in]").await?;
        // Not looking at the first tab (focusing it would make it check)
        // until well after the second.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        w.browser.switch_to_window(first.clone()).await?;
        let at = w
            .browser
            .execute("return window.__signedOutAt;", vec![])
            .await?
            .as_f64();
        let after = at.map(|at| at - clicked);
        ensure!(
            after.is_some_and(|ms| ms < 1000.0),
            "the first tab did not sign out within a second of the click in the second: {after:?}"
        );
        ensure!(!w.has("[data-test=patient-list]").await?);

        // Both tabs as Mario again; Mario walks away, and Luca signs in in
        // the second tab. The first, left on Mario's patients, must show
        // Luca (reloaded before anyone looked at it) or signed out.
        w.open("/patients").await?;
        w.click("[data-test=sign-in]").await?;
        w.sign_in_at_provider(MARIO, &[]).await?;
        w.find("[data-test=patient-list]").await?;
        let mario_patients = w.find("[data-test=patient-list]").await?.text().await?;
        w.walk_away().await?;
        w.browser.switch_to_window(second.clone()).await?;
        w.open("/").await?;
        w.click("[data-test=sign-in]").await?;
        w.sign_in_at_provider(LUCA, &[]).await?;
        w.wait_text("[data-test=user]", "Luca Verdi").await?;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let looked = epoch_ms(w, "Date.now()").await?;
        w.browser.switch_to_window(first.clone()).await?;
        let loaded = epoch_ms(w, "performance.timeOrigin").await?;
        ensure!(
            loaded < looked,
            "the first tab was not reloaded before it was looked at ({} ms later)",
            loaded - looked
        );
        w.wait_text("[data-test=user]", "Luca Verdi").await?;
        let body = w.body_text().await?;
        ensure!(!body.contains("Mario Rossi"), "Mario's name beside Luca's session:\n{body}");
        if w.has("[data-test=patient-list]").await? {
            let list = w.find("[data-test=patient-list]").await?.text().await?;
            ensure!(list != mario_patients, "Mario's centre's patients under Luca");
        }
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switch_user_ends_the_session_and_the_provider_asks_who_is_there() {
    run("workstation_switch_user", async |w: &World| {
        w.sign_in(MARIO).await?;
        // Record the console's calls (in sessionStorage: the page goes).
        w.browser
            .execute(
                "const f = window.fetch.bind(window);\
                 window.fetch = (u, i) => {\
                   const calls = JSON.parse(sessionStorage.getItem('gx.test.calls') || '[]');\
                   calls.push([String(u), i && i.method, i && typeof i.body === 'string' ? i.body : null]);\
                   sessionStorage.setItem('gx.test.calls', JSON.stringify(calls));\
                   return f(u, i); };",
                vec![],
            )
            .await?;
        w.click("[data-test=switch-user]").await?;
        // Through the provider's end-session straight to its password form
        // (the backend starts the sign-in with prompt=login): whoever sits
        // down next must say who they are, even though the provider's own
        // session was Mario's.
        w.find("form#login").await?;
        w.sign_in_at_provider(LUCA, &[]).await?;
        w.wait_text("[data-test=user]", "Luca Verdi").await?;
        // Back on the console's origin, the same tab: what it sent.
        let calls = w
            .browser
            .execute("return sessionStorage.getItem('gx.test.calls');", vec![])
            .await?;
        let calls: Vec<(String, Option<String>, Option<String>)> =
            serde_json::from_str(calls.as_str().context("calls recorded")?)?;
        let logout = calls
            .iter()
            .find(|c| c.0.ends_with("/auth/logout"))
            .with_context(|| format!("no logout call in {calls:?}"))?;
        assert_eq!(logout.1.as_deref(), Some("POST"));
        let body: serde_json::Value =
            serde_json::from_str(logout.2.as_deref().context("a body")?)?;
        assert_eq!(body, serde_json::json!({"switch_user": true}));
        assert_eq!(w.session_json().await?["user"]["name"], "Luca Verdi");
        Ok(())
    })
    .await;
}
