//! Worker-id leases: each replica holds one worker id (0..=1023) so the ids it generates
//! never collide with another replica's. A lease lasts `ttl` and is renewed well before it
//! ends; a crashed replica's id becomes free once its lease runs out.

use purser_domain::Timestamp;
use purser_domain::id::MAX_WORKER;
use sqlx::{AnyConnection, Row};

use crate::{Result, StoreError};

/// Takes a free worker id for `holder`: the lowest expired one, else a never-used one.
/// Runs in the caller's transaction, and is safe while other replicas do the same: each
/// step claims a row in one statement that fails (changes nothing) when another replica
/// claimed it first, and then the next free id is tried.
pub async fn acquire(conn: &mut AnyConnection, holder: &str, now: Timestamp, ttl_ms: i64) -> Result<u16> {
    let expires = now.as_millis() + ttl_ms;
    // Each lost race means another replica got an id, so this ends within MAX_WORKER tries.
    for _ in 0..=MAX_WORKER {
        // The `expires_at` test is repeated outside the subquery: on PostgreSQL a second
        // replica that chose the same row waits for the first, then sees it taken. (SQLite
        // needs the `WHERE true` below to read `ON CONFLICT` as the insert's.)
        let reused = sqlx::query(
            "UPDATE worker_leases SET holder = $1, expires_at = $2 WHERE expires_at < $3 AND worker_id = \
             (SELECT MIN(worker_id) FROM worker_leases WHERE expires_at < $3) RETURNING worker_id",
        )
        .bind(holder)
        .bind(expires)
        .bind(now.as_millis())
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(row) = reused {
            return worker_id(row.try_get(0)?);
        }
        let fresh = sqlx::query(
            "INSERT INTO worker_leases (worker_id, holder, expires_at) \
             SELECT COALESCE(MAX(worker_id) + 1, 0), $1, $2 FROM worker_leases WHERE true \
             ON CONFLICT (worker_id) DO NOTHING RETURNING worker_id",
        )
        .bind(holder)
        .bind(expires)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(row) = fresh {
            let id: i64 = row.try_get(0)?;
            if id > i64::from(MAX_WORKER) {
                return Err(StoreError::Conflict("all 1024 worker ids are leased".into()));
            }
            return worker_id(id);
        }
    }
    Err(StoreError::Conflict("no worker id could be leased".into()))
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
