//! Vault tokens: short-lived EdDSA JWTs signed with Purser's keys, which an authorization
//! engine verifies with Purser's JWKS, and single-use refresh tokens rotated in families.
//!
//! The token endpoint (RFC 6749 §3.2) takes two grants:
//! - `client_credentials` with an RFC 7523 client assertion: an EdDSA JWT that a service
//!   client signed with one of its certificates' keys (`kid`), for this endpoint (`aud`),
//!   short-lived (`exp` at most five minutes ahead), with an id (`jti`) accepted once;
//! - `refresh_token`: a refresh token is used once; presenting a used one again revokes
//!   every token of its family (someone holds a copy).
//!
//! Errors carry RFC 6749's codes; every refusal is audited, like every issued token.

use purser_domain::vault::{Certificate, Grantee, VaultRole};
use purser_domain::{Id, Timestamp};
use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use purser_store::vault_tokens::{self, AssertionCheck, RefreshToken};
use purser_store::{AnyConnection, clients, vaults};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::{AuditAction, AuditEntry};
use crate::crypto::{digest_bytes, random_token};
use crate::error::{Error, ErrorKind, Result};
use crate::jws::Compact;
use crate::{ClientInfo, Services};

/// RFC 7523's client assertion type.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// How far ahead an assertion's `exp` may be.
pub const MAX_ASSERTION_SECS: i64 = 300;
/// Clocks differ a little: an `iat`/`nbf` this far in the future is still accepted.
const CLOCK_SKEW_SECS: i64 = 30;
/// Longest `jti` kept.
const MAX_JTI_CHARS: usize = 200;
const REFRESH_PREFIX: &str = "pvr_";

#[derive(Debug, Clone)]
pub struct VaultTokenSettings {
    /// The `aud` of vault tokens: the policy engine that consumes them.
    pub audience: String,
    pub access_ttl_secs: i64,
    pub refresh_ttl_secs: i64,
    /// How long a signing key signs before the next one takes over.
    pub key_rotation_secs: i64,
}

impl Default for VaultTokenSettings {
    fn default() -> Self {
        Self {
            audience: "purser-vaults".into(),
            access_ttl_secs: 300,
            refresh_ttl_secs: 30 * 86_400,
            key_rotation_secs: 30 * 86_400,
        }
    }
}

/// The token endpoint's form, each field as sent.
#[derive(Debug, Clone, Default)]
pub struct TokenRequest {
    pub grant_type: Option<String>,
    pub client_assertion_type: Option<String>,
    pub client_assertion: Option<String>,
    pub vault_id: Option<String>,
    /// The vault role asked for (`scope`, or InferaDB's `requested_role`).
    pub scope: Option<String>,
    pub refresh_token: Option<String>,
}

#[derive(Debug, Clone)]
pub struct IssuedVaultToken {
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: String,
    pub vault_id: Id,
    pub role: VaultRole,
}

/// The claims of a vault token.
#[derive(Debug, Serialize, Deserialize)]
pub struct VaultClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub org_id: String,
    pub vault_id: String,
    pub vault_role: VaultRole,
    pub scope: String,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
}

/// What a client assertion says (RFC 7523 §3).
#[derive(Debug, Deserialize)]
struct AssertionClaims {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<Audience>,
    exp: i64,
    jti: String,
    iat: Option<i64>,
    nbf: Option<i64>,
}

/// `aud`: one value or a list of them.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn names(&self, expected: &str) -> bool {
        match self {
            Self::One(aud) => aud == expected,
            Self::Many(auds) => auds.iter().any(|aud| aud == expected),
        }
    }
}

/// An RFC 6749 §5.2 error: the code is the `error` field, the message its description.
fn oauth(code: &'static str, message: impl Into<String>) -> Error {
    let kind = if code == "invalid_client" { ErrorKind::Unauthenticated } else { ErrorKind::Malformed };
    Error::new(kind, code, message)
}

fn bad_client(message: impl Into<String>) -> Error {
    oauth("invalid_client", message)
}

/// The same answer for an unknown vault, another organization's vault and a vault the
/// subject has no grant on.
fn no_vault() -> Error {
    oauth("invalid_grant", "no such vault, or no grant on it")
}

/// Keys and vaults remembered by the token endpoint, at most; beyond, it starts afresh.
const MAX_REMEMBERED_KEYS: usize = 10_000;

/// A certificate named by a `kid`, whether its client is disabled, and the client's role on
/// one vault: remembered by each replica, and checked again by the write that issues a token.
#[derive(Debug, Clone)]
pub(crate) struct AssertionKey {
    pub certificate: Certificate,
    /// The certificate's public key, decoded (`None`: not a valid point).
    pub verifying: Option<ed25519_dalek::VerifyingKey>,
    pub disabled: bool,
    pub granted: Option<VaultRole>,
}

/// Remembered keys, by `kid` and vault.
pub(crate) type AssertionKeys = RwLock<HashMap<(String, Option<Id>), Arc<AssertionKey>>>;

/// What a token request turned out to concern, for its audit entry.
#[derive(Debug, Default)]
struct Noted {
    org_id: Option<Id>,
    vault_id: Option<Id>,
    subject: Option<Grantee>,
    /// The entry was written in the request's own transaction already.
    audited: bool,
}

fn vault_role_of(scope: Option<&str>) -> Result<Option<VaultRole>> {
    match scope.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s
            .parse()
            .map(Some)
            .map_err(|_| oauth("invalid_scope", "the scope must be one vault role: reader, writer, manager or admin")),
    }
}

impl Services {
    /// The URL assertions must name as their audience.
    pub fn token_endpoint(&self) -> String {
        format!("{}/api/v1/token", self.public_url)
    }

    /// The issuer of vault tokens: this deployment's public URL.
    pub fn token_issuer(&self) -> &str {
        &self.public_url
    }

    /// `POST /api/v1/token`.
    pub async fn exchange_token(&self, client: &ClientInfo, request: TokenRequest) -> Result<IssuedVaultToken> {
        let mut noted = Noted::default();
        let outcome = match request.grant_type.as_deref() {
            None | Some("") => Err(oauth("invalid_request", "grant_type is required")),
            Some("client_credentials") => self.client_credentials(&request, &mut noted).await,
            Some("refresh_token") => self.refresh_vault_token(client, &request, &mut noted).await,
            Some(_) => Err(oauth("unsupported_grant_type", "grant_type must be client_credentials or refresh_token")),
        };
        if let Err(e) = &outcome
            && !noted.audited
        {
            let action = match request.grant_type.as_deref() {
                Some("refresh_token") => AuditAction::VaultTokenRefresh,
                _ => AuditAction::VaultTokenIssue,
            };
            let entry = self.token_entry(action, &noted);
            self.audited(client, entry, std::future::ready(Err::<(), _>(e.clone()))).await.ok();
        }
        outcome
    }

    fn token_entry(&self, action: AuditAction, noted: &Noted) -> AuditEntry {
        let mut entry = AuditEntry::new(action, None);
        if let Some(org) = noted.org_id {
            entry = entry.org(org);
        }
        if let Some(vault) = noted.vault_id {
            entry = entry.resource(vault);
        }
        entry.after(json!({ "subject": noted.subject.map(|s| s.to_string()) }))
    }

    async fn client_credentials(&self, request: &TokenRequest, noted: &mut Noted) -> Result<IssuedVaultToken> {
        let (Some(assertion_type), Some(assertion)) = (&request.client_assertion_type, &request.client_assertion)
        else {
            return Err(oauth("invalid_request", "client_assertion_type and client_assertion are required"));
        };
        if assertion_type != ASSERTION_TYPE {
            return Err(bad_client(format!("client_assertion_type must be {ASSERTION_TYPE}")));
        }
        let Some(vault_id) = request.vault_id.as_deref().filter(|v| !v.is_empty()) else {
            return Err(oauth("invalid_request", "vault_id is required"));
        };
        let asked = vault_role_of(request.scope.as_deref())?;
        let now = self.now();
        let vault = vault_id.parse::<Id>().ok();
        noted.vault_id = vault;
        let replay = || bad_client("the assertion was used already (its jti); sign a new one");
        // First with what this replica remembers of the key (its public half never changes);
        // any refusal, and a write that finds the key's state not as remembered, is judged
        // again from the database.
        for fresh in [false, true] {
            let judged = self.verify_assertion(assertion, vault, now, noted, fresh).await;
            let (key, claims) = match judged {
                Err(_) if !fresh => continue,
                Err(e) => return Err(e),
                Ok(verified) => verified,
            };
            let client_id = key.certificate.client_id;
            let (vault_id, granted, role) = match (vault, key.granted) {
                (Some(vault_id), Some(granted)) if asked.is_none_or(|asked| asked <= granted) => {
                    (vault_id, granted, asked.unwrap_or(granted))
                }
                (_, _) if !fresh => continue,
                // A refused assertion is spent too: it cannot be tried again on another vault.
                (_, granted) => {
                    let expires = Timestamp::from_millis(claims.exp.saturating_mul(1000));
                    let mut writer = self.store.writer().await?;
                    if !vault_tokens::spend_assertion(&mut writer, client_id, &claims.jti, expires, now).await? {
                        return Err(replay());
                    }
                    return Err(match granted {
                        Some(granted) => {
                            oauth("invalid_scope", format!("the client's grant on this vault is {granted}"))
                        }
                        None => no_vault(),
                    });
                }
            };
            // One write: the refresh token, stored only while the certificate, the client and
            // the grant are as judged, and the assertion's id is unspent; storing it spends
            // the id. It is the record of the token issued (who, which vault, which role).
            let subject = Grantee::Client(client_id);
            let (issued, stored) = self.mint_vault_token(key.certificate.org_id, vault_id, subject, role, None)?;
            let digest = digest_bytes(issued.refresh_token.as_bytes());
            let judged_key = AssertionCheck { certificate_id: key.certificate.id, grant: granted };
            let mut writer = self.store.writer().await?;
            if !vault_tokens::insert_for_assertion(&mut writer, &stored, &digest, &claims.jti, &judged_key, now).await?
            {
                if fresh {
                    return Err(replay());
                }
                continue;
            }
            if key.certificate.last_used_at.is_none_or(|at| at < now.plus_secs(-60)) {
                clients::touch_certificate(&mut writer, key.certificate.id, now).await?;
                self.remember_use(&key, vault, now);
            }
            return Ok(issued);
        }
        unreachable!("the second pass always answers")
    }

    /// Checks a client assertion: its header, its certificate, its signature and claims.
    /// Answers the certificate, the client's role on `vault` (if any) and the claims.
    async fn verify_assertion(
        &self,
        assertion: &str,
        vault: Option<Id>,
        now: Timestamp,
        noted: &mut Noted,
        fresh: bool,
    ) -> Result<(Arc<AssertionKey>, AssertionClaims)> {
        // The header is read first: the key it names says whose organization an attempt
        // concerns (for the audit log), whatever algorithm it claims.
        let jwt = Compact::parse(assertion).ok_or_else(|| bad_client("the client assertion is not a JWT"))?;
        let Some(kid) = jwt.header.kid.as_deref().filter(|k| !k.is_empty() && k.len() <= 200) else {
            return Err(bad_client("the client assertion's header must name its key (kid)"));
        };
        let Some(key) = self.assertion_key(kid, vault, fresh).await? else {
            return Err(bad_client("no certificate has this kid"));
        };
        let (certificate, disabled) = (&key.certificate, key.disabled);
        noted.org_id = Some(certificate.org_id);
        noted.subject = Some(Grantee::Client(certificate.client_id));
        if jwt.header.alg.as_deref() != Some("EdDSA") {
            return Err(bad_client("the client assertion must be signed with EdDSA (Ed25519)"));
        }
        if !certificate.usable(now) {
            return Err(bad_client("the certificate named by kid is revoked or expired"));
        }
        let payload = key
            .verifying
            .as_ref()
            .and_then(|verifying| jwt.verify_with(verifying))
            .ok_or_else(|| bad_client("the client assertion's signature does not verify"))?;
        let claims: AssertionClaims = serde_json::from_slice(payload)
            .map_err(|_| bad_client("the client assertion's claims are not valid (exp, jti)"))?;
        let client_id = certificate.client_id.to_string();
        if claims.iss.as_deref() != Some(&client_id) || claims.sub.as_deref() != Some(&client_id) {
            return Err(bad_client("the client assertion's iss and sub must be the client id"));
        }
        let endpoint = self.token_endpoint();
        if !claims.aud.as_ref().is_some_and(|aud| aud.names(&endpoint)) {
            return Err(bad_client(format!("the client assertion's aud must be {endpoint}")));
        }
        let now_secs = now.as_secs();
        if claims.exp <= now_secs {
            return Err(bad_client("the client assertion has expired"));
        }
        if claims.exp > now_secs + MAX_ASSERTION_SECS {
            return Err(bad_client(format!("the client assertion's exp is more than {MAX_ASSERTION_SECS} s ahead")));
        }
        if claims.iat.is_some_and(|iat| iat > now_secs + CLOCK_SKEW_SECS)
            || claims.nbf.is_some_and(|nbf| nbf > now_secs + CLOCK_SKEW_SECS)
        {
            return Err(bad_client("the client assertion is not valid yet (iat or nbf)"));
        }
        if claims.jti.is_empty() || claims.jti.len() > MAX_JTI_CHARS || claims.jti.chars().any(char::is_control) {
            return Err(bad_client(format!("the client assertion's jti must be 1 to {MAX_JTI_CHARS} characters")));
        }
        if disabled {
            return Err(oauth("unauthorized_client", "the client is disabled"));
        }
        Ok((key, claims))
    }

    /// What the token endpoint needs of a key and a vault: from this replica's memory, or
    /// (`fresh`, or not remembered) from the database, then remembered.
    async fn assertion_key(&self, kid: &str, vault: Option<Id>, fresh: bool) -> Result<Option<Arc<AssertionKey>>> {
        let slot = (kid.to_owned(), vault);
        if !fresh && let Some(key) = self.assertion_keys.read().unwrap_or_else(PoisonError::into_inner).get(&slot) {
            return Ok(Some(Arc::clone(key)));
        }
        let mut conn = self.store.conn().await?;
        let Some((certificate, disabled, granted)) = clients::assertion_key(&mut conn, kid, vault).await? else {
            return Ok(None);
        };
        let verifying = ed25519_dalek::VerifyingKey::from_bytes(&certificate.public_key).ok();
        let key = Arc::new(AssertionKey { certificate, verifying, disabled, granted });
        let mut keys = self.assertion_keys.write().unwrap_or_else(PoisonError::into_inner);
        if keys.len() >= MAX_REMEMBERED_KEYS {
            keys.clear();
        }
        keys.insert(slot, Arc::clone(&key));
        Ok(Some(key))
    }

    /// Remembers that the certificate's use was just noted (so it is not noted again for a
    /// minute).
    fn remember_use(&self, key: &AssertionKey, vault: Option<Id>, now: Timestamp) {
        let mut used = AssertionKey { certificate: key.certificate.clone(), ..*key };
        used.certificate.last_used_at = Some(now);
        let slot = (used.certificate.kid.clone(), vault);
        self.assertion_keys.write().unwrap_or_else(PoisonError::into_inner).insert(slot, Arc::new(used));
    }

    /// Signs an access token and stores a new refresh token (in `family`, or a new one), in
    /// the caller's transaction.
    pub(crate) async fn issue_vault_token(
        &self,
        conn: &mut AnyConnection,
        org_id: Id,
        vault_id: Id,
        subject: Grantee,
        role: VaultRole,
        family: Option<Id>,
    ) -> Result<IssuedVaultToken> {
        let (issued, stored) = self.mint_vault_token(org_id, vault_id, subject, role, family)?;
        vault_tokens::insert_refresh(conn, &stored, &digest_bytes(issued.refresh_token.as_bytes())).await?;
        Ok(issued)
    }

    /// A signed access token and a new refresh token (in `family`, or a new one), with the
    /// refresh token's row to store.
    fn mint_vault_token(
        &self,
        org_id: Id,
        vault_id: Id,
        subject: Grantee,
        role: VaultRole,
        family: Option<Id>,
    ) -> Result<(IssuedVaultToken, RefreshToken)> {
        let now = self.now();
        let settings = &self.vault_tokens;
        let ring = self.signing_keys.current();
        let Some(signer) = &ring.signer else {
            return Err(Error::new(ErrorKind::Unavailable, "signing_key_unavailable", "no signing key is ready yet"));
        };
        let claims = VaultClaims {
            iss: self.public_url.clone(),
            sub: subject.to_string(),
            aud: settings.audience.clone(),
            org_id: org_id.to_string(),
            vault_id: vault_id.to_string(),
            vault_role: role,
            scope: role.as_str().to_owned(),
            jti: self.ids.next_id().to_string(),
            iat: now.as_secs(),
            exp: now.as_secs() + settings.access_ttl_secs,
        };
        let access_token = signer.sign(&claims).map_err(Error::internal)?;
        let refresh_token = format!("{REFRESH_PREFIX}{}", random_token(32));
        let id = self.ids.next_id();
        let stored = RefreshToken {
            id,
            family_id: family.unwrap_or(id),
            org_id,
            vault_id,
            subject,
            role,
            created_at: now,
            expires_at: now.plus_secs(settings.refresh_ttl_secs),
            used_at: None,
            revoked_at: None,
        };
        let issued =
            IssuedVaultToken { access_token, expires_in: settings.access_ttl_secs, refresh_token, vault_id, role };
        Ok((issued, stored))
    }

    async fn refresh_vault_token(
        &self,
        client_info: &ClientInfo,
        request: &TokenRequest,
        noted: &mut Noted,
    ) -> Result<IssuedVaultToken> {
        let Some(token) = request.refresh_token.as_deref().filter(|t| !t.is_empty()) else {
            return Err(oauth("invalid_request", "refresh_token is required"));
        };
        let asked = vault_role_of(request.scope.as_deref())?;
        let digest = digest_bytes(token.as_bytes());
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let Some(used) = vault_tokens::use_refresh(&mut tx, &digest, now).await? else {
            // A used token presented again: someone holds a copy. Its family is revoked.
            if let Some(known) = vault_tokens::refresh_by_digest(&mut tx, &digest).await?
                && known.used_at.is_some()
            {
                noted.org_id = Some(known.org_id);
                noted.vault_id = Some(known.vault_id);
                noted.subject = Some(known.subject);
                let revoked = vault_tokens::revoke_family(&mut tx, known.family_id, now).await?;
                let error = oauth("invalid_grant", "the refresh token was used already; its family is revoked");
                let entry = self
                    .token_entry(AuditAction::VaultTokenRefreshReuse, noted)
                    .after(json!({ "subject": known.subject.to_string(), "revoked": revoked }));
                purser_store::audit::insert(&mut tx, &self.audit_record(entry, client_info, Some(error.code))).await?;
                tx.commit().await.map_err(purser_store::StoreError::from)?;
                noted.audited = true;
                return Err(error);
            }
            return Err(oauth("invalid_grant", "the refresh token is not valid"));
        };
        noted.org_id = Some(used.org_id);
        noted.vault_id = Some(used.vault_id);
        noted.subject = Some(used.subject);
        // The subject keeps at most the role it still has: grants may have shrunk.
        let now_role = self.current_role(&mut tx, &used).await?;
        let Some(vault) = vaults::get(&mut tx, used.org_id, used.vault_id).await? else {
            return Err(oauth("invalid_grant", "the refresh token is not valid"));
        };
        let Some(cap) = now_role.map(|r| r.min(used.role)) else {
            // Access was taken away: the family goes with it.
            vault_tokens::revoke_family(&mut tx, used.family_id, now).await?;
            let error = oauth("invalid_grant", "the subject has no role on the vault any more");
            let entry = self.token_entry(AuditAction::VaultTokenRefresh, noted);
            purser_store::audit::insert(&mut tx, &self.audit_record(entry, client_info, Some(error.code))).await?;
            tx.commit().await.map_err(purser_store::StoreError::from)?;
            noted.audited = true;
            return Err(error);
        };
        // Refused from here on, the transaction is dropped: the token stays unused.
        if asked.is_some_and(|asked| asked > cap) {
            return Err(oauth("invalid_scope", format!("the refresh token allows at most {cap}")));
        }
        let role = asked.unwrap_or(cap);
        // The new token's row is the record of it, as for tokens from assertions.
        let issued =
            self.issue_vault_token(&mut tx, vault.org_id, vault.id, used.subject, role, Some(used.family_id)).await?;
        tx.commit().await.map_err(purser_store::StoreError::from)?;
        Ok(issued)
    }

    /// The role the refresh token's subject holds on its vault now: a client's grant (while
    /// it is enabled), a person's effective role (while a member).
    async fn current_role(&self, conn: &mut AnyConnection, token: &RefreshToken) -> Result<Option<VaultRole>> {
        Ok(match token.subject {
            Grantee::Client(client_id) => match clients::get(conn, token.org_id, client_id).await? {
                Some(client) if !client.disabled => {
                    vaults::grant_of(conn, token.vault_id, token.subject).await?.map(|g| g.role)
                }
                _ => None,
            },
            Grantee::User(user_id) => vaults::roles_of_user(conn, token.vault_id, user_id).await?.into_iter().max(),
            Grantee::Team(_) => None,
        })
    }

    /// Forgets assertion ids and refresh tokens past their expiry.
    pub async fn prune_vault_tokens(&self) -> Result<u64> {
        let mut conn = self.store.conn().await?;
        Ok(vault_tokens::prune(&mut conn, self.now()).await?)
    }
}
