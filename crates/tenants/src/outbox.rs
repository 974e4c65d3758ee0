//! A tenant's outbox: the audit entry and event of each change to its documents, written
//! in the change's own transaction, then moved to the main database (see the services'
//! `tenant_changes`).

use purser_domain::audit::AuditRecord;
use purser_domain::event::Event;
use purser_store::AnyConnection;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::Result;

/// What the main database is to receive for one change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantChange {
    pub audit: AuditRecord,
    pub event: Option<Event>,
}

/// Writes a change; call in the transaction of the change itself.
pub async fn push(conn: &mut AnyConnection, change: &TenantChange) -> Result<()> {
    let text = serde_json::to_string(change).map_err(|e| purser_store::StoreError::Corrupt(e.to_string()))?;
    sqlx::query("INSERT INTO outbox (id, change) VALUES ($1, $2)")
        .bind(change.audit.id.as_i64())
        .bind(text)
        .execute(conn)
        .await
        .map_err(purser_store::StoreError::from)?;
    Ok(())
}

/// The oldest `limit` changes waiting, in the order they were made.
pub async fn pending(conn: &mut AnyConnection, limit: u32) -> Result<Vec<TenantChange>> {
    let rows = sqlx::query("SELECT change FROM outbox ORDER BY id LIMIT $1")
        .bind(i64::from(limit))
        .fetch_all(conn)
        .await
        .map_err(purser_store::StoreError::from)?;
    rows.iter()
        .map(|row| {
            let text: String = row.try_get("change").map_err(purser_store::StoreError::from)?;
            serde_json::from_str(&text).map_err(|e| purser_store::StoreError::Corrupt(e.to_string()).into())
        })
        .collect()
}

/// Removes changes the main database has received.
pub async fn remove(conn: &mut AnyConnection, changes: &[TenantChange]) -> Result<()> {
    for change in changes {
        sqlx::query("DELETE FROM outbox WHERE id = $1")
            .bind(change.audit.id.as_i64())
            .execute(&mut *conn)
            .await
            .map_err(purser_store::StoreError::from)?;
    }
    Ok(())
}
