//! Per-user gateway limits; only users with limits have a row.

use purser_domain::Id;
use purser_domain::Usd;
use purser_domain::user::UserLimits;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::Result;
use crate::rows::{id, opt_parsed, opt_u32, ts};

const COLUMNS: &str = "user_id, rpm_limit, tpm_limit, max_parallel, max_budget, budget_period, updated_at";

fn limits(row: &AnyRow) -> Result<UserLimits> {
    Ok(UserLimits {
        user_id: id(row, "user_id")?,
        rpm_limit: opt_u32(row, "rpm_limit")?,
        tpm_limit: opt_u32(row, "tpm_limit")?,
        max_parallel: opt_u32(row, "max_parallel")?,
        max_budget: row.try_get::<Option<i64>, _>("max_budget")?.map(Usd::from_nanos),
        budget_period: opt_parsed(row, "budget_period")?,
        updated_at: ts(row, "updated_at")?,
    })
}

pub async fn get(conn: &mut AnyConnection, user_id: Id) -> Result<Option<UserLimits>> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM user_limits WHERE user_id = $1"))
        .bind(user_id.as_i64())
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(limits)
        .transpose()
}

/// Stores the user's limits, or removes the row when there are none.
pub async fn put(conn: &mut AnyConnection, l: &UserLimits) -> Result<()> {
    sqlx::query("DELETE FROM user_limits WHERE user_id = $1").bind(l.user_id.as_i64()).execute(&mut *conn).await?;
    if l.is_empty() {
        return Ok(());
    }
    sqlx::query(&format!("INSERT INTO user_limits ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"))
        .bind(l.user_id.as_i64())
        .bind(l.rpm_limit.map(i64::from))
        .bind(l.tpm_limit.map(i64::from))
        .bind(l.max_parallel.map(i64::from))
        .bind(l.max_budget.map(Usd::nanos))
        .bind(l.budget_period.map(|p| p.as_str()))
        .bind(l.updated_at.as_millis())
        .execute(conn)
        .await?;
    Ok(())
}

/// Every user with limits (for the gateway).
pub async fn all(conn: &mut AnyConnection) -> Result<Vec<UserLimits>> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM user_limits ORDER BY user_id"))
        .fetch_all(conn)
        .await?
        .iter()
        .map(limits)
        .collect()
}
