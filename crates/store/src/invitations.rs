//! Invitations to organizations (only the token's digest is stored).

use purser_domain::org::Invitation;
use purser_domain::page::{Page, PageRequest};
use purser_domain::{Id, Timestamp};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::Result;
use crate::rows::{count, id, opt_ts, parsed, ts};

const COLUMNS: &str =
    "id, org_id, email, role, invited_by, created_at, expires_at, accepted_at, accepted_by, revoked_at";

fn invitation(row: &AnyRow) -> Result<Invitation> {
    Ok(Invitation {
        id: id(row, "id")?,
        org_id: id(row, "org_id")?,
        email: row.try_get("email")?,
        role: parsed(row, "role")?,
        invited_by: id(row, "invited_by")?,
        created_at: ts(row, "created_at")?,
        expires_at: ts(row, "expires_at")?,
        accepted_at: opt_ts(row, "accepted_at")?,
        accepted_by: row.try_get::<Option<i64>, _>("accepted_by")?.map(Id::from_i64),
        revoked_at: opt_ts(row, "revoked_at")?,
    })
}

pub async fn insert(conn: &mut AnyConnection, i: &Invitation, token_hash: &str) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO invitations ({COLUMNS}, token_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    ))
    .bind(i.id.as_i64())
    .bind(i.org_id.as_i64())
    .bind(&i.email)
    .bind(i.role.as_str())
    .bind(i.invited_by.as_i64())
    .bind(i.created_at.as_millis())
    .bind(i.expires_at.as_millis())
    .bind(i.accepted_at.map(Timestamp::as_millis))
    .bind(i.accepted_by.map(Id::as_i64))
    .bind(i.revoked_at.map(Timestamp::as_millis))
    .bind(token_hash)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn by_id(conn: &mut AnyConnection, invitation_id: Id) -> Result<Option<Invitation>> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM invitations WHERE id = $1"))
        .bind(invitation_id.as_i64())
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(invitation)
        .transpose()
}

pub async fn by_token(conn: &mut AnyConnection, token_hash: &str) -> Result<Option<Invitation>> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM invitations WHERE token_hash = $1"))
        .bind(token_hash)
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(invitation)
        .transpose()
}

/// An organization's invitations, newest first.
pub async fn in_org(conn: &mut AnyConnection, org: Id, page: PageRequest) -> Result<Page<Invitation>> {
    let total = count(
        &sqlx::query("SELECT COUNT(*) FROM invitations WHERE org_id = $1")
            .bind(org.as_i64())
            .fetch_one(&mut *conn)
            .await?,
    )?;
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM invitations WHERE org_id = $1 ORDER BY id DESC LIMIT $2 OFFSET $3"
    ))
    .bind(org.as_i64())
    .bind(i64::from(page.limit))
    .bind(page.offset())
    .fetch_all(conn)
    .await?;
    Ok(Page { items: rows.iter().map(invitation).collect::<Result<_>>()?, page, total })
}

/// Invitations still open at `now`: not accepted, revoked or expired.
const PENDING: &str = "accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $2";

pub async fn pending_in_org(conn: &mut AnyConnection, org: Id, now: Timestamp) -> Result<u64> {
    count(
        &sqlx::query(&format!("SELECT COUNT(*) FROM invitations WHERE org_id = $1 AND {PENDING}"))
            .bind(org.as_i64())
            .bind(now.as_millis())
            .fetch_one(conn)
            .await?,
    )
}

pub async fn pending_for(conn: &mut AnyConnection, org: Id, email: &str, now: Timestamp) -> Result<Option<Invitation>> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM invitations WHERE org_id = $1 AND {PENDING} AND email = $3"))
        .bind(org.as_i64())
        .bind(now.as_millis())
        .bind(email)
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(invitation)
        .transpose()
}

/// Open invitations to any of the user's verified addresses, in live organizations.
pub async fn pending_for_user(conn: &mut AnyConnection, user: Id, now: Timestamp) -> Result<Vec<Invitation>> {
    let columns = COLUMNS.split(", ").map(|c| format!("i.{c}")).collect::<Vec<_>>().join(", ");
    sqlx::query(&format!(
        "SELECT {columns} FROM invitations i JOIN user_emails e ON e.email = i.email \
         JOIN organizations o ON o.id = i.org_id \
         WHERE e.user_id = $1 AND e.verified_at IS NOT NULL AND o.deleted_at IS NULL \
           AND i.accepted_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > $2 ORDER BY i.id"
    ))
    .bind(user.as_i64())
    .bind(now.as_millis())
    .fetch_all(conn)
    .await?
    .iter()
    .map(invitation)
    .collect()
}

/// Marks an open invitation accepted; false if it no longer was open.
pub async fn accept(conn: &mut AnyConnection, invitation_id: Id, by: Id, now: Timestamp) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE invitations SET accepted_at = $1, accepted_by = $2 WHERE id = $3 AND accepted_at IS NULL AND revoked_at IS NULL",
    )
    .bind(now.as_millis())
    .bind(by.as_i64())
    .bind(invitation_id.as_i64())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn revoke(conn: &mut AnyConnection, invitation_id: Id, now: Timestamp) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE invitations SET revoked_at = $1 WHERE id = $2 AND accepted_at IS NULL AND revoked_at IS NULL",
    )
    .bind(now.as_millis())
    .bind(invitation_id.as_i64())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
