//! Keys and secrets.
//!
//! One 256-bit master key (from config, or generated into the data directory) is the root
//! of every other key, each derived with HKDF-SHA256 under its own label, so one secret
//! protects everything and no two uses share a key.

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use rand::RngCore;
use sha2::{Digest, Sha256};

pub const MASTER_KEY_BYTES: usize = 32;

/// The root secret. `Debug` never shows it.
#[derive(Clone)]
pub struct MasterKey([u8; MASTER_KEY_BYTES]);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the master key must be {MASTER_KEY_BYTES} bytes written as 64 hexadecimal characters")]
pub struct InvalidMasterKey;

impl MasterKey {
    pub fn generate() -> Self {
        let mut bytes = [0; MASTER_KEY_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    pub fn from_hex(text: &str) -> Result<Self, InvalidMasterKey> {
        let bytes = hex::decode(text.trim()).map_err(|_| InvalidMasterKey)?;
        Ok(Self(bytes.try_into().map_err(|_| InvalidMasterKey)?))
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// A 32-byte key for one purpose, named by `label`.
    pub fn derive(&self, label: &str) -> [u8; 32] {
        let mut out = [0; 32];
        Hkdf::<Sha256>::new(Some(b"purser"), &self.0)
            .expand(label.as_bytes(), &mut out)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        out
    }
}

/// Authenticated encryption (AES-256-GCM) for secrets Purser must read back, such as
/// upstream API keys. Each ciphertext is bound to a context string (e.g. the owning
/// record's id) so it cannot be moved to another record.
#[derive(Clone)]
pub struct SecretBox {
    cipher: Aes256Gcm,
}

const FORMAT_V1: u8 = 1;
const NONCE_BYTES: usize = 12;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("a stored secret could not be decrypted (wrong master key, or the data was altered)")]
pub struct DecryptError;

impl SecretBox {
    pub fn new(master: &MasterKey) -> Self {
        let key = master.derive("purser/secret-box/aes-256-gcm/v1");
        Self { cipher: Aes256Gcm::new(&key.into()) }
    }

    /// `[version][nonce][ciphertext + tag]`.
    pub fn seal(&self, plaintext: &str, context: &str) -> Vec<u8> {
        let mut nonce = [0; NONCE_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext.as_bytes(), aad: context.as_bytes() })
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut out = Vec::with_capacity(1 + NONCE_BYTES + sealed.len());
        out.push(FORMAT_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    pub fn open(&self, blob: &[u8], context: &str) -> Result<String, DecryptError> {
        let [FORMAT_V1, rest @ ..] = blob else { return Err(DecryptError) };
        if rest.len() < NONCE_BYTES {
            return Err(DecryptError);
        }
        let (nonce, sealed) = rest.split_at(NONCE_BYTES);
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad: context.as_bytes() })
            .map_err(|_| DecryptError)?;
        String::from_utf8(plain).map_err(|_| DecryptError)
    }
}

/// Hex SHA-256: how bearer secrets (API keys, refresh tokens) are stored and looked up.
/// They carry 238+ bits of randomness, so a fast hash is enough; no salt or stretching.
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The raw SHA-256 of a secret, for in-memory lookup tables.
pub fn digest_bytes(secret: &[u8]) -> [u8; 32] {
    Sha256::digest(secret).into()
}

/// `bytes` random bytes, base64url without padding.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    buf
}

/// HMAC-SHA256 of `message` under `key`, base64url: tokens a server can recompute (such as
/// a CSRF token bound to a session) without storing them.
pub fn mac(key: &[u8; 32], message: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(message);
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// Compares secrets in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_in_their_context() {
        let sb = SecretBox::new(&MasterKey::generate());
        let blob = sb.seal("sk-upstream-123", "model:1");
        assert_eq!(sb.open(&blob, "model:1").unwrap(), "sk-upstream-123");
        assert_eq!(sb.open(&blob, "model:2"), Err(DecryptError));
        let mut tampered = blob.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(sb.open(&tampered, "model:1"), Err(DecryptError));
        assert_eq!(sb.open(&[], "model:1"), Err(DecryptError));
        assert_ne!(blob, sb.seal("sk-upstream-123", "model:1"), "fresh nonce each time");
    }

    #[test]
    fn macs_are_keyed_and_comparisons_exact() {
        let (a, b) = (MasterKey::generate().derive("x"), MasterKey::generate().derive("x"));
        assert_eq!(mac(&a, b"session-1"), mac(&a, b"session-1"));
        assert_ne!(mac(&a, b"session-1"), mac(&a, b"session-2"));
        assert_ne!(mac(&a, b"session-1"), mac(&b, b"session-1"));
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd") && !same_secret("abc", "abcd"));
    }

    #[test]
    fn another_master_key_cannot_open() {
        let blob = SecretBox::new(&MasterKey::generate()).seal("x", "c");
        assert_eq!(SecretBox::new(&MasterKey::generate()).open(&blob, "c"), Err(DecryptError));
    }

    #[test]
    fn master_keys_round_trip_as_hex_and_hide_in_debug() {
        let key = MasterKey::generate();
        assert_eq!(MasterKey::from_hex(&key.to_hex()).unwrap().0, key.0);
        assert_eq!(MasterKey::from_hex("abcd").unwrap_err(), InvalidMasterKey);
        assert!(!format!("{key:?}").contains(&key.to_hex()));
        assert_ne!(key.derive("a"), key.derive("b"));
    }
}
