import { Button, Grid, GridItem, Label, PageSection } from "@patternfly/react-core";
import { Table, Tbody, Td, Th, Thead, Tr } from "@patternfly/react-table";
import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { api, call, type Schemas } from "../../api/client";
import { ConfirmButton } from "../../components/Confirm";
import { numberOrNull, TextField } from "../../components/form";
import { PageHeader } from "../../components/PageHeader";
import { Pager } from "../../components/Pager";
import { Empty, fieldError, Loaded, ProblemAlert } from "../../components/states";
import { dateTime, number } from "../../lib/format";
import { Dialog, FIRST_PAGE, ReadOnlyNote, SaveForm, text, useCanWrite, useFields } from "./shared";

type Organization = Schemas["OrganizationDto"];

function useRefreshOrganizations() {
  const client = useQueryClient();
  return () =>
    Promise.all([
      client.invalidateQueries({ queryKey: ["admin", "organizations"] }),
      client.invalidateQueries({ queryKey: ["organizations"] }),
    ]);
}

const MIB = 1024 * 1024;

/** A quota typed in MiB, as the bytes the API wants (`null`: none). */
function mibToBytes(value: string): number | null {
  const mib = numberOrNull(value);
  return mib === null ? null : Math.round(mib * MIB);
}

function QuotaForm({ org, onClose }: { org: Organization; onClose: () => void }) {
  const { t } = useTranslation();
  const refresh = useRefreshOrganizations();
  const [f, set] = useFields({
    maxMembers: text(org.maxMembers),
    maxTeams: text(org.maxTeams),
    // Shown in MiB; the API counts bytes.
    maxStorageMib: text(org.maxStorageBytes ? Math.ceil(org.maxStorageBytes / MIB) : null),
  });
  const save = useMutation({
    mutationFn: () =>
      call(
        api.PATCH("/api/v1/organizations/{org}", {
          params: { path: { org: org.id } },
          body: {
            maxMembers: numberOrNull(f.maxMembers),
            maxTeams: numberOrNull(f.maxTeams),
            maxStorageBytes: mibToBytes(f.maxStorageMib),
          },
        }),
      ),
    onSuccess: async () => {
      await refresh();
      onClose();
    },
  });
  return (
    <Dialog title={t("admin.organizations.quotasTitle", { name: org.name })} onClose={onClose}>
      <SaveForm
        onSubmit={() => save.mutate()}
        onCancel={onClose}
        error={save.error}
        busy={save.isPending}
      >
        <Grid hasGutter md={6}>
          <GridItem>
            <TextField
              label={t("admin.organizations.maxMembers")}
              type="number"
              value={f.maxMembers}
              onChange={set("maxMembers")}
              error={fieldError(save.error, "maxMembers")}
              hint={t("admin.noLimitHint")}
            />
          </GridItem>
          <GridItem>
            <TextField
              label={t("admin.organizations.maxTeams")}
              type="number"
              value={f.maxTeams}
              onChange={set("maxTeams")}
              error={fieldError(save.error, "maxTeams")}
              hint={t("admin.noLimitHint")}
            />
          </GridItem>
          <GridItem>
            <TextField
              label={t("admin.organizations.maxStorage")}
              type="number"
              value={f.maxStorageMib}
              onChange={set("maxStorageMib")}
              error={fieldError(save.error, "maxStorageBytes")}
              hint={t("admin.noLimitHint")}
            />
          </GridItem>
        </Grid>
      </SaveForm>
    </Dialog>
  );
}

/** A count against its quota, if it has one. */
function OfQuota({ count, quota }: { count?: number | null; quota?: number | null }) {
  const { t } = useTranslation();
  if (quota === null || quota === undefined) return <>{number(count)}</>;
  return <>{t("admin.organizations.ofQuota", { count: number(count), quota: number(quota) })}</>;
}

function OrgActions({
  org,
  onQuotas,
  onSuspend,
  busy,
}: {
  org: Organization;
  onQuotas: () => void;
  onSuspend: (suspended: boolean) => Promise<unknown>;
  busy: boolean;
}) {
  const { t } = useTranslation();
  return (
    <>
      {org.status === "suspended" ? (
        // A suspended organization cannot be changed, quotas included, until it is resumed.
        <Button
          variant="link"
          onClick={() => void onSuspend(false)}
          isLoading={busy}
          isDisabled={busy}
        >
          {t("admin.organizations.resume")}
        </Button>
      ) : (
        <>
          <Button variant="link" onClick={onQuotas}>
            {t("admin.organizations.quotas")}
          </Button>
          {org.isDefault ? null : (
            <ConfirmButton
              label={t("admin.organizations.suspend")}
              title={t("admin.organizations.suspendTitle", { name: org.name })}
              body={t("admin.organizations.suspendBody")}
              confirm={t("admin.organizations.suspend")}
              onConfirm={() => onSuspend(true)}
            />
          )}
        </>
      )}
    </>
  );
}

export default function AdminOrganizations() {
  const { t } = useTranslation();
  const canWrite = useCanWrite();
  const refresh = useRefreshOrganizations();
  const [page, setPage] = useState(FIRST_PAGE);
  const [editing, setEditing] = useState<Organization | null>(null);
  const organizations = useQuery({
    queryKey: ["admin", "organizations", page],
    queryFn: () =>
      call(api.GET("/api/v1/organizations", { params: { query: { all: true, ...page } } })),
    placeholderData: keepPreviousData,
  });
  const suspend = useMutation({
    mutationFn: ({ id, suspended }: { id: string; suspended: boolean }) =>
      call(
        api.POST(
          suspended ? "/api/v1/organizations/{org}/suspend" : "/api/v1/organizations/{org}/resume",
          { params: { path: { org: id } } },
        ),
      ),
    onSettled: refresh,
  });
  return (
    <>
      <PageHeader
        title={t("admin.organizations.title")}
        description={t("admin.organizations.description")}
      />
      <ReadOnlyNote />
      <PageSection>
        <ProblemAlert error={suspend.error} />
        <Loaded query={organizations}>
          {(result) =>
            result.pagination.total === 0 ? (
              <Empty title={t("admin.organizations.none")} />
            ) : (
              <>
                <Table aria-label={t("admin.organizations.title")} variant="compact">
                  <Thead>
                    <Tr>
                      <Th>{t("fields.name")}</Th>
                      <Th>{t("fields.status")}</Th>
                      <Th>{t("admin.organizations.members")}</Th>
                      <Th>{t("admin.organizations.maxTeams")}</Th>
                      <Th>{t("fields.created")}</Th>
                      {canWrite ? <Th screenReaderText={t("common.actions")} /> : null}
                    </Tr>
                  </Thead>
                  <Tbody>
                    {result.data.map((org) => (
                      <Tr key={org.id}>
                        <Td dataLabel={t("fields.name")}>
                          {org.name}{" "}
                          {org.isDefault ? (
                            <Label isCompact color="blue">
                              {t("admin.organizations.default")}
                            </Label>
                          ) : null}
                        </Td>
                        <Td dataLabel={t("fields.status")}>
                          {org.status === "suspended" ? (
                            <Label color="red">{t("admin.organizations.suspended")}</Label>
                          ) : (
                            <Label color="green">{t("admin.organizations.active")}</Label>
                          )}
                        </Td>
                        <Td dataLabel={t("admin.organizations.members")}>
                          <OfQuota count={org.memberCount} quota={org.maxMembers} />
                        </Td>
                        <Td dataLabel={t("admin.organizations.maxTeams")}>
                          {org.maxTeams ? number(org.maxTeams) : t("admin.unlimited")}
                        </Td>
                        <Td dataLabel={t("fields.created")}>{dateTime(org.createdAt)}</Td>
                        {canWrite ? (
                          <Td isActionCell>
                            <OrgActions
                              org={org}
                              onQuotas={() => setEditing(org)}
                              onSuspend={(suspended) =>
                                suspend
                                  .mutateAsync({ id: org.id, suspended })
                                  .catch(() => undefined)
                              }
                              busy={suspend.isPending && suspend.variables.id === org.id}
                            />
                          </Td>
                        ) : null}
                      </Tr>
                    ))}
                  </Tbody>
                </Table>
                <Pager
                  {...page}
                  total={result.pagination.total}
                  onChange={(p, l) => setPage({ page: p, limit: l })}
                />
              </>
            )
          }
        </Loaded>
      </PageSection>
      {editing ? <QuotaForm org={editing} onClose={() => setEditing(null)} /> : null}
    </>
  );
}
