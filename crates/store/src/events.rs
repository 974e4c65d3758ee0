//! The event outbox, and the lease that lets one replica at a time publish it.

use purser_domain::event::Event;
use purser_domain::{Id, Timestamp};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::Result;
use crate::rows::{id, ts};

/// Writes an event in the caller's transaction (the change's own).
pub async fn append(conn: &mut AnyConnection, event: &Event) -> Result<()> {
    write(conn, event, "").await
}

/// Appends an event unless one with its id is there (moved from a tenant's outbox again).
pub async fn append_once(conn: &mut AnyConnection, event: &Event) -> Result<()> {
    write(conn, event, " ON CONFLICT (id) DO NOTHING").await
}

async fn write(conn: &mut AnyConnection, event: &Event, on_conflict: &str) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO events (id, type, org_id, actor_id, occurred_at, data) VALUES ($1, $2, $3, $4, $5, $6){on_conflict}"
    ))
        .bind(event.id.as_i64())
        .bind(&event.kind)
        .bind(event.org_id.map(Id::as_i64))
        .bind(event.actor_id.map(Id::as_i64))
        .bind(event.occurred_at.as_millis())
        .bind(&event.data)
        .execute(conn)
        .await?;
    Ok(())
}

fn event(row: &AnyRow) -> Result<(i64, Event)> {
    let optional = |col: &str| -> Result<Option<Id>> { Ok(row.try_get::<Option<i64>, _>(col)?.map(Id::from_i64)) };
    Ok((
        row.try_get("seq")?,
        Event {
            id: id(row, "id")?,
            kind: row.try_get("type")?,
            org_id: optional("org_id")?,
            actor_id: optional("actor_id")?,
            occurred_at: ts(row, "occurred_at")?,
            data: row.try_get("data")?,
        },
    ))
}

/// Events not published yet, oldest first, with their place in the outbox.
pub async fn unpublished(conn: &mut AnyConnection, limit: u32) -> Result<Vec<(i64, Event)>> {
    let rows = sqlx::query(
        "SELECT seq, id, type, org_id, actor_id, occurred_at, data FROM events WHERE published_at IS NULL \
         ORDER BY seq LIMIT $1",
    )
    .bind(i64::from(limit))
    .fetch_all(conn)
    .await?;
    rows.iter().map(event).collect()
}

pub async fn mark_published(conn: &mut AnyConnection, seq: i64, at: Timestamp) -> Result<()> {
    sqlx::query("UPDATE events SET published_at = $1 WHERE seq = $2")
        .bind(at.as_millis())
        .bind(seq)
        .execute(conn)
        .await?;
    Ok(())
}

/// Events published before `published_before`, or never published and older than
/// `unpublished_before`, are removed. Returns how many.
pub async fn prune(
    conn: &mut AnyConnection,
    published_before: Timestamp,
    unpublished_before: Timestamp,
) -> Result<u64> {
    let done = sqlx::query(
        "DELETE FROM events WHERE (published_at IS NOT NULL AND published_at < $1) \
         OR (published_at IS NULL AND occurred_at < $2)",
    )
    .bind(published_before.as_millis())
    .bind(unpublished_before.as_millis())
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// Takes or renews the lease `name` for `holder` until `now + ttl_ms`: granted when it is
/// free, expired, or already the holder's. One statement, so of two replicas racing for
/// it exactly one wins.
pub async fn hold_lease(
    conn: &mut AnyConnection,
    name: &str,
    holder: &str,
    now: Timestamp,
    ttl_ms: i64,
) -> Result<bool> {
    let granted = sqlx::query(
        "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
         WHERE leases.expires_at < $4 OR leases.holder = excluded.holder RETURNING holder",
    )
    .bind(name)
    .bind(holder)
    .bind(now.as_millis() + ttl_ms)
    .bind(now.as_millis())
    .fetch_optional(conn)
    .await?;
    Ok(granted.is_some())
}

/// Gives the lease up (a replica shutting down), so another takes over at once.
pub async fn release_lease(conn: &mut AnyConnection, name: &str, holder: &str) -> Result<()> {
    sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2").bind(name).bind(holder).execute(conn).await?;
    Ok(())
}
