//! Writing the audit log. A successful change writes its entry in its own transaction (so
//! there is never a change without an entry, nor an entry without the change); a failed
//! attempt writes an entry of its own afterwards, with the error's code.

use std::future::Future;

use purser_domain::audit::AuditRecord;
use purser_domain::page::{Page, PageRequest};
use purser_domain::policy::{Action as PolicyAction, authorize};
use purser_domain::{Id, Principal};
use purser_store::AnyConnection;
use purser_store::audit::{self as store, AuditFilter};
use serde_json::Value;

use crate::actor::ClientInfo;
use crate::error::Result;
use crate::{Input, Services};

/// Every kind of audited change, with the type of resource it concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    UserRegister,
    UserLogin,
    UserLogout,
    UserRefresh,
    UserRefreshReuse,
    UserEnsureAdmin,
    UserVerificationSent,
    UserPasswordResetRequested,
    UserAddressInUse,
    UserEmailAdd,
    UserEmailRemove,
    UserEmailVerify,
    UserEmailPrimary,
    UserPasswordChange,
    UserPasswordReset,
    ModelCreate,
    ModelUpdate,
    ModelDelete,
    DeploymentAdd,
    DeploymentUpdate,
    DeploymentRemove,
    SubscriptionCreate,
    SubscriptionCancel,
    SubscriptionReview,
    ApiKeyCreate,
    ApiKeyRevoke,
    OrgCreate,
    OrgUpdate,
    OrgDelete,
    OrgPurge,
    OrgSuspend,
    OrgResume,
    MemberJoin,
    MemberRoleChange,
    MemberRemove,
    MemberLeave,
    OwnershipTransfer,
    InvitationCreate,
    InvitationRevoke,
    InvitationAccept,
    TeamCreate,
    TeamUpdate,
    TeamDelete,
    TeamPermissions,
    TeamMemberAdd,
    TeamMemberUpdate,
    TeamMemberRemove,
    UserUpdate,
    UserLimits,
    SessionRevoke,
    DocumentUpload,
    DocumentRename,
    DocumentDelete,
    DocumentLink,
    DocumentTimestamp,
    FilesClean,
    WebhookCreate,
    WebhookUpdate,
    WebhookDelete,
    WebhookRedeliver,
    ClientCreate,
    ClientUpdate,
    ClientDelete,
    CertificateAdd,
    CertificateRevoke,
    VaultCreate,
    VaultUpdate,
    VaultDelete,
    VaultGrant,
    VaultGrantRemove,
    VaultTokensRevoke,
    VaultResync,
    VaultTokenIssue,
    VaultTokenRefresh,
    VaultTokenRefreshReuse,
}

impl AuditAction {
    pub const fn name(self) -> &'static str {
        match self {
            Self::UserRegister => "user.register",
            Self::UserLogin => "user.login",
            Self::UserLogout => "user.logout",
            Self::UserRefresh => "user.refresh",
            Self::UserRefreshReuse => "user.refresh_token_reuse",
            Self::UserVerificationSent => "user.email_verification_sent",
            Self::UserPasswordResetRequested => "user.password_reset_requested",
            Self::UserAddressInUse => "user.address_in_use",
            Self::UserEnsureAdmin => "user.ensure_admin",
            Self::UserEmailAdd => "user.email_add",
            Self::UserEmailRemove => "user.email_remove",
            Self::UserEmailVerify => "user.email_verify",
            Self::UserEmailPrimary => "user.email_primary",
            Self::UserPasswordChange => "user.password_change",
            Self::UserPasswordReset => "user.password_reset",
            Self::ModelCreate => "model.create",
            Self::ModelUpdate => "model.update",
            Self::ModelDelete => "model.delete",
            Self::DeploymentAdd => "model.deployment_add",
            Self::DeploymentUpdate => "model.deployment_update",
            Self::DeploymentRemove => "model.deployment_remove",
            Self::SubscriptionCreate => "subscription.create",
            Self::SubscriptionCancel => "subscription.cancel",
            Self::SubscriptionReview => "subscription.review",
            Self::ApiKeyCreate => "api_key.create",
            Self::ApiKeyRevoke => "api_key.revoke",
            Self::OrgCreate => "organization.create",
            Self::OrgUpdate => "organization.update",
            Self::OrgDelete => "organization.delete",
            Self::OrgPurge => "organization.purge",
            Self::OrgSuspend => "organization.suspend",
            Self::OrgResume => "organization.resume",
            Self::MemberJoin => "member.join",
            Self::MemberRoleChange => "member.role_change",
            Self::MemberRemove => "member.remove",
            Self::MemberLeave => "member.leave",
            Self::OwnershipTransfer => "organization.transfer_ownership",
            Self::InvitationCreate => "invitation.create",
            Self::InvitationRevoke => "invitation.revoke",
            Self::InvitationAccept => "invitation.accept",
            Self::TeamCreate => "team.create",
            Self::TeamUpdate => "team.update",
            Self::TeamDelete => "team.delete",
            Self::TeamPermissions => "team.permissions",
            Self::TeamMemberAdd => "team_member.add",
            Self::TeamMemberUpdate => "team_member.update",
            Self::TeamMemberRemove => "team_member.remove",
            Self::UserUpdate => "user.update",
            Self::UserLimits => "user.limits",
            Self::SessionRevoke => "session.revoke",
            Self::DocumentUpload => "document.upload",
            Self::DocumentRename => "document.rename",
            Self::DocumentDelete => "document.delete",
            Self::DocumentLink => "document.link",
            Self::DocumentTimestamp => "document.timestamp",
            Self::FilesClean => "file.clean",
            Self::WebhookCreate => "webhook.create",
            Self::WebhookUpdate => "webhook.update",
            Self::WebhookDelete => "webhook.delete",
            Self::WebhookRedeliver => "webhook.redeliver",
            Self::ClientCreate => "client.create",
            Self::ClientUpdate => "client.update",
            Self::ClientDelete => "client.delete",
            Self::CertificateAdd => "certificate.add",
            Self::CertificateRevoke => "certificate.revoke",
            Self::VaultCreate => "vault.create",
            Self::VaultUpdate => "vault.update",
            Self::VaultDelete => "vault.delete",
            Self::VaultGrant => "vault.grant",
            Self::VaultGrantRemove => "vault.grant_remove",
            Self::VaultTokensRevoke => "vault.tokens_revoke",
            Self::VaultResync => "vault.resync",
            Self::VaultTokenIssue => "vault_token.issue",
            Self::VaultTokenRefresh => "vault_token.refresh",
            Self::VaultTokenRefreshReuse => "vault_token.refresh_token_reuse",
        }
    }

    pub const fn resource_type(self) -> &'static str {
        match self {
            Self::UserRegister
            | Self::UserLogin
            | Self::UserLogout
            | Self::UserRefresh
            | Self::UserRefreshReuse
            | Self::UserPasswordResetRequested
            | Self::UserAddressInUse
            | Self::UserEnsureAdmin
            | Self::UserPasswordChange
            | Self::UserPasswordReset => "user",
            Self::UserEmailAdd
            | Self::UserEmailRemove
            | Self::UserEmailVerify
            | Self::UserEmailPrimary
            | Self::UserVerificationSent => "user_email",
            Self::ModelCreate
            | Self::ModelUpdate
            | Self::ModelDelete
            | Self::DeploymentAdd
            | Self::DeploymentUpdate
            | Self::DeploymentRemove => "model",
            Self::SubscriptionCreate | Self::SubscriptionCancel | Self::SubscriptionReview => "subscription",
            Self::ApiKeyCreate | Self::ApiKeyRevoke => "api_key",
            Self::OrgCreate
            | Self::OrgUpdate
            | Self::OrgDelete
            | Self::OrgPurge
            | Self::OrgSuspend
            | Self::OrgResume
            | Self::OwnershipTransfer => "organization",
            Self::MemberJoin | Self::MemberRoleChange | Self::MemberRemove | Self::MemberLeave => "member",
            Self::InvitationCreate | Self::InvitationRevoke | Self::InvitationAccept => "invitation",
            Self::TeamCreate | Self::TeamUpdate | Self::TeamDelete | Self::TeamPermissions => "team",
            Self::TeamMemberAdd | Self::TeamMemberUpdate | Self::TeamMemberRemove => "team_member",
            Self::UserUpdate | Self::UserLimits => "user",
            Self::SessionRevoke => "session",
            Self::DocumentUpload
            | Self::DocumentRename
            | Self::DocumentDelete
            | Self::DocumentLink
            | Self::DocumentTimestamp => "document",
            Self::FilesClean => "file",
            Self::WebhookCreate | Self::WebhookUpdate | Self::WebhookDelete | Self::WebhookRedeliver => "webhook",
            Self::ClientCreate | Self::ClientUpdate | Self::ClientDelete => "service_client",
            Self::CertificateAdd | Self::CertificateRevoke => "certificate",
            Self::VaultCreate
            | Self::VaultUpdate
            | Self::VaultDelete
            | Self::VaultGrant
            | Self::VaultGrantRemove
            | Self::VaultTokensRevoke
            | Self::VaultResync
            | Self::VaultTokenIssue
            | Self::VaultTokenRefresh
            | Self::VaultTokenRefreshReuse => "vault",
        }
    }
}

/// What an attempt asked for (its resource and details), noted by the use case once it has
/// read its input: only after authorization, so an unauthorized caller's input stays unread.
#[derive(Default)]
pub(crate) struct Asked(std::sync::Mutex<Option<(String, Value)>>);

impl Asked {
    pub(crate) fn was(&self, resource: impl ToString, details: Value) {
        *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some((resource.to_string(), details));
    }
}

/// One audited change, described by the use case that made it.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub action: AuditAction,
    pub actor_id: Option<Id>,
    pub resource_id: Option<String>,
    pub org_id: Option<Id>,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

impl AuditEntry {
    pub fn new(action: AuditAction, actor_id: Option<Id>) -> Self {
        Self { action, actor_id, resource_id: None, org_id: None, before: None, after: None }
    }

    pub fn resource(mut self, id: impl ToString) -> Self {
        self.resource_id = Some(id.to_string());
        self
    }

    pub fn org(mut self, org_id: Id) -> Self {
        self.org_id = Some(org_id);
        self
    }

    pub fn before(mut self, state: Value) -> Self {
        self.before = Some(state);
        self
    }

    pub fn after(mut self, state: Value) -> Self {
        self.after = Some(state);
        self
    }
}

impl Services {
    pub(crate) fn audit_record(&self, entry: AuditEntry, client: &ClientInfo, failure: Option<&str>) -> AuditRecord {
        AuditRecord {
            id: self.ids.next_id(),
            occurred_at: self.now(),
            actor_id: entry.actor_id,
            action: entry.action.name().to_owned(),
            resource_type: entry.action.resource_type().to_owned(),
            resource_id: entry.resource_id,
            org_id: entry.org_id,
            before: entry.before.map(|v| v.to_string()),
            after: entry.after.map(|v| v.to_string()),
            ip: client.ip.clone(),
            user_agent: client.user_agent.clone(),
            request_id: client.request_id.clone(),
            success: failure.is_none(),
            error_code: failure.map(str::to_owned),
        }
    }

    /// Records a successful change in the change's own transaction, with the event it
    /// makes for other systems (if any) in the outbox.
    pub(crate) async fn audit(&self, conn: &mut AnyConnection, client: &ClientInfo, entry: AuditEntry) -> Result<()> {
        let event = self.event_of(&entry);
        store::insert(conn, &self.audit_record(entry, client, None)).await?;
        if let Some(event) = event {
            purser_store::events::append(conn, &event).await?;
        }
        Ok(())
    }

    /// Finishes a change: writes its audit entry in its transaction, then commits both.
    pub(crate) async fn commit_audited(
        &self,
        mut tx: purser_store::Tx,
        client: &ClientInfo,
        entry: AuditEntry,
    ) -> Result<()> {
        self.audit(&mut tx, client, entry).await?;
        tx.commit().await.map_err(purser_store::StoreError::from)?;
        Ok(())
    }

    /// [`Services::audited`] for a use case that learns what was asked (its target) only
    /// once it may read its input: a failure after that says so in its entry.
    pub(crate) async fn audited_asking<T>(
        &self,
        client: &ClientInfo,
        mut entry: AuditEntry,
        asked: &Asked,
        work: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        let outcome = work.await;
        if outcome.is_err()
            && let Some((resource, details)) = asked.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take()
        {
            entry = entry.resource(resource).after(details);
        }
        self.audited(client, entry, std::future::ready(outcome)).await
    }

    /// Runs a use case; if it fails, records the failed attempt (`entry` says what was
    /// attempted). Denials and invalid input are recorded too: they are attempts to change.
    pub(crate) async fn audited<T>(
        &self,
        client: &ClientInfo,
        entry: AuditEntry,
        work: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        let outcome = work.await;
        if let Err(e) = &outcome {
            let record = self.audit_record(entry, client, Some(e.code));
            let written = async {
                let mut conn = self.store.conn().await?;
                store::insert(&mut conn, &record).await
            }
            .await;
            if let Err(write_error) = written {
                tracing::error!(error = %write_error, action = record.action, "could not record a failed attempt in the audit log");
            }
        }
        outcome
    }

    /// The platform-wide audit log, for admins and read-only admins.
    pub async fn audit_log(
        &self,
        principal: &Principal,
        query: Input<(AuditFilter, PageRequest)>,
    ) -> Result<Page<AuditRecord>> {
        let (filter, page) = query.read(authorize(principal, PolicyAction::ReadAuditLog)?)?;
        let mut conn = self.store.conn().await?;
        Ok(store::list(&mut conn, &filter, page).await?)
    }
}
