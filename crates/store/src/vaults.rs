//! Vaults and their grants.

use purser_domain::page::{Page, PageRequest};
use purser_domain::vault::{Grant, Grantee, Vault, VaultRole};
use purser_domain::{Id, Timestamp};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::rows::{count, id, opt_ts, parsed, ts};
use crate::{Result, StoreError};

const COLUMNS: &str =
    "id, org_id, name, description, sync_status, sync_error, synced_at, created_by, created_at, updated_at";

fn vault(row: &AnyRow) -> Result<Vault> {
    Ok(Vault {
        id: id(row, "id")?,
        org_id: id(row, "org_id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        sync_status: parsed(row, "sync_status")?,
        sync_error: row.try_get("sync_error")?,
        synced_at: opt_ts(row, "synced_at")?,
        created_by: row.try_get::<Option<i64>, _>("created_by")?.map(Id::from_i64),
        created_at: ts(row, "created_at")?,
        updated_at: ts(row, "updated_at")?,
    })
}

pub async fn insert(conn: &mut AnyConnection, v: &Vault) -> Result<()> {
    sqlx::query(
        "INSERT INTO vaults (id, org_id, name, description, sync_status, sync_error, synced_at, created_by, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(v.id.as_i64())
    .bind(v.org_id.as_i64())
    .bind(&v.name)
    .bind(v.description.as_deref())
    .bind(v.sync_status.as_str())
    .bind(v.sync_error.as_deref())
    .bind(v.synced_at.map(Timestamp::as_millis))
    .bind(v.created_by.map(Id::as_i64))
    .bind(v.created_at.as_millis())
    .bind(v.updated_at.as_millis())
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get(conn: &mut AnyConnection, org_id: Id, vault_id: Id) -> Result<Option<Vault>> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM vaults WHERE id = $1 AND org_id = $2"))
        .bind(vault_id.as_i64())
        .bind(org_id.as_i64())
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(vault)
        .transpose()
}

pub async fn list(conn: &mut AnyConnection, org_id: Id, page: PageRequest) -> Result<Page<Vault>> {
    let total = count(
        &sqlx::query("SELECT COUNT(*) FROM vaults WHERE org_id = $1")
            .bind(org_id.as_i64())
            .fetch_one(&mut *conn)
            .await?,
    )?;
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM vaults WHERE org_id = $1 ORDER BY created_at, id LIMIT $2 OFFSET $3"
    ))
    .bind(org_id.as_i64())
    .bind(i64::from(page.limit))
    .bind(page.offset())
    .fetch_all(conn)
    .await?;
    Ok(Page { items: rows.iter().map(vault).collect::<Result<_>>()?, page, total })
}

pub async fn count_in(conn: &mut AnyConnection, org_id: Id) -> Result<u64> {
    count(&sqlx::query("SELECT COUNT(*) FROM vaults WHERE org_id = $1").bind(org_id.as_i64()).fetch_one(conn).await?)
}

pub async fn update(conn: &mut AnyConnection, v: &Vault) -> Result<()> {
    let done = sqlx::query("UPDATE vaults SET name = $1, description = $2, updated_at = $3 WHERE id = $4")
        .bind(&v.name)
        .bind(v.description.as_deref())
        .bind(v.updated_at.as_millis())
        .bind(v.id.as_i64())
        .execute(conn)
        .await?;
    if done.rows_affected() == 1 { Ok(()) } else { Err(StoreError::NotFound) }
}

pub async fn delete(conn: &mut AnyConnection, vault_id: Id) -> Result<()> {
    for statement in
        ["DELETE FROM vault_grants WHERE vault_id = $1", "DELETE FROM vault_refresh_tokens WHERE vault_id = $1"]
    {
        sqlx::query(statement).bind(vault_id.as_i64()).execute(&mut *conn).await?;
    }
    sqlx::query("DELETE FROM vaults WHERE id = $1").bind(vault_id.as_i64()).execute(conn).await?;
    Ok(())
}

fn grant(row: &AnyRow) -> Result<Grant> {
    let kind: String = row.try_get("grantee_kind")?;
    let grantee = Grantee::from_kind(&kind, id(row, "grantee_id")?)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown grantee kind {kind:?}")))?;
    Ok(Grant {
        vault_id: id(row, "vault_id")?,
        grantee,
        role: parsed(row, "role")?,
        granted_by: row.try_get::<Option<i64>, _>("granted_by")?.map(Id::from_i64),
        created_at: ts(row, "created_at")?,
        updated_at: ts(row, "updated_at")?,
    })
}

const GRANT_COLUMNS: &str = "vault_id, grantee_kind, grantee_id, role, granted_by, created_at, updated_at";

/// Every grant on the vault: users, then teams, then clients, oldest first.
pub async fn grants(conn: &mut AnyConnection, vault_id: Id) -> Result<Vec<Grant>> {
    let rows = sqlx::query(&format!(
        "SELECT {GRANT_COLUMNS} FROM vault_grants WHERE vault_id = $1 \
         ORDER BY CASE grantee_kind WHEN 'user' THEN 0 WHEN 'team' THEN 1 ELSE 2 END, created_at, grantee_id"
    ))
    .bind(vault_id.as_i64())
    .fetch_all(conn)
    .await?;
    rows.iter().map(grant).collect()
}

pub async fn grant_of(conn: &mut AnyConnection, vault_id: Id, grantee: Grantee) -> Result<Option<Grant>> {
    sqlx::query(&format!(
        "SELECT {GRANT_COLUMNS} FROM vault_grants WHERE vault_id = $1 AND grantee_kind = $2 AND grantee_id = $3"
    ))
    .bind(vault_id.as_i64())
    .bind(grantee.kind())
    .bind(grantee.id().as_i64())
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(grant)
    .transpose()
}

/// The roles a user holds on a vault: their own grant and those of the teams they are in,
/// while they are a member of the vault's organization.
pub async fn roles_of_user(conn: &mut AnyConnection, vault_id: Id, user_id: Id) -> Result<Vec<VaultRole>> {
    let rows = sqlx::query(
        "SELECT g.role FROM vault_grants g JOIN vaults v ON v.id = g.vault_id \
         JOIN organization_members m ON m.org_id = v.org_id AND m.user_id = $2 \
         WHERE g.vault_id = $1 AND ((g.grantee_kind = 'user' AND g.grantee_id = $2) \
         OR (g.grantee_kind = 'team' AND g.grantee_id IN (SELECT team_id FROM team_members WHERE user_id = $2)))",
    )
    .bind(vault_id.as_i64())
    .bind(user_id.as_i64())
    .fetch_all(conn)
    .await?;
    rows.iter().map(|row| parsed(row, "role")).collect()
}

/// Creates or changes a grant.
pub async fn put_grant(conn: &mut AnyConnection, g: &Grant) -> Result<()> {
    sqlx::query(
        "INSERT INTO vault_grants (vault_id, grantee_kind, grantee_id, role, granted_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (vault_id, grantee_kind, grantee_id) \
         DO UPDATE SET role = excluded.role, granted_by = excluded.granted_by, updated_at = excluded.updated_at",
    )
    .bind(g.vault_id.as_i64())
    .bind(g.grantee.kind())
    .bind(g.grantee.id().as_i64())
    .bind(g.role.as_str())
    .bind(g.granted_by.map(Id::as_i64))
    .bind(g.created_at.as_millis())
    .bind(g.updated_at.as_millis())
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn delete_grant(conn: &mut AnyConnection, vault_id: Id, grantee: Grantee) -> Result<bool> {
    let done = sqlx::query("DELETE FROM vault_grants WHERE vault_id = $1 AND grantee_kind = $2 AND grantee_id = $3")
        .bind(vault_id.as_i64())
        .bind(grantee.kind())
        .bind(grantee.id().as_i64())
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The vaults that grant the grantee a role.
pub async fn vaults_granting(conn: &mut AnyConnection, grantee: Grantee) -> Result<Vec<Id>> {
    let rows = sqlx::query("SELECT vault_id FROM vault_grants WHERE grantee_kind = $1 AND grantee_id = $2")
        .bind(grantee.kind())
        .bind(grantee.id().as_i64())
        .fetch_all(conn)
        .await?;
    rows.iter().map(|row| id(row, "vault_id")).collect()
}
