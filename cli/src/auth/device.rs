//! The device authorization grant (RFC 8628) as a person sees it: the
//! verification URI, the user code, a QR code, a countdown, and polling.

use std::time::{Duration, Instant};

use anyhow::Result;
use giponext_shared::ScopeSet;

use super::token::{OAuthClient, Poll, TokenSet};
use crate::exit::{Exit, Failure};
use crate::ui::Ui;

/// RFC 8628 §3.5: on `slow_down` the interval grows by 5 seconds, for this
/// and every later request.
pub const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);

/// The longest wait between polls after connection errors.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Knobs of the device flow.
#[derive(Debug, Clone, Default)]
pub struct DeviceOptions {
    /// Do not draw the QR code.
    pub no_qr: bool,
    /// Test hook (`GIPONEXT_TEST_POLL_INTERVAL_MS`): start polling at this
    /// interval instead of the server's, to provoke `slow_down` in tests.
    pub initial_interval_override: Option<Duration>,
}

/// Runs the device flow for `requested` and returns the tokens.
///
/// # Security
/// The device code is a bearer credential for the pending grant: it is sent
/// only to the token endpoint and never printed or logged (RFC 8628 §5.2).
pub async fn run(
    oauth: &OAuthClient,
    client_id: &str,
    requested: ScopeSet,
    ui: &Ui,
    options: &DeviceOptions,
) -> Result<TokenSet> {
    let details = oauth.device_authorize(requested).await?;
    let started = Instant::now();
    let expires_in = details.expires_in();
    let deadline = started + expires_in;

    eprintln!();
    eprintln!("To sign in to GipoNext, open this page in any browser:");
    eprintln!();
    eprintln!("    {}", details.verification_uri().as_str());
    eprintln!();
    eprintln!("and enter the code:");
    eprintln!();
    eprintln!("    {}", details.user_code().secret());
    eprintln!();
    if let Some(complete) = details.verification_uri_complete()
        && !options.no_qr
    {
        eprintln!("Or scan this QR code with a phone (it opens the page with the code filled in):");
        eprintln!("{}", crate::qr::render(complete.secret()));
    }
    eprintln!("Client: {client_id}");
    eprintln!("Scopes asked: {}", requested.to_wire());
    eprintln!(
        "The code expires in {} (at {} UTC).",
        format_remaining(expires_in),
        (chrono::Utc::now() + chrono::Duration::from_std(expires_in)?).format("%H:%M:%S")
    );

    let mut interval = options
        .initial_interval_override
        .unwrap_or_else(|| details.interval());
    let mut polls = 0u32;
    let result = loop {
        let next = Instant::now() + interval;
        if next >= deadline {
            wait_with_countdown(deadline, deadline, ui).await;
            break Err(expired());
        }
        wait_with_countdown(next, deadline, ui).await;
        polls += 1;
        tracing::debug!(
            "device poll #{polls} at {:.3}s (interval {:.1}s)",
            started.elapsed().as_secs_f64(),
            interval.as_secs_f64()
        );
        let poll = match oauth
            .poll_device(details.device_code().secret(), requested)
            .await
        {
            Ok(poll) => poll,
            // RFC 8628 §3.5: a connection problem is not the end of the
            // grant; back off (doubling, at most a minute) and try again.
            Err(e)
                if e.chain()
                    .any(|c| c.downcast_ref::<reqwest::Error>().is_some()) =>
            {
                interval = (interval * 2).min(MAX_BACKOFF);
                clear_countdown(ui);
                eprintln!(
                    "Cannot reach the provider ({e:#}); retrying in {:.0}s.",
                    interval.as_secs_f64()
                );
                continue;
            }
            Err(e) => break Err(e),
        };
        match poll {
            Poll::Token(tokens) => break Ok(tokens),
            Poll::Pending => {}
            Poll::SlowDown => {
                // Never below what the server asked for, then 5 s more.
                interval = interval.max(details.interval()) + SLOW_DOWN_STEP;
                clear_countdown(ui);
                eprintln!(
                    "The server asked to slow down; polling every {:.1}s now.",
                    interval.as_secs_f64()
                );
            }
            Poll::Denied => {
                break Err(Failure::new(
                    Exit::AccessDenied,
                    "the sign-in was denied in the browser (access_denied); nothing was granted",
                )
                .into());
            }
            Poll::Expired => break Err(expired()),
        }
    };
    clear_countdown(ui);
    result
}

fn expired() -> anyhow::Error {
    Failure::new(
        Exit::ExpiredToken,
        "the code expired before it was approved (expired_token); run `giponext login` again",
    )
    .into()
}

/// Sleeps until `until`, redrawing "m:ss left" each second when stderr is a
/// terminal.
async fn wait_with_countdown(until: Instant, deadline: Instant, ui: &Ui) {
    if !ui.stderr_tty {
        tokio::time::sleep_until(until.into()).await;
        return;
    }
    loop {
        let now = Instant::now();
        if now >= until {
            return;
        }
        let left = deadline.saturating_duration_since(now);
        eprint!(
            "\rWaiting for approval... {} left   ",
            format_remaining(left)
        );
        let step = (until - now).min(Duration::from_secs(1));
        tokio::time::sleep(step).await;
    }
}

fn clear_countdown(ui: &Ui) {
    if ui.stderr_tty {
        eprint!("\r{:40}\r", "");
    }
}

/// `m:ss`.
pub fn format_remaining(d: Duration) -> String {
    let secs = d.as_secs();
    format!("{}:{:02}", secs / 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaining_is_minutes_and_seconds() {
        assert_eq!(format_remaining(Duration::from_secs(600)), "10:00");
        assert_eq!(format_remaining(Duration::from_millis(65_900)), "1:05");
        assert_eq!(format_remaining(Duration::ZERO), "0:00");
    }
}
