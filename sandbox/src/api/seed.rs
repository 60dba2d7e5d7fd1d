//! The seeded clinic: generated deterministically from a fixed PRNG seed and
//! the seed date, so two fresh sandboxes started on the same day hold exactly
//! the same data.

use chrono::{Datelike, Duration, NaiveDate, NaiveTime};
use giponext_shared::api::InvoiceLine;
use giponext_shared::fiscal_code::FiscalCode;
use rusqlite::{Transaction, params};

use super::seed_data::{self as data, AgendaSeed, TreatmentSeed};
use crate::users;

/// SplitMix64: tiny, fast, and the same on every platform and version (the
/// seed must not change under us when a dependency is upgraded). Not for
/// anything secret.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// How much of everything one tenant gets.
struct Plan {
    tenant: &'static str,
    seed: u64,
    patients: u32,
    agendas: &'static [AgendaSeed],
    treatments: Vec<&'static TreatmentSeed>,
    episodes: u32,
    reports: u32,
    invoices: u32,
}

const PRIVATE_LIST: &str = "pl-privati";
const AGREEMENT_LIST: &str = "pl-convenzioni";

/// Seeds both tenants into empty tables.
pub fn seed(tx: &Transaction<'_>, today: NaiveDate, invoices: u32) -> rusqlite::Result<()> {
    let plans = [
        Plan {
            tenant: users::TENANT_MAIN,
            seed: 0x6769_706f_6e65_7874,
            patients: 60,
            agendas: data::AGENDAS_MAIN,
            treatments: data::TREATMENTS.iter().collect(),
            episodes: 40,
            reports: 60,
            invoices,
        },
        Plan {
            tenant: users::TENANT_OTHER,
            seed: 0x7361_6e74_6163_6869,
            patients: 15,
            agendas: data::AGENDAS_OTHER,
            treatments: data::TREATMENTS
                .iter()
                .filter(|t| data::TREATMENTS_OTHER.contains(&t.id))
                .collect(),
            episodes: 8,
            reports: 12,
            invoices: invoices / 10,
        },
    ];
    for plan in &plans {
        seed_tenant(tx, plan, today)?;
    }
    Ok(())
}

fn seed_tenant(tx: &Transaction<'_>, plan: &Plan, today: NaiveDate) -> rusqlite::Result<()> {
    let mut rng = Rng::new(plan.seed);
    let patients = seed_patients(tx, plan, &mut rng)?;
    seed_catalogue(tx, plan)?;
    for agenda in plan.agendas {
        tx.execute(
            "INSERT INTO api_agendas (tenant_id, id, name, practitioner, specialty, weekdays, hours, slot_minutes)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                plan.tenant,
                agenda.id,
                format!("{} - {}", agenda.specialty, agenda.practitioner),
                agenda.practitioner,
                agenda.specialty,
                agenda.weekdays,
                agenda.hours,
                agenda.slot_minutes
            ],
        )?;
    }
    seed_appointments(tx, plan, &patients, today, &mut rng)?;
    seed_clinical(tx, plan, &patients, today, &mut rng)?;
    seed_invoices(tx, plan, &patients, today, &mut rng)
}

fn ascii_lower(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'à' | 'á' => 'a',
            'è' | 'é' => 'e',
            'ì' | 'í' => 'i',
            'ò' | 'ó' => 'o',
            'ù' | 'ú' => 'u',
            other => other.to_ascii_lowercase(),
        })
        .filter(char::is_ascii_alphabetic)
        .collect()
}

fn seed_patients(tx: &Transaction<'_>, plan: &Plan, rng: &mut Rng) -> rusqlite::Result<Vec<i64>> {
    let mut ids = Vec::new();
    let mut codes = std::collections::HashSet::new();
    let first_birth = NaiveDate::from_ymd_opt(1940, 1, 1).expect("a valid constant date");
    for _ in 0..plan.patients {
        let female = rng.chance(52);
        let names = if female {
            data::FEMALE_NAMES
        } else {
            data::MALE_NAMES
        };
        let first = *rng.pick(names);
        let last = *rng.pick(data::SURNAMES);
        let middle = rng
            .chance(8)
            .then(|| *rng.pick(names))
            .filter(|m| *m != first);
        let (_, place) = *rng.pick(data::BIRTHPLACES);
        let mut birth = first_birth + Duration::days(rng.below(70 * 365) as i64);
        let code = loop {
            let code = FiscalCode::compute(last, first, birth, female, place)
                .expect("seed birthplaces are well-formed cadastral codes");
            if codes.insert(code.as_str().to_owned()) {
                break code;
            }
            birth += Duration::days(1);
        };
        let email = rng.chance(70).then(|| {
            format!(
                "{}.{}{}@mail.example",
                ascii_lower(first),
                ascii_lower(last),
                rng.below(100)
            )
        });
        let phone = rng.chance(80).then(|| {
            format!(
                "+39 3{:02} {:03} {:04}",
                rng.below(60) + 20,
                rng.below(1000),
                rng.below(10000)
            )
        });
        tx.execute(
            "INSERT INTO api_patients (tenant_id, first_name, last_name, middle_name, fiscal_code, birth_date, sex, email, phone, version)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 1)",
            params![
                plan.tenant,
                first,
                last,
                middle,
                code.as_str(),
                birth.to_string(),
                if female { "F" } else { "M" },
                email,
                phone
            ],
        )?;
        ids.push(tx.last_insert_rowid());
    }
    Ok(ids)
}

fn seed_catalogue(tx: &Transaction<'_>, plan: &Plan) -> rusqlite::Result<()> {
    for t in &plan.treatments {
        tx.execute(
            "INSERT INTO api_treatments (tenant_id, id, code, name, duration_minutes, category) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![plan.tenant, t.id, t.code, t.name, t.minutes, t.category],
        )?;
    }
    for (id, name) in [
        (PRIVATE_LIST, "Listino privati"),
        (AGREEMENT_LIST, "Listino convenzioni"),
    ] {
        tx.execute(
            "INSERT INTO api_price_lists (tenant_id, id, name, currency) VALUES (?1, ?2, ?3, 'EUR')",
            params![plan.tenant, id, name],
        )?;
        for t in &plan.treatments {
            let price = if id == PRIVATE_LIST {
                t.private_cents
            } else {
                t.agreement_cents
            };
            tx.execute(
                "INSERT INTO api_price_list_items (tenant_id, price_list_id, treatment_id, price_cents, vat_rate_percent)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![plan.tenant, id, t.id, price, t.vat],
            )?;
        }
    }
    Ok(())
}

/// Parses `HH:MM-HH:MM,...` working periods.
pub fn periods(hours: &str) -> Vec<(NaiveTime, NaiveTime)> {
    hours
        .split(',')
        .filter_map(|p| {
            let (a, b) = p.trim().split_once('-')?;
            Some((
                NaiveTime::parse_from_str(a, "%H:%M").ok()?,
                NaiveTime::parse_from_str(b, "%H:%M").ok()?,
            ))
        })
        .collect()
}

/// Whether an agenda works on `day` (`weekdays` holds ISO numbers, 1 = Monday).
pub fn works_on(weekdays: &str, day: NaiveDate) -> bool {
    let n = day.weekday().number_from_monday();
    weekdays.chars().any(|c| c.to_digit(10) == Some(n))
}

fn seed_appointments(
    tx: &Transaction<'_>,
    plan: &Plan,
    patients: &[i64],
    today: NaiveDate,
    rng: &mut Rng,
) -> rusqlite::Result<()> {
    // This week and the next, from Monday: "the agenda" shows something on
    // whichever day the sandbox starts.
    let monday = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
    for offset in 0..14 {
        let day = monday + Duration::days(offset);
        for agenda in plan.agendas {
            if !works_on(agenda.weekdays, day) {
                continue;
            }
            let slot = Duration::minutes(i64::from(agenda.slot_minutes));
            for (open, close) in periods(agenda.hours) {
                let mut start = day.and_time(open);
                while start + slot <= day.and_time(close) {
                    if rng.chance(55) {
                        let status = if rng.chance(6) { "cancelled" } else { "booked" };
                        let notes = match rng.below(10) {
                            0 => Some("Prima visita"),
                            1 => Some("Controllo"),
                            2 => Some("Portare esami precedenti"),
                            _ => None,
                        };
                        tx.execute(
                            "INSERT INTO api_appointments (tenant_id, agenda_id, patient_id, treatment_id, start, end, status, notes)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                            params![
                                plan.tenant,
                                agenda.id,
                                rng.pick(patients),
                                rng.pick(agenda.treatments),
                                super::fmt_datetime(start),
                                super::fmt_datetime(start + slot),
                                status,
                                notes
                            ],
                        )?;
                    }
                    start += slot;
                }
            }
        }
    }
    Ok(())
}

fn author_for(plan: &Plan, treatment: &str) -> &'static str {
    plan.agendas
        .iter()
        .find(|a| a.treatments.contains(&treatment))
        .unwrap_or(&plan.agendas[0])
        .practitioner
}

fn treatment_name(treatment: &str) -> &'static str {
    data::TREATMENTS
        .iter()
        .find(|t| t.id == treatment)
        .map_or("Prestazione", |t| t.name)
}

fn seed_clinical(
    tx: &Transaction<'_>,
    plan: &Plan,
    patients: &[i64],
    today: NaiveDate,
    rng: &mut Rng,
) -> rusqlite::Result<()> {
    let mut episodes = Vec::new();
    for _ in 0..plan.episodes {
        let patient = *rng.pick(patients);
        let (title, treatment) = *rng.pick(data::EPISODES);
        let opened = today - Duration::days(rng.below(365) as i64 + 10);
        let closed = rng
            .chance(40)
            .then(|| opened + Duration::days(rng.below(90) as i64 + 7))
            .filter(|d| *d <= today);
        let notes = rng
            .chance(30)
            .then_some("Paziente seguito anche dal medico di medicina generale.");
        tx.execute(
            "INSERT INTO api_episodes (tenant_id, patient_id, title, status, opened_on, closed_on, notes, version)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1)",
            params![
                plan.tenant,
                patient,
                title,
                if closed.is_some() { "closed" } else { "open" },
                opened.to_string(),
                closed.map(|d| d.to_string()),
                notes
            ],
        )?;
        episodes.push((tx.last_insert_rowid(), patient, title, treatment, opened));
    }
    let mut reports = Vec::new();
    for _ in 0..plan.reports {
        let (patient, episode, reason, treatment, earliest) =
            if !episodes.is_empty() && rng.chance(75) {
                let &(id, patient, title, treatment, opened) = rng.pick(&episodes);
                (patient, Some(id), title, treatment, opened)
            } else {
                let agenda = rng.pick(plan.agendas);
                let treatment = *rng.pick(agenda.treatments);
                (
                    *rng.pick(patients),
                    None,
                    "controllo",
                    treatment,
                    today - Duration::days(365),
                )
            };
        let span = (today - earliest).num_days().max(1) as u64;
        let day = earliest + Duration::days(rng.below(span) as i64);
        let at = day.and_time(NaiveTime::from_hms_opt(9, 0, 0).expect("a valid constant time"))
            + Duration::minutes(rng.below(9 * 60) as i64);
        let body = format!(
            "Prestazione: {}.\nMotivo dell'accesso: {}.\nConclusioni: {}",
            treatment_name(treatment),
            reason.to_lowercase(),
            rng.pick(data::FINDINGS)
        );
        reports.push((
            at,
            patient,
            episode,
            format!("Referto - {}", treatment_name(treatment)),
            body,
            treatment,
        ));
    }
    // Reports are numbered in the order they were written.
    reports.sort_by_key(|r| r.0);
    for (at, patient, episode, title, body, treatment) in reports {
        tx.execute(
            "INSERT INTO api_medical_reports (tenant_id, patient_id, episode_id, title, body, author, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![plan.tenant, patient, episode, title, body, author_for(plan, treatment), super::fmt_datetime(at)],
        )?;
    }
    Ok(())
}

fn seed_invoices(
    tx: &Transaction<'_>,
    plan: &Plan,
    patients: &[i64],
    today: NaiveDate,
    rng: &mut Rng,
) -> rusqlite::Result<()> {
    let mut dates: Vec<NaiveDate> = (0..plan.invoices)
        .map(|_| today - Duration::days(rng.below(365) as i64))
        .collect();
    dates.sort();
    for date in dates {
        let private = rng.chance(70);
        let mut lines = Vec::new();
        for _ in 0..=rng.below(3) {
            let t = *rng.pick(&plan.treatments);
            if lines.iter().any(|l: &InvoiceLine| l.treatment_id == t.id) {
                continue;
            }
            let quantity = if t.category == "Fisioterapia" {
                rng.below(10) as u32 + 1
            } else {
                1
            };
            lines.push(InvoiceLine {
                treatment_id: t.id.to_owned(),
                description: t.name.to_owned(),
                quantity,
                unit_price_cents: if private {
                    t.private_cents
                } else {
                    t.agreement_cents
                },
                vat_rate_percent: t.vat,
            });
        }
        let number = super::invoices::next_number(tx, plan.tenant, date)?;
        super::invoices::insert(tx, plan.tenant, &number, *rng.pick(patients), date, &lines)?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_fixed() {
        let mut a = Rng::new(1);
        let mut b = Rng::new(1);
        let xs: Vec<u64> = (0..5).map(|_| a.next()).collect();
        assert_eq!(xs, (0..5).map(|_| b.next()).collect::<Vec<_>>());
        // SplitMix64's published first output for seed 1.
        assert_eq!(Rng::new(1).next(), 0x910A_2DEC_8902_5CC1);
    }

    #[test]
    fn working_hours_parse() {
        let p = periods("08:30-13:00,14:00-17:30");
        assert_eq!(p.len(), 2);
        assert_eq!(p[1].1, NaiveTime::from_hms_opt(17, 30, 0).unwrap());
        let monday = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        assert!(works_on("135", monday));
        assert!(!works_on("24", monday));
    }
}
