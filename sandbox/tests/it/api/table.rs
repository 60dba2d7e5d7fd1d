//! Every row of the shared resource table, enforced: allowed with its scope
//! alone, 403 `insufficient_scope` (header and body naming it) without it.

use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{Duration, NaiveDate};
use giponext_sandbox::users::{LUCA, MARIO};
use giponext_shared::fiscal_code::FiscalCode;
use giponext_shared::operations::{Method as OpMethod, Operation, fill_path};
use giponext_shared::{OPERATIONS, ScopeSet};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Api, MAIN};
use crate::support;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A fiscal code no seeded patient has.
pub fn fresh_fiscal_code() -> String {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let birth = NaiveDate::from_ymd_opt(2001, 1, 1).unwrap() + Duration::days(i64::from(n));
    FiscalCode::compute("Zanardi", "Quirino", birth, false, "H501")
        .unwrap()
        .as_str()
        .to_owned()
}

fn method(op: &Operation) -> Method {
    match op.method {
        OpMethod::Get => Method::GET,
        OpMethod::Post => Method::POST,
        OpMethod::Put => Method::PUT,
        OpMethod::Delete => Method::DELETE,
    }
}

fn expected_success(op: &Operation) -> StatusCode {
    if op.method == OpMethod::Post {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    }
}

/// A valid request for `op` on the main tenant: its path and body, reading
/// what it needs (versions, a free slot, a booked appointment) with `admin`.
async fn sample_request(api: &Api, admin: &str, op: &Operation) -> (String, Option<Value>) {
    let appointment = if op.id == "appointments.cancel" {
        let page = api
            .get_ok(admin, &format!("{MAIN}/appointments?status=booked&limit=1"))
            .await;
        page["items"][0]["id"]
            .as_i64()
            .expect("a booked appointment")
            .to_string()
    } else {
        "1".to_owned()
    };
    let path = fill_path(
        op.path,
        &[
            ("tenantId", "tenant-abc123"),
            ("patientId", "1"),
            ("agendaId", "ag-cardiologia"),
            ("appointmentId", &appointment),
            ("treatmentId", "tr-ecg"),
            ("priceListId", "pl-privati"),
            ("episodeId", "1"),
            ("reportId", "1"),
            ("invoiceId", "1"),
        ],
    )
    .unwrap_or_else(|| panic!("{}: the sample values fill every parameter", op.id));
    let body = match op.id {
        "patients.create" => Some(
            json!({"firstName": "Quirino", "lastName": "Zanardi", "fiscalCode": fresh_fiscal_code()}),
        ),
        "patients.update" => {
            let mut p = api.get_ok(admin, &path).await;
            p["phone"] = json!("+39 333 123 4567");
            Some(p)
        }
        "appointments.create" => {
            let today = chrono::Local::now().date_naive();
            let slots = api
                .get_ok(
                    admin,
                    &format!(
                        "{MAIN}/availabilities?agendaId=ag-cardiologia&from={today}&to={}&limit=1",
                        today + Duration::days(20)
                    ),
                )
                .await;
            let slot = &slots["items"][0];
            assert!(slot.is_object(), "a free slot on ag-cardiologia: {slots}");
            Some(
                json!({"agendaId": "ag-cardiologia", "patientId": 1, "treatmentId": "tr-ecg",
                        "start": slot["start"], "end": slot["end"]}),
            )
        }
        "episodes.create" => Some(json!({"patientId": 1, "title": "Controllo annuale"})),
        "episodes.update" => {
            let mut e = api.get_ok(admin, &path).await;
            e["notes"] = json!("Aggiornato dal test");
            Some(e)
        }
        "medicalreports.create" => Some(
            json!({"patientId": 1, "title": "Referto - ECG", "body": "Ritmo sinusale, nei limiti."}),
        ),
        "invoices.create" => Some(json!({"patientId": 1, "priceListId": "pl-privati",
                                         "lines": [{"treatmentId": "tr-ecg", "quantity": 1}]})),
        _ => None,
    };
    (path, body)
}

#[tokio::test]
async fn every_row_is_allowed_with_its_scope_and_refused_without() {
    let api = Api::start().await;
    let admin = support::full_token(&api.sandbox, MARIO);
    assert!(OPERATIONS.len() >= 26, "the whole table is exercised");
    for op in OPERATIONS {
        let (path, body) = sample_request(&api, &admin, op).await;
        let method = method(op);
        match op.scope {
            Some(scope) => {
                let without = ScopeSet::all().difference(ScopeSet::of(&[scope]));
                let token = giponext_sandbox::account::tokens::issue_access_token_for_tests(
                    api.sandbox.state(),
                    MARIO,
                    without,
                    giponext_sandbox::clients::WEB_CLIENT_ID,
                );
                let denied = api
                    .call(Some(&token), method.clone(), &path, body.as_ref())
                    .await;
                assert_eq!(
                    denied.status,
                    StatusCode::FORBIDDEN,
                    "{} without {scope}: {}",
                    op.id,
                    denied.body
                );
                assert_eq!(denied.error(), "insufficient_scope", "{}", op.id);
                assert_eq!(denied.body["scope"], scope.as_str(), "{}", op.id);
                assert_eq!(
                    denied.header("www-authenticate"),
                    Some(
                        format!(
                            r#"Bearer error="insufficient_scope", scope="{}""#,
                            scope.as_str()
                        )
                        .as_str()
                    ),
                    "{}",
                    op.id
                );
                let token = support::token(&api.sandbox, MARIO, &[scope]);
                let allowed = api.call(Some(&token), method, &path, body.as_ref()).await;
                assert_eq!(
                    allowed.status,
                    expected_success(op),
                    "{} with {scope}: {}",
                    op.id,
                    allowed.body
                );
                assert!(allowed.body.is_object(), "{}: {}", op.id, allowed.body);
            }
            None => {
                let token = support::token(&api.sandbox, MARIO, &[]);
                let allowed = api.call(Some(&token), method, &path, body.as_ref()).await;
                assert_eq!(
                    allowed.status,
                    expected_success(op),
                    "{}: {}",
                    op.id,
                    allowed.body
                );
            }
        }
    }
}

#[tokio::test]
async fn every_row_is_hidden_from_another_tenant() {
    let api = Api::start().await;
    let admin = support::full_token(&api.sandbox, MARIO);
    let luca = support::full_token(&api.sandbox, LUCA);
    for op in OPERATIONS
        .iter()
        .filter(|op| op.path.contains("{tenantId}"))
    {
        let (path, body) = sample_request(&api, &admin, op).await;
        let answer = api
            .call(Some(&luca), method(op), &path, body.as_ref())
            .await;
        assert_eq!(
            answer.status,
            StatusCode::NOT_FOUND,
            "{}: {}",
            op.id,
            answer.body
        );
        assert_eq!(answer.error(), "not_found", "{}", op.id);
    }
}

#[tokio::test]
async fn userinfo_names_the_user_and_tenant() {
    let api = Api::start().await;
    let token = support::token(&api.sandbox, LUCA, &[]);
    let info = api.get_ok(&token, "/v2/userinfo").await;
    assert_eq!(info["name"], "Luca Verdi");
    assert_eq!(info["email"], "luca.verdi@santachiara.example");
    assert_eq!(
        info["tenants"],
        json!([{"id": "tenant-def456", "name": "Centro Medico Santa Chiara"}])
    );
    assert!(info["sub"].as_str().is_some_and(|s| !s.is_empty()));
}

#[tokio::test]
async fn paths_outside_the_table_are_404_and_wrong_methods_405() {
    let api = Api::start().await;
    let token = support::full_token(&api.sandbox, MARIO);
    for path in [
        "/v2/tenants/tenant-abc123/secrets",
        "/v2/tenants/tenant-abc123/patients/",
        "/v2/tenants/tenant-abc123/Patients",
        "/v2/tenants/tenant-abc123/patients/1%2F2",
        "/v3/userinfo",
    ] {
        let answer = api.get(&token, path).await;
        assert_eq!(
            answer.status,
            StatusCode::NOT_FOUND,
            "{path}: {}",
            answer.body
        );
        assert_eq!(answer.error(), "not_found", "{path}");
    }
    let answer = api
        .call(
            Some(&token),
            Method::DELETE,
            &format!("{MAIN}/patients/1"),
            None,
        )
        .await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(answer.header("allow"), Some("GET, PUT"));
    let answer = api
        .call(
            Some(&token),
            Method::PATCH,
            &format!("{MAIN}/patients/1"),
            None,
        )
        .await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn every_row_applies_the_users_own_permission() {
    use giponext_sandbox::users::{self, GIULIA};
    let api = Api::start().await;
    let admin = support::full_token(&api.sandbox, MARIO);
    let giulia = support::full_token(&api.sandbox, GIULIA);
    let role = users::by_username(GIULIA).unwrap().permissions;
    let mut refused = Vec::new();
    for op in OPERATIONS {
        let (path, body) = sample_request(&api, &admin, op).await;
        let answer = api
            .call(Some(&giulia), method(op), &path, body.as_ref())
            .await;
        if role.allows(op.resource, op.access) {
            assert_eq!(
                answer.status,
                expected_success(op),
                "{}: {}",
                op.id,
                answer.body
            );
        } else {
            assert_eq!(
                answer.status,
                StatusCode::FORBIDDEN,
                "{}: {}",
                op.id,
                answer.body
            );
            assert_eq!(answer.error(), "permission_denied", "{}", op.id);
            refused.push(op.id);
        }
    }
    assert_eq!(refused, ["medicalreports.create", "invoices.create"]);
}
