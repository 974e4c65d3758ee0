//! The change log: what changed (a kind and an id), so every replica can reload it.

use purser_domain::{Id, Timestamp};
use sqlx::{AnyConnection, Row};

use crate::Result;
use crate::rows::{id, ts};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedChange {
    pub seq: i64,
    pub kind: String,
    pub entity_id: Id,
    pub at: Timestamp,
}

pub async fn append(conn: &mut AnyConnection, kind: &str, entity_id: Id, at: Timestamp) -> Result<()> {
    sqlx::query("INSERT INTO change_log (kind, entity_id, created_at) VALUES ($1, $2, $3)")
        .bind(kind)
        .bind(entity_id.as_i64())
        .bind(at.as_millis())
        .execute(conn)
        .await?;
    Ok(())
}

/// Entries after `seq`, oldest first, at most `limit`.
pub async fn after(conn: &mut AnyConnection, seq: i64, limit: u32) -> Result<Vec<LoggedChange>> {
    let rows =
        sqlx::query("SELECT seq, kind, entity_id, created_at FROM change_log WHERE seq > $1 ORDER BY seq LIMIT $2")
            .bind(seq)
            .bind(i64::from(limit))
            .fetch_all(conn)
            .await?;
    rows.iter()
        .map(|r| {
            Ok(LoggedChange {
                seq: r.try_get("seq")?,
                kind: r.try_get("kind")?,
                entity_id: id(r, "entity_id")?,
                at: ts(r, "created_at")?,
            })
        })
        .collect()
}

/// The newest entry's sequence number (0 when the log is empty).
pub async fn last_seq(conn: &mut AnyConnection) -> Result<i64> {
    let row = sqlx::query("SELECT CAST(COALESCE(MAX(seq), 0) AS BIGINT) FROM change_log").fetch_one(conn).await?;
    Ok(row.try_get(0)?)
}

/// Removes entries older than `before`; returns how many.
pub async fn prune(conn: &mut AnyConnection, before: Timestamp) -> Result<u64> {
    let done =
        sqlx::query("DELETE FROM change_log WHERE created_at < $1").bind(before.as_millis()).execute(conn).await?;
    Ok(done.rows_affected())
}
