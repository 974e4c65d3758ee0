//! Invitations: an organization invites an address; whoever has verified that address may
//! join with the invited role within seven days.

use purser_domain::org::{INVITATION_TTL_SECS, Invitation, InvitationStatus, Member, OrgRole, Organization};
use purser_domain::page::{Page, PageRequest};
use purser_domain::policy::{Action, authorize};
use purser_domain::{Id, OrgAction, Principal, Validator, user};
use purser_store::{AnyConnection, emails, invitations, orgs};
use serde_json::json;

use crate::audit::{AuditAction, AuditEntry};
use crate::crypto::{digest, random_token};
use crate::error::{Error, ErrorKind, Result};
use crate::mail::Mail;
use crate::orgs::org_not_found;
use crate::{Actor, Input, Services, views};

const INVITATION_TOKEN_BYTES: usize = 32;

fn invitation_not_found() -> Error {
    Error::not_found("invitation_not_found", "invitation")
}

impl Services {
    /// Refuses a new member beyond the organization's quota (`pending` open invitations count).
    async fn check_member_quota(&self, conn: &mut AnyConnection, org: &Organization, pending: u64) -> Result<()> {
        if let Some(max) = org.max_members {
            let members = orgs::count_members(conn, org.id).await?;
            if members + pending >= u64::from(max) {
                return Err(Error::conflict(
                    "member_quota_exceeded",
                    format!("this organization may have at most {max} members (open invitations included)"),
                ));
            }
        }
        Ok(())
    }

    /// Invites an address; the invitation mail carries the token. Returns the invitation
    /// and whether the mail went out.
    pub async fn create_invitation(
        &self,
        actor: &Actor,
        org_id: Id,
        input: Input<(String, OrgRole)>,
    ) -> Result<(Invitation, bool)> {
        let attempt = AuditEntry::new(AuditAction::InvitationCreate, Some(actor.user_id)).org(org_id);
        self.audited(&actor.client, attempt, async {
            let now = self.now();
            let mut tx = self.store.begin().await?;
            let at = self.in_org(&mut tx, actor, org_id).await?;
            let (email, role) = input.read(self.allow(actor, &at, OrgAction::InviteAny)?)?;
            self.allow(actor, &at, OrgAction::Invite(role))?;
            let mut v = Validator::new();
            user::validate_email(&mut v, "email", &email);
            v.finish()?;
            let email = user::normalize_email(&email);
            orgs::lock(&mut tx, org_id).await?;
            if let Some(existing) = emails::by_address(&mut tx, &email).await?
                && orgs::member_of(&mut tx, org_id, existing.user_id).await?.is_some()
            {
                return Err(Error::conflict("already_member", "this address belongs to a member already"));
            }
            if invitations::pending_for(&mut tx, org_id, &email, now).await?.is_some() {
                return Err(Error::conflict(
                    "invitation_pending",
                    "this address has an open invitation; revoke it to send another",
                ));
            }
            let pending = invitations::pending_in_org(&mut tx, org_id, now).await?;
            self.check_member_quota(&mut tx, &at.org, pending).await?;
            let token = random_token(INVITATION_TOKEN_BYTES);
            let invitation = Invitation {
                id: self.ids.next_id(),
                org_id,
                email,
                role,
                invited_by: actor.user_id,
                created_at: now,
                expires_at: now.plus_secs(INVITATION_TTL_SECS),
                accepted_at: None,
                accepted_by: None,
                revoked_at: None,
            };
            invitations::insert(&mut tx, &invitation, &digest(&token)).await?;
            let entry = AuditEntry::new(AuditAction::InvitationCreate, Some(actor.user_id))
                .resource(invitation.id)
                .org(org_id)
                .after(views::invitation(&invitation));
            self.commit_audited(tx, &actor.client, entry).await?;
            let inviter = self.me(actor).await?;
            let mail = Mail {
                to: invitation.email.clone(),
                subject: format!("You are invited to join {} on Purser", at.org.name),
                text: format!(
                    "{} ({}) invites you to join the organization \"{}\" on Purser as {}.\n\nTo accept, sign in \
                     with this address (verified) and open\n\n  {}/invitations/accept?token={token}\n\nor send this \
                     token to POST /api/v1/invitations/accept:\n\n  {token}\n\nThe invitation expires in 7 days.",
                    inviter.name, inviter.email, at.org.name, invitation.role, self.public_url
                ),
            };
            let sent = self.deliver(mail).await;
            Ok((invitation, sent))
        })
        .await
    }

    pub async fn list_invitations(
        &self,
        principal: &Principal,
        org_id: Id,
        page: Input<PageRequest>,
    ) -> Result<Page<Invitation>> {
        let mut conn = self.store.conn().await?;
        let at = self.in_org(&mut conn, principal, org_id).await?;
        let page = page.read(self.allow(principal, &at, OrgAction::ReadInvitations)?)?;
        Ok(invitations::in_org(&mut conn, org_id, page).await?)
    }

    pub async fn revoke_invitation(&self, actor: &Actor, org_id: Id, invitation_id: Id) -> Result<()> {
        let attempt =
            AuditEntry::new(AuditAction::InvitationRevoke, Some(actor.user_id)).resource(invitation_id).org(org_id);
        self.audited(&actor.client, attempt, async {
            let mut tx = self.store.begin().await?;
            let at = self.in_org(&mut tx, actor, org_id).await?;
            self.allow(actor, &at, OrgAction::RevokeInvitation)?;
            let invitation = invitations::by_id(&mut tx, invitation_id)
                .await?
                .filter(|i| i.org_id == org_id)
                .ok_or_else(invitation_not_found)?;
            if invitation.status(self.now()) != InvitationStatus::Pending {
                return Err(Error::conflict("invitation_not_pending", "only an open invitation can be revoked"));
            }
            invitations::revoke(&mut tx, invitation_id, self.now()).await?;
            let entry = AuditEntry::new(AuditAction::InvitationRevoke, Some(actor.user_id))
                .resource(invitation_id)
                .org(org_id)
                .before(views::invitation(&invitation));
            self.commit_audited(tx, &actor.client, entry).await?;
            Ok(())
        })
        .await
    }

    /// Open invitations to the caller's verified addresses.
    pub async fn my_invitations(&self, principal: &Principal) -> Result<Vec<Invitation>> {
        let mut conn = self.store.conn().await?;
        Ok(invitations::pending_for_user(&mut conn, principal.user_id, self.now()).await?)
    }

    /// Joins the organization an invitation is for. Only a user who has verified the
    /// invited address may accept.
    pub async fn accept_invitation(&self, actor: &Actor, token: Input<String>) -> Result<Member> {
        let attempt = AuditEntry::new(AuditAction::InvitationAccept, Some(actor.user_id));
        self.audited(&actor.client, attempt, async {
            let token = token.read(authorize(actor, Action::ManageOwnAccount)?)?;
            let now = self.now();
            let mut tx = self.store.begin().await?;
            let invitation = invitations::by_token(&mut tx, &digest(&token)).await?.ok_or_else(invitation_not_found)?;
            match invitation.status(now) {
                InvitationStatus::Pending => {}
                InvitationStatus::Expired => {
                    return Err(Error::conflict(
                        "invitation_expired",
                        "this invitation has expired; ask for a new one",
                    ));
                }
                _ => {
                    return Err(Error::conflict(
                        "invitation_not_pending",
                        "this invitation was already used or revoked",
                    ));
                }
            }
            let org = orgs::by_id(&mut tx, invitation.org_id).await?.ok_or_else(org_not_found)?;
            let addresses = emails::for_user(&mut tx, actor.user_id).await?;
            if !addresses.iter().any(|e| e.email == invitation.email && e.is_verified()) {
                return Err(Error::new(
                    ErrorKind::Forbidden,
                    "invitation_email_mismatch",
                    "this invitation is for another address; add and verify that address to accept it",
                ));
            }
            orgs::lock(&mut tx, org.id).await?;
            if orgs::member_of(&mut tx, org.id, actor.user_id).await?.is_some() {
                return Err(Error::conflict("already_member", "you are already a member of this organization"));
            }
            // This invitation was counted when it was sent; it turns into the member now.
            let pending = invitations::pending_in_org(&mut tx, org.id, now).await?.saturating_sub(1);
            self.check_member_quota(&mut tx, &org, pending).await?;
            if !invitations::accept(&mut tx, invitation.id, actor.user_id, now).await? {
                return Err(Error::conflict("invitation_not_pending", "this invitation was already used or revoked"));
            }
            orgs::add_member(&mut tx, org.id, actor.user_id, invitation.role, now).await?;
            let member = orgs::member_of(&mut tx, org.id, actor.user_id).await?.ok_or_else(org_not_found)?;
            let entry = AuditEntry::new(AuditAction::InvitationAccept, Some(actor.user_id))
                .resource(invitation.id)
                .org(org.id)
                .after(json!({ "member": views::member(&member) }));
            self.commit_audited(tx, &actor.client, entry).await?;
            Ok(member)
        })
        .await
    }
}
