//! Platform administration of users, and a user's own sessions.

use purser_domain::org::BudgetPeriod;
use purser_domain::page::{Page, PageRequest};
use purser_domain::policy::{Action, authorize, authorize_owner};
use purser_domain::session::Session;
use purser_domain::user::{User, UserLimits};
use purser_domain::{Id, PlatformRole, Principal, Timestamp, Usd, Validator};
use purser_store::users::UserFilter;
use purser_store::{StoreError, sessions, user_limits, users};
use serde_json::json;

use crate::audit::{AuditAction, AuditEntry};
use crate::error::{Error, Result};
use crate::keys::{MAX_PARALLEL_LIMIT, MAX_RPM_LIMIT, MAX_TPM_LIMIT};
use crate::{Actor, Change, Input, Services, views};

#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    pub role: Option<PlatformRole>,
    pub active: Option<bool>,
}

/// What an admin sets as a user's gateway limits; `None` means no limit.
#[derive(Debug, Clone, Default)]
pub struct UserLimitsInput {
    pub rpm_limit: Option<u32>,
    pub tpm_limit: Option<u32>,
    pub max_parallel: Option<u32>,
    pub max_budget: Option<Usd>,
    pub budget_period: Option<BudgetPeriod>,
}

fn user_not_found() -> Error {
    Error::not_found("user_not_found", "user")
}

fn no_limits(user_id: Id, at: Timestamp) -> UserLimits {
    UserLimits {
        user_id,
        rpm_limit: None,
        tpm_limit: None,
        max_parallel: None,
        max_budget: None,
        budget_period: None,
        updated_at: at,
    }
}

impl Services {
    pub async fn list_users(
        &self,
        principal: &Principal,
        query: Input<(UserFilter, PageRequest)>,
    ) -> Result<Page<User>> {
        let (filter, page) = query.read(authorize(principal, Action::ReadUsers)?)?;
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
    pub async fn update_user(&self, actor: &Actor, user_id: Id, patch: Input<UserPatch>) -> Result<User> {
        let attempt = AuditEntry::new(AuditAction::UserUpdate, Some(actor.user_id)).resource(user_id);
        self.audited(&actor.client, attempt, async {
            let patch = patch.read(authorize(actor, Action::ManageUsers)?)?;
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

    /// A user's gateway limits (none set: every field empty).
    pub async fn user_limits(&self, principal: &Principal, user_id: Id) -> Result<UserLimits> {
        if user_id != principal.user_id {
            authorize(principal, Action::ReadUsers)?;
        }
        let mut conn = self.store.conn().await?;
        let user = users::by_id(&mut conn, user_id).await?.ok_or_else(user_not_found)?;
        Ok(user_limits::get(&mut conn, user_id).await?.unwrap_or_else(|| no_limits(user.id, user.updated_at)))
    }

    /// Replaces a user's gateway limits (admins); they apply across all of the user's keys.
    pub async fn set_user_limits(
        &self,
        actor: &Actor,
        user_id: Id,
        input: Input<UserLimitsInput>,
    ) -> Result<UserLimits> {
        let attempt = AuditEntry::new(AuditAction::UserLimits, Some(actor.user_id)).resource(user_id);
        self.audited(&actor.client, attempt, async {
            let input = input.read(authorize(actor, Action::ManageUsers)?)?;
            let mut v = Validator::new();
            if let Some(rpm) = input.rpm_limit {
                v.range("rpmLimit", rpm, 1, MAX_RPM_LIMIT);
            }
            if let Some(tpm) = input.tpm_limit {
                v.range("tpmLimit", tpm, 1, MAX_TPM_LIMIT);
            }
            if let Some(parallel) = input.max_parallel {
                v.range("maxParallel", parallel, 1, MAX_PARALLEL_LIMIT);
            }
            if input.budget_period.is_some() && input.max_budget.is_none() {
                v.error("budgetPeriod", "needs a maxBudget to reset each period");
            }
            v.finish()?;
            let mut tx = self.store.begin().await?;
            let user = users::by_id(&mut tx, user_id).await?.ok_or_else(user_not_found)?;
            let before =
                user_limits::get(&mut tx, user_id).await?.unwrap_or_else(|| no_limits(user.id, user.updated_at));
            let limits = UserLimits {
                user_id,
                rpm_limit: input.rpm_limit,
                tpm_limit: input.tpm_limit,
                max_parallel: input.max_parallel,
                max_budget: input.max_budget,
                budget_period: input.budget_period,
                updated_at: self.now(),
            };
            user_limits::put(&mut tx, &limits).await?;
            let entry = AuditEntry::new(AuditAction::UserLimits, Some(actor.user_id))
                .resource(user_id)
                .before(views::user_limits(&before))
                .after(views::user_limits(&limits));
            self.commit_audited(tx, &actor.client, entry).await?;
            self.notify(Change::User(user_id)).await;
            Ok(limits)
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
            let not_found = || Error::not_found("session_not_found", "session");
            let session = sessions::by_id(&mut tx, session_id).await?.ok_or_else(not_found)?;
            authorize_owner(actor, session.user_id).map_err(|_| not_found())?;
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
