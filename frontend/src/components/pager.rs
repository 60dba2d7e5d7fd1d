//! Paging controls for the API's paged lists.

use leptos::prelude::*;

use crate::tr;

/// "1–20 of 134" with previous and next.
#[component]
pub fn Pager(
    /// Offset of the page shown.
    offset: RwSignal<u64>,
    /// Page size.
    limit: u64,
    /// How many items the list has.
    total: u64,
) -> impl IntoView {
    let first = offset.get_untracked();
    let last = (first + limit).min(total);
    let label = format!(
        "{}–{} {} {}",
        if total == 0 { 0 } else { first + 1 },
        last,
        tr!("di", "of"),
        total
    );
    view! {
        <div class="pager" role="navigation" aria-label=tr!("Pagine", "Pages")>
            <button type="button" class="button small" disabled=first == 0
                on:click=move |_| offset.update(|o| *o = o.saturating_sub(limit))>
                {tr!("‹ Precedenti", "‹ Previous")}
            </button>
            <span class="muted" aria-live="polite">{label}</span>
            // In braces: a bare `>=` would end the tag in `view!`.
            <button type="button" class="button small" disabled={last >= total}
                on:click=move |_| offset.update(|o| *o += limit)>
                {tr!("Successivi ›", "Next ›")}
            </button>
        </div>
    }
}
