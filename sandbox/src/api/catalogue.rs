//! Treatments and price lists (read only).

use axum::http::StatusCode;
use giponext_shared::api::{PriceList, PriceListItem, Treatment};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params};

use super::dispatch::{Ctx, Reply, json};
use super::error::ApiFailure;
use super::params::{Filter, page_of};

const TREATMENT_COLUMNS: &str = "id, code, name, duration_minutes, category";

fn treatment_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Treatment> {
    Ok(Treatment {
        id: row.get(0)?,
        code: row.get(1)?,
        name: row.get(2)?,
        duration_minutes: row.get(3)?,
        category: row.get(4)?,
    })
}

/// `GET .../treatments?category=`.
pub fn list_treatments(conn: &mut Connection, ctx: &Ctx) -> Result<Reply, ApiFailure> {
    let page = ctx.query.page()?;
    let mut filter = Filter::tenant(&ctx.tenant);
    if let Some(category) = ctx.query.get("category")? {
        filter.and(
            "category = ? COLLATE NOCASE",
            [Value::Text(category.to_owned())],
        );
    }
    json(
        StatusCode::OK,
        &filter.page(
            conn,
            "api_treatments",
            TREATMENT_COLUMNS,
            "id",
            page,
            treatment_from_row,
        )?,
    )
}

/// `GET .../treatments/{treatmentId}`.
pub fn get_treatment(conn: &mut Connection, ctx: &Ctx) -> Result<Reply, ApiFailure> {
    let id = ctx.param("treatmentId");
    let found = conn
        .query_row(
            &format!(
                "SELECT {TREATMENT_COLUMNS} FROM api_treatments WHERE tenant_id = ?1 AND id = ?2"
            ),
            params![ctx.tenant, id],
            treatment_from_row,
        )
        .optional()?;
    match found {
        Some(t) => json(StatusCode::OK, &t),
        None => Err(ApiFailure::NotFound(format!("no treatment {id}"))),
    }
}

/// The items of a price list, by treatment id.
pub fn price_list_items(
    conn: &Connection,
    tenant: &str,
    list: &str,
) -> rusqlite::Result<Vec<PriceListItem>> {
    let mut stmt = conn.prepare_cached(
        "SELECT treatment_id, price_cents, vat_rate_percent FROM api_price_list_items
         WHERE tenant_id = ?1 AND price_list_id = ?2 ORDER BY treatment_id",
    )?;
    stmt.query_map(params![tenant, list], |r| {
        Ok(PriceListItem {
            treatment_id: r.get(0)?,
            price_cents: r.get(1)?,
            vat_rate_percent: r.get(2)?,
        })
    })?
    .collect()
}

fn list_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<PriceList> {
    Ok(PriceList {
        id: row.get(0)?,
        name: row.get(1)?,
        currency: row.get(2)?,
        items: Vec::new(),
    })
}

/// `GET .../pricelists`: each with its prices.
pub fn list_price_lists(conn: &mut Connection, ctx: &Ctx) -> Result<Reply, ApiFailure> {
    let page = ctx.query.page()?;
    let mut lists = Filter::tenant(&ctx.tenant).page(
        conn,
        "api_price_lists",
        "id, name, currency",
        "id",
        page,
        list_from_row,
    )?;
    for list in &mut lists.items {
        list.items = price_list_items(conn, &ctx.tenant, &list.id)?;
    }
    json(
        StatusCode::OK,
        &page_of(lists.items, lists.total_count, page),
    )
}

/// The price list `id` of `tenant`, with its prices.
pub fn find_price_list(
    conn: &Connection,
    tenant: &str,
    id: &str,
) -> rusqlite::Result<Option<PriceList>> {
    let list = conn
        .query_row(
            "SELECT id, name, currency FROM api_price_lists WHERE tenant_id = ?1 AND id = ?2",
            params![tenant, id],
            list_from_row,
        )
        .optional()?;
    match list {
        Some(mut list) => {
            list.items = price_list_items(conn, tenant, id)?;
            Ok(Some(list))
        }
        None => Ok(None),
    }
}

/// `GET .../pricelists/{priceListId}`.
pub fn get_price_list(conn: &mut Connection, ctx: &Ctx) -> Result<Reply, ApiFailure> {
    let id = ctx.param("priceListId");
    match find_price_list(conn, &ctx.tenant, id)? {
        Some(list) => json(StatusCode::OK, &list),
        None => Err(ApiFailure::NotFound(format!("no price list {id}"))),
    }
}
