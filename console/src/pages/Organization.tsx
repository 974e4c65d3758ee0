import { Alert, PageSection, Tab, Tabs, TabTitleText } from "@patternfly/react-core";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import {
  Navigate,
  Route,
  Routes,
  useHref,
  useLocation,
  useNavigate,
  useParams,
} from "react-router";
import { api, call } from "../api/client";
import { ConfirmButton } from "../components/Confirm";
import { PageHeader } from "../components/PageHeader";
import { Loaded, ProblemAlert } from "../components/states";
import { useMe, type User } from "../lib/session";
import { abilities, type Org, type Permission, type TabProps } from "./organization/access";
import { Audit } from "./organization/Audit";
import { Client } from "./organization/Client";
import { Clients } from "./organization/Clients";
import { Documents } from "./organization/Documents";
import { Invitations } from "./organization/Invitations";
import { Members } from "./organization/Members";
import { useDelegated, useOrg } from "./organization/queries";
import { Settings } from "./organization/Settings";
import { Team } from "./organization/Team";
import { Teams } from "./organization/Teams";
import { Vault } from "./organization/Vault";
import { Vaults } from "./organization/Vaults";
import { Webhooks } from "./organization/Webhooks";

const NONE: ReadonlySet<Permission> = new Set();

function Leave({ org }: { org: Org }) {
  const { t } = useTranslation();
  const client = useQueryClient();
  const navigate = useNavigate();
  const leave = useMutation({
    mutationFn: () =>
      call(api.POST("/api/v1/organizations/{org}/leave", { params: { path: { org: org.id } } })),
    onSuccess: async () => {
      navigate("/organizations");
      client.removeQueries({ queryKey: ["org", org.id] });
      // Leaving revokes the person's keys billed to the organization's teams.
      await Promise.all([
        client.invalidateQueries({ queryKey: ["org", "list"] }),
        client.invalidateQueries({ queryKey: ["my-teams"] }),
        client.invalidateQueries({ queryKey: ["api-keys"] }),
      ]);
    },
  });
  return (
    <>
      <ConfirmButton
        label={t("organization.leave")}
        title={t("organization.leaveTitle", { name: org.name })}
        body={t("organization.leaveBody")}
        confirm={t("organization.leave")}
        onConfirm={() => leave.mutateAsync().catch(() => undefined)}
      />
      <ProblemAlert error={leave.error} />
    </>
  );
}

const PANEL = "organization-tab-panel";

function OrgPage({ org, user }: { org: Org; user: User }) {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const { pathname } = useLocation();
  const base = `/organizations/${org.id}`;
  const href = useHref(base);
  // Owners and platform admins may do everything delegation could give.
  const mayGainMore = !!org.myRole && org.myRole !== "owner" && user.role !== "admin";
  const delegated = useDelegated(org.id, user.id, mayGainMore);
  const can = abilities(user, org, delegated.data ?? NONE);
  const tabs = [
    "members",
    ...(can.readInvitations ? ["invitations"] : []),
    "teams",
    "documents",
    "vaults",
    "clients",
    ...(can.readWebhooks ? ["webhooks"] : []),
    ...(can.readAudit ? ["audit"] : []),
    ...(can.settings ? ["settings"] : []),
  ];
  const active = pathname.slice(base.length + 1).split("/")[0] || "members";
  const props: TabProps = { org, user, can };
  const role = org.myRole
    ? t("organization.yourRole", { role: t(`organization.roles.${org.myRole}`) })
    : t("organization.notMember");
  return (
    <>
      <PageHeader
        title={org.name}
        description={org.isDefault ? `${role} ${t("organization.isDefault")}` : role}
        actions={can.leave ? <Leave org={org} /> : null}
      />
      <PageSection>
        {org.status === "suspended" ? (
          <Alert variant="warning" isInline title={t("organization.suspended")} />
        ) : null}
        <Tabs
          activeKey={active}
          aria-label={t("organization.tabs.label")}
          onSelect={(event, key) => {
            // Links open in a new tab as usual; a plain click stays in the page.
            if (event.ctrlKey || event.metaKey || event.shiftKey) return;
            event.preventDefault();
            navigate(`${base}/${key}`);
          }}
        >
          {tabs.map((tab) => (
            <Tab
              key={tab}
              eventKey={tab}
              href={`${href}/${tab}`}
              tabContentId={PANEL}
              title={<TabTitleText>{t(`organization.tabs.${tab}`)}</TabTitleText>}
            />
          ))}
        </Tabs>
      </PageSection>
      {/* One panel for every tab: the route below fills it. */}
      <PageSection id={PANEL} role="tabpanel" aria-label={t(`organization.tabs.${active}`)}>
        <Routes>
          <Route index element={<Navigate to={`${base}/members`} replace />} />
          <Route path="members" element={<Members {...props} />} />
          <Route path="invitations" element={<Invitations {...props} />} />
          <Route path="teams" element={<Teams {...props} />} />
          <Route path="teams/:team" element={<Team {...props} />} />
          <Route path="documents" element={<Documents {...props} />} />
          <Route path="vaults" element={<Vaults {...props} />} />
          <Route path="vaults/:vault" element={<Vault {...props} />} />
          <Route path="clients" element={<Clients {...props} />} />
          <Route path="clients/:client" element={<Client {...props} />} />
          <Route path="webhooks" element={<Webhooks {...props} />} />
          <Route path="audit" element={<Audit {...props} />} />
          <Route path="settings" element={<Settings {...props} />} />
          <Route path="*" element={<Navigate to={`${base}/members`} replace />} />
        </Routes>
      </PageSection>
    </>
  );
}

export default function Organization() {
  const { org: id = "" } = useParams();
  const me = useMe();
  const org = useOrg(id);
  return (
    <Loaded query={org}>{(o) => (me.data ? <OrgPage org={o} user={me.data} /> : null)}</Loaded>
  );
}
