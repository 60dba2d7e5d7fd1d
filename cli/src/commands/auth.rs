//! `login`, `logout`, `auth status`, `auth refresh`.

use anyhow::Result;
use giponext_shared::{Scope, ScopeSet};
use serde_json::json;

use super::Context;
use crate::auth::{Revocation, Session};
use crate::cli::{AuthCommand, LoginArgs};
use crate::exit::{Exit, Failure};
use crate::output::Format;
use crate::store::Credentials;

/// `login`.
pub async fn login(ctx: &Context, args: LoginArgs) -> Result<()> {
    let mut session = Session::open(ctx.config.clone())?;
    let scopes = if args.scopes.is_empty() {
        ScopeSet::all()
    } else {
        args.scopes.iter().copied().collect()
    };
    let mut device = ctx.device.clone();
    device.no_qr |= args.no_qr;
    session.device_login(scopes, &ctx.ui, &device).await?;
    print_status(ctx, &session)
}

/// `logout`.
pub async fn logout(ctx: &Context) -> Result<()> {
    let mut session = Session::open(ctx.config.clone())?;
    match session.logout().await? {
        None => eprintln!("Not logged in; nothing to do."),
        Some(Revocation::Revoked) => {
            eprintln!("Logged out: the grant was revoked and the local tokens deleted.")
        }
        Some(Revocation::Unsupported) => eprintln!(
            "Logged out locally. The provider offers no revocation endpoint: the grant stays valid until it expires."
        ),
        Some(Revocation::Failed) => {
            return Err(Failure::new(
                Exit::Generic,
                "the local tokens were deleted, but the provider could not be told to revoke them; \
                 they stay valid until they expire",
            )
            .into());
        }
    }
    Ok(())
}

/// `auth ...`.
pub async fn auth(ctx: &Context, cmd: AuthCommand) -> Result<()> {
    let mut session = Session::open(ctx.config.clone())?;
    match cmd {
        AuthCommand::Status => print_status(ctx, &session),
        AuthCommand::Refresh { scopes, no_qr } => {
            let held = session.require_login()?.granted;
            let extra: ScopeSet = scopes.iter().copied().collect();
            if extra.is_empty() {
                session.refresh().await?;
            } else {
                let wanted = held.union(extra);
                eprintln!(
                    "Asking for {} on top of what this login holds.",
                    extra.difference(held).to_wire()
                );
                let mut device = ctx.device.clone();
                device.no_qr |= no_qr;
                session.device_login(wanted, &ctx.ui, &device).await?;
                let declined = extra.difference(session.granted());
                if !declined.is_empty() {
                    eprintln!("Not granted: {}", declined.to_wire());
                }
            }
            print_status(ctx, &session)
        }
    }
}

fn data_scopes(set: ScopeSet) -> Vec<Scope> {
    set.iter().collect()
}

fn status_json(session: &Session, creds: Option<&Credentials>) -> serde_json::Value {
    let Some(c) = creds else {
        return json!({
            "logged_in": false,
            "issuer": session.config.issuer,
            "client_id": session.config.client_id,
        });
    };
    json!({
        "logged_in": true,
        "issuer": c.issuer,
        "client_id": c.client_id,
        "user": c.user.as_ref().map(|u| json!({"sub": u.sub, "name": u.name})),
        "tenant": c.user.as_ref().and_then(|u| u.tenant.as_ref()),
        "granted": data_scopes(c.granted),
        "declined": data_scopes(c.declined()),
        "expires_at": c.expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "expired": c.expires_at <= chrono::Utc::now(),
        "refresh_token": c.refresh_token.is_some(),
        "storage": session.store.describe(),
    })
}

/// Prints the status (table or JSON) and fails with exit 1 when logged out.
fn print_status(ctx: &Context, session: &Session) -> Result<()> {
    let creds = session.credentials.as_ref();
    if ctx.format == Format::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(&status_json(session, creds))?
        );
    } else if let Some(c) = creds {
        let user = c.user.as_ref();
        let tenant = user.and_then(|u| u.tenant.as_ref());
        let rows = [
            (
                "User",
                user.map_or("(unknown)".to_owned(), |u| {
                    format!("{} ({})", u.name, u.sub)
                }),
            ),
            (
                "Centre",
                tenant.map_or("(unknown)".to_owned(), |t| format!("{} ({})", t.name, t.id)),
            ),
            ("Granted", c.granted.to_wire()),
            (
                "Declined",
                if c.declined().is_empty() {
                    "-".to_owned()
                } else {
                    c.declined().to_wire()
                },
            ),
            (
                "Token expires",
                format!(
                    "{}{}",
                    c.expires_at.format("%Y-%m-%d %H:%M:%S UTC"),
                    if c.expires_at <= chrono::Utc::now() {
                        " (expired; refreshed on next use)"
                    } else {
                        ""
                    }
                ),
            ),
            (
                "Refresh token",
                if c.refresh_token.is_some() {
                    "yes"
                } else {
                    "no"
                }
                .to_owned(),
            ),
            ("Provider", format!("{} as {}", c.issuer, c.client_id)),
            ("Storage", session.store.describe()),
        ];
        for (k, v) in rows {
            println!("{k:14} {v}");
        }
    }
    if creds.is_none() {
        return Err(Failure::new(
            Exit::Generic,
            format!(
                "not logged in to {}; run `giponext login`",
                session.config.issuer
            ),
        )
        .into());
    }
    Ok(())
}
