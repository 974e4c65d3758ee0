//! Sessions and the hashed refresh tokens issued under them.

use purser_domain::session::{RefreshToken, Session};
use purser_domain::user::User;
use purser_domain::{Id, Timestamp};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::Result;
use crate::rows::{flag, id, opt_ts, parsed, ts};

fn session(row: &AnyRow) -> Result<Session> {
    Ok(Session {
        id: id(row, "id")?,
        user_id: id(row, "user_id")?,
        user_agent: row.try_get("user_agent")?,
        ip: row.try_get("ip")?,
        created_at: ts(row, "created_at")?,
        expires_at: ts(row, "expires_at")?,
        revoked_at: opt_ts(row, "revoked_at")?,
    })
}

pub async fn insert(conn: &mut AnyConnection, s: &Session) -> Result<()> {
    sqlx::query(
        "INSERT INTO sessions (id, user_id, user_agent, ip, created_at, expires_at, revoked_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(s.id.as_i64())
    .bind(s.user_id.as_i64())
    .bind(s.user_agent.as_deref())
    .bind(s.ip.as_deref())
    .bind(s.created_at.as_millis())
    .bind(s.expires_at.as_millis())
    .bind(s.revoked_at.map(Timestamp::as_millis))
    .execute(conn)
    .await?;
    Ok(())
}

/// The session and its user, read together because every authenticated request needs both.
pub async fn with_user(conn: &mut AnyConnection, session_id: Id) -> Result<Option<(Session, User)>> {
    let row = sqlx::query(
        "SELECT s.id, s.user_id, s.user_agent, s.ip, s.created_at, s.expires_at, s.revoked_at, \
                u.email, u.name, u.role, u.active, u.created_at AS user_created_at, \
                u.updated_at AS user_updated_at, \
                EXISTS (SELECT 1 FROM user_emails e WHERE e.user_id = u.id AND e.is_primary = TRUE \
                        AND e.verified_at IS NOT NULL) AS email_verified \
         FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1",
    )
    .bind(session_id.as_i64())
    .fetch_optional(conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let session = session(&row)?;
    let user = User {
        id: session.user_id,
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        role: parsed(&row, "role")?,
        active: flag(&row, "active")?,
        email_verified: flag(&row, "email_verified")?,
        created_at: ts(&row, "user_created_at")?,
        updated_at: ts(&row, "user_updated_at")?,
    };
    Ok(Some((session, user)))
}

/// Revokes a session; returns whether it was live before.
pub async fn revoke(conn: &mut AnyConnection, session_id: Id, now: Timestamp) -> Result<bool> {
    let done = sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(now.as_millis())
        .bind(session_id.as_i64())
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn insert_refresh_token(conn: &mut AnyConnection, token_hash: &str, token: &RefreshToken) -> Result<()> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at, used_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token_hash)
    .bind(token.session_id.as_i64())
    .bind(token.created_at.as_millis())
    .bind(token.expires_at.as_millis())
    .bind(token.used_at.map(Timestamp::as_millis))
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn refresh_token(conn: &mut AnyConnection, token_hash: &str) -> Result<Option<RefreshToken>> {
    let row =
        sqlx::query("SELECT session_id, created_at, expires_at, used_at FROM refresh_tokens WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(conn)
            .await?;
    row.map(|row| {
        Ok(RefreshToken {
            session_id: id(&row, "session_id")?,
            created_at: ts(&row, "created_at")?,
            expires_at: ts(&row, "expires_at")?,
            used_at: opt_ts(&row, "used_at")?,
        })
    })
    .transpose()
}

/// Marks a refresh token used. Returns false if it was already used, so two concurrent
/// refreshes with the same token cannot both succeed.
pub async fn use_refresh_token(conn: &mut AnyConnection, token_hash: &str, now: Timestamp) -> Result<bool> {
    let done = sqlx::query("UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL")
        .bind(now.as_millis())
        .bind(token_hash)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Moves a session's end (refreshing keeps a session alive).
pub async fn extend(conn: &mut AnyConnection, session_id: Id, expires_at: Timestamp) -> Result<()> {
    sqlx::query("UPDATE sessions SET expires_at = $1 WHERE id = $2")
        .bind(expires_at.as_millis())
        .bind(session_id.as_i64())
        .execute(conn)
        .await?;
    Ok(())
}

/// Revokes every live session of a user except `keep`; returns how many were ended.
pub async fn revoke_all_for_user(conn: &mut AnyConnection, user: Id, keep: Option<Id>, now: Timestamp) -> Result<u64> {
    let done =
        sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL AND id <> $3")
            .bind(now.as_millis())
            .bind(user.as_i64())
            .bind(keep.map_or(0, Id::as_i64))
            .execute(conn)
            .await?;
    Ok(done.rows_affected())
}

/// A user's sessions that are neither revoked nor expired, newest first.
pub async fn live_for_user(conn: &mut AnyConnection, user: Id, now: Timestamp) -> Result<Vec<Session>> {
    sqlx::query(
        "SELECT id, user_id, user_agent, ip, created_at, expires_at, revoked_at FROM sessions \
         WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 ORDER BY id DESC",
    )
    .bind(user.as_i64())
    .bind(now.as_millis())
    .fetch_all(conn)
    .await?
    .iter()
    .map(session)
    .collect()
}

pub async fn by_id(conn: &mut AnyConnection, session_id: Id) -> Result<Option<Session>> {
    sqlx::query("SELECT id, user_id, user_agent, ip, created_at, expires_at, revoked_at FROM sessions WHERE id = $1")
        .bind(session_id.as_i64())
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(session)
        .transpose()
}

/// Marks a session as a browser session held by a cookie whose secret digests to `cookie_hash`.
pub async fn set_cookie(conn: &mut AnyConnection, session_id: Id, cookie_hash: &str) -> Result<()> {
    sqlx::query("UPDATE sessions SET cookie_hash = $1 WHERE id = $2")
        .bind(cookie_hash)
        .bind(session_id.as_i64())
        .execute(conn)
        .await?;
    Ok(())
}

/// The session a browser cookie stands for.
pub async fn by_cookie(conn: &mut AnyConnection, cookie_hash: &str) -> Result<Option<Id>> {
    let row =
        sqlx::query("SELECT id FROM sessions WHERE cookie_hash = $1").bind(cookie_hash).fetch_optional(conn).await?;
    row.map(|r| id(&r, "id")).transpose()
}
