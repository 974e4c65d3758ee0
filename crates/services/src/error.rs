//! The one error type of every use case. It says what kind of failure happened and gives
//! a stable machine code; the HTTP layer maps the kind to a status in one place.

use purser_domain::{Denied, FieldError};
use purser_store::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The input cannot be read at all: not JSON, a bad query parameter (400).
    Malformed,
    /// The body is not in a format the use case reads (415).
    UnsupportedMedia,
    /// The body is larger than allowed (413).
    TooLarge,
    /// The request is well-formed but its content breaks a rule (422).
    Invalid,
    /// No valid credentials (401).
    Unauthenticated,
    /// Authenticated but not allowed (403).
    Forbidden,
    /// The resource does not exist, or is not visible to the caller (404).
    NotFound,
    /// The request conflicts with the current state (409).
    Conflict,
    /// A dependency (the database) is down; worth retrying (503).
    Unavailable,
    /// A fault inside Purser (500). The detail is logged, never shown.
    Internal,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Error {
    pub kind: ErrorKind,
    /// Stable, documented, machine-readable (`email_taken`, `model_not_found`, ...).
    pub code: &'static str,
    /// Safe to show to the caller.
    pub message: String,
    /// For [`ErrorKind::Invalid`]: every offending field.
    pub fields: Vec<FieldError>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, code: &'static str, message: impl Into<String>) -> Self {
        Self { kind, code, message: message.into(), fields: Vec::new() }
    }

    pub fn invalid(fields: Vec<FieldError>) -> Self {
        let message = match fields.as_slice() {
            [one] => format!("{} {}", one.field, one.message),
            _ => format!("{} fields are invalid", fields.len()),
        };
        Self { kind: ErrorKind::Invalid, code: "validation_failed", message, fields }
    }

    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        Self::invalid(vec![FieldError::new(field, message)])
    }

    /// Input that cannot be read (`malformed_json`, `invalid_query`, ...), naming the field
    /// when there is one.
    pub fn malformed(code: &'static str, field: Option<String>, message: impl Into<String>) -> Self {
        let message = message.into();
        let fields = field.map(|f| vec![FieldError::new(f, message.clone())]).unwrap_or_default();
        Self { kind: ErrorKind::Malformed, code, message, fields }
    }

    /// Renames invalid fields for a caller that named them differently: each field that
    /// starts with `from` (or equals it) has that prefix replaced by `to`; first match wins.
    pub fn rename_fields(mut self, renames: &[(&str, &str)]) -> Self {
        for f in &mut self.fields {
            if let Some((from, to)) = renames.iter().find(|(from, _)| f.field.starts_with(from)) {
                f.field = format!("{to}{}", &f.field[from.len()..]);
            }
        }
        self
    }

    /// `what` names the resource (`model`, `api_key`, ...); the code is `<what>_not_found`.
    pub fn not_found(code: &'static str, what: &str) -> Self {
        Self::new(ErrorKind::NotFound, code, format!("{what} not found"))
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, code, message)
    }

    pub fn unauthenticated(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unauthenticated, code, message)
    }

    /// A fault whose detail must not reach the caller: it is logged here and replaced.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(ErrorKind::Internal, "internal_error", "an internal error occurred")
    }
}

impl From<Denied> for Error {
    fn from(denied: Denied) -> Self {
        Self::new(ErrorKind::Forbidden, "forbidden", format!("the {} role may not do this", denied.role))
    }
}

impl From<Vec<FieldError>> for Error {
    fn from(fields: Vec<FieldError>) -> Self {
        Self::invalid(fields)
    }
}

impl From<purser_tenants::TenantError> for Error {
    fn from(e: purser_tenants::TenantError) -> Self {
        match e {
            purser_tenants::TenantError::Store(e) => e.into(),
            other => {
                tracing::warn!(error = %other, "tenant database unavailable");
                Self::new(
                    ErrorKind::Unavailable,
                    "tenant_database_unavailable",
                    "the organization's database is unavailable; try again",
                )
            }
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::not_found("not_found", "record"),
            StoreError::Conflict(what) => {
                Self::conflict("conflict", format!("conflicts with an existing record ({what})"))
            }
            StoreError::Unavailable(detail) => {
                tracing::warn!(error = %detail, "database unavailable");
                Self::new(ErrorKind::Unavailable, "database_unavailable", "the database is unavailable; try again")
            }
            other => Self::internal(other),
        }
    }
}
