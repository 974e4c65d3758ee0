import { FormSelect, FormSelectOption, Label } from "@patternfly/react-core";
import { Table, Tbody, Td, Th, Thead, Tr } from "@patternfly/react-table";
import { keepPreviousData, useMutation, useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { api, call, type Schemas } from "../../api/client";
import { ConfirmButton } from "../../components/Confirm";
import { Pager } from "../../components/Pager";
import { Empty, Loaded, ProblemAlert } from "../../components/states";
import { date } from "../../lib/format";
import { ORG_ROLES, ROLE_COLOR, type Abilities, type OrgRole, type TabProps } from "./access";
import { useRefreshOrg } from "./queries";

type Member = Schemas["MemberDto"];

function RoleCell({
  member,
  can,
  onChange,
  busy,
}: {
  member: Member;
  can: Abilities;
  onChange: (role: OrgRole) => void;
  busy: boolean;
}) {
  const { t } = useTranslation();
  const choices = ORG_ROLES.filter((r) => r === member.role || can.changeRole(member.role, r));
  if (choices.length < 2) {
    return <Label color={ROLE_COLOR[member.role]}>{t(`organization.roles.${member.role}`)}</Label>;
  }
  return (
    <FormSelect
      aria-label={t("organization.members.roleOf", { name: member.name })}
      value={member.role}
      onChange={(_, v) => onChange(v as OrgRole)}
      isDisabled={busy}
    >
      {choices.map((r) => (
        <FormSelectOption key={r} value={r} label={t(`organization.roles.${r}`)} />
      ))}
    </FormSelect>
  );
}

export function Members({ org, user, can }: TabProps) {
  const { t } = useTranslation();
  const refresh = useRefreshOrg(org.id);
  const [page, setPage] = useState({ page: 1, limit: 20 });
  const members = useQuery({
    queryKey: ["org", org.id, "members", page],
    queryFn: () =>
      call(
        api.GET("/api/v1/organizations/{org}/members", {
          params: { path: { org: org.id }, query: page },
        }),
      ),
    placeholderData: keepPreviousData,
  });
  const path = (userId: string) => ({ params: { path: { org: org.id, user: userId } } });
  const changeRole = useMutation({
    mutationFn: ({ userId, role }: { userId: string; role: OrgRole }) =>
      call(
        api.PATCH("/api/v1/organizations/{org}/members/{user}", {
          ...path(userId),
          body: { role },
        }),
      ),
    onSettled: refresh,
  });
  const remove = useMutation({
    mutationFn: (userId: string) =>
      call(api.DELETE("/api/v1/organizations/{org}/members/{user}", path(userId))),
    onSettled: refresh,
  });
  const transfer = useMutation({
    mutationFn: (userId: string) =>
      call(
        api.POST("/api/v1/organizations/{org}/transfer-ownership", {
          params: { path: { org: org.id } },
          body: { userId },
        }),
      ),
    onSettled: refresh,
  });
  return (
    <>
      <ProblemAlert error={changeRole.error} />
      <ProblemAlert error={remove.error} />
      <ProblemAlert error={transfer.error} />
      <Loaded query={members}>
        {(result) =>
          result.data.length === 0 ? (
            <Empty title={t("organization.members.none")} />
          ) : (
            <>
              <Table aria-label={t("organization.members.title")} variant="compact">
                <Thead>
                  <Tr>
                    <Th>{t("fields.name")}</Th>
                    <Th>{t("fields.email")}</Th>
                    <Th>{t("fields.role")}</Th>
                    <Th>{t("organization.members.joined")}</Th>
                    <Th screenReaderText={t("common.actions")} />
                  </Tr>
                </Thead>
                <Tbody>
                  {result.data.map((m) => {
                    const me = m.userId === user.id;
                    return (
                      <Tr key={m.userId}>
                        <Td dataLabel={t("fields.name")}>
                          {m.name}{" "}
                          {me ? <Label isCompact>{t("organization.members.you")}</Label> : null}
                        </Td>
                        <Td dataLabel={t("fields.email")}>{m.email}</Td>
                        <Td dataLabel={t("fields.role")}>
                          <RoleCell
                            member={m}
                            can={can}
                            busy={changeRole.isPending}
                            onChange={(role) => changeRole.mutate({ userId: m.userId, role })}
                          />
                        </Td>
                        <Td dataLabel={t("organization.members.joined")}>{date(m.joinedAt)}</Td>
                        <Td isActionCell>
                          {can.transferOwnership && !me && m.role !== "owner" ? (
                            <ConfirmButton
                              variant="link"
                              label={t("organization.members.makeOwner")}
                              title={t("organization.members.makeOwnerTitle", { name: m.name })}
                              body={t("organization.members.makeOwnerBody", { name: m.name })}
                              confirm={t("organization.members.makeOwner")}
                              onConfirm={() =>
                                transfer.mutateAsync(m.userId).catch(() => undefined)
                              }
                            />
                          ) : null}
                          {can.removeMember(m.role) && !me ? (
                            <ConfirmButton
                              label={t("common.remove")}
                              title={t("organization.members.removeTitle", { name: m.name })}
                              body={t("organization.members.removeBody")}
                              confirm={t("common.remove")}
                              onConfirm={() => remove.mutateAsync(m.userId).catch(() => undefined)}
                            />
                          ) : null}
                        </Td>
                      </Tr>
                    );
                  })}
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
    </>
  );
}
