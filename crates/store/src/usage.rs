//! Usage records, written in batches by the gateway, and the sums users see.

use std::collections::HashMap;

use purser_domain::usage::{ModelUsage, UsageRecord, UsageSummary, UsageTotals};
use purser_domain::{Id, Timestamp, Usd};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::Result;
use crate::rows::{id, u64_of};

const COLUMNS: usize = 15;
/// Rows per INSERT statement; keeps every statement under PostgreSQL's 65,535 parameters.
const ROWS_PER_STATEMENT: usize = 500;

fn as_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Writes usage records and adds their cost to each key's spend, in the caller's
/// transaction. Records already stored (same id, e.g. a retried batch) are skipped and not
/// counted twice. Returns how many records were new.
pub async fn insert_batch(conn: &mut AnyConnection, records: &[UsageRecord]) -> Result<usize> {
    let mut spend: HashMap<Id, (i64, i64)> = HashMap::new();
    let mut inserted = 0;
    for chunk in records.chunks(ROWS_PER_STATEMENT) {
        let rows: Vec<String> = (0..chunk.len())
            .map(|r| {
                let cols: Vec<String> = (1..=COLUMNS).map(|c| format!("${}", r * COLUMNS + c)).collect();
                format!("({})", cols.join(", "))
            })
            .collect();
        let sql = format!(
            "INSERT INTO usage_records (id, request_id, key_id, user_id, model_id, model_name, endpoint, \
             prompt_tokens, completion_tokens, cost, latency_ms, status, streamed, created_at, team_id) VALUES {} \
             ON CONFLICT (id) DO NOTHING RETURNING key_id, cost, created_at",
            rows.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for r in chunk {
            query = query
                .bind(r.id.as_i64())
                .bind(r.request_id.as_str())
                .bind(r.key_id.as_i64())
                .bind(r.user_id.as_i64())
                .bind(r.model_id.as_i64())
                .bind(r.model_name.as_str())
                .bind(r.endpoint.as_str())
                .bind(as_i64(r.prompt_tokens))
                .bind(as_i64(r.completion_tokens))
                .bind(r.cost.nanos())
                .bind(as_i64(r.latency_ms))
                .bind(i64::from(r.status))
                .bind(r.streamed)
                .bind(r.created_at.as_millis())
                .bind(r.team_id.map(Id::as_i64));
        }
        for row in query.fetch_all(&mut *conn).await? {
            inserted += 1;
            let (cost, created): (i64, i64) = (row.try_get("cost")?, row.try_get("created_at")?);
            let entry = spend.entry(id(&row, "key_id")?).or_insert((0, created));
            entry.0 += cost;
            entry.1 = entry.1.max(created);
        }
    }
    for (key_id, (cost, last_used)) in spend {
        sqlx::query(
            "UPDATE api_keys SET spend = spend + $1, \
             last_used_at = CASE WHEN last_used_at IS NULL OR last_used_at < $2 THEN $2 ELSE last_used_at END \
             WHERE id = $3",
        )
        .bind(cost)
        .bind(last_used)
        .bind(key_id.as_i64())
        .execute(&mut *conn)
        .await?;
    }
    Ok(inserted)
}

fn totals(row: &AnyRow) -> Result<UsageTotals> {
    Ok(UsageTotals {
        requests: u64_of(row, "requests")?,
        prompt_tokens: u64_of(row, "prompt_tokens")?,
        completion_tokens: u64_of(row, "completion_tokens")?,
        cost: Usd::from_nanos(row.try_get("cost")?),
    })
}

const SUMS: &str = "CAST(COUNT(*) AS BIGINT) AS requests, \
    CAST(COALESCE(SUM(prompt_tokens), 0) AS BIGINT) AS prompt_tokens, \
    CAST(COALESCE(SUM(completion_tokens), 0) AS BIGINT) AS completion_tokens, \
    CAST(COALESCE(SUM(cost), 0) AS BIGINT) AS cost";

/// Usage in `[from, to)`, for one user or (with `None`) for everyone.
pub async fn summary(
    conn: &mut AnyConnection,
    user_id: Option<Id>,
    from: Timestamp,
    to: Timestamp,
) -> Result<UsageSummary> {
    let (user_clause, user_arg) = match user_id {
        Some(u) => ("AND user_id = $3", Some(u.as_i64())),
        None => ("", None),
    };
    let where_sql = format!("WHERE created_at >= $1 AND created_at < $2 {user_clause}");
    let sql = format!("SELECT {SUMS} FROM usage_records {where_sql}");
    let mut query = sqlx::query(&sql).bind(from.as_millis()).bind(to.as_millis());
    if let Some(u) = user_arg {
        query = query.bind(u);
    }
    let all = totals(&query.fetch_one(&mut *conn).await?)?;

    let sql = format!(
        "SELECT model_id, MAX(model_name) AS model_name, {SUMS} FROM usage_records {where_sql} \
         GROUP BY model_id ORDER BY model_id"
    );
    let mut query = sqlx::query(&sql).bind(from.as_millis()).bind(to.as_millis());
    if let Some(u) = user_arg {
        query = query.bind(u);
    }
    let by_model = query
        .fetch_all(conn)
        .await?
        .iter()
        .map(|row| {
            Ok(ModelUsage {
                model_id: id(row, "model_id")?,
                model_name: row.try_get("model_name")?,
                totals: totals(row)?,
            })
        })
        .collect::<Result<_>>()?;
    Ok(UsageSummary { from, to, totals: all, by_model })
}

/// How many usage records a key has (for operators and tests).
pub async fn count_for_key(conn: &mut AnyConnection, key_id: Id) -> Result<u64> {
    let row = sqlx::query("SELECT COUNT(*) FROM usage_records WHERE key_id = $1")
        .bind(key_id.as_i64())
        .fetch_one(conn)
        .await?;
    crate::rows::count(&row)
}

/// Spend per team since `since` (for budgets with a period).
pub async fn team_spend_since(conn: &mut AnyConnection, since: Timestamp) -> Result<HashMap<Id, i64>> {
    let rows = sqlx::query(
        "SELECT team_id, CAST(COALESCE(SUM(cost), 0) AS BIGINT) AS spend FROM usage_records \
         WHERE team_id IS NOT NULL AND created_at >= $1 GROUP BY team_id",
    )
    .bind(since.as_millis())
    .fetch_all(conn)
    .await?;
    rows.iter().map(|r| Ok((id(r, "team_id")?, r.try_get::<i64, _>("spend")?))).collect()
}
