import {
  ActionGroup,
  Alert,
  Button,
  DescriptionList,
  DescriptionListDescription,
  DescriptionListGroup,
  DescriptionListTerm,
  Form,
  Stack,
  StackItem,
  Switch,
  Title,
} from "@patternfly/react-core";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { useNavigate } from "react-router";
import { api, ApiError, call } from "../../api/client";
import { ConfirmButton } from "../../components/Confirm";
import { Submit, TextField } from "../../components/form";
import { fieldError, ProblemAlert } from "../../components/states";
import { bytes, date, number } from "../../lib/format";
import type { Org, TabProps } from "./access";
import { useRefreshOrg, useStorage } from "./queries";

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

function DocumentTypes({ org }: { org: Org }) {
  const { t } = useTranslation();
  const refresh = useRefreshOrg(org.id);
  const [types, setTypes] = useState(org.documentTypes.join("\n"));
  const save = useMutation({
    mutationFn: (documentTypes: string[] | null) =>
      call(
        api.PATCH("/api/v1/organizations/{org}", {
          params: { path: { org: org.id } },
          body: { documentTypes },
        }),
      ),
    onSuccess: async (saved) => {
      setTypes(saved.documentTypes.join("\n"));
      await refresh();
    },
  });
  const listed = types
    .split(/[\s,]+/)
    .map((type) => type.trim())
    .filter(Boolean);
  return (
    <Form
      onSubmit={(e) => {
        e.preventDefault();
        save.mutate(listed);
      }}
    >
      <Title headingLevel="h2">{t("organization.settings.documentTypes")}</Title>
      <p>{t("organization.settings.documentTypesExplain")}</p>
      <ProblemAlert error={save.error} />
      {save.isSuccess ? <Alert variant="success" isInline title={t("common.saved")} /> : null}
      <TextField
        label={t("organization.settings.documentTypesField")}
        value={types}
        onChange={setTypes}
        multiline
        error={
          // The list as a whole, or the first type refused (`documentTypes[2]`).
          save.error instanceof ApiError
            ? save.error.problem.errors?.find((e) => e.field.startsWith("documentTypes"))?.message
            : undefined
        }
        hint={
          org.defaultDocumentTypes
            ? t("organization.settings.documentTypesDefault")
            : t("organization.settings.documentTypesHint")
        }
      />
      <ActionGroup>
        <Button type="submit" isLoading={save.isPending} isDisabled={save.isPending}>
          {t("common.save")}
        </Button>
        {org.defaultDocumentTypes ? null : (
          <Button variant="link" onClick={() => save.mutate(null)} isDisabled={save.isPending}>
            {t("organization.settings.documentTypesReset")}
          </Button>
        )}
      </ActionGroup>
    </Form>
  );
}

function Timestamps({ org }: { org: Org }) {
  const { t } = useTranslation();
  const refresh = useRefreshOrg(org.id);
  // The documents tab's storage use: it says whether the server can stamp.
  const storage = useStorage(org.id);
  const save = useMutation({
    mutationFn: (timestampUploads: boolean) =>
      call(
        api.PATCH("/api/v1/organizations/{org}", {
          params: { path: { org: org.id } },
          body: { timestampUploads },
        }),
      ),
    onSuccess: refresh,
  });
  const available = storage.data?.timestampsAvailable ?? false;
  return (
    <Stack hasGutter>
      <Title headingLevel="h2">{t("organization.settings.timestamps")}</Title>
      <p>{t("organization.settings.timestampsExplain")}</p>
      {storage.data && !available && !org.timestampUploads ? (
        <Alert variant="info" isInline title={t("organization.settings.timestampsUnavailable")} />
      ) : null}
      <ProblemAlert error={save.error} />
      <Switch
        id="timestamp-uploads"
        label={t("organization.settings.timestampUploads")}
        isChecked={org.timestampUploads}
        isDisabled={save.isPending || (!available && !org.timestampUploads)}
        onChange={(_, checked) => save.mutate(checked)}
      />
    </Stack>
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
          <DescriptionListGroup>
            <DescriptionListTerm>{t("organization.settings.maxStorage")}</DescriptionListTerm>
            <DescriptionListDescription>
              {org.maxStorageBytes
                ? bytes(org.maxStorageBytes)
                : t("organization.settings.noQuota")}
            </DescriptionListDescription>
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
      {can.editDocumentTypes ? (
        <StackItem>
          <DocumentTypes org={org} />
        </StackItem>
      ) : null}
      {can.editTimestampUploads ? (
        <StackItem>
          <Timestamps org={org} />
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
