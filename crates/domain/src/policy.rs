//! The one place that decides who may do what.
//!
//! Services call [`authorize`], [`authorize_org`] or [`authorize_owner`] first thing in
//! every use case; handlers never compare roles themselves. Each answers with an
//! [`Authorized`] proof, and a request's input can only be read with one
//! (`purser_services::Input`): no use case can judge a body before it has decided that
//! the caller may act at all. Resources owned by another user are reported as missing
//! (not as forbidden) so that their existence does not leak.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::id::Id;
use crate::org::{OrgRole, Permission};
use crate::vault::VaultRole;

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

/// Proof that the policy allowed an action. Only this module's checks make one, and
/// [`Authorized::public`] for the routes open to everyone: a use case reading its input
/// with a proof it got from `public()` is one anybody may call, which review can see at
/// each call (one place: `JsonBody::read_public` in the API).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Authorized(());

impl Authorized {
    /// For the use cases open to everyone, signed in or not (sign-up, sign-in, the links
    /// in mails): their only authorization is that they are public.
    pub const fn public() -> Self {
        Self(())
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
    /// List every organization, and read any of them.
    ReadAllOrganizations,
    /// List and read users.
    ReadUsers,
    /// Change users' roles and active flags.
    ManageUsers,
    /// Manage one's own account: addresses, password, sessions.
    ManageOwnAccount,
    /// Create an organization (and become its owner).
    CreateOrganization,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the {role} role may not {action:?}")]
pub struct Denied {
    pub role: PlatformRole,
    pub action: Action,
}

pub fn authorize(principal: &Principal, action: Action) -> Result<Authorized, Denied> {
    let role = principal.role;
    let allowed = match action {
        Action::ReadCatalog | Action::UseModels | Action::ManageOwnAccount | Action::CreateOrganization => true,
        Action::ReadModelAdmin
        | Action::ReadSubscriptionQueue
        | Action::ReadAuditLog
        | Action::ReadAllOrganizations
        | Action::ReadUsers => role >= PlatformRole::AdminReadonly,
        Action::ManageModels | Action::ReviewSubscriptions | Action::ManageUsers => role == PlatformRole::Admin,
        Action::ReadUsageOf(user) => user == principal.user_id || role >= PlatformRole::AdminReadonly,
    };
    if allowed { Ok(Authorized(())) } else { Err(Denied { role, action }) }
}

/// Someone else's resource, which to the principal does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not the principal's own")]
pub struct NotOwner;

/// A resource that belongs to one user (a key, a subscription, an address, a session):
/// its owner may act on it; to anyone else it does not exist.
pub fn authorize_owner(principal: &Principal, owner: Id) -> Result<Authorized, NotOwner> {
    if owner == principal.user_id { Ok(Authorized(())) } else { Err(NotOwner) }
}

/// The caller's standing in one organization: their role there (if a member) and what
/// the teams they belong to bring.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Standing {
    pub role: Option<OrgRole>,
    /// Permissions owners delegated to teams the caller belongs to.
    pub permissions: BTreeSet<Permission>,
    pub teams: BTreeSet<Id>,
    pub managed_teams: BTreeSet<Id>,
}

/// Everything one can ask to do inside an organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrgAction {
    /// See the organization, its members and teams.
    Read,
    /// Rename it.
    Update,
    /// Change members' roles, within what [`OrgAction::ChangeRole`] then allows.
    ManageMembers,
    Delete,
    /// Set member and team quotas (platform admins).
    ManageQuotas,
    /// Suspend or resume it (platform admins).
    Suspend,
    ReadInvitations,
    /// Invite anyone at all, within what [`OrgAction::Invite`] then allows.
    InviteAny,
    /// Invite someone with this role.
    Invite(OrgRole),
    RevokeInvitation,
    ChangeRole {
        from: OrgRole,
        to: OrgRole,
    },
    /// Remove a member who has this role.
    RemoveMember(OrgRole),
    TransferOwnership,
    Leave,
    /// Create, change and delete teams.
    ManageTeams,
    /// Add and remove the members of this team.
    ManageTeamMembers(Id),
    /// Delegate organization permissions to teams.
    GrantPermissions,
    ReadAudit,
    /// Create API keys billed to this team.
    UseTeam(Id),
    /// See its documents and download them (also through time-limited links).
    ReadDocuments,
    UploadDocuments,
    /// Rename or delete a document uploaded by `owner`.
    ManageDocument {
        owner: Id,
    },
    /// Ask the time-stamping authority to stamp documents (an addition that proves when the
    /// bytes existed; it changes nothing in them).
    TimestampDocuments,
    /// List and remove the stored files no document names any more.
    ManageFiles,
    /// See the webhooks and their delivery logs.
    ReadWebhooks,
    /// Create, change, delete webhooks and redeliver.
    ManageWebhooks,
    /// See the vaults and their grants, and the service clients with their public keys.
    ReadVaults,
    CreateVault,
    /// Rename, describe, delete, re-sync a vault or revoke its tokens; `vault_role` is the
    /// caller's own effective role on it.
    ManageVault {
        vault_role: Option<VaultRole>,
    },
    /// Change a grant on a vault from `from` to `to` (`None`: no grant), as someone whose
    /// effective role on the vault is `vault_role`.
    ChangeGrant {
        vault_role: Option<VaultRole>,
        from: Option<VaultRole>,
        to: Option<VaultRole>,
    },
    /// Create, rename, disable, delete service clients and their certificates.
    ManageClients,
}

/// Why an organization action is refused. Someone with no standing in the organization is
/// told it does not exist, so its existence does not leak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrgDenied {
    NotFound,
    Forbidden,
}

impl OrgAction {
    /// Reads that read-only platform admins may do in any organization.
    pub const fn is_read(self) -> bool {
        matches!(
            self,
            Self::Read
                | Self::ReadInvitations
                | Self::ReadAudit
                | Self::ReadDocuments
                | Self::ReadWebhooks
                | Self::ReadVaults
        )
    }
}

pub fn authorize_org(principal: &Principal, standing: &Standing, action: OrgAction) -> Result<Authorized, OrgDenied> {
    if principal.role == PlatformRole::Admin {
        return Ok(Authorized(()));
    }
    let platform_reader = principal.role == PlatformRole::AdminReadonly;
    let Some(role) = standing.role else {
        return match (platform_reader, action.is_read()) {
            (true, true) => Ok(Authorized(())),
            (true, false) => Err(OrgDenied::Forbidden),
            (false, _) => Err(OrgDenied::NotFound),
        };
    };
    let has = |p: Permission| standing.permissions.contains(&p);
    use OrgRole::{Admin, Member, Owner};
    let allowed = match action {
        OrgAction::Read | OrgAction::Leave => true,
        OrgAction::Update | OrgAction::ManageMembers => role >= Admin,
        OrgAction::Delete | OrgAction::TransferOwnership | OrgAction::GrantPermissions => role == Owner,
        OrgAction::ManageQuotas | OrgAction::Suspend => false,
        OrgAction::ReadInvitations => {
            role >= Admin || has(Permission::InviteMembers) || has(Permission::RevokeInvitations)
        }
        OrgAction::InviteAny => role >= Admin || has(Permission::InviteMembers),
        // Only an owner makes owners; a delegated right to invite covers members and viewers.
        OrgAction::Invite(invited) => {
            (role >= Admin && (invited < Owner || role == Owner))
                || (has(Permission::InviteMembers) && invited <= Member)
        }
        OrgAction::RevokeInvitation => role >= Admin || has(Permission::RevokeInvitations),
        // Admins manage members and viewers; only owners touch admins and owners.
        OrgAction::ChangeRole { from, to } => role == Owner || (role == Admin && from <= Member && to <= Member),
        OrgAction::RemoveMember(target) => role == Owner || (role == Admin && target <= Member),
        OrgAction::ManageTeams => role >= Admin || has(Permission::ManageTeams),
        OrgAction::ManageTeamMembers(team) => {
            role >= Admin || has(Permission::ManageTeamMembers) || standing.managed_teams.contains(&team)
        }
        OrgAction::ReadAudit => role == Owner || has(Permission::ReadAuditLog),
        OrgAction::UseTeam(team) => role >= Admin || (role >= Member && standing.teams.contains(&team)),
        // Viewers read; members upload and manage what they uploaded; admins manage all.
        OrgAction::ReadDocuments => true,
        OrgAction::UploadDocuments => role >= Member,
        OrgAction::ManageDocument { owner } => role >= Admin || (role >= Member && owner == principal.user_id),
        OrgAction::TimestampDocuments => role >= Member,
        OrgAction::ManageFiles => role >= Admin,
        // A webhook's URL and delivery log show what the organization does: admins only.
        OrgAction::ReadWebhooks | OrgAction::ManageWebhooks => role >= Admin,
        // Vault names, grants and clients' public keys are no secret inside the organization;
        // tokens are what give access, and only grants give tokens.
        OrgAction::ReadVaults => true,
        OrgAction::CreateVault => role >= Admin || has(Permission::ManageVaults),
        OrgAction::ManageVault { vault_role } => {
            role >= Admin || has(Permission::ManageVaults) || vault_role == Some(VaultRole::Admin)
        }
        // A vault's managers hand out and take back roles up to their own, never an admin's.
        OrgAction::ChangeGrant { vault_role, from, to } => {
            role >= Admin
                || has(Permission::ManageVaults)
                || vault_role == Some(VaultRole::Admin)
                || (vault_role == Some(VaultRole::Manager)
                    && from.is_none_or(|r| r <= VaultRole::Manager)
                    && to.is_none_or(|r| r <= VaultRole::Manager))
        }
        OrgAction::ManageClients => role >= Admin || has(Permission::ManageClients),
    };
    if allowed || (platform_reader && action.is_read()) { Ok(Authorized(())) } else { Err(OrgDenied::Forbidden) }
}

/// Whether the principal sees every member of an organization. Everyone belongs to the
/// default organization, so there an ordinary member sees only themself (in its member
/// list and its Default Team's alike); its admins and the platform's see everyone.
pub fn sees_all_members(principal: &Principal, standing: &Standing, default_org: bool) -> bool {
    !default_org
        || principal.role >= PlatformRole::AdminReadonly
        || standing.role.is_some_and(|role| role >= OrgRole::Admin)
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

#[cfg(test)]
mod vault_tests {
    use super::*;
    use crate::org::OrgRole::{Admin, Member, Owner, Viewer};
    use crate::vault::VaultRole::{Admin as VAdmin, Manager, Reader, Writer};

    fn check(role: OrgRole, permissions: &[Permission], action: OrgAction) -> bool {
        let p = Principal { user_id: Id::from_i64(1), role: PlatformRole::User, session_id: Id::from_i64(9) };
        let standing =
            Standing { role: Some(role), permissions: permissions.iter().copied().collect(), ..Standing::default() };
        authorize_org(&p, &standing, action).is_ok()
    }

    #[test]
    fn org_admins_and_delegates_run_vaults_and_clients() {
        for action in [OrgAction::CreateVault, OrgAction::ManageVault { vault_role: None }, OrgAction::ManageClients] {
            assert!(check(Owner, &[], action) && check(Admin, &[], action), "{action:?}");
            assert!(!check(Member, &[], action) && !check(Viewer, &[], action), "{action:?}");
        }
        assert!(check(Member, &[Permission::ManageVaults], OrgAction::CreateVault));
        assert!(!check(Member, &[Permission::ManageClients], OrgAction::CreateVault));
        assert!(check(Member, &[Permission::ManageClients], OrgAction::ManageClients));
        assert!(check(Viewer, &[], OrgAction::ReadVaults));
    }

    #[test]
    fn vault_admins_manage_their_vault_and_managers_grant_within_their_role() {
        let grant = |vault_role, from, to| OrgAction::ChangeGrant { vault_role, from, to };
        assert!(check(Member, &[], OrgAction::ManageVault { vault_role: Some(VAdmin) }));
        assert!(!check(Member, &[], OrgAction::ManageVault { vault_role: Some(Manager) }));
        assert!(check(Member, &[], grant(Some(VAdmin), Some(VAdmin), None)));
        assert!(check(Member, &[], grant(Some(Manager), None, Some(Manager))));
        assert!(check(Member, &[], grant(Some(Manager), Some(Writer), Some(Reader))));
        assert!(!check(Member, &[], grant(Some(Manager), None, Some(VAdmin))), "above their role");
        assert!(!check(Member, &[], grant(Some(Manager), Some(VAdmin), None)), "an admin's grant");
        assert!(!check(Member, &[], grant(Some(Writer), None, Some(Reader))));
        assert!(!check(Viewer, &[], grant(None, None, Some(Reader))));
        assert!(check(Admin, &[], grant(None, None, Some(VAdmin))));
    }
}

#[cfg(test)]
mod org_tests {
    use super::*;
    use crate::org::OrgRole::{Admin, Member, Owner, Viewer};

    fn user(role: PlatformRole) -> Principal {
        Principal { user_id: Id::from_i64(1), role, session_id: Id::from_i64(9) }
    }

    fn standing(role: Option<OrgRole>) -> Standing {
        Standing { role, ..Standing::default() }
    }

    #[test]
    fn strangers_are_told_nothing_exists() {
        let stranger = user(PlatformRole::User);
        for action in
            [OrgAction::Read, OrgAction::Update, OrgAction::Delete, OrgAction::ReadAudit, OrgAction::Invite(Viewer)]
        {
            assert_eq!(authorize_org(&stranger, &standing(None), action), Err(OrgDenied::NotFound), "{action:?}");
        }
    }

    #[test]
    fn platform_roles() {
        let admin = user(PlatformRole::Admin);
        let reader = user(PlatformRole::AdminReadonly);
        assert!(authorize_org(&admin, &standing(None), OrgAction::Delete).is_ok());
        assert!(authorize_org(&admin, &standing(None), OrgAction::Suspend).is_ok());
        assert!(authorize_org(&reader, &standing(None), OrgAction::Read).is_ok());
        assert!(authorize_org(&reader, &standing(None), OrgAction::ReadAudit).is_ok());
        assert_eq!(authorize_org(&reader, &standing(None), OrgAction::Update), Err(OrgDenied::Forbidden));
        // Being a member adds nothing a platform role forbids, and takes nothing away.
        assert_eq!(authorize_org(&reader, &standing(Some(Viewer)), OrgAction::Suspend), Err(OrgDenied::Forbidden));
        assert!(authorize_org(&reader, &standing(Some(Owner)), OrgAction::Delete).is_ok());
    }

    #[test]
    fn member_roles() {
        let p = user(PlatformRole::User);
        let check = |role, action| authorize_org(&p, &standing(Some(role)), action).is_ok();
        assert!(check(Viewer, OrgAction::Read) && check(Viewer, OrgAction::Leave));
        assert!(
            !check(Viewer, OrgAction::Update) && !check(Member, OrgAction::Update) && check(Admin, OrgAction::Update)
        );
        assert!(!check(Admin, OrgAction::Delete) && check(Owner, OrgAction::Delete));
        assert!(
            check(Admin, OrgAction::Invite(Admin))
                && !check(Admin, OrgAction::Invite(Owner))
                && check(Owner, OrgAction::Invite(Owner))
        );
        assert!(check(Admin, OrgAction::ChangeRole { from: Viewer, to: Member }));
        assert!(!check(Admin, OrgAction::ChangeRole { from: Member, to: Admin }));
        assert!(!check(Admin, OrgAction::ChangeRole { from: Admin, to: Member }));
        assert!(check(Owner, OrgAction::ChangeRole { from: Owner, to: Viewer }));
        assert!(check(Admin, OrgAction::RemoveMember(Member)) && !check(Admin, OrgAction::RemoveMember(Admin)));
        assert!(!check(Owner, OrgAction::ManageQuotas) && !check(Owner, OrgAction::Suspend));
        assert!(!check(Admin, OrgAction::ReadAudit) && check(Owner, OrgAction::ReadAudit));
    }

    #[test]
    fn viewers_read_documents_members_manage_their_own_and_admins_all() {
        let p = user(PlatformRole::User);
        let (mine, theirs) =
            (OrgAction::ManageDocument { owner: p.user_id }, OrgAction::ManageDocument { owner: Id::from_i64(2) });
        let check = |role, action| authorize_org(&p, &standing(Some(role)), action).is_ok();
        assert!(check(Viewer, OrgAction::ReadDocuments));
        assert!(
            !check(Viewer, OrgAction::UploadDocuments)
                && !check(Viewer, mine)
                && !check(Viewer, OrgAction::ManageFiles)
        );
        assert!(check(Member, OrgAction::UploadDocuments) && check(Member, mine));
        assert!(check(Member, OrgAction::TimestampDocuments) && !check(Viewer, OrgAction::TimestampDocuments));
        assert!(!check(Member, theirs) && !check(Member, OrgAction::ManageFiles));
        for role in [Admin, Owner] {
            assert!(check(role, theirs) && check(role, OrgAction::ManageFiles), "{role:?}");
        }
        let reader = user(PlatformRole::AdminReadonly);
        assert!(authorize_org(&reader, &standing(None), OrgAction::ReadDocuments).is_ok());
        assert_eq!(authorize_org(&reader, &standing(None), OrgAction::UploadDocuments), Err(OrgDenied::Forbidden));
        assert_eq!(authorize_org(&reader, &standing(Some(Viewer)), theirs), Err(OrgDenied::Forbidden));
        let stranger = user(PlatformRole::User);
        assert_eq!(authorize_org(&stranger, &standing(None), OrgAction::ReadDocuments), Err(OrgDenied::NotFound));
    }

    #[test]
    fn delegated_permissions_and_team_managers() {
        let p = user(PlatformRole::User);
        let team = Id::from_i64(42);
        let mut s = standing(Some(Member));
        assert!(authorize_org(&p, &s, OrgAction::Invite(Member)).is_err());
        s.permissions.insert(Permission::InviteMembers);
        assert!(authorize_org(&p, &s, OrgAction::Invite(Member)).is_ok());
        assert!(authorize_org(&p, &s, OrgAction::Invite(Admin)).is_err(), "delegation stops at members");
        assert!(authorize_org(&p, &s, OrgAction::ReadInvitations).is_ok());
        assert!(authorize_org(&p, &s, OrgAction::ManageTeamMembers(team)).is_err());
        s.managed_teams.insert(team);
        assert!(authorize_org(&p, &s, OrgAction::ManageTeamMembers(team)).is_ok());
        assert!(authorize_org(&p, &s, OrgAction::ManageTeamMembers(Id::from_i64(43))).is_err());
        assert!(authorize_org(&p, &s, OrgAction::UseTeam(team)).is_err(), "managing is not belonging");
        s.teams.insert(team);
        assert!(authorize_org(&p, &s, OrgAction::UseTeam(team)).is_ok());
        let viewer = Standing { role: Some(Viewer), teams: s.teams.clone(), ..Standing::default() };
        assert!(authorize_org(&p, &viewer, OrgAction::UseTeam(team)).is_err(), "viewers cannot spend");
    }
}
