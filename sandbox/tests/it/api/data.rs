//! The seeded data: paging, search, filters, determinism, persistence.

use std::collections::HashSet;

use giponext_sandbox::users::{LUCA, MARIO};
use giponext_shared::fiscal_code::FiscalCode;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{Api, MAIN, OTHER};
use crate::support;

#[tokio::test]
async fn paging_walks_the_whole_list_consistently() {
    let api = Api::start().await;
    let token = support::full_token(&api.sandbox, MARIO);
    let first = api.get_ok(&token, &format!("{MAIN}/patients")).await;
    assert_eq!(first["offset"], 0);
    assert_eq!(first["limit"], 20, "default page size");
    assert_eq!(first["items"].as_array().unwrap().len(), 20);
    assert_eq!(first["hasMore"], true);
    let total = first["totalCount"].as_u64().unwrap();
    assert!((50..=80).contains(&total), "dozens of patients: {total}");

    let mut ids = Vec::new();
    let mut offset = 0;
    loop {
        let page = api
            .get_ok(&token, &format!("{MAIN}/patients?offset={offset}&limit=7"))
            .await;
        assert_eq!(page["totalCount"].as_u64(), Some(total));
        assert_eq!(page["limit"], 7);
        let items = page["items"].as_array().unwrap();
        ids.extend(items.iter().map(|p| p["id"].as_i64().unwrap()));
        offset += 7;
        assert_eq!(
            page["hasMore"].as_bool(),
            Some(offset < total),
            "at offset {offset}"
        );
        if !page["hasMore"].as_bool().unwrap() {
            break;
        }
        assert_eq!(items.len(), 7);
    }
    assert_eq!(ids.len() as u64, total);
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "stable order by id, no repeats"
    );
    // Past the end: empty, not an error.
    let past = api
        .get_ok(&token, &format!("{MAIN}/patients?offset={}", total + 5))
        .await;
    assert_eq!(past["items"], json!([]));
    assert_eq!(past["hasMore"], false);
    // Every list is paged with the same envelope, max 100.
    for list in [
        "agendas",
        "appointments",
        "availabilities",
        "treatments",
        "pricelists",
        "episodes",
        "medicalreports",
        "invoices",
    ] {
        let page = api
            .get_ok(&token, &format!("{MAIN}/{list}?limit=100"))
            .await;
        for key in ["items", "totalCount", "offset", "limit", "hasMore"] {
            assert!(!page[key].is_null(), "{list} lacks {key}");
        }
    }
}

#[tokio::test]
async fn seeded_data_is_realistic() {
    let api = Api::start().await;
    let token = support::full_token(&api.sandbox, MARIO);
    let patients = api.all(&token, &format!("{MAIN}/patients")).await;
    let codes: HashSet<&str> = patients
        .iter()
        .map(|p| p["fiscalCode"].as_str().unwrap())
        .collect();
    assert_eq!(codes.len(), patients.len(), "fiscal codes are unique");
    for code in &codes {
        assert!(FiscalCode::parse(code).is_ok(), "{code} is well formed");
    }
    assert_eq!(
        api.get_ok(&token, &format!("{MAIN}/agendas")).await["totalCount"],
        4
    );
    let treatments = api
        .get_ok(&token, &format!("{MAIN}/treatments?limit=100"))
        .await;
    assert!(treatments["totalCount"].as_u64().unwrap() >= 20);
    let lists = api.get_ok(&token, &format!("{MAIN}/pricelists")).await;
    let names: Vec<&str> = lists["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Listino convenzioni", "Listino privati"]);
    let today = chrono::Local::now().date_naive();
    let week = api
        .all(
            &token,
            &format!(
                "{MAIN}/appointments?from={today}&to={}",
                today + chrono::Duration::days(6)
            ),
        )
        .await;
    assert!(week.len() > 30, "a busy week: {}", week.len());
    assert!(
        api.get_ok(&token, &format!("{MAIN}/episodes")).await["totalCount"]
            .as_u64()
            .unwrap()
            >= 30
    );
    assert!(
        api.get_ok(&token, &format!("{MAIN}/medicalreports")).await["totalCount"]
            .as_u64()
            .unwrap()
            >= 50
    );
    // Invoices: as configured (150 in tests), within the past year, totals right.
    let invoices = api.all(&token, &format!("{MAIN}/invoices")).await;
    assert_eq!(invoices.len(), 150);
    for inv in &invoices {
        let lines: Vec<giponext_shared::api::InvoiceLine> =
            serde_json::from_value(inv["lines"].clone()).unwrap();
        assert!(!lines.is_empty());
        let (net, vat, total) = giponext_shared::api::invoice_totals(&lines);
        assert_eq!(
            (
                inv["netCents"].as_i64(),
                inv["vatCents"].as_i64(),
                inv["totalCents"].as_i64()
            ),
            (Some(net), Some(vat), Some(total))
        );
        let date: chrono::NaiveDate = serde_json::from_value(inv["date"].clone()).unwrap();
        assert!(date <= today && date > today - chrono::Duration::days(366));
    }
    // The other tenant is smaller and separate.
    let luca = support::full_token(&api.sandbox, LUCA);
    let theirs = api.all(&luca, &format!("{OTHER}/patients")).await;
    assert!(!theirs.is_empty() && theirs.len() < patients.len());
    let ours: HashSet<i64> = patients.iter().map(|p| p["id"].as_i64().unwrap()).collect();
    assert!(
        theirs
            .iter()
            .all(|p| !ours.contains(&p["id"].as_i64().unwrap()))
    );
    // Another tenant's record through one's own tenant path: not found.
    let their_id = theirs[0]["id"].as_i64().unwrap();
    let answer = api
        .get(&token, &format!("{MAIN}/patients/{their_id}"))
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn search_matches_names_and_fiscal_codes_ignoring_case() {
    let api = Api::start().await;
    let token = support::full_token(&api.sandbox, MARIO);
    let target = api.get_ok(&token, &format!("{MAIN}/patients/5")).await;
    let last = target["lastName"].as_str().unwrap();
    let found = api
        .all(
            &token,
            &format!(
                "{MAIN}/patients?search={}",
                last.to_lowercase().replace(' ', "%20")
            ),
        )
        .await;
    assert!(found.iter().any(|p| p["id"] == 5));
    for p in &found {
        let hay = format!(
            "{} {} {} {}",
            p["firstName"], p["middleName"], p["lastName"], p["fiscalCode"]
        )
        .to_lowercase();
        assert!(hay.contains(&last.to_lowercase()), "{p}");
    }
    let code = target["fiscalCode"].as_str().unwrap().to_lowercase();
    let by_code = api
        .get_ok(&token, &format!("{MAIN}/patients?search={code}"))
        .await;
    assert_eq!(by_code["totalCount"], 1);
    assert_eq!(by_code["items"][0]["id"], 5);
    // First and last name together narrow it down.
    let first = target["firstName"].as_str().unwrap();
    let both = api
        .all(
            &token,
            &format!(
                "{MAIN}/patients?search={}%20{}",
                first.to_uppercase(),
                last.replace(' ', "%20")
            ),
        )
        .await;
    assert!(both.iter().any(|p| p["id"] == 5) && both.len() <= found.len());
    // Accents and case do not matter.
    let new = json!({"firstName": "Niccolò", "lastName": "D'Angelo", "fiscalCode": super::table::fresh_fiscal_code()});
    let created = api.post(&token, &format!("{MAIN}/patients"), &new).await;
    assert_eq!(created.status, StatusCode::CREATED);
    let hits = api
        .get_ok(
            &token,
            &format!("{MAIN}/patients?search=NICCOLO%20d'angelo"),
        )
        .await;
    assert_eq!(hits["items"][0]["id"], created.body["id"], "{hits}");
    assert_eq!(hits["totalCount"], 1);
    // LIKE wildcards are literal.
    assert_eq!(
        api.get_ok(&token, &format!("{MAIN}/patients?search=%25"))
            .await["totalCount"],
        0
    );
}

#[tokio::test]
async fn list_filters_select_what_they_say() {
    let api = Api::start().await;
    let token = support::full_token(&api.sandbox, MARIO);
    let reports = api
        .all(&token, &format!("{MAIN}/medicalreports?patientId=3"))
        .await;
    assert!(reports.iter().all(|r| r["patientId"] == 3));
    let episodes = api
        .all(&token, &format!("{MAIN}/episodes?patientId=3"))
        .await;
    assert!(episodes.iter().all(|e| e["patientId"] == 3));
    let invoices = api
        .all(&token, &format!("{MAIN}/invoices?patientId=3"))
        .await;
    assert!(invoices.iter().all(|i| i["patientId"] == 3));
    let today = chrono::Local::now().date_naive();
    let from = today - chrono::Duration::days(60);
    let recent = api
        .all(&token, &format!("{MAIN}/invoices?from={from}&to={today}"))
        .await;
    assert!(!recent.is_empty());
    assert!(
        recent
            .iter()
            .all(|i| i["date"].as_str().unwrap() >= from.to_string().as_str())
    );
    let day = api
        .all(
            &token,
            &format!("{MAIN}/appointments?from={today}&to={today}&agendaId=ag-fisioterapia"),
        )
        .await;
    for a in &day {
        assert_eq!(a["agendaId"], "ag-fisioterapia");
        assert!(
            a["start"].as_str().unwrap().starts_with(&today.to_string()),
            "{a}"
        );
    }
    // Free slots never overlap a booking of their agenda.
    let to = today + chrono::Duration::days(3);
    let slots = api
        .all(
            &token,
            &format!("{MAIN}/availabilities?agendaId=ag-cardiologia&from={today}&to={to}"),
        )
        .await;
    let booked = api
        .all(
            &token,
            &format!(
                "{MAIN}/appointments?agendaId=ag-cardiologia&status=booked&from={today}&to={to}"
            ),
        )
        .await;
    assert!(!slots.is_empty());
    let now = chrono::Local::now()
        .naive_local()
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string();
    for s in &slots {
        assert!(
            s["start"].as_str().unwrap() >= now.as_str(),
            "a slot that has begun: {s}"
        );
        assert_eq!(s["agendaId"], "ag-cardiologia");
        for b in &booked {
            assert!(
                !(b["start"].as_str() < s["end"].as_str()
                    && b["end"].as_str() > s["start"].as_str()),
                "{s} overlaps {b}"
            );
        }
    }
}

async fn snapshot(api: &Api) -> Vec<Value> {
    let mario = support::full_token(&api.sandbox, MARIO);
    let luca = support::full_token(&api.sandbox, LUCA);
    let mut all = Vec::new();
    for list in [
        "patients",
        "agendas",
        "appointments",
        "treatments",
        "pricelists",
        "episodes",
        "medicalreports",
        "invoices",
    ] {
        all.push(Value::Array(
            api.all(&mario, &format!("{MAIN}/{list}")).await,
        ));
        all.push(Value::Array(
            api.all(&luca, &format!("{OTHER}/{list}")).await,
        ));
    }
    all
}

#[tokio::test]
async fn two_fresh_sandboxes_hold_the_same_data_and_reseed_restores_it() {
    let a = Api::start().await;
    let b = Api::start().await;
    let seeded = snapshot(&a).await;
    assert_eq!(seeded, snapshot(&b).await);
    let token = support::full_token(&a.sandbox, MARIO);
    let new = json!({"firstName": "Ada", "lastName": "Neri", "fiscalCode": super::table::fresh_fiscal_code()});
    assert_eq!(
        a.post(&token, &format!("{MAIN}/patients"), &new)
            .await
            .status,
        StatusCode::CREATED
    );
    assert_ne!(seeded, snapshot(&a).await);
    a.sandbox.reseed().unwrap();
    assert_eq!(seeded, snapshot(&a).await);
}

#[tokio::test]
async fn a_file_store_keeps_writes_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sandbox.sqlite3");
    let config = |c: &mut giponext_sandbox::SandboxConfig| c.data_path = Some(path.clone());
    let api = Api::from(support::sandbox_with(config).await);
    let token = support::full_token(&api.sandbox, MARIO);
    let new = json!({"firstName": "Ada", "lastName": "Neri", "fiscalCode": super::table::fresh_fiscal_code()});
    let created = api.post(&token, &format!("{MAIN}/patients"), &new).await;
    assert_eq!(created.status, StatusCode::CREATED);
    let id = created.body["id"].as_i64().unwrap();
    let count = api.get_ok(&token, &format!("{MAIN}/patients")).await["totalCount"].clone();
    api.sandbox.shutdown().await;

    let api = Api::from(support::sandbox_with(config).await);
    let token = support::full_token(&api.sandbox, MARIO);
    let again = api.get_ok(&token, &format!("{MAIN}/patients/{id}")).await;
    assert_eq!(again, created.body);
    // Not seeded a second time.
    assert_eq!(
        api.get_ok(&token, &format!("{MAIN}/patients")).await["totalCount"],
        count
    );
}

#[tokio::test]
async fn the_default_seed_has_a_year_of_invoices_numbered_in_order() {
    let config = giponext_sandbox::SandboxConfig::for_tests();
    assert_eq!(config.seed_invoices, 1200);
    let api = Api::from(giponext_sandbox::start(config).await.unwrap());
    let token = support::full_token(&api.sandbox, MARIO);
    let invoices = api.all(&token, &format!("{MAIN}/invoices")).await;
    assert_eq!(invoices.len(), 1200);
    // Numbers run 1, 2, 3... within each year, in date order.
    let mut last: Option<(String, u32, String)> = None;
    for inv in &invoices {
        let number = inv["number"].as_str().unwrap();
        let (year, seq) = number.split_once('/').unwrap();
        let seq: u32 = seq.parse().unwrap();
        let date = inv["date"].as_str().unwrap().to_owned();
        assert!(date.starts_with(year), "{number} dated {date}");
        match &last {
            Some((y, s, d)) if y == year => {
                assert_eq!(seq, s + 1, "{number}");
                assert!(date >= *d);
            }
            _ => assert_eq!(seq, 1, "{number} opens its year"),
        }
        last = Some((year.to_owned(), seq, date));
    }
}
