//! Purser's own keys for vault tokens: Ed25519, stored with the private half sealed by the
//! master key, rotated on a schedule. A new key is published in the JWKS for a while before
//! it signs anything (every replica and every engine's cache has it by then), and an old
//! one stays published until the last token it signed has expired. Every replica reloads
//! the keys every [`RELOAD_SECS`] and answers the JWKS from memory.

use std::sync::{Arc, RwLock};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use purser_domain::Timestamp;
use purser_store::vault_tokens::{self, StoredSigningKey};
use serde_json::json;

use crate::Services;
use crate::crypto::random_bytes;
use crate::error::{Error, ErrorKind, Result};
use crate::jws::JwtSigner;

/// How often each replica reloads the keys (and rotates them when due).
pub const RELOAD_SECS: u64 = 30;
/// How long a new key is published before it signs: well over one reload of every replica.
const PUBLISH_AHEAD_SECS: i64 = 120;
/// Verifiers' clocks may run behind: a retired key stays published this much longer.
const CLOCK_SKEW_SECS: i64 = 60;

/// The keys as this replica knows them.
#[derive(Default)]
pub(crate) struct KeyRing {
    /// The key that signs now.
    pub signer: Option<Arc<JwtSigner>>,
    /// The JWKS document, serialised once per reload.
    pub jwks: bytes::Bytes,
}

#[derive(Default)]
pub(crate) struct SigningKeys(RwLock<Arc<KeyRing>>);

impl SigningKeys {
    pub fn current(&self) -> Arc<KeyRing> {
        Arc::clone(&self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    fn set(&self, ring: KeyRing) {
        *self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(ring);
    }
}

fn sealed_context(kid: &str) -> String {
    format!("signing-key:{kid}")
}

/// A public key as a JWK.
pub fn okp_jwk(kid: &str, public_key: &[u8]) -> serde_json::Value {
    json!({ "kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(public_key), "kid": kid, "use": "sig", "alg": "EdDSA" })
}

/// Which stored keys to publish and which signs, at `now`: keys ordered by activation; each
/// is retired when the next one activates.
fn plan(
    keys: &[StoredSigningKey],
    now: Timestamp,
    token_ttl_secs: i64,
) -> (Vec<&StoredSigningKey>, Option<&StoredSigningKey>) {
    let mut published = Vec::new();
    let mut signer = None;
    for (i, key) in keys.iter().enumerate() {
        let retired_at = keys.get(i + 1).map(|next| next.activates_at);
        if retired_at.is_none_or(|at| now < at.plus_secs(token_ttl_secs + CLOCK_SKEW_SECS)) {
            published.push(key);
        }
        if key.activates_at <= now {
            signer = Some(key);
        }
    }
    (published, signer)
}

impl Services {
    /// The JWKS document of Purser's vault token keys, from memory.
    pub fn jwks(&self) -> bytes::Bytes {
        self.signing_keys.current().jwks.clone()
    }

    /// Loads the signing keys, first adding a new one when none signs yet or the newest is
    /// due to be replaced, and forgets keys no token can need any more.
    pub async fn refresh_signing_keys(&self) -> Result<()> {
        let now = self.now();
        let rotation = self.vault_tokens.key_rotation_secs;
        let mut conn = self.store.conn().await?;
        let keys = vault_tokens::signing_keys(&mut conn).await?;
        let newest = keys.last().map(|k| k.activates_at);
        // A key is due when the newest one will have signed for a whole rotation period by
        // the time a new one, published now, may sign.
        if newest.is_none_or(|at| at.plus_secs(rotation) <= now.plus_secs(PUBLISH_AHEAD_SECS)) {
            let signs_now = keys.iter().all(|k| k.activates_at > now);
            let activates_at = if signs_now { now } else { now.plus_secs(PUBLISH_AHEAD_SECS) };
            let key = self.new_signing_key(now, activates_at);
            if vault_tokens::add_signing_key(&mut conn, &key, now.plus_secs(PUBLISH_AHEAD_SECS - rotation)).await? {
                tracing::info!(kid = %key.kid, "added a vault token signing key");
            }
        }
        let keys = vault_tokens::signing_keys(&mut conn).await?;
        let ttl = self.vault_tokens.access_ttl_secs;
        let (published, signer) = plan(&keys, now, ttl);
        let forgotten: Vec<_> = keys.iter().filter(|k| !published.iter().any(|p| p.id == k.id)).map(|k| k.id).collect();
        if !forgotten.is_empty() {
            vault_tokens::delete_signing_keys(&mut conn, &forgotten).await?;
        }
        let signer = match signer {
            Some(key) => Some(Arc::new(self.open_signing_key(key)?)),
            None => None,
        };
        let jwks = json!({ "keys": published.iter().map(|k| okp_jwk(&k.kid, &k.public_key)).collect::<Vec<_>>() });
        self.signing_keys.set(KeyRing { signer, jwks: serde_json::to_vec(&jwks).map_err(Error::internal)?.into() });
        Ok(())
    }

    fn new_signing_key(&self, now: Timestamp, activates_at: Timestamp) -> StoredSigningKey {
        let seed: [u8; 32] = random_bytes(32).try_into().expect("32 random bytes");
        let key = SigningKey::from_bytes(&seed);
        let der = key.to_pkcs8_der().expect("an Ed25519 key encodes as PKCS#8");
        let id = self.ids.next_id();
        let kid = format!("purser-{id}");
        StoredSigningKey {
            id,
            sealed_private_key: self.secrets.seal(&STANDARD.encode(der.as_bytes()), &sealed_context(&kid)),
            public_key: key.verifying_key().to_bytes().to_vec(),
            kid,
            created_at: now,
            activates_at,
        }
    }

    fn open_signing_key(&self, key: &StoredSigningKey) -> Result<JwtSigner> {
        let broken = |what: &str| {
            tracing::error!(kid = %key.kid, "the signing key cannot be read: {what}");
            Error::new(ErrorKind::Internal, "internal", "the vault token signing key cannot be read")
        };
        let der = self
            .secrets
            .open(&key.sealed_private_key, &sealed_context(&key.kid))
            .map_err(|_| broken("not sealed with this master key"))?;
        let der = STANDARD.decode(der).map_err(|_| broken("not base64"))?;
        let pair = SigningKey::from_pkcs8_der(&der).map_err(|_| broken("not an Ed25519 PKCS#8 key"))?;
        Ok(JwtSigner::new(key.kid.clone(), pair))
    }
}

#[cfg(test)]
mod tests {
    use purser_domain::Id;

    use super::*;

    fn key(id: i64, activates_secs: i64) -> StoredSigningKey {
        StoredSigningKey {
            id: Id::from_i64(id),
            kid: format!("k{id}"),
            public_key: vec![0; 32],
            sealed_private_key: Vec::new(),
            created_at: Timestamp::from_millis(0),
            activates_at: Timestamp::from_millis(activates_secs * 1000),
        }
    }

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_millis(secs * 1000)
    }

    #[test]
    fn a_new_key_is_published_before_it_signs_and_an_old_one_until_its_tokens_expire() {
        let keys = [key(1, 0), key(2, 1000)];
        let kids = |(published, signer): (Vec<&StoredSigningKey>, Option<&StoredSigningKey>)| {
            let published: Vec<_> = published.iter().map(|k| k.kid.as_str()).collect();
            format!("{} / {}", published.join(","), signer.map_or("none", |k| k.kid.as_str()))
        };
        assert_eq!(kids(plan(&keys, at(900), 300)), "k1,k2 / k1");
        assert_eq!(kids(plan(&keys, at(1000), 300)), "k1,k2 / k2");
        // 300 s of token life and 60 s of clock skew after k2 took over, k1 goes.
        assert_eq!(kids(plan(&keys, at(1359), 300)), "k1,k2 / k2");
        assert_eq!(kids(plan(&keys, at(1360), 300)), "k2 / k2");
        assert_eq!(kids(plan(&[], at(0), 300)), " / none");
    }
}
