//! Subscriptions: one row per user and model, whose status moves over time.

use purser_domain::page::{Page, PageRequest};
use purser_domain::subscription::{Subscription, SubscriptionStatus};
use purser_domain::{Id, Timestamp};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::Result;
use crate::rows::{Arg, Filter, count, id, parsed, ts};

const SELECT: &str = "SELECT s.id, s.user_id, s.model_id, m.name AS model_name, s.status, s.status_reason, \
    s.created_at, s.updated_at FROM subscriptions s JOIN models m ON m.id = s.model_id";

fn subscription(row: &AnyRow) -> Result<Subscription> {
    Ok(Subscription {
        id: id(row, "id")?,
        user_id: id(row, "user_id")?,
        model_id: id(row, "model_id")?,
        model_name: row.try_get("model_name")?,
        status: parsed(row, "status")?,
        status_reason: row.try_get("status_reason")?,
        created_at: ts(row, "created_at")?,
        updated_at: ts(row, "updated_at")?,
    })
}

/// Inserts a subscription; [`crate::StoreError::Conflict`] if the user already has one for the model.
pub async fn insert(conn: &mut AnyConnection, s: &Subscription) -> Result<()> {
    sqlx::query(
        "INSERT INTO subscriptions (id, user_id, model_id, status, status_reason, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(s.id.as_i64())
    .bind(s.user_id.as_i64())
    .bind(s.model_id.as_i64())
    .bind(s.status.as_str())
    .bind(s.status_reason.as_deref())
    .bind(s.created_at.as_millis())
    .bind(s.updated_at.as_millis())
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn by_id(conn: &mut AnyConnection, subscription_id: Id) -> Result<Option<Subscription>> {
    sqlx::query(&format!("{SELECT} WHERE s.id = $1"))
        .bind(subscription_id.as_i64())
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(subscription)
        .transpose()
}

pub async fn for_user_and_model(conn: &mut AnyConnection, user_id: Id, model_id: Id) -> Result<Option<Subscription>> {
    sqlx::query(&format!("{SELECT} WHERE s.user_id = $1 AND s.model_id = $2"))
        .bind(user_id.as_i64())
        .bind(model_id.as_i64())
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(subscription)
        .transpose()
}

#[derive(Debug, Clone, Default)]
pub struct SubscriptionFilter {
    pub user_id: Option<Id>,
    pub status: Option<SubscriptionStatus>,
}

/// Subscriptions to live models, newest first.
pub async fn list(
    conn: &mut AnyConnection,
    filter: &SubscriptionFilter,
    page: PageRequest,
) -> Result<Page<Subscription>> {
    let mut conditions = Filter::default();
    conditions.and("m.deleted_at IS NULL", []);
    if let Some(user_id) = filter.user_id {
        conditions.and("s.user_id = ?", [Arg::Int(user_id.as_i64())]);
    }
    if let Some(status) = filter.status {
        conditions.and("s.status = ?", [Arg::Text(status.as_str().to_owned())]);
    }
    let where_sql = conditions.sql();
    let total_sql = format!("SELECT COUNT(*) FROM subscriptions s JOIN models m ON m.id = s.model_id{where_sql}");
    let total = count(&conditions.bind(sqlx::query(&total_sql)).fetch_one(&mut *conn).await?)?;
    let n = conditions.next_placeholder();
    let sql = format!("{SELECT}{where_sql} ORDER BY s.id DESC LIMIT ${} OFFSET ${}", n, n + 1);
    let rows =
        conditions.bind(sqlx::query(&sql)).bind(i64::from(page.limit)).bind(page.offset()).fetch_all(conn).await?;
    Ok(Page { items: rows.iter().map(subscription).collect::<Result<_>>()?, page, total })
}

pub async fn set_status(
    conn: &mut AnyConnection,
    subscription_id: Id,
    status: SubscriptionStatus,
    reason: Option<&str>,
    now: Timestamp,
) -> Result<()> {
    sqlx::query("UPDATE subscriptions SET status = $1, status_reason = $2, updated_at = $3 WHERE id = $4")
        .bind(status.as_str())
        .bind(reason)
        .bind(now.as_millis())
        .bind(subscription_id.as_i64())
        .execute(conn)
        .await?;
    Ok(())
}

/// Of `model_ids`, those the user holds an active subscription to (on live models).
pub async fn active_model_ids(conn: &mut AnyConnection, user_id: Id, model_ids: &[Id]) -> Result<Vec<Id>> {
    if model_ids.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (2..model_ids.len() + 2).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT s.model_id FROM subscriptions s JOIN models m ON m.id = s.model_id \
         WHERE s.user_id = $1 AND s.status = 'active' AND m.deleted_at IS NULL AND s.model_id IN ({})",
        placeholders.join(", ")
    );
    let mut query = sqlx::query(&sql).bind(user_id.as_i64());
    for model_id in model_ids {
        query = query.bind(model_id.as_i64());
    }
    query.fetch_all(conn).await?.iter().map(|row| id(row, "model_id")).collect()
}

/// Ends every open subscription to a model (when the model is deleted).
pub async fn cancel_all_for_model(conn: &mut AnyConnection, model_id: Id, reason: &str, now: Timestamp) -> Result<u64> {
    let done = sqlx::query(
        "UPDATE subscriptions SET status = 'cancelled', status_reason = $1, updated_at = $2 \
         WHERE model_id = $3 AND status IN ('active', 'pending')",
    )
    .bind(reason)
    .bind(now.as_millis())
    .bind(model_id.as_i64())
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}
