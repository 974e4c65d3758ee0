//! Service clients and their certificates (Ed25519 public keys).

use purser_domain::page::{Page, PageRequest};
use purser_domain::vault::{Certificate, ServiceClient, VaultRole};
use purser_domain::{Id, Timestamp};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::rows::{count, flag, id, opt_parsed, opt_ts, ts};
use crate::{Result, StoreError};

const COLUMNS: &str = "id, org_id, name, description, disabled, created_by, created_at, updated_at";

fn client(row: &AnyRow) -> Result<ServiceClient> {
    Ok(ServiceClient {
        id: id(row, "id")?,
        org_id: id(row, "org_id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        disabled: flag(row, "disabled")?,
        created_by: row.try_get::<Option<i64>, _>("created_by")?.map(Id::from_i64),
        created_at: ts(row, "created_at")?,
        updated_at: ts(row, "updated_at")?,
    })
}

pub async fn insert(conn: &mut AnyConnection, c: &ServiceClient) -> Result<()> {
    sqlx::query(
        "INSERT INTO service_clients (id, org_id, name, description, disabled, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(c.id.as_i64())
    .bind(c.org_id.as_i64())
    .bind(&c.name)
    .bind(c.description.as_deref())
    .bind(c.disabled)
    .bind(c.created_by.map(Id::as_i64))
    .bind(c.created_at.as_millis())
    .bind(c.updated_at.as_millis())
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get(conn: &mut AnyConnection, org_id: Id, client_id: Id) -> Result<Option<ServiceClient>> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM service_clients WHERE id = $1 AND org_id = $2"))
        .bind(client_id.as_i64())
        .bind(org_id.as_i64())
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(client)
        .transpose()
}

pub async fn list(conn: &mut AnyConnection, org_id: Id, page: PageRequest) -> Result<Page<ServiceClient>> {
    let total = count(
        &sqlx::query("SELECT COUNT(*) FROM service_clients WHERE org_id = $1")
            .bind(org_id.as_i64())
            .fetch_one(&mut *conn)
            .await?,
    )?;
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM service_clients WHERE org_id = $1 ORDER BY created_at, id LIMIT $2 OFFSET $3"
    ))
    .bind(org_id.as_i64())
    .bind(i64::from(page.limit))
    .bind(page.offset())
    .fetch_all(conn)
    .await?;
    Ok(Page { items: rows.iter().map(client).collect::<Result<_>>()?, page, total })
}

pub async fn update(conn: &mut AnyConnection, c: &ServiceClient) -> Result<()> {
    let done = sqlx::query(
        "UPDATE service_clients SET name = $1, description = $2, disabled = $3, updated_at = $4 WHERE id = $5",
    )
    .bind(&c.name)
    .bind(c.description.as_deref())
    .bind(c.disabled)
    .bind(c.updated_at.as_millis())
    .bind(c.id.as_i64())
    .execute(conn)
    .await?;
    if done.rows_affected() == 1 { Ok(()) } else { Err(StoreError::NotFound) }
}

/// Deletes the client with its certificates; its grants and refresh tokens go with it.
pub async fn delete(conn: &mut AnyConnection, client_id: Id) -> Result<()> {
    for statement in [
        "DELETE FROM client_certificates WHERE client_id = $1",
        "DELETE FROM vault_grants WHERE grantee_kind = 'client' AND grantee_id = $1",
        "DELETE FROM vault_refresh_tokens WHERE subject_kind = 'client' AND subject_id = $1",
        "DELETE FROM service_clients WHERE id = $1",
    ] {
        sqlx::query(statement).bind(client_id.as_i64()).execute(&mut *conn).await?;
    }
    Ok(())
}

const CERT_COLUMNS: &str =
    "id, client_id, org_id, kid, name, public_key, created_at, expires_at, last_used_at, revoked_at";
/// The same, of `client_certificates c` in a join.
const CERT_COLUMNS_OF_C: &str = "c.id, c.client_id, c.org_id, c.kid, c.name, c.public_key, c.created_at, \
     c.expires_at, c.last_used_at, c.revoked_at";

fn certificate(row: &AnyRow) -> Result<Certificate> {
    let key: Vec<u8> = row.try_get("public_key")?;
    Ok(Certificate {
        id: id(row, "id")?,
        client_id: id(row, "client_id")?,
        org_id: id(row, "org_id")?,
        kid: row.try_get("kid")?,
        name: row.try_get("name")?,
        public_key: key.try_into().map_err(|_| StoreError::Corrupt("a public key is not 32 bytes".into()))?,
        created_at: ts(row, "created_at")?,
        expires_at: opt_ts(row, "expires_at")?,
        last_used_at: opt_ts(row, "last_used_at")?,
        revoked_at: opt_ts(row, "revoked_at")?,
    })
}

pub async fn insert_certificate(conn: &mut AnyConnection, c: &Certificate) -> Result<()> {
    sqlx::query(
        "INSERT INTO client_certificates (id, client_id, org_id, kid, name, public_key, created_at, expires_at, \
         last_used_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(c.id.as_i64())
    .bind(c.client_id.as_i64())
    .bind(c.org_id.as_i64())
    .bind(&c.kid)
    .bind(&c.name)
    .bind(c.public_key.as_slice())
    .bind(c.created_at.as_millis())
    .bind(c.expires_at.map(Timestamp::as_millis))
    .bind(c.last_used_at.map(Timestamp::as_millis))
    .bind(c.revoked_at.map(Timestamp::as_millis))
    .execute(conn)
    .await?;
    Ok(())
}

/// A client's certificates, revoked ones included, oldest first.
pub async fn certificates(conn: &mut AnyConnection, client_id: Id) -> Result<Vec<Certificate>> {
    let rows = sqlx::query(&format!(
        "SELECT {CERT_COLUMNS} FROM client_certificates WHERE client_id = $1 ORDER BY created_at, id"
    ))
    .bind(client_id.as_i64())
    .fetch_all(conn)
    .await?;
    rows.iter().map(certificate).collect()
}

pub async fn certificate_of(conn: &mut AnyConnection, client_id: Id, cert_id: Id) -> Result<Option<Certificate>> {
    sqlx::query(&format!("SELECT {CERT_COLUMNS} FROM client_certificates WHERE id = $1 AND client_id = $2"))
        .bind(cert_id.as_i64())
        .bind(client_id.as_i64())
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(certificate)
        .transpose()
}

pub async fn revoke_certificate(conn: &mut AnyConnection, cert_id: Id, now: Timestamp) -> Result<bool> {
    let done = sqlx::query("UPDATE client_certificates SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(now.as_millis())
        .bind(cert_id.as_i64())
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The organization's certificates that can sign assertions now, of enabled clients.
pub async fn usable_certificates(conn: &mut AnyConnection, org_id: Id, now: Timestamp) -> Result<Vec<Certificate>> {
    let rows = sqlx::query(&format!(
        "SELECT {CERT_COLUMNS_OF_C} FROM client_certificates c JOIN service_clients s ON s.id = c.client_id \
         WHERE c.org_id = $1 AND c.revoked_at IS NULL AND (c.expires_at IS NULL OR c.expires_at > $2) \
         AND s.disabled = $3 ORDER BY c.created_at, c.id"
    ))
    .bind(org_id.as_i64())
    .bind(now.as_millis())
    .bind(false)
    .fetch_all(conn)
    .await?;
    rows.iter().map(certificate).collect()
}

/// What a client assertion needs, in one read: the certificate its `kid` names, whether
/// that client is disabled, and the client's role on `vault_id` (none when the vault does
/// not exist, is another organization's, or grants the client nothing).
pub async fn assertion_key(
    conn: &mut AnyConnection,
    kid: &str,
    vault_id: Option<Id>,
) -> Result<Option<(Certificate, bool, Option<VaultRole>)>> {
    let Some(row) = sqlx::query(&format!(
        "SELECT {CERT_COLUMNS_OF_C}, s.disabled, g.role AS grant_role FROM client_certificates c \
         JOIN service_clients s ON s.id = c.client_id \
         LEFT JOIN vaults v ON v.id = $2 AND v.org_id = c.org_id \
         LEFT JOIN vault_grants g ON g.vault_id = v.id AND g.grantee_kind = 'client' AND g.grantee_id = c.client_id \
         WHERE c.kid = $1"
    ))
    .bind(kid)
    .bind(vault_id.map_or(-1, Id::as_i64))
    .fetch_optional(conn)
    .await?
    else {
        return Ok(None);
    };
    Ok(Some((certificate(&row)?, flag(&row, "disabled")?, opt_parsed(&row, "grant_role")?)))
}

/// Notes a certificate's use, at most once a minute (a write per token would be waste).
pub async fn touch_certificate(conn: &mut AnyConnection, cert_id: Id, now: Timestamp) -> Result<()> {
    sqlx::query(
        "UPDATE client_certificates SET last_used_at = $1 WHERE id = $2 \
         AND (last_used_at IS NULL OR last_used_at < $3)",
    )
    .bind(now.as_millis())
    .bind(cert_id.as_i64())
    .bind(now.plus_secs(-60).as_millis())
    .execute(conn)
    .await?;
    Ok(())
}
