// One vault: its details, who has which role on it (members, teams and service clients),
// renaming and deleting it, revoking its tokens, and a vault token for the person.
import {
  Alert,
  Button,
  ClipboardCopy,
  DescriptionList,
  DescriptionListDescription,
  DescriptionListGroup,
  DescriptionListTerm,
  Flex,
  FlexItem,
  Form,
  FormSelect,
  FormSelectOption,
  Label,
  Modal,
  ModalBody,
  ModalHeader,
  Stack,
  StackItem,
  Title,
} from "@patternfly/react-core";
import { Table, Tbody, Td, Th, Thead, Tr } from "@patternfly/react-table";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { Link, useNavigate, useParams } from "react-router";
import { api, ApiError, call, type Schemas } from "../../api/client";
import { ConfirmButton } from "../../components/Confirm";
import { SelectField, Submit } from "../../components/form";
import { Empty, fieldError, Loaded, ProblemAlert } from "../../components/states";
import { dateTime } from "../../lib/format";
import {
  VAULT_ROLE_COLOR,
  VAULT_ROLES,
  vaultAtMost,
  type Abilities,
  type TabProps,
  type VaultRole,
} from "./access";
import { useAllClients, useAllMembers, useAllTeams } from "./queries";
import { SyncLabel, VaultForm } from "./Vaults";

type VaultDetail = Schemas["VaultDetailDto"];
type Grant = Schemas["GrantDto"];
type Kind = Schemas["GranteeType"];

const KINDS: readonly Kind[] = ["user", "team", "client"];
const KIND_COLOR = { user: "blue", team: "purple", client: "teal" } as const;

/** Gives a member, a team or a service client a role on the vault (or changes it). */
function putGrant(org: string, vault: string, kind: Kind, id: string, role: VaultRole) {
  const body = { role };
  switch (kind) {
    case "user":
      return call(
        api.PUT("/api/v1/organizations/{org}/vaults/{vault}/grants/users/{user}", {
          params: { path: { org, vault, user: id } },
          body,
        }),
      );
    case "team":
      return call(
        api.PUT("/api/v1/organizations/{org}/vaults/{vault}/grants/teams/{team}", {
          params: { path: { org, vault, team: id } },
          body,
        }),
      );
    case "client":
      return call(
        api.PUT("/api/v1/organizations/{org}/vaults/{vault}/grants/clients/{client}", {
          params: { path: { org, vault, client: id } },
          body,
        }),
      );
  }
}

function deleteGrant(org: string, vault: string, kind: Kind, id: string) {
  switch (kind) {
    case "user":
      return call(
        api.DELETE("/api/v1/organizations/{org}/vaults/{vault}/grants/users/{user}", {
          params: { path: { org, vault, user: id } },
        }),
      );
    case "team":
      return call(
        api.DELETE("/api/v1/organizations/{org}/vaults/{vault}/grants/teams/{team}", {
          params: { path: { org, vault, team: id } },
        }),
      );
    case "client":
      return call(
        api.DELETE("/api/v1/organizations/{org}/vaults/{vault}/grants/clients/{client}", {
          params: { path: { org, vault, client: id } },
        }),
      );
  }
}

interface Grantee {
  id: string;
  name: string;
  /** A member's address, shown beside the name. */
  detail?: string;
}

/** The members, teams and service clients of the organization by kind (undefined: loading). */
function useGrantees(org: string): Record<Kind, Grantee[] | undefined> {
  const members = useAllMembers(org);
  const teams = useAllTeams(org);
  const clients = useAllClients(org);
  return {
    user: members.data?.map((m) => ({ id: m.userId, name: m.name, detail: m.email })),
    team: teams.data?.map((team) => ({ id: team.id, name: team.name })),
    client: clients.data?.map((c) => ({ id: c.id, name: c.name })),
  };
}

/** Refreshes the vault (its grants, the person's own role) and the list's sync states. */
function useRefreshVault(org: string, vault: string) {
  const client = useQueryClient();
  return () =>
    Promise.all([
      client.invalidateQueries({ queryKey: ["org", org, "vault", vault] }),
      client.invalidateQueries({ queryKey: ["org", org, "vaults"] }),
    ]);
}

function AddGrant({
  org,
  vault,
  grants,
  grantees,
  roles,
}: {
  org: string;
  vault: VaultDetail;
  grants: Grant[];
  grantees: Record<Kind, Grantee[] | undefined>;
  roles: VaultRole[];
}) {
  const { t } = useTranslation();
  const refresh = useRefreshVault(org, vault.id);
  const [kind, setKind] = useState<Kind>("user");
  const [who, setWho] = useState("");
  const [role, setRole] = useState<VaultRole>(roles.includes("reader") ? "reader" : roles[0]!);
  const granted = new Set(grants.filter((g) => g.granteeType === kind).map((g) => g.granteeId));
  const loaded = grantees[kind];
  const choices = (loaded ?? []).filter((g) => !granted.has(g.id));
  const add = useMutation({
    mutationFn: () => putGrant(org, vault.id, kind, who, role),
    onSuccess: async () => {
      setWho("");
      await refresh();
    },
  });
  return (
    <Form
      isWidthLimited
      aria-labelledby="add-grant-title"
      onSubmit={(e) => {
        e.preventDefault();
        add.mutate();
      }}
    >
      <Title headingLevel="h3" id="add-grant-title">
        {t("organization.grants.add")}
      </Title>
      <ProblemAlert error={add.error} />
      <SelectField
        label={t("organization.grants.kind")}
        value={kind}
        onChange={(v) => {
          setKind(v as Kind);
          setWho("");
        }}
        options={KINDS.map((k) => ({ value: k, label: t(`organization.grants.kinds.${k}`) }))}
      />
      <SelectField
        label={t(`organization.grants.kinds.${kind}`)}
        value={who}
        onChange={setWho}
        isRequired
        hint={loaded && choices.length === 0 ? t(`organization.grants.nobody.${kind}`) : undefined}
        options={[
          { value: "", label: t(`organization.grants.choose.${kind}`) },
          ...choices.map((g) => ({
            value: g.id,
            label: g.detail ? `${g.name} (${g.detail})` : g.name,
          })),
        ]}
      />
      <SelectField
        label={t("fields.role")}
        value={role}
        onChange={(v) => setRole(v as VaultRole)}
        error={fieldError(add.error, "role")}
        options={roles.map((r) => ({ value: r, label: t(`organization.vaults.roles.${r}`) }))}
      />
      <Submit busy={add.isPending}>{t("organization.grants.submit")}</Submit>
    </Form>
  );
}

function Grants({ org, vault, can }: { org: string; vault: VaultDetail; can: Abilities }) {
  const { t } = useTranslation();
  const refresh = useRefreshVault(org, vault.id);
  const grantees = useGrantees(org);
  const myRole = vault.myRole ?? null;
  const grants = useQuery({
    queryKey: ["org", org, "vault", vault.id, "grants"],
    queryFn: () =>
      call(
        api.GET("/api/v1/organizations/{org}/vaults/{vault}/grants", {
          params: { path: { org, vault: vault.id } },
        }),
      ),
  });
  const change = useMutation({
    mutationFn: ({ grant, role }: { grant: Grant; role: VaultRole }) =>
      putGrant(org, vault.id, grant.granteeType, grant.granteeId, role),
    onSettled: refresh,
  });
  const remove = useMutation({
    mutationFn: (grant: Grant) => deleteGrant(org, vault.id, grant.granteeType, grant.granteeId),
    onSettled: refresh,
  });
  const find = (grant: Grant): Grantee =>
    grantees[grant.granteeType]?.find((g) => g.id === grant.granteeId) ?? {
      id: grant.granteeId,
      name: t("organization.grants.unknown", { id: grant.granteeId }),
    };
  const addable = VAULT_ROLES.filter((r) => can.changeGrant(myRole, null, r));
  return (
    <Stack hasGutter>
      <Title headingLevel="h3">{t("organization.grants.title")}</Title>
      <p>{t("organization.grants.explain")}</p>
      <ProblemAlert error={change.error ?? remove.error} />
      <Loaded query={grants}>
        {(list) => {
          // Members first, then teams, then clients; by name within each kind.
          const rows = list
            .map((grant) => ({ grant, who: find(grant) }))
            .sort(
              (a, b) =>
                KINDS.indexOf(a.grant.granteeType) - KINDS.indexOf(b.grant.granteeType) ||
                a.who.name.localeCompare(b.who.name),
            );
          return (
            <>
              {rows.length === 0 ? (
                <Empty title={t("organization.grants.none")} />
              ) : (
                <Table aria-label={t("organization.grants.title")} variant="compact">
                  <Thead>
                    <Tr>
                      <Th>{t("organization.grants.kind")}</Th>
                      <Th>{t("organization.grants.grantee")}</Th>
                      <Th>{t("fields.role")}</Th>
                      <Th>{t("fields.updated")}</Th>
                      <Th screenReaderText={t("common.actions")} />
                    </Tr>
                  </Thead>
                  <Tbody>
                    {rows.map(({ grant, who }) => {
                      const choices = VAULT_ROLES.filter(
                        (r) => r === grant.role || can.changeGrant(myRole, grant.role, r),
                      );
                      return (
                        <Tr key={`${grant.granteeType}-${grant.granteeId}`}>
                          <Td dataLabel={t("organization.grants.kind")}>
                            <Label color={KIND_COLOR[grant.granteeType]} isCompact>
                              {t(`organization.grants.kinds.${grant.granteeType}`)}
                            </Label>
                          </Td>
                          <Td dataLabel={t("organization.grants.grantee")}>
                            {who.name}
                            {who.detail ? (
                              <>
                                {" "}
                                <small>{who.detail}</small>
                              </>
                            ) : null}
                          </Td>
                          <Td dataLabel={t("fields.role")}>
                            {choices.length < 2 ? (
                              <Label color={VAULT_ROLE_COLOR[grant.role]}>
                                {t(`organization.vaults.roles.${grant.role}`)}
                              </Label>
                            ) : (
                              <FormSelect
                                aria-label={t("organization.grants.roleOf", { name: who.name })}
                                value={grant.role}
                                onChange={(_, v) => change.mutate({ grant, role: v as VaultRole })}
                                isDisabled={change.isPending}
                              >
                                {choices.map((r) => (
                                  <FormSelectOption
                                    key={r}
                                    value={r}
                                    label={t(`organization.vaults.roles.${r}`)}
                                  />
                                ))}
                              </FormSelect>
                            )}
                          </Td>
                          <Td dataLabel={t("fields.updated")}>{dateTime(grant.updatedAt)}</Td>
                          <Td dataLabel={t("common.actions")} isActionCell>
                            {can.changeGrant(myRole, grant.role, null) ? (
                              <ConfirmButton
                                label={t("common.remove")}
                                title={t("organization.grants.removeTitle", {
                                  name: who.name,
                                  vault: vault.name,
                                })}
                                body={t("organization.grants.removeBody")}
                                confirm={t("common.remove")}
                                onConfirm={() => remove.mutateAsync(grant).catch(() => undefined)}
                              />
                            ) : null}
                          </Td>
                        </Tr>
                      );
                    })}
                  </Tbody>
                </Table>
              )}
              {addable.length > 0 ? (
                <AddGrant
                  org={org}
                  vault={vault}
                  grants={list}
                  grantees={grantees}
                  roles={addable}
                />
              ) : null}
            </>
          );
        }}
      </Loaded>
    </Stack>
  );
}

/** A vault token for the signed-in person, at most their role; shown once. */
function TokenForMe({
  org,
  vault,
  myRole,
}: {
  org: string;
  vault: VaultDetail;
  myRole: VaultRole;
}) {
  const { t } = useTranslation();
  const roles = VAULT_ROLES.filter((r) => vaultAtMost(r, myRole));
  const [role, setRole] = useState<VaultRole>(myRole);
  const issue = useMutation({
    mutationFn: () =>
      call(
        api.POST("/api/v1/organizations/{org}/vaults/{vault}/tokens", {
          params: { path: { org, vault: vault.id } },
          body: { role: vaultAtMost(role, myRole) ? role : myRole },
        }),
      ),
  });
  const token = issue.data;
  return (
    <Stack hasGutter>
      <Title headingLevel="h3" id="vault-token-title">
        {t("organization.vaults.token.title")}
      </Title>
      <p>{t("organization.vaults.token.explain")}</p>
      <Form
        isWidthLimited
        aria-labelledby="vault-token-title"
        onSubmit={(e) => {
          e.preventDefault();
          issue.mutate();
        }}
      >
        <ProblemAlert error={issue.error} />
        <SelectField
          label={t("organization.vaults.token.role")}
          value={role}
          onChange={(v) => setRole(v as VaultRole)}
          options={roles.map((r) => ({ value: r, label: t(`organization.vaults.roles.${r}`) }))}
        />
        <Submit busy={issue.isPending}>{t("organization.vaults.token.get")}</Submit>
      </Form>
      {token ? (
        <Alert
          variant="success"
          isInline
          title={t("organization.vaults.token.issued", {
            name: vault.name,
            role: t(`organization.vaults.roles.${token.vaultRole}`),
          })}
          actionLinks={
            <Button variant="link" isInline onClick={() => issue.reset()}>
              {t("common.close")}
            </Button>
          }
        >
          <Stack hasGutter>
            <p>
              {t("organization.vaults.token.once")}{" "}
              {t("organization.vaults.token.expires", { count: token.expiresIn })}
            </p>
            <ClipboardCopy
              isReadOnly
              hoverTip={t("common.copy")}
              clickTip={t("common.copied")}
              textAriaLabel={t("organization.vaults.token.access")}
              toggleAriaLabel={t("common.copy")}
            >
              {token.accessToken}
            </ClipboardCopy>
            <ClipboardCopy
              isReadOnly
              hoverTip={t("common.copy")}
              clickTip={t("common.copied")}
              textAriaLabel={t("organization.vaults.token.refresh")}
              toggleAriaLabel={t("common.copy")}
            >
              {token.refreshToken}
            </ClipboardCopy>
            <small>{t("organization.vaults.token.refreshHint")}</small>
          </Stack>
        </Alert>
      ) : null}
    </Stack>
  );
}

function VaultPage({ vault, org, can }: TabProps & { vault: VaultDetail }) {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const client = useQueryClient();
  const refresh = useRefreshVault(org.id, vault.id);
  const [editing, setEditing] = useState(false);
  const myRole = vault.myRole ?? null;
  const mayManage = can.manageVault(myRole);
  const vaultsPath = `/organizations/${org.id}/vaults`;
  const path = { params: { path: { org: org.id, vault: vault.id } } };
  const remove = useMutation({
    mutationFn: () => call(api.DELETE("/api/v1/organizations/{org}/vaults/{vault}", path)),
    onSuccess: async () => {
      navigate(vaultsPath);
      client.removeQueries({ queryKey: ["org", org.id, "vault", vault.id] });
      await client.invalidateQueries({ queryKey: ["org", org.id, "vaults"] });
    },
  });
  const revoke = useMutation({
    mutationFn: () =>
      call(api.POST("/api/v1/organizations/{org}/vaults/{vault}/tokens/revoke", path)),
    onSuccess: async () => {
      remove.reset();
      await refresh();
    },
  });
  const resync = useMutation({
    mutationFn: () => call(api.POST("/api/v1/organizations/{org}/vaults/{vault}/sync", path)),
    onSuccess: refresh,
  });
  const revokeButton = (
    <ConfirmButton
      label={t("organization.vaults.revokeTokens")}
      title={t("organization.vaults.revokeTitle", { name: vault.name })}
      body={t("organization.vaults.revokeBody")}
      confirm={t("organization.vaults.revokeTokens")}
      onConfirm={() => revoke.mutateAsync().catch(() => undefined)}
    />
  );
  const hasTokens = remove.error instanceof ApiError && remove.error.code === "vault_has_tokens";
  return (
    <Stack hasGutter>
      <StackItem>
        <Link to={vaultsPath}>{t("organization.vaults.back")}</Link>
      </StackItem>
      <StackItem>
        <Flex justifyContent={{ default: "justifyContentSpaceBetween" }}>
          <FlexItem>
            <Title headingLevel="h2">
              {vault.name} <SyncLabel vault={vault} />
            </Title>
          </FlexItem>
          {mayManage ? (
            <FlexItem>
              <Button variant="secondary" onClick={() => setEditing(true)}>
                {t("common.edit")}
              </Button>
              {vault.syncStatus !== "synced" ? (
                <Button
                  variant="secondary"
                  isLoading={resync.isPending}
                  onClick={() => resync.mutate()}
                >
                  {t("organization.vaults.resync")}
                </Button>
              ) : null}
              {revokeButton}
              <ConfirmButton
                label={t("common.delete")}
                title={t("organization.vaults.deleteTitle", { name: vault.name })}
                body={t("organization.vaults.deleteBody")}
                confirm={t("common.delete")}
                onConfirm={() => remove.mutateAsync().catch(() => undefined)}
              />
            </FlexItem>
          ) : null}
        </Flex>
      </StackItem>
      <StackItem>
        {hasTokens ? (
          <Alert
            variant="warning"
            isInline
            title={t("errors.codes.vault_has_tokens")}
            actionLinks={revokeButton}
          >
            {t("organization.vaults.hasTokens")}
          </Alert>
        ) : (
          <ProblemAlert error={remove.error} />
        )}
        <ProblemAlert error={revoke.error} />
        <ProblemAlert error={resync.error} />
        {revoke.data ? (
          <Alert
            variant="success"
            isInline
            title={t("organization.vaults.revoked", { count: revoke.data.revoked })}
          />
        ) : null}
        <DescriptionList isHorizontal>
          <DescriptionListGroup>
            <DescriptionListTerm>{t("fields.description")}</DescriptionListTerm>
            <DescriptionListDescription>{vault.description ?? "—"}</DescriptionListDescription>
          </DescriptionListGroup>
          <DescriptionListGroup>
            <DescriptionListTerm>{t("organization.vaults.yourRole")}</DescriptionListTerm>
            <DescriptionListDescription>
              {myRole ? (
                <Label color={VAULT_ROLE_COLOR[myRole]}>
                  {t(`organization.vaults.roles.${myRole}`)}
                </Label>
              ) : (
                t("organization.vaults.noRole")
              )}
            </DescriptionListDescription>
          </DescriptionListGroup>
          <DescriptionListGroup>
            <DescriptionListTerm>{t("fields.created")}</DescriptionListTerm>
            <DescriptionListDescription>{dateTime(vault.createdAt)}</DescriptionListDescription>
          </DescriptionListGroup>
          <DescriptionListGroup>
            <DescriptionListTerm>{t("organization.vaults.syncedAt")}</DescriptionListTerm>
            <DescriptionListDescription>{dateTime(vault.syncedAt)}</DescriptionListDescription>
          </DescriptionListGroup>
        </DescriptionList>
      </StackItem>
      <StackItem>
        <Grants org={org.id} vault={vault} can={can} />
      </StackItem>
      {myRole && org.status === "active" ? (
        <StackItem>
          <TokenForMe org={org.id} vault={vault} myRole={myRole} />
        </StackItem>
      ) : null}
      <Modal
        variant="medium"
        isOpen={editing}
        onClose={() => setEditing(false)}
        aria-labelledby="edit-vault-title"
      >
        <ModalHeader
          title={t("organization.vaults.editTitle", { name: vault.name })}
          labelId="edit-vault-title"
        />
        <ModalBody>
          <VaultForm org={org.id} vault={vault} onDone={() => setEditing(false)} />
        </ModalBody>
      </Modal>
    </Stack>
  );
}

export function Vault(props: TabProps) {
  const { vault: id = "" } = useParams();
  const org = props.org.id;
  const vault = useQuery({
    queryKey: ["org", org, "vault", id],
    queryFn: () =>
      call(
        api.GET("/api/v1/organizations/{org}/vaults/{vault}", {
          params: { path: { org, vault: id } },
        }),
      ),
  });
  return <Loaded query={vault}>{(v) => <VaultPage {...props} vault={v} />}</Loaded>;
}
