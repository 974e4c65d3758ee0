//! Users and their password hashes.

use purser_domain::user::User;
use purser_domain::{Id, PlatformRole, Timestamp};
use sqlx::AnyConnection;
use sqlx::any::AnyRow;

use crate::Result;
use crate::rows::{flag, id, parsed, ts};

const COLUMNS: &str = "id, email, name, role, active, created_at, updated_at, \
    EXISTS (SELECT 1 FROM user_emails e WHERE e.user_id = users.id AND e.is_primary = TRUE AND e.verified_at IS NOT NULL) \
    AS email_verified";

fn user(row: &AnyRow) -> Result<User> {
    Ok(User {
        id: id(row, "id")?,
        email: sqlx::Row::try_get(row, "email")?,
        name: sqlx::Row::try_get(row, "name")?,
        role: parsed(row, "role")?,
        active: flag(row, "active")?,
        email_verified: flag(row, "email_verified")?,
        created_at: ts(row, "created_at")?,
        updated_at: ts(row, "updated_at")?,
    })
}

/// Inserts a user; [`crate::StoreError::Conflict`] if the email is taken.
pub async fn insert(conn: &mut AnyConnection, user: &User, password_hash: Option<&str>) -> Result<()> {
    sqlx::query(
        "INSERT INTO users (id, email, name, password_hash, role, active, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(user.id.as_i64())
    .bind(&user.email)
    .bind(&user.name)
    .bind(password_hash)
    .bind(user.role.as_str())
    .bind(user.active)
    .bind(user.created_at.as_millis())
    .bind(user.updated_at.as_millis())
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn by_id(conn: &mut AnyConnection, user_id: Id) -> Result<Option<User>> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM users WHERE id = $1"))
        .bind(user_id.as_i64())
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(user)
        .transpose()
}

/// The user with this (normalised) email and their password hash, if any.
pub async fn by_email(conn: &mut AnyConnection, email: &str) -> Result<Option<(User, Option<String>)>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS}, password_hash FROM users WHERE email = $1"))
        .bind(email)
        .fetch_optional(conn)
        .await?;
    match row {
        Some(row) => Ok(Some((user(&row)?, sqlx::Row::try_get(&row, "password_hash")?))),
        None => Ok(None),
    }
}

pub async fn set_role(conn: &mut AnyConnection, user_id: Id, role: PlatformRole, now: Timestamp) -> Result<()> {
    sqlx::query("UPDATE users SET role = $1, updated_at = $2 WHERE id = $3")
        .bind(role.as_str())
        .bind(now.as_millis())
        .bind(user_id.as_i64())
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn set_password_hash(conn: &mut AnyConnection, user_id: Id, hash: &str, now: Timestamp) -> Result<()> {
    sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
        .bind(hash)
        .bind(now.as_millis())
        .bind(user_id.as_i64())
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn count_with_role(conn: &mut AnyConnection, role: PlatformRole) -> Result<u64> {
    let row = sqlx::query("SELECT COUNT(*) FROM users WHERE role = $1").bind(role.as_str()).fetch_one(conn).await?;
    crate::rows::count(&row)
}

#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Case-insensitive text in the email or name.
    pub search: Option<String>,
    pub role: Option<PlatformRole>,
}

/// Users matching the filter, oldest first.
pub async fn list(
    conn: &mut AnyConnection,
    filter: &UserFilter,
    page: purser_domain::page::PageRequest,
) -> Result<purser_domain::page::Page<User>> {
    use crate::rows::{Arg, Filter, contains_pattern};
    let mut conditions = Filter::default();
    if let Some(search) = &filter.search {
        let pattern = contains_pattern(search);
        conditions.and(
            "(LOWER(email) LIKE ? ESCAPE '\\' OR LOWER(name) LIKE ? ESCAPE '\\')",
            [Arg::Text(pattern.clone()), Arg::Text(pattern)],
        );
    }
    if let Some(role) = filter.role {
        conditions.and("role = ?", [Arg::Text(role.as_str().to_owned())]);
    }
    let where_sql = conditions.sql();
    let total = crate::rows::count(
        &conditions.bind(sqlx::query(&format!("SELECT COUNT(*) FROM users{where_sql}"))).fetch_one(&mut *conn).await?,
    )?;
    let n = conditions.next_placeholder();
    let sql = format!("SELECT {COLUMNS} FROM users{where_sql} ORDER BY id LIMIT ${} OFFSET ${}", n, n + 1);
    let rows =
        conditions.bind(sqlx::query(&sql)).bind(i64::from(page.limit)).bind(page.offset()).fetch_all(conn).await?;
    Ok(purser_domain::page::Page { items: rows.iter().map(user).collect::<Result<_>>()?, page, total })
}

pub async fn set_active(conn: &mut AnyConnection, user_id: Id, active: bool, now: Timestamp) -> Result<()> {
    sqlx::query("UPDATE users SET active = $1, updated_at = $2 WHERE id = $3")
        .bind(active)
        .bind(now.as_millis())
        .bind(user_id.as_i64())
        .execute(conn)
        .await?;
    Ok(())
}

/// Active users with a role.
pub async fn count_active_with_role(conn: &mut AnyConnection, role: PlatformRole) -> Result<u64> {
    let row = sqlx::query("SELECT COUNT(*) FROM users WHERE role = $1 AND active = TRUE")
        .bind(role.as_str())
        .fetch_one(conn)
        .await?;
    crate::rows::count(&row)
}
