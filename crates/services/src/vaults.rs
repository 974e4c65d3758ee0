//! Vaults: policy containers an authorization engine enforces. Users, teams and service
//! clients get roles on them through grants; a person's role is the highest of their own
//! grant and their teams' grants. Who may change which grant is the policy's decision
//! (`OrgAction::ChangeGrant`).

use purser_domain::page::{Page, PageRequest};
use purser_domain::vault::{Grant, Grantee, SyncStatus, Vault, VaultRole, effective_role};
use purser_domain::{Id, OrgAction, Principal, Validator};
use purser_store::{AnyConnection, clients, orgs, teams, vault_syncs, vault_tokens, vaults};
use serde_json::{Value, json};

use crate::audit::{AuditAction, AuditEntry};
use crate::clients::MAX_DESCRIPTION_CHARS;
use crate::error::{Error, ErrorKind, Result};
use crate::orgs::InOrg;
use crate::vault_tokens::IssuedVaultToken;
use crate::{Actor, Input, Services};

pub const MAX_VAULT_NAME_CHARS: usize = 100;

#[derive(Debug, Clone, Default)]
pub struct VaultInput {
    pub name: Option<String>,
    pub description: Option<String>,
}

pub(crate) fn vault_not_found() -> Error {
    Error::not_found("vault_not_found", "vault")
}

fn vault_view(v: &Vault) -> Value {
    json!({ "name": v.name, "description": v.description })
}

fn grant_view(grantee: Grantee, role: Option<VaultRole>) -> Value {
    json!({ "grantee": grantee.to_string(), "role": role })
}

/// A vault as the caller sees it, with the caller's own role on it.
struct VaultAt {
    at: InOrg,
    vault: Vault,
    my_role: Option<VaultRole>,
}

impl Services {
    async fn vault_at(
        &self,
        conn: &mut AnyConnection,
        principal: &Principal,
        org_id: Id,
        vault_id: Id,
    ) -> Result<VaultAt> {
        let at = self.in_org(conn, principal, org_id).await?;
        // Strangers learn nothing of the organization, vault or not.
        self.allow(principal, &at, OrgAction::ReadVaults)?;
        let vault = vaults::get(conn, org_id, vault_id).await?.ok_or_else(vault_not_found)?;
        let my_role = effective_role(None, vaults::roles_of_user(conn, vault_id, principal.user_id).await?);
        Ok(VaultAt { at, vault, my_role })
    }

    pub async fn create_vault(&self, actor: &Actor, org_id: Id, input: Input<VaultInput>) -> Result<Vault> {
        let attempt = AuditEntry::new(AuditAction::VaultCreate, Some(actor.user_id)).org(org_id);
        self.audited(&actor.client, attempt, async {
            let mut tx = self.store.begin().await?;
            let at = self.in_org(&mut tx, actor, org_id).await?;
            let input = input.read(self.allow(actor, &at, OrgAction::CreateVault)?)?;
            let mut v = Validator::new();
            match &input.name {
                Some(name) => v.label("name", name, MAX_VAULT_NAME_CHARS),
                None => v.error("name", "is required"),
            }
            if let Some(description) = &input.description {
                v.text("description", description, MAX_DESCRIPTION_CHARS);
            }
            v.finish()?;
            let now = self.now();
            let vault = Vault {
                id: self.ids.next_id(),
                org_id,
                name: input.name.unwrap_or_default(),
                description: input.description.filter(|d| !d.is_empty()),
                sync_status: SyncStatus::Pending,
                sync_error: None,
                synced_at: None,
                created_by: Some(actor.user_id),
                created_at: now,
                updated_at: now,
            };
            vaults::insert(&mut tx, &vault).await?;
            // Its creator administers it.
            let grant = Grant {
                vault_id: vault.id,
                grantee: Grantee::User(actor.user_id),
                role: VaultRole::Admin,
                granted_by: Some(actor.user_id),
                created_at: now,
                updated_at: now,
            };
            vaults::put_grant(&mut tx, &grant).await?;
            vault_syncs::note_change(&mut tx, vault.id, org_id, false, now).await?;
            let entry = AuditEntry::new(AuditAction::VaultCreate, Some(actor.user_id))
                .org(org_id)
                .resource(vault.id)
                .after(vault_view(&vault));
            self.commit_audited(tx, &actor.client, entry).await?;
            Ok(vault)
        })
        .await
    }

    pub async fn list_vaults(
        &self,
        principal: &Principal,
        org_id: Id,
        page: Input<PageRequest>,
    ) -> Result<Page<Vault>> {
        let mut conn = self.store.conn().await?;
        let at = self.in_org(&mut conn, principal, org_id).await?;
        let page = page.read(self.allow(principal, &at, OrgAction::ReadVaults)?)?;
        Ok(vaults::list(&mut conn, org_id, page).await?)
    }

    /// A vault, with the caller's own role on it.
    pub async fn get_vault(
        &self,
        principal: &Principal,
        org_id: Id,
        vault_id: Id,
    ) -> Result<(Vault, Option<VaultRole>)> {
        let mut conn = self.store.conn().await?;
        let found = self.vault_at(&mut conn, principal, org_id, vault_id).await?;
        Ok((found.vault, found.my_role))
    }

    pub async fn update_vault(
        &self,
        actor: &Actor,
        org_id: Id,
        vault_id: Id,
        input: Input<VaultInput>,
    ) -> Result<Vault> {
        let attempt = AuditEntry::new(AuditAction::VaultUpdate, Some(actor.user_id)).org(org_id).resource(vault_id);
        self.audited(&actor.client, attempt, async {
            let mut tx = self.store.begin().await?;
            let found = self.vault_at(&mut tx, actor, org_id, vault_id).await?;
            let input =
                input.read(self.allow(actor, &found.at, OrgAction::ManageVault { vault_role: found.my_role })?)?;
            let mut v = Validator::new();
            if let Some(name) = &input.name {
                v.label("name", name, MAX_VAULT_NAME_CHARS);
            }
            if let Some(description) = &input.description {
                v.text("description", description, MAX_DESCRIPTION_CHARS);
            }
            v.finish()?;
            let before = found.vault;
            let mut vault = before.clone();
            vault.name = input.name.unwrap_or(vault.name);
            if let Some(description) = input.description {
                vault.description = Some(description).filter(|d| !d.is_empty());
            }
            vault.updated_at = self.now();
            vault.sync_status = SyncStatus::Pending;
            vault.sync_error = None;
            vaults::update(&mut tx, &vault).await?;
            vault_syncs::note_change(&mut tx, vault_id, org_id, false, vault.updated_at).await?;
            let entry = AuditEntry::new(AuditAction::VaultUpdate, Some(actor.user_id))
                .org(org_id)
                .resource(vault_id)
                .before(vault_view(&before))
                .after(vault_view(&vault));
            self.commit_audited(tx, &actor.client, entry).await?;
            Ok(vault)
        })
        .await
    }

    /// Deletes a vault with its grants. Refused while refresh tokens of it could still be
    /// used: revoke them first, so that nobody loses access by surprise.
    pub async fn delete_vault(&self, actor: &Actor, org_id: Id, vault_id: Id) -> Result<()> {
        let attempt = AuditEntry::new(AuditAction::VaultDelete, Some(actor.user_id)).org(org_id).resource(vault_id);
        self.audited(&actor.client, attempt, async {
            let mut tx = self.store.begin().await?;
            let found = self.vault_at(&mut tx, actor, org_id, vault_id).await?;
            self.allow(actor, &found.at, OrgAction::ManageVault { vault_role: found.my_role })?;
            let live = vault_tokens::live_for_vault(&mut tx, vault_id, self.now()).await?;
            if live > 0 {
                return Err(Error::conflict(
                    "vault_has_tokens",
                    format!("{live} refresh tokens of this vault are still usable; revoke them first"),
                ));
            }
            vaults::delete(&mut tx, vault_id).await?;
            vault_syncs::note_change(&mut tx, vault_id, org_id, true, self.now()).await?;
            let entry = AuditEntry::new(AuditAction::VaultDelete, Some(actor.user_id))
                .org(org_id)
                .resource(vault_id)
                .before(vault_view(&found.vault));
            self.commit_audited(tx, &actor.client, entry).await
        })
        .await
    }

    /// Revokes every refresh token of the vault; answers how many.
    pub async fn revoke_vault_tokens(&self, actor: &Actor, org_id: Id, vault_id: Id) -> Result<u64> {
        let attempt =
            AuditEntry::new(AuditAction::VaultTokensRevoke, Some(actor.user_id)).org(org_id).resource(vault_id);
        self.audited(&actor.client, attempt, async {
            let mut tx = self.store.begin().await?;
            let found = self.vault_at(&mut tx, actor, org_id, vault_id).await?;
            self.allow(actor, &found.at, OrgAction::ManageVault { vault_role: found.my_role })?;
            let revoked = vault_tokens::revoke_for_vault(&mut tx, vault_id, None, self.now()).await?;
            let entry = AuditEntry::new(AuditAction::VaultTokensRevoke, Some(actor.user_id))
                .org(org_id)
                .resource(vault_id)
                .after(json!({ "revoked": revoked }));
            self.commit_audited(tx, &actor.client, entry).await?;
            Ok(revoked)
        })
        .await
    }

    /// Sends the vault's state to the policy engine again, now (after a failure, say).
    pub async fn resync_vault(&self, actor: &Actor, org_id: Id, vault_id: Id) -> Result<Vault> {
        let attempt = AuditEntry::new(AuditAction::VaultResync, Some(actor.user_id)).org(org_id).resource(vault_id);
        self.audited(&actor.client, attempt, async {
            let mut tx = self.store.begin().await?;
            let found = self.vault_at(&mut tx, actor, org_id, vault_id).await?;
            self.allow(actor, &found.at, OrgAction::ManageVault { vault_role: found.my_role })?;
            vault_syncs::resync(&mut tx, vault_id, org_id, self.now()).await?;
            let entry = AuditEntry::new(AuditAction::VaultResync, Some(actor.user_id)).org(org_id).resource(vault_id);
            self.commit_audited(tx, &actor.client, entry).await?;
            let mut vault = found.vault;
            vault.sync_status = SyncStatus::Pending;
            Ok(vault)
        })
        .await
    }

    pub async fn list_grants(&self, principal: &Principal, org_id: Id, vault_id: Id) -> Result<Vec<Grant>> {
        let mut conn = self.store.conn().await?;
        self.vault_at(&mut conn, principal, org_id, vault_id).await?;
        Ok(vaults::grants(&mut conn, vault_id).await?)
    }

    /// Gives a user, team or client a role on the vault (or changes it).
    pub async fn put_grant(
        &self,
        actor: &Actor,
        org_id: Id,
        vault_id: Id,
        grantee: Grantee,
        role: Input<VaultRole>,
    ) -> Result<Grant> {
        let attempt = AuditEntry::new(AuditAction::VaultGrant, Some(actor.user_id)).org(org_id).resource(vault_id);
        self.audited(&actor.client, attempt, async {
            let mut tx = self.store.begin().await?;
            let found = self.vault_at(&mut tx, actor, org_id, vault_id).await?;
            let may_grant = OrgAction::ChangeGrant { vault_role: found.my_role, from: None, to: None };
            let role = role.read(self.allow(actor, &found.at, may_grant)?)?;
            let before = vaults::grant_of(&mut tx, vault_id, grantee).await?;
            let from = before.as_ref().map(|g| g.role);
            self.allow(actor, &found.at, OrgAction::ChangeGrant { vault_role: found.my_role, from, to: Some(role) })?;
            self.grantee_in_org(&mut tx, org_id, grantee).await?;
            let now = self.now();
            let grant = Grant {
                vault_id,
                grantee,
                role,
                granted_by: Some(actor.user_id),
                created_at: before.as_ref().map_or(now, |g| g.created_at),
                updated_at: now,
            };
            vaults::put_grant(&mut tx, &grant).await?;
            vault_syncs::note_change(&mut tx, vault_id, org_id, false, now).await?;
            let entry = AuditEntry::new(AuditAction::VaultGrant, Some(actor.user_id))
                .org(org_id)
                .resource(vault_id)
                .before(grant_view(grantee, from))
                .after(grant_view(grantee, Some(role)));
            self.commit_audited(tx, &actor.client, entry).await?;
            Ok(grant)
        })
        .await
    }

    /// Takes a grant away. A client loses its refresh tokens for the vault at once; a
    /// person's are refused at their next use unless a team still grants a role.
    pub async fn delete_grant(&self, actor: &Actor, org_id: Id, vault_id: Id, grantee: Grantee) -> Result<()> {
        let attempt =
            AuditEntry::new(AuditAction::VaultGrantRemove, Some(actor.user_id)).org(org_id).resource(vault_id);
        self.audited(&actor.client, attempt, async {
            let mut tx = self.store.begin().await?;
            let found = self.vault_at(&mut tx, actor, org_id, vault_id).await?;
            let may_grant = OrgAction::ChangeGrant { vault_role: found.my_role, from: None, to: None };
            self.allow(actor, &found.at, may_grant)?;
            let before = vaults::grant_of(&mut tx, vault_id, grantee)
                .await?
                .ok_or_else(|| Error::not_found("grant_not_found", "grant"))?;
            let change = OrgAction::ChangeGrant { vault_role: found.my_role, from: Some(before.role), to: None };
            self.allow(actor, &found.at, change)?;
            let now = self.now();
            vaults::delete_grant(&mut tx, vault_id, grantee).await?;
            if let Grantee::Client(_) = grantee {
                vault_tokens::revoke_for_vault(&mut tx, vault_id, Some(grantee), now).await?;
            }
            vault_syncs::note_change(&mut tx, vault_id, org_id, false, now).await?;
            let entry = AuditEntry::new(AuditAction::VaultGrantRemove, Some(actor.user_id))
                .org(org_id)
                .resource(vault_id)
                .before(grant_view(grantee, Some(before.role)))
                .after(grant_view(grantee, None));
            self.commit_audited(tx, &actor.client, entry).await
        })
        .await
    }

    /// A grantee must belong to the vault's organization: a member, one of its teams or
    /// one of its clients.
    async fn grantee_in_org(&self, conn: &mut AnyConnection, org_id: Id, grantee: Grantee) -> Result<()> {
        let found = match grantee {
            Grantee::User(user) => orgs::standing(conn, org_id, user).await?.role.is_some(),
            Grantee::Team(team) => teams::by_id(conn, team).await?.is_some_and(|t| t.org_id == org_id),
            Grantee::Client(client) => clients::get(conn, org_id, client).await?.is_some(),
        };
        if found {
            Ok(())
        } else {
            Err(match grantee {
                Grantee::User(_) => Error::not_found("member_not_found", "member"),
                Grantee::Team(_) => Error::not_found("team_not_found", "team"),
                Grantee::Client(_) => Error::not_found("client_not_found", "service client"),
            })
        }
    }

    /// A vault token for the signed-in person: the role asked for, capped by their
    /// effective role on the vault (their own, or their highest team's); none → 403.
    pub async fn issue_user_vault_token(
        &self,
        actor: &Actor,
        org_id: Id,
        vault_id: Id,
        role: Input<Option<VaultRole>>,
    ) -> Result<IssuedVaultToken> {
        let attempt = AuditEntry::new(AuditAction::VaultTokenIssue, Some(actor.user_id)).org(org_id).resource(vault_id);
        self.audited(&actor.client, attempt, async {
            let mut tx = self.store.begin().await?;
            let found = self.vault_at(&mut tx, actor, org_id, vault_id).await?;
            let proof = self.allow(actor, &found.at, OrgAction::ReadVaults)?;
            let Some(mine) = found.my_role else {
                return Err(Error::new(ErrorKind::Forbidden, "no_vault_role", "you have no role on this vault"));
            };
            let asked = role.read(proof)?;
            let role = asked.map_or(mine, |asked| asked.min(mine));
            let subject = Grantee::User(actor.user_id);
            let issued = self.issue_vault_token(&mut tx, org_id, vault_id, subject, role, None).await?;
            let entry = AuditEntry::new(AuditAction::VaultTokenIssue, Some(actor.user_id))
                .org(org_id)
                .resource(vault_id)
                .after(json!({ "subject": subject.to_string(), "role": role }));
            self.commit_audited(tx, &actor.client, entry).await?;
            Ok(issued)
        })
        .await
    }
}
