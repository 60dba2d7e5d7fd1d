//! 401, 403 permission_denied, 429 and 400 as the platform documents them.

use std::time::Duration;

use giponext_sandbox::config::RateLimit;
use giponext_sandbox::users::{GIULIA, MARIO};
use giponext_shared::Scope;
use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{Api, MAIN};
use crate::support;

fn assert_invalid_token(answer: &super::Answer, case: &str) {
    assert_eq!(
        answer.status,
        StatusCode::UNAUTHORIZED,
        "{case}: {}",
        answer.body
    );
    assert_eq!(answer.error(), "invalid_token", "{case}");
    assert_eq!(
        answer.header("www-authenticate"),
        Some(r#"Bearer error="invalid_token""#),
        "{case}"
    );
}

#[tokio::test]
async fn missing_malformed_or_foreign_tokens_are_401() {
    let api = Api::start().await;
    let path = format!("{MAIN}/patients");
    assert_invalid_token(&api.call(None, Method::GET, &path, None).await, "no token");
    assert_invalid_token(&api.get("garbage", &path).await, "garbage");
    let valid = support::full_token(&api.sandbox, MARIO);
    // A flipped signature byte.
    let mut tampered = valid.clone().into_bytes();
    let last = tampered.len() - 2;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    assert_invalid_token(&api.get(&tampered, &path).await, "tampered");
    // Basic auth is not a bearer token.
    let basic = reqwest::Client::new()
        .get(support::api_url(&api.sandbox, &path))
        .basic_auth("giponext-connect-web", Some("sandbox-web-secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
    // A token of another sandbox (another issuer) is not ours.
    let other = Api::start().await;
    let foreign = support::full_token(&other.sandbox, MARIO);
    assert_invalid_token(&api.get(&foreign, &path).await, "another issuer");
    // The real one works.
    assert_eq!(api.get(&valid, &path).await.status, StatusCode::OK);
    // 401 comes before anything else, also for writes.
    let answer = api.call(None, Method::POST, &path, Some(&json!({}))).await;
    assert_invalid_token(&answer, "write without a token");
}

#[tokio::test]
async fn expired_tokens_are_401() {
    let api =
        Api::from(support::sandbox_with(|c| c.access_token_ttl = Duration::from_secs(1)).await);
    let token = support::full_token(&api.sandbox, MARIO);
    assert_eq!(api.get(&token, "/v2/userinfo").await.status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let answer = api.get(&token, "/v2/userinfo").await;
    assert_invalid_token(&answer, "expired");
    assert!(
        answer.body["message"].as_str().unwrap().contains("expired"),
        "{}",
        answer.body
    );
}

#[tokio::test]
async fn front_desk_may_not_invoice_or_write_reports_even_with_the_scope() {
    let api = Api::start().await;
    let giulia = support::token(
        &api.sandbox,
        GIULIA,
        &[Scope::Invoices, Scope::MedicalReports, Scope::Patients],
    );
    let before = api
        .get_ok(&giulia, &format!("{MAIN}/invoices?limit=1"))
        .await["totalCount"]
        .clone();
    let invoice = json!({"patientId": 1, "priceListId": "pl-privati", "lines": [{"treatmentId": "tr-ecg", "quantity": 1}]});
    let answer = api
        .post(&giulia, &format!("{MAIN}/invoices"), &invoice)
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    assert_eq!(answer.error(), "permission_denied");
    assert!(
        answer.header("www-authenticate").is_none(),
        "not a token problem"
    );
    let report = json!({"patientId": 1, "title": "Referto", "body": "..."});
    let answer = api
        .post(&giulia, &format!("{MAIN}/medicalreports"), &report)
        .await;
    assert_eq!(answer.error(), "permission_denied");
    // Nothing was written; reading stays allowed; other writes are fine.
    assert_eq!(
        api.get_ok(&giulia, &format!("{MAIN}/invoices?limit=1"))
            .await["totalCount"],
        before
    );
    let patient = json!({"firstName": "Ada", "lastName": "Neri", "fiscalCode": super::table::fresh_fiscal_code()});
    assert_eq!(
        api.post(&giulia, &format!("{MAIN}/patients"), &patient)
            .await
            .status,
        StatusCode::CREATED
    );
    // Mario may.
    let mario = support::token(&api.sandbox, MARIO, &[Scope::Invoices]);
    assert_eq!(
        api.post(&mario, &format!("{MAIN}/invoices"), &invoice)
            .await
            .status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn past_the_rate_limit_is_429_with_retry_after() {
    let limit = RateLimit {
        requests: 3,
        window: Duration::from_secs(30),
    };
    let api = Api::from(support::sandbox_with(|c| c.rate_limit = limit).await);
    let token = support::full_token(&api.sandbox, MARIO);
    for _ in 0..3 {
        assert_eq!(api.get(&token, "/v2/userinfo").await.status, StatusCode::OK);
    }
    let answer = api.get(&token, &format!("{MAIN}/patients")).await;
    assert_eq!(
        answer.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        answer.body
    );
    assert_eq!(answer.error(), "rate_limit_exceeded");
    let retry: u64 = answer
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=30).contains(&retry), "{retry}");
    // The limit is per client: another client of the same user is not affected.
    let other = giponext_sandbox::account::tokens::issue_access_token_for_tests(
        api.sandbox.state(),
        MARIO,
        giponext_shared::ScopeSet::all(),
        giponext_sandbox::clients::CLI_CLIENT_ID,
    );
    assert_eq!(api.get(&other, "/v2/userinfo").await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_client_that_waits_gets_through_again() {
    let limit = RateLimit {
        requests: 2,
        window: Duration::from_secs(1),
    };
    let api = Api::from(support::sandbox_with(|c| c.rate_limit = limit).await);
    let token = support::full_token(&api.sandbox, MARIO);
    api.get_ok(&token, "/v2/userinfo").await;
    api.get_ok(&token, "/v2/userinfo").await;
    let refused = api.get(&token, "/v2/userinfo").await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.header("retry-after"), Some("1"));
    tokio::time::sleep(Duration::from_millis(1050)).await;
    api.get_ok(&token, "/v2/userinfo").await;
}

#[tokio::test]
async fn bad_queries_and_bodies_are_400_with_a_message() {
    let api = Api::start().await;
    let token = support::full_token(&api.sandbox, MARIO);
    for query in [
        "limit=0",
        "limit=101",
        "limit=abc",
        "offset=-1",
        "limit=5&limit=6",
    ] {
        let answer = api.get(&token, &format!("{MAIN}/patients?{query}")).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(answer.error(), "bad_request");
        assert!(!answer.body["message"].as_str().unwrap().is_empty());
    }
    for query in [
        "from=yesterday",
        "from=2026-01-10&to=2026-01-01",
        "patientId=x",
    ] {
        let answer = api
            .get(&token, &format!("{MAIN}/appointments?{query}"))
            .await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{query}: {}",
            answer.body
        );
    }
    let answer = api
        .get(
            &token,
            &format!("{MAIN}/availabilities?from=2026-01-01&to=2026-06-01"),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
    let url = support::api_url(&api.sandbox, &format!("{MAIN}/patients"));
    let http = reqwest::Client::new();
    for (body, content_type) in [
        ("{\"firstName\": ", "application/json"),
        ("", "application/json"),
        ("[]", "application/json"),
        ("firstName=x", "application/x-www-form-urlencoded"),
    ] {
        let response = http
            .post(&url)
            .bearer_auth(&token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body:?}");
        let error: serde_json::Value = response.json().await.unwrap();
        assert_eq!(error["error"], "bad_request", "{body:?}");
    }
    // The wrong type for a field: 422 naming it, never a 500.
    for (list, body, field) in [
        (
            "appointments",
            json!({"agendaId": 5, "patientId": "x"}),
            "agendaId",
        ),
        (
            "appointments",
            json!({"agendaId": "ag-ortopedia", "patientId": 1}),
            "start",
        ),
        (
            "invoices",
            json!({"patientId": 1, "priceListId": "pl-privati", "lines": [{"treatmentId": "tr-ecg", "quantity": -1}]}),
            "lines[0].quantity",
        ),
        (
            "invoices",
            json!({"patientId": 1, "priceListId": "pl-privati", "lines": [{"quantity": 1}]}),
            "lines[0].treatmentId",
        ),
        ("patients", json!({"firstName": ["Ada"]}), "firstName"),
    ] {
        let answer = api.post(&token, &format!("{MAIN}/{list}"), &body).await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            answer.body
        );
        assert_eq!(
            answer.body["fields"][0]["field"], field,
            "{body}: {}",
            answer.body
        );
    }
    let too_big = "x".repeat(2 * 1024 * 1024);
    let response = http
        .post(&url)
        .bearer_auth(&token)
        .json(&json!({"firstName": too_big}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}
