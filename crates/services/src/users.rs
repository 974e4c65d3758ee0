//! Platform administration of users, and a user's own sessions.

use purser_domain::page::{Page, PageRequest};
use purser_domain::policy::{Action, authorize};
use purser_domain::session::Session;
use purser_domain::user::User;
use purser_domain::{Id, PlatformRole, Principal};
use purser_store::users::UserFilter;
use purser_store::{StoreError, sessions, users};
use serde_json::json;

use crate::audit::{AuditAction, AuditEntry};
use crate::error::{Error, Result};
use crate::{Actor, Change, Services, views};

#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    pub role: Option<PlatformRole>,
    pub active: Option<bool>,
}

fn user_not_found() -> Error {
    Error::not_found("user_not_found", "user")
}

impl Services {
    pub async fn list_users(&self, principal: &Principal, filter: UserFilter, page: PageRequest) -> Result<Page<User>> {
        authorize(principal, Action::ReadUsers)?;
        if filter.search.as_ref().is_some_and(|s| s.chars().count() > 200) {
            return Err(Error::invalid_field("search", "must be at most 200 characters"));
        }
        let mut conn = self.store.conn().await?;
        Ok(users::list(&mut conn, &filter, page).await?)
    }

    pub async fn get_user(&self, principal: &Principal, user_id: Id) -> Result<User> {
        if user_id != principal.user_id {
            authorize(principal, Action::ReadUsers)?;
        }
        let mut conn = self.store.conn().await?;
        users::by_id(&mut conn, user_id).await?.ok_or_else(user_not_found)
    }

    /// Changes a user's platform role or active flag (admins). Deactivating a user ends
    /// their sessions and stops their keys at once. An admin cannot lock themselves out,
    /// and the last active admin stays one.
    pub async fn update_user(&self, actor: &Actor, user_id: Id, patch: UserPatch) -> Result<User> {
        let attempt = AuditEntry::new(AuditAction::UserUpdate, Some(actor.user_id)).resource(user_id);
        self.audited(&actor.client, attempt, async {
            authorize(actor, Action::ManageUsers)?;
            let now = self.now();
            let mut tx = self.store.begin().await?;
            let before = users::by_id(&mut tx, user_id).await?.ok_or_else(user_not_found)?;
            let demoting = patch.role.is_some_and(|r| r != PlatformRole::Admin) && before.role == PlatformRole::Admin;
            let deactivating = patch.active == Some(false) && before.active;
            if user_id == actor.user_id && (demoting || deactivating) {
                return Err(Error::conflict(
                    "self_lockout",
                    "you cannot remove your own admin role or deactivate yourself",
                ));
            }
            if (demoting || deactivating)
                && before.role == PlatformRole::Admin
                && users::count_active_with_role(&mut tx, PlatformRole::Admin).await? <= 1
            {
                return Err(Error::conflict("last_admin", "Purser needs an active admin: promote someone else first"));
            }
            if let Some(role) = patch.role {
                users::set_role(&mut tx, user_id, role, now).await?;
            }
            if let Some(active) = patch.active {
                users::set_active(&mut tx, user_id, active, now).await?;
            }
            let ended =
                if deactivating { sessions::revoke_all_for_user(&mut tx, user_id, None, now).await? } else { 0 };
            let after = users::by_id(&mut tx, user_id).await?.ok_or_else(user_not_found)?;
            let entry = AuditEntry::new(AuditAction::UserUpdate, Some(actor.user_id))
                .resource(user_id)
                .before(views::user(&before))
                .after(json!({ "user": views::user(&after), "sessionsEnded": ended }));
            self.commit_audited(tx, &actor.client, entry).await?;
            self.notify(Change::User(user_id)).await;
            Ok(after)
        })
        .await
    }

    /// The caller's live sessions, newest first.
    pub async fn list_sessions(&self, principal: &Principal) -> Result<Vec<Session>> {
        let mut conn = self.store.conn().await?;
        Ok(sessions::live_for_user(&mut conn, principal.user_id, self.now()).await?)
    }

    /// Ends one of the caller's sessions.
    pub async fn revoke_session(&self, actor: &Actor, session_id: Id) -> Result<()> {
        let attempt = AuditEntry::new(AuditAction::SessionRevoke, Some(actor.user_id)).resource(session_id);
        self.audited(&actor.client, attempt, async {
            let mut tx = self.store.begin().await?;
            let session = sessions::by_id(&mut tx, session_id)
                .await?
                .filter(|s| s.user_id == actor.user_id)
                .ok_or_else(|| Error::not_found("session_not_found", "session"))?;
            if sessions::revoke(&mut tx, session.id, self.now()).await? {
                let entry = AuditEntry::new(AuditAction::SessionRevoke, Some(actor.user_id))
                    .resource(session_id)
                    .after(json!({ "revoked": true }));
                self.audit(&mut tx, &actor.client, entry).await?;
            }
            tx.commit().await.map_err(StoreError::from)?;
            Ok(())
        })
        .await
    }

    /// Ends every session of the caller but the current one; returns how many ended.
    pub async fn revoke_other_sessions(&self, actor: &Actor) -> Result<u64> {
        let attempt = AuditEntry::new(AuditAction::SessionRevoke, Some(actor.user_id));
        self.audited(&actor.client, attempt, async {
            let mut tx = self.store.begin().await?;
            let ended =
                sessions::revoke_all_for_user(&mut tx, actor.user_id, Some(actor.session_id), self.now()).await?;
            let entry = AuditEntry::new(AuditAction::SessionRevoke, Some(actor.user_id))
                .resource(actor.user_id)
                .after(json!({ "otherSessionsEnded": ended }));
            self.commit_audited(tx, &actor.client, entry).await?;
            Ok(ended)
        })
        .await
    }
}
