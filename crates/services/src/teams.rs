//! Teams: groups inside an organization with their own budget, rate limits and allowed
//! models (applied in the gateway on top of each key's own), members with a manager flag,
//! and organization permissions an owner delegates to them.

use std::collections::HashSet;

use purser_domain::org::{BudgetPeriod, MAX_TEAM_DESCRIPTION_CHARS, MAX_TEAM_NAME_CHARS, Permission, Team, TeamMember};
use purser_domain::page::{Page, PageRequest};
use purser_domain::policy::sees_all_members;
use purser_domain::{Id, OrgAction, Principal, Usd, Validator};
use purser_store::{AnyConnection, StoreError, models, orgs, teams};
use serde_json::json;

use crate::audit::{Asked, AuditAction, AuditEntry};
use crate::error::{Error, Result};
use crate::keys::{MAX_PARALLEL_LIMIT, MAX_RPM_LIMIT, MAX_TPM_LIMIT};
use crate::{Actor, Change, Input, Services, views};

/// Everything said about a team when creating it.
#[derive(Debug, Clone, Default)]
pub struct TeamInput {
    pub name: String,
    pub description: Option<String>,
    pub budget: Option<Usd>,
    pub budget_period: Option<BudgetPeriod>,
    pub tpm_limit: Option<u32>,
    pub rpm_limit: Option<u32>,
    pub max_parallel: Option<u32>,
    /// Empty: every model.
    pub model_ids: Vec<Id>,
}

/// A partial change; `Some(None)` clears an optional field.
#[derive(Debug, Clone, Default)]
pub struct TeamPatch {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub budget: Option<Option<Usd>>,
    pub budget_period: Option<Option<BudgetPeriod>>,
    pub tpm_limit: Option<Option<u32>>,
    pub rpm_limit: Option<Option<u32>>,
    pub max_parallel: Option<Option<u32>>,
    pub model_ids: Option<Vec<Id>>,
}

fn team_not_found() -> Error {
    Error::not_found("team_not_found", "team")
}

fn name_taken(name: &str) -> Error {
    Error::conflict("team_name_taken", format!("this organization has a team named {name:?} already"))
}

fn default_team() -> Error {
    Error::conflict("default_team", "the Default Team's membership follows the default organization's")
}

impl Services {
    /// Checks a team's fields, including that its models exist.
    async fn check_team(&self, conn: &mut AnyConnection, t: &Team) -> Result<()> {
        let mut v = Validator::new();
        v.label("name", &t.name, MAX_TEAM_NAME_CHARS);
        if let Some(d) = &t.description {
            v.text("description", d, MAX_TEAM_DESCRIPTION_CHARS);
        }
        match (t.budget, t.budget_period) {
            (Some(_), None) => v.error("budgetPeriod", "is required with a budget (daily, weekly or monthly)"),
            (None, Some(_)) => v.error("budget", "is required with a budget period"),
            _ => {}
        }
        if let Some(tpm) = t.tpm_limit {
            v.range("tpmLimit", tpm, 1, MAX_TPM_LIMIT);
        }
        if let Some(rpm) = t.rpm_limit {
            v.range("rpmLimit", rpm, 1, MAX_RPM_LIMIT);
        }
        if let Some(parallel) = t.max_parallel {
            v.range("maxParallel", parallel, 1, MAX_PARALLEL_LIMIT);
        }
        let live: HashSet<Id> = models::by_ids(conn, &t.model_ids).await?.into_iter().map(|m| m.id).collect();
        let mut seen = HashSet::new();
        for (i, model) in t.model_ids.iter().enumerate() {
            let field = format!("modelIds[{i}]");
            v.check(seen.insert(*model), &field, "is listed twice");
            v.check(live.contains(model), &field, format!("no model has the id {model}"));
        }
        Ok(v.finish()?)
    }

    async fn team_in(&self, conn: &mut AnyConnection, org_id: Id, team_id: Id) -> Result<Team> {
        teams::by_id(conn, team_id).await?.filter(|t| t.org_id == org_id).ok_or_else(team_not_found)
    }

    pub async fn create_team(&self, actor: &Actor, org_id: Id, input: Input<TeamInput>) -> Result<Team> {
        let attempt = AuditEntry::new(AuditAction::TeamCreate, Some(actor.user_id)).org(org_id);
        self.audited(&actor.client, attempt, async {
            let now = self.now();
            let mut tx = self.store.begin().await?;
            let at = self.in_org(&mut tx, actor, org_id).await?;
            let input = input.read(self.allow(actor, &at, OrgAction::ManageTeams)?)?;
            let team = Team {
                id: self.ids.next_id(),
                org_id,
                name: input.name,
                description: input.description,
                is_default: false,
                budget: input.budget,
                budget_period: input.budget_period,
                tpm_limit: input.tpm_limit,
                rpm_limit: input.rpm_limit,
                max_parallel: input.max_parallel,
                model_ids: input.model_ids,
                permissions: Vec::new(),
                created_at: now,
                updated_at: now,
            };
            self.check_team(&mut tx, &team).await?;
            orgs::lock(&mut tx, org_id).await?;
            if let Some(max) = at.org.max_teams
                && teams::count_in_org(&mut tx, org_id).await? >= u64::from(max)
            {
                return Err(Error::conflict(
                    "team_quota_exceeded",
                    format!("this organization may have at most {max} teams"),
                ));
            }
            match teams::insert(&mut tx, &team).await {
                Err(StoreError::Conflict(_)) => return Err(name_taken(&team.name)),
                other => other?,
            }
            let entry = AuditEntry::new(AuditAction::TeamCreate, Some(actor.user_id))
                .resource(team.id)
                .org(org_id)
                .after(views::team(&team));
            self.commit_audited(tx, &actor.client, entry).await?;
            self.notify(Change::Team(team.id)).await;
            Ok(team)
        })
        .await
    }

    pub async fn list_teams(&self, principal: &Principal, org_id: Id, page: Input<PageRequest>) -> Result<Page<Team>> {
        let mut conn = self.store.conn().await?;
        let at = self.in_org(&mut conn, principal, org_id).await?;
        let page = page.read(self.allow(principal, &at, OrgAction::Read)?)?;
        Ok(teams::in_org(&mut conn, org_id, page).await?)
    }

    pub async fn get_team(&self, principal: &Principal, org_id: Id, team_id: Id) -> Result<Team> {
        let mut conn = self.store.conn().await?;
        let at = self.in_org(&mut conn, principal, org_id).await?;
        self.allow(principal, &at, OrgAction::Read)?;
        self.team_in(&mut conn, org_id, team_id).await
    }

    pub async fn update_team(&self, actor: &Actor, org_id: Id, team_id: Id, patch: Input<TeamPatch>) -> Result<Team> {
        let attempt = AuditEntry::new(AuditAction::TeamUpdate, Some(actor.user_id)).resource(team_id).org(org_id);
        self.audited(&actor.client, attempt, async {
            let mut tx = self.store.begin().await?;
            let at = self.in_org(&mut tx, actor, org_id).await?;
            let proof = self.allow(actor, &at, OrgAction::ManageTeams)?;
            let before = self.team_in(&mut tx, org_id, team_id).await?;
            let patch = patch.read(proof)?;
            let mut team = before.clone();
            if let Some(name) = patch.name {
                team.name = name;
            }
            if let Some(description) = patch.description {
                team.description = description;
            }
            if let Some(budget) = patch.budget {
                team.budget = budget;
            }
            if let Some(period) = patch.budget_period {
                team.budget_period = period;
            }
            if let Some(tpm) = patch.tpm_limit {
                team.tpm_limit = tpm;
            }
            if let Some(rpm) = patch.rpm_limit {
                team.rpm_limit = rpm;
            }
            if let Some(parallel) = patch.max_parallel {
                team.max_parallel = parallel;
            }
            if let Some(model_ids) = patch.model_ids {
                team.model_ids = model_ids;
            }
            team.updated_at = self.now();
            self.check_team(&mut tx, &team).await?;
            match teams::update(&mut tx, &team).await {
                Err(StoreError::Conflict(_)) => return Err(name_taken(&team.name)),
                other => other?,
            }
            let entry = AuditEntry::new(AuditAction::TeamUpdate, Some(actor.user_id))
                .resource(team_id)
                .org(org_id)
                .before(views::team(&before))
                .after(views::team(&team));
            self.commit_audited(tx, &actor.client, entry).await?;
            self.notify(Change::Team(team_id)).await;
            Ok(team)
        })
        .await
    }

    /// Deletes a team; refused while keys billed to it are usable, and for the Default Team.
    pub async fn delete_team(&self, actor: &Actor, org_id: Id, team_id: Id) -> Result<()> {
        let attempt = AuditEntry::new(AuditAction::TeamDelete, Some(actor.user_id)).resource(team_id).org(org_id);
        self.audited(&actor.client, attempt, async {
            let now = self.now();
            let mut tx = self.store.begin().await?;
            let at = self.in_org(&mut tx, actor, org_id).await?;
            self.allow(actor, &at, OrgAction::ManageTeams)?;
            let team = self.team_in(&mut tx, org_id, team_id).await?;
            if team.is_default {
                return Err(Error::conflict("default_team", "the Default Team cannot be deleted"));
            }
            let keys = teams::active_keys(&mut tx, team_id, now).await?;
            if keys > 0 {
                return Err(Error::conflict(
                    "team_has_active_keys",
                    format!("{keys} usable API keys are billed to this team; revoke them first"),
                ));
            }
            // Its grants go with it: the vaults they were on must tell the engine.
            for vault in
                purser_store::vaults::vaults_granting(&mut tx, purser_domain::vault::Grantee::Team(team_id)).await?
            {
                purser_store::vault_syncs::note_change(&mut tx, vault, org_id, false, now).await?;
            }
            teams::soft_delete(&mut tx, team_id, now).await?;
            let entry = AuditEntry::new(AuditAction::TeamDelete, Some(actor.user_id))
                .resource(team_id)
                .org(org_id)
                .before(views::team(&team));
            self.commit_audited(tx, &actor.client, entry).await?;
            self.notify(Change::Team(team_id)).await;
            Ok(())
        })
        .await
    }

    /// Replaces the organization permissions delegated to a team (owners only).
    pub async fn set_team_permissions(
        &self,
        actor: &Actor,
        org_id: Id,
        team_id: Id,
        permissions: Input<Vec<Permission>>,
    ) -> Result<Team> {
        let attempt = AuditEntry::new(AuditAction::TeamPermissions, Some(actor.user_id)).resource(team_id).org(org_id);
        self.audited(&actor.client, attempt, async {
            let mut tx = self.store.begin().await?;
            let at = self.in_org(&mut tx, actor, org_id).await?;
            let proof = self.allow(actor, &at, OrgAction::GrantPermissions)?;
            let before = self.team_in(&mut tx, org_id, team_id).await?;
            let mut permissions = permissions.read(proof)?;
            permissions.sort();
            permissions.dedup();
            teams::set_permissions(&mut tx, team_id, &permissions, actor.user_id, self.now()).await?;
            let team = self.team_in(&mut tx, org_id, team_id).await?;
            let entry = AuditEntry::new(AuditAction::TeamPermissions, Some(actor.user_id))
                .resource(team_id)
                .org(org_id)
                .before(json!({ "permissions": before.permissions }))
                .after(json!({ "permissions": team.permissions }));
            self.commit_audited(tx, &actor.client, entry).await?;
            Ok(team)
        })
        .await
    }

    pub async fn list_team_members(
        &self,
        principal: &Principal,
        org_id: Id,
        team_id: Id,
        page: Input<PageRequest>,
    ) -> Result<Page<TeamMember>> {
        let mut conn = self.store.conn().await?;
        let at = self.in_org(&mut conn, principal, org_id).await?;
        let proof = self.allow(principal, &at, OrgAction::Read)?;
        self.team_in(&mut conn, org_id, team_id).await?;
        let page = page.read(proof)?;
        if sees_all_members(principal, &at.standing, at.org.is_default) {
            return Ok(teams::members(&mut conn, team_id, page).await?);
        }
        // Only the caller, if a member: the total says so on every page.
        let me = teams::member_of(&mut conn, team_id, principal.user_id).await?;
        let total = u64::from(me.is_some());
        let items: Vec<_> = if page.page == 1 { me.into_iter().collect() } else { Vec::new() };
        Ok(Page { total, items, page })
    }

    /// Adds a member of the organization to a team (admins, managers of the team, or a
    /// team granted `manageTeamMembers`). Making someone a manager takes `manageTeams`.
    pub async fn add_team_member(
        &self,
        actor: &Actor,
        org_id: Id,
        team_id: Id,
        input: Input<(Id, bool)>,
    ) -> Result<TeamMember> {
        let attempt = AuditEntry::new(AuditAction::TeamMemberAdd, Some(actor.user_id)).org(org_id);
        let asked = Asked::default();
        self.audited_asking(&actor.client, attempt, &asked, async {
            let mut tx = self.store.begin().await?;
            let at = self.in_org(&mut tx, actor, org_id).await?;
            let (user_id, manager) = input.read(self.allow(actor, &at, OrgAction::ManageTeamMembers(team_id))?)?;
            asked.was(user_id, json!({ "teamId": team_id, "userId": user_id, "manager": manager }));
            if manager {
                self.allow(actor, &at, OrgAction::ManageTeams)?;
            }
            let team = self.team_in(&mut tx, org_id, team_id).await?;
            if team.is_default {
                return Err(default_team());
            }
            if orgs::member_of(&mut tx, org_id, user_id).await?.is_none() {
                return Err(Error::invalid_field("userId", "is not a member of this organization"));
            }
            match teams::add_member(&mut tx, team_id, user_id, manager, self.now()).await {
                Err(StoreError::Conflict(_)) => {
                    return Err(Error::conflict("already_team_member", "already a member of this team"));
                }
                other => other?,
            }
            let member = teams::member_of(&mut tx, team_id, user_id).await?.ok_or_else(team_not_found)?;
            let entry = AuditEntry::new(AuditAction::TeamMemberAdd, Some(actor.user_id))
                .resource(user_id)
                .org(org_id)
                .after(json!({ "teamId": team_id, "userId": user_id, "manager": manager }));
            self.commit_audited(tx, &actor.client, entry).await?;
            Ok(member)
        })
        .await
    }

    /// Sets or clears a team member's manager flag (`manageTeams`).
    pub async fn set_team_manager(
        &self,
        actor: &Actor,
        org_id: Id,
        team_id: Id,
        user_id: Id,
        manager: Input<bool>,
    ) -> Result<TeamMember> {
        let attempt = AuditEntry::new(AuditAction::TeamMemberUpdate, Some(actor.user_id)).resource(user_id).org(org_id);
        self.audited(&actor.client, attempt, async {
            let mut tx = self.store.begin().await?;
            let at = self.in_org(&mut tx, actor, org_id).await?;
            let manager = manager.read(self.allow(actor, &at, OrgAction::ManageTeams)?)?;
            self.team_in(&mut tx, org_id, team_id).await?;
            let before = teams::member_of(&mut tx, team_id, user_id)
                .await?
                .ok_or_else(|| Error::not_found("team_member_not_found", "team member"))?;
            teams::set_manager(&mut tx, team_id, user_id, manager).await?;
            let member = teams::member_of(&mut tx, team_id, user_id).await?.ok_or_else(team_not_found)?;
            let entry = AuditEntry::new(AuditAction::TeamMemberUpdate, Some(actor.user_id))
                .resource(user_id)
                .org(org_id)
                .before(json!({ "teamId": team_id, "manager": before.manager }))
                .after(json!({ "teamId": team_id, "manager": manager }));
            self.commit_audited(tx, &actor.client, entry).await?;
            Ok(member)
        })
        .await
    }

    pub async fn remove_team_member(&self, actor: &Actor, org_id: Id, team_id: Id, user_id: Id) -> Result<()> {
        let attempt = AuditEntry::new(AuditAction::TeamMemberRemove, Some(actor.user_id)).resource(user_id).org(org_id);
        self.audited(&actor.client, attempt, async {
            let mut tx = self.store.begin().await?;
            let at = self.in_org(&mut tx, actor, org_id).await?;
            self.allow(actor, &at, OrgAction::ManageTeamMembers(team_id))?;
            let team = self.team_in(&mut tx, org_id, team_id).await?;
            if team.is_default {
                return Err(default_team());
            }
            let member = teams::member_of(&mut tx, team_id, user_id)
                .await?
                .ok_or_else(|| Error::not_found("team_member_not_found", "team member"))?;
            teams::remove_member(&mut tx, team_id, user_id).await?;
            let entry = AuditEntry::new(AuditAction::TeamMemberRemove, Some(actor.user_id))
                .resource(user_id)
                .org(org_id)
                .before(json!({ "teamId": team_id, "userId": user_id, "manager": member.manager }));
            self.commit_audited(tx, &actor.client, entry).await?;
            Ok(())
        })
        .await
    }
}
