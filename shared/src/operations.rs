//! The API resource table: every operation of the GipoNext REST API that this
//! product uses, with the scope it needs.
//!
//! It is data, read by everyone: the sandbox enforces it, the backend's proxy
//! lets through only what matches a row, the console and the CLI check a row's
//! scope before calling. Matching is strict on purpose (see [`match_path`]):
//! a path that is not literally a row's template with well-formed parameter
//! values matches nothing.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::scope::Scope;

/// An HTTP method used by the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    /// GET.
    Get,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// DELETE.
    Delete,
}

impl Method {
    /// The method's name as on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }

    /// The method for a wire name; methods are case-sensitive (RFC 9110 §9.1).
    pub fn from_wire(name: &str) -> Option<Method> {
        [Method::Get, Method::Post, Method::Put, Method::Delete]
            .into_iter()
            .find(|m| m.as_str() == name)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether an operation reads or changes data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Reads only; safe to retry.
    Read,
    /// Changes data; never retried blindly.
    Write,
}

/// The resources of the platform table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum Resource {
    UserInfo,
    Patients,
    Agendas,
    Appointments,
    Availabilities,
    Treatments,
    PriceLists,
    Episodes,
    MedicalReports,
    Invoices,
}

/// One API operation: a row of the resource table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation {
    /// A stable name, e.g. `patients.list`.
    pub id: &'static str,
    /// The resource it acts on.
    pub resource: Resource,
    /// The HTTP method.
    pub method: Method,
    /// The path template under the API root, e.g.
    /// `/v2/tenants/{tenantId}/patients/{patientId}`.
    pub path: &'static str,
    /// The scope the token must carry; `None` for any authenticated user.
    pub scope: Option<Scope>,
    /// Read or write.
    pub access: Access,
}

const fn op(
    id: &'static str,
    resource: Resource,
    method: Method,
    path: &'static str,
    scope: Option<Scope>,
    access: Access,
) -> Operation {
    Operation {
        id,
        resource,
        method,
        path,
        scope,
        access,
    }
}

use Access::{Read, Write};
use Method::{Delete, Get, Post, Put};
use Resource as R;

const P: Option<Scope> = Some(Scope::Patients);
const A: Option<Scope> = Some(Scope::Agenda);
const T: Option<Scope> = Some(Scope::Treatments);
const E: Option<Scope> = Some(Scope::Episodes);
const M: Option<Scope> = Some(Scope::MedicalReports);
const I: Option<Scope> = Some(Scope::Invoices);

/// Every API operation, the platform table row by row.
pub const OPERATIONS: &[Operation] = &[
    op("userinfo.get", R::UserInfo, Get, "/v2/userinfo", None, Read),
    op(
        "patients.list",
        R::Patients,
        Get,
        "/v2/tenants/{tenantId}/patients",
        P,
        Read,
    ),
    op(
        "patients.get",
        R::Patients,
        Get,
        "/v2/tenants/{tenantId}/patients/{patientId}",
        P,
        Read,
    ),
    op(
        "patients.create",
        R::Patients,
        Post,
        "/v2/tenants/{tenantId}/patients",
        P,
        Write,
    ),
    op(
        "patients.update",
        R::Patients,
        Put,
        "/v2/tenants/{tenantId}/patients/{patientId}",
        P,
        Write,
    ),
    op(
        "agendas.list",
        R::Agendas,
        Get,
        "/v2/tenants/{tenantId}/agendas",
        A,
        Read,
    ),
    op(
        "agendas.get",
        R::Agendas,
        Get,
        "/v2/tenants/{tenantId}/agendas/{agendaId}",
        A,
        Read,
    ),
    op(
        "appointments.list",
        R::Appointments,
        Get,
        "/v2/tenants/{tenantId}/appointments",
        A,
        Read,
    ),
    op(
        "appointments.get",
        R::Appointments,
        Get,
        "/v2/tenants/{tenantId}/appointments/{appointmentId}",
        A,
        Read,
    ),
    op(
        "appointments.create",
        R::Appointments,
        Post,
        "/v2/tenants/{tenantId}/appointments",
        A,
        Write,
    ),
    op(
        "appointments.cancel",
        R::Appointments,
        Delete,
        "/v2/tenants/{tenantId}/appointments/{appointmentId}",
        A,
        Write,
    ),
    op(
        "availabilities.list",
        R::Availabilities,
        Get,
        "/v2/tenants/{tenantId}/availabilities",
        A,
        Read,
    ),
    op(
        "treatments.list",
        R::Treatments,
        Get,
        "/v2/tenants/{tenantId}/treatments",
        T,
        Read,
    ),
    op(
        "treatments.get",
        R::Treatments,
        Get,
        "/v2/tenants/{tenantId}/treatments/{treatmentId}",
        T,
        Read,
    ),
    op(
        "pricelists.list",
        R::PriceLists,
        Get,
        "/v2/tenants/{tenantId}/pricelists",
        T,
        Read,
    ),
    op(
        "pricelists.get",
        R::PriceLists,
        Get,
        "/v2/tenants/{tenantId}/pricelists/{priceListId}",
        T,
        Read,
    ),
    op(
        "episodes.list",
        R::Episodes,
        Get,
        "/v2/tenants/{tenantId}/episodes",
        E,
        Read,
    ),
    op(
        "episodes.get",
        R::Episodes,
        Get,
        "/v2/tenants/{tenantId}/episodes/{episodeId}",
        E,
        Read,
    ),
    op(
        "episodes.create",
        R::Episodes,
        Post,
        "/v2/tenants/{tenantId}/episodes",
        E,
        Write,
    ),
    op(
        "episodes.update",
        R::Episodes,
        Put,
        "/v2/tenants/{tenantId}/episodes/{episodeId}",
        E,
        Write,
    ),
    op(
        "medicalreports.list",
        R::MedicalReports,
        Get,
        "/v2/tenants/{tenantId}/medicalreports",
        M,
        Read,
    ),
    op(
        "medicalreports.get",
        R::MedicalReports,
        Get,
        "/v2/tenants/{tenantId}/medicalreports/{reportId}",
        M,
        Read,
    ),
    op(
        "medicalreports.create",
        R::MedicalReports,
        Post,
        "/v2/tenants/{tenantId}/medicalreports",
        M,
        Write,
    ),
    op(
        "invoices.list",
        R::Invoices,
        Get,
        "/v2/tenants/{tenantId}/invoices",
        I,
        Read,
    ),
    op(
        "invoices.get",
        R::Invoices,
        Get,
        "/v2/tenants/{tenantId}/invoices/{invoiceId}",
        I,
        Read,
    ),
    op(
        "invoices.create",
        R::Invoices,
        Post,
        "/v2/tenants/{tenantId}/invoices",
        I,
        Write,
    ),
];

/// The operation with this id.
pub fn by_id(id: &str) -> Option<&'static Operation> {
    OPERATIONS.iter().find(|op| op.id == id)
}

/// A request matched to a row, with the values of the path parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationMatch<'a> {
    /// The matched row.
    pub operation: &'static Operation,
    /// `(name, value)` for each `{name}` of the template, in order.
    pub params: Vec<(&'static str, &'a str)>,
}

impl OperationMatch<'_> {
    /// The value of a path parameter, e.g. `tenantId`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
    }

    /// The tenant the request addresses, if its path has one.
    pub fn tenant_id(&self) -> Option<&str> {
        self.param("tenantId")
    }
}

/// Why a request matches no operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NoMatch {
    /// No row has this path shape.
    #[error("no API operation has this path")]
    UnknownPath,
    /// The path exists, but not with this method.
    #[error("this API path does not allow the method")]
    MethodNotAllowed,
}

/// Whether a path parameter value is well formed: 1 to 64 ASCII letters,
/// digits, `-` or `_`. This refuses `.`/`..`, percent-encoding, and anything
/// that could mean something else once decoded further down the line.
pub fn is_valid_param(value: &str) -> bool {
    (1..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Matches a raw request path (no query) against a template.
fn match_template<'a>(
    template: &'static str,
    path: &'a str,
) -> Option<Vec<(&'static str, &'a str)>> {
    let mut params = Vec::new();
    let mut t = template.split('/');
    let mut p = path.split('/');
    loop {
        match (t.next(), p.next()) {
            (None, None) => return Some(params),
            (Some(ts), Some(ps)) => {
                if let Some(name) = ts.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    if !is_valid_param(ps) {
                        return None;
                    }
                    params.push((name, ps));
                } else if ts != ps {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

/// Finds the operation for `method` and a raw request `path` (no query).
///
/// # Security
/// Matching is literal and case-sensitive, segment by segment: no decoding,
/// no normalisation, no trailing slash, no empty segment. Anything an attacker
/// could bend (`..`, `%2e%2e`, `%2F`, unicode dots, `//`) fails to match
/// instead of being interpreted, so the proxy's allow-list is exactly this
/// table.
pub fn match_path<'a>(method: Method, path: &'a str) -> Result<OperationMatch<'a>, NoMatch> {
    let mut path_known = false;
    for operation in OPERATIONS {
        if let Some(params) = match_template(operation.path, path) {
            if operation.method == method {
                return Ok(OperationMatch { operation, params });
            }
            path_known = true;
        }
    }
    Err(if path_known {
        NoMatch::MethodNotAllowed
    } else {
        NoMatch::UnknownPath
    })
}

/// Fills a template's parameters, e.g. for a client building a URL.
/// Returns `None` when a value is missing or not a valid parameter.
pub fn fill_path(template: &str, values: &[(&str, &str)]) -> Option<String> {
    let mut out = String::with_capacity(template.len() + 16);
    for (i, segment) in template.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) => {
                let value = values.iter().find(|(n, _)| *n == name)?.1;
                if !is_valid_param(value) {
                    return None;
                }
                out.push_str(value);
            }
            None => out.push_str(segment),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matched(method: Method, path: &str) -> Option<&'static str> {
        match_path(method, path).ok().map(|m| m.operation.id)
    }

    #[test]
    fn every_row_matches_its_own_filled_template() {
        for op in OPERATIONS {
            let filled = fill_path(
                op.path,
                &[
                    ("tenantId", "tenant-abc123"),
                    ("patientId", "42"),
                    ("agendaId", "ag-1"),
                    ("appointmentId", "7"),
                    ("treatmentId", "t_1"),
                    ("priceListId", "pl1"),
                    ("episodeId", "3"),
                    ("reportId", "9"),
                    ("invoiceId", "11"),
                ],
            )
            .unwrap();
            assert_eq!(matched(op.method, &filled), Some(op.id), "{filled}");
        }
    }

    #[test]
    fn table_rows_are_unique() {
        for (i, a) in OPERATIONS.iter().enumerate() {
            for b in &OPERATIONS[i + 1..] {
                assert_ne!(a.id, b.id);
                assert!(
                    !(a.method == b.method && a.path == b.path),
                    "{} and {}",
                    a.id,
                    b.id
                );
            }
        }
    }

    #[test]
    fn params_are_extracted_by_name() {
        let m = match_path(Get, "/v2/tenants/t1/patients/42").unwrap();
        assert_eq!(m.operation.id, "patients.get");
        assert_eq!(m.tenant_id(), Some("t1"));
        assert_eq!(m.param("patientId"), Some("42"));
    }

    #[test]
    fn path_tricks_match_nothing() {
        for path in [
            "/v2/tenants/t1/patients/",
            "/v2/tenants/t1//patients",
            "/v2/tenants/t1/patients/../invoices",
            "/v2/tenants/t1/patients/%2e%2e",
            "/v2/tenants/t1/patients/42%2F..",
            "/v2/tenants/t1/Patients",
            "/V2/tenants/t1/patients",
            "/v2/tenants/../tenants/t1/patients",
            "/v2/tenants/t1/patients/\u{ff0e}\u{ff0e}",
            "/v2/tenants/t1/patients/4 2",
            "v2/tenants/t1/patients",
            "/v2/tenants/t1/patients?x=1",
            "",
            "/",
        ] {
            assert_eq!(matched(Get, path), None, "{path:?}");
        }
    }

    #[test]
    fn wrong_method_is_told_apart_from_unknown_path() {
        assert_eq!(
            match_path(Delete, "/v2/tenants/t1/patients/1"),
            Err(NoMatch::MethodNotAllowed)
        );
        assert_eq!(
            match_path(Post, "/v2/userinfo"),
            Err(NoMatch::MethodNotAllowed)
        );
        assert_eq!(
            match_path(Get, "/v2/tenants/t1/secrets"),
            Err(NoMatch::UnknownPath)
        );
    }

    #[test]
    fn fill_refuses_bad_values() {
        assert_eq!(
            fill_path("/v2/tenants/{tenantId}/patients", &[("tenantId", "../x")]),
            None
        );
        assert_eq!(fill_path("/v2/tenants/{tenantId}/patients", &[]), None);
    }
}
