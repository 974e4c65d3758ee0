//! Service clients: an organization's machine identities. A client proves who it is by
//! signing RFC 7523 assertions with the private key of one of its certificates. The client
//! registers its own Ed25519 public key (as a JWK or PEM), so its private key never leaves
//! it; or Purser generates a pair, hands the private key over once and keeps only the
//! public half.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::{DecodePublicKey, EncodePrivateKey};
use ed25519_dalek::{SigningKey, VerifyingKey};
use purser_domain::page::{Page, PageRequest};
use purser_domain::vault::{Certificate, Grantee, MAX_CERTIFICATES_PER_CLIENT, ServiceClient};
use purser_domain::{Id, OrgAction, Principal, Timestamp, Validator};
use purser_store::{AnyConnection, clients, vault_tokens};
use serde_json::{Value, json};

use crate::audit::{AuditAction, AuditEntry};
use crate::crypto::random_bytes;
use crate::error::{Error, Result};
use crate::{Actor, Input, Services};

pub const MAX_CLIENT_NAME_CHARS: usize = 100;
pub const MAX_DESCRIPTION_CHARS: usize = 1000;
/// A PEM public key is about 113 characters; anything much longer is not one.
const MAX_PEM_CHARS: usize = 1000;

#[derive(Debug, Clone, Default)]
pub struct ClientInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub disabled: Option<bool>,
}

#[derive(Debug, Clone)]
pub struct CertificateInput {
    pub name: String,
    /// An Ed25519 public key: a JWK object, or a PEM (SPKI) string. None: Purser makes a pair.
    pub public_key: Option<Value>,
    pub expires_at: Option<Timestamp>,
}

#[derive(Debug, Clone)]
pub struct CreatedCertificate {
    pub certificate: Certificate,
    /// PKCS#8 PEM, only when Purser generated the pair: shown once, never stored.
    pub private_key: Option<String>,
}

fn client_not_found() -> Error {
    Error::not_found("client_not_found", "service client")
}

fn certificate_not_found() -> Error {
    Error::not_found("certificate_not_found", "certificate")
}

fn client_view(c: &ServiceClient) -> Value {
    json!({ "name": c.name, "description": c.description, "disabled": c.disabled })
}

fn certificate_view(c: &Certificate) -> Value {
    json!({ "clientId": c.client_id.to_string(), "kid": c.kid, "name": c.name, "expiresAt": c.expires_at })
}

/// Reads an Ed25519 public key given as a JWK (`kty` OKP, `crv` Ed25519, `x`) or a PEM
/// `PUBLIC KEY`. Weak (small-order) keys are refused: anything could be signed for them.
pub fn parse_public_key(value: &Value) -> std::result::Result<[u8; 32], String> {
    let key = match value {
        Value::String(pem) if pem.len() <= MAX_PEM_CHARS => VerifyingKey::from_public_key_pem(pem.trim())
            .map_err(|_| "must be an Ed25519 public key in PEM (-----BEGIN PUBLIC KEY-----)".to_owned())?,
        Value::Object(jwk) => {
            let field = |name: &str| jwk.get(name).and_then(Value::as_str);
            if field("kty") != Some("OKP") || field("crv") != Some("Ed25519") {
                return Err("must be a JWK with kty OKP and crv Ed25519".into());
            }
            if jwk.contains_key("d") {
                return Err("holds a private key (d): send only the public key".into());
            }
            let x = field("x")
                .and_then(|x| URL_SAFE_NO_PAD.decode(x).ok())
                .and_then(|x| <[u8; 32]>::try_from(x).ok())
                .ok_or("x must be the 32-byte public key in base64url")?;
            VerifyingKey::from_bytes(&x).map_err(|_| "x is not a valid Ed25519 public key".to_owned())?
        }
        _ => return Err("must be a JWK object or a PEM string".into()),
    };
    if key.is_weak() {
        return Err("is a weak Ed25519 key".into());
    }
    Ok(key.to_bytes())
}

impl Services {
    async fn client_in(
        &self,
        conn: &mut AnyConnection,
        principal: &Principal,
        org_id: Id,
        action: OrgAction,
        client_id: Id,
    ) -> Result<ServiceClient> {
        let at = self.in_org(conn, principal, org_id).await?;
        self.allow(principal, &at, action)?;
        clients::get(conn, org_id, client_id).await?.ok_or_else(client_not_found)
    }

    pub async fn create_client(&self, actor: &Actor, org_id: Id, input: Input<ClientInput>) -> Result<ServiceClient> {
        let attempt = AuditEntry::new(AuditAction::ClientCreate, Some(actor.user_id)).org(org_id);
        self.audited(&actor.client, attempt, async {
            let mut tx = self.store.begin().await?;
            let at = self.in_org(&mut tx, actor, org_id).await?;
            let input = input.read(self.allow(actor, &at, OrgAction::ManageClients)?)?;
            let mut v = Validator::new();
            match &input.name {
                Some(name) => v.label("name", name, MAX_CLIENT_NAME_CHARS),
                None => v.error("name", "is required"),
            }
            if let Some(description) = &input.description {
                v.text("description", description, MAX_DESCRIPTION_CHARS);
            }
            v.finish()?;
            let now = self.now();
            let client = ServiceClient {
                id: self.ids.next_id(),
                org_id,
                name: input.name.unwrap_or_default(),
                description: input.description.filter(|d| !d.is_empty()),
                disabled: input.disabled.unwrap_or(false),
                created_by: Some(actor.user_id),
                created_at: now,
                updated_at: now,
            };
            clients::insert(&mut tx, &client).await?;
            let entry = AuditEntry::new(AuditAction::ClientCreate, Some(actor.user_id))
                .org(org_id)
                .resource(client.id)
                .after(client_view(&client));
            self.commit_audited(tx, &actor.client, entry).await?;
            Ok(client)
        })
        .await
    }

    pub async fn list_clients(
        &self,
        principal: &Principal,
        org_id: Id,
        page: Input<PageRequest>,
    ) -> Result<Page<ServiceClient>> {
        let mut conn = self.store.conn().await?;
        let at = self.in_org(&mut conn, principal, org_id).await?;
        let page = page.read(self.allow(principal, &at, OrgAction::ReadVaults)?)?;
        Ok(clients::list(&mut conn, org_id, page).await?)
    }

    /// A client with its certificates.
    pub async fn get_client(
        &self,
        principal: &Principal,
        org_id: Id,
        client_id: Id,
    ) -> Result<(ServiceClient, Vec<Certificate>)> {
        let mut conn = self.store.conn().await?;
        let client = self.client_in(&mut conn, principal, org_id, OrgAction::ReadVaults, client_id).await?;
        let certificates = clients::certificates(&mut conn, client_id).await?;
        Ok((client, certificates))
    }

    /// Renames, describes, disables or enables a client. Disabling it revokes its refresh
    /// tokens; its next token request is refused.
    pub async fn update_client(
        &self,
        actor: &Actor,
        org_id: Id,
        client_id: Id,
        input: Input<ClientInput>,
    ) -> Result<ServiceClient> {
        let attempt = AuditEntry::new(AuditAction::ClientUpdate, Some(actor.user_id)).org(org_id).resource(client_id);
        self.audited(&actor.client, attempt, async {
            let mut tx = self.store.begin().await?;
            let at = self.in_org(&mut tx, actor, org_id).await?;
            let input = input.read(self.allow(actor, &at, OrgAction::ManageClients)?)?;
            let before = clients::get(&mut tx, org_id, client_id).await?.ok_or_else(client_not_found)?;
            let mut v = Validator::new();
            if let Some(name) = &input.name {
                v.label("name", name, MAX_CLIENT_NAME_CHARS);
            }
            if let Some(description) = &input.description {
                v.text("description", description, MAX_DESCRIPTION_CHARS);
            }
            v.finish()?;
            let now = self.now();
            let mut client = before.clone();
            client.name = input.name.unwrap_or(client.name);
            if let Some(description) = input.description {
                client.description = Some(description).filter(|d| !d.is_empty());
            }
            client.disabled = input.disabled.unwrap_or(client.disabled);
            client.updated_at = now;
            clients::update(&mut tx, &client).await?;
            if client.disabled && !before.disabled {
                vault_tokens::revoke_for_subject(&mut tx, Grantee::Client(client_id), now).await?;
            }
            let entry = AuditEntry::new(AuditAction::ClientUpdate, Some(actor.user_id))
                .org(org_id)
                .resource(client_id)
                .before(client_view(&before))
                .after(client_view(&client));
            self.commit_audited(tx, &actor.client, entry).await?;
            Ok(client)
        })
        .await
    }

    /// Deletes a client with its certificates, grants and refresh tokens.
    pub async fn delete_client(&self, actor: &Actor, org_id: Id, client_id: Id) -> Result<()> {
        let attempt = AuditEntry::new(AuditAction::ClientDelete, Some(actor.user_id)).org(org_id).resource(client_id);
        self.audited(&actor.client, attempt, async {
            let mut tx = self.store.begin().await?;
            let client = self.client_in(&mut tx, actor, org_id, OrgAction::ManageClients, client_id).await?;
            let vaults = purser_store::vaults::vaults_granting(&mut tx, Grantee::Client(client_id)).await?;
            clients::delete(&mut tx, client_id).await?;
            for vault in vaults {
                purser_store::vault_syncs::note_change(&mut tx, vault, org_id, false, self.now()).await?;
            }
            let entry = AuditEntry::new(AuditAction::ClientDelete, Some(actor.user_id))
                .org(org_id)
                .resource(client_id)
                .before(client_view(&client));
            self.commit_audited(tx, &actor.client, entry).await
        })
        .await
    }

    /// Adds a certificate to a client: the public key it sent, or a pair made here whose
    /// private key is in the answer only.
    pub async fn add_certificate(
        &self,
        actor: &Actor,
        org_id: Id,
        client_id: Id,
        input: Input<CertificateInput>,
    ) -> Result<CreatedCertificate> {
        let attempt = AuditEntry::new(AuditAction::CertificateAdd, Some(actor.user_id)).org(org_id).resource(client_id);
        self.audited(&actor.client, attempt, async {
            let mut tx = self.store.begin().await?;
            let at = self.in_org(&mut tx, actor, org_id).await?;
            let input = input.read(self.allow(actor, &at, OrgAction::ManageClients)?)?;
            clients::get(&mut tx, org_id, client_id).await?.ok_or_else(client_not_found)?;
            let now = self.now();
            let mut v = Validator::new();
            v.label("name", &input.name, MAX_CLIENT_NAME_CHARS);
            let given = match &input.public_key {
                Some(value) => match parse_public_key(value) {
                    Ok(key) => Some(key),
                    Err(message) => {
                        v.error("publicKey", message);
                        None
                    }
                },
                None => None,
            };
            if input.expires_at.is_some_and(|at| at <= now) {
                v.error("expiresAt", "must be in the future");
            }
            let live = clients::certificates(&mut tx, client_id).await?.iter().filter(|c| c.usable(now)).count();
            if live >= MAX_CERTIFICATES_PER_CLIENT {
                v.error("publicKey", format!("the client has {live} live certificates already; revoke one first"));
            }
            v.finish()?;
            let (public_key, private_key) = match given {
                Some(key) => (key, None),
                None => {
                    let seed: [u8; 32] = random_bytes(32).try_into().expect("32 random bytes");
                    let pair = SigningKey::from_bytes(&seed);
                    let pem = pair
                        .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
                        .map_err(Error::internal)?;
                    (pair.verifying_key().to_bytes(), Some(pem.to_string()))
                }
            };
            let id = self.ids.next_id();
            let certificate = Certificate {
                id,
                client_id,
                org_id,
                kid: Certificate::kid_for(client_id, id),
                name: input.name,
                public_key,
                created_at: now,
                expires_at: input.expires_at,
                last_used_at: None,
                revoked_at: None,
            };
            clients::insert_certificate(&mut tx, &certificate).await?;
            let entry = AuditEntry::new(AuditAction::CertificateAdd, Some(actor.user_id))
                .org(org_id)
                .resource(certificate.id)
                .after(json!({ "generated": private_key.is_some(), "certificate": certificate_view(&certificate) }));
            self.commit_audited(tx, &actor.client, entry).await?;
            Ok(CreatedCertificate { certificate, private_key })
        })
        .await
    }

    /// Revokes a certificate: every replica refuses assertions signed with it from now on,
    /// since each token request reads the certificate from the database.
    pub async fn revoke_certificate(&self, actor: &Actor, org_id: Id, client_id: Id, cert_id: Id) -> Result<()> {
        let attempt =
            AuditEntry::new(AuditAction::CertificateRevoke, Some(actor.user_id)).org(org_id).resource(cert_id);
        self.audited(&actor.client, attempt, async {
            let mut tx = self.store.begin().await?;
            self.client_in(&mut tx, actor, org_id, OrgAction::ManageClients, client_id).await?;
            let certificate =
                clients::certificate_of(&mut tx, client_id, cert_id).await?.ok_or_else(certificate_not_found)?;
            if !clients::revoke_certificate(&mut tx, cert_id, self.now()).await? {
                return Err(Error::conflict("certificate_revoked", "the certificate is revoked already"));
            }
            let entry = AuditEntry::new(AuditAction::CertificateRevoke, Some(actor.user_id))
                .org(org_id)
                .resource(cert_id)
                .before(certificate_view(&certificate));
            self.commit_audited(tx, &actor.client, entry).await
        })
        .await
    }

    /// The organization's client keys that may sign now (enabled clients, certificates
    /// neither revoked nor expired): its JWKS. Public: these are public keys, and an
    /// unknown organization has none.
    pub async fn organization_keys(&self, org_id: Id) -> Result<Vec<Certificate>> {
        let mut conn = self.store.conn().await?;
        Ok(clients::usable_certificates(&mut conn, org_id, self.now()).await?)
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::pkcs8::EncodePublicKey;

    use super::*;

    #[test]
    fn public_keys_are_read_from_jwk_or_pem_and_nothing_else() {
        let pair = SigningKey::from_bytes(&[7; 32]);
        let public = pair.verifying_key();
        let pem = public.to_public_key_pem(Default::default()).unwrap();
        assert_eq!(parse_public_key(&Value::String(pem)), Ok(public.to_bytes()));
        let x = URL_SAFE_NO_PAD.encode(public.to_bytes());
        assert_eq!(parse_public_key(&json!({ "kty": "OKP", "crv": "Ed25519", "x": x })), Ok(public.to_bytes()));
        assert!(parse_public_key(&json!({ "kty": "OKP", "crv": "Ed25519", "x": x, "d": x })).is_err());
        assert!(parse_public_key(&json!({ "kty": "EC", "crv": "P-256", "x": x })).is_err());
        assert!(parse_public_key(&json!({ "kty": "OKP", "crv": "Ed25519", "x": "c2hvcnQ" })).is_err());
        assert!(parse_public_key(&json!("not a key")).is_err());
        assert!(parse_public_key(&json!(42)).is_err());
        // The identity point has small order: a signature for it proves nothing.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let weak = json!({ "kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(identity) });
        assert_eq!(parse_public_key(&weak), Err("is a weak Ed25519 key".into()));
    }
}
