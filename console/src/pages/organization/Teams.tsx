import {
  Button,
  Label,
  Modal,
  ModalBody,
  ModalHeader,
  Toolbar,
  ToolbarContent,
  ToolbarItem,
} from "@patternfly/react-core";
import { Table, Tbody, Td, Th, Thead, Tr } from "@patternfly/react-table";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import type { TFunction } from "i18next";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { Link, useNavigate } from "react-router";
import { api, call, type Schemas } from "../../api/client";
import { Pager } from "../../components/Pager";
import { Empty, Loaded } from "../../components/states";
import { money, number } from "../../lib/format";
import type { TabProps } from "./access";
import { TeamForm } from "./TeamForm";

type TeamDto = Schemas["TeamDto"];

export function budgetText(t: TFunction, team: TeamDto): string {
  if (!team.budget) return t("organization.teams.noBudget");
  if (!team.budgetPeriod) return money(team.budget);
  return t("organization.teams.budgetPer", {
    budget: money(team.budget),
    period: t(`periods.${team.budgetPeriod}`),
  });
}

/** The team's limits in one line, or "none". */
export function limitsText(t: TFunction, team: TeamDto): string {
  const limits = [
    [t("limits.tpm"), team.tpmLimit],
    [t("limits.rpm"), team.rpmLimit],
    [t("limits.parallel"), team.maxParallel],
  ] as const;
  const set = limits.filter(([, value]) => value !== null && value !== undefined);
  if (set.length === 0) return t("organization.teams.noLimits");
  return set
    .map(([label, value]) => t("organization.teams.limit", { label, value: number(value) }))
    .join(" · ");
}

export function Teams({ org, can }: TabProps) {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const [page, setPage] = useState({ page: 1, limit: 20 });
  const [creating, setCreating] = useState(false);
  const teams = useQuery({
    queryKey: ["org", org.id, "teams", page],
    queryFn: () =>
      call(
        api.GET("/api/v1/organizations/{org}/teams", {
          params: { path: { org: org.id }, query: page },
        }),
      ),
    placeholderData: keepPreviousData,
  });
  return (
    <>
      {can.manageTeams ? (
        <Toolbar>
          <ToolbarContent>
            <ToolbarItem>
              <Button onClick={() => setCreating(true)}>{t("organization.teams.create")}</Button>
            </ToolbarItem>
          </ToolbarContent>
        </Toolbar>
      ) : null}
      <Loaded query={teams}>
        {(result) =>
          result.data.length === 0 ? (
            <Empty title={t("organization.teams.none")}>{t("organization.teams.noneDetail")}</Empty>
          ) : (
            <>
              <Table aria-label={t("organization.teams.title")} variant="compact">
                <Thead>
                  <Tr>
                    <Th>{t("fields.name")}</Th>
                    <Th>{t("fields.description")}</Th>
                    <Th>{t("limits.budget")}</Th>
                    <Th>{t("organization.teams.limits")}</Th>
                    <Th>{t("organization.teams.models")}</Th>
                  </Tr>
                </Thead>
                <Tbody>
                  {result.data.map((team) => (
                    <Tr key={team.id}>
                      <Td dataLabel={t("fields.name")}>
                        <Link to={`/organizations/${org.id}/teams/${team.id}`}>{team.name}</Link>{" "}
                        {team.isDefault ? (
                          <Label isCompact>{t("organization.teams.default")}</Label>
                        ) : null}
                      </Td>
                      <Td dataLabel={t("fields.description")}>{team.description ?? "—"}</Td>
                      <Td dataLabel={t("limits.budget")}>{budgetText(t, team)}</Td>
                      <Td dataLabel={t("organization.teams.limits")}>{limitsText(t, team)}</Td>
                      <Td dataLabel={t("organization.teams.models")}>
                        {team.modelIds.length === 0
                          ? t("organization.teams.allModels")
                          : t("organization.teams.modelCount", { count: team.modelIds.length })}
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
      <Modal
        variant="medium"
        isOpen={creating}
        onClose={() => setCreating(false)}
        aria-labelledby="create-team-title"
      >
        <ModalHeader title={t("organization.teams.create")} labelId="create-team-title" />
        <ModalBody>
          <TeamForm
            org={org.id}
            onDone={(team) => navigate(`/organizations/${org.id}/teams/${team.id}`)}
          />
        </ModalBody>
      </Modal>
    </>
  );
}
