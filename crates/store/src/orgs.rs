//! Organizations and their members.

use std::collections::BTreeSet;

use purser_domain::org::{Member, OrgRole, Organization};
use purser_domain::page::{Page, PageRequest};
use purser_domain::{Id, Standing, Timestamp};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::rows::{count, flag, id, opt_u32, parsed, ts};
use crate::{Result, StoreError};

const COLUMNS: &str = "id, name, is_default, status, max_members, max_teams, max_storage_bytes, document_types, timestamp_uploads, created_at, \
     updated_at";

fn organization(row: &AnyRow) -> Result<Organization> {
    Ok(Organization {
        id: id(row, "id")?,
        name: row.try_get("name")?,
        is_default: flag(row, "is_default")?,
        status: parsed(row, "status")?,
        max_members: opt_u32(row, "max_members")?,
        max_teams: opt_u32(row, "max_teams")?,
        max_storage_bytes: row
            .try_get::<Option<i64>, _>("max_storage_bytes")?
            .map(|v| u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("max_storage_bytes = {v}"))))
            .transpose()?,
        document_types: row
            .try_get::<Option<String>, _>("document_types")?
            .map(|types| types.split(',').map(str::to_owned).collect()),
        timestamp_uploads: flag(row, "timestamp_uploads")?,
        created_at: ts(row, "created_at")?,
        updated_at: ts(row, "updated_at")?,
    })
}

pub async fn insert(conn: &mut AnyConnection, o: &Organization) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO organizations ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    ))
    .bind(o.id.as_i64())
    .bind(&o.name)
    .bind(o.is_default)
    .bind(o.status.as_str())
    .bind(o.max_members.map(i64::from))
    .bind(o.max_teams.map(i64::from))
    .bind(storage_bytes(o))
    .bind(document_types(o))
    .bind(o.timestamp_uploads)
    .bind(o.created_at.as_millis())
    .bind(o.updated_at.as_millis())
    .execute(conn)
    .await?;
    Ok(())
}

/// A live (not deleted) organization.
pub async fn by_id(conn: &mut AnyConnection, org_id: Id) -> Result<Option<Organization>> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM organizations WHERE id = $1 AND deleted_at IS NULL"))
        .bind(org_id.as_i64())
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(organization)
        .transpose()
}

pub async fn default_org(conn: &mut AnyConnection) -> Result<Option<Organization>> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM organizations WHERE is_default = TRUE AND deleted_at IS NULL"))
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(organization)
        .transpose()
}

fn storage_bytes(o: &Organization) -> Option<i64> {
    o.max_storage_bytes.map(|b| i64::try_from(b).unwrap_or(i64::MAX))
}

fn document_types(o: &Organization) -> Option<String> {
    o.document_types.as_ref().map(|types| types.join(","))
}

/// Writes name, status, quotas and document rules.
pub async fn update(conn: &mut AnyConnection, o: &Organization) -> Result<()> {
    let done = sqlx::query(
        "UPDATE organizations SET name = $1, status = $2, max_members = $3, max_teams = $4, max_storage_bytes = $5, \
         document_types = $6, timestamp_uploads = $7, updated_at = $8 WHERE id = $9 AND deleted_at IS NULL",
    )
    .bind(&o.name)
    .bind(o.status.as_str())
    .bind(o.max_members.map(i64::from))
    .bind(o.max_teams.map(i64::from))
    .bind(storage_bytes(o))
    .bind(document_types(o))
    .bind(o.timestamp_uploads)
    .bind(o.updated_at.as_millis())
    .bind(o.id.as_i64())
    .execute(conn)
    .await?;
    if done.rows_affected() == 1 { Ok(()) } else { Err(StoreError::NotFound) }
}

pub async fn soft_delete(conn: &mut AnyConnection, org_id: Id, now: Timestamp) -> Result<()> {
    sqlx::query("UPDATE organizations SET deleted_at = $1, updated_at = $1 WHERE id = $2 AND deleted_at IS NULL")
        .bind(now.as_millis())
        .bind(org_id.as_i64())
        .execute(conn)
        .await?;
    Ok(())
}

/// Takes the organization's row lock for the rest of the transaction, so concurrent
/// membership changes (the last-owner rule, quotas) are decided one after another.
pub async fn lock(conn: &mut AnyConnection, org_id: Id) -> Result<()> {
    sqlx::query("UPDATE organizations SET updated_at = updated_at WHERE id = $1")
        .bind(org_id.as_i64())
        .execute(conn)
        .await?;
    Ok(())
}

/// Organizations the user belongs to, with their role, oldest first.
pub async fn for_member(
    conn: &mut AnyConnection,
    user: Id,
    page: PageRequest,
) -> Result<Page<(Organization, OrgRole)>> {
    let total = count(
        &sqlx::query(
            "SELECT COUNT(*) FROM organizations o JOIN organization_members m ON m.org_id = o.id \
             WHERE m.user_id = $1 AND o.deleted_at IS NULL",
        )
        .bind(user.as_i64())
        .fetch_one(&mut *conn)
        .await?,
    )?;
    let columns = COLUMNS.split(", ").map(|c| format!("o.{c}")).collect::<Vec<_>>().join(", ");
    let rows = sqlx::query(&format!(
        "SELECT {columns}, m.role FROM organizations o JOIN organization_members m ON m.org_id = o.id \
         WHERE m.user_id = $1 AND o.deleted_at IS NULL ORDER BY o.id LIMIT $2 OFFSET $3"
    ))
    .bind(user.as_i64())
    .bind(i64::from(page.limit))
    .bind(page.offset())
    .fetch_all(conn)
    .await?;
    let items = rows.iter().map(|r| Ok((organization(r)?, parsed(r, "role")?))).collect::<Result<_>>()?;
    Ok(Page { items, page, total })
}

/// Every organization not yet purged (deleted ones too: their data is kept until then), as
/// `(id, name, deleted)`, oldest first: the organizations that have a database of their own.
pub async fn with_databases(conn: &mut AnyConnection) -> Result<Vec<(Id, String, bool)>> {
    sqlx::query("SELECT id, name, deleted_at FROM organizations ORDER BY id")
        .fetch_all(conn)
        .await?
        .iter()
        .map(|r| Ok((id(r, "id")?, r.try_get("name")?, r.try_get::<Option<i64>, _>("deleted_at")?.is_some())))
        .collect()
}

/// Every live organization, oldest first.
pub async fn all(conn: &mut AnyConnection, page: PageRequest) -> Result<Page<Organization>> {
    let total = count(
        &sqlx::query("SELECT COUNT(*) FROM organizations WHERE deleted_at IS NULL").fetch_one(&mut *conn).await?,
    )?;
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM organizations WHERE deleted_at IS NULL ORDER BY id LIMIT $1 OFFSET $2"
    ))
    .bind(i64::from(page.limit))
    .bind(page.offset())
    .fetch_all(conn)
    .await?;
    Ok(Page { items: rows.iter().map(organization).collect::<Result<_>>()?, page, total })
}

const MEMBER_SELECT: &str = "SELECT m.org_id, m.user_id, u.email, u.name, m.role, m.created_at, m.updated_at \
    FROM organization_members m JOIN users u ON u.id = m.user_id";

fn member(row: &AnyRow) -> Result<Member> {
    Ok(Member {
        org_id: id(row, "org_id")?,
        user_id: id(row, "user_id")?,
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        role: parsed(row, "role")?,
        created_at: ts(row, "created_at")?,
        updated_at: ts(row, "updated_at")?,
    })
}

/// Adds a member; [`StoreError::Conflict`] if they already are one.
pub async fn add_member(conn: &mut AnyConnection, org: Id, user: Id, role: OrgRole, now: Timestamp) -> Result<()> {
    sqlx::query(
        "INSERT INTO organization_members (org_id, user_id, role, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)",
    )
    .bind(org.as_i64())
    .bind(user.as_i64())
    .bind(role.as_str())
    .bind(now.as_millis())
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn member_of(conn: &mut AnyConnection, org: Id, user: Id) -> Result<Option<Member>> {
    sqlx::query(&format!("{MEMBER_SELECT} WHERE m.org_id = $1 AND m.user_id = $2"))
        .bind(org.as_i64())
        .bind(user.as_i64())
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(member)
        .transpose()
}

/// Owners first, then admins, members and viewers: the order of the index
/// organization_members_listed (migration 0008), which must use this same expression.
const MEMBER_ORDER: &str = "CASE role WHEN 'owner' THEN 0 WHEN 'admin' THEN 1 WHEN 'member' THEN 2 ELSE 3 END";

/// Members, owners first, then by when they joined.
pub async fn members(conn: &mut AnyConnection, org: Id, page: PageRequest) -> Result<Page<Member>> {
    let total = count_members(conn, org).await?;
    // The page's members are found on the index alone (organization_members_listed), and
    // only those are joined with their users: a late page of a large organization skips
    // index entries, not joined rows.
    let rows = sqlx::query(&format!(
        "{MEMBER_SELECT} JOIN (SELECT user_id, {MEMBER_ORDER} AS rank FROM organization_members WHERE org_id = $1 \
         ORDER BY {MEMBER_ORDER}, created_at, user_id LIMIT $2 OFFSET $3) page ON page.user_id = m.user_id \
         WHERE m.org_id = $1 ORDER BY page.rank, m.created_at, m.user_id"
    ))
    .bind(org.as_i64())
    .bind(i64::from(page.limit))
    .bind(page.offset())
    .fetch_all(conn)
    .await?;
    Ok(Page { items: rows.iter().map(member).collect::<Result<_>>()?, page, total })
}

pub async fn count_members(conn: &mut AnyConnection, org: Id) -> Result<u64> {
    count(
        &sqlx::query("SELECT COUNT(*) FROM organization_members WHERE org_id = $1")
            .bind(org.as_i64())
            .fetch_one(conn)
            .await?,
    )
}

pub async fn count_owners(conn: &mut AnyConnection, org: Id) -> Result<u64> {
    count(
        &sqlx::query("SELECT COUNT(*) FROM organization_members WHERE org_id = $1 AND role = 'owner'")
            .bind(org.as_i64())
            .fetch_one(conn)
            .await?,
    )
}

pub async fn set_role(conn: &mut AnyConnection, org: Id, user: Id, role: OrgRole, now: Timestamp) -> Result<()> {
    sqlx::query("UPDATE organization_members SET role = $1, updated_at = $2 WHERE org_id = $3 AND user_id = $4")
        .bind(role.as_str())
        .bind(now.as_millis())
        .bind(org.as_i64())
        .bind(user.as_i64())
        .execute(conn)
        .await?;
    Ok(())
}

/// Removes a member and their places in the organization's teams.
pub async fn remove_member(conn: &mut AnyConnection, org: Id, user: Id) -> Result<()> {
    sqlx::query("DELETE FROM team_members WHERE user_id = $1 AND team_id IN (SELECT id FROM teams WHERE org_id = $2)")
        .bind(user.as_i64())
        .bind(org.as_i64())
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM organization_members WHERE org_id = $1 AND user_id = $2")
        .bind(org.as_i64())
        .bind(user.as_i64())
        .execute(conn)
        .await?;
    Ok(())
}

/// The user's standing in the organization: role, teams, managed teams, delegated permissions.
pub async fn standing(conn: &mut AnyConnection, org: Id, user: Id) -> Result<Standing> {
    let role = sqlx::query("SELECT role FROM organization_members WHERE org_id = $1 AND user_id = $2")
        .bind(org.as_i64())
        .bind(user.as_i64())
        .fetch_optional(&mut *conn)
        .await?
        .map(|r| parsed::<OrgRole>(&r, "role"))
        .transpose()?;
    let mut standing = Standing { role, ..Standing::default() };
    if role.is_none() {
        return Ok(standing);
    }
    let rows = sqlx::query(
        "SELECT tm.team_id, tm.manager FROM team_members tm JOIN teams t ON t.id = tm.team_id \
         WHERE tm.user_id = $1 AND t.org_id = $2 AND t.deleted_at IS NULL",
    )
    .bind(user.as_i64())
    .bind(org.as_i64())
    .fetch_all(&mut *conn)
    .await?;
    for row in &rows {
        let team = id(row, "team_id")?;
        standing.teams.insert(team);
        if flag(row, "manager")? {
            standing.managed_teams.insert(team);
        }
    }
    let rows = sqlx::query(
        "SELECT DISTINCT p.permission FROM team_permissions p JOIN team_members tm ON tm.team_id = p.team_id \
         JOIN teams t ON t.id = p.team_id WHERE tm.user_id = $1 AND t.org_id = $2 AND t.deleted_at IS NULL",
    )
    .bind(user.as_i64())
    .bind(org.as_i64())
    .fetch_all(conn)
    .await?;
    standing.permissions = rows.iter().map(|r| parsed(r, "permission")).collect::<Result<BTreeSet<_>>>()?;
    Ok(standing)
}

/// Makes every user who is not yet a member of `org` one, with `role`. Returns how many joined.
pub async fn add_everyone(conn: &mut AnyConnection, org: Id, role: OrgRole, now: Timestamp) -> Result<u64> {
    let done = sqlx::query(
        "INSERT INTO organization_members (org_id, user_id, role, created_at, updated_at) \
         SELECT $1, u.id, $2, $3, $3 FROM users u WHERE TRUE \
         ON CONFLICT (org_id, user_id) DO NOTHING",
    )
    .bind(org.as_i64())
    .bind(role.as_str())
    .bind(now.as_millis())
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// Usable API keys billed to the organization's teams (they would be orphaned by deleting it).
pub async fn active_keys(conn: &mut AnyConnection, org: Id, now: Timestamp) -> Result<u64> {
    count(
        &sqlx::query(
            "SELECT COUNT(*) FROM api_keys k JOIN teams t ON t.id = k.team_id WHERE t.org_id = $1 \
             AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > $2)",
        )
        .bind(org.as_i64())
        .bind(now.as_millis())
        .fetch_one(conn)
        .await?,
    )
}

/// Deletes for good the organizations deleted before `cutoff`, with their members,
/// invitations and teams. Keys that were billed to those teams keep their history and
/// lose the team. Returns the ids purged.
pub async fn purge_deleted_before(conn: &mut AnyConnection, cutoff: Timestamp) -> Result<Vec<Id>> {
    let ids = sqlx::query("SELECT id FROM organizations WHERE deleted_at IS NOT NULL AND deleted_at < $1 ORDER BY id")
        .bind(cutoff.as_millis())
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| id(r, "id"))
        .collect::<Result<Vec<_>>>()?;
    for org in &ids {
        sqlx::query("UPDATE api_keys SET team_id = NULL WHERE team_id IN (SELECT id FROM teams WHERE org_id = $1)")
            .bind(org.as_i64())
            .execute(&mut *conn)
            .await?;
        sqlx::query("DELETE FROM organizations WHERE id = $1").bind(org.as_i64()).execute(&mut *conn).await?;
    }
    Ok(ids)
}

/// Notes that `org` has orphaned files due for removal at `due_at` (kept if sooner).
pub async fn schedule_file_cleanup(conn: &mut AnyConnection, org_id: Id, due_at: Timestamp) -> Result<()> {
    sqlx::query(
        "INSERT INTO file_cleanups (org_id, due_at) VALUES ($1, $2) \
         ON CONFLICT (org_id) DO UPDATE SET due_at = CASE WHEN file_cleanups.due_at < excluded.due_at \
         THEN file_cleanups.due_at ELSE excluded.due_at END",
    )
    .bind(org_id.as_i64())
    .bind(due_at.as_millis())
    .execute(conn)
    .await?;
    Ok(())
}

/// Live organizations whose file cleanup is due, at most `limit`.
pub async fn file_cleanups_due(conn: &mut AnyConnection, now: Timestamp, limit: u32) -> Result<Vec<Id>> {
    let rows = sqlx::query(
        "SELECT c.org_id FROM file_cleanups c JOIN organizations o ON o.id = c.org_id \
         WHERE c.due_at <= $1 AND o.deleted_at IS NULL ORDER BY c.due_at LIMIT $2",
    )
    .bind(now.as_millis())
    .bind(i64::from(limit))
    .fetch_all(conn)
    .await?;
    rows.iter().map(|r| id(r, "org_id")).collect()
}

/// After a cleanup: the next one at `next` (its oldest orphan's turn), or none.
pub async fn reschedule_file_cleanup(conn: &mut AnyConnection, org_id: Id, next: Option<Timestamp>) -> Result<()> {
    match next {
        Some(at) => {
            sqlx::query("UPDATE file_cleanups SET due_at = $1 WHERE org_id = $2")
                .bind(at.as_millis())
                .bind(org_id.as_i64())
                .execute(conn)
                .await?;
        }
        None => {
            sqlx::query("DELETE FROM file_cleanups WHERE org_id = $1").bind(org_id.as_i64()).execute(conn).await?;
        }
    }
    Ok(())
}

/// Notes that `org`'s own database is about to hold a change to move to this one.
pub async fn note_tenant_change(conn: &mut AnyConnection, org_id: Id, now: Timestamp) -> Result<()> {
    sqlx::query(
        "INSERT INTO tenant_changes (org_id, noted_at) VALUES ($1, $2) \
         ON CONFLICT (org_id) DO UPDATE SET noted_at = excluded.noted_at",
    )
    .bind(org_id.as_i64())
    .bind(now.as_millis())
    .execute(conn)
    .await?;
    Ok(())
}

/// Organizations whose last change was noted before `before`, with that time, oldest first.
pub async fn tenant_changes_noted_before(
    conn: &mut AnyConnection,
    before: Timestamp,
    limit: u32,
) -> Result<Vec<(Id, Timestamp)>> {
    let rows =
        sqlx::query("SELECT org_id, noted_at FROM tenant_changes WHERE noted_at < $1 ORDER BY noted_at LIMIT $2")
            .bind(before.as_millis())
            .bind(i64::from(limit))
            .fetch_all(conn)
            .await?;
    rows.iter().map(|r| Ok((id(r, "org_id")?, ts(r, "noted_at")?))).collect()
}

/// Clears the note of `org`, unless a change was noted since `noted_at`.
pub async fn clear_tenant_changes(conn: &mut AnyConnection, org_id: Id, noted_at: Timestamp) -> Result<()> {
    sqlx::query("DELETE FROM tenant_changes WHERE org_id = $1 AND noted_at = $2")
        .bind(org_id.as_i64())
        .bind(noted_at.as_millis())
        .execute(conn)
        .await?;
    Ok(())
}
