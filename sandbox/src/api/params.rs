//! Reading query strings and JSON bodies: every mistake becomes a 400 (or a
//! 422) naming the parameter, never a 500.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use giponext_shared::api::{Page, PageQuery, field_codes};
use rusqlite::types::Value;
use rusqlite::{Connection, params_from_iter};
use serde::de::DeserializeOwned;

use super::error::ApiFailure;

/// The decoded query string of a request.
#[derive(Debug, Default, Clone)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Decodes a raw query string (`None` when the URL has none).
    pub fn parse(raw: Option<&str>) -> Result<Query, ApiFailure> {
        let pairs: Vec<(String, String)> = match raw {
            Some(raw) => serde_urlencoded::from_str(raw).map_err(|e| {
                ApiFailure::BadRequest(format!("the query string cannot be decoded: {e}"))
            })?,
            None => Vec::new(),
        };
        Ok(Query { pairs })
    }

    /// The value of `name`, if present and not empty; a repeated parameter is
    /// refused rather than guessed at.
    pub fn get(&self, name: &str) -> Result<Option<&str>, ApiFailure> {
        let mut values = self
            .pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str());
        let first = values.next();
        if values.next().is_some() {
            return Err(ApiFailure::BadRequest(format!(
                "query parameter {name} is given more than once"
            )));
        }
        Ok(first.map(str::trim).filter(|v| !v.is_empty()))
    }

    /// `name` as an integer.
    pub fn i64(&self, name: &str) -> Result<Option<i64>, ApiFailure> {
        self.get(name)?
            .map(|v| {
                v.parse::<i64>().map_err(|_| {
                    ApiFailure::BadRequest(format!(
                        "query parameter {name} must be an integer, got {v:?}"
                    ))
                })
            })
            .transpose()
    }

    /// `name` as a date (`YYYY-MM-DD`).
    pub fn date(&self, name: &str) -> Result<Option<NaiveDate>, ApiFailure> {
        self.get(name)?
            .map(|v| {
                NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| {
                    ApiFailure::BadRequest(format!(
                        "query parameter {name} must be a date YYYY-MM-DD, got {v:?}"
                    ))
                })
            })
            .transpose()
    }

    /// `name` as a date or a local date-time. A bare date means the start of
    /// that day for `from`, and the end of it (the next midnight) for `to`.
    pub fn bound(&self, name: &str, end_of_day: bool) -> Result<Option<NaiveDateTime>, ApiFailure> {
        let Some(v) = self.get(name)? else {
            return Ok(None);
        };
        if let Ok(date) = NaiveDate::parse_from_str(v, "%Y-%m-%d") {
            let day = if end_of_day {
                date.succ_opt().unwrap_or(date)
            } else {
                date
            };
            return Ok(Some(day.and_time(NaiveTime::MIN)));
        }
        for format in [
            "%Y-%m-%dT%H:%M:%S",
            "%Y-%m-%dT%H:%M",
            "%Y-%m-%dT%H:%M:%S%.f",
        ] {
            if let Ok(dt) = NaiveDateTime::parse_from_str(v, format) {
                return Ok(Some(dt));
            }
        }
        Err(ApiFailure::BadRequest(format!(
            "query parameter {name} must be a date (YYYY-MM-DD) or a local date-time (YYYY-MM-DDTHH:MM:SS), got {v:?}"
        )))
    }

    /// `offset` and `limit`, checked.
    pub fn page(&self) -> Result<PageQuery, ApiFailure> {
        let number = |name: &str| -> Result<Option<u64>, ApiFailure> {
            self.get(name)?
                .map(|v| {
                    v.parse::<u64>().map_err(|_| {
                        ApiFailure::BadRequest(format!(
                            "query parameter {name} must be a whole number >= 0, got {v:?}"
                        ))
                    })
                })
                .transpose()
        };
        let offset = number("offset")?.unwrap_or(0);
        let limit = number("limit")?.unwrap_or(PageQuery::DEFAULT_LIMIT);
        if limit == 0 || limit > PageQuery::MAX_LIMIT {
            return Err(ApiFailure::BadRequest(format!(
                "query parameter limit must be between 1 and {}, got {limit}",
                PageQuery::MAX_LIMIT
            )));
        }
        if offset > i64::MAX as u64 {
            return Err(ApiFailure::BadRequest(
                "query parameter offset is too large".into(),
            ));
        }
        Ok(PageQuery { offset, limit })
    }
}

/// Builds the page envelope.
pub fn page_of<T>(items: Vec<T>, total_count: u64, page: PageQuery) -> Page<T> {
    let has_more = page.offset.saturating_add(items.len() as u64) < total_count;
    Page {
        items,
        total_count,
        offset: page.offset,
        limit: page.limit,
        has_more,
    }
}

/// Parses a JSON body: malformed JSON is a 400, the wrong shape a 422.
pub fn json_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiFailure> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiFailure::BadRequest("a JSON body is required".into()));
    }
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| ApiFailure::BadRequest(format!("the body is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(ApiFailure::BadRequest(
            "the body must be a JSON object".into(),
        ));
    }
    // serde_path_to_error names the field that failed, e.g.
    // `lines[1].quantity`, so a wrong type gets a field error like any other.
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        // A missing field is reported at its parent; serde names it.
        let missing = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next());
        let field = match (missing, path.as_str()) {
            (Some(name), ".") => name.to_owned(),
            (Some(name), parent) => format!("{parent}.{name}"),
            (None, ".") => "body".to_owned(),
            (None, path) => path.to_owned(),
        };
        ApiFailure::field(&field, field_codes::INVALID, message)
    })
}

/// The `WHERE` clause of a list: always the tenant, plus the filters asked for.
pub struct Filter {
    clauses: Vec<String>,
    values: Vec<Value>,
}

impl Filter {
    /// Rows of `tenant` only.
    pub fn tenant(tenant: &str) -> Filter {
        Filter {
            clauses: vec!["tenant_id = ?".into()],
            values: vec![Value::Text(tenant.to_owned())],
        }
    }

    /// Adds a condition with `?` placeholders and their values, in order.
    pub fn and(&mut self, clause: &str, values: impl IntoIterator<Item = Value>) {
        self.clauses.push(format!("({clause})"));
        self.values.extend(values);
    }

    /// Reads one page of `SELECT {columns} FROM {table}` in `order`, with the
    /// total count of the filtered list.
    pub fn page<T>(
        &self,
        conn: &Connection,
        table: &str,
        columns: &str,
        order: &str,
        page: PageQuery,
        map: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Page<T>, ApiFailure> {
        let where_sql = self.clauses.join(" AND ");
        let total: i64 = conn.query_row(
            &format!("SELECT COUNT(*) FROM {table} WHERE {where_sql}"),
            params_from_iter(self.values.iter()),
            |r| r.get(0),
        )?;
        let mut values = self.values.clone();
        values.push(Value::Integer(page.limit as i64));
        values.push(Value::Integer(page.offset as i64));
        let mut stmt = conn.prepare(&format!(
            "SELECT {columns} FROM {table} WHERE {where_sql} ORDER BY {order} LIMIT ? OFFSET ?"
        ))?;
        let items = stmt
            .query_map(params_from_iter(values.iter()), map)?
            .collect::<rusqlite::Result<Vec<T>>>()?;
        Ok(page_of(items, total as u64, page))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn paging_defaults_and_limits() {
        let q = Query::parse(None).unwrap();
        assert_eq!(
            q.page().unwrap(),
            PageQuery {
                offset: 0,
                limit: 20
            }
        );
        let q = Query::parse(Some("offset=40&limit=100")).unwrap();
        assert_eq!(
            q.page().unwrap(),
            PageQuery {
                offset: 40,
                limit: 100
            }
        );
        for bad in [
            "limit=0",
            "limit=101",
            "limit=-1",
            "offset=x",
            "limit=1&limit=2",
        ] {
            let err = Query::parse(Some(bad)).unwrap().page().unwrap_err();
            assert!(matches!(err, ApiFailure::BadRequest(_)), "{bad}");
        }
    }

    #[test]
    fn bounds_accept_dates_and_datetimes() {
        let q = Query::parse(Some("from=2026-03-02&to=2026-03-02&at=2026-03-02T10:30")).unwrap();
        assert_eq!(
            q.bound("from", false).unwrap().unwrap().to_string(),
            "2026-03-02 00:00:00"
        );
        assert_eq!(
            q.bound("to", true).unwrap().unwrap().to_string(),
            "2026-03-03 00:00:00"
        );
        assert_eq!(
            q.bound("at", true).unwrap().unwrap().to_string(),
            "2026-03-02 10:30:00"
        );
        assert!(
            Query::parse(Some("from=yesterday"))
                .unwrap()
                .bound("from", false)
                .is_err()
        );
    }

    #[test]
    fn bodies_tell_syntax_from_shape() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct In {
            n: i64,
        }
        assert!(matches!(
            json_body::<In>(b"{").unwrap_err(),
            ApiFailure::BadRequest(_)
        ));
        assert!(matches!(
            json_body::<In>(b"").unwrap_err(),
            ApiFailure::BadRequest(_)
        ));
        assert!(matches!(
            json_body::<In>(b"[1]").unwrap_err(),
            ApiFailure::BadRequest(_)
        ));
        match json_body::<In>(b"{}").unwrap_err() {
            ApiFailure::Validation(f) => assert_eq!(f[0].field, "n"),
            other => panic!("{other:?}"),
        }
        match json_body::<In>(br#"{"n":"x"}"#).unwrap_err() {
            ApiFailure::Validation(f) => assert_eq!(f[0].field, "n"),
            other => panic!("{other:?}"),
        }
        assert_eq!(json_body::<In>(br#"{"n":3}"#).unwrap().n, 3);
    }
}
