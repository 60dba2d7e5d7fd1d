//! The staff-facing features of GipoNext Connect and the scopes each needs.
//!
//! The console gates its sections on this catalogue, the backend reports each
//! feature's state in `/api/session`, and the CLI names the feature a missing
//! scope belongs to. A feature is *essential* when the first sign-in asks for
//! its scopes; every other scope is asked for in context (incremental consent).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::i18n::Text;
use crate::operations::{self, Operation};
use crate::scope::{Scope, ScopeSet};

/// A feature's stable identifier, as used in URLs and JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum FeatureId {
    BrowsePatients,
    EditPatients,
    ViewAgenda,
    BookAppointments,
    Treatments,
    PriceLists,
    Episodes,
    ReadMedicalReports,
    WriteMedicalReports,
    ViewInvoices,
    IssueInvoices,
}

impl FeatureId {
    /// The snake_case name used on the wire.
    pub fn as_str(self) -> &'static str {
        feature(self).name
    }
}

impl fmt::Display for FeatureId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One feature of the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Feature {
    /// Identifier.
    pub id: FeatureId,
    /// The snake_case name of `id`.
    pub name: &'static str,
    /// The scopes it needs, all of them.
    pub requires: ScopeSet,
    /// Whether the first sign-in asks for its scopes.
    pub essential: bool,
    /// The operations it performs (ids in [`operations::OPERATIONS`]).
    pub operations: &'static [&'static str],
    /// Short title, e.g. "Fatture" / "Invoices".
    pub title: Text,
    /// What it lets staff do, in one sentence.
    pub explanation: Text,
    /// The object of the contextual prompt: "To show {purpose}, GipoNext
    /// Connect needs access to {scope label}".
    pub purpose: Text,
}

impl Feature {
    /// The operations this feature performs.
    pub fn operations(&self) -> impl Iterator<Item = &'static Operation> + '_ {
        self.operations
            .iter()
            .filter_map(|id| operations::by_id(id))
    }
}

use FeatureId as F;
use Scope as S;

/// The catalogue, in the order the console's navigation shows it.
pub const FEATURES: &[Feature] = &[
    Feature {
        id: F::BrowsePatients,
        name: "browse_patients",
        requires: ScopeSet::of(&[S::Patients]),
        essential: true,
        operations: &["patients.list", "patients.get"],
        title: Text {
            it: "Pazienti",
            en: "Patients",
        },
        explanation: Text {
            it: "Cercare i pazienti e consultarne l'anagrafica.",
            en: "Search patients and look up their demographics.",
        },
        purpose: Text {
            it: "i pazienti",
            en: "patients",
        },
    },
    Feature {
        id: F::EditPatients,
        name: "edit_patients",
        requires: ScopeSet::of(&[S::Patients]),
        essential: true,
        operations: &["patients.create", "patients.update"],
        title: Text {
            it: "Modifica pazienti",
            en: "Edit patients",
        },
        explanation: Text {
            it: "Registrare nuovi pazienti e correggerne i dati.",
            en: "Register new patients and correct their details.",
        },
        purpose: Text {
            it: "modificare i pazienti",
            en: "edit patients",
        },
    },
    Feature {
        id: F::ViewAgenda,
        name: "view_agenda",
        requires: ScopeSet::of(&[S::Agenda]),
        essential: false,
        operations: &[
            "agendas.list",
            "agendas.get",
            "appointments.list",
            "appointments.get",
            "availabilities.list",
        ],
        title: Text {
            it: "Agenda",
            en: "Agenda",
        },
        explanation: Text {
            it: "Vedere la settimana di ogni agenda, appuntamenti e disponibilità.",
            en: "See each agenda's week, appointments and availability.",
        },
        purpose: Text {
            it: "l'agenda",
            en: "the agenda",
        },
    },
    Feature {
        id: F::BookAppointments,
        name: "book_appointments",
        requires: ScopeSet::of(&[S::Agenda, S::Patients]),
        essential: false,
        operations: &[
            "appointments.create",
            "appointments.cancel",
            "availabilities.list",
            "patients.list",
        ],
        title: Text {
            it: "Prenotazioni",
            en: "Bookings",
        },
        explanation: Text {
            it: "Prenotare e annullare appuntamenti per i pazienti.",
            en: "Book and cancel patients' appointments.",
        },
        purpose: Text {
            it: "prenotare appuntamenti",
            en: "book appointments",
        },
    },
    Feature {
        id: F::Treatments,
        name: "treatments",
        requires: ScopeSet::of(&[S::Treatments]),
        essential: false,
        operations: &["treatments.list", "treatments.get"],
        title: Text {
            it: "Prestazioni",
            en: "Treatments",
        },
        explanation: Text {
            it: "Consultare il catalogo delle prestazioni erogate.",
            en: "Browse the catalogue of treatments offered.",
        },
        purpose: Text {
            it: "le prestazioni",
            en: "treatments",
        },
    },
    Feature {
        id: F::PriceLists,
        name: "price_lists",
        requires: ScopeSet::of(&[S::Treatments]),
        essential: false,
        operations: &["pricelists.list", "pricelists.get"],
        title: Text {
            it: "Listini",
            en: "Price lists",
        },
        explanation: Text {
            it: "Consultare i listini prezzi delle prestazioni.",
            en: "Look up the treatments' price lists.",
        },
        purpose: Text {
            it: "i listini",
            en: "price lists",
        },
    },
    Feature {
        id: F::Episodes,
        name: "episodes",
        requires: ScopeSet::of(&[S::Episodes, S::Patients]),
        essential: false,
        operations: &[
            "episodes.list",
            "episodes.get",
            "episodes.create",
            "episodes.update",
        ],
        title: Text {
            it: "Episodi clinici",
            en: "Clinical episodes",
        },
        explanation: Text {
            it: "Seguire e aggiornare i percorsi clinici di un paziente.",
            en: "Follow and update a patient's clinical pathways.",
        },
        purpose: Text {
            it: "gli episodi clinici",
            en: "clinical episodes",
        },
    },
    Feature {
        id: F::ReadMedicalReports,
        name: "read_medical_reports",
        requires: ScopeSet::of(&[S::MedicalReports, S::Patients]),
        essential: false,
        operations: &["medicalreports.list", "medicalreports.get"],
        title: Text {
            it: "Referti",
            en: "Medical reports",
        },
        explanation: Text {
            it: "Leggere i referti di un paziente.",
            en: "Read a patient's medical reports.",
        },
        purpose: Text {
            it: "i referti",
            en: "medical reports",
        },
    },
    Feature {
        id: F::WriteMedicalReports,
        name: "write_medical_reports",
        requires: ScopeSet::of(&[S::MedicalReports, S::Patients]),
        essential: false,
        operations: &["medicalreports.create"],
        title: Text {
            it: "Nuovo referto",
            en: "Write a report",
        },
        explanation: Text {
            it: "Redigere un nuovo referto per un paziente.",
            en: "Write a new medical report for a patient.",
        },
        purpose: Text {
            it: "scrivere un referto",
            en: "write a medical report",
        },
    },
    Feature {
        id: F::ViewInvoices,
        name: "view_invoices",
        requires: ScopeSet::of(&[S::Invoices]),
        essential: false,
        operations: &["invoices.list", "invoices.get"],
        title: Text {
            it: "Fatture",
            en: "Invoices",
        },
        explanation: Text {
            it: "Consultare le fatture emesse dal centro.",
            en: "Look up the invoices the centre issued.",
        },
        purpose: Text {
            it: "le fatture",
            en: "invoices",
        },
    },
    Feature {
        id: F::IssueInvoices,
        name: "issue_invoices",
        requires: ScopeSet::of(&[S::Invoices, S::Treatments, S::Patients]),
        essential: false,
        operations: &[
            "invoices.create",
            "pricelists.list",
            "treatments.list",
            "patients.list",
        ],
        title: Text {
            it: "Emetti fattura",
            en: "Issue an invoice",
        },
        explanation: Text {
            it: "Emettere una fattura dalle prestazioni ai prezzi di listino.",
            en: "Issue an invoice from treatments at their price-list prices.",
        },
        purpose: Text {
            it: "emettere fatture",
            en: "issue invoices",
        },
    },
];

/// The catalogue entry for `id`.
pub fn feature(id: FeatureId) -> &'static Feature {
    FEATURES
        .iter()
        .find(|f| f.id == id)
        .expect("every FeatureId has a catalogue entry (checked by a test)")
}

/// The entry with this snake_case name.
pub fn by_name(name: &str) -> Option<&'static Feature> {
    FEATURES.iter().find(|f| f.name == name)
}

/// The scopes the first sign-in asks for: `openid`, plus `offline_access`,
/// plus those of every essential feature (callers intersect it with the
/// registration).
pub fn essential_scopes() -> ScopeSet {
    FEATURES
        .iter()
        .filter(|f| f.essential)
        .fold(ScopeSet::of(&[S::OpenId, S::OfflineAccess]), |acc, f| {
            acc.union(f.requires)
        })
}

/// The first feature that performs the operation `op_id`, to name in an error.
pub fn feature_for_operation(op_id: &str) -> Option<&'static Feature> {
    FEATURES.iter().find(|f| f.operations.contains(&op_id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operations::OPERATIONS;

    #[test]
    fn names_are_unique_and_match_ids() {
        for (i, f) in FEATURES.iter().enumerate() {
            let json = serde_json::to_string(&f.id).unwrap();
            assert_eq!(
                json,
                format!("\"{}\"", f.name),
                "serde name and catalogue name agree"
            );
            assert!(
                FEATURES[i + 1..]
                    .iter()
                    .all(|g| g.id != f.id && g.name != f.name)
            );
            assert_eq!(by_name(f.name).map(|g| g.id), Some(f.id));
        }
    }

    #[test]
    fn every_feature_is_reachable_and_consistent_with_the_table() {
        for f in FEATURES {
            assert!(!f.requires.is_empty(), "{} needs some scope", f.name);
            assert!(!f.operations.is_empty(), "{} performs something", f.name);
            for id in f.operations {
                let op =
                    operations::by_id(id).unwrap_or_else(|| panic!("{}: unknown op {id}", f.name));
                if let Some(scope) = op.scope {
                    assert!(f.requires.contains(scope), "{}: {id} needs {scope}", f.name);
                }
            }
            for text in [f.title, f.explanation, f.purpose] {
                assert!(!text.it.is_empty() && !text.en.is_empty());
            }
        }
    }

    #[test]
    fn every_operation_and_data_scope_belongs_to_a_feature() {
        for op in OPERATIONS.iter().filter(|op| op.scope.is_some()) {
            assert!(
                feature_for_operation(op.id).is_some(),
                "{} is used by no feature",
                op.id
            );
        }
        for scope in Scope::ALL.into_iter().filter(|s| !s.is_protocol()) {
            assert!(
                FEATURES.iter().any(|f| f.requires.contains(scope)),
                "{scope} enables nothing"
            );
        }
    }

    #[test]
    fn first_sign_in_asks_only_for_essentials() {
        assert_eq!(
            essential_scopes(),
            ScopeSet::of(&[S::OpenId, S::OfflineAccess, S::Patients])
        );
    }
}
