//! The vault sync outbox: what the policy engine has not acknowledged yet.

use purser_domain::vault::SyncStatus;
use purser_domain::{Id, Timestamp};
use sqlx::{AnyConnection, Row};

use crate::Result;
use crate::rows::{flag, id};

/// A vault whose state the engine must be told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingSync {
    pub vault_id: Id,
    pub org_id: Id,
    pub version: i64,
    pub deleted: bool,
    pub attempts: u32,
}

/// Notes a change to the vault (or its deletion): the engine is told its state anew, at
/// once, and the vault shows `pending` until it acknowledges.
pub async fn note_change(
    conn: &mut AnyConnection,
    vault_id: Id,
    org_id: Id,
    deleted: bool,
    now: Timestamp,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO vault_syncs (vault_id, org_id, version, deleted, attempts, next_attempt_at, last_error, updated_at) \
         VALUES ($1, $2, 1, $3, 0, $4, NULL, $4) ON CONFLICT (vault_id) DO UPDATE SET \
         version = vault_syncs.version + 1, deleted = excluded.deleted, attempts = 0, \
         next_attempt_at = excluded.next_attempt_at, updated_at = excluded.updated_at",
    )
    .bind(vault_id.as_i64())
    .bind(org_id.as_i64())
    .bind(deleted)
    .bind(now.as_millis())
    .execute(&mut *conn)
    .await?;
    if !deleted {
        set_status(conn, vault_id, SyncStatus::Pending, None, None).await?;
    }
    Ok(())
}

async fn set_status(
    conn: &mut AnyConnection,
    vault_id: Id,
    status: SyncStatus,
    error: Option<&str>,
    synced_at: Option<Timestamp>,
) -> Result<()> {
    sqlx::query(
        "UPDATE vaults SET sync_status = $1, sync_error = $2, synced_at = COALESCE($3, synced_at) WHERE id = $4",
    )
    .bind(status.as_str())
    .bind(error)
    .bind(synced_at.map(Timestamp::as_millis))
    .bind(vault_id.as_i64())
    .execute(conn)
    .await?;
    Ok(())
}

/// Syncs due now, oldest first.
pub async fn due(conn: &mut AnyConnection, now: Timestamp, limit: u32) -> Result<Vec<PendingSync>> {
    let rows = sqlx::query(
        "SELECT vault_id, org_id, version, deleted, attempts FROM vault_syncs WHERE next_attempt_at <= $1 \
         ORDER BY next_attempt_at, vault_id LIMIT $2",
    )
    .bind(now.as_millis())
    .bind(i64::from(limit))
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(PendingSync {
                vault_id: id(row, "vault_id")?,
                org_id: id(row, "org_id")?,
                version: row.try_get("version")?,
                deleted: flag(row, "deleted")?,
                attempts: u32::try_from(row.try_get::<i64, _>("attempts")?).unwrap_or(u32::MAX),
            })
        })
        .collect()
}

/// Claims a due sync for this replica until `until`: false when another replica claimed it
/// first or it changed since it was read.
pub async fn claim(conn: &mut AnyConnection, sync: &PendingSync, now: Timestamp, until: Timestamp) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE vault_syncs SET next_attempt_at = $1 WHERE vault_id = $2 AND version = $3 AND next_attempt_at <= $4",
    )
    .bind(until.as_millis())
    .bind(sync.vault_id.as_i64())
    .bind(sync.version)
    .bind(now.as_millis())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The engine acknowledged this version: done, unless the vault changed meanwhile.
pub async fn acknowledged(conn: &mut AnyConnection, sync: &PendingSync, now: Timestamp) -> Result<()> {
    let done = sqlx::query("DELETE FROM vault_syncs WHERE vault_id = $1 AND version = $2")
        .bind(sync.vault_id.as_i64())
        .bind(sync.version)
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() == 1 && !sync.deleted {
        set_status(conn, sync.vault_id, SyncStatus::Synced, None, Some(now)).await?;
    }
    Ok(())
}

/// The attempt failed: retried at `retry_at`; the vault shows `failed` with the reason.
pub async fn failed(
    conn: &mut AnyConnection,
    sync: &PendingSync,
    error: &str,
    retry_at: Timestamp,
    now: Timestamp,
) -> Result<()> {
    let done = sqlx::query(
        "UPDATE vault_syncs SET attempts = attempts + 1, next_attempt_at = $1, last_error = $2, updated_at = $3 \
         WHERE vault_id = $4 AND version = $5",
    )
    .bind(retry_at.as_millis())
    .bind(error)
    .bind(now.as_millis())
    .bind(sync.vault_id.as_i64())
    .bind(sync.version)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 1 && !sync.deleted {
        set_status(conn, sync.vault_id, SyncStatus::Failed, Some(error), None).await?;
    }
    Ok(())
}

/// Asks for the vault's state to be sent again now (by hand).
pub async fn resync(conn: &mut AnyConnection, vault_id: Id, org_id: Id, now: Timestamp) -> Result<()> {
    note_change(conn, vault_id, org_id, false, now).await
}
