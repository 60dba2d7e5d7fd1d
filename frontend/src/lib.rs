//! The staff web console (Leptos, client-side rendered).
