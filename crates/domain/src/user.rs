//! Users and the rules for their credentials.

use crate::clock::Timestamp;
use crate::id::Id;
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
