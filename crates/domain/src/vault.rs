//! Authorization vaults (policy containers an engine enforces), the grants that give people,
//! teams and service clients a role on one, and service clients with their Ed25519 keys.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{Id, Timestamp};

/// A role on a vault. Ordered: `Reader < Writer < Manager < Admin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum VaultRole {
    Reader,
    Writer,
    Manager,
    Admin,
}

impl VaultRole {
    pub const ALL: [VaultRole; 4] = [Self::Reader, Self::Writer, Self::Manager, Self::Admin];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Reader => "reader",
            Self::Writer => "writer",
            Self::Manager => "manager",
            Self::Admin => "admin",
        }
    }
}

impl fmt::Display for VaultRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for VaultRole {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| format!("unknown vault role {s:?}"))
    }
}

/// Whether the policy engine has the vault's current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SyncStatus {
    Pending,
    Synced,
    Failed,
}

impl SyncStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Synced => "synced",
            Self::Failed => "failed",
        }
    }
}

impl FromStr for SyncStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "pending" => Self::Pending,
            "synced" => Self::Synced,
            "failed" => Self::Failed,
            other => return Err(format!("unknown sync status {other:?}")),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vault {
    pub id: Id,
    pub org_id: Id,
    pub name: String,
    pub description: Option<String>,
    pub sync_status: SyncStatus,
    pub sync_error: Option<String>,
    pub synced_at: Option<Timestamp>,
    pub created_by: Option<Id>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Who a grant gives a role to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Grantee {
    User(Id),
    Team(Id),
    Client(Id),
}

impl Grantee {
    pub const fn kind(self) -> &'static str {
        match self {
            Self::User(_) => "user",
            Self::Team(_) => "team",
            Self::Client(_) => "client",
        }
    }

    pub const fn id(self) -> Id {
        match self {
            Self::User(id) | Self::Team(id) | Self::Client(id) => id,
        }
    }

    pub fn from_kind(kind: &str, id: Id) -> Option<Self> {
        Some(match kind {
            "user" => Self::User(id),
            "team" => Self::Team(id),
            "client" => Self::Client(id),
            _ => return None,
        })
    }
}

impl fmt::Display for Grantee {
    /// `user:<id>`, `team:<id>` or `client:<id>`: also the `sub` of vault tokens.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind(), self.id())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub vault_id: Id,
    pub grantee: Grantee,
    pub role: VaultRole,
    pub granted_by: Option<Id>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A person's role on a vault: the highest of their own grant and their teams' grants.
pub fn effective_role(own: Option<VaultRole>, teams: impl IntoIterator<Item = VaultRole>) -> Option<VaultRole> {
    teams.into_iter().chain(own).max()
}

/// A service identity of an organization: it proves who it is with its certificates'
/// private keys, which Purser never holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceClient {
    pub id: Id,
    pub org_id: Id,
    pub name: String,
    pub description: Option<String>,
    pub disabled: bool,
    pub created_by: Option<Id>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Most live certificates a client may hold at once (rotation needs two).
pub const MAX_CERTIFICATES_PER_CLIENT: usize = 10;

/// A client's Ed25519 public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    pub id: Id,
    pub client_id: Id,
    pub org_id: Id,
    pub kid: String,
    pub name: String,
    pub public_key: [u8; 32],
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

impl Certificate {
    /// The `kid` a client names this certificate by in its assertions' header.
    pub fn kid_for(client_id: Id, certificate_id: Id) -> String {
        format!("client-{client_id}-cert-{certificate_id}")
    }

    pub fn usable(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| at > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_and_round_trip() {
        assert!(VaultRole::Reader < VaultRole::Writer && VaultRole::Manager < VaultRole::Admin);
        for role in VaultRole::ALL {
            assert_eq!(role.as_str().parse::<VaultRole>(), Ok(role));
        }
        assert!("owner".parse::<VaultRole>().is_err());
    }

    #[test]
    fn the_effective_role_is_the_highest_grant() {
        use VaultRole::*;
        assert_eq!(effective_role(None, []), None);
        assert_eq!(effective_role(Some(Reader), []), Some(Reader));
        assert_eq!(effective_role(Some(Reader), [Manager, Writer]), Some(Manager));
        assert_eq!(effective_role(Some(Admin), [Writer]), Some(Admin));
        assert_eq!(effective_role(None, [Writer]), Some(Writer));
    }

    #[test]
    fn grantees_name_themselves_as_token_subjects() {
        let id = Id::from_i64(7);
        assert_eq!(Grantee::Client(id).to_string(), "client:7");
        assert_eq!(Grantee::from_kind("team", id), Some(Grantee::Team(id)));
        assert_eq!(Grantee::from_kind("org", id), None);
    }

    #[test]
    fn certificates_stop_at_revocation_or_expiry() {
        let now = Timestamp::from_millis(10_000);
        let cert = Certificate {
            id: Id::from_i64(2),
            client_id: Id::from_i64(1),
            org_id: Id::from_i64(3),
            kid: Certificate::kid_for(Id::from_i64(1), Id::from_i64(2)),
            name: "ci".into(),
            public_key: [0; 32],
            created_at: now,
            expires_at: Some(now.plus_secs(1)),
            last_used_at: None,
            revoked_at: None,
        };
        assert_eq!(cert.kid, "client-1-cert-2");
        assert!(cert.usable(now));
        assert!(!cert.usable(now.plus_secs(1)));
        assert!(!Certificate { revoked_at: Some(now), ..cert }.usable(now));
    }
}
