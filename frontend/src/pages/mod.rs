//! One file per page.

mod access;
mod agenda;
mod episodes;
mod home;
mod invoices;
mod patients;
mod reports;
mod signin;
mod treatments;

pub use access::Access;
pub use agenda::Agenda;
pub use episodes::Episodes;
pub use home::Home;
pub use invoices::Invoices;
pub use patients::{PatientDetail, PatientNew, Patients};
pub use reports::Reports;
pub use signin::SignIn;
pub use treatments::Treatments;

use leptos::prelude::*;

use crate::tr;

/// An unknown path.
#[component]
pub fn NotFound() -> impl IntoView {
    view! {
        <h1>{tr!("Pagina non trovata", "Page not found")}</h1>
        <p><a href="/">{tr!("Torna alla home", "Back to home")}</a></p>
    }
}
