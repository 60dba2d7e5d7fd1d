//! The access page: every scope, its state, what it enables, a button to
//! grant it; and sign out.

use giponext_shared::features::FEATURES;
use giponext_shared::session::FeatureReason;
use giponext_shared::{Scope, ScopeSet};
use leptos::prelude::*;

use crate::api::login_url;
use crate::components::consent_helpers::{reason_label, scope_reason};
use crate::components::{ConnectedSessions, SupportPanel};
use crate::i18n::t;
use crate::session::use_session;
use crate::tr;

/// `/access`.
#[component]
pub fn Access() -> impl IntoView {
    let session = use_session();
    let rows = move || {
        let info = session.info()?;
        Some(
            Scope::ALL
                .into_iter()
                .map(|scope| {
                    let reason = scope_reason(&info, scope);
                    let enables: Vec<&str> = FEATURES
                        .iter()
                        .filter(|f| f.requires.contains(scope))
                        .map(|f| t(f.title))
                        .collect();
                    let action = match reason {
                        FeatureReason::Granted => ().into_any(),
                        FeatureReason::NotRegistered => {
                            view! { <SupportPanel scopes=ScopeSet::of(&[scope])/> }.into_any()
                        }
                        _ => view! {
                            <a class="button primary small" rel="external"
                                href=login_url(&[scope], "/access") data-grant=scope.as_str()>
                                {tr!("Concedi", "Grant")}
                            </a>
                        }
                        .into_any(),
                    };
                    let class = match reason {
                        FeatureReason::Granted => "badge on",
                        FeatureReason::NotRegistered => "badge admin",
                        _ => "badge grant",
                    };
                    view! {
                        <tr data-scope=scope.as_str()>
                            <th scope="row">
                                {t(scope.label())}
                                <div class="muted mono">{scope.as_str()}</div>
                            </th>
                            <td><span class=class>{reason_label(reason)}</span></td>
                            <td>
                                {t(scope.description())}
                                {(!enables.is_empty()).then(|| view! {
                                    <div class="muted">{tr!("Abilita: ", "Enables: ")}{enables.join(", ")}</div>
                                })}
                            </td>
                            <td>{action}</td>
                        </tr>
                    }
                })
                .collect_view(),
        )
    };
    view! {
        <h1>{tr!("Accessi", "Access")}</h1>
        <p class="lead">{tr!(
            "Cosa GipoNext Connect può fare per tuo conto. Puoi concedere un accesso in qualsiasi momento; per revocarlo, esci e accedi di nuovo deselezionandolo.",
            "What GipoNext Connect may do on your behalf. You can grant access at any time; to withdraw it, sign out and sign in again leaving it unticked."
        )}</p>
        <div class="table-wrap">
            <table class="table">
                <caption class="sr-only">{tr!("Scope e stato", "Scopes and their state")}</caption>
                <thead>
                    <tr>
                        <th scope="col">{tr!("Accesso", "Access")}</th>
                        <th scope="col">{tr!("Stato", "State")}</th>
                        <th scope="col">{tr!("A cosa serve", "What it enables")}</th>
                        <th scope="col"><span class="sr-only">{tr!("Azione", "Action")}</span></th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
        <ConnectedSessions/>
    }
}
