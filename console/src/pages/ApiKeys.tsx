import {
  Alert,
  Button,
  Checkbox,
  ClipboardCopy,
  Form,
  FormGroup,
  Label,
  Modal,
  ModalBody,
  ModalHeader,
  PageSection,
} from "@patternfly/react-core";
import { Table, Tbody, Td, Th, Thead, Tr } from "@patternfly/react-table";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { api, call, type Schemas } from "../api/client";
import { ConfirmButton } from "../components/Confirm";
import { FieldMessage, SelectField, Submit, TextField } from "../components/form";
import { LimitsFields, limitsBody, limitsText } from "../components/Limits";
import { PageHeader } from "../components/PageHeader";
import { Empty, fieldError, Loaded, ProblemAlert } from "../components/states";
import { dateTime, money } from "../lib/format";
import { useMyKeys, useMySubscriptions } from "../lib/queries";

const KEY_COLOR = { active: "green", expired: "grey", revoked: "red" } as const;

/** The teams the person belongs to, across their organizations, for a key's team. */
function useMyTeams() {
  return useQuery({
    queryKey: ["my-teams"],
    queryFn: async () => {
      const orgs = await call(
        api.GET("/api/v1/organizations", { params: { query: { limit: 100 } } }),
      );
      const teams = await Promise.all(
        orgs.data.map((org) =>
          call(
            api.GET("/api/v1/organizations/{org}/teams", {
              params: { path: { org: org.id }, query: { limit: 100 } },
            }),
          )
            .then((r) => r.data.map((team) => ({ team, org })))
            .catch(() => []),
        ),
      );
      return teams.flat();
    },
  });
}

function CreateKey({ onCreated }: { onCreated: (created: Schemas["CreatedApiKeyDto"]) => void }) {
  const { t } = useTranslation();
  const client = useQueryClient();
  const subscriptions = useMySubscriptions();
  const teams = useMyTeams();
  const [name, setName] = useState("");
  const [models, setModels] = useState<string[]>([]);
  const [limits, setLimits] = useState(() => limitsText(undefined, undefined));
  const [expires, setExpires] = useState("");
  const [team, setTeam] = useState("");
  const create = useMutation({
    mutationFn: () =>
      call(
        api.POST("/api/v1/api-keys", {
          body: {
            name,
            modelIds: models,
            teamId: team || null,
            maxBudget: limits.budget || null,
            ...limitsBody(limits),
            expiresAt: expires ? new Date(`${expires}T23:59:59`).toISOString() : null,
          },
        }),
      ),
    onSuccess: (created) => {
      void client.invalidateQueries({ queryKey: ["api-keys"] });
      onCreated(created);
    },
  });
  const active = (subscriptions.data?.data ?? []).filter((s) => s.status === "active");
  const modelsError = fieldError(create.error, "modelIds");
  return (
    <Form
      onSubmit={(e) => {
        e.preventDefault();
        create.mutate();
      }}
    >
      <ProblemAlert error={create.error} />
      <TextField
        label={t("fields.name")}
        value={name}
        onChange={setName}
        error={fieldError(create.error, "name")}
        isRequired
      />
      <FormGroup label={t("apiKeys.models")} isRequired role="group" fieldId="key-models">
        {active.length === 0 ? (
          <Alert variant="info" isInline title={t("apiKeys.noSubscriptions")} />
        ) : (
          active.map((s) => (
            <Checkbox
              key={s.modelId}
              id={`model-${s.modelId}`}
              label={s.modelName}
              isChecked={models.includes(s.modelId)}
              onChange={(_, on) =>
                setModels((m) => (on ? [...m, s.modelId] : m.filter((x) => x !== s.modelId)))
              }
            />
          ))
        )}
        <FieldMessage error={modelsError} />
      </FormGroup>
      <LimitsFields
        value={limits}
        onChange={setLimits}
        error={create.error}
        budgetField="maxBudget"
        budgetHint={t("apiKeys.budgetHint")}
      />
      <TextField
        label={t("apiKeys.expires")}
        type="date"
        value={expires}
        onChange={setExpires}
        error={fieldError(create.error, "expiresAt")}
      />
      <SelectField
        label={t("apiKeys.team")}
        value={team}
        onChange={setTeam}
        options={[
          { value: "", label: t("apiKeys.noTeam") },
          ...(teams.data ?? []).map(({ team, org }) => ({
            value: team.id,
            label: `${org.name} · ${team.name}`,
          })),
        ]}
      />
      <Submit busy={create.isPending}>{t("apiKeys.create")}</Submit>
    </Form>
  );
}

export default function ApiKeys() {
  const { t } = useTranslation();
  const client = useQueryClient();
  const keys = useMyKeys();
  const subscriptions = useMySubscriptions();
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<Schemas["CreatedApiKeyDto"] | null>(null);
  const revoke = useMutation({
    mutationFn: (id: string) =>
      call(api.DELETE("/api/v1/api-keys/{id}", { params: { path: { id } } })),
    onSettled: () => client.invalidateQueries({ queryKey: ["api-keys"] }),
  });
  const modelName = (id: string) =>
    subscriptions.data?.data.find((s) => s.modelId === id)?.modelName ?? id;
  return (
    <>
      <PageHeader
        title={t("apiKeys.title")}
        description={t("apiKeys.description")}
        actions={
          <Button
            onClick={() => {
              setCreated(null);
              setCreating(true);
            }}
          >
            {t("apiKeys.create")}
          </Button>
        }
      />
      <PageSection>
        <ProblemAlert error={revoke.error} />
        <Loaded query={keys}>
          {(result) =>
            result.data.length === 0 ? (
              <Empty title={t("apiKeys.none")}>{t("apiKeys.noneDetail")}</Empty>
            ) : (
              <Table aria-label={t("apiKeys.title")} variant="compact">
                <Thead>
                  <Tr>
                    <Th>{t("fields.name")}</Th>
                    <Th>{t("apiKeys.key")}</Th>
                    <Th>{t("apiKeys.models")}</Th>
                    <Th>{t("apiKeys.spend")}</Th>
                    <Th>{t("fields.status")}</Th>
                    <Th>{t("apiKeys.lastUsed")}</Th>
                    <Th screenReaderText={t("common.actions")} />
                  </Tr>
                </Thead>
                <Tbody>
                  {result.data.map((key) => (
                    <Tr key={key.id}>
                      <Td dataLabel={t("fields.name")}>{key.name}</Td>
                      <Td dataLabel={t("apiKeys.key")}>
                        <code>{key.keyPrefix}…</code>
                      </Td>
                      <Td dataLabel={t("apiKeys.models")}>
                        {key.modelIds.map(modelName).join(", ")}
                      </Td>
                      <Td dataLabel={t("apiKeys.spend")}>
                        {key.maxBudget
                          ? t("apiKeys.spendOf", {
                              spend: money(key.spend),
                              budget: money(key.maxBudget),
                            })
                          : money(key.spend)}
                      </Td>
                      <Td dataLabel={t("fields.status")}>
                        <Label color={KEY_COLOR[key.status]}>{t(`keyStatus.${key.status}`)}</Label>
                      </Td>
                      <Td dataLabel={t("apiKeys.lastUsed")}>{dateTime(key.lastUsedAt)}</Td>
                      <Td isActionCell>
                        {key.status === "active" ? (
                          <ConfirmButton
                            label={t("apiKeys.revoke")}
                            title={t("apiKeys.revokeTitle", { name: key.name })}
                            body={t("apiKeys.revokeBody")}
                            confirm={t("apiKeys.revoke")}
                            onConfirm={() => revoke.mutateAsync(key.id).catch(() => undefined)}
                          />
                        ) : null}
                      </Td>
                    </Tr>
                  ))}
                </Tbody>
              </Table>
            )
          }
        </Loaded>
      </PageSection>
      <Modal
        variant="medium"
        isOpen={creating}
        onClose={() => setCreating(false)}
        aria-labelledby="create-key-title"
      >
        <ModalHeader
          title={created ? t("apiKeys.createdTitle") : t("apiKeys.create")}
          labelId="create-key-title"
        />
        <ModalBody>
          {created ? (
            <>
              <Alert variant="warning" isInline title={t("apiKeys.onlyOnce")} />
              <ClipboardCopy
                isReadOnly
                hoverTip={t("common.copy")}
                clickTip={t("common.copied")}
                textAriaLabel={t("apiKeys.secret")}
                toggleAriaLabel={t("common.copy")}
                className="pf-v6-u-mt-md"
              >
                {created.key}
              </ClipboardCopy>
              <Button className="pf-v6-u-mt-md" onClick={() => setCreating(false)}>
                {t("apiKeys.saved")}
              </Button>
            </>
          ) : (
            <CreateKey onCreated={setCreated} />
          )}
        </ModalBody>
      </Modal>
    </>
  );
}
