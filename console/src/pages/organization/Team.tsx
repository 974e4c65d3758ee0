import {
  Button,
  DescriptionList,
  DescriptionListDescription,
  DescriptionListGroup,
  DescriptionListTerm,
  Flex,
  FlexItem,
  Label,
  Modal,
  ModalBody,
  ModalHeader,
  Stack,
  StackItem,
  Title,
} from "@patternfly/react-core";
import { useMutation, useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { Link, useNavigate, useParams } from "react-router";
import { api, call, type Schemas } from "../../api/client";
import { ConfirmButton } from "../../components/Confirm";
import { Loaded, ProblemAlert } from "../../components/states";
import type { TabProps } from "./access";
import { useCatalog, useRefreshOrg, useTeamMembersPage } from "./queries";
import { TeamForm } from "./TeamForm";
import { TeamMembers } from "./TeamMembers";
import { TeamPermissions } from "./TeamPermissions";
import { budgetText, limitsText } from "./Teams";

type TeamDto = Schemas["TeamDto"];

function Models({ ids }: { ids: string[] }) {
  const { t } = useTranslation();
  const catalog = useCatalog();
  if (ids.length === 0) return <>{t("organization.teams.allModels")}</>;
  const name = (id: string) => catalog.data?.find((m) => m.id === id)?.name ?? id;
  return <>{ids.map(name).join(", ")}</>;
}

function Details({ team }: { team: TeamDto }) {
  const { t } = useTranslation();
  return (
    <DescriptionList isHorizontal>
      <DescriptionListGroup>
        <DescriptionListTerm>{t("fields.description")}</DescriptionListTerm>
        <DescriptionListDescription>{team.description ?? "—"}</DescriptionListDescription>
      </DescriptionListGroup>
      <DescriptionListGroup>
        <DescriptionListTerm>{t("limits.budget")}</DescriptionListTerm>
        <DescriptionListDescription>{budgetText(t, team)}</DescriptionListDescription>
      </DescriptionListGroup>
      <DescriptionListGroup>
        <DescriptionListTerm>{t("organization.teams.limits")}</DescriptionListTerm>
        <DescriptionListDescription>{limitsText(t, team)}</DescriptionListDescription>
      </DescriptionListGroup>
      <DescriptionListGroup>
        <DescriptionListTerm>{t("organization.teams.models")}</DescriptionListTerm>
        <DescriptionListDescription>
          <Models ids={team.modelIds} />
        </DescriptionListDescription>
      </DescriptionListGroup>
    </DescriptionList>
  );
}

/** Whether the person manages this team (managers come first in its member list). */
function useManages(org: string, team: string, userId: string) {
  const managers = useTeamMembersPage(org, team, 1, 100);
  return !!managers.data?.data.some((m) => m.userId === userId && m.manager);
}

function TeamPage({ team, org, user, can }: TabProps & { team: TeamDto }) {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const refresh = useRefreshOrg(org.id);
  const [editing, setEditing] = useState(false);
  const manages = useManages(org.id, team.id, user.id);
  const teamsPath = `/organizations/${org.id}/teams`;
  const remove = useMutation({
    mutationFn: () =>
      call(
        api.DELETE("/api/v1/organizations/{org}/teams/{team}", {
          params: { path: { org: org.id, team: team.id } },
        }),
      ),
    onSuccess: async () => {
      navigate(teamsPath);
      await refresh();
    },
  });
  return (
    <Stack hasGutter>
      <StackItem>
        <Link to={teamsPath}>{t("organization.teams.back")}</Link>
      </StackItem>
      <StackItem>
        <Flex justifyContent={{ default: "justifyContentSpaceBetween" }}>
          <FlexItem>
            <Title headingLevel="h2">
              {team.name}{" "}
              {team.isDefault ? <Label isCompact>{t("organization.teams.default")}</Label> : null}
            </Title>
          </FlexItem>
          {can.manageTeams ? (
            <FlexItem>
              <Button variant="secondary" onClick={() => setEditing(true)}>
                {t("common.edit")}
              </Button>
              {!team.isDefault ? (
                <ConfirmButton
                  label={t("common.delete")}
                  title={t("organization.teams.deleteTitle", { name: team.name })}
                  body={t("organization.teams.deleteBody")}
                  confirm={t("common.delete")}
                  onConfirm={() => remove.mutateAsync().catch(() => undefined)}
                />
              ) : null}
            </FlexItem>
          ) : null}
        </Flex>
      </StackItem>
      <StackItem>
        <ProblemAlert error={remove.error} />
        <Details team={team} />
      </StackItem>
      <StackItem>
        <TeamMembers
          org={org}
          team={team}
          user={user}
          mayManage={can.manageTeamMembers(manages)}
          mayAppoint={can.manageTeams}
        />
      </StackItem>
      <StackItem>
        <TeamPermissions org={org.id} team={team} mayGrant={can.grantPermissions} />
      </StackItem>
      <Modal
        variant="medium"
        isOpen={editing}
        onClose={() => setEditing(false)}
        aria-labelledby="edit-team-title"
      >
        <ModalHeader
          title={t("organization.teams.editTitle", { name: team.name })}
          labelId="edit-team-title"
        />
        <ModalBody>
          <TeamForm org={org.id} team={team} onDone={() => setEditing(false)} />
        </ModalBody>
      </Modal>
    </Stack>
  );
}

export function Team(props: TabProps) {
  const { team: id = "" } = useParams();
  const org = props.org.id;
  const team = useQuery({
    queryKey: ["org", org, "team", id],
    queryFn: () =>
      call(
        api.GET("/api/v1/organizations/{org}/teams/{team}", {
          params: { path: { org, team: id } },
        }),
      ),
  });
  return <Loaded query={team}>{(t) => <TeamPage {...props} team={t} />}</Loaded>;
}
