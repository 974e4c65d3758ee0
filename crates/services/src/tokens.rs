//! Access tokens: short-lived HS256 JWTs naming the user and the session they belong to.
//! Expiry is checked against Purser's [`Clock`](purser_domain::Clock), not the library's
//! wall clock, so it can be tested without waiting.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use purser_domain::{Id, Timestamp};
use serde::{Deserialize, Serialize};

use crate::crypto::MasterKey;
use crate::error::{Error, Result};

/// The `aud` of tokens for Purser's own API (vault tokens will carry another).
const API_AUDIENCE: &str = "purser-api";

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    aud: String,
    sub: String,
    sid: String,
    iat: i64,
    exp: i64,
}

/// What a valid access token says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessClaims {
    pub user_id: Id,
    pub session_id: Id,
    pub expires_at: Timestamp,
}

pub struct TokenIssuer {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    ttl_secs: i64,
}

impl TokenIssuer {
    pub fn new(master: &MasterKey, issuer: &str, ttl_secs: i64) -> Self {
        let secret = master.derive("purser/access-token/hs256/v1");
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[API_AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_exp = false; // checked below against our clock
        Self {
            encoding: EncodingKey::from_secret(&secret),
            decoding: DecodingKey::from_secret(&secret),
            validation,
            issuer: issuer.to_owned(),
            ttl_secs,
        }
    }

    pub fn ttl_secs(&self) -> i64 {
        self.ttl_secs
    }

    pub fn issue(&self, user_id: Id, session_id: Id, now: Timestamp) -> Result<String> {
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: API_AUDIENCE.to_owned(),
            sub: user_id.to_string(),
            sid: session_id.to_string(),
            iat: now.as_secs(),
            exp: now.as_secs() + self.ttl_secs,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(Error::internal)
    }

    pub fn verify(&self, token: &str, now: Timestamp) -> Result<AccessClaims> {
        let invalid = || Error::unauthenticated("invalid_token", "the access token is not valid");
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map_err(|_| invalid())?;
        let claims = data.claims;
        if now.as_secs() >= claims.exp {
            return Err(Error::unauthenticated("token_expired", "the access token has expired; refresh it"));
        }
        Ok(AccessClaims {
            user_id: claims.sub.parse().map_err(|_| invalid())?,
            session_id: claims.sid.parse().map_err(|_| invalid())?,
            expires_at: Timestamp::from_millis(claims.exp * 1000),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_until_they_expire() {
        let issuer = TokenIssuer::new(&MasterKey::generate(), "purser", 900);
        let now = Timestamp::from_millis(1_790_000_000_000);
        let token = issuer.issue(Id::from_i64(7), Id::from_i64(8), now).unwrap();
        let claims = issuer.verify(&token, now.plus_secs(899)).unwrap();
        assert_eq!((claims.user_id, claims.session_id), (Id::from_i64(7), Id::from_i64(8)));
        assert_eq!(issuer.verify(&token, now.plus_secs(900)).unwrap_err().code, "token_expired");
    }

    #[test]
    fn foreign_or_altered_tokens_are_refused() {
        let now = Timestamp::from_millis(1_790_000_000_000);
        let ours = TokenIssuer::new(&MasterKey::generate(), "purser", 900);
        let theirs = TokenIssuer::new(&MasterKey::generate(), "purser", 900);
        let token = theirs.issue(Id::from_i64(7), Id::from_i64(8), now).unwrap();
        assert_eq!(ours.verify(&token, now).unwrap_err().code, "invalid_token");
        assert_eq!(ours.verify("not.a.jwt", now).unwrap_err().code, "invalid_token");
        let other_issuer = TokenIssuer::new(&MasterKey::from_hex(&"11".repeat(32)).unwrap(), "elsewhere", 900);
        let same_key = TokenIssuer::new(&MasterKey::from_hex(&"11".repeat(32)).unwrap(), "purser", 900);
        let token = other_issuer.issue(Id::from_i64(7), Id::from_i64(8), now).unwrap();
        assert_eq!(same_key.verify(&token, now).unwrap_err().code, "invalid_token");
        // alg=none is never accepted.
        let unsigned = format!("{}.{}.", "eyJhbGciOiJub25lIn0", token.split('.').nth(1).unwrap());
        assert_eq!(same_key.verify(&unsigned, now).unwrap_err().code, "invalid_token");
    }
}
