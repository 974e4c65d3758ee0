//! Users' email addresses and the one-time tokens mailed to them.

use purser_domain::user::{EmailToken, TokenPurpose, UserEmail};
use purser_domain::{Id, Timestamp};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::Result;
use crate::rows::{flag, id, opt_ts, parsed, ts};

const COLUMNS: &str = "id, user_id, email, is_primary, verified_at, created_at";

fn user_email(row: &AnyRow) -> Result<UserEmail> {
    Ok(UserEmail {
        id: id(row, "id")?,
        user_id: id(row, "user_id")?,
        email: row.try_get("email")?,
        is_primary: flag(row, "is_primary")?,
        verified_at: opt_ts(row, "verified_at")?,
        created_at: ts(row, "created_at")?,
    })
}

/// Adds an address; [`crate::StoreError::Conflict`] if the user has it already, or if it
/// is to be a login (primary) or verified address and belongs to someone already.
pub async fn insert(conn: &mut AnyConnection, e: &UserEmail) -> Result<()> {
    sqlx::query(&format!("INSERT INTO user_emails ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"))
        .bind(e.id.as_i64())
        .bind(e.user_id.as_i64())
        .bind(&e.email)
        .bind(e.is_primary)
        .bind(e.verified_at.map(Timestamp::as_millis))
        .bind(e.created_at.as_millis())
        .execute(conn)
        .await?;
    Ok(())
}

/// A user's addresses, primary first.
pub async fn for_user(conn: &mut AnyConnection, user_id: Id) -> Result<Vec<UserEmail>> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM user_emails WHERE user_id = $1 ORDER BY is_primary DESC, id"))
        .bind(user_id.as_i64())
        .fetch_all(conn)
        .await?
        .iter()
        .map(user_email)
        .collect()
}

pub async fn by_id(conn: &mut AnyConnection, email_id: Id) -> Result<Option<UserEmail>> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM user_emails WHERE id = $1"))
        .bind(email_id.as_i64())
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(user_email)
        .transpose()
}

/// The address as it belongs to an account: as its login address or verified (there is at
/// most one such). Addresses are stored normalised.
pub async fn by_address(conn: &mut AnyConnection, email: &str) -> Result<Option<UserEmail>> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM user_emails WHERE email = $1 AND (is_primary = TRUE OR verified_at IS NOT NULL)"
    ))
    .bind(email)
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(user_email)
    .transpose()
}

/// Marks an address verified; [`crate::StoreError::Conflict`] if another account has
/// verified it, or uses it to sign in, first.
pub async fn mark_verified(conn: &mut AnyConnection, email_id: Id, now: Timestamp) -> Result<()> {
    sqlx::query("UPDATE user_emails SET verified_at = $1 WHERE id = $2 AND verified_at IS NULL")
        .bind(now.as_millis())
        .bind(email_id.as_i64())
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn delete(conn: &mut AnyConnection, email_id: Id) -> Result<()> {
    sqlx::query("DELETE FROM user_emails WHERE id = $1").bind(email_id.as_i64()).execute(conn).await?;
    Ok(())
}

/// Makes `email_id` the user's primary (login) address.
pub async fn set_primary(conn: &mut AnyConnection, user: Id, email_id: Id, now: Timestamp) -> Result<()> {
    sqlx::query("UPDATE user_emails SET is_primary = (id = $1) WHERE user_id = $2")
        .bind(email_id.as_i64())
        .bind(user.as_i64())
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "UPDATE users SET email = (SELECT email FROM user_emails WHERE id = $1), updated_at = $2 WHERE id = $3",
    )
    .bind(email_id.as_i64())
    .bind(now.as_millis())
    .bind(user.as_i64())
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn insert_token(conn: &mut AnyConnection, token_hash: &str, t: &EmailToken) -> Result<()> {
    sqlx::query(
        "INSERT INTO email_tokens (token_hash, purpose, user_id, email_id, created_at, expires_at, used_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(token_hash)
    .bind(t.purpose.as_str())
    .bind(t.user_id.as_i64())
    .bind(t.email_id.map(Id::as_i64))
    .bind(t.created_at.as_millis())
    .bind(t.expires_at.as_millis())
    .bind(t.used_at.map(Timestamp::as_millis))
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn token(conn: &mut AnyConnection, token_hash: &str) -> Result<Option<EmailToken>> {
    let row = sqlx::query(
        "SELECT purpose, user_id, email_id, created_at, expires_at, used_at FROM email_tokens WHERE token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(conn)
    .await?;
    row.map(|row| {
        Ok(EmailToken {
            purpose: parsed(&row, "purpose")?,
            user_id: id(&row, "user_id")?,
            email_id: row.try_get::<Option<i64>, _>("email_id")?.map(Id::from_i64),
            created_at: ts(&row, "created_at")?,
            expires_at: ts(&row, "expires_at")?,
            used_at: opt_ts(&row, "used_at")?,
        })
    })
    .transpose()
}

/// Marks a token used; false if it already was (so it works exactly once).
pub async fn use_token(conn: &mut AnyConnection, token_hash: &str, now: Timestamp) -> Result<bool> {
    let done = sqlx::query("UPDATE email_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL")
        .bind(now.as_millis())
        .bind(token_hash)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Voids every unused token of a purpose for a user (e.g. after a password reset).
pub async fn void_tokens(conn: &mut AnyConnection, user: Id, purpose: TokenPurpose, now: Timestamp) -> Result<()> {
    sqlx::query("UPDATE email_tokens SET used_at = $1 WHERE user_id = $2 AND purpose = $3 AND used_at IS NULL")
        .bind(now.as_millis())
        .bind(user.as_i64())
        .bind(purpose.as_str())
        .execute(conn)
        .await?;
    Ok(())
}
