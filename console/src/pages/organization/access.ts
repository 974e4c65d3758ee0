// What the signed-in person may do in one organization. This mirrors the server's policy
// (crates/domain/src/policy.rs) only to hide controls that would be refused; the server
// still decides, and a refusal shows as its message.
import type { Schemas } from "../../api/client";
import type { User } from "../../lib/session";

export type Org = Schemas["OrganizationDto"];
export type OrgRole = Schemas["OrgRole"];
export type Permission = Schemas["Permission"];
export type VaultRole = Schemas["VaultRole"];

/** Highest first, as people read them. */
export const ORG_ROLES: readonly OrgRole[] = ["owner", "admin", "member", "viewer"];

export const ROLE_COLOR = {
  owner: "purple",
  admin: "blue",
  member: "green",
  viewer: "grey",
} as const;

export const PERMISSIONS: readonly Permission[] = [
  "inviteMembers",
  "revokeInvitations",
  "manageTeams",
  "manageTeamMembers",
  "manageClients",
  "manageVaults",
  "readAuditLog",
];

/** Lowest first, as the API orders them. */
export const VAULT_ROLES: readonly VaultRole[] = ["reader", "writer", "manager", "admin"];

export const VAULT_ROLE_COLOR = {
  reader: "grey",
  writer: "green",
  manager: "blue",
  admin: "purple",
} as const;

const VAULT_RANK: Record<VaultRole, number> = { reader: 0, writer: 1, manager: 2, admin: 3 };
/** Whether a vault role (none counts as the lowest) is at most `max`. */
export const vaultAtMost = (role: VaultRole | null, max: VaultRole) =>
  role === null || VAULT_RANK[role] <= VAULT_RANK[max];

const RANK: Record<OrgRole, number> = { viewer: 0, member: 1, admin: 2, owner: 3 };
const atLeast = (role: OrgRole | null, min: OrgRole) => role !== null && RANK[role] >= RANK[min];
const atMost = (role: OrgRole, max: OrgRole) => RANK[role] <= RANK[max];

export function abilities(user: User, org: Org, delegated: ReadonlySet<Permission>) {
  const role = org.myRole ?? null;
  const platformAdmin = user.role === "admin";
  const has = (p: Permission) => role !== null && delegated.has(p);
  // Read-only platform admins read everything; nobody changes a suspended organization.
  const reads = (allowed: boolean) => platformAdmin || user.role === "adminReadonly" || allowed;
  const changes = (allowed: boolean) => org.status === "active" && (platformAdmin || allowed);
  const owner = role === "owner";
  const admin = atLeast(role, "admin");
  return {
    settings: platformAdmin || admin,
    rename: changes(admin),
    delete: !org.isDefault && changes(owner),
    transferOwnership: changes(owner),
    grantPermissions: changes(owner),
    leave: !org.isDefault && org.status === "active" && role !== null,
    readInvitations: reads(admin || has("inviteMembers") || has("revokeInvitations")),
    invite: (to: OrgRole) =>
      changes(
        (admin && (to !== "owner" || owner)) || (has("inviteMembers") && atMost(to, "member")),
      ),
    revokeInvitation: changes(admin || has("revokeInvitations")),
    changeRole: (from: OrgRole, to: OrgRole) =>
      changes(owner || (role === "admin" && atMost(from, "member") && atMost(to, "member"))),
    removeMember: (target: OrgRole) =>
      !org.isDefault && changes(owner || (role === "admin" && atMost(target, "member"))),
    manageTeams: changes(admin || has("manageTeams")),
    manageTeamMembers: (managesTeam: boolean) =>
      changes(admin || has("manageTeamMembers") || managesTeam),
    readAudit: reads(owner || has("readAuditLog")),
    uploadDocuments: changes(atLeast(role, "member")),
    /** Renaming and deleting: admins any document, members their own. */
    manageDocument: (ownerId: string) =>
      changes(admin || (atLeast(role, "member") && ownerId === user.id)),
    manageFiles: changes(admin),
    /** Asking the time-stamping authority to stamp documents (it changes nothing in them). */
    timestampDocuments: changes(atLeast(role, "member")),
    editDocumentTypes: changes(admin),
    editTimestampUploads: changes(admin),
    readWebhooks: reads(admin),
    manageWebhooks: changes(admin),
    // Vaults, their grants and the service clients: everyone in the organization reads.
    createVault: changes(admin || has("manageVaults")),
    /** Renaming, deleting a vault and revoking its tokens; `vaultRole` is the person's own. */
    manageVault: (vaultRole: VaultRole | null) =>
      changes(admin || has("manageVaults") || vaultRole === "admin"),
    /**
     * Changing a grant from `from` to `to` (null: no grant) on a vault where the person's
     * role is `vaultRole`: its managers give and take roles up to manager, never an admin's.
     */
    changeGrant: (vaultRole: VaultRole | null, from: VaultRole | null, to: VaultRole | null) =>
      changes(
        admin ||
          has("manageVaults") ||
          vaultRole === "admin" ||
          (vaultRole === "manager" && vaultAtMost(from, "manager") && vaultAtMost(to, "manager")),
      ),
    manageClients: changes(admin || has("manageClients")),
  };
}

export type Abilities = ReturnType<typeof abilities>;

/** What every tab of an organization gets. */
export interface TabProps {
  org: Org;
  user: User;
  can: Abilities;
}
