//! Data commands: preflight, export, patients.

use std::os::unix::fs::PermissionsExt;

use giponext_sandbox::testing::Consent;
use giponext_sandbox::users;
use serde_json::Value;

use crate::harness::*;

#[tokio::test]
async fn preflight_exits_5_with_the_missing_scopes_and_calls_nothing() {
    let env = Env::tests().await;
    env.logged_in_mario("invoices").await;
    let refreshes = env.sandbox.stats().refreshes();
    let out = env
        .run(&[
            "appointments",
            "book",
            "--agenda",
            "ag-1",
            "--patient",
            "1",
            "--start",
            "2026-12-01T09:00:00",
            "--end",
            "2026-12-01T09:30:00",
            "--non-interactive",
        ])
        .await;
    assert_eq!(out.code, 5, "{out:?}");
    let v: Value = serde_json::from_str(out.stdout.trim()).expect("one JSON line");
    assert_eq!(v["error"], "missing_scopes");
    assert_eq!(v["command"], "appointments book");
    assert_eq!(names(&v["missing"]), ["giponext.agenda"]);
    assert!(names(&v["granted"]).contains(&"giponext.invoices".to_owned()));
    assert_eq!(env.sandbox.stats().refreshes(), refreshes);
    // No terminal counts as non-interactive too.
    let out = env.run(&["patients", "list"]).await;
    assert_eq!(out.code, 5, "{out:?}");
    assert_eq!(
        names(&serde_json::from_str::<Value>(out.stdout.trim()).expect("JSON")["missing"]),
        ["giponext.patients"]
    );
}

#[tokio::test]
async fn export_pages_over_a_thousand_invoices_into_matching_csv() {
    let env = Env::tests().await;
    env.logged_in_mario("invoices").await;
    let file = env.dir.path().join("invoices.csv");
    let out = env
        .run(&[
            "invoices",
            "export",
            "--from",
            "2000-01-01",
            "--to",
            "2100-12-31",
            "--output",
            file.to_str().expect("utf-8"),
        ])
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        !out.stderr.contains('\r'),
        "no progress bar when stderr is not a terminal"
    );

    // What the API says, read directly page by page.
    let http = reqwest::Client::new();
    let token = env.stored_token("access_token");
    let mut expected = Vec::new();
    let mut offset = 0;
    loop {
        let page: Value = http
            .get(env.api(&format!("/v2/tenants/{}/invoices", users::TENANT_MAIN)))
            .query(&[
                ("from", "2000-01-01"),
                ("to", "2100-12-31"),
                ("offset", &offset.to_string()),
                ("limit", "100"),
            ])
            .bearer_auth(&token)
            .send()
            .await
            .expect("API")
            .json()
            .await
            .expect("JSON");
        let items = page["items"].as_array().expect("items").clone();
        offset += items.len();
        expected.extend(items);
        if page["hasMore"] != true {
            break;
        }
    }
    assert!(
        expected.len() >= 1000,
        "the sandbox seeds at least 1000 invoices: {}",
        expected.len()
    );

    let mode = std::fs::metadata(&file)
        .expect("export")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "the export is private");
    let mut reader = csv::Reader::from_path(&file).expect("CSV");
    let headers = reader.headers().expect("header").clone();
    assert_eq!(
        &headers,
        vec![
            "id",
            "number",
            "patientId",
            "date",
            "netCents",
            "vatCents",
            "totalCents",
            "lines"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
    assert_eq!(rows.len(), expected.len());
    for (row, inv) in rows.iter().zip(&expected) {
        let want = [
            inv["id"].to_string(),
            inv["number"].as_str().expect("number").to_owned(),
            inv["patientId"].to_string(),
            inv["date"].as_str().expect("date").to_owned(),
            inv["netCents"].to_string(),
            inv["vatCents"].to_string(),
            inv["totalCents"].to_string(),
            inv["lines"].as_array().expect("lines").len().to_string(),
        ];
        assert_eq!(
            row.iter().collect::<Vec<_>>(),
            want.iter().map(String::as_str).collect::<Vec<_>>()
        );
    }
}

#[tokio::test]
async fn patients_create_get_and_usage_errors() {
    let env = Env::tests().await;
    let bad = env
        .run(&[
            "patients",
            "create",
            "--first-name",
            "A",
            "--last-name",
            "B",
            "--fiscal-code",
            "NOTACODE",
        ])
        .await;
    assert_eq!(bad.code, 2, "checked before anything: {bad:?}");
    let bad = env
        .run(&[
            "invoices",
            "export",
            "--from",
            "2026-02-01",
            "--to",
            "2026-01-01",
        ])
        .await;
    assert_eq!(bad.code, 2, "{bad:?}");
    let bad = env.run(&["login", "--scope", "bogus"]).await;
    assert_eq!(bad.code, 2, "{bad:?}");

    env.logged_in_mario("patients").await;
    let birth = chrono::NaiveDate::from_ymd_opt(1991, 4, 7).expect("date");
    let code = giponext_shared::fiscal_code::FiscalCode::compute(
        "Esposito", "Chiara", birth, true, "F839",
    )
    .expect("a code")
    .as_str()
    .to_owned();
    let created = env
        .run(&[
            "patients",
            "create",
            "--first-name",
            "Chiara",
            "--last-name",
            "Esposito",
            "--fiscal-code",
            &code,
            "--birth-date",
            "1991-04-07",
            "--json",
        ])
        .await;
    assert_eq!(created.code, 0, "{created:?}");
    let id = json(&created)["id"].as_i64().expect("an id").to_string();
    let got = env.run(&["patients", "get", &id, "--json"]).await;
    assert_eq!(got.code, 0, "{got:?}");
    assert_eq!(json(&got)["fiscalCode"], code.as_str());
    let missing = env.run(&["patients", "get", "999999999"]).await;
    assert_eq!(missing.code, 7, "{missing:?}");
}

#[tokio::test]
async fn every_data_command_reads_and_books_and_cancels() {
    let env = Env::tests().await;
    env.logged_in(&["login"], users::MARIO, Consent::GrantAll)
        .await;
    let list = async |args: &[&str]| -> Vec<Value> {
        let out = env.run(args).await;
        assert_eq!(out.code, 0, "{args:?}: {out:?}");
        json(&out).as_array().expect("a JSON list").clone()
    };
    for args in [
        &["treatments", "--json"][..],
        &["pricelists", "--json"],
        &["episodes", "--json"],
        &["patients", "list", "--json"],
    ] {
        assert!(
            !list(args).await.is_empty(),
            "{args:?} lists the seeded data"
        );
    }
    let reports = list(&["reports", "list", "--json"]).await;
    let report_id = reports[0]["id"].to_string();
    let report = env.run(&["reports", "get", &report_id]).await;
    assert_eq!(report.code, 0, "{report:?}");
    let body = reports[0]
        .get("body")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if let Some(body) = body {
        assert!(
            report.stdout.contains(body.trim()),
            "the table shows the text"
        );
    }
    let invoices = list(&[
        "invoices",
        "list",
        "--from",
        "2000-01-01",
        "--to",
        "2100-01-01",
        "--json",
    ])
    .await;
    let invoice = env
        .run(&["invoices", "get", &invoices[0]["id"].to_string(), "--json"])
        .await;
    assert_eq!(json(&invoice)["number"], invoices[0]["number"]);

    // Book the first free slot the API offers, see it in the agenda, cancel it.
    let token = env.stored_token("access_token");
    let slots: Value = reqwest::Client::new()
        .get(env.api(&format!(
            "/v2/tenants/{}/availabilities",
            users::TENANT_MAIN
        )))
        .bearer_auth(&token)
        .send()
        .await
        .expect("API")
        .json()
        .await
        .expect("JSON");
    let slot = &slots["items"][0];
    let (start, end) = (
        slot["start"].as_str().expect("start"),
        slot["end"].as_str().expect("end"),
    );
    let patient = list(&["patients", "list", "--json"]).await[0]["id"].to_string();
    let booked = env
        .run(&[
            "appointments",
            "book",
            "--agenda",
            slot["agendaId"].as_str().expect("agenda"),
            "--patient",
            &patient,
            "--start",
            start,
            "--end",
            end,
            "--json",
        ])
        .await;
    assert_eq!(booked.code, 0, "{booked:?}");
    let booked = json(&booked);
    assert_eq!(booked["status"], "booked");
    let id = booked["id"].to_string();
    let day = &start[..10];
    let agenda = list(&["agenda", "--from", day, "--to", day, "--json"]).await;
    assert!(
        agenda.iter().any(|a| a["id"] == booked["id"]),
        "the agenda shows it"
    );
    let cancelled = env.run(&["appointments", "cancel", &id, "--json"]).await;
    assert_eq!(cancelled.code, 0, "{cancelled:?}");
    assert_eq!(json(&cancelled)["status"], "cancelled");
    let again = env.run(&["appointments", "cancel", &id]).await;
    assert_eq!(again.code, 7, "cancelling twice is a conflict: {again:?}");
    assert!(again.stderr.contains("conflict"), "{}", again.stderr);
}
