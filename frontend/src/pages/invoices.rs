//! Invoices: list, detail, and a new invoice from treatments at their
//! price-list prices, with totals.

use giponext_shared::FeatureId;
use giponext_shared::api::{
    Invoice, InvoiceInput, InvoiceLine, InvoiceLineInput, Page, PriceList, Treatment, format_eur,
    invoice_totals,
};
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde::{Deserialize, Serialize};

use crate::api::{self, ApiResource, Failure, tenant_path};
use crate::components::{
    Empty, FailureView, FeatureGate, Loading, Pager, PatientName, PatientSelect, RestoredNotice,
};
use crate::drafts::Draft;
use crate::i18n::{self, lang};
use crate::session::use_session;
use crate::tr;

const LIMIT: u64 = 20;

/// `/invoices`.
#[component]
pub fn Invoices() -> impl IntoView {
    let reload = RwSignal::new(0u32);
    view! {
        <h1>{tr!("Fatture", "Invoices")}</h1>
        <section class="card">
            <FeatureGate feature=FeatureId::ViewInvoices>
                <InvoiceList reload=reload/>
            </FeatureGate>
        </section>
        <section class="card">
            <h2>{tr!("Nuova fattura", "New invoice")}</h2>
            <FeatureGate feature=FeatureId::IssueInvoices>
                <InvoiceForm on_created=Callback::new(move |_| reload.update(|n| *n += 1))/>
            </FeatureGate>
        </section>
    }
}

#[component]
fn InvoiceList(reload: RwSignal<u32>) -> impl IntoView {
    let tenant = use_session().tenant_id().unwrap_or_default();
    let offset = RwSignal::new(0u64);
    let selected = RwSignal::new(None::<Invoice>);
    let list = ApiResource::new(move || {
        let _ = reload.get();
        Some(tenant_path(
            &tenant,
            &format!("invoices?offset={}&limit={LIMIT}", offset.get()),
        ))
    });
    let body = move || match list.read::<Page<Invoice>>() {
        None => view! { <Loading/> }.into_any(),
        Some(Err(e)) => {
            view! { <FailureView failure=e retry=Callback::new(move |_| list.refetch())/> }
                .into_any()
        }
        Some(Ok(page)) if page.items.is_empty() => {
            view! { <Empty text=tr!("Nessuna fattura.", "No invoices.")/> }.into_any()
        }
        Some(Ok(page)) => {
            let total = page.total_count;
            let rows = page
                .items
                .into_iter()
                .map(|inv| {
                    let show = inv.clone();
                    view! {
                        <tr>
                            <td>
                                <button type="button" class="link" on:click=move |_| selected.set(Some(show.clone()))>
                                    {inv.number.clone()}
                                </button>
                            </td>
                            <td>{i18n::date(inv.date)}</td>
                            <td><PatientName id=inv.patient_id/></td>
                            <td class="num">{format_eur(inv.total_cents, lang())}</td>
                        </tr>
                    }
                })
                .collect_view();
            view! {
                <div class="table-wrap">
                    <table class="table" data-test="invoice-list">
                        <thead><tr>
                            <th scope="col">{tr!("Numero", "Number")}</th>
                            <th scope="col">{tr!("Data", "Date")}</th>
                            <th scope="col">{tr!("Paziente", "Patient")}</th>
                            <th scope="col" class="num">{tr!("Totale", "Total")}</th>
                        </tr></thead>
                        <tbody>{rows}</tbody>
                    </table>
                </div>
                <Pager offset=offset limit=LIMIT total=total/>
            }
            .into_any()
        }
    };
    view! {
        {body}
        {move || selected.get().map(|inv| view! { <InvoiceDetail invoice=inv close=Callback::new(move |_| selected.set(None))/> })}
    }
}

#[component]
fn InvoiceDetail(invoice: Invoice, close: Callback<()>) -> impl IntoView {
    let l = lang();
    let lines = invoice
        .lines
        .iter()
        .map(|line| {
            view! {
                <tr>
                    <td>{line.description.clone()}</td>
                    <td class="num">{line.quantity}</td>
                    <td class="num">{format_eur(line.unit_price_cents, l)}</td>
                    <td class="num">{format!("{}%", line.vat_rate_percent)}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="detail" role="region" aria-label=invoice.number.clone()>
            <h3>{tr!("Fattura ", "Invoice ")}{invoice.number.clone()}" · "<PatientName id=invoice.patient_id/></h3>
            <table class="table">
                <thead><tr>
                    <th scope="col">{tr!("Descrizione", "Description")}</th>
                    <th scope="col" class="num">{tr!("Qtà", "Qty")}</th>
                    <th scope="col" class="num">{tr!("Prezzo", "Price")}</th>
                    <th scope="col" class="num">{tr!("IVA", "VAT")}</th>
                </tr></thead>
                <tbody>{lines}</tbody>
            </table>
            <Totals net=invoice.net_cents vat=invoice.vat_cents total=invoice.total_cents/>
            <button type="button" class="button small" on:click=move |_| close.run(())>{tr!("Chiudi", "Close")}</button>
        </div>
    }
}

#[component]
fn Totals(net: i64, vat: i64, total: i64) -> impl IntoView {
    let l = lang();
    view! {
        <dl class="totals">
            <dt>{tr!("Imponibile", "Net")}</dt><dd>{format_eur(net, l)}</dd>
            <dt>{tr!("IVA", "VAT")}</dt><dd>{format_eur(vat, l)}</dd>
            <dt>{tr!("Totale", "Total")}</dt><dd data-test="invoice-total">{format_eur(total, l)}</dd>
        </dl>
    }
}

/// The invoice being written, kept as a draft.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct InvoiceDraft {
    patient_id: String,
    price_list_id: String,
    lines: Vec<(String, u32)>,
}

#[component]
fn InvoiceForm(on_created: Callback<()>) -> impl IntoView {
    let tenant = use_session().tenant_id().unwrap_or_default();
    let draft = Draft::<InvoiceDraft>::new("invoice");
    let form = draft.form;
    let failure = RwSignal::new(None::<Failure>);
    let created = RwSignal::new(None::<Invoice>);
    let opened = RwSignal::new(None::<Invoice>);
    let t2 = tenant.clone();
    let t3 = t2.clone();
    let treatment_list = ApiResource::new(move || Some(tenant_path(&t2, "treatments?limit=100")));
    let price_lists = ApiResource::new(move || Some(tenant_path(&t3, "pricelists?limit=100")));
    let catalogue = move || {
        let t = treatment_list.read::<Page<Treatment>>()?;
        let p = price_lists.read::<Page<PriceList>>()?;
        Some(t.and_then(|t| p.map(|p| (t.items, p.items))))
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let f = form.get_untracked();
        let Ok(patient_id) = f.patient_id.parse::<i64>() else {
            return;
        };
        let input = InvoiceInput {
            patient_id,
            price_list_id: f.price_list_id.clone(),
            date: None,
            lines: f
                .lines
                .iter()
                .filter(|(t, q)| !t.is_empty() && *q > 0)
                .map(|(t, q)| InvoiceLineInput {
                    treatment_id: t.clone(),
                    quantity: *q,
                })
                .collect(),
        };
        let path = tenant_path(&tenant, "invoices");
        spawn_local(async move {
            match api::post::<_, Invoice>(&path, &input).await {
                Ok(inv) => {
                    draft.discard();
                    failure.set(None);
                    opened.set(None);
                    created.set(Some(inv));
                    on_created.run(());
                }
                Err(e) => failure.set(Some(e)),
            }
        });
    };
    move || {
        let submit = submit.clone();
        let Some(loaded) = catalogue() else {
            return view! { <Loading/> }.into_any();
        };
        let (treatments, lists) = match loaded {
            Ok(v) => v,
            Err(e) => return view! { <FailureView failure=e retry=Callback::new(move |_| { treatment_list.refetch(); price_lists.refetch(); })/> }.into_any(),
        };
        let list_options = lists
            .iter()
            .map(|pl| {
                let id = pl.id.clone();
                view! { <option value=id.clone() selected=move || form.with(|f| f.price_list_id == id)>{pl.name.clone()}</option> }
            })
            .collect_view();
        let preview_lines = {
            let (treatments, lists) = (treatments.clone(), lists.clone());
            move || {
                let f = form.get();
                let Some(pl) = lists.iter().find(|p| p.id == f.price_list_id) else {
                    return Vec::new();
                };
                f.lines
                    .iter()
                    .filter_map(|(tid, qty)| {
                        let item = pl.items.iter().find(|i| &i.treatment_id == tid)?;
                        let name = treatments
                            .iter()
                            .find(|t| &t.id == tid)
                            .map(|t| t.name.clone())
                            .unwrap_or_default();
                        Some(InvoiceLine {
                            treatment_id: tid.clone(),
                            description: name,
                            quantity: *qty,
                            unit_price_cents: item.price_cents,
                            vat_rate_percent: item.vat_rate_percent,
                        })
                    })
                    .collect::<Vec<_>>()
            }
        };
        // Only the number of lines re-renders the rows: typing in a row must
        // not rebuild it (and lose focus).
        let count = Memo::new(move |_| form.with(|f| f.lines.len()));
        let line_rows = {
            let treatments = treatments.clone();
            move || {
                (0..count.get())
                    .map(|i| {
                        let opts = treatments
                            .iter()
                            .map(|t| {
                                let id = t.id.clone();
                                view! { <option value=id.clone() selected=move || form.with(|f| f.lines.get(i).is_some_and(|l| l.0 == id))>{format!("{} — {}", t.code, t.name)}</option> }
                            })
                            .collect_view();
                        let label_t = format!("line-{i}-treatment");
                        let label_q = format!("line-{i}-qty");
                        view! {
                            <div class="row">
                                <label for=label_t.clone() class="sr-only">{tr!("Prestazione", "Treatment")}</label>
                                <select id=label_t on:change=move |ev| { let v = event_target_value(&ev); draft.update(|f| if let Some(l) = f.lines.get_mut(i) { l.0 = v }) }>
                                    <option value="">{tr!("— prestazione —", "— treatment —")}</option>
                                    {opts}
                                </select>
                                <label for=label_q.clone() class="sr-only">{tr!("Quantità", "Quantity")}</label>
                                <input id=label_q type="number" min="1" class="qty"
                                    prop:value=move || form.with(|f| f.lines.get(i).map(|l| l.1).unwrap_or(1)).to_string()
                                    on:input=move |ev| { let q = event_target_value(&ev).parse().unwrap_or(1); draft.update(|f| if let Some(l) = f.lines.get_mut(i) { l.1 = q }) }/>
                                <button type="button" class="button small" on:click=move |_| draft.update(|f| { if i < f.lines.len() { f.lines.remove(i); } })>
                                    {tr!("Rimuovi", "Remove")}
                                </button>
                            </div>
                        }
                    })
                    .collect_view()
            }
        };
        let totals = move || {
            let (net, vat, total) = invoice_totals(&preview_lines());
            view! { <Totals net=net vat=vat total=total/> }
        };
        view! {
            <form on:submit=submit class="form" novalidate>
                <RestoredNotice restored=draft.restored discard=Callback::new(move |_| draft.discard())/>
                <div class="field">
                    <label for="inv-patient">{tr!("Paziente", "Patient")}</label>
                    <PatientSelect id="inv-patient" value=Signal::derive(move || form.with(|f| f.patient_id.clone()))
                        on_change=Callback::new(move |v| draft.update(|f| f.patient_id = v))/>
                </div>
                <div class="field">
                    <label for="inv-pricelist">{tr!("Listino", "Price list")}</label>
                    <select id="inv-pricelist" on:change=move |ev| { let v = event_target_value(&ev); draft.update(|f| f.price_list_id = v) }>
                        <option value="">{tr!("— listino —", "— price list —")}</option>
                        {list_options}
                    </select>
                </div>
                <fieldset>
                    <legend>{tr!("Prestazioni", "Treatments")}</legend>
                    {line_rows}
                    <button type="button" class="button small" on:click=move |_| draft.update(|f| f.lines.push((String::new(), 1)))>
                        {tr!("+ Aggiungi riga", "+ Add line")}
                    </button>
                </fieldset>
                {totals}
                {move || failure.get().map(|e| view! { <FailureView failure=e/> })}
                {move || created.get().map(|inv| view! {
                    <p class="success" role="status">{tr!("Fattura emessa: ", "Invoice issued: ")}{inv.number.clone()}</p>
                    <button type="button" class="button small" data-test="open-invoice"
                        on:click=move |_| opened.set(Some(inv.clone()))>{tr!("Apri la fattura", "Open the invoice")}</button>
                })}
                <div class="actions">
                    <button type="submit" class="button primary">{tr!("Emetti fattura", "Issue invoice")}</button>
                    <button type="button" class="button" on:click=move |_| draft.discard()>{tr!("Scarta", "Discard")}</button>
                </div>
            </form>
            {move || opened.get().map(|inv| view! { <InvoiceDetail invoice=inv close=Callback::new(move |_| opened.set(None))/> })}
        }
        .into_any()
    }
}
