//! Worker-id leases: each replica holds one worker id (0..=1023) so the ids it generates
//! never collide with another replica's. A lease lasts `ttl` and is renewed well before it
//! ends; a crashed replica's id becomes free once its lease runs out.

use purser_domain::Timestamp;
use purser_domain::id::MAX_WORKER;
use sqlx::{AnyConnection, Row};

use crate::{Result, StoreError};

/// Takes the lowest free worker id for `holder`. Runs in the caller's transaction.
pub async fn acquire(conn: &mut AnyConnection, holder: &str, now: Timestamp, ttl_ms: i64) -> Result<u16> {
    let expires = now.as_millis() + ttl_ms;
    // Reuse an expired lease first, then take a never-used id.
    let row = sqlx::query(
        "UPDATE worker_leases SET holder = $1, expires_at = $2 WHERE worker_id = \
         (SELECT MIN(worker_id) FROM worker_leases WHERE expires_at < $3) RETURNING worker_id",
    )
    .bind(holder)
    .bind(expires)
    .bind(now.as_millis())
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(row) = row {
        return worker_id(row.try_get(0)?);
    }
    let row = sqlx::query("SELECT COALESCE(MAX(worker_id) + 1, 0) FROM worker_leases").fetch_one(&mut *conn).await?;
    let next: i64 = row.try_get(0)?;
    if next > i64::from(MAX_WORKER) {
        return Err(StoreError::Conflict("all 1024 worker ids are leased".into()));
    }
    sqlx::query("INSERT INTO worker_leases (worker_id, holder, expires_at) VALUES ($1, $2, $3)")
        .bind(next)
        .bind(holder)
        .bind(expires)
        .execute(conn)
        .await?;
    worker_id(next)
}

/// Extends a lease. Returns false if `holder` no longer holds `worker` (it expired and was
/// taken), in which case the caller must stop using that id and acquire another.
pub async fn renew(conn: &mut AnyConnection, worker: u16, holder: &str, now: Timestamp, ttl_ms: i64) -> Result<bool> {
    let done = sqlx::query("UPDATE worker_leases SET expires_at = $1 WHERE worker_id = $2 AND holder = $3")
        .bind(now.as_millis() + ttl_ms)
        .bind(i64::from(worker))
        .bind(holder)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Gives a worker id back at shutdown.
pub async fn release(conn: &mut AnyConnection, worker: u16, holder: &str) -> Result<()> {
    sqlx::query("UPDATE worker_leases SET expires_at = 0 WHERE worker_id = $1 AND holder = $2")
        .bind(i64::from(worker))
        .bind(holder)
        .execute(conn)
        .await?;
    Ok(())
}

fn worker_id(raw: i64) -> Result<u16> {
    u16::try_from(raw)
        .ok()
        .filter(|w| *w <= MAX_WORKER)
        .ok_or_else(|| StoreError::Corrupt(format!("worker id {raw} is out of range")))
}
