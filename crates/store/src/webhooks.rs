//! Webhooks and their deliveries (the delivery log and the retry queue).

use purser_domain::page::{Page, PageRequest};
use purser_domain::webhook::{Delivery, DeliveryStatus, Webhook};
use purser_domain::{Id, Timestamp};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::rows::{count, flag, id, opt_ts, parsed, ts};
use crate::{Result, StoreError};

const COLUMNS: &str = "id, org_id, url, event_types, active, created_by, created_at, updated_at";

fn webhook(row: &AnyRow) -> Result<Webhook> {
    let types: String = row.try_get("event_types")?;
    Ok(Webhook {
        id: id(row, "id")?,
        org_id: id(row, "org_id")?,
        url: row.try_get("url")?,
        event_types: types.split(',').map(str::to_owned).collect(),
        active: flag(row, "active")?,
        created_by: row.try_get::<Option<i64>, _>("created_by")?.map(Id::from_i64),
        created_at: ts(row, "created_at")?,
        updated_at: ts(row, "updated_at")?,
    })
}

pub async fn insert(conn: &mut AnyConnection, w: &Webhook, sealed_secret: &[u8]) -> Result<()> {
    sqlx::query(
        "INSERT INTO webhooks (id, org_id, url, event_types, active, secret, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(w.id.as_i64())
    .bind(w.org_id.as_i64())
    .bind(&w.url)
    .bind(w.event_types.join(","))
    .bind(w.active)
    .bind(sealed_secret)
    .bind(w.created_by.map(Id::as_i64))
    .bind(w.created_at.as_millis())
    .bind(w.updated_at.as_millis())
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get(conn: &mut AnyConnection, org_id: Id, webhook_id: Id) -> Result<Option<Webhook>> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM webhooks WHERE id = $1 AND org_id = $2"))
        .bind(webhook_id.as_i64())
        .bind(org_id.as_i64())
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(webhook)
        .transpose()
}

/// Where a webhook's deliveries go now and its sealed signing secret.
pub async fn target(conn: &mut AnyConnection, webhook_id: Id) -> Result<Option<(String, Vec<u8>)>> {
    let Some(row) = sqlx::query("SELECT url, secret FROM webhooks WHERE id = $1")
        .bind(webhook_id.as_i64())
        .fetch_optional(conn)
        .await?
    else {
        return Ok(None);
    };
    Ok(Some((row.try_get("url")?, row.try_get("secret")?)))
}

pub async fn list(conn: &mut AnyConnection, org_id: Id, page: PageRequest) -> Result<Page<Webhook>> {
    let total = count(
        &sqlx::query("SELECT COUNT(*) FROM webhooks WHERE org_id = $1")
            .bind(org_id.as_i64())
            .fetch_one(&mut *conn)
            .await?,
    )?;
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM webhooks WHERE org_id = $1 ORDER BY created_at, id LIMIT $2 OFFSET $3"
    ))
    .bind(org_id.as_i64())
    .bind(i64::from(page.limit))
    .bind(page.offset())
    .fetch_all(conn)
    .await?;
    Ok(Page { items: rows.iter().map(webhook).collect::<Result<_>>()?, page, total })
}

/// The organization's active webhooks (to fan an event out to).
pub async fn active_of(conn: &mut AnyConnection, org_id: Id) -> Result<Vec<Webhook>> {
    let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM webhooks WHERE org_id = $1 AND active = $2"))
        .bind(org_id.as_i64())
        .bind(true)
        .fetch_all(conn)
        .await?;
    rows.iter().map(webhook).collect()
}

pub async fn update(conn: &mut AnyConnection, w: &Webhook) -> Result<()> {
    let done =
        sqlx::query("UPDATE webhooks SET url = $1, event_types = $2, active = $3, updated_at = $4 WHERE id = $5")
            .bind(&w.url)
            .bind(w.event_types.join(","))
            .bind(w.active)
            .bind(w.updated_at.as_millis())
            .bind(w.id.as_i64())
            .execute(conn)
            .await?;
    if done.rows_affected() == 1 { Ok(()) } else { Err(StoreError::NotFound) }
}

pub async fn delete(conn: &mut AnyConnection, webhook_id: Id) -> Result<()> {
    sqlx::query("DELETE FROM webhook_deliveries WHERE webhook_id = $1")
        .bind(webhook_id.as_i64())
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM webhooks WHERE id = $1").bind(webhook_id.as_i64()).execute(conn).await?;
    Ok(())
}

const DELIVERY_COLUMNS: &str = "id, webhook_id, event_id, event_type, payload, status, attempts, next_attempt_at, \
                                last_status_code, last_error, created_at, updated_at";

fn delivery(row: &AnyRow) -> Result<Delivery> {
    Ok(Delivery {
        id: id(row, "id")?,
        webhook_id: id(row, "webhook_id")?,
        event_id: id(row, "event_id")?,
        event_type: row.try_get("event_type")?,
        payload: row.try_get("payload")?,
        status: parsed::<DeliveryStatus>(row, "status")?,
        attempts: u32::try_from(row.try_get::<i64, _>("attempts")?).unwrap_or(0),
        next_attempt_at: opt_ts(row, "next_attempt_at")?,
        last_status_code: row.try_get::<Option<i64>, _>("last_status_code")?.and_then(|c| u16::try_from(c).ok()),
        last_error: row.try_get("last_error")?,
        created_at: ts(row, "created_at")?,
        updated_at: ts(row, "updated_at")?,
    })
}

/// Queues a delivery; a second one of the same event to the same webhook is ignored (the
/// relay may fan an event out twice).
pub async fn enqueue(conn: &mut AnyConnection, d: &Delivery) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO webhook_deliveries ({DELIVERY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         ON CONFLICT (webhook_id, event_id) DO NOTHING"
    ))
    .bind(d.id.as_i64())
    .bind(d.webhook_id.as_i64())
    .bind(d.event_id.as_i64())
    .bind(&d.event_type)
    .bind(&d.payload)
    .bind(d.status.as_str())
    .bind(i64::from(d.attempts))
    .bind(d.next_attempt_at.map(Timestamp::as_millis))
    .bind(d.last_status_code.map(i64::from))
    .bind(&d.last_error)
    .bind(d.created_at.as_millis())
    .bind(d.updated_at.as_millis())
    .execute(conn)
    .await?;
    Ok(())
}

/// Pending deliveries whose attempt is due, oldest first.
pub async fn due(conn: &mut AnyConnection, now: Timestamp, limit: u32) -> Result<Vec<Delivery>> {
    let rows = sqlx::query(&format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= $1 \
         ORDER BY next_attempt_at, id LIMIT $2"
    ))
    .bind(now.as_millis())
    .bind(i64::from(limit))
    .fetch_all(conn)
    .await?;
    rows.iter().map(delivery).collect()
}

/// Takes a due delivery for one attempt by pushing its next attempt to `until`: of two
/// replicas claiming it, one wins (the other sees `next_attempt_at` changed).
pub async fn claim(conn: &mut AnyConnection, d: &Delivery, until: Timestamp) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE webhook_deliveries SET next_attempt_at = $1 WHERE id = $2 AND status = 'pending' AND next_attempt_at = $3",
    )
    .bind(until.as_millis())
    .bind(d.id.as_i64())
    .bind(d.next_attempt_at.map(Timestamp::as_millis))
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Writes an attempt's outcome.
pub async fn record(conn: &mut AnyConnection, d: &Delivery) -> Result<()> {
    sqlx::query(
        "UPDATE webhook_deliveries SET status = $1, attempts = $2, next_attempt_at = $3, last_status_code = $4, \
         last_error = $5, updated_at = $6 WHERE id = $7",
    )
    .bind(d.status.as_str())
    .bind(i64::from(d.attempts))
    .bind(d.next_attempt_at.map(Timestamp::as_millis))
    .bind(d.last_status_code.map(i64::from))
    .bind(&d.last_error)
    .bind(d.updated_at.as_millis())
    .bind(d.id.as_i64())
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn delivery_of(conn: &mut AnyConnection, webhook_id: Id, delivery_id: Id) -> Result<Option<Delivery>> {
    sqlx::query(&format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = $1 AND webhook_id = $2"))
        .bind(delivery_id.as_i64())
        .bind(webhook_id.as_i64())
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(delivery)
        .transpose()
}

/// A webhook's deliveries, newest first.
pub async fn deliveries(conn: &mut AnyConnection, webhook_id: Id, page: PageRequest) -> Result<Page<Delivery>> {
    let total = count(
        &sqlx::query("SELECT COUNT(*) FROM webhook_deliveries WHERE webhook_id = $1")
            .bind(webhook_id.as_i64())
            .fetch_one(&mut *conn)
            .await?,
    )?;
    let rows = sqlx::query(&format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = $1 \
         ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
    ))
    .bind(webhook_id.as_i64())
    .bind(i64::from(page.limit))
    .bind(page.offset())
    .fetch_all(conn)
    .await?;
    Ok(Page { items: rows.iter().map(delivery).collect::<Result<_>>()?, page, total })
}
