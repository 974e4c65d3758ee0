import { ActionGroup, Button, Checkbox, Form, Label, Switch, Title } from "@patternfly/react-core";
import { Table, Tbody, Td, Th, Thead, Tr } from "@patternfly/react-table";
import { useMutation } from "@tanstack/react-query";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { api, call, type Schemas } from "../../api/client";
import { ConfirmButton } from "../../components/Confirm";
import { SelectField } from "../../components/form";
import { Pager } from "../../components/Pager";
import { Empty, fieldError, Loaded, ProblemAlert } from "../../components/states";
import { date } from "../../lib/format";
import type { User } from "../../lib/session";
import type { Org } from "./access";
import { useAllMembers, useAllTeamMembers, useRefreshOrg, useTeamMembersPage } from "./queries";

type TeamDto = Schemas["TeamDto"];

function AddMember({ org, team, mayAppoint }: { org: string; team: string; mayAppoint: boolean }) {
  const { t } = useTranslation();
  const refresh = useRefreshOrg(org);
  const members = useAllMembers(org);
  const current = useAllTeamMembers(org, team);
  const [userId, setUserId] = useState("");
  const [manager, setManager] = useState(false);
  const add = useMutation({
    mutationFn: () =>
      call(
        api.POST("/api/v1/organizations/{org}/teams/{team}/members", {
          params: { path: { org, team } },
          body: { userId, manager },
        }),
      ),
    onSuccess: () => {
      setUserId("");
      setManager(false);
    },
    onSettled: refresh,
  });
  const inTeam = new Set(current.data?.map((m) => m.userId));
  const choices = (members.data ?? []).filter((m) => !inTeam.has(m.userId));
  return (
    <Form
      onSubmit={(e) => {
        e.preventDefault();
        add.mutate();
      }}
    >
      <Title headingLevel="h4">{t("organization.teamMembers.add")}</Title>
      <ProblemAlert error={add.error ?? members.error} />
      <SelectField
        label={t("organization.teamMembers.member")}
        value={userId}
        onChange={setUserId}
        options={[
          { value: "", label: t("organization.teamMembers.choose") },
          ...choices.map((m) => ({ value: m.userId, label: `${m.name} (${m.email})` })),
        ]}
        error={fieldError(add.error, "userId")}
        isRequired
      />
      {mayAppoint ? (
        <Checkbox
          id="team-add-manager"
          label={t("organization.teamMembers.asManager")}
          description={t("organization.teamMembers.managerHint")}
          isChecked={manager}
          onChange={(_, on) => setManager(on)}
        />
      ) : null}
      <ActionGroup>
        <Button type="submit" isLoading={add.isPending} isDisabled={add.isPending || userId === ""}>
          {t("organization.teamMembers.addSubmit")}
        </Button>
      </ActionGroup>
    </Form>
  );
}

export function TeamMembers({
  org,
  team,
  user,
  mayManage,
  mayAppoint,
}: {
  org: Org;
  team: TeamDto;
  user: User;
  mayManage: boolean;
  mayAppoint: boolean;
}) {
  const { t } = useTranslation();
  const refresh = useRefreshOrg(org.id);
  const [page, setPage] = useState({ page: 1, limit: 20 });
  const members = useTeamMembersPage(org.id, team.id, page.page, page.limit);
  const path = (userId: string) => ({
    params: { path: { org: org.id, team: team.id, user: userId } },
  });
  const setManager = useMutation({
    mutationFn: ({ userId, manager }: { userId: string; manager: boolean }) =>
      call(
        api.PATCH("/api/v1/organizations/{org}/teams/{team}/members/{user}", {
          ...path(userId),
          body: { manager },
        }),
      ),
    onSettled: refresh,
  });
  const remove = useMutation({
    mutationFn: (userId: string) =>
      call(api.DELETE("/api/v1/organizations/{org}/teams/{team}/members/{user}", path(userId))),
    onSettled: refresh,
  });
  // The Default Team's membership follows the default organization's.
  const mayChange = mayManage && !team.isDefault;
  return (
    <>
      <Title headingLevel="h3">{t("organization.teamMembers.title")}</Title>
      <ProblemAlert error={setManager.error} />
      <ProblemAlert error={remove.error} />
      <Loaded query={members}>
        {(result) =>
          result.data.length === 0 ? (
            <Empty title={t("organization.teamMembers.none")} />
          ) : (
            <>
              <Table aria-label={t("organization.teamMembers.title")} variant="compact">
                <Thead>
                  <Tr>
                    <Th>{t("fields.name")}</Th>
                    <Th>{t("fields.email")}</Th>
                    <Th>{t("organization.teamMembers.manager")}</Th>
                    <Th>{t("organization.members.joined")}</Th>
                    <Th screenReaderText={t("common.actions")} />
                  </Tr>
                </Thead>
                <Tbody>
                  {result.data.map((m) => (
                    <Tr key={m.userId}>
                      <Td dataLabel={t("fields.name")}>
                        {m.name}{" "}
                        {m.userId === user.id ? (
                          <Label isCompact>{t("organization.members.you")}</Label>
                        ) : null}
                      </Td>
                      <Td dataLabel={t("fields.email")}>{m.email}</Td>
                      <Td dataLabel={t("organization.teamMembers.manager")}>
                        {mayAppoint && !team.isDefault ? (
                          <Switch
                            id={`manager-${m.userId}`}
                            aria-label={t("organization.teamMembers.managerOf", { name: m.name })}
                            isChecked={m.manager}
                            isDisabled={setManager.isPending}
                            onChange={(_, manager) =>
                              setManager.mutate({ userId: m.userId, manager })
                            }
                          />
                        ) : m.manager ? (
                          t("common.yes")
                        ) : (
                          t("common.no")
                        )}
                      </Td>
                      <Td dataLabel={t("organization.members.joined")}>{date(m.joinedAt)}</Td>
                      <Td isActionCell>
                        {mayChange ? (
                          <ConfirmButton
                            label={t("common.remove")}
                            title={t("organization.teamMembers.removeTitle", {
                              name: m.name,
                              team: team.name,
                            })}
                            body={t("organization.teamMembers.removeBody")}
                            confirm={t("common.remove")}
                            onConfirm={() => remove.mutateAsync(m.userId).catch(() => undefined)}
                          />
                        ) : null}
                      </Td>
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
      {mayChange ? <AddMember org={org.id} team={team.id} mayAppoint={mayAppoint} /> : null}
    </>
  );
}
