//! Multi-model API keys.
//!
//! A key is `sk-prs-` followed by 40 base62 characters (238 bits of randomness). Only its
//! SHA-256 digest is stored; lists show the first characters and the last four.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clock::Timestamp;
use crate::id::Id;
use crate::money::Usd;
use crate::org::BudgetPeriod;

pub const KEY_PREFIX: &str = "sk-prs-";
pub const KEY_RANDOM_CHARS: usize = 40;
/// How many characters of the key (prefix included) lists may show.
pub const SHOWN_PREFIX_CHARS: usize = KEY_PREFIX.len() + 4;
pub const MAX_KEY_NAME_CHARS: usize = 100;
pub const MAX_MODELS_PER_KEY: usize = 100;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Builds the secret text of a key from random bytes (one byte per character; bytes are
/// mapped by rejection so every character is uniformly likely). Returns `None` when the
/// bytes ran out before 40 characters were drawn; ask again with more.
pub fn format_secret(random: &[u8]) -> Option<String> {
    let mut key = String::with_capacity(KEY_PREFIX.len() + KEY_RANDOM_CHARS);
    key.push_str(KEY_PREFIX);
    let mut drawn = 0;
    for &b in random {
        // 248 = 62 * 4: bytes at or above it would favour the first characters.
        if b < 248 {
            key.push(BASE62[usize::from(b % 62)] as char);
            drawn += 1;
            if drawn == KEY_RANDOM_CHARS {
                return Some(key);
            }
        }
    }
    None
}

/// Whether `s` has the shape of a Purser key (cheap check before any lookup).
pub fn looks_like_secret(s: &str) -> bool {
    s.len() == KEY_PREFIX.len() + KEY_RANDOM_CHARS
        && s.starts_with(KEY_PREFIX)
        && s[KEY_PREFIX.len()..].bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The parts of a key that may be shown after creation: `(prefix, last four)`.
pub fn visible_parts(secret: &str) -> (String, String) {
    let prefix = secret.chars().take(SHOWN_PREFIX_CHARS).collect();
    let last4 = secret[secret.len().saturating_sub(4)..].to_owned();
    (prefix, last4)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum KeyStatus {
    Active,
    Expired,
    Revoked,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: Id,
    pub user_id: Id,
    /// The team the key's usage is billed to and limited by.
    pub team_id: Option<Id>,
    pub name: String,
    pub prefix: String,
    pub last4: String,
    pub model_ids: Vec<Id>,
    pub max_budget: Option<Usd>,
    pub spend: Usd,
    pub tpm_limit: Option<u32>,
    pub rpm_limit: Option<u32>,
    /// Requests the key may have in flight at once.
    pub max_parallel: Option<u32>,
    /// When set, `max_budget` is per period (it resets); otherwise for the key's lifetime.
    pub budget_period: Option<BudgetPeriod>,
    pub expires_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl ApiKey {
    pub fn status(&self, now: Timestamp) -> KeyStatus {
        if self.revoked_at.is_some() {
            KeyStatus::Revoked
        } else if self.expires_at.is_some_and(|at| at <= now) {
            KeyStatus::Expired
        } else {
            KeyStatus::Active
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_have_the_documented_shape() {
        let random: Vec<u8> = (0..=255).collect();
        let key = format_secret(&random).unwrap();
        assert!(looks_like_secret(&key), "{key}");
        let (prefix, last4) = visible_parts(&key);
        assert!(key.starts_with(&prefix) && key.ends_with(&last4));
        assert_eq!(prefix.len(), SHOWN_PREFIX_CHARS);
        assert_eq!(last4.len(), 4);
    }

    #[test]
    fn biased_bytes_are_skipped_and_short_input_is_refused() {
        assert_eq!(format_secret(&[255; 100]), None);
        assert_eq!(format_secret(&[0; 39]), None);
        assert_eq!(format_secret(&[61; 40]).unwrap(), format!("{KEY_PREFIX}{}", "z".repeat(40)));
    }

    #[test]
    fn rejects_other_shapes() {
        assert!(!looks_like_secret("sk-prs-short"));
        assert!(!looks_like_secret(&format!("sk-xxx-{}", "a".repeat(40))));
        assert!(!looks_like_secret(&format!("{KEY_PREFIX}{}!", "a".repeat(39))));
    }

    #[test]
    fn status_follows_revocation_then_expiry() {
        let now = Timestamp::from_millis(10_000);
        let mut key = ApiKey {
            id: Id::from_i64(1),
            user_id: Id::from_i64(2),
            team_id: None,
            name: "k".into(),
            prefix: "sk-prs-abcd".into(),
            last4: "wxyz".into(),
            model_ids: vec![],
            max_budget: None,
            spend: Usd::ZERO,
            tpm_limit: None,
            rpm_limit: None,
            max_parallel: None,
            budget_period: None,
            expires_at: Some(Timestamp::from_millis(20_000)),
            revoked_at: None,
            last_used_at: None,
            created_at: now,
            updated_at: now,
        };
        assert_eq!(key.status(now), KeyStatus::Active);
        assert_eq!(key.status(Timestamp::from_millis(20_000)), KeyStatus::Expired);
        key.revoked_at = Some(now);
        assert_eq!(key.status(now), KeyStatus::Revoked);
    }
}
