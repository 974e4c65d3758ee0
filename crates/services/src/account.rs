//! A user's own account: email addresses and their verification, changing a forgotten or
//! known password. Mails go out after the change is committed.

use purser_domain::policy::{Action, authorize, authorize_owner};
use purser_domain::user::{
    self, EmailToken, MAX_EMAILS_PER_USER, RESET_PASSWORD_TTL_SECS, TokenPurpose, User, UserEmail,
    VERIFY_EMAIL_TTL_SECS,
};
use purser_domain::{Id, Validator};
use purser_store::{AnyConnection, StoreError, emails, sessions, users};
use serde_json::json;

use crate::audit::{AuditAction, AuditEntry};
use crate::crypto::{digest, random_token};
use crate::error::{Error, Result};
use crate::mail::Mail;
use crate::{Actor, ClientInfo, Input, Services, passwords};

const EMAIL_TOKEN_BYTES: usize = 32;

fn email_not_found() -> Error {
    Error::not_found("email_not_found", "email address")
}

fn invalid_token() -> Error {
    Error::invalid_field("token", "is not valid: it is unknown, used or expired")
}

/// Whose account a verification mail asks to add an address to.
pub(crate) enum AccountNamed<'a> {
    New,
    Existing { name: &'a str, email: &'a str },
}

impl<'a> AccountNamed<'a> {
    fn of(user: &'a User) -> Self {
        Self::Existing { name: &user.name, email: &user.email }
    }
}

impl Services {
    /// The caller's account, as it is now.
    async fn account_of(&self, user_id: Id) -> Result<User> {
        let mut conn = self.store.conn().await?;
        let found = users::by_id(&mut conn, user_id).await?;
        found.ok_or_else(|| Error::not_found("user_not_found", "user"))
    }

    /// Stores a new single-use token and returns it (the caller mails it).
    pub(crate) async fn new_email_token(
        &self,
        conn: &mut AnyConnection,
        purpose: TokenPurpose,
        user_id: Id,
        email_id: Option<Id>,
    ) -> Result<String> {
        let now = self.now();
        let ttl = match purpose {
            TokenPurpose::VerifyEmail => VERIFY_EMAIL_TTL_SECS,
            TokenPurpose::ResetPassword => RESET_PASSWORD_TTL_SECS,
        };
        let token = random_token(EMAIL_TOKEN_BYTES);
        let record =
            EmailToken { purpose, user_id, email_id, created_at: now, expires_at: now.plus_secs(ttl), used_at: None };
        emails::insert_token(conn, &digest(&token), &record).await?;
        Ok(token)
    }

    /// Delivers a mail; a failure is logged, not returned: the change it reports is made.
    pub(crate) async fn deliver(&self, mail: Mail) -> bool {
        let to = mail.to.clone();
        match self.mailer.send(mail).await {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %e, %to, "could not deliver mail");
                false
            }
        }
    }

    /// Tells the owner of `address` that someone tried to `attempt` (such as "create a new
    /// Purser account") with it, and records the attempt. Whoever tried is answered as
    /// if the address were free, so they learn nothing of whose it is.
    /// Returns whether the mail went out. Nothing here fails the request: a failure that
    /// only a taken address met would tell the caller it was taken.
    pub(crate) async fn tell_owner(&self, address: &str, attempt: &str, client: &ClientInfo) -> bool {
        let entry = AuditEntry::new(AuditAction::UserAddressInUse, None)
            .after(json!({ "email": address, "attempt": attempt, "ownerTold": true }));
        let recorded = async {
            let mut conn = self.store.conn().await?;
            self.audit(&mut conn, client, entry).await
        };
        if let Err(e) = recorded.await {
            tracing::error!(error = %e, "could not record an attempt to use a taken address");
        }
        let mail = Mail {
            to: address.to_owned(),
            subject: "Someone tried to use your address on Purser".into(),
            text: format!(
                "Someone tried to {attempt} with {address}, which already belongs to your Purser account. Nothing \
                 was changed, and they were not told that the address is yours.\n\nIf it was you: sign in at \
                 {}/ with this address, or choose a new password at {}/forgot-password.\nIf it was not you, \
                 you need do nothing.",
                self.public_url, self.public_url
            ),
        };
        self.deliver(mail).await
    }

    /// The mail that confirms `to` belongs to `account`: it names the account, so that
    /// nobody confirms an address into an account that is not theirs (whoever holds a
    /// verified address can accept invitations sent to it).
    pub(crate) fn verification_mail(&self, to: &str, token: &str, account: &AccountNamed<'_>) -> Mail {
        let whose = match account {
            AccountNamed::New => "a new Purser account".to_owned(),
            AccountNamed::Existing { name, email } => format!("the Purser account of {name} <{email}>"),
        };
        Mail {
            to: to.to_owned(),
            subject: "Confirm your email address for Purser".into(),
            text: format!(
                "Someone asked to add {to} to {whose}. If that account is yours, confirm by opening\n\n  \
                 {}/verify-email?token={token}\n\n\
                 or by sending this token to POST /api/v1/auth/verify-email:\n\n  {token}\n\n\
                 The link works once and expires in 24 hours. If the account is not yours, ignore this mail: \
                 the address stays unconfirmed.",
                self.public_url
            ),
        }
    }

    /// Starts verification of the caller's address (`email_id`, or the primary one).
    pub async fn send_verification(&self, actor: &Actor, email_id: Input<Option<Id>>) -> Result<bool> {
        let attempt = AuditEntry::new(AuditAction::UserVerificationSent, Some(actor.user_id));
        self.audited(&actor.client, attempt, async {
            let email_id = email_id.read(authorize(actor, Action::ManageOwnAccount)?)?;
            let mut tx = self.store.begin().await?;
            let addresses = emails::for_user(&mut tx, actor.user_id).await?;
            let address = match email_id {
                Some(id) => addresses.into_iter().find(|e| e.id == id).ok_or_else(email_not_found)?,
                None => addresses.into_iter().find(|e| e.is_primary).ok_or_else(email_not_found)?,
            };
            if address.is_verified() {
                return Err(Error::conflict(
                    "email_already_verified",
                    format!("{} is already verified", address.email),
                ));
            }
            // An address that is someone else's is never verified for this account.
            if emails::by_address(&mut tx, &address.email).await?.is_some_and(|owner| owner.user_id != actor.user_id) {
                drop(tx);
                return Ok(self.tell_owner(&address.email, "add it to another Purser account", &actor.client).await);
            }
            let token =
                self.new_email_token(&mut tx, TokenPurpose::VerifyEmail, actor.user_id, Some(address.id)).await?;
            let entry = AuditEntry::new(AuditAction::UserVerificationSent, Some(actor.user_id))
                .resource(address.id)
                .after(json!({ "email": address.email }));
            self.commit_audited(tx, &actor.client, entry).await?;
            let account = self.account_of(actor.user_id).await?;
            Ok(self.deliver(self.verification_mail(&address.email, &token, &AccountNamed::of(&account))).await)
        })
        .await
    }

    /// Confirms an address with the token mailed to it. Needs no sign-in: the token is the proof.
    pub async fn verify_email(&self, token: &str, client: &ClientInfo) -> Result<UserEmail> {
        let attempt = AuditEntry::new(AuditAction::UserEmailVerify, None);
        self.audited(client, attempt, async {
            let hash = digest(token);
            let now = self.now();
            let mut tx = self.store.begin().await?;
            let record = emails::token(&mut tx, &hash).await?.filter(|t| t.usable(TokenPurpose::VerifyEmail, now));
            let record = record.ok_or_else(invalid_token)?;
            let email_id = record.email_id.ok_or_else(invalid_token)?;
            if !emails::use_token(&mut tx, &hash, now).await? {
                return Err(invalid_token());
            }
            match emails::mark_verified(&mut tx, email_id, now).await {
                Err(StoreError::Conflict(_)) => {
                    return Err(Error::invalid_field(
                        "token",
                        "cannot verify this address: it belongs to another account now",
                    ));
                }
                other => other?,
            }
            let email = emails::by_id(&mut tx, email_id).await?.ok_or_else(invalid_token)?;
            let entry = AuditEntry::new(AuditAction::UserEmailVerify, Some(record.user_id))
                .resource(email.id)
                .after(json!({ "email": email.email, "verified": true }));
            self.commit_audited(tx, client, entry).await?;
            Ok(email)
        })
        .await
    }

    pub async fn list_emails(&self, actor: &Actor) -> Result<Vec<UserEmail>> {
        let mut conn = self.store.conn().await?;
        Ok(emails::for_user(&mut conn, actor.user_id).await?)
    }

    /// Adds an address (unverified) and mails it a verification link. An address that
    /// belongs to another account is added all the same, never to be verified, and its
    /// owner is told instead: the caller cannot tell whether it was anyone's.
    pub async fn add_email(&self, actor: &Actor, address: Input<String>) -> Result<UserEmail> {
        let attempt = AuditEntry::new(AuditAction::UserEmailAdd, Some(actor.user_id));
        self.audited(&actor.client, attempt, async {
            let address = address.read(authorize(actor, Action::ManageOwnAccount)?)?;
            let mut v = Validator::new();
            user::validate_email(&mut v, "email", &address);
            v.finish()?;
            let address = user::normalize_email(&address);
            let mut tx = self.store.begin().await?;
            if emails::for_user(&mut tx, actor.user_id).await?.len() >= MAX_EMAILS_PER_USER {
                return Err(Error::conflict(
                    "too_many_emails",
                    format!("an account may have at most {MAX_EMAILS_PER_USER} addresses"),
                ));
            }
            let already_yours = || Error::conflict("email_already_added", "this address is on your account already");
            let owner = emails::by_address(&mut tx, &address).await?;
            if owner.as_ref().is_some_and(|o| o.user_id == actor.user_id) {
                return Err(already_yours());
            }
            let email = UserEmail {
                id: self.ids.next_id(),
                user_id: actor.user_id,
                email: address,
                is_primary: false,
                verified_at: None,
                created_at: self.now(),
            };
            match emails::insert(&mut tx, &email).await {
                Err(StoreError::Conflict(_)) => return Err(already_yours()),
                other => other?,
            }
            let token = match owner {
                Some(_) => None,
                None => {
                    Some(self.new_email_token(&mut tx, TokenPurpose::VerifyEmail, actor.user_id, Some(email.id)).await?)
                }
            };
            let entry = AuditEntry::new(AuditAction::UserEmailAdd, Some(actor.user_id))
                .resource(email.id)
                .after(json!({ "email": email.email }));
            self.commit_audited(tx, &actor.client, entry).await?;
            match token {
                Some(token) => {
                    let account = self.account_of(actor.user_id).await?;
                    self.deliver(self.verification_mail(&email.email, &token, &AccountNamed::of(&account))).await;
                }
                None => {
                    self.tell_owner(&email.email, "add it to another Purser account", &actor.client).await;
                }
            }
            Ok(email)
        })
        .await
    }

    pub async fn remove_email(&self, actor: &Actor, email_id: Id) -> Result<()> {
        let attempt = AuditEntry::new(AuditAction::UserEmailRemove, Some(actor.user_id)).resource(email_id);
        self.audited(&actor.client, attempt, async {
            let mut tx = self.store.begin().await?;
            let email = emails::by_id(&mut tx, email_id).await?.ok_or_else(email_not_found)?;
            authorize_owner(actor, email.user_id).map_err(|_| email_not_found())?;
            if email.is_primary {
                return Err(Error::conflict("primary_email", "make another address primary before removing this one"));
            }
            emails::delete(&mut tx, email_id).await?;
            let entry = AuditEntry::new(AuditAction::UserEmailRemove, Some(actor.user_id))
                .resource(email_id)
                .before(json!({ "email": email.email }));
            self.commit_audited(tx, &actor.client, entry).await?;
            Ok(())
        })
        .await
    }

    /// Makes a verified address the login address.
    pub async fn set_primary_email(&self, actor: &Actor, email_id: Id) -> Result<User> {
        let attempt = AuditEntry::new(AuditAction::UserEmailPrimary, Some(actor.user_id)).resource(email_id);
        self.audited(&actor.client, attempt, async {
            let mut tx = self.store.begin().await?;
            let email = emails::by_id(&mut tx, email_id).await?.ok_or_else(email_not_found)?;
            authorize_owner(actor, email.user_id).map_err(|_| email_not_found())?;
            if !email.is_verified() {
                return Err(Error::conflict("email_not_verified", "only a verified address can become primary"));
            }
            let before = users::by_id(&mut tx, actor.user_id).await?.map(|u| u.email);
            emails::set_primary(&mut tx, actor.user_id, email_id, self.now()).await?;
            let user = users::by_id(&mut tx, actor.user_id)
                .await?
                .ok_or_else(|| Error::not_found("user_not_found", "user"))?;
            let entry = AuditEntry::new(AuditAction::UserEmailPrimary, Some(actor.user_id))
                .resource(email_id)
                .before(json!({ "primary": before }))
                .after(json!({ "primary": user.email }));
            self.commit_audited(tx, &actor.client, entry).await?;
            Ok(user)
        })
        .await
    }

    /// Mails a reset link if `address` is a verified address of an active user. The answer
    /// is the same, and as fast, whether or not it is: the work happens in the background.
    pub fn request_password_reset(self: &std::sync::Arc<Self>, address: &str, client: &ClientInfo) {
        let services = std::sync::Arc::clone(self);
        let address = user::normalize_email(address);
        let client = client.clone();
        tokio::spawn(async move {
            if let Err(e) = services.send_reset(&address, &client).await {
                tracing::warn!(error = %e, "could not start a password reset");
            }
        });
    }

    async fn send_reset(&self, address: &str, client: &ClientInfo) -> Result<()> {
        let mut tx = self.store.begin().await?;
        let email = emails::by_address(&mut tx, address).await?.filter(UserEmail::is_verified);
        let user = match &email {
            Some(e) => users::by_id(&mut tx, e.user_id).await?.filter(|u| u.active),
            None => None,
        };
        let (Some(email), Some(user)) = (email, user) else {
            // Recorded for security review; the caller is told nothing either way.
            let entry = AuditEntry::new(AuditAction::UserPasswordResetRequested, None)
                .after(json!({ "email": address, "mailed": false }));
            self.commit_audited(tx, client, entry).await?;
            return Ok(());
        };
        let token = self.new_email_token(&mut tx, TokenPurpose::ResetPassword, user.id, Some(email.id)).await?;
        let entry = AuditEntry::new(AuditAction::UserPasswordResetRequested, None)
            .resource(user.id)
            .after(json!({ "email": email.email, "mailed": true }));
        self.commit_audited(tx, client, entry).await?;
        let mail = Mail {
            to: email.email.clone(),
            subject: "Reset your Purser password".into(),
            text: format!(
                "Someone asked to reset the password of the Purser account for {}. To choose a new one, open\n\n  \
                 {}/reset-password?token={token}\n\nor send this token with the new password to POST \
                 /api/v1/auth/password-reset:\n\n  {token}\n\nThe link works once and expires in 1 hour. Resetting \
                 signs you out everywhere. If you did not ask for this, ignore this mail; your password is unchanged.",
                email.email, self.public_url
            ),
        };
        self.deliver(mail).await;
        Ok(())
    }

    /// Sets a new password with a reset token and ends every session of the account.
    pub async fn reset_password(&self, token: &str, new_password: String, client: &ClientInfo) -> Result<()> {
        let attempt = AuditEntry::new(AuditAction::UserPasswordReset, None);
        self.audited(client, attempt, async {
            let mut v = Validator::new();
            user::validate_password(&mut v, "newPassword", &new_password);
            v.finish()?;
            let hash = digest(token);
            let now = self.now();
            let password_hash = passwords::hash(new_password).await?;
            let mut tx = self.store.begin().await?;
            let record = emails::token(&mut tx, &hash).await?.filter(|t| t.usable(TokenPurpose::ResetPassword, now));
            let record = record.ok_or_else(invalid_token)?;
            if !emails::use_token(&mut tx, &hash, now).await? {
                return Err(invalid_token());
            }
            emails::void_tokens(&mut tx, record.user_id, TokenPurpose::ResetPassword, now).await?;
            users::set_password_hash(&mut tx, record.user_id, &password_hash, now).await?;
            let ended = sessions::revoke_all_for_user(&mut tx, record.user_id, None, now).await?;
            let entry = AuditEntry::new(AuditAction::UserPasswordReset, Some(record.user_id))
                .resource(record.user_id)
                .after(json!({ "passwordChanged": true, "sessionsEnded": ended }));
            self.commit_audited(tx, client, entry).await?;
            Ok(())
        })
        .await
    }

    /// Changes the caller's password and ends their other sessions.
    pub async fn change_password(&self, actor: &Actor, change: Input<(String, String)>) -> Result<()> {
        let attempt = AuditEntry::new(AuditAction::UserPasswordChange, Some(actor.user_id)).resource(actor.user_id);
        self.audited(&actor.client, attempt, async {
            let (current, new_password) = change.read(authorize(actor, Action::ManageOwnAccount)?)?;
            let mut v = Validator::new();
            v.check(!current.is_empty() && current.len() <= 1024, "currentPassword", "is required");
            user::validate_password(&mut v, "newPassword", &new_password);
            v.finish()?;
            let user = self.me(actor).await?;
            let stored = {
                let mut conn = self.store.conn().await?;
                users::by_email(&mut conn, &user.email).await?.and_then(|(_, hash)| hash)
            };
            if !passwords::verify(current, stored).await? {
                return Err(Error::invalid_field("currentPassword", "is wrong"));
            }
            let password_hash = passwords::hash(new_password).await?;
            let now = self.now();
            let mut tx = self.store.begin().await?;
            users::set_password_hash(&mut tx, actor.user_id, &password_hash, now).await?;
            let ended = sessions::revoke_all_for_user(&mut tx, actor.user_id, Some(actor.session_id), now).await?;
            let entry = AuditEntry::new(AuditAction::UserPasswordChange, Some(actor.user_id))
                .resource(actor.user_id)
                .after(json!({ "passwordChanged": true, "otherSessionsEnded": ended }));
            self.commit_audited(tx, &actor.client, entry).await?;
            Ok(())
        })
        .await
    }
}
