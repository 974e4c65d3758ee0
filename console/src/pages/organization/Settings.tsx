import {
  Alert,
  DescriptionList,
  DescriptionListDescription,
  DescriptionListGroup,
  DescriptionListTerm,
  Form,
  Stack,
  StackItem,
  Title,
} from "@patternfly/react-core";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { useNavigate } from "react-router";
import { api, call } from "../../api/client";
import { ConfirmButton } from "../../components/Confirm";
import { Submit, TextField } from "../../components/form";
import { fieldError, ProblemAlert } from "../../components/states";
import { date, number } from "../../lib/format";
import type { Org, TabProps } from "./access";
import { useRefreshOrg } from "./queries";

function Rename({ org }: { org: Org }) {
  const { t } = useTranslation();
  const refresh = useRefreshOrg(org.id);
  const [name, setName] = useState(org.name);
  const rename = useMutation({
    mutationFn: () =>
      call(
        api.PATCH("/api/v1/organizations/{org}", {
          params: { path: { org: org.id } },
          body: { name },
        }),
      ),
    onSuccess: refresh,
  });
  return (
    <Form
      onSubmit={(e) => {
        e.preventDefault();
        rename.mutate();
      }}
    >
      <Title headingLevel="h2">{t("organization.settings.rename")}</Title>
      <ProblemAlert error={rename.error} />
      {rename.isSuccess ? <Alert variant="success" isInline title={t("common.saved")} /> : null}
      <TextField
        label={t("fields.name")}
        value={name}
        onChange={setName}
        error={fieldError(rename.error, "name")}
        isRequired
      />
      <Submit busy={rename.isPending}>{t("common.save")}</Submit>
    </Form>
  );
}

function Delete({ org }: { org: Org }) {
  const { t } = useTranslation();
  const client = useQueryClient();
  const navigate = useNavigate();
  const remove = useMutation({
    mutationFn: () =>
      call(api.DELETE("/api/v1/organizations/{org}", { params: { path: { org: org.id } } })),
    onSuccess: async (deleted) => {
      navigate("/organizations", {
        state: { deleted: { name: org.name, purgeAfter: deleted.purgeAfter } },
      });
      client.removeQueries({ queryKey: ["org", org.id] });
      await Promise.all([
        client.invalidateQueries({ queryKey: ["org", "list"] }),
        client.invalidateQueries({ queryKey: ["my-teams"] }),
      ]);
    },
  });
  return (
    <Stack hasGutter>
      <Title headingLevel="h2">{t("organization.settings.delete")}</Title>
      <p>{t("organization.settings.deleteExplain")}</p>
      <ProblemAlert error={remove.error} />
      <div>
        <ConfirmButton
          variant="danger"
          label={t("organization.settings.delete")}
          title={t("organization.settings.deleteTitle", { name: org.name })}
          body={t("organization.settings.deleteBody")}
          confirm={t("organization.settings.delete")}
          onConfirm={() => remove.mutateAsync().catch(() => undefined)}
        />
      </div>
    </Stack>
  );
}

export function Settings({ org, can }: TabProps) {
  const { t } = useTranslation();
  const quota = (max: number | null | undefined) =>
    max === null || max === undefined ? t("organization.settings.noQuota") : number(max);
  return (
    <Stack hasGutter>
      <StackItem>
        <DescriptionList isHorizontal>
          <DescriptionListGroup>
            <DescriptionListTerm>{t("fields.created")}</DescriptionListTerm>
            <DescriptionListDescription>{date(org.createdAt)}</DescriptionListDescription>
          </DescriptionListGroup>
          <DescriptionListGroup>
            <DescriptionListTerm>{t("organization.settings.maxMembers")}</DescriptionListTerm>
            <DescriptionListDescription>{quota(org.maxMembers)}</DescriptionListDescription>
          </DescriptionListGroup>
          <DescriptionListGroup>
            <DescriptionListTerm>{t("organization.settings.maxTeams")}</DescriptionListTerm>
            <DescriptionListDescription>{quota(org.maxTeams)}</DescriptionListDescription>
          </DescriptionListGroup>
        </DescriptionList>
      </StackItem>
      {!can.rename && !can.delete ? (
        <StackItem>
          <Alert variant="info" isInline title={t("common.readOnly")} />
        </StackItem>
      ) : null}
      {can.rename ? (
        <StackItem>
          <Rename org={org} />
        </StackItem>
      ) : null}
      {can.delete ? (
        <StackItem>
          <Delete org={org} />
        </StackItem>
      ) : null}
    </Stack>
  );
}
