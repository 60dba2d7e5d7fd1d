//! Writes: validation (422 with fields), optimistic concurrency (409),
//! bookings, cancellations, reports, invoices (all or nothing).

use giponext_sandbox::users::MARIO;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Answer, Api, MAIN};
use crate::support;

fn fields(answer: &Answer) -> Vec<&str> {
    assert_eq!(
        answer.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        answer.body
    );
    assert_eq!(answer.error(), "validation_failed");
    answer.body["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn patient_validation_names_the_field() {
    let api = Api::start().await;
    let token = support::full_token(&api.sandbox, MARIO);
    let path = format!("{MAIN}/patients");
    let cases: &[(Value, &[&str])] = &[
        (
            json!({"firstName": "Ada", "lastName": "Neri", "fiscalCode": "RSSMRA85T10A562X"}),
            &["fiscalCode"],
        ),
        (
            json!({"firstName": "Ada", "lastName": "Neri", "fiscalCode": "RSSMRA85"}),
            &["fiscalCode"],
        ),
        (
            json!({"firstName": "", "lastName": "Neri", "fiscalCode": "RSSMRA85T10A562S"}),
            &["firstName"],
        ),
        (
            json!({"firstName": "Ada", "fiscalCode": "RSSMRA85T10A562S"}),
            &["lastName"],
        ),
        (
            json!({"firstName": "Ada", "lastName": "Neri", "fiscalCode": "RSSMRA85T10A562S", "email": "ada@"}),
            &["email"],
        ),
        (
            json!({"firstName": "Ada", "lastName": "Neri", "fiscalCode": "RSSMRA85T10A562S", "birthDate": "2999-01-01"}),
            &["birthDate"],
        ),
        (json!({}), &["firstName", "lastName", "fiscalCode"]),
    ];
    let before = api.get_ok(&token, &path).await["totalCount"].clone();
    for (body, expected) in cases {
        let answer = api.post(&token, &path, body).await;
        assert_eq!(fields(&answer), *expected, "{body}");
        assert!(!answer.body["message"].as_str().unwrap().is_empty());
    }
    assert_eq!(
        api.get_ok(&token, &path).await["totalCount"],
        before,
        "nothing half-written"
    );
}

#[tokio::test]
async fn patient_updates_need_the_current_version() {
    let api = Api::start().await;
    let token = support::full_token(&api.sandbox, MARIO);
    let path = format!("{MAIN}/patients/2");
    let read = api.get_ok(&token, &path).await;
    let version = read["version"].as_u64().unwrap();
    let mut edit = read.clone();
    edit["phone"] = json!("+39 347 000 1111");
    let saved = api.put(&token, &path, &edit).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    assert_eq!(saved.body["version"].as_u64(), Some(version + 1));
    assert_eq!(saved.body["phone"], "+39 347 000 1111");
    // A second edit based on the old read: conflict, and nothing changes.
    edit["phone"] = json!("+39 347 000 2222");
    let stale = api.put(&token, &path, &edit).await;
    assert_eq!(stale.status, StatusCode::CONFLICT, "{}", stale.body);
    assert_eq!(stale.error(), "conflict");
    assert_eq!(api.get_ok(&token, &path).await, saved.body);
    // No version at all: 422 on the version field.
    let mut unversioned = edit.clone();
    unversioned.as_object_mut().unwrap().remove("version");
    assert_eq!(
        fields(&api.put(&token, &path, &unversioned).await),
        ["version"]
    );
    // Unknown patient: 404.
    let answer = api
        .put(&token, &format!("{MAIN}/patients/999999"), &saved.body)
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    let answer = api.get(&token, &format!("{MAIN}/patients/abc")).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_fiscal_code_is_unique_within_the_centre() {
    let api = Api::start().await;
    let token = support::full_token(&api.sandbox, MARIO);
    let existing = api.get_ok(&token, &format!("{MAIN}/patients/1")).await;
    let body =
        json!({"firstName": "Altro", "lastName": "Paziente", "fiscalCode": existing["fiscalCode"]});
    let answer = api.post(&token, &format!("{MAIN}/patients"), &body).await;
    assert_eq!(answer.status, StatusCode::CONFLICT, "{}", answer.body);
    assert!(
        answer.body["message"]
            .as_str()
            .unwrap()
            .contains("fiscal code")
    );
}

#[tokio::test]
async fn booking_and_cancelling_appointments() {
    let api = Api::start().await;
    let token = support::full_token(&api.sandbox, MARIO);
    let today = chrono::Local::now().date_naive();
    let slots = api
        .get_ok(
            &token,
            &format!(
                "{MAIN}/availabilities?agendaId=ag-ortopedia&from={today}&to={}&limit=1",
                today + chrono::Duration::days(14)
            ),
        )
        .await;
    let slot = slots["items"][0].clone();
    let booking = json!({"agendaId": "ag-ortopedia", "patientId": 4, "treatmentId": "tr-visita-ortopedica",
                         "start": slot["start"], "end": slot["end"], "notes": "Prima visita"});
    let created = api
        .post(&token, &format!("{MAIN}/appointments"), &booking)
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["status"], "booked");
    assert_eq!(
        created.header("location"),
        Some(format!("{MAIN}/appointments/{}", created.body["id"]).as_str())
    );
    let id = created.body["id"].as_i64().unwrap();
    // The slot is no longer free, and booking it again conflicts.
    let again = api
        .get_ok(
            &token,
            &format!(
                "{MAIN}/availabilities?agendaId=ag-ortopedia&from={}&to={}",
                slot["start"].as_str().unwrap(),
                slot["end"].as_str().unwrap()
            ),
        )
        .await;
    assert_eq!(again["totalCount"], 0, "{again}");
    let clash = api
        .post(&token, &format!("{MAIN}/appointments"), &booking)
        .await;
    assert_eq!(clash.status, StatusCode::CONFLICT, "{}", clash.body);
    // Invalid bookings: each field named.
    let mut bad = booking.clone();
    bad["end"] = bad["start"].clone();
    assert_eq!(
        fields(
            &api.post(&token, &format!("{MAIN}/appointments"), &bad)
                .await
        ),
        ["end"]
    );
    let mut bad = booking.clone();
    bad["agendaId"] = json!("ag-nessuna");
    bad["patientId"] = json!(999999);
    assert_eq!(
        fields(
            &api.post(&token, &format!("{MAIN}/appointments"), &bad)
                .await
        ),
        ["agendaId", "patientId"]
    );
    // Outside working hours (03:00 tomorrow) and in the past (a year ago).
    let tomorrow = today + chrono::Duration::days(1);
    let year_ago = today - chrono::Duration::days(365);
    for (start, end, why) in [
        (
            format!("{tomorrow}T03:00:00"),
            format!("{tomorrow}T03:30:00"),
            "working hours",
        ),
        (
            format!("{year_ago}T10:00:00"),
            format!("{year_ago}T10:30:00"),
            "past",
        ),
    ] {
        let mut bad = booking.clone();
        bad["start"] = json!(start);
        bad["end"] = json!(end);
        let answer = api
            .post(&token, &format!("{MAIN}/appointments"), &bad)
            .await;
        assert_eq!(fields(&answer), ["start"]);
        assert!(
            answer.body["message"].as_str().unwrap().contains(why),
            "{}",
            answer.body
        );
    }
    // Cancel: returns it cancelled; twice is a conflict; the slot is free again.
    let path = format!("{MAIN}/appointments/{id}");
    let cancelled = api.call(Some(&token), Method::DELETE, &path, None).await;
    assert_eq!(cancelled.status, StatusCode::OK);
    assert_eq!(cancelled.body["status"], "cancelled");
    assert_eq!(api.get_ok(&token, &path).await["status"], "cancelled");
    assert_eq!(
        api.call(Some(&token), Method::DELETE, &path, None)
            .await
            .status,
        StatusCode::CONFLICT
    );
    assert_eq!(
        api.post(&token, &format!("{MAIN}/appointments"), &booking)
            .await
            .status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn episodes_and_reports() {
    let api = Api::start().await;
    let token = support::full_token(&api.sandbox, MARIO);
    let created = api
        .post(
            &token,
            &format!("{MAIN}/episodes"),
            &json!({"patientId": 7, "title": "Lombalgia"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["status"], "open");
    let path = format!("{MAIN}/episodes/{}", created.body["id"]);
    let mut close = created.body.clone();
    close["status"] = json!("closed");
    let closed = api.put(&token, &path, &close).await;
    assert_eq!(closed.status, StatusCode::OK, "{}", closed.body);
    assert_eq!(
        closed.body["closedOn"],
        json!(chrono::Local::now().date_naive())
    );
    assert_eq!(
        api.put(&token, &path, &close).await.status,
        StatusCode::CONFLICT,
        "stale version"
    );
    assert_eq!(
        fields(
            &api.post(
                &token,
                &format!("{MAIN}/episodes"),
                &json!({"patientId": 7, "title": " "})
            )
            .await
        ),
        ["title"]
    );

    let episode = created.body["id"].as_i64().unwrap();
    let report = json!({"patientId": 7, "episodeId": episode, "title": "Referto - Visita ortopedica", "body": "Nulla da segnalare."});
    let written = api
        .post(&token, &format!("{MAIN}/medicalreports"), &report)
        .await;
    assert_eq!(written.status, StatusCode::CREATED, "{}", written.body);
    assert_eq!(
        written.body["author"], "Mario Rossi",
        "signed by the token's user"
    );
    let mut wrong = report.clone();
    wrong["patientId"] = json!(8);
    assert_eq!(
        fields(
            &api.post(&token, &format!("{MAIN}/medicalreports"), &wrong)
                .await
        ),
        ["episodeId"]
    );
    let listed = api
        .all(
            &token,
            &format!("{MAIN}/medicalreports?episodeId={episode}"),
        )
        .await;
    assert_eq!(listed, vec![written.body]);
}

#[tokio::test]
async fn invoices_are_priced_numbered_and_atomic() {
    let api = Api::start().await;
    let token = support::full_token(&api.sandbox, MARIO);
    let path = format!("{MAIN}/invoices");
    let body = json!({"patientId": 9, "priceListId": "pl-privati", "lines": [
        {"treatmentId": "tr-visita-cardiologica", "quantity": 1},
        {"treatmentId": "tr-certificato-assicurativo", "quantity": 2}
    ]});
    let first = api.post(&token, &path, &body).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let inv = &first.body;
    assert_eq!(inv["lines"][0]["unitPriceCents"], 12000);
    assert_eq!(inv["lines"][0]["description"], "Visita cardiologica");
    assert_eq!(inv["lines"][1]["vatRatePercent"], 22);
    assert_eq!(
        (
            inv["netCents"].as_i64(),
            inv["vatCents"].as_i64(),
            inv["totalCents"].as_i64()
        ),
        (Some(28000), Some(3520), Some(31520))
    );
    let year = chrono::Local::now().format("%Y").to_string();
    let number = inv["number"].as_str().unwrap();
    assert!(
        number.starts_with(&format!("{year}/")) && number.len() == 11,
        "{number}"
    );
    let second = api.post(&token, &path, &body).await;
    let seq = |n: &str| n[5..].parse::<u32>().unwrap();
    assert_eq!(
        seq(second.body["number"].as_str().unwrap()),
        seq(number) + 1
    );
    assert_eq!(
        api.get_ok(&token, &format!("{path}/{}", inv["id"])).await,
        *inv
    );

    // One bad line refuses the whole invoice; nothing is written.
    let before = api.get_ok(&token, &path).await["totalCount"].clone();
    let bad = json!({"patientId": 9, "priceListId": "pl-privati", "lines": [
        {"treatmentId": "tr-ecg", "quantity": 1},
        {"treatmentId": "tr-inesistente", "quantity": 1},
        {"treatmentId": "tr-ecg", "quantity": 0}
    ]});
    assert_eq!(
        fields(&api.post(&token, &path, &bad).await),
        ["lines[1].treatmentId", "lines[2].quantity"]
    );
    let empty = json!({"patientId": 9, "priceListId": "pl-nessuno", "lines": []});
    assert_eq!(
        fields(&api.post(&token, &path, &empty).await),
        ["priceListId", "lines"]
    );
    assert_eq!(api.get_ok(&token, &path).await["totalCount"], before);
}
