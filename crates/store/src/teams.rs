//! Teams, their members, allowed models and delegated permissions.

use std::collections::HashMap;

use purser_domain::org::{Permission, Team, TeamMember};
use purser_domain::page::{Page, PageRequest};
use purser_domain::{Id, Timestamp, Usd};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::rows::{count, flag, id, opt_parsed, opt_u32, parsed, ts};
use crate::{Result, StoreError};

const COLUMNS: &str = "id, org_id, name, description, is_default, budget, budget_period, tpm_limit, rpm_limit, max_parallel, \
     created_at, updated_at";

fn team(row: &AnyRow) -> Result<Team> {
    Ok(Team {
        id: id(row, "id")?,
        org_id: id(row, "org_id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        is_default: flag(row, "is_default")?,
        budget: row.try_get::<Option<i64>, _>("budget")?.map(Usd::from_nanos),
        budget_period: opt_parsed(row, "budget_period")?,
        tpm_limit: opt_u32(row, "tpm_limit")?,
        rpm_limit: opt_u32(row, "rpm_limit")?,
        max_parallel: opt_u32(row, "max_parallel")?,
        model_ids: Vec::new(),
        permissions: Vec::new(),
        created_at: ts(row, "created_at")?,
        updated_at: ts(row, "updated_at")?,
    })
}

fn in_list(first: usize, n: usize) -> String {
    (first..first + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// Fills in allowed models and permissions with one query each.
async fn attach(conn: &mut AnyConnection, teams: &mut [Team]) -> Result<()> {
    if teams.is_empty() {
        return Ok(());
    }
    let ids = in_list(1, teams.len());
    let mut models: HashMap<Id, Vec<Id>> = HashMap::new();
    let sql = format!("SELECT team_id, model_id FROM team_models WHERE team_id IN ({ids}) ORDER BY team_id, model_id");
    let mut query = sqlx::query(&sql);
    for t in teams.iter() {
        query = query.bind(t.id.as_i64());
    }
    for row in query.fetch_all(&mut *conn).await? {
        models.entry(id(&row, "team_id")?).or_default().push(id(&row, "model_id")?);
    }
    let mut permissions: HashMap<Id, Vec<Permission>> = HashMap::new();
    let sql = format!(
        "SELECT team_id, permission FROM team_permissions WHERE team_id IN ({ids}) ORDER BY team_id, permission"
    );
    let mut query = sqlx::query(&sql);
    for t in teams.iter() {
        query = query.bind(t.id.as_i64());
    }
    for row in query.fetch_all(conn).await? {
        permissions.entry(id(&row, "team_id")?).or_default().push(parsed(&row, "permission")?);
    }
    for t in teams {
        t.model_ids = models.remove(&t.id).unwrap_or_default();
        let mut granted = permissions.remove(&t.id).unwrap_or_default();
        granted.sort();
        t.permissions = granted;
    }
    Ok(())
}

async fn replace_models(conn: &mut AnyConnection, team_id: Id, model_ids: &[Id]) -> Result<()> {
    sqlx::query("DELETE FROM team_models WHERE team_id = $1").bind(team_id.as_i64()).execute(&mut *conn).await?;
    for model in model_ids {
        sqlx::query("INSERT INTO team_models (team_id, model_id) VALUES ($1, $2)")
            .bind(team_id.as_i64())
            .bind(model.as_i64())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Inserts a team with its allowed models; [`StoreError::Conflict`] if the organization has
/// a live team of that name.
pub async fn insert(conn: &mut AnyConnection, t: &Team) -> Result<()> {
    sqlx::query(&format!("INSERT INTO teams ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"))
        .bind(t.id.as_i64())
        .bind(t.org_id.as_i64())
        .bind(&t.name)
        .bind(t.description.as_deref())
        .bind(t.is_default)
        .bind(t.budget.map(Usd::nanos))
        .bind(t.budget_period.map(|p| p.as_str()))
        .bind(t.tpm_limit.map(i64::from))
        .bind(t.rpm_limit.map(i64::from))
        .bind(t.max_parallel.map(i64::from))
        .bind(t.created_at.as_millis())
        .bind(t.updated_at.as_millis())
        .execute(&mut *conn)
        .await?;
    replace_models(conn, t.id, &t.model_ids).await
}

/// Writes the team's fields and allowed models (not its permissions).
pub async fn update(conn: &mut AnyConnection, t: &Team) -> Result<()> {
    let done = sqlx::query(
        "UPDATE teams SET name = $1, description = $2, budget = $3, budget_period = $4, tpm_limit = $5, \
         rpm_limit = $6, max_parallel = $7, updated_at = $8 WHERE id = $9 AND deleted_at IS NULL",
    )
    .bind(&t.name)
    .bind(t.description.as_deref())
    .bind(t.budget.map(Usd::nanos))
    .bind(t.budget_period.map(|p| p.as_str()))
    .bind(t.tpm_limit.map(i64::from))
    .bind(t.rpm_limit.map(i64::from))
    .bind(t.max_parallel.map(i64::from))
    .bind(t.updated_at.as_millis())
    .bind(t.id.as_i64())
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() != 1 {
        return Err(StoreError::NotFound);
    }
    replace_models(conn, t.id, &t.model_ids).await
}

pub async fn set_permissions(
    conn: &mut AnyConnection,
    team_id: Id,
    permissions: &[Permission],
    by: Id,
    now: Timestamp,
) -> Result<()> {
    sqlx::query("DELETE FROM team_permissions WHERE team_id = $1").bind(team_id.as_i64()).execute(&mut *conn).await?;
    for p in permissions {
        sqlx::query(
            "INSERT INTO team_permissions (team_id, permission, granted_by, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(team_id.as_i64())
        .bind(p.as_str())
        .bind(by.as_i64())
        .bind(now.as_millis())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// A live team.
pub async fn by_id(conn: &mut AnyConnection, team_id: Id) -> Result<Option<Team>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM teams WHERE id = $1 AND deleted_at IS NULL"))
        .bind(team_id.as_i64())
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let mut found = [team(&row)?];
    attach(conn, &mut found).await?;
    let [found] = found;
    Ok(Some(found))
}

pub async fn default_team(conn: &mut AnyConnection) -> Result<Option<Team>> {
    let row = sqlx::query("SELECT id FROM teams WHERE is_default = TRUE AND deleted_at IS NULL")
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        Some(row) => by_id(conn, id(&row, "id")?).await,
        None => Ok(None),
    }
}

/// Live teams of an organization, oldest first.
pub async fn in_org(conn: &mut AnyConnection, org: Id, page: PageRequest) -> Result<Page<Team>> {
    let total = count_in_org(conn, org).await?;
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM teams WHERE org_id = $1 AND deleted_at IS NULL ORDER BY id LIMIT $2 OFFSET $3"
    ))
    .bind(org.as_i64())
    .bind(i64::from(page.limit))
    .bind(page.offset())
    .fetch_all(&mut *conn)
    .await?;
    let mut items = rows.iter().map(team).collect::<Result<Vec<_>>>()?;
    attach(conn, &mut items).await?;
    Ok(Page { items, page, total })
}

pub async fn count_in_org(conn: &mut AnyConnection, org: Id) -> Result<u64> {
    count(
        &sqlx::query("SELECT COUNT(*) FROM teams WHERE org_id = $1 AND deleted_at IS NULL")
            .bind(org.as_i64())
            .fetch_one(conn)
            .await?,
    )
}

pub async fn soft_delete(conn: &mut AnyConnection, team_id: Id, now: Timestamp) -> Result<()> {
    sqlx::query("DELETE FROM team_members WHERE team_id = $1").bind(team_id.as_i64()).execute(&mut *conn).await?;
    sqlx::query("DELETE FROM vault_grants WHERE grantee_kind = 'team' AND grantee_id = $1")
        .bind(team_id.as_i64())
        .execute(&mut *conn)
        .await?;
    sqlx::query("UPDATE teams SET deleted_at = $1, updated_at = $1 WHERE id = $2 AND deleted_at IS NULL")
        .bind(now.as_millis())
        .bind(team_id.as_i64())
        .execute(conn)
        .await?;
    Ok(())
}

/// Usable API keys billed to the team.
pub async fn active_keys(conn: &mut AnyConnection, team_id: Id, now: Timestamp) -> Result<u64> {
    count(
        &sqlx::query(
            "SELECT COUNT(*) FROM api_keys WHERE team_id = $1 AND revoked_at IS NULL \
             AND (expires_at IS NULL OR expires_at > $2)",
        )
        .bind(team_id.as_i64())
        .bind(now.as_millis())
        .fetch_one(conn)
        .await?,
    )
}

const MEMBER_SELECT: &str = "SELECT tm.team_id, tm.user_id, u.email, u.name, tm.manager, tm.created_at FROM team_members tm JOIN users u ON u.id = tm.user_id";

fn member(row: &AnyRow) -> Result<TeamMember> {
    Ok(TeamMember {
        team_id: id(row, "team_id")?,
        user_id: id(row, "user_id")?,
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        manager: flag(row, "manager")?,
        created_at: ts(row, "created_at")?,
    })
}

/// Adds a member; [`StoreError::Conflict`] if they already are one.
pub async fn add_member(conn: &mut AnyConnection, team: Id, user: Id, manager: bool, now: Timestamp) -> Result<()> {
    sqlx::query("INSERT INTO team_members (team_id, user_id, manager, created_at) VALUES ($1, $2, $3, $4)")
        .bind(team.as_i64())
        .bind(user.as_i64())
        .bind(manager)
        .bind(now.as_millis())
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn member_of(conn: &mut AnyConnection, team: Id, user: Id) -> Result<Option<TeamMember>> {
    sqlx::query(&format!("{MEMBER_SELECT} WHERE tm.team_id = $1 AND tm.user_id = $2"))
        .bind(team.as_i64())
        .bind(user.as_i64())
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(member)
        .transpose()
}

pub async fn members(conn: &mut AnyConnection, team: Id, page: PageRequest) -> Result<Page<TeamMember>> {
    let total = count(
        &sqlx::query("SELECT COUNT(*) FROM team_members WHERE team_id = $1")
            .bind(team.as_i64())
            .fetch_one(&mut *conn)
            .await?,
    )?;
    let rows = sqlx::query(&format!(
        // As orgs::members: the page is found on team_members_listed, then joined.
        "{MEMBER_SELECT} JOIN (SELECT user_id FROM team_members WHERE team_id = $1 \
         ORDER BY manager DESC, created_at, user_id LIMIT $2 OFFSET $3) page ON page.user_id = tm.user_id \
         WHERE tm.team_id = $1 ORDER BY tm.manager DESC, tm.created_at, tm.user_id"
    ))
    .bind(team.as_i64())
    .bind(i64::from(page.limit))
    .bind(page.offset())
    .fetch_all(conn)
    .await?;
    Ok(Page { items: rows.iter().map(member).collect::<Result<_>>()?, page, total })
}

pub async fn set_manager(conn: &mut AnyConnection, team: Id, user: Id, manager: bool) -> Result<()> {
    sqlx::query("UPDATE team_members SET manager = $1 WHERE team_id = $2 AND user_id = $3")
        .bind(manager)
        .bind(team.as_i64())
        .bind(user.as_i64())
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn remove_member(conn: &mut AnyConnection, team: Id, user: Id) -> Result<()> {
    sqlx::query("DELETE FROM team_members WHERE team_id = $1 AND user_id = $2")
        .bind(team.as_i64())
        .bind(user.as_i64())
        .execute(conn)
        .await?;
    Ok(())
}

/// Makes every member of the team's organization a member of the team (for the Default Team).
pub async fn add_all_org_members(conn: &mut AnyConnection, team: &Team, now: Timestamp) -> Result<u64> {
    let done = sqlx::query(
        "INSERT INTO team_members (team_id, user_id, manager, created_at) \
         SELECT $1, m.user_id, FALSE, $2 FROM organization_members m WHERE m.org_id = $3 \
         ON CONFLICT (team_id, user_id) DO NOTHING",
    )
    .bind(team.id.as_i64())
    .bind(now.as_millis())
    .bind(team.org_id.as_i64())
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// The user's teams across all organizations (with their organization ids).
pub async fn of_user(conn: &mut AnyConnection, user: Id) -> Result<Vec<(Id, Id)>> {
    sqlx::query(
        "SELECT t.id, t.org_id FROM team_members tm JOIN teams t ON t.id = tm.team_id \
         WHERE tm.user_id = $1 AND t.deleted_at IS NULL ORDER BY t.id",
    )
    .bind(user.as_i64())
    .fetch_all(conn)
    .await?
    .iter()
    .map(|r| Ok((id(r, "id")?, id(r, "org_id")?)))
    .collect()
}

/// Live teams of live organizations, with whether their organization is active (for the gateway).
pub async fn for_gateway(conn: &mut AnyConnection, team_id: Option<Id>) -> Result<Vec<(Team, bool)>> {
    let columns = COLUMNS.split(", ").map(|c| format!("t.{c}")).collect::<Vec<_>>().join(", ");
    let filter = if team_id.is_some() { "AND t.id = $1" } else { "" };
    let sql = format!(
        "SELECT {columns}, o.status AS org_status FROM teams t JOIN organizations o ON o.id = t.org_id \
         WHERE t.deleted_at IS NULL AND o.deleted_at IS NULL {filter} ORDER BY t.id"
    );
    let mut query = sqlx::query(&sql);
    if let Some(team_id) = team_id {
        query = query.bind(team_id.as_i64());
    }
    let rows = query.fetch_all(&mut *conn).await?;
    let mut found = rows.iter().map(team).collect::<Result<Vec<_>>>()?;
    let active = rows
        .iter()
        .map(|r| Ok(parsed::<purser_domain::org::OrgStatus>(r, "org_status")? == purser_domain::org::OrgStatus::Active))
        .collect::<Result<Vec<_>>>()?;
    for chunk in found.chunks_mut(500) {
        attach(conn, chunk).await?;
    }
    Ok(found.into_iter().zip(active).collect())
}
