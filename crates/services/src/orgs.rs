//! Organizations and their members: creation, quotas, suspension, roles with the
//! last-owner rule, ownership transfer, leaving, deletion, and the default organization
//! every user belongs to.

use purser_domain::audit::AuditRecord;
use purser_domain::org::{MAX_ORG_NAME_CHARS, Member, OrgRole, OrgStatus, Organization, Team};
use purser_domain::page::{Page, PageRequest};
use purser_domain::policy::{Action, authorize, authorize_org, sees_all_members};
use purser_domain::{Authorized, Id, OrgAction, OrgDenied, Principal, Standing, Timestamp, Validator};
use purser_store::audit::AuditFilter;
use purser_store::{AnyConnection, StoreError, api_keys, audit, orgs, teams};
use serde_json::json;

use crate::audit::{AuditAction, AuditEntry};
use crate::error::{Error, ErrorKind, Result};
use crate::{Actor, Change, ClientInfo, Input, Services, views};

pub const MAX_QUOTA: u32 = 100_000;
/// 1 PiB: a storage quota above is a typing error.
pub const MAX_STORAGE_QUOTA: u64 = 1 << 50;

/// An organization as one caller sees it.
#[derive(Debug, Clone)]
pub struct OrgView {
    pub org: Organization,
    /// The caller's role; `None` for platform admins looking at an organization they are not in.
    pub role: Option<OrgRole>,
    pub members: u64,
}

/// Which organizations to list.
#[derive(Debug, Clone, Copy, Default)]
pub struct OrgQuery {
    /// Every organization, not only the caller's (platform admins and read-only admins).
    pub all: bool,
    pub page: PageRequest,
}

#[derive(Debug, Clone, Default)]
pub struct OrgPatch {
    pub name: Option<String>,
    pub max_members: Option<Option<u32>>,
    pub max_teams: Option<Option<u32>>,
    pub max_storage_bytes: Option<Option<u64>>,
    pub document_types: Option<Option<Vec<String>>>,
    pub timestamp_uploads: Option<bool>,
}

/// An organization and the caller's standing in it, loaded together for one use case.
pub(crate) struct InOrg {
    pub org: Organization,
    pub standing: Standing,
}

pub(crate) fn org_not_found() -> Error {
    Error::not_found("organization_not_found", "organization")
}

fn member_not_found() -> Error {
    Error::not_found("member_not_found", "member")
}

fn last_owner() -> Error {
    Error::conflict("last_owner", "an organization needs an owner: make someone else owner first")
}

fn default_org() -> Error {
    Error::conflict(
        "default_organization",
        "everyone belongs to the default organization; it cannot be left or deleted",
    )
}

impl Services {
    /// Loads a live organization and the caller's standing in it.
    pub(crate) async fn in_org(&self, conn: &mut AnyConnection, principal: &Principal, org_id: Id) -> Result<InOrg> {
        let org = orgs::by_id(conn, org_id).await?.ok_or_else(org_not_found)?;
        let standing = orgs::standing(conn, org_id, principal.user_id).await?;
        Ok(InOrg { org, standing })
    }

    /// The policy's answer for this organization. Strangers learn nothing (404); a
    /// suspended organization can be read but not changed.
    pub(crate) fn allow(&self, principal: &Principal, at: &InOrg, action: OrgAction) -> Result<Authorized> {
        let proof = authorize_org(principal, &at.standing, action).map_err(|denied| match denied {
            OrgDenied::NotFound => org_not_found(),
            OrgDenied::Forbidden => {
                Error::new(ErrorKind::Forbidden, "forbidden", "your role in this organization does not allow this")
            }
        })?;
        if at.org.status == OrgStatus::Suspended && !action.is_read() && action != OrgAction::Suspend {
            return Err(Error::new(ErrorKind::Forbidden, "organization_suspended", "this organization is suspended"));
        }
        Ok(proof)
    }

    pub async fn create_organization(&self, actor: &Actor, name: Input<String>) -> Result<Organization> {
        let attempt = AuditEntry::new(AuditAction::OrgCreate, Some(actor.user_id));
        self.audited(&actor.client, attempt, async {
            let name = name.read(authorize(actor, Action::CreateOrganization)?)?;
            let mut v = Validator::new();
            v.label("name", &name, MAX_ORG_NAME_CHARS);
            v.finish()?;
            if !self.me(actor).await?.email_verified {
                return Err(Error::new(
                    ErrorKind::Forbidden,
                    "email_not_verified",
                    "verify your email address before creating an organization",
                ));
            }
            let now = self.now();
            let org = Organization {
                id: self.ids.next_id(),
                name,
                is_default: false,
                status: OrgStatus::Active,
                max_members: None,
                max_teams: None,
                max_storage_bytes: None,
                document_types: None,
                timestamp_uploads: false,
                created_at: now,
                updated_at: now,
            };
            // Its own database first: an organization is never without one. Should the rows
            // then fail, the empty database goes too.
            self.tenants.create(org.id).await?;
            let saved = async {
                let mut tx = self.store.begin().await?;
                orgs::insert(&mut tx, &org).await?;
                orgs::add_member(&mut tx, org.id, actor.user_id, OrgRole::Owner, now).await?;
                let entry = AuditEntry::new(AuditAction::OrgCreate, Some(actor.user_id))
                    .resource(org.id)
                    .org(org.id)
                    .after(views::organization(&org));
                self.commit_audited(tx, &actor.client, entry).await
            }
            .await;
            if saved.is_err()
                && let Err(e) = self.tenants.drop_database(org.id).await
            {
                tracing::warn!(org = %org.id, error = %e, "could not remove the database of an organization not created");
            }
            saved?;
            Ok(org)
        })
        .await
    }

    /// The caller's organizations, or (`all`, for platform admins and read-only admins) every one.
    pub async fn list_organizations(&self, principal: &Principal, query: Input<OrgQuery>) -> Result<Page<OrgView>> {
        // Listing one's own needs nothing; `all` is decided once it is read.
        let OrgQuery { all, page } = query.read(authorize(principal, Action::UseModels)?)?;
        let mut conn = self.store.conn().await?;
        let views: Page<(Organization, Option<OrgRole>)> = if all {
            authorize(principal, Action::ReadAllOrganizations)?;
            orgs::all(&mut conn, page).await?.map(|o| (o, None))
        } else {
            orgs::for_member(&mut conn, principal.user_id, page).await?.map(|(o, r)| (o, Some(r)))
        };
        let mut items = Vec::with_capacity(views.items.len());
        for (org, role) in views.items {
            let members = orgs::count_members(&mut conn, org.id).await?;
            let role = match role {
                Some(role) => Some(role),
                None => orgs::standing(&mut conn, org.id, principal.user_id).await?.role,
            };
            items.push(OrgView { org, role, members });
        }
        Ok(Page { items, page: views.page, total: views.total })
    }

    pub async fn get_organization(&self, principal: &Principal, org_id: Id) -> Result<OrgView> {
        let mut conn = self.store.conn().await?;
        let at = self.in_org(&mut conn, principal, org_id).await?;
        self.allow(principal, &at, OrgAction::Read)?;
        let members = orgs::count_members(&mut conn, org_id).await?;
        Ok(OrgView { org: at.org, role: at.standing.role, members })
    }

    /// Renames (owners and admins) or sets quotas (platform admins). Whatever the patch
    /// holds, the caller must be allowed to change the organization at all.
    pub async fn update_organization(&self, actor: &Actor, org_id: Id, patch: Input<OrgPatch>) -> Result<Organization> {
        let attempt = AuditEntry::new(AuditAction::OrgUpdate, Some(actor.user_id)).resource(org_id).org(org_id);
        self.audited(&actor.client, attempt, async {
            let mut tx = self.store.begin().await?;
            let at = self.in_org(&mut tx, actor, org_id).await?;
            let patch = patch.read(self.allow(actor, &at, OrgAction::Update)?)?;
            if patch.max_members.is_some() || patch.max_teams.is_some() || patch.max_storage_bytes.is_some() {
                self.allow(actor, &at, OrgAction::ManageQuotas)?;
            }
            let mut v = Validator::new();
            if let Some(name) = &patch.name {
                v.label("name", name, MAX_ORG_NAME_CHARS);
            }
            for (field, quota) in [("maxMembers", patch.max_members), ("maxTeams", patch.max_teams)] {
                if let Some(Some(n)) = quota {
                    v.range(field, n, 1, MAX_QUOTA);
                }
            }
            if let Some(Some(bytes)) = patch.max_storage_bytes {
                v.range("maxStorageBytes", bytes, 1, MAX_STORAGE_QUOTA);
            }
            let document_types = match patch.document_types {
                Some(Some(types)) => Some(Some(crate::documents::check_document_types(&mut v, types))),
                other => other,
            };
            if patch.timestamp_uploads == Some(true) && self.timestamping.is_none() {
                v.error("timestampUploads", "no time-stamping authority is configured on this server");
            }
            v.finish()?;
            let before = at.org.clone();
            let mut org = at.org;
            if let Some(name) = patch.name {
                org.name = name;
            }
            if let Some(max) = patch.max_members {
                org.max_members = max;
            }
            if let Some(max) = patch.max_teams {
                org.max_teams = max;
            }
            if let Some(max) = patch.max_storage_bytes {
                org.max_storage_bytes = max;
            }
            if let Some(types) = document_types {
                org.document_types = types;
            }
            if let Some(stamp) = patch.timestamp_uploads {
                org.timestamp_uploads = stamp;
            }
            org.updated_at = self.now();
            orgs::update(&mut tx, &org).await?;
            let entry = AuditEntry::new(AuditAction::OrgUpdate, Some(actor.user_id))
                .resource(org_id)
                .org(org_id)
                .before(views::organization(&before))
                .after(views::organization(&org));
            self.commit_audited(tx, &actor.client, entry).await?;
            Ok(org)
        })
        .await
    }

    /// Deletes an organization softly: it stops working at once and its data is kept for
    /// the grace period. Refused while keys billed to its teams could still be used, or
    /// while it has vaults.
    /// Returns when its data may be purged.
    pub async fn delete_organization(&self, actor: &Actor, org_id: Id) -> Result<Timestamp> {
        let attempt = AuditEntry::new(AuditAction::OrgDelete, Some(actor.user_id)).resource(org_id).org(org_id);
        self.audited(&actor.client, attempt, async {
            let now = self.now();
            let mut tx = self.store.begin().await?;
            let at = self.in_org(&mut tx, actor, org_id).await?;
            self.allow(actor, &at, OrgAction::Delete)?;
            if at.org.is_default {
                return Err(default_org());
            }
            let keys = orgs::active_keys(&mut tx, org_id, now).await?;
            if keys > 0 {
                return Err(Error::conflict(
                    "organization_has_active_resources",
                    format!("{keys} API keys billed to this organization's teams are still usable; revoke them first"),
                ));
            }
            let vaults = purser_store::vaults::count_in(&mut tx, org_id).await?;
            if vaults > 0 {
                return Err(Error::conflict(
                    "organization_has_active_resources",
                    format!("the organization still has {vaults} vaults; delete them first"),
                ));
            }
            orgs::soft_delete(&mut tx, org_id, now).await?;
            let purge_after = now.plus_secs(i64::from(self.org_deletion_grace_days) * 86_400);
            let entry = AuditEntry::new(AuditAction::OrgDelete, Some(actor.user_id))
                .resource(org_id)
                .org(org_id)
                .before(views::organization(&at.org))
                .after(json!({ "deleted": true, "purgeAfter": purge_after }));
            self.commit_audited(tx, &actor.client, entry).await?;
            self.notify(Change::Organization(org_id)).await;
            Ok(purge_after)
        })
        .await
    }

    /// Deletes for good the organizations whose grace period has passed. Idempotent, so
    /// every replica may run it.
    pub async fn purge_deleted_organizations(&self) -> Result<usize> {
        let cutoff = self.now().plus_secs(-i64::from(self.org_deletion_grace_days) * 86_400);
        let mut tx = self.store.begin().await?;
        let purged = orgs::purge_deleted_before(&mut tx, cutoff).await?;
        for org in &purged {
            let entry =
                AuditEntry::new(AuditAction::OrgPurge, None).resource(org).org(*org).after(json!({ "purged": true }));
            self.audit(&mut tx, &ClientInfo::system(), entry).await?;
        }
        tx.commit().await.map_err(StoreError::from)?;
        for org in &purged {
            if let Err(e) = self.blobs.delete_organization(*org).await {
                tracing::error!(org = %org, error = %e, "could not remove a purged organization's files");
            }
            if let Err(e) = self.tenants.drop_database(*org).await {
                // The rows are gone; the operator removes what is left (the log names it).
                tracing::error!(org = %org, database = %self.tenants.url(*org), error = %e,
                    "could not drop a purged organization's database");
            }
        }
        if !purged.is_empty() {
            tracing::info!(count = purged.len(), "purged organizations past their deletion grace period");
        }
        Ok(purged.len())
    }

    /// Suspends or resumes an organization (platform admins).
    pub async fn set_organization_suspended(&self, actor: &Actor, org_id: Id, suspended: bool) -> Result<Organization> {
        let action = if suspended { AuditAction::OrgSuspend } else { AuditAction::OrgResume };
        let attempt = AuditEntry::new(action, Some(actor.user_id)).resource(org_id).org(org_id);
        self.audited(&actor.client, attempt, async {
            let mut tx = self.store.begin().await?;
            let at = self.in_org(&mut tx, actor, org_id).await?;
            self.allow(actor, &at, OrgAction::Suspend)?;
            if at.org.is_default && suspended {
                return Err(default_org());
            }
            let before = at.org.clone();
            let mut org = at.org;
            org.status = if suspended { OrgStatus::Suspended } else { OrgStatus::Active };
            org.updated_at = self.now();
            orgs::update(&mut tx, &org).await?;
            let entry = AuditEntry::new(action, Some(actor.user_id))
                .resource(org_id)
                .org(org_id)
                .before(views::organization(&before))
                .after(views::organization(&org));
            self.commit_audited(tx, &actor.client, entry).await?;
            self.notify(Change::Organization(org_id)).await;
            Ok(org)
        })
        .await
    }

    /// The members the caller may see (see [`sees_all_members`]), owners first.
    pub async fn list_members(
        &self,
        principal: &Principal,
        org_id: Id,
        page: Input<PageRequest>,
    ) -> Result<Page<Member>> {
        let mut conn = self.store.conn().await?;
        let at = self.in_org(&mut conn, principal, org_id).await?;
        let page = page.read(self.allow(principal, &at, OrgAction::Read)?)?;
        if sees_all_members(principal, &at.standing, at.org.is_default) {
            return Ok(orgs::members(&mut conn, org_id, page).await?);
        }
        let me = orgs::member_of(&mut conn, org_id, principal.user_id).await?;
        let items = if page.page == 1 { me.into_iter().collect() } else { Vec::new() };
        Ok(Page { items, page, total: 1 })
    }

    pub async fn get_member(&self, principal: &Principal, org_id: Id, user_id: Id) -> Result<Member> {
        let mut conn = self.store.conn().await?;
        let at = self.in_org(&mut conn, principal, org_id).await?;
        self.allow(principal, &at, OrgAction::Read)?;
        if user_id != principal.user_id && !sees_all_members(principal, &at.standing, at.org.is_default) {
            return Err(member_not_found());
        }
        orgs::member_of(&mut conn, org_id, user_id).await?.ok_or_else(member_not_found)
    }

    pub async fn change_member_role(
        &self,
        actor: &Actor,
        org_id: Id,
        user_id: Id,
        role: Input<OrgRole>,
    ) -> Result<Member> {
        let attempt = AuditEntry::new(AuditAction::MemberRoleChange, Some(actor.user_id)).resource(user_id).org(org_id);
        self.audited(&actor.client, attempt, async {
            let mut tx = self.store.begin().await?;
            let at = self.in_org(&mut tx, actor, org_id).await?;
            let role = role.read(self.allow(actor, &at, OrgAction::ManageMembers)?)?;
            orgs::lock(&mut tx, org_id).await?;
            let member = orgs::member_of(&mut tx, org_id, user_id).await?.ok_or_else(member_not_found)?;
            self.allow(actor, &at, OrgAction::ChangeRole { from: member.role, to: role })?;
            if member.role == OrgRole::Owner
                && role != OrgRole::Owner
                && orgs::count_owners(&mut tx, org_id).await? <= 1
            {
                return Err(last_owner());
            }
            orgs::set_role(&mut tx, org_id, user_id, role, self.now()).await?;
            let changed = orgs::member_of(&mut tx, org_id, user_id).await?.ok_or_else(member_not_found)?;
            let entry = AuditEntry::new(AuditAction::MemberRoleChange, Some(actor.user_id))
                .resource(user_id)
                .org(org_id)
                .before(views::member(&member))
                .after(views::member(&changed));
            self.commit_audited(tx, &actor.client, entry).await?;
            Ok(changed)
        })
        .await
    }

    /// Takes someone out of the organization (and its teams), revoking their keys billed to it.
    pub async fn remove_member(&self, actor: &Actor, org_id: Id, user_id: Id) -> Result<()> {
        let leaving = user_id == actor.user_id;
        let action = if leaving { AuditAction::MemberLeave } else { AuditAction::MemberRemove };
        let attempt = AuditEntry::new(action, Some(actor.user_id)).resource(user_id).org(org_id);
        self.audited(&actor.client, attempt, async {
            let now = self.now();
            let mut tx = self.store.begin().await?;
            let at = self.in_org(&mut tx, actor, org_id).await?;
            // Leaving needs no target's role, so it is decided before the lookup.
            self.allow(actor, &at, if leaving { OrgAction::Leave } else { OrgAction::Read })?;
            orgs::lock(&mut tx, org_id).await?;
            let member = orgs::member_of(&mut tx, org_id, user_id).await?.ok_or_else(member_not_found)?;
            if !leaving {
                self.allow(actor, &at, OrgAction::RemoveMember(member.role))?;
            }
            if at.org.is_default {
                return Err(default_org());
            }
            if member.role == OrgRole::Owner && orgs::count_owners(&mut tx, org_id).await? <= 1 {
                return Err(last_owner());
            }
            orgs::remove_member(&mut tx, org_id, user_id).await?;
            let revoked = api_keys::revoke_for_member(&mut tx, user_id, org_id, now).await?;
            let entry = AuditEntry::new(action, Some(actor.user_id))
                .resource(user_id)
                .org(org_id)
                .before(views::member(&member))
                .after(json!({ "removed": true, "apiKeysRevoked": revoked }));
            self.commit_audited(tx, &actor.client, entry).await?;
            for key in revoked {
                self.notify(Change::ApiKey(key)).await;
            }
            Ok(())
        })
        .await
    }

    /// Makes another member owner and the caller an admin.
    pub async fn transfer_ownership(&self, actor: &Actor, org_id: Id, to: Input<Id>) -> Result<()> {
        let attempt = AuditEntry::new(AuditAction::OwnershipTransfer, Some(actor.user_id)).resource(org_id).org(org_id);
        self.audited(&actor.client, attempt, async {
            let now = self.now();
            let mut tx = self.store.begin().await?;
            let at = self.in_org(&mut tx, actor, org_id).await?;
            let to = to.read(self.allow(actor, &at, OrgAction::TransferOwnership)?)?;
            orgs::lock(&mut tx, org_id).await?;
            if to == actor.user_id {
                return Err(Error::invalid_field("userId", "is you; name the member who should become owner"));
            }
            let target = orgs::member_of(&mut tx, org_id, to).await?.ok_or_else(member_not_found)?;
            orgs::set_role(&mut tx, org_id, to, OrgRole::Owner, now).await?;
            // A platform admin who is not a member hands over without taking a role.
            if at.standing.role.is_some() {
                orgs::set_role(&mut tx, org_id, actor.user_id, OrgRole::Admin, now).await?;
            }
            let entry = AuditEntry::new(AuditAction::OwnershipTransfer, Some(actor.user_id))
                .resource(org_id)
                .org(org_id)
                .before(json!({ "owner": actor.user_id, "newOwnerRole": target.role }))
                .after(json!({ "owner": to, "previousOwnerRole": "admin" }));
            self.commit_audited(tx, &actor.client, entry).await?;
            Ok(())
        })
        .await
    }

    /// The organization's own audit entries, for its owners (and members a team delegates it to).
    pub async fn organization_audit(
        &self,
        principal: &Principal,
        org_id: Id,
        query: Input<(AuditFilter, PageRequest)>,
    ) -> Result<Page<AuditRecord>> {
        let mut conn = self.store.conn().await?;
        let at = self.in_org(&mut conn, principal, org_id).await?;
        let (mut filter, page) = query.read(self.allow(principal, &at, OrgAction::ReadAudit)?)?;
        filter.org_id = Some(org_id);
        Ok(audit::list(&mut conn, &filter, page).await?)
    }

    /// Creates the default organization and its Default Team if they do not exist, and
    /// makes every user a member of both. Safe to run at every start, on every replica.
    pub async fn ensure_default_organization(&self) -> Result<(Organization, Team)> {
        let (org, team) = match self.try_ensure_default().await {
            // Another replica created them at the same moment: use theirs.
            Err(e) if e.kind == ErrorKind::Conflict => self.try_ensure_default().await,
            other => other,
        }?;
        self.tenants.create(org.id).await?;
        Ok((org, team))
    }

    async fn try_ensure_default(&self) -> Result<(Organization, Team)> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let org = match orgs::default_org(&mut tx).await? {
            Some(org) => org,
            None => {
                let org = Organization {
                    id: self.ids.next_id(),
                    name: "Default".into(),
                    is_default: true,
                    status: OrgStatus::Active,
                    max_members: None,
                    max_teams: None,
                    max_storage_bytes: None,
                    document_types: None,
                    timestamp_uploads: false,
                    created_at: now,
                    updated_at: now,
                };
                orgs::insert(&mut tx, &org).await?;
                let entry = AuditEntry::new(AuditAction::OrgCreate, None)
                    .resource(org.id)
                    .org(org.id)
                    .after(views::organization(&org));
                self.audit(&mut tx, &ClientInfo::system(), entry).await?;
                org
            }
        };
        let team = match teams::default_team(&mut tx).await? {
            Some(team) => team,
            None => {
                let team = Team {
                    id: self.ids.next_id(),
                    org_id: org.id,
                    name: "Default Team".into(),
                    description: Some("Everyone; all models".into()),
                    is_default: true,
                    budget: None,
                    budget_period: None,
                    tpm_limit: None,
                    rpm_limit: None,
                    max_parallel: None,
                    model_ids: Vec::new(),
                    permissions: Vec::new(),
                    created_at: now,
                    updated_at: now,
                };
                teams::insert(&mut tx, &team).await?;
                let entry = AuditEntry::new(AuditAction::TeamCreate, None)
                    .resource(team.id)
                    .org(org.id)
                    .after(views::team(&team));
                self.audit(&mut tx, &ClientInfo::system(), entry).await?;
                team
            }
        };
        let joined = orgs::add_everyone(&mut tx, org.id, OrgRole::Member, now).await?;
        teams::add_all_org_members(&mut tx, &team, now).await?;
        if joined > 0 {
            let entry = AuditEntry::new(AuditAction::MemberJoin, None).org(org.id).after(json!({ "joined": joined }));
            self.audit(&mut tx, &ClientInfo::system(), entry).await?;
        }
        tx.commit().await.map_err(StoreError::from)?;
        if joined > 0 {
            tracing::info!(joined, "users joined the default organization");
        }
        Ok((org, team))
    }

    /// Puts a new user into the default organization and its Default Team.
    pub(crate) async fn join_default(
        &self,
        conn: &mut AnyConnection,
        user_id: Id,
        now: Timestamp,
        client: &ClientInfo,
    ) -> Result<()> {
        let Some(team) = teams::default_team(conn).await? else { return Ok(()) };
        orgs::add_member(conn, team.org_id, user_id, OrgRole::Member, now).await?;
        teams::add_member(conn, team.id, user_id, false, now).await?;
        let entry = AuditEntry::new(AuditAction::MemberJoin, Some(user_id))
            .resource(user_id)
            .org(team.org_id)
            .after(json!({ "role": OrgRole::Member, "teamId": team.id }));
        self.audit(conn, client, entry).await
    }
}
