//! Compact EdDSA JWTs (RFC 7515/7519 with RFC 8037's Ed25519), signed and checked with
//! `ed25519-dalek` directly: the signing key stays parsed in memory (a library that takes
//! PKCS#8 bytes re-derives the public key for every token), and signatures are checked
//! strictly (no malleable signatures, no small-order keys).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

/// An Ed25519 key that signs JWTs, with its header encoded once.
pub struct JwtSigner {
    key: SigningKey,
    /// The header (naming the key's `kid`), base64url.
    header: String,
}

impl JwtSigner {
    pub fn new(kid: String, key: SigningKey) -> Self {
        let header = serde_json::json!({ "alg": "EdDSA", "typ": "JWT", "kid": kid });
        Self { header: URL_SAFE_NO_PAD.encode(header.to_string()), key }
    }

    pub fn sign(&self, claims: &impl Serialize) -> Result<String, serde_json::Error> {
        let mut token = format!("{}.{}", self.header, URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims)?));
        let signature = self.key.sign(token.as_bytes());
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(signature.to_bytes()));
        Ok(token)
    }
}

#[derive(Debug, Deserialize)]
pub struct JwtHeader {
    pub alg: Option<String>,
    pub kid: Option<String>,
}

/// A compact JWT taken apart, nothing of it trusted yet.
pub struct Compact<'a> {
    pub header: JwtHeader,
    signing_input: &'a str,
    payload: Vec<u8>,
    signature: Vec<u8>,
}

impl<'a> Compact<'a> {
    /// `None` unless it is three base64url parts with a JSON object for a header.
    pub fn parse(jwt: &'a str) -> Option<Self> {
        let (signing_input, signature) = jwt.rsplit_once('.')?;
        let (header, payload) = signing_input.split_once('.')?;
        let header: JwtHeader = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
        Some(Self {
            header,
            signing_input,
            payload: URL_SAFE_NO_PAD.decode(payload).ok()?,
            signature: URL_SAFE_NO_PAD.decode(signature).ok()?,
        })
    }

    /// The payload, once the signature verifies (strictly) with `key` (decoded once and
    /// kept by the caller: decoding a point costs a fifth of a verification).
    pub fn verify_with(&self, key: &VerifyingKey) -> Option<&[u8]> {
        let signature = Signature::from_slice(&self.signature).ok()?;
        key.verify_strict(self.signing_input.as_bytes(), &signature).ok()?;
        Some(&self.payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_token_verifies_with_its_key_only_and_unchanged() {
        let signer = JwtSigner::new("k1".into(), SigningKey::from_bytes(&[3; 32]));
        let token = signer.sign(&serde_json::json!({ "sub": "x" })).unwrap();
        let parsed = Compact::parse(&token).unwrap();
        assert_eq!((parsed.header.alg.as_deref(), parsed.header.kid.as_deref()), (Some("EdDSA"), Some("k1")));
        let public = SigningKey::from_bytes(&[3; 32]).verifying_key();
        assert_eq!(parsed.verify_with(&public), Some(br#"{"sub":"x"}"#.as_slice()));
        let other = SigningKey::from_bytes(&[4; 32]).verifying_key();
        assert_eq!(parsed.verify_with(&other), None);
        let mut tampered = token.clone();
        tampered.replace_range(token.find('.').unwrap() + 2..token.find('.').unwrap() + 3, "A");
        assert!(Compact::parse(&tampered).is_none_or(|t| t.verify_with(&public).is_none()));
        assert!(Compact::parse("a.b").is_none() && Compact::parse("not a jwt").is_none());
    }

    #[test]
    fn jsonwebtoken_reads_what_it_signs() {
        // The tokens must verify with a standard library too.
        let key = SigningKey::from_bytes(&[5; 32]);
        let token = JwtSigner::new("k".into(), key.clone()).sign(&serde_json::json!({ "sub": "y" })).unwrap();
        let x = URL_SAFE_NO_PAD.encode(key.verifying_key().to_bytes());
        let decoding = jsonwebtoken::DecodingKey::from_ed_components(&x).unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
        validation.required_spec_claims.clear();
        validation.validate_aud = false;
        let data = jsonwebtoken::decode::<serde_json::Value>(&token, &decoding, &validation).unwrap();
        assert_eq!(data.claims["sub"], "y");
    }
}
