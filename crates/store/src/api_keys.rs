//! API keys (stored by the SHA-256 digest of their secret) and the models each may use.

use std::collections::HashMap;

use purser_domain::api_key::ApiKey;
use purser_domain::org::BudgetPeriod;
use purser_domain::page::{Page, PageRequest};
use purser_domain::{Id, Timestamp, Usd};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::Result;
use crate::rows::{count, flag, id, opt_parsed, opt_ts, opt_u32, ts};

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

const COLUMNS: &str = "id, user_id, team_id, name, prefix, last4, max_budget, spend, tpm_limit, rpm_limit, \
    max_parallel, budget_period, expires_at, revoked_at, last_used_at, created_at, updated_at";

fn api_key(row: &AnyRow) -> Result<ApiKey> {
    Ok(ApiKey {
        id: id(row, "id")?,
        user_id: id(row, "user_id")?,
        team_id: row.try_get::<Option<i64>, _>("team_id")?.map(Id::from_i64),
        name: row.try_get("name")?,
        prefix: row.try_get("prefix")?,
        last4: row.try_get("last4")?,
        model_ids: Vec::new(),
        max_budget: row.try_get::<Option<i64>, _>("max_budget")?.map(Usd::from_nanos),
        spend: Usd::from_nanos(row.try_get("spend")?),
        tpm_limit: opt_u32(row, "tpm_limit")?,
        rpm_limit: opt_u32(row, "rpm_limit")?,
        max_parallel: opt_u32(row, "max_parallel")?,
        budget_period: opt_parsed(row, "budget_period")?,
        expires_at: opt_ts(row, "expires_at")?,
        revoked_at: opt_ts(row, "revoked_at")?,
        last_used_at: opt_ts(row, "last_used_at")?,
        created_at: ts(row, "created_at")?,
        updated_at: ts(row, "updated_at")?,
    })
}

/// Fills in `model_ids` for each key with one query.
async fn attach_models(conn: &mut AnyConnection, keys: &mut [ApiKey]) -> Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    let placeholders: Vec<String> = (1..=keys.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT key_id, model_id FROM api_key_models WHERE key_id IN ({}) ORDER BY key_id, model_id",
        placeholders.join(", ")
    );
    let mut query = sqlx::query(&sql);
    for key in keys.iter() {
        query = query.bind(key.id.as_i64());
    }
    let mut by_key: HashMap<Id, Vec<Id>> = HashMap::new();
    for row in query.fetch_all(conn).await? {
        by_key.entry(id(&row, "key_id")?).or_default().push(id(&row, "model_id")?);
    }
    for key in keys {
        key.model_ids = by_key.remove(&key.id).unwrap_or_default();
    }
    Ok(())
}

pub async fn insert(conn: &mut AnyConnection, key: &ApiKey, secret_hash: &str) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO api_keys ({COLUMNS}, secret_hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
    ))
    .bind(key.id.as_i64())
    .bind(key.user_id.as_i64())
    .bind(key.team_id.map(Id::as_i64))
    .bind(&key.name)
    .bind(&key.prefix)
    .bind(&key.last4)
    .bind(key.max_budget.map(Usd::nanos))
    .bind(key.spend.nanos())
    .bind(key.tpm_limit.map(i64::from))
    .bind(key.rpm_limit.map(i64::from))
    .bind(key.max_parallel.map(i64::from))
    .bind(key.budget_period.map(|p| p.as_str()))
    .bind(key.expires_at.map(Timestamp::as_millis))
    .bind(key.revoked_at.map(Timestamp::as_millis))
    .bind(key.last_used_at.map(Timestamp::as_millis))
    .bind(key.created_at.as_millis())
    .bind(key.updated_at.as_millis())
    .bind(secret_hash)
    .execute(&mut *conn)
    .await?;
    for model_id in &key.model_ids {
        sqlx::query("INSERT INTO api_key_models (key_id, model_id) VALUES ($1, $2)")
            .bind(key.id.as_i64())
            .bind(model_id.as_i64())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

pub async fn by_id(conn: &mut AnyConnection, key_id: Id) -> Result<Option<ApiKey>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM api_keys WHERE id = $1"))
        .bind(key_id.as_i64())
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let mut keys = [api_key(&row)?];
    attach_models(conn, &mut keys).await?;
    let [key] = keys;
    Ok(Some(key))
}

/// A user's keys, newest first.
pub async fn list_for_user(conn: &mut AnyConnection, user_id: Id, page: PageRequest) -> Result<Page<ApiKey>> {
    let total = count(
        &sqlx::query("SELECT COUNT(*) FROM api_keys WHERE user_id = $1")
            .bind(user_id.as_i64())
            .fetch_one(&mut *conn)
            .await?,
    )?;
    let rows =
        sqlx::query(&format!("SELECT {COLUMNS} FROM api_keys WHERE user_id = $1 ORDER BY id DESC LIMIT $2 OFFSET $3"))
            .bind(user_id.as_i64())
            .bind(i64::from(page.limit))
            .bind(page.offset())
            .fetch_all(&mut *conn)
            .await?;
    let mut items = rows.iter().map(api_key).collect::<Result<Vec<_>>>()?;
    attach_models(conn, &mut items).await?;
    Ok(Page { items, page, total })
}

/// Revokes a key; returns whether it was not revoked before.
pub async fn revoke(conn: &mut AnyConnection, key_id: Id, now: Timestamp) -> Result<bool> {
    let done = sqlx::query("UPDATE api_keys SET revoked_at = $1, updated_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(now.as_millis())
        .bind(key_id.as_i64())
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Names of the user's usable (unrevoked, unexpired) keys that include the model.
pub async fn active_keys_using_model(
    conn: &mut AnyConnection,
    user_id: Id,
    model_id: Id,
    now: Timestamp,
) -> Result<Vec<String>> {
    let rows = sqlx::query(
        "SELECT k.name FROM api_keys k JOIN api_key_models km ON km.key_id = k.id \
         WHERE k.user_id = $1 AND km.model_id = $2 AND k.revoked_at IS NULL \
           AND (k.expires_at IS NULL OR k.expires_at > $3) ORDER BY k.id",
    )
    .bind(user_id.as_i64())
    .bind(model_id.as_i64())
    .bind(now.as_millis())
    .fetch_all(conn)
    .await?;
    rows.iter().map(|r| Ok(r.try_get("name")?)).collect()
}

/// What the gateway needs to know of a key; kept small, as there may be millions.
#[derive(Debug, Clone)]
pub struct GatewayKey {
    pub id: Id,
    pub user_id: Id,
    pub team_id: Option<Id>,
    pub model_ids: Vec<Id>,
    /// Hex SHA-256 digest of the secret.
    pub secret_hash: String,
    pub max_budget: Option<Usd>,
    /// Lifetime spend.
    pub spend: Usd,
    pub tpm_limit: Option<u32>,
    pub rpm_limit: Option<u32>,
    pub max_parallel: Option<u32>,
    pub budget_period: Option<BudgetPeriod>,
    pub expires_at: Option<Timestamp>,
    pub revoked: bool,
    pub owner_active: bool,
}

/// The columns [`gateway_key_row`] reads, on `api_keys k JOIN users u`.
const GATEWAY_COLUMNS: &str = "k.id, k.user_id, k.team_id, k.secret_hash, k.max_budget, k.spend, k.tpm_limit, \
    k.rpm_limit, k.max_parallel, k.budget_period, k.expires_at, k.revoked_at, u.active";

/// A key without its models, from a row of [`GATEWAY_COLUMNS`] (by position: a million
/// rows are read at start-up).
fn gateway_key_row(row: &AnyRow) -> Result<GatewayKey> {
    Ok(GatewayKey {
        id: id(row, 0)?,
        user_id: id(row, 1)?,
        team_id: row.try_get::<Option<i64>, _>(2)?.map(Id::from_i64),
        model_ids: Vec::new(),
        secret_hash: row.try_get(3)?,
        max_budget: row.try_get::<Option<i64>, _>(4)?.map(Usd::from_nanos),
        spend: Usd::from_nanos(row.try_get(5)?),
        tpm_limit: opt_u32(row, 6)?,
        rpm_limit: opt_u32(row, 7)?,
        max_parallel: opt_u32(row, 8)?,
        budget_period: opt_parsed(row, 9)?,
        expires_at: opt_ts(row, 10)?,
        revoked: opt_ts(row, 11)?.is_some(),
        owner_active: flag(row, 12)?,
    })
}

/// Reads keys for the gateway with `keys` (a query of [`GATEWAY_COLUMNS`]), streamed, then
/// their models with `models` (rows of `key_id, model_id`; other keys' are skipped).
async fn gateway_keys_by(
    conn: &mut AnyConnection,
    keys: AnyQuery<'_>,
    models: AnyQuery<'_>,
) -> Result<Vec<GatewayKey>> {
    use futures_util::TryStreamExt;
    let mut found = Vec::new();
    let mut rows = keys.fetch(&mut *conn);
    while let Some(row) = rows.try_next().await? {
        found.push(gateway_key_row(&row)?);
    }
    drop(rows);
    let position: HashMap<Id, usize> = found.iter().enumerate().map(|(i, k)| (k.id, i)).collect();
    let mut rows = models.fetch(conn);
    while let Some(row) = rows.try_next().await? {
        if let Some(&i) = position.get(&id(&row, 0)?) {
            found[i].model_ids.push(id(&row, 1)?);
        }
    }
    Ok(found)
}

/// Every usable key with its secret digest, for the gateway's in-memory table.
///
/// Two unordered passes (keys, then every key's models), converted row by row: a million
/// keys load in seconds and never sit in memory twice.
pub async fn gateway_keys(conn: &mut AnyConnection, now: Timestamp) -> Result<Vec<GatewayKey>> {
    let keys = format!(
        "SELECT {GATEWAY_COLUMNS} FROM api_keys k JOIN users u ON u.id = k.user_id \
         WHERE k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > $1)"
    );
    // Revoked keys' models too: cheaper to skip than to join away.
    let models = sqlx::query("SELECT key_id, model_id FROM api_key_models");
    gateway_keys_by(conn, sqlx::query(&keys).bind(now.as_millis()), models).await
}

/// One key for the gateway, whatever its state (the gateway drops unusable ones).
pub async fn gateway_key(conn: &mut AnyConnection, key_id: Id) -> Result<Option<GatewayKey>> {
    let keys = format!("SELECT {GATEWAY_COLUMNS} FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.id = $1");
    let models = sqlx::query("SELECT key_id, model_id FROM api_key_models WHERE key_id = $1").bind(key_id.as_i64());
    Ok(gateway_keys_by(conn, sqlx::query(&keys).bind(key_id.as_i64()), models).await?.pop())
}

/// Revokes the user's usable keys billed to teams of `org` (when they leave it); returns their ids.
pub async fn revoke_for_member(conn: &mut AnyConnection, user: Id, org: Id, now: Timestamp) -> Result<Vec<Id>> {
    let rows = sqlx::query(
        "UPDATE api_keys SET revoked_at = $1, updated_at = $1 WHERE user_id = $2 AND revoked_at IS NULL \
         AND team_id IN (SELECT id FROM teams WHERE org_id = $3) RETURNING id",
    )
    .bind(now.as_millis())
    .bind(user.as_i64())
    .bind(org.as_i64())
    .fetch_all(conn)
    .await?;
    rows.iter().map(|r| id(r, "id")).collect()
}

/// Every key of one user, whatever its state (for the gateway, when the user changes).
pub async fn gateway_keys_of_user(conn: &mut AnyConnection, user: Id) -> Result<Vec<GatewayKey>> {
    let keys = format!(
        "SELECT {GATEWAY_COLUMNS} FROM api_keys k JOIN users u ON u.id = k.user_id \
         WHERE k.user_id = $1 AND k.revoked_at IS NULL"
    );
    let models = sqlx::query(
        "SELECT km.key_id, km.model_id FROM api_key_models km JOIN api_keys k ON k.id = km.key_id \
         WHERE k.user_id = $1 AND k.revoked_at IS NULL",
    )
    .bind(user.as_i64());
    gateway_keys_by(conn, sqlx::query(&keys).bind(user.as_i64()), models).await
}
