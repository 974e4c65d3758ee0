//! Usage records, written in batches by the gateway, and the sums users see.

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::LazyLock;

use purser_domain::org::BudgetPeriod;
use purser_domain::page::{Page, PageRequest};
use purser_domain::usage::{Bucket, ModelUsage, UsagePoint, UsageRecord, UsageSummary, UsageTotals};
use purser_domain::{Id, Timestamp, Usd};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::rows::{flag, id, opt_parsed, ts, u64_of};
use crate::{Result, StoreError};

const COLUMNS: &str = "id, request_id, key_id, user_id, model_id, model_name, endpoint, prompt_tokens, \
    completion_tokens, cost, latency_ms, status, streamed, created_at, team_id, estimated";
const COLUMN_COUNT: usize = 16;
/// Batches are written in statements of these sizes (largest first), so a handful of
/// statement texts serve every batch size and each connection prepares them once.
///
/// Statements stay small because each is one uninterrupted stretch of database work on a
/// core that the request path shares (SQLite's thread, or the PostgreSQL server on the same
/// machine): 32 rows take a fifth of a millisecond, and requests that wake up meanwhile wait
/// at most that long. With 512-row statements the added p99 at concurrency 1 was 0.5 ms on
/// SQLite and 1.5 ms on PostgreSQL; with 32, 0.2 and 0.3 ms (docs/benchmarks.md). SQLite
/// spends no more per row; PostgreSQL about 1 µs more.
const STATEMENT_ROWS: [usize; 3] = [32, 8, 1];

/// `INSERT ... VALUES (...), (...)` for `rows` rows, with numbered placeholders or, for
/// SQLite, anonymous ones: SQLite resolves each numbered placeholder by scanning all of
/// them, which makes a statement with thousands of `$N` quadratic to bind.
///
/// On SQLite the statement is `INSERT OR FAIL`: a conflict stops it without undoing the
/// rows it already inserted, which spares SQLite a statement journal (a copy of every page
/// each statement touches, kept to undo it). `insert_batch` undoes the whole batch on a
/// conflict anyway. That copy was a third of SQLite's work per usage row.
fn insert_sql(rows: usize, sqlite: bool) -> String {
    let verb = if sqlite { "INSERT OR FAIL" } else { "INSERT" };
    let mut sql = format!("{verb} INTO usage_records ({COLUMNS}) VALUES ");
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..COLUMN_COUNT {
            if c > 0 {
                sql.push_str(", ");
            }
            if sqlite {
                sql.push('?');
            } else {
                sql.push_str(&format!("${}", r * COLUMN_COUNT + c + 1));
            }
        }
        sql.push(')');
    }
    sql
}

fn insert_statements(sqlite: bool) -> &'static [String; STATEMENT_ROWS.len()] {
    static POSTGRES: LazyLock<[String; STATEMENT_ROWS.len()]> =
        LazyLock::new(|| STATEMENT_ROWS.map(|n| insert_sql(n, false)));
    static SQLITE: LazyLock<[String; STATEMENT_ROWS.len()]> =
        LazyLock::new(|| STATEMENT_ROWS.map(|n| insert_sql(n, true)));
    if sqlite { &SQLITE } else { &POSTGRES }
}

fn as_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Inserts the records; an id already stored fails the statement with a conflict.
/// (Records or references to them: a retried batch passes the fresh ones without copying.)
async fn insert_rows<R: Borrow<UsageRecord>>(conn: &mut AnyConnection, records: &[R]) -> Result<()> {
    let statements = insert_statements(conn.backend_name().eq_ignore_ascii_case("sqlite"));
    let mut rest = records;
    while !rest.is_empty() {
        let size = STATEMENT_ROWS.iter().position(|n| *n <= rest.len()).unwrap_or(STATEMENT_ROWS.len() - 1);
        let (chunk, tail) = rest.split_at(STATEMENT_ROWS[size]);
        rest = tail;
        let mut query = sqlx::query(&statements[size]);
        for r in chunk.iter().map(Borrow::borrow) {
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
                .bind(r.team_id.map(Id::as_i64))
                .bind(r.estimated);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// The ids among `records` that are already stored.
async fn stored_ids(conn: &mut AnyConnection, records: &[UsageRecord]) -> Result<HashSet<Id>> {
    let mut stored = HashSet::new();
    for chunk in records.chunks(1000) {
        let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!("SELECT id FROM usage_records WHERE id IN ({})", placeholders.join(", "));
        let mut query = sqlx::query(&sql);
        for r in chunk {
            query = query.bind(r.id.as_i64());
        }
        for row in query.fetch_all(&mut *conn).await? {
            stored.insert(id(&row, "id")?);
        }
    }
    Ok(stored)
}

/// Milliseconds in a day; `usage_daily` counts by UTC day.
const DAY_MS: i64 = 86_400_000;

/// The start (00:00 UTC) of the day `at` falls in.
fn day_of(at: Timestamp) -> i64 {
    at.as_millis() - at.as_millis().rem_euclid(DAY_MS)
}

/// What a batch adds to one row of `usage_daily`.
#[derive(Default)]
struct DailySums {
    user_id: i64,
    team_id: Option<i64>,
    requests: i64,
    prompt_tokens: i64,
    completion_tokens: i64,
    cost: i64,
}

/// Writes usage records, adds their cost to each key's spend and their counts to the daily
/// sums (`usage_daily`), in the caller's transaction. Records already stored (same id, e.g.
/// a batch retried after a commit whose answer was lost) are skipped and not counted twice.
/// Returns how many records were new.
pub async fn insert_batch(conn: &mut AnyConnection, records: &[UsageRecord]) -> Result<usize> {
    Ok(insert_new(conn, records).await?.len())
}

/// As [`insert_batch`], returning the records that were new.
pub async fn insert_new<'a>(conn: &mut AnyConnection, records: &'a [UsageRecord]) -> Result<Vec<&'a UsageRecord>> {
    // The common case, a batch never seen before, costs one plain INSERT per chunk. If an
    // id is already stored, undo and redo the batch without the stored ones. (Not `ON
    // CONFLICT DO NOTHING`: on PostgreSQL it probes the primary key before every row, a
    // tenth of the database's work per usage row, for a case only retries meet.)
    sqlx::query("SAVEPOINT usage_batch").execute(&mut *conn).await?;
    let fresh: Vec<&UsageRecord> = match insert_rows(conn, records).await {
        Ok(()) => records.iter().collect(),
        Err(StoreError::Conflict(_)) => {
            sqlx::query("ROLLBACK TO SAVEPOINT usage_batch").execute(&mut *conn).await?;
            let stored = stored_ids(conn, records).await?;
            let fresh: Vec<&UsageRecord> = records.iter().filter(|r| !stored.contains(&r.id)).collect();
            insert_rows(conn, &fresh).await?;
            fresh
        }
        Err(e) => return Err(e),
    };
    let mut spend: HashMap<Id, (i64, i64)> = HashMap::new();
    let mut daily: HashMap<(Id, i64, Id), DailySums> = HashMap::new();
    for r in &fresh {
        let entry = spend.entry(r.key_id).or_insert((0, r.created_at.as_millis()));
        entry.0 += r.cost.nanos();
        entry.1 = entry.1.max(r.created_at.as_millis());
        let sums = daily.entry((r.key_id, day_of(r.created_at), r.model_id)).or_default();
        sums.user_id = r.user_id.as_i64();
        sums.team_id = r.team_id.map(Id::as_i64);
        sums.requests += 1;
        sums.prompt_tokens += as_i64(r.prompt_tokens);
        sums.completion_tokens += as_i64(r.completion_tokens);
        sums.cost += r.cost.nanos();
    }
    for ((key_id, day, model_id), sums) in daily {
        sqlx::query(
            "INSERT INTO usage_daily (key_id, day, model_id, user_id, team_id, requests, prompt_tokens, \
             completion_tokens, cost) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (key_id, day, model_id) DO UPDATE SET team_id = excluded.team_id, \
             requests = usage_daily.requests + excluded.requests, \
             prompt_tokens = usage_daily.prompt_tokens + excluded.prompt_tokens, \
             completion_tokens = usage_daily.completion_tokens + excluded.completion_tokens, \
             cost = usage_daily.cost + excluded.cost",
        )
        .bind(key_id.as_i64())
        .bind(day)
        .bind(model_id.as_i64())
        .bind(sums.user_id)
        .bind(sums.team_id)
        .bind(sums.requests)
        .bind(sums.prompt_tokens)
        .bind(sums.completion_tokens)
        .bind(sums.cost)
        .execute(&mut *conn)
        .await?;
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
    Ok(fresh)
}

fn totals(row: &AnyRow) -> Result<UsageTotals> {
    Ok(UsageTotals {
        requests: u64_of(row, "requests")?,
        estimated_requests: u64_of(row, "estimated_requests")?,
        prompt_tokens: u64_of(row, "prompt_tokens")?,
        completion_tokens: u64_of(row, "completion_tokens")?,
        cost: Usd::from_nanos(row.try_get("cost")?),
    })
}

const SUMS: &str = "CAST(COUNT(*) AS BIGINT) AS requests, \
    CAST(COALESCE(SUM(CASE WHEN estimated THEN 1 ELSE 0 END), 0) AS BIGINT) AS estimated_requests, \
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
    // One pass over the rows, per model; the totals are the models' sums.
    let sql = format!(
        "SELECT model_id, MAX(model_name) AS model_name, {SUMS} FROM usage_records \
         WHERE created_at >= $1 AND created_at < $2 {user_clause} GROUP BY model_id ORDER BY model_id"
    );
    let mut query = sqlx::query(&sql).bind(from.as_millis()).bind(to.as_millis());
    if let Some(u) = user_arg {
        query = query.bind(u);
    }
    let by_model: Vec<ModelUsage> = query
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
    let all = by_model.iter().fold(UsageTotals::default(), |sum, m| sum.plus(&m.totals));
    Ok(UsageSummary { from, to, totals: all, by_model })
}

/// One user's usage in `[from, to)` per bucket and model, oldest first; buckets without
/// usage are left out. Days are read off the daily sums (whole UTC days: the one `from`
/// falls in up to the one before `to`'s, plus that one if `to` is past its start); hours
/// off the requests themselves. Both through indexes on `(user_id, day)` and
/// `(user_id, created_at)`.
pub async fn timeseries(
    conn: &mut AnyConnection,
    user_id: Id,
    from: Timestamp,
    to: Timestamp,
    bucket: Bucket,
) -> Result<Vec<UsagePoint>> {
    let (sql, from) = match bucket {
        Bucket::Day => (
            "SELECT d.day AS at, d.model_id, COALESCE(MAX(m.name), '') AS model_name, \
             CAST(SUM(d.requests) AS BIGINT) AS requests, CAST(SUM(d.prompt_tokens) AS BIGINT) AS prompt_tokens, \
             CAST(SUM(d.completion_tokens) AS BIGINT) AS completion_tokens, CAST(SUM(d.cost) AS BIGINT) AS cost \
             FROM usage_daily d LEFT JOIN models m ON m.id = d.model_id \
             WHERE d.user_id = $1 AND d.day >= $2 AND d.day < $3 \
             GROUP BY d.day, d.model_id ORDER BY d.day, d.model_id",
            day_of(from),
        ),
        Bucket::Hour => (
            "SELECT created_at - (created_at % 3600000) AS at, model_id, MAX(model_name) AS model_name, \
             CAST(COUNT(*) AS BIGINT) AS requests, CAST(SUM(prompt_tokens) AS BIGINT) AS prompt_tokens, \
             CAST(SUM(completion_tokens) AS BIGINT) AS completion_tokens, CAST(SUM(cost) AS BIGINT) AS cost \
             FROM usage_records WHERE user_id = $1 AND created_at >= $2 AND created_at < $3 \
             GROUP BY created_at - (created_at % 3600000), model_id ORDER BY 1, model_id",
            from.as_millis(),
        ),
    };
    sqlx::query(sql)
        .bind(user_id.as_i64())
        .bind(from)
        .bind(to.as_millis())
        .fetch_all(conn)
        .await?
        .iter()
        .map(|row| {
            Ok(UsagePoint {
                at: ts(row, "at")?,
                model_id: id(row, "model_id")?,
                model_name: row.try_get("model_name")?,
                requests: u64_of(row, "requests")?,
                prompt_tokens: u64_of(row, "prompt_tokens")?,
                completion_tokens: u64_of(row, "completion_tokens")?,
                cost: Usd::from_nanos(row.try_get("cost")?),
            })
        })
        .collect()
}

fn usage_record(row: &AnyRow) -> Result<UsageRecord> {
    Ok(UsageRecord {
        id: id(row, "id")?,
        request_id: row.try_get("request_id")?,
        key_id: id(row, "key_id")?,
        team_id: row.try_get::<Option<i64>, _>("team_id")?.map(Id::from_i64),
        user_id: id(row, "user_id")?,
        model_id: id(row, "model_id")?,
        model_name: row.try_get("model_name")?,
        endpoint: row.try_get("endpoint")?,
        prompt_tokens: u64_of(row, "prompt_tokens")?,
        completion_tokens: u64_of(row, "completion_tokens")?,
        cost: Usd::from_nanos(row.try_get("cost")?),
        latency_ms: u64_of(row, "latency_ms")?,
        status: u16::try_from(row.try_get::<i64, _>("status")?)
            .map_err(|_| StoreError::Corrupt("a usage row's status is out of range".into()))?,
        streamed: flag(row, "streamed")?,
        estimated: flag(row, "estimated")?,
        created_at: ts(row, "created_at")?,
    })
}

/// One user's usage records in `[from, to)`, newest first.
pub async fn records(
    conn: &mut AnyConnection,
    user_id: Id,
    from: Timestamp,
    to: Timestamp,
    page: PageRequest,
) -> Result<Page<UsageRecord>> {
    let range = "WHERE user_id = $1 AND created_at >= $2 AND created_at < $3";
    let total = crate::rows::count(
        &sqlx::query(&format!("SELECT COUNT(*) FROM usage_records {range}"))
            .bind(user_id.as_i64())
            .bind(from.as_millis())
            .bind(to.as_millis())
            .fetch_one(&mut *conn)
            .await?,
    )?;
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM usage_records {range} ORDER BY created_at DESC, id DESC LIMIT $4 OFFSET $5"
    ))
    .bind(user_id.as_i64())
    .bind(from.as_millis())
    .bind(to.as_millis())
    .bind(i64::from(page.limit))
    .bind(page.offset())
    .fetch_all(conn)
    .await?;
    Ok(Page { items: rows.iter().map(usage_record).collect::<Result<_>>()?, page, total })
}

/// Up to `limit` of one user's usage records in `[from, to)`, oldest first, after the
/// record `after` (its time and id): for reading a long stretch in pieces.
pub async fn records_after(
    conn: &mut AnyConnection,
    user_id: Id,
    (from, to): (Timestamp, Timestamp),
    after: Option<(Timestamp, Id)>,
    limit: u32,
) -> Result<Vec<UsageRecord>> {
    let (at, id) = after.map_or((from.as_millis() - 1, i64::MAX), |(at, id)| (at.as_millis(), id.as_i64()));
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM usage_records WHERE user_id = $1 AND created_at >= $2 AND created_at < $3 \
         AND (created_at > $4 OR (created_at = $4 AND id > $5)) ORDER BY created_at, id LIMIT $6"
    ))
    .bind(user_id.as_i64())
    .bind(from.as_millis())
    .bind(to.as_millis())
    .bind(at)
    .bind(id)
    .bind(i64::from(limit))
    .fetch_all(conn)
    .await?
    .iter()
    .map(usage_record)
    .collect()
}

/// How many usage records a key has (for tests: it scans the table, which has no index by key).
pub async fn count_for_key(conn: &mut AnyConnection, key_id: Id) -> Result<u64> {
    let row = sqlx::query("SELECT COUNT(*) FROM usage_records WHERE key_id = $1")
        .bind(key_id.as_i64())
        .fetch_one(conn)
        .await?;
    crate::rows::count(&row)
}

/// Whose spend to add up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpendBy {
    Key,
    Team,
    User,
}

impl SpendBy {
    fn column(self) -> &'static str {
        match self {
            Self::Key => "key_id",
            Self::Team => "team_id",
            Self::User => "user_id",
        }
    }
}

/// Spend per key, team or user from the start of the day `since` falls in (budget periods
/// begin at 00:00 UTC), read off the daily sums; with `only`, for those ids alone.
pub async fn spend_since(
    conn: &mut AnyConnection,
    by: SpendBy,
    since: Timestamp,
    only: Option<&[Id]>,
) -> Result<HashMap<Id, i64>> {
    let column = by.column();
    let mut spend = HashMap::new();
    let chunks: Vec<&[Id]> = match only {
        Some([]) => return Ok(spend),
        Some(ids) => ids.chunks(1000).collect(),
        None => vec![&[]],
    };
    for chunk in chunks {
        let filter = if only.is_some() {
            let list: Vec<String> = (2..chunk.len() + 2).map(|i| format!("${i}")).collect();
            format!(" AND {column} IN ({})", list.join(", "))
        } else {
            String::new()
        };
        let sql = format!(
            "SELECT {column} AS owner, CAST(COALESCE(SUM(cost), 0) AS BIGINT) AS spend FROM usage_daily \
             WHERE {column} IS NOT NULL AND day >= $1{filter} GROUP BY {column}"
        );
        let mut query = sqlx::query(&sql).bind(day_of(since));
        for owner in chunk {
            query = query.bind(owner.as_i64());
        }
        for row in query.fetch_all(&mut *conn).await? {
            spend.insert(id(&row, "owner")?, row.try_get::<i64, _>("spend")?);
        }
    }
    Ok(spend)
}

/// A budget that a batch of usage took from under its limit to at or over it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetCrossed {
    pub by: SpendBy,
    /// The key, team or user whose budget it is.
    pub owner: Id,
    /// The organization of the team (a key's: of the team it is billed to).
    pub org_id: Option<Id>,
    pub budget: Usd,
    /// Spend in the period (or ever) once the batch was counted.
    pub spend: Usd,
    pub period: Option<BudgetPeriod>,
}

/// A budget and whose it is, as read for [`budgets_crossed`].
struct Budget {
    owner: Id,
    org_id: Option<Id>,
    budget: i64,
    period: Option<BudgetPeriod>,
    /// Lifetime spend kept on the row itself (keys), counted with the batch already.
    spend: Option<i64>,
}

/// The budgets (of keys, teams and users) that `fresh` records, just counted in this
/// transaction by [`insert_batch`], took over their limit: the spend before the batch was
/// under the budget, after it at or over. Only owners with a budget are read.
pub async fn budgets_crossed(conn: &mut AnyConnection, fresh: &[&UsageRecord]) -> Result<Vec<BudgetCrossed>> {
    let mut crossed = Vec::new();
    for by in [SpendBy::Key, SpendBy::Team, SpendBy::User] {
        // What the batch spent per owner, record by record (a batch may span two periods).
        let mut batch: HashMap<Id, Vec<(Timestamp, i64)>> = HashMap::new();
        for r in fresh {
            let owner = match by {
                SpendBy::Key => Some(r.key_id),
                SpendBy::Team => r.team_id,
                SpendBy::User => Some(r.user_id),
            };
            if let Some(owner) = owner.filter(|_| r.cost.nanos() > 0) {
                batch.entry(owner).or_default().push((r.created_at, r.cost.nanos()));
            }
        }
        if batch.is_empty() {
            continue;
        }
        let owners: Vec<Id> = batch.keys().copied().collect();
        for budget in budgets_of(conn, by, &owners).await? {
            // The batch's spend in each period it touches.
            let mut periods: BTreeMap<(Timestamp, Timestamp), i64> = BTreeMap::new();
            for (at, cost) in &batch[&budget.owner] {
                let bounds = budget.period.map_or((Timestamp::from_millis(0), Timestamp::MAX), |p| p.bounds(*at));
                *periods.entry(bounds).or_default() += cost;
            }
            for ((from, to), spent_now) in periods {
                let after = match (budget.spend, budget.period) {
                    (Some(lifetime), None) => lifetime,
                    _ => spend_between(conn, by, budget.owner, from, to).await?,
                };
                let before = after - spent_now;
                if before < budget.budget && after >= budget.budget {
                    crossed.push(BudgetCrossed {
                        by,
                        owner: budget.owner,
                        org_id: budget.org_id,
                        budget: Usd::from_nanos(budget.budget),
                        spend: Usd::from_nanos(after),
                        period: budget.period,
                    });
                }
            }
        }
    }
    Ok(crossed)
}

/// One owner's spend on the days of `[from, to)`, read off the daily sums.
async fn spend_between(
    conn: &mut AnyConnection,
    by: SpendBy,
    owner: Id,
    from: Timestamp,
    to: Timestamp,
) -> Result<i64> {
    let column = by.column();
    let row = sqlx::query(&format!(
        "SELECT CAST(COALESCE(SUM(cost), 0) AS BIGINT) AS spend FROM usage_daily \
         WHERE {column} = $1 AND day >= $2 AND day < $3"
    ))
    .bind(owner.as_i64())
    .bind(day_of(from))
    .bind(to.as_millis())
    .fetch_one(conn)
    .await?;
    Ok(row.try_get("spend")?)
}

async fn budgets_of(conn: &mut AnyConnection, by: SpendBy, owners: &[Id]) -> Result<Vec<Budget>> {
    let select = match by {
        SpendBy::Key => {
            "SELECT k.id AS owner, t.org_id AS org_id, k.max_budget AS budget, k.budget_period AS period, \
             k.spend AS spend FROM api_keys k LEFT JOIN teams t ON t.id = k.team_id \
             WHERE k.max_budget IS NOT NULL AND k.id IN"
        }
        SpendBy::Team => {
            "SELECT id AS owner, org_id, budget, budget_period AS period, CAST(NULL AS BIGINT) AS spend FROM teams \
             WHERE budget IS NOT NULL AND id IN"
        }
        SpendBy::User => {
            "SELECT user_id AS owner, CAST(NULL AS BIGINT) AS org_id, max_budget AS budget, budget_period AS period, \
             CAST(NULL AS BIGINT) AS spend FROM user_limits WHERE max_budget IS NOT NULL AND user_id IN"
        }
    };
    let mut budgets = Vec::new();
    for chunk in owners.chunks(1000) {
        let list: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!("{select} ({})", list.join(", "));
        let mut query = sqlx::query(&sql);
        for owner in chunk {
            query = query.bind(owner.as_i64());
        }
        for row in query.fetch_all(&mut *conn).await? {
            budgets.push(Budget {
                owner: id(&row, "owner")?,
                org_id: row.try_get::<Option<i64>, _>("org_id")?.map(Id::from_i64),
                budget: row.try_get("budget")?,
                period: opt_parsed(&row, "period")?,
                spend: row.try_get("spend")?,
            });
        }
    }
    Ok(budgets)
}
