//! Registration, login, token refresh with rotation and reuse detection, logout, and
//! turning an access token back into a [`Principal`].

use purser_domain::session::{RefreshToken, Session};
use purser_domain::user::{self, MAX_EMAIL_CHARS, MAX_NAME_CHARS, MAX_PASSWORD_CHARS, TokenPurpose, User};
use purser_domain::{Id, PlatformRole, Principal, Validator};
use purser_store::{AnyConnection, StoreError, emails, sessions, users};

use crate::account::AccountNamed;
use crate::audit::{AuditAction, AuditEntry};
use crate::crypto::{digest, random_token};
use crate::error::{Error, ErrorKind, Result};
use crate::{Actor, ClientInfo, Services, passwords, views};

#[derive(Debug, Clone)]
pub struct Registration {
    pub email: String,
    pub password: String,
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct Credentials {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Clone)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: i64,
    pub user: User,
}

/// A browser session: the cookie's secret, and the CSRF token the page must send back.
#[derive(Debug, Clone)]
pub struct CookieSession {
    pub user: User,
    pub secret: String,
    pub csrf_token: String,
    pub expires_at: purser_domain::Timestamp,
}

enum SignedIn {
    Tokens(TokenPair),
    Cookie(CookieSession),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminOutcome {
    Created,
    Promoted,
    AlreadyAdmin,
}

const REFRESH_TOKEN_BYTES: usize = 32;
/// Session metadata is informational; long values are cut rather than refused.
const MAX_CLIENT_INFO_CHARS: usize = 512;

fn invalid_credentials() -> Error {
    Error::unauthenticated("invalid_credentials", "the email or password is wrong")
}

fn account_disabled() -> Error {
    Error::new(ErrorKind::Forbidden, "account_disabled", "this account has been deactivated")
}

fn invalid_refresh_token() -> Error {
    Error::unauthenticated("invalid_refresh_token", "the refresh token is not valid; log in again")
}

/// The login address of a new user as a `user_emails` row.
fn primary_email(user: &User, id: Id, verified_at: Option<purser_domain::Timestamp>) -> user::UserEmail {
    user::UserEmail {
        id,
        user_id: user.id,
        email: user.email.clone(),
        is_primary: true,
        verified_at,
        created_at: user.created_at,
    }
}

fn clip(value: Option<String>) -> Option<String> {
    value.map(|v| v.chars().take(MAX_CLIENT_INFO_CHARS).collect())
}

impl Services {
    /// Creates an account and mails its address a verification link. An address that
    /// already belongs to an account gets a mail telling its owner instead, and the caller
    /// cannot tell the two apart: the answer, the work done (a password hashed, a mail
    /// sent) and so its time are the same. Returns the new user, if one was made.
    pub async fn register(&self, input: Registration, client: &ClientInfo) -> Result<Option<User>> {
        let attempt = AuditEntry::new(AuditAction::UserRegister, None);
        self.audited(client, attempt, async {
            let mut v = Validator::new();
            user::validate_email(&mut v, "email", &input.email);
            user::validate_password(&mut v, "password", &input.password);
            v.label("name", &input.name, MAX_NAME_CHARS);
            v.finish()?;

            let hash = passwords::hash(input.password).await?;
            let now = self.now();
            let user = User {
                id: self.ids.next_id(),
                email: user::normalize_email(&input.email),
                name: input.name,
                role: PlatformRole::User,
                active: true,
                email_verified: false,
                created_at: now,
                updated_at: now,
            };
            let mut tx = self.store.begin().await?;
            let primary = primary_email(&user, self.ids.next_id(), None);
            let inserted = match users::insert(&mut tx, &user, Some(&hash)).await {
                Ok(()) => emails::insert(&mut tx, &primary).await,
                failed => failed,
            };
            match inserted {
                Err(StoreError::Conflict(_)) => {
                    drop(tx);
                    self.tell_owner(&user.email, "create a new Purser account", client).await;
                    return Ok(None);
                }
                other => other?,
            }
            self.join_default(&mut tx, user.id, now, client).await?;
            let token = self.new_email_token(&mut tx, TokenPurpose::VerifyEmail, user.id, Some(primary.id)).await?;
            let entry =
                AuditEntry::new(AuditAction::UserRegister, Some(user.id)).resource(user.id).after(views::user(&user));
            self.commit_audited(tx, client, entry).await?;
            tracing::info!(user_id = %user.id, "user registered");
            self.deliver(self.verification_mail(&user.email, &token, &AccountNamed::New)).await;
            Ok(Some(user))
        })
        .await
    }

    /// Signs in for API use: a short-lived access token and a single-use refresh token.
    pub async fn login(&self, input: Credentials, client: &ClientInfo) -> Result<TokenPair> {
        match self.sign_in(input, client, false).await? {
            SignedIn::Tokens(pair) => Ok(pair),
            SignedIn::Cookie(_) => Err(Error::internal("a token sign-in produced a cookie session")),
        }
    }

    /// Signs in a browser: a session held by an HttpOnly cookie, and the CSRF token that
    /// every state-changing request made with that cookie must carry.
    pub async fn login_with_cookie(&self, input: Credentials, client: &ClientInfo) -> Result<CookieSession> {
        match self.sign_in(input, client, true).await? {
            SignedIn::Cookie(session) => Ok(session),
            SignedIn::Tokens(_) => Err(Error::internal("a cookie sign-in produced tokens")),
        }
    }

    async fn sign_in(&self, input: Credentials, client: &ClientInfo, cookie: bool) -> Result<SignedIn> {
        let attempt = AuditEntry::new(AuditAction::UserLogin, None).after(serde_json::json!({ "email": input.email }));
        self.audited(client, attempt, self.sign_in_inner(input, client, cookie)).await
    }

    async fn sign_in_inner(&self, input: Credentials, client: &ClientInfo, cookie: bool) -> Result<SignedIn> {
        let mut v = Validator::new();
        v.check(!input.email.trim().is_empty(), "email", "must not be empty");
        v.check(input.email.chars().count() <= MAX_EMAIL_CHARS, "email", "is too long");
        v.check(!input.password.is_empty(), "password", "must not be empty");
        v.check(input.password.chars().count() <= MAX_PASSWORD_CHARS, "password", "is too long");
        v.finish()?;

        let found = {
            let mut conn = self.store.conn().await?;
            users::by_email(&mut conn, &user::normalize_email(&input.email)).await?
        };
        let (user, hash) = match found {
            Some((user, hash)) => (Some(user), hash),
            None => (None, None),
        };
        let password_ok = passwords::verify(input.password, hash).await?;
        let user = user.filter(|_| password_ok).ok_or_else(invalid_credentials)?;
        if !user.active {
            return Err(account_disabled());
        }

        let now = self.now();
        let session = Session {
            id: self.ids.next_id(),
            user_id: user.id,
            user_agent: clip(client.user_agent.clone()),
            ip: clip(client.ip.clone()),
            created_at: now,
            expires_at: now.plus_secs(self.auth.refresh_token_ttl_secs),
            revoked_at: None,
        };
        let mut tx = self.store.begin().await?;
        sessions::insert(&mut tx, &session).await?;
        let (refresh_token, cookie_secret) = if cookie {
            let secret = random_token(REFRESH_TOKEN_BYTES);
            sessions::set_cookie(&mut tx, session.id, &digest(&secret)).await?;
            (None, Some(secret))
        } else {
            (Some(self.new_refresh_token(&mut tx, session.id).await?), None)
        };
        let entry = AuditEntry::new(AuditAction::UserLogin, Some(user.id))
            .resource(user.id)
            .after(serde_json::json!({ "sessionId": session.id, "browser": cookie }));
        self.commit_audited(tx, client, entry).await?;
        tracing::info!(user_id = %user.id, session_id = %session.id, browser = cookie, "logged in");
        Ok(match (refresh_token, cookie_secret) {
            (Some(refresh_token), _) => SignedIn::Tokens(TokenPair {
                access_token: self.tokens.issue(user.id, session.id, now)?,
                refresh_token,
                expires_in: self.tokens.ttl_secs(),
                user,
            }),
            (None, secret) => SignedIn::Cookie(CookieSession {
                csrf_token: self.csrf_token(session.id),
                secret: secret.unwrap_or_default(),
                expires_at: session.expires_at,
                user,
            }),
        })
    }

    /// The CSRF token of a session: recomputed, never stored.
    pub fn csrf_token(&self, session_id: Id) -> String {
        crate::crypto::mac(&self.csrf_key, session_id.to_string().as_bytes())
    }

    /// The principal behind a browser session cookie. A state-changing request (`unsafe`)
    /// must also present the session's CSRF token, which another site cannot read.
    pub async fn authenticate_cookie(
        &self,
        secret: &str,
        csrf: Option<&str>,
        unsafe_method: bool,
    ) -> Result<Principal> {
        let ended = || Error::unauthenticated("session_ended", "the session has ended; sign in again");
        if secret.is_empty() || secret.len() > 256 {
            return Err(ended());
        }
        let mut conn = self.store.conn().await?;
        let session_id = sessions::by_cookie(&mut conn, &digest(secret)).await?.ok_or_else(ended)?;
        let (session, user) = sessions::with_user(&mut conn, session_id).await?.ok_or_else(ended)?;
        if !session.is_live(self.now()) {
            return Err(ended());
        }
        if !user.active {
            return Err(account_disabled());
        }
        if unsafe_method && !csrf.is_some_and(|token| crate::crypto::same_secret(token, &self.csrf_token(session.id))) {
            return Err(Error::new(
                ErrorKind::Forbidden,
                "csrf_failed",
                "send the session's CSRF token in the X-CSRF-Token header",
            ));
        }
        Ok(Principal { user_id: user.id, role: user.role, session_id: session.id })
    }

    async fn new_refresh_token(&self, conn: &mut AnyConnection, session_id: Id) -> Result<String> {
        let now = self.now();
        let token = random_token(REFRESH_TOKEN_BYTES);
        let record = RefreshToken {
            session_id,
            created_at: now,
            expires_at: now.plus_secs(self.auth.refresh_token_ttl_secs),
            used_at: None,
        };
        sessions::insert_refresh_token(conn, &digest(&token), &record).await?;
        Ok(token)
    }

    /// Exchanges a refresh token for a new pair. Each refresh token works once; presenting
    /// one that was already used means it was copied, so the whole session (every token
    /// issued under it) is revoked.
    pub async fn refresh(&self, refresh_token: &str, client: &ClientInfo) -> Result<TokenPair> {
        if refresh_token.is_empty() || refresh_token.len() > 256 {
            return Err(invalid_refresh_token());
        }
        let hash = digest(refresh_token);
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let token = sessions::refresh_token(&mut tx, &hash).await?.ok_or_else(invalid_refresh_token)?;
        let (session, user) =
            sessions::with_user(&mut tx, token.session_id).await?.ok_or_else(invalid_refresh_token)?;

        let fresh = token.used_at.is_none() && sessions::use_refresh_token(&mut tx, &hash, now).await?;
        if !fresh {
            sessions::revoke(&mut tx, session.id, now).await?;
            let record = AuditEntry::new(AuditAction::UserRefreshReuse, Some(user.id))
                .resource(user.id)
                .after(serde_json::json!({ "sessionId": session.id, "sessionRevoked": true }));
            self.commit_audited(tx, client, record).await?;
            tracing::warn!(user_id = %user.id, session_id = %session.id, "refresh token reused; session revoked");
            return Err(Error::unauthenticated(
                "refresh_token_reused",
                "this refresh token was already used; the session has been ended for safety",
            ));
        }
        if !session.is_live(now) || token.expires_at <= now {
            return Err(invalid_refresh_token());
        }
        if !user.active {
            return Err(account_disabled());
        }
        let refresh_token = self.new_refresh_token(&mut tx, session.id).await?;
        sessions::extend(&mut tx, session.id, now.plus_secs(self.auth.refresh_token_ttl_secs)).await?;
        let entry = AuditEntry::new(AuditAction::UserRefresh, Some(user.id))
            .resource(user.id)
            .after(serde_json::json!({ "sessionId": session.id, "rotated": true }));
        self.commit_audited(tx, client, entry).await?;
        Ok(TokenPair {
            access_token: self.tokens.issue(user.id, session.id, now)?,
            refresh_token,
            expires_in: self.tokens.ttl_secs(),
            user,
        })
    }

    /// Ends the caller's session: its access and refresh tokens stop working at once.
    pub async fn logout(&self, actor: &Actor) -> Result<()> {
        let mut tx = self.store.begin().await?;
        sessions::revoke(&mut tx, actor.session_id, self.now()).await?;
        let entry = AuditEntry::new(AuditAction::UserLogout, Some(actor.user_id))
            .resource(actor.user_id)
            .after(serde_json::json!({ "sessionId": actor.session_id }));
        self.commit_audited(tx, &actor.client, entry).await?;
        tracing::info!(user_id = %actor.user_id, session_id = %actor.session_id, "logged out");
        Ok(())
    }

    /// Checks an access token and its session. The session is read from the database on
    /// every call so logout and deactivation take effect at once, on every replica.
    pub async fn authenticate(&self, access_token: &str) -> Result<Principal> {
        let now = self.now();
        let claims = self.tokens.verify(access_token, now)?;
        let mut conn = self.store.conn().await?;
        let ended = || Error::unauthenticated("session_ended", "the session has ended; log in again");
        let (session, user) = sessions::with_user(&mut conn, claims.session_id).await?.ok_or_else(ended)?;
        if session.user_id != claims.user_id {
            return Err(Error::unauthenticated("invalid_token", "the access token is not valid"));
        }
        if !session.is_live(now) {
            return Err(ended());
        }
        if !user.active {
            return Err(account_disabled());
        }
        Ok(Principal { user_id: user.id, role: user.role, session_id: session.id })
    }

    pub async fn me(&self, principal: &Principal) -> Result<User> {
        let mut conn = self.store.conn().await?;
        users::by_id(&mut conn, principal.user_id).await?.ok_or_else(|| Error::not_found("user_not_found", "user"))
    }

    /// Creates a platform admin, or promotes an existing user (also setting their password
    /// when one is given). For `purser admin create` and start-up bootstrap.
    pub async fn ensure_admin(
        &self,
        email: &str,
        password: Option<String>,
        name: Option<String>,
        client: &ClientInfo,
    ) -> Result<(User, AdminOutcome)> {
        let mut v = Validator::new();
        user::validate_email(&mut v, "email", email);
        if let Some(password) = &password {
            user::validate_password(&mut v, "password", password);
        }
        if let Some(name) = &name {
            v.label("name", name, MAX_NAME_CHARS);
        }
        v.finish()?;
        let email = user::normalize_email(email);
        let hash = match password {
            Some(p) => Some(passwords::hash(p).await?),
            None => None,
        };
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let existing = users::by_email(&mut tx, &email).await?;
        let before = existing.as_ref().map(|(u, _)| views::user(u));
        let outcome = match existing {
            Some((mut existing, _)) => {
                let outcome = if existing.role == PlatformRole::Admin {
                    AdminOutcome::AlreadyAdmin
                } else {
                    users::set_role(&mut tx, existing.id, PlatformRole::Admin, now).await?;
                    existing.role = PlatformRole::Admin;
                    AdminOutcome::Promoted
                };
                if let Some(hash) = &hash {
                    users::set_password_hash(&mut tx, existing.id, hash, now).await?;
                }
                (existing, outcome)
            }
            None => {
                let hash = hash.ok_or_else(|| Error::invalid_field("password", "is needed to create a new admin"))?;
                let admin = User {
                    id: self.ids.next_id(),
                    name: name.unwrap_or_else(|| email.split('@').next().unwrap_or("admin").to_owned()),
                    email,
                    role: PlatformRole::Admin,
                    active: true,
                    // An admin created by the operator is trusted with their address.
                    email_verified: true,
                    created_at: now,
                    updated_at: now,
                };
                users::insert(&mut tx, &admin, Some(&hash)).await?;
                emails::insert(&mut tx, &primary_email(&admin, self.ids.next_id(), Some(now))).await?;
                self.join_default(&mut tx, admin.id, now, client).await?;
                (admin, AdminOutcome::Created)
            }
        };
        let mut entry =
            AuditEntry::new(AuditAction::UserEnsureAdmin, None).resource(outcome.0.id).after(views::user(&outcome.0));
        entry.before = before;
        self.commit_audited(tx, client, entry).await?;
        self.notify(crate::Change::User(outcome.0.id)).await;
        Ok(outcome)
    }

    pub async fn admin_count(&self) -> Result<u64> {
        let mut conn = self.store.conn().await?;
        Ok(users::count_with_role(&mut conn, PlatformRole::Admin).await?)
    }
}
