//! Users and the rules for their credentials.

use crate::clock::Timestamp;
use crate::id::Id;
use crate::money::Usd;
use crate::org::BudgetPeriod;
use crate::policy::PlatformRole;
use crate::validation::Validator;

pub const MIN_PASSWORD_CHARS: usize = 12;
/// Long enough for any passphrase; short enough that hashing cannot be used to burn CPU.
pub const MAX_PASSWORD_CHARS: usize = 256;
pub const MAX_EMAIL_CHARS: usize = 254;
pub const MAX_NAME_CHARS: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: Id,
    pub email: String,
    pub name: String,
    pub role: PlatformRole,
    pub active: bool,
    /// Whether the primary (login) address is verified.
    pub email_verified: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Emails compare case-insensitively; they are stored trimmed and lower-cased.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A pragmatic address check: one `@`, a non-empty local part, a dotted domain, no spaces
/// or control characters. Deliverability is proven by verification mail, not by syntax.
pub fn validate_email(v: &mut Validator, field: &str, email: &str) {
    let email = email.trim();
    let valid_shape = email.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
    });
    if email.is_empty() {
        v.error(field, "must not be empty");
    } else if email.chars().count() > MAX_EMAIL_CHARS {
        v.error(field, format!("must be at most {MAX_EMAIL_CHARS} characters"));
    } else if !valid_shape || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        v.error(field, "must be an email address such as ada@example.com");
    }
}

pub fn validate_password(v: &mut Validator, field: &str, password: &str) {
    let count = password.chars().count();
    if count < MIN_PASSWORD_CHARS {
        v.error(field, format!("must be at least {MIN_PASSWORD_CHARS} characters"));
    } else if count > MAX_PASSWORD_CHARS {
        v.error(field, format!("must be at most {MAX_PASSWORD_CHARS} characters"));
    }
}

/// Limits an admin puts on everything a user does through the gateway, across all their
/// keys. Users without a row have none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserLimits {
    pub user_id: Id,
    pub rpm_limit: Option<u32>,
    pub tpm_limit: Option<u32>,
    pub max_parallel: Option<u32>,
    pub max_budget: Option<Usd>,
    /// When set, `max_budget` is per period; otherwise for all time.
    pub budget_period: Option<BudgetPeriod>,
    pub updated_at: Timestamp,
}

impl UserLimits {
    pub fn is_empty(&self) -> bool {
        self.rpm_limit.is_none() && self.tpm_limit.is_none() && self.max_parallel.is_none() && self.max_budget.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email_ok(e: &str) -> bool {
        let mut v = Validator::new();
        validate_email(&mut v, "email", e);
        v.is_empty()
    }

    #[test]
    fn email_shapes() {
        assert!(email_ok("ada@example.com"));
        assert!(email_ok("  Ada.Lovelace+ai@Sub.Example.org "));
        for bad in ["", "ada", "ada@", "@example.com", "ada@example", "a@b@c.d", "ada @x.io", "ada@x..io", "ada@.x.io"]
        {
            assert!(!email_ok(bad), "{bad:?} must be refused");
        }
        assert_eq!(normalize_email("  Ada@Example.COM "), "ada@example.com");
    }

    #[test]
    fn password_length_counts_characters() {
        let check = |p: &str| {
            let mut v = Validator::new();
            validate_password(&mut v, "password", p);
            v.is_empty()
        };
        assert!(!check("short"));
        assert!(check("twelve chars"));
        assert!(check("ééééééééééé1"));
        assert!(!check(&"x".repeat(MAX_PASSWORD_CHARS + 1)));
    }
}

/// One of a user's email addresses. The primary one is the login address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserEmail {
    pub id: Id,
    pub user_id: Id,
    pub email: String,
    pub is_primary: bool,
    pub verified_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

impl UserEmail {
    pub fn is_verified(&self) -> bool {
        self.verified_at.is_some()
    }
}

pub const MAX_EMAILS_PER_USER: usize = 10;
/// Email verification links work for a day; password reset links for an hour.
pub const VERIFY_EMAIL_TTL_SECS: i64 = 24 * 3600;
pub const RESET_PASSWORD_TTL_SECS: i64 = 3600;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    VerifyEmail,
    ResetPassword,
}

impl TokenPurpose {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::ResetPassword => "reset_password",
        }
    }
}

impl std::str::FromStr for TokenPurpose {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "verify_email" => Ok(Self::VerifyEmail),
            "reset_password" => Ok(Self::ResetPassword),
            other => Err(format!("unknown token purpose {other:?}")),
        }
    }
}

/// A single-use token sent by email (only its digest is stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailToken {
    pub purpose: TokenPurpose,
    pub user_id: Id,
    pub email_id: Option<Id>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub used_at: Option<Timestamp>,
}

impl EmailToken {
    pub fn usable(&self, purpose: TokenPurpose, now: Timestamp) -> bool {
        self.purpose == purpose && self.used_at.is_none() && now < self.expires_at
    }
}
