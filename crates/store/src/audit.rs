//! The audit log. Entries of successful changes are written in the change's transaction.

use purser_domain::audit::AuditRecord;
use purser_domain::page::{Page, PageRequest};
use purser_domain::{Id, Timestamp};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::Result;
use crate::rows::{Arg, Filter, count, flag, id, ts};

const COLUMNS: &str = "id, occurred_at, actor_id, action, resource_type, resource_id, org_id, before_state, \
    after_state, ip, user_agent, request_id, success, error_code";

fn record(row: &AnyRow) -> Result<AuditRecord> {
    Ok(AuditRecord {
        id: id(row, "id")?,
        occurred_at: ts(row, "occurred_at")?,
        actor_id: row.try_get::<Option<i64>, _>("actor_id")?.map(Id::from_i64),
        action: row.try_get("action")?,
        resource_type: row.try_get("resource_type")?,
        resource_id: row.try_get("resource_id")?,
        org_id: row.try_get::<Option<i64>, _>("org_id")?.map(Id::from_i64),
        before: row.try_get("before_state")?,
        after: row.try_get("after_state")?,
        ip: row.try_get("ip")?,
        user_agent: row.try_get("user_agent")?,
        request_id: row.try_get("request_id")?,
        success: flag(row, "success")?,
        error_code: row.try_get("error_code")?,
    })
}

pub async fn insert(conn: &mut AnyConnection, r: &AuditRecord) -> Result<()> {
    write(conn, r, "").await
}

/// Inserts an entry unless one with its id is there (a change moved from a tenant's
/// outbox again, after a crash).
pub async fn insert_once(conn: &mut AnyConnection, r: &AuditRecord) -> Result<()> {
    write(conn, r, " ON CONFLICT (id) DO NOTHING").await
}

async fn write(conn: &mut AnyConnection, r: &AuditRecord, on_conflict: &str) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO audit_log ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14){on_conflict}"
    ))
    .bind(r.id.as_i64())
    .bind(r.occurred_at.as_millis())
    .bind(r.actor_id.map(Id::as_i64))
    .bind(&r.action)
    .bind(&r.resource_type)
    .bind(r.resource_id.as_deref())
    .bind(r.org_id.map(Id::as_i64))
    .bind(r.before.as_deref())
    .bind(r.after.as_deref())
    .bind(r.ip.as_deref())
    .bind(r.user_agent.as_deref())
    .bind(r.request_id.as_deref())
    .bind(r.success)
    .bind(r.error_code.as_deref())
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor_id: Option<Id>,
    pub action: Option<String>,
    pub resource_type: Option<String>,
    pub org_id: Option<Id>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
}

/// Entries matching the filter, newest first.
pub async fn list(conn: &mut AnyConnection, filter: &AuditFilter, page: PageRequest) -> Result<Page<AuditRecord>> {
    let mut conditions = Filter::default();
    if let Some(actor) = filter.actor_id {
        conditions.and("actor_id = ?", [Arg::Int(actor.as_i64())]);
    }
    if let Some(action) = &filter.action {
        conditions.and("action = ?", [Arg::Text(action.clone())]);
    }
    if let Some(kind) = &filter.resource_type {
        conditions.and("resource_type = ?", [Arg::Text(kind.clone())]);
    }
    if let Some(org) = filter.org_id {
        conditions.and("org_id = ?", [Arg::Int(org.as_i64())]);
    }
    if let Some(from) = filter.from {
        conditions.and("occurred_at >= ?", [Arg::Int(from.as_millis())]);
    }
    if let Some(to) = filter.to {
        conditions.and("occurred_at < ?", [Arg::Int(to.as_millis())]);
    }
    let where_sql = conditions.sql();
    let total = count(
        &conditions
            .bind(sqlx::query(&format!("SELECT COUNT(*) FROM audit_log{where_sql}")))
            .fetch_one(&mut *conn)
            .await?,
    )?;
    let n = conditions.next_placeholder();
    let sql = format!("SELECT {COLUMNS} FROM audit_log{where_sql} ORDER BY id DESC LIMIT ${} OFFSET ${}", n, n + 1);
    let rows =
        conditions.bind(sqlx::query(&sql)).bind(i64::from(page.limit)).bind(page.offset()).fetch_all(conn).await?;
    Ok(Page { items: rows.iter().map(record).collect::<Result<_>>()?, page, total })
}
