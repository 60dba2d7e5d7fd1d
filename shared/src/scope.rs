//! OAuth scopes of the GipoNext platform and the sets consent handling needs.
//!
//! A scope string from the wire is parsed into [`ParsedScopes`]: the known
//! scopes as a [`ScopeSet`] and every unknown one kept verbatim, so nothing is
//! dropped silently. The sets that mean different things in the consent flow
//! are different types ([`RequestedScopes`], [`GrantedScopes`],
//! [`RegisteredScopes`]), so a granted set cannot be passed where a requested
//! one is meant.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::i18n::Text;

/// One scope the platform defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// `openid`: the OpenID Connect flow itself; required for every client.
    OpenId,
    /// `offline_access`: a refresh token, to renew access without a new login.
    OfflineAccess,
    /// `giponext.patients`: patients, read and write demographics.
    Patients,
    /// `giponext.agenda`: agendas, availabilities and appointments.
    Agenda,
    /// `giponext.treatments`: treatments and price lists.
    Treatments,
    /// `giponext.episodes`: clinical episodes.
    Episodes,
    /// `giponext.medicalreports`: medical reports.
    MedicalReports,
    /// `giponext.invoices`: invoicing.
    Invoices,
}

impl Scope {
    /// Every scope, in the order the platform documents them.
    pub const ALL: [Scope; 8] = [
        Scope::OpenId,
        Scope::OfflineAccess,
        Scope::Patients,
        Scope::Agenda,
        Scope::Treatments,
        Scope::Episodes,
        Scope::MedicalReports,
        Scope::Invoices,
    ];

    /// The scope's name on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::OpenId => "openid",
            Scope::OfflineAccess => "offline_access",
            Scope::Patients => "giponext.patients",
            Scope::Agenda => "giponext.agenda",
            Scope::Treatments => "giponext.treatments",
            Scope::Episodes => "giponext.episodes",
            Scope::MedicalReports => "giponext.medicalreports",
            Scope::Invoices => "giponext.invoices",
        }
    }

    /// The scope for a wire name; names are case-sensitive (RFC 6749 §3.3).
    pub fn from_wire(name: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Whether this scope is part of the protocol rather than a data area:
    /// `openid` and `offline_access` are not shown as sections to grant.
    pub const fn is_protocol(self) -> bool {
        matches!(self, Scope::OpenId | Scope::OfflineAccess)
    }

    /// Whether a user may refuse it on the consent screen (`openid` cannot).
    pub const fn is_refusable(self) -> bool {
        !matches!(self, Scope::OpenId)
    }

    /// The short name staff see, e.g. "Fatturazione" / "Invoicing".
    pub const fn label(self) -> Text {
        match self {
            Scope::OpenId => Text {
                it: "Identità",
                en: "Identity",
            },
            Scope::OfflineAccess => Text {
                it: "Accesso continuato",
                en: "Continued access",
            },
            Scope::Patients => Text {
                it: "Pazienti",
                en: "Patients",
            },
            Scope::Agenda => Text {
                it: "Agenda",
                en: "Agenda",
            },
            Scope::Treatments => Text {
                it: "Prestazioni e listini",
                en: "Treatments and price lists",
            },
            Scope::Episodes => Text {
                it: "Episodi clinici",
                en: "Clinical episodes",
            },
            Scope::MedicalReports => Text {
                it: "Referti",
                en: "Medical reports",
            },
            Scope::Invoices => Text {
                it: "Fatturazione",
                en: "Invoicing",
            },
        }
    }

    /// What granting it allows, in a sentence.
    pub const fn description(self) -> Text {
        match self {
            Scope::OpenId => Text {
                it: "Sapere chi sei e in quale centro lavori.",
                en: "Know who you are and which centre you work for.",
            },
            Scope::OfflineAccess => Text {
                it: "Restare collegato senza dover rifare l'accesso a ogni scadenza.",
                en: "Stay connected without signing in again whenever access expires.",
            },
            Scope::Patients => Text {
                it: "Leggere e modificare l'anagrafica dei pazienti.",
                en: "Read and edit patient demographics.",
            },
            Scope::Agenda => Text {
                it: "Vedere agende e disponibilità, prenotare e annullare appuntamenti.",
                en: "See agendas and availability, book and cancel appointments.",
            },
            Scope::Treatments => Text {
                it: "Leggere il catalogo delle prestazioni e i listini prezzi.",
                en: "Read the treatment catalogue and price lists.",
            },
            Scope::Episodes => Text {
                it: "Leggere e aggiornare i percorsi clinici dei pazienti.",
                en: "Read and update patients' clinical pathways.",
            },
            Scope::MedicalReports => Text {
                it: "Leggere e scrivere la documentazione clinica (referti).",
                en: "Read and write clinical documentation (medical reports).",
            },
            Scope::Invoices => Text {
                it: "Leggere ed emettere documenti di vendita (fatture).",
                en: "Read and issue sales documents (invoices).",
            },
        }
    }

    const fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A wire name that is not a platform scope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope {0:?}")]
pub struct UnknownScope(pub String);

impl FromStr for Scope {
    type Err = UnknownScope;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::from_wire(s).ok_or_else(|| UnknownScope(s.to_owned()))
    }
}

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Scope::from_wire(&name).ok_or_else(|| serde::de::Error::custom(UnknownScope(name)))
    }
}

/// A set of known scopes. Small and `Copy`; iteration follows [`Scope::ALL`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ScopeSet(u16);

impl ScopeSet {
    /// No scope.
    pub const EMPTY: ScopeSet = ScopeSet(0);

    /// Every platform scope.
    pub fn all() -> ScopeSet {
        Scope::ALL.into_iter().collect()
    }

    /// A set of the given scopes.
    pub const fn of(scopes: &[Scope]) -> ScopeSet {
        let mut bits = 0;
        let mut i = 0;
        while i < scopes.len() {
            bits |= scopes[i].bit();
            i += 1;
        }
        ScopeSet(bits)
    }

    /// Whether `scope` is in the set.
    pub const fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    /// Whether every scope of `other` is in the set.
    pub const fn is_superset(self, other: ScopeSet) -> bool {
        self.0 & other.0 == other.0
    }

    /// Adds `scope`.
    pub fn insert(&mut self, scope: Scope) {
        self.0 |= scope.bit();
    }

    /// Removes `scope`.
    pub fn remove(&mut self, scope: Scope) {
        self.0 &= !scope.bit();
    }

    /// Scopes in either set.
    pub const fn union(self, other: ScopeSet) -> ScopeSet {
        ScopeSet(self.0 | other.0)
    }

    /// Scopes in both sets.
    pub const fn intersection(self, other: ScopeSet) -> ScopeSet {
        ScopeSet(self.0 & other.0)
    }

    /// Scopes of `self` that are not in `other`.
    pub const fn difference(self, other: ScopeSet) -> ScopeSet {
        ScopeSet(self.0 & !other.0)
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// How many scopes the set holds.
    pub const fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// The scopes, in [`Scope::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |s| self.contains(*s))
    }

    /// The space-separated wire form (RFC 6749 §3.3).
    pub fn to_wire(self) -> String {
        self.iter().map(Scope::as_str).collect::<Vec<_>>().join(" ")
    }

    /// Parses a space-separated scope string, keeping unknown names aside.
    pub fn parse(wire: &str) -> ParsedScopes {
        let mut parsed = ParsedScopes::default();
        // RFC 6749 §3.3 separates with single spaces; tolerate runs of them.
        for name in wire.split(' ').filter(|n| !n.is_empty()) {
            match Scope::from_wire(name) {
                Some(scope) => parsed.known.insert(scope),
                None if !parsed.unknown.iter().any(|u| u == name) => {
                    parsed.unknown.push(name.to_owned())
                }
                None => {}
            }
        }
        parsed
    }
}

impl fmt::Debug for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.iter().map(Scope::as_str))
            .finish()
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_wire())
    }
}

impl FromIterator<Scope> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        let mut set = ScopeSet::EMPTY;
        for scope in iter {
            set.insert(scope);
        }
        set
    }
}

impl Serialize for ScopeSet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for ScopeSet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let scopes = Vec::<Scope>::deserialize(d)?;
        Ok(scopes.into_iter().collect())
    }
}

/// A scope string from the wire: the known scopes and, kept verbatim, the
/// names that are not platform scopes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedScopes {
    /// The platform scopes that were named.
    pub known: ScopeSet,
    /// Names that are not platform scopes, in order of first appearance.
    pub unknown: Vec<String>,
}

impl ParsedScopes {
    /// The known scopes, or an error naming every unknown one.
    pub fn strict(self) -> Result<ScopeSet, UnknownScopes> {
        if self.unknown.is_empty() {
            Ok(self.known)
        } else {
            Err(UnknownScopes(self.unknown))
        }
    }
}

/// One or more names that are not platform scopes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope(s): {}", .0.join(", "))]
pub struct UnknownScopes(pub Vec<String>);

macro_rules! scope_set_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(ScopeSet);

        impl $name {
            /// Wraps a set.
            pub const fn new(set: ScopeSet) -> Self {
                Self(set)
            }
            /// The underlying set.
            pub const fn set(self) -> ScopeSet {
                self.0
            }
            /// Whether `scope` is in the set.
            pub const fn contains(self, scope: Scope) -> bool {
                self.0.contains(scope)
            }
            /// The space-separated wire form.
            pub fn to_wire(self) -> String {
                self.0.to_wire()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
    };
}

scope_set_newtype!(
    /// The scopes an authorization request asked for.
    RequestedScopes
);
scope_set_newtype!(
    /// The scopes a token actually carries, as the provider stated them.
    GrantedScopes
);
scope_set_newtype!(
    /// The scopes declared when the client was registered: the most the app
    /// may ever ask for. Changing them is not self-service on the platform.
    RegisteredScopes
);

impl RequestedScopes {
    /// What the user refused: asked for but not granted.
    pub const fn declined(self, granted: GrantedScopes) -> ScopeSet {
        self.0.difference(granted.0)
    }

    /// The granted scopes when a token response has no `scope` field:
    /// RFC 6749 §5.1 says it is then identical to the request.
    pub const fn granted_when_unstated(self) -> GrantedScopes {
        GrantedScopes(self.0)
    }
}

impl GrantedScopes {
    /// Scopes of `required` that are not granted.
    pub const fn missing(self, required: ScopeSet) -> ScopeSet {
        required.difference(self.0)
    }

    /// Whether every scope in `required` is granted.
    pub const fn covers(self, required: ScopeSet) -> bool {
        self.0.is_superset(required)
    }
}

impl RegisteredScopes {
    /// Splits `wanted` into what may be asked for and what is outside the
    /// registration (and so needs a support request, not a consent screen).
    pub const fn partition(self, wanted: ScopeSet) -> (ScopeSet, ScopeSet) {
        (wanted.intersection(self.0), wanted.difference(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip_exactly() {
        for scope in Scope::ALL {
            assert_eq!(Scope::from_wire(scope.as_str()), Some(scope));
            assert_eq!(scope.as_str().parse::<Scope>().ok(), Some(scope));
        }
        assert_eq!(
            Scope::from_wire("GIPONEXT.PATIENTS"),
            None,
            "names are case-sensitive"
        );
        assert_eq!(Scope::from_wire("giponext.patients "), None);
    }

    #[test]
    fn parse_keeps_unknown_names_and_reports_them() {
        let parsed = ScopeSet::parse("openid  giponext.invoices profile giponext.x profile");
        assert_eq!(
            parsed.known,
            ScopeSet::of(&[Scope::OpenId, Scope::Invoices])
        );
        assert_eq!(
            parsed.unknown,
            vec!["profile".to_owned(), "giponext.x".to_owned()]
        );
        let err = parsed.strict().unwrap_err();
        assert_eq!(err.to_string(), "unknown scope(s): profile, giponext.x");
    }

    #[test]
    fn wire_form_follows_documented_order() {
        let set = ScopeSet::of(&[Scope::Invoices, Scope::OpenId, Scope::Patients]);
        assert_eq!(set.to_wire(), "openid giponext.patients giponext.invoices");
        assert_eq!(ScopeSet::parse(&set.to_wire()).strict(), Ok(set));
        assert_eq!(ScopeSet::all().len(), 8);
    }

    #[test]
    fn declined_is_requested_minus_granted() {
        let requested = RequestedScopes::new(ScopeSet::of(&[
            Scope::OpenId,
            Scope::Patients,
            Scope::Invoices,
        ]));
        let granted = GrantedScopes::new(ScopeSet::of(&[Scope::OpenId, Scope::Patients]));
        assert_eq!(
            requested.declined(granted),
            ScopeSet::of(&[Scope::Invoices])
        );
        assert_eq!(requested.granted_when_unstated().set(), requested.set());
        assert_eq!(
            granted.missing(ScopeSet::of(&[Scope::Patients, Scope::Agenda])),
            ScopeSet::of(&[Scope::Agenda])
        );
        assert!(granted.covers(ScopeSet::of(&[Scope::Patients])));
    }

    #[test]
    fn registration_partitions_what_may_be_asked() {
        let registered = RegisteredScopes::new(ScopeSet::of(&[Scope::OpenId, Scope::Patients]));
        let (ask, support) =
            registered.partition(ScopeSet::of(&[Scope::Patients, Scope::Invoices]));
        assert_eq!(ask, ScopeSet::of(&[Scope::Patients]));
        assert_eq!(support, ScopeSet::of(&[Scope::Invoices]));
    }

    #[test]
    fn json_uses_wire_names_and_rejects_unknown() {
        let set = ScopeSet::of(&[Scope::OpenId, Scope::Agenda]);
        let json = serde_json::to_string(&set).unwrap();
        assert_eq!(json, r#"["openid","giponext.agenda"]"#);
        assert_eq!(serde_json::from_str::<ScopeSet>(&json).unwrap(), set);
        assert!(serde_json::from_str::<ScopeSet>(r#"["nope"]"#).is_err());
    }
}
