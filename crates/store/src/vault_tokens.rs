//! What vault tokens need kept: Purser's signing keys, the client assertion ids already
//! accepted, and refresh tokens.

use purser_domain::vault::{Grantee, VaultRole};
use purser_domain::{Id, Timestamp};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::Result;
use crate::rows::{count, id, opt_ts, parsed, ts};

/// A signing key as stored: its private half sealed with the master key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSigningKey {
    pub id: Id,
    pub kid: String,
    pub public_key: Vec<u8>,
    pub sealed_private_key: Vec<u8>,
    pub created_at: Timestamp,
    pub activates_at: Timestamp,
}

pub async fn signing_keys(conn: &mut AnyConnection) -> Result<Vec<StoredSigningKey>> {
    let rows = sqlx::query(
        "SELECT id, kid, public_key, private_key, created_at, activates_at FROM signing_keys ORDER BY activates_at, id",
    )
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(StoredSigningKey {
                id: id(row, "id")?,
                kid: row.try_get("kid")?,
                public_key: row.try_get("public_key")?,
                sealed_private_key: row.try_get("private_key")?,
                created_at: ts(row, "created_at")?,
                activates_at: ts(row, "activates_at")?,
            })
        })
        .collect()
}

/// Adds a key unless one activating at `not_before` or later exists already: replicas that
/// decide to rotate at the same moment add one key between them (on SQLite, where writes
/// are serialised; on PostgreSQL two may land, which only publishes one key more).
pub async fn add_signing_key(conn: &mut AnyConnection, key: &StoredSigningKey, not_before: Timestamp) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO signing_keys (id, kid, public_key, private_key, created_at, activates_at) \
         SELECT $1, $2, $3, $4, $5, $6 WHERE NOT EXISTS (SELECT 1 FROM signing_keys WHERE activates_at >= $7)",
    )
    .bind(key.id.as_i64())
    .bind(&key.kid)
    .bind(key.public_key.as_slice())
    .bind(key.sealed_private_key.as_slice())
    .bind(key.created_at.as_millis())
    .bind(key.activates_at.as_millis())
    .bind(not_before.as_millis())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn delete_signing_keys(conn: &mut AnyConnection, ids: &[Id]) -> Result<()> {
    for key in ids {
        sqlx::query("DELETE FROM signing_keys WHERE id = $1").bind(key.as_i64()).execute(&mut *conn).await?;
    }
    Ok(())
}

/// Spends an assertion id of a client that was refused, until `expires_at`: true the first
/// time, false for a replay (of a refused assertion, or of one that got a token). One
/// statement, so two requests racing with the same id (on any replica) see one true. An id
/// whose earlier refused use has expired is accepted again.
pub async fn spend_assertion(
    conn: &mut AnyConnection,
    client_id: Id,
    jti: &str,
    expires_at: Timestamp,
    now: Timestamp,
) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO assertion_ids (client_id, jti, expires_at) SELECT $1, $2, $3 WHERE NOT EXISTS \
         (SELECT 1 FROM vault_refresh_tokens WHERE subject_kind = 'client' AND subject_id = $1 AND assertion_jti = $2) \
         ON CONFLICT (client_id, jti) DO UPDATE SET expires_at = excluded.expires_at \
         WHERE assertion_ids.expires_at <= $4",
    )
    .bind(client_id.as_i64())
    .bind(jti)
    .bind(expires_at.as_millis())
    .bind(now.as_millis())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A vault refresh token as stored (its digest, not the token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub id: Id,
    pub family_id: Id,
    pub org_id: Id,
    pub vault_id: Id,
    pub subject: Grantee,
    pub role: VaultRole,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

const REFRESH_COLUMNS: &str =
    "id, family_id, org_id, vault_id, subject_kind, subject_id, role, created_at, expires_at, used_at, revoked_at";

fn refresh_token(row: &AnyRow) -> Result<RefreshToken> {
    let kind: String = row.try_get("subject_kind")?;
    let subject = Grantee::from_kind(&kind, id(row, "subject_id")?)
        .ok_or_else(|| crate::StoreError::Corrupt(format!("unknown subject kind {kind:?}")))?;
    Ok(RefreshToken {
        id: id(row, "id")?,
        family_id: id(row, "family_id")?,
        org_id: id(row, "org_id")?,
        vault_id: id(row, "vault_id")?,
        subject,
        role: parsed(row, "role")?,
        created_at: ts(row, "created_at")?,
        expires_at: ts(row, "expires_at")?,
        used_at: opt_ts(row, "used_at")?,
        revoked_at: opt_ts(row, "revoked_at")?,
    })
}

/// What a token was issued on: the certificate the assertion was signed with and the
/// client's role on the vault, as they must still be when the token is stored.
#[derive(Debug, Clone, Copy)]
pub struct AssertionCheck {
    pub certificate_id: Id,
    pub grant: VaultRole,
}

/// Stores the refresh token of a client's assertion exchange, and with it spends the
/// assertion's id. Nothing is stored (false) when the id was spent already (by a token or
/// by a refusal still in force), or when the certificate, the client or the grant are no
/// longer as `check` says (revoked, expired, disabled, changed, the vault gone). One
/// statement: of two replicas racing the same assertion, one stores its token, and a
/// revocation committed before it is never missed.
pub async fn insert_for_assertion(
    conn: &mut AnyConnection,
    t: &RefreshToken,
    digest: &[u8],
    jti: &str,
    check: &AssertionCheck,
    now: Timestamp,
) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO vault_refresh_tokens (id, digest, family_id, org_id, vault_id, subject_kind, subject_id, role, \
         created_at, expires_at, used_at, revoked_at, assertion_jti) \
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, NULL, $11 WHERE NOT EXISTS \
         (SELECT 1 FROM assertion_ids WHERE client_id = $7 AND jti = $11 AND expires_at > $12) \
         AND EXISTS (SELECT 1 FROM client_certificates c JOIN service_clients s ON s.id = c.client_id \
         JOIN vaults v ON v.id = $5 AND v.org_id = c.org_id \
         JOIN vault_grants g ON g.vault_id = v.id AND g.grantee_kind = 'client' AND g.grantee_id = c.client_id \
         WHERE c.id = $13 AND c.client_id = $7 AND c.revoked_at IS NULL AND (c.expires_at IS NULL OR c.expires_at > $12) \
         AND s.disabled = $14 AND g.role = $15) \
         ON CONFLICT DO NOTHING",
    )
    .bind(t.id.as_i64())
    .bind(digest)
    .bind(t.family_id.as_i64())
    .bind(t.org_id.as_i64())
    .bind(t.vault_id.as_i64())
    .bind(t.subject.kind())
    .bind(t.subject.id().as_i64())
    .bind(t.role.as_str())
    .bind(t.created_at.as_millis())
    .bind(t.expires_at.as_millis())
    .bind(jti)
    .bind(now.as_millis())
    .bind(check.certificate_id.as_i64())
    .bind(false)
    .bind(check.grant.as_str())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn insert_refresh(conn: &mut AnyConnection, t: &RefreshToken, digest: &[u8]) -> Result<()> {
    sqlx::query(
        "INSERT INTO vault_refresh_tokens (id, digest, family_id, org_id, vault_id, subject_kind, subject_id, role, \
         created_at, expires_at, used_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(t.id.as_i64())
    .bind(digest)
    .bind(t.family_id.as_i64())
    .bind(t.org_id.as_i64())
    .bind(t.vault_id.as_i64())
    .bind(t.subject.kind())
    .bind(t.subject.id().as_i64())
    .bind(t.role.as_str())
    .bind(t.created_at.as_millis())
    .bind(t.expires_at.as_millis())
    .bind(t.used_at.map(Timestamp::as_millis))
    .bind(t.revoked_at.map(Timestamp::as_millis))
    .execute(conn)
    .await?;
    Ok(())
}

/// Uses a refresh token: marks it used if it is live, in one statement, so of two requests
/// presenting it only one gets it. `None` when it is unknown, used, revoked or expired.
pub async fn use_refresh(conn: &mut AnyConnection, digest: &[u8], now: Timestamp) -> Result<Option<RefreshToken>> {
    sqlx::query(&format!(
        "UPDATE vault_refresh_tokens SET used_at = $1 WHERE digest = $2 AND used_at IS NULL \
         AND revoked_at IS NULL AND expires_at > $1 RETURNING {REFRESH_COLUMNS}"
    ))
    .bind(now.as_millis())
    .bind(digest)
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(refresh_token)
    .transpose()
}

/// A refresh token by its digest, whatever its state.
pub async fn refresh_by_digest(conn: &mut AnyConnection, digest: &[u8]) -> Result<Option<RefreshToken>> {
    sqlx::query(&format!("SELECT {REFRESH_COLUMNS} FROM vault_refresh_tokens WHERE digest = $1"))
        .bind(digest)
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(refresh_token)
        .transpose()
}

/// Revokes every live token of a family; answers how many.
pub async fn revoke_family(conn: &mut AnyConnection, family_id: Id, now: Timestamp) -> Result<u64> {
    let done = sqlx::query(
        "UPDATE vault_refresh_tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL AND used_at IS NULL",
    )
    .bind(now.as_millis())
    .bind(family_id.as_i64())
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// Revokes a vault's live refresh tokens, or only a subject's; answers how many.
pub async fn revoke_for_vault(
    conn: &mut AnyConnection,
    vault_id: Id,
    subject: Option<Grantee>,
    now: Timestamp,
) -> Result<u64> {
    let done = sqlx::query(
        "UPDATE vault_refresh_tokens SET revoked_at = $1 WHERE vault_id = $2 AND revoked_at IS NULL \
         AND used_at IS NULL AND ($3 = '' OR (subject_kind = $3 AND subject_id = $4))",
    )
    .bind(now.as_millis())
    .bind(vault_id.as_i64())
    .bind(subject.map_or("", Grantee::kind))
    .bind(subject.map_or(0, |s| s.id().as_i64()))
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// Revokes every live refresh token of a subject (a client disabled).
pub async fn revoke_for_subject(conn: &mut AnyConnection, subject: Grantee, now: Timestamp) -> Result<u64> {
    let done = sqlx::query(
        "UPDATE vault_refresh_tokens SET revoked_at = $1 WHERE subject_kind = $2 AND subject_id = $3 \
         AND revoked_at IS NULL AND used_at IS NULL",
    )
    .bind(now.as_millis())
    .bind(subject.kind())
    .bind(subject.id().as_i64())
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// How many refresh tokens of the vault could still be used.
pub async fn live_for_vault(conn: &mut AnyConnection, vault_id: Id, now: Timestamp) -> Result<u64> {
    count(
        &sqlx::query(
            "SELECT COUNT(*) FROM vault_refresh_tokens WHERE vault_id = $1 AND revoked_at IS NULL \
             AND used_at IS NULL AND expires_at > $2",
        )
        .bind(vault_id.as_i64())
        .bind(now.as_millis())
        .fetch_one(conn)
        .await?,
    )
}

/// Forgets assertion ids and refresh tokens past their expiry (used and revoked tokens are
/// kept until then, so reuse is still recognised).
pub async fn prune(conn: &mut AnyConnection, now: Timestamp) -> Result<u64> {
    let mut removed = 0;
    for statement in
        ["DELETE FROM assertion_ids WHERE expires_at <= $1", "DELETE FROM vault_refresh_tokens WHERE expires_at <= $1"]
    {
        removed += sqlx::query(statement).bind(now.as_millis()).execute(&mut *conn).await?.rows_affected();
    }
    Ok(removed)
}
