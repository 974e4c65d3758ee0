//! The one place that decides who may do what.
//!
//! Services call [`authorize`] first thing in every use case; handlers never compare roles
//! themselves. Resources owned by another user are reported as missing by the services (not
//! as forbidden) so that their existence does not leak.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::id::Id;

/// Platform-wide role. Ordered: `User < AdminReadonly < Admin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum PlatformRole {
    User,
    AdminReadonly,
    Admin,
}

impl PlatformRole {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::AdminReadonly => "adminReadonly",
            Self::Admin => "admin",
        }
    }
}

impl fmt::Display for PlatformRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PlatformRole {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "user" => Ok(Self::User),
            "adminReadonly" => Ok(Self::AdminReadonly),
            "admin" => Ok(Self::Admin),
            other => Err(format!("unknown role {other:?}")),
        }
    }
}

/// Who is acting: an authenticated user, seen through one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: Id,
    pub role: PlatformRole,
    pub session_id: Id,
}

/// Everything a principal can ask to do. Actions on the principal's own resources carry
/// no owner: services look those up scoped to the principal, so another user's resource
/// is simply not found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Browse the model catalog.
    ReadCatalog,
    /// See models with their upstream configuration.
    ReadModelAdmin,
    /// Create, change or delete models.
    ManageModels,
    /// Subscribe, create keys and read one's own usage.
    UseModels,
    /// Read the usage of the given user.
    ReadUsageOf(Id),
    /// Read the subscription approval queue.
    ReadSubscriptionQueue,
    /// Approve or deny subscriptions to restricted models.
    ReviewSubscriptions,
    /// Read the platform-wide audit log.
    ReadAuditLog,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the {role} role may not {action:?}")]
pub struct Denied {
    pub role: PlatformRole,
    pub action: Action,
}

pub fn authorize(principal: &Principal, action: Action) -> Result<(), Denied> {
    let role = principal.role;
    let allowed = match action {
        Action::ReadCatalog | Action::UseModels => true,
        Action::ReadModelAdmin | Action::ReadSubscriptionQueue | Action::ReadAuditLog => {
            role >= PlatformRole::AdminReadonly
        }
        Action::ManageModels | Action::ReviewSubscriptions => role == PlatformRole::Admin,
        Action::ReadUsageOf(user) => user == principal.user_id || role >= PlatformRole::AdminReadonly,
    };
    if allowed { Ok(()) } else { Err(Denied { role, action }) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(role: PlatformRole) -> Principal {
        Principal { user_id: Id::from_i64(1), role, session_id: Id::from_i64(9) }
    }

    #[test]
    fn roles_are_ordered() {
        assert!(PlatformRole::Admin > PlatformRole::AdminReadonly);
        assert!(PlatformRole::AdminReadonly > PlatformRole::User);
    }

    #[test]
    fn read_only_admins_read_but_never_write() {
        let ro = principal(PlatformRole::AdminReadonly);
        assert!(authorize(&ro, Action::ReadModelAdmin).is_ok());
        assert!(authorize(&ro, Action::ReadUsageOf(Id::from_i64(2))).is_ok());
        assert!(authorize(&ro, Action::ReadSubscriptionQueue).is_ok());
        assert!(authorize(&ro, Action::ManageModels).is_err());
        assert!(authorize(&ro, Action::ReviewSubscriptions).is_err());
    }

    #[test]
    fn users_see_only_their_own_usage_and_manage_nothing() {
        let user = principal(PlatformRole::User);
        assert!(authorize(&user, Action::ReadUsageOf(Id::from_i64(1))).is_ok());
        assert!(authorize(&user, Action::ReadUsageOf(Id::from_i64(2))).is_err());
        assert!(authorize(&user, Action::ReadModelAdmin).is_err());
        assert!(authorize(&user, Action::ManageModels).is_err());
        assert!(authorize(&user, Action::UseModels).is_ok());
    }

    #[test]
    fn admins_may_do_everything() {
        let admin = principal(PlatformRole::Admin);
        for action in [
            Action::ReadCatalog,
            Action::ReadModelAdmin,
            Action::ManageModels,
            Action::UseModels,
            Action::ReadUsageOf(Id::from_i64(2)),
            Action::ReadSubscriptionQueue,
            Action::ReviewSubscriptions,
            Action::ReadAuditLog,
        ] {
            assert!(authorize(&admin, action).is_ok(), "{action:?}");
        }
    }

    #[test]
    fn role_names_round_trip() {
        for role in [PlatformRole::User, PlatformRole::AdminReadonly, PlatformRole::Admin] {
            assert_eq!(role.as_str().parse::<PlatformRole>(), Ok(role));
        }
    }
}
