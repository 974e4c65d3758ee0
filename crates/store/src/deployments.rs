//! A model's deployments: the servers the gateway sends its requests to.

use std::collections::HashMap;

use purser_domain::Id;
use purser_domain::model::Deployment;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::rows::{id, opt_u32, ts};
use crate::{Result, StoreError};

const COLUMNS: &str = "id, model_id, upstream_url, upstream_model, upstream_api_key, weight, rpm_limit, tpm_limit, \
    created_at, updated_at";

fn deployment(row: &AnyRow) -> Result<Deployment> {
    let weight: i64 = row.try_get("weight")?;
    Ok(Deployment {
        id: id(row, "id")?,
        model_id: id(row, "model_id")?,
        upstream_url: row.try_get("upstream_url")?,
        upstream_model: row.try_get("upstream_model")?,
        upstream_api_key: row.try_get("upstream_api_key")?,
        weight: u32::try_from(weight).map_err(|_| StoreError::Corrupt(format!("weight = {weight}")))?,
        rpm_limit: opt_u32(row, "rpm_limit")?,
        tpm_limit: opt_u32(row, "tpm_limit")?,
        created_at: ts(row, "created_at")?,
        updated_at: ts(row, "updated_at")?,
    })
}

pub async fn insert(conn: &mut AnyConnection, d: &Deployment) -> Result<()> {
    sqlx::query(&format!("INSERT INTO model_deployments ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"))
        .bind(d.id.as_i64())
        .bind(d.model_id.as_i64())
        .bind(&d.upstream_url)
        .bind(&d.upstream_model)
        .bind(d.upstream_api_key.as_deref())
        .bind(i64::from(d.weight))
        .bind(d.rpm_limit.map(i64::from))
        .bind(d.tpm_limit.map(i64::from))
        .bind(d.created_at.as_millis())
        .bind(d.updated_at.as_millis())
        .execute(conn)
        .await?;
    Ok(())
}

/// Writes every field; [`StoreError::NotFound`] if the deployment is gone.
pub async fn update(conn: &mut AnyConnection, d: &Deployment) -> Result<()> {
    let done = sqlx::query(
        "UPDATE model_deployments SET upstream_url = $1, upstream_model = $2, upstream_api_key = $3, weight = $4, \
         rpm_limit = $5, tpm_limit = $6, updated_at = $7 WHERE id = $8 AND model_id = $9",
    )
    .bind(&d.upstream_url)
    .bind(&d.upstream_model)
    .bind(d.upstream_api_key.as_deref())
    .bind(i64::from(d.weight))
    .bind(d.rpm_limit.map(i64::from))
    .bind(d.tpm_limit.map(i64::from))
    .bind(d.updated_at.as_millis())
    .bind(d.id.as_i64())
    .bind(d.model_id.as_i64())
    .execute(conn)
    .await?;
    if done.rows_affected() == 1 { Ok(()) } else { Err(StoreError::NotFound) }
}

/// Removes a deployment; [`StoreError::NotFound`] if the model has no such deployment.
pub async fn delete(conn: &mut AnyConnection, model_id: Id, deployment_id: Id) -> Result<()> {
    let done = sqlx::query("DELETE FROM model_deployments WHERE id = $1 AND model_id = $2")
        .bind(deployment_id.as_i64())
        .bind(model_id.as_i64())
        .execute(conn)
        .await?;
    if done.rows_affected() == 1 { Ok(()) } else { Err(StoreError::NotFound) }
}

/// The deployments of these models, oldest first, by model.
pub async fn of_models(conn: &mut AnyConnection, model_ids: &[Id]) -> Result<HashMap<Id, Vec<Deployment>>> {
    let mut by_model: HashMap<Id, Vec<Deployment>> = HashMap::new();
    for chunk in model_ids.chunks(1000) {
        let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT {COLUMNS} FROM model_deployments WHERE model_id IN ({}) ORDER BY created_at, id",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for model_id in chunk {
            query = query.bind(model_id.as_i64());
        }
        for row in query.fetch_all(&mut *conn).await? {
            let d = deployment(&row)?;
            by_model.entry(d.model_id).or_default().push(d);
        }
    }
    Ok(by_model)
}
