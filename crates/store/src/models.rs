//! The model catalog. Deleted models are kept (usage history points at them) but hidden.

use purser_domain::model::{Capability, Model};
use purser_domain::page::{Page, PageRequest};
use purser_domain::{Id, Timestamp, TokenPrice};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::rows::{Arg, Filter, contains_pattern, count, flag, id, opt_u32, ts};
use crate::{Result, StoreError, deployments};

const COLUMNS: &str = "id, name, provider, description, input_cost_per_token, output_cost_per_token, context_length, capabilities, restricted, created_at, updated_at";

#[derive(Debug, Clone, Default)]
pub struct ModelFilter {
    /// Case-insensitive substring of the name or description.
    pub search: Option<String>,
    pub provider: Option<String>,
    pub capability: Option<Capability>,
}

fn capabilities_text(caps: &[Capability]) -> String {
    let mut names: Vec<&str> = caps.iter().map(|c| c.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    names.join(",")
}

fn model(row: &AnyRow) -> Result<Model> {
    let caps: String = row.try_get("capabilities")?;
    let capabilities = caps
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::parse)
        .collect::<Result<Vec<Capability>, String>>()
        .map_err(StoreError::Corrupt)?;
    Ok(Model {
        id: id(row, "id")?,
        name: row.try_get("name")?,
        provider: row.try_get("provider")?,
        description: row.try_get("description")?,
        deployments: Vec::new(),
        input_cost_per_token: TokenPrice::from_femtos(row.try_get("input_cost_per_token")?),
        output_cost_per_token: TokenPrice::from_femtos(row.try_get("output_cost_per_token")?),
        context_length: opt_u32(row, "context_length")?,
        capabilities,
        restricted: flag(row, "restricted")?,
        created_at: ts(row, "created_at")?,
        updated_at: ts(row, "updated_at")?,
    })
}

/// Fills in each model's deployments.
async fn with_deployments(conn: &mut AnyConnection, mut models: Vec<Model>) -> Result<Vec<Model>> {
    let ids: Vec<Id> = models.iter().map(|m| m.id).collect();
    let mut deployments = deployments::of_models(conn, &ids).await?;
    for m in &mut models {
        m.deployments = deployments.remove(&m.id).unwrap_or_default();
    }
    Ok(models)
}

/// Inserts a model with its deployments; [`StoreError::Conflict`] if a live model has the
/// same name.
pub async fn insert(conn: &mut AnyConnection, m: &Model) -> Result<()> {
    sqlx::query(&format!("INSERT INTO models ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"))
        .bind(m.id.as_i64())
        .bind(&m.name)
        .bind(&m.provider)
        .bind(m.description.as_deref())
        .bind(m.input_cost_per_token.femtos())
        .bind(m.output_cost_per_token.femtos())
        .bind(m.context_length.map(i64::from))
        .bind(capabilities_text(&m.capabilities))
        .bind(m.restricted)
        .bind(m.created_at.as_millis())
        .bind(m.updated_at.as_millis())
        .execute(&mut *conn)
        .await?;
    for d in &m.deployments {
        deployments::insert(conn, d).await?;
    }
    Ok(())
}

/// Writes every field of a live model but its deployments (see [`deployments`]);
/// [`StoreError::NotFound`] if it is gone.
pub async fn update(conn: &mut AnyConnection, m: &Model) -> Result<()> {
    let done = sqlx::query(
        "UPDATE models SET name = $1, provider = $2, description = $3, input_cost_per_token = $4, \
         output_cost_per_token = $5, context_length = $6, capabilities = $7, restricted = $8, \
         updated_at = $9 WHERE id = $10 AND deleted_at IS NULL",
    )
    .bind(&m.name)
    .bind(&m.provider)
    .bind(m.description.as_deref())
    .bind(m.input_cost_per_token.femtos())
    .bind(m.output_cost_per_token.femtos())
    .bind(m.context_length.map(i64::from))
    .bind(capabilities_text(&m.capabilities))
    .bind(m.restricted)
    .bind(m.updated_at.as_millis())
    .bind(m.id.as_i64())
    .execute(conn)
    .await?;
    if done.rows_affected() == 1 { Ok(()) } else { Err(StoreError::NotFound) }
}

/// A live (not deleted) model.
pub async fn by_id(conn: &mut AnyConnection, model_id: Id) -> Result<Option<Model>> {
    let found = sqlx::query(&format!("SELECT {COLUMNS} FROM models WHERE id = $1 AND deleted_at IS NULL"))
        .bind(model_id.as_i64())
        .fetch_optional(&mut *conn)
        .await?
        .as_ref()
        .map(model)
        .transpose()?;
    Ok(with_deployments(conn, found.into_iter().collect()).await?.pop())
}

/// Live models with any of these ids.
pub async fn by_ids(conn: &mut AnyConnection, ids: &[Id]) -> Result<Vec<Model>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    let sql = format!("SELECT {COLUMNS} FROM models WHERE deleted_at IS NULL AND id IN ({})", placeholders.join(", "));
    let mut query = sqlx::query(&sql);
    for model_id in ids {
        query = query.bind(model_id.as_i64());
    }
    let models = query.fetch_all(&mut *conn).await?.iter().map(model).collect::<Result<_>>()?;
    with_deployments(conn, models).await
}

pub async fn list(conn: &mut AnyConnection, filter: &ModelFilter, page: PageRequest) -> Result<Page<Model>> {
    let mut conditions = Filter::default();
    conditions.and("deleted_at IS NULL", []);
    if let Some(search) = &filter.search {
        let pattern = contains_pattern(search);
        conditions.and(
            "(LOWER(name) LIKE ? ESCAPE '\\' OR LOWER(COALESCE(description, '')) LIKE ? ESCAPE '\\')",
            [Arg::Text(pattern.clone()), Arg::Text(pattern)],
        );
    }
    if let Some(provider) = &filter.provider {
        conditions.and("provider = ?", [Arg::Text(provider.clone())]);
    }
    if let Some(capability) = filter.capability {
        conditions.and("(',' || capabilities || ',') LIKE ?", [Arg::Text(format!("%,{},%", capability.as_str()))]);
    }
    let where_sql = conditions.sql();
    let total = count(
        &conditions.bind(sqlx::query(&format!("SELECT COUNT(*) FROM models{where_sql}"))).fetch_one(&mut *conn).await?,
    )?;
    let n = conditions.next_placeholder();
    let sql = format!("SELECT {COLUMNS} FROM models{where_sql} ORDER BY name LIMIT ${} OFFSET ${}", n, n + 1);
    let rows = conditions
        .bind(sqlx::query(&sql))
        .bind(i64::from(page.limit))
        .bind(page.offset())
        .fetch_all(&mut *conn)
        .await?;
    let items = with_deployments(conn, rows.iter().map(model).collect::<Result<_>>()?).await?;
    Ok(Page { items, page, total })
}

/// Every live model (for the gateway's routing table).
pub async fn all_live(conn: &mut AnyConnection) -> Result<Vec<Model>> {
    let models = sqlx::query(&format!("SELECT {COLUMNS} FROM models WHERE deleted_at IS NULL ORDER BY id"))
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(model)
        .collect::<Result<_>>()?;
    with_deployments(conn, models).await
}

/// Hides a model; [`StoreError::NotFound`] if it is already gone.
pub async fn soft_delete(conn: &mut AnyConnection, model_id: Id, now: Timestamp) -> Result<()> {
    let done = sqlx::query("UPDATE models SET deleted_at = $1, updated_at = $1 WHERE id = $2 AND deleted_at IS NULL")
        .bind(now.as_millis())
        .bind(model_id.as_i64())
        .execute(conn)
        .await?;
    if done.rows_affected() == 1 { Ok(()) } else { Err(StoreError::NotFound) }
}
