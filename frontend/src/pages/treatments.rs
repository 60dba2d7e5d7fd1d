//! Treatments and price lists: the catalogue with its prices.

use giponext_shared::FeatureId;
use giponext_shared::api::{Page, PriceList, Treatment, format_eur};
use leptos::prelude::*;

use crate::api::{ApiResource, tenant_path};
use crate::components::{Empty, FailureView, FeatureGate, Loading};
use crate::i18n::lang;
use crate::session::use_session;
use crate::tr;

/// `/treatments`.
#[component]
pub fn Treatments() -> impl IntoView {
    view! {
        <h1>{tr!("Prestazioni e listini", "Treatments and price lists")}</h1>
        <section class="card">
            <FeatureGate feature=FeatureId::Treatments>
                <Catalogue/>
            </FeatureGate>
        </section>
    }
}

#[component]
fn Catalogue() -> impl IntoView {
    let tenant = use_session().tenant_id().unwrap_or_default();
    let t2 = tenant.clone();
    let treatments = ApiResource::new(move || Some(tenant_path(&t2, "treatments?limit=100")));
    let lists = ApiResource::new(move || Some(tenant_path(&tenant, "pricelists?limit=100")));
    let data = move || {
        let t = treatments.read::<Page<Treatment>>()?;
        let p = lists.read::<Page<PriceList>>()?;
        Some(t.and_then(|t| p.map(|p| (t.items, p.items))))
    };
    let retry = move || {
        treatments.refetch();
        lists.refetch();
    };
    move || match data() {
        None => view! { <Loading/> }.into_any(),
        Some(Err(e)) => {
            view! { <FailureView failure=e retry=Callback::new(move |_| retry())/> }.into_any()
        }
        Some(Ok((treatments, _))) if treatments.is_empty() => {
            view! { <Empty text=tr!("Nessuna prestazione.", "No treatments.")/> }.into_any()
        }
        Some(Ok((treatments, lists))) => {
            let l = lang();
            let heads = lists
                .iter()
                .map(|pl| view! { <th scope="col" class="num">{pl.name.clone()}</th> })
                .collect_view();
            let rows = treatments
                .into_iter()
                .map(|t| {
                    let prices = lists
                        .iter()
                        .map(|pl| {
                            let price = pl
                                .items
                                .iter()
                                .find(|i| i.treatment_id == t.id)
                                .map(|i| {
                                    let vat = if i.vat_rate_percent == 0 {
                                        String::new()
                                    } else {
                                        format!(" + {}%", i.vat_rate_percent)
                                    };
                                    format!("{}{vat}", format_eur(i.price_cents, l))
                                })
                                .unwrap_or_else(|| "—".into());
                            view! { <td class="num">{price}</td> }
                        })
                        .collect_view();
                    view! {
                        <tr>
                            <td class="mono">{t.code}</td>
                            <th scope="row">{t.name}</th>
                            <td>{t.category}</td>
                            <td class="num">{format!("{} min", t.duration_minutes)}</td>
                            {prices}
                        </tr>
                    }
                })
                .collect_view();
            view! {
                <div class="table-wrap">
                    <table class="table" data-test="treatments">
                        <thead><tr>
                            <th scope="col">{tr!("Codice", "Code")}</th>
                            <th scope="col">{tr!("Prestazione", "Treatment")}</th>
                            <th scope="col">{tr!("Branca", "Category")}</th>
                            <th scope="col" class="num">{tr!("Durata", "Duration")}</th>
                            {heads}
                        </tr></thead>
                        <tbody>{rows}</tbody>
                    </table>
                </div>
            }
            .into_any()
        }
    }
}
