// An organization's webhooks (owners and admins): add one (its secret shown once), turn it
// on or off, delete it, and read its delivery log with a redelivery for each entry.
import {
  Alert,
  Button,
  Checkbox,
  ClipboardCopy,
  Form,
  FormGroup,
  Label,
  Stack,
  StackItem,
  Switch,
  Title,
} from "@patternfly/react-core";
import { Table, Tbody, Td, Th, Thead, Tr } from "@patternfly/react-table";
import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { api, call, type Schemas } from "../../api/client";
import { ConfirmButton } from "../../components/Confirm";
import { Pager } from "../../components/Pager";
import { FieldMessage, Submit, TextField } from "../../components/form";
import { Empty, fieldError, Loaded, ProblemAlert } from "../../components/states";
import { dateTime } from "../../lib/format";
import type { TabProps } from "./access";

type Webhook = Schemas["WebhookDto"];

export const EVENT_TYPES = [
  "organization.created",
  "organization.deleted",
  "member.added",
  "member.removed",
  "api_key.created",
  "api_key.revoked",
  "subscription.approved",
  "subscription.denied",
  "document.uploaded",
  "document.deleted",
  "budget.crossed",
  "vault.created",
  "vault.updated",
  "vault.deleted",
  "vault.grant_changed",
] as const;

function CreateWebhook({ org }: { org: string }) {
  const { t } = useTranslation();
  const client = useQueryClient();
  const [url, setUrl] = useState("");
  const [types, setTypes] = useState<string[]>(["document.uploaded"]);
  const create = useMutation({
    mutationFn: () =>
      call(
        api.POST("/api/v1/organizations/{org}/webhooks", {
          params: { path: { org } },
          body: { url, eventTypes: types },
        }),
      ),
    onSuccess: () => client.invalidateQueries({ queryKey: ["org", org, "webhooks"] }),
  });
  const toggle = (type: string, on: boolean) =>
    setTypes((all) => (on ? [...all, type] : all.filter((x) => x !== type)));
  return (
    <Form
      onSubmit={(e) => {
        e.preventDefault();
        create.mutate();
      }}
    >
      <Title headingLevel="h2">{t("organization.webhooks.add")}</Title>
      <ProblemAlert error={create.error} />
      {create.data ? (
        <Alert variant="success" isInline title={t("organization.webhooks.created")}>
          <p>{t("organization.webhooks.secretOnce")}</p>
          <ClipboardCopy
            isReadOnly
            hoverTip={t("common.copy")}
            clickTip={t("common.copied")}
            textAriaLabel={t("organization.webhooks.secret")}
          >
            {create.data.secret}
          </ClipboardCopy>
        </Alert>
      ) : null}
      <TextField
        label={t("organization.webhooks.url")}
        value={url}
        onChange={setUrl}
        error={fieldError(create.error, "url")}
        hint={t("organization.webhooks.urlHint")}
        isRequired
      />
      <FormGroup label={t("organization.webhooks.events")} role="group" fieldId="webhook-events">
        {EVENT_TYPES.map((type) => (
          <Checkbox
            key={type}
            id={`webhook-event-${type}`}
            label={type}
            isChecked={types.includes(type)}
            onChange={(_, on) => toggle(type, on)}
          />
        ))}
        <FieldMessage error={fieldError(create.error, "eventTypes")} />
      </FormGroup>
      <Submit busy={create.isPending}>{t("organization.webhooks.add")}</Submit>
    </Form>
  );
}

function Deliveries({
  org,
  webhook,
  canManage,
}: {
  org: string;
  webhook: Webhook;
  canManage: boolean;
}) {
  const { t } = useTranslation();
  const client = useQueryClient();
  const [page, setPage] = useState({ page: 1, limit: 20 });
  const deliveries = useQuery({
    queryKey: ["org", org, "webhooks", webhook.id, "deliveries", page],
    queryFn: () =>
      call(
        api.GET("/api/v1/organizations/{org}/webhooks/{webhook}/deliveries", {
          params: { path: { org, webhook: webhook.id }, query: page },
        }),
      ),
    placeholderData: keepPreviousData,
    refetchInterval: 5000,
  });
  const redeliver = useMutation({
    mutationFn: (delivery: string) =>
      call(
        api.POST("/api/v1/organizations/{org}/webhooks/{webhook}/deliveries/{delivery}/redeliver", {
          params: { path: { org, webhook: webhook.id, delivery } },
        }),
      ),
    onSuccess: () =>
      client.invalidateQueries({ queryKey: ["org", org, "webhooks", webhook.id, "deliveries"] }),
  });
  const color = { pending: "orange", delivered: "green", failed: "red" } as const;
  return (
    <Loaded query={deliveries}>
      {(result) =>
        result.data.length === 0 ? (
          <Empty title={t("organization.webhooks.noDeliveries")} />
        ) : (
          <>
            <ProblemAlert error={redeliver.error} />
            <Table
              aria-label={t("organization.webhooks.log", { url: webhook.url })}
              variant="compact"
            >
              <Thead>
                <Tr>
                  <Th>{t("organization.webhooks.event")}</Th>
                  <Th>{t("organization.webhooks.status")}</Th>
                  <Th>{t("organization.webhooks.attempts")}</Th>
                  <Th>{t("organization.webhooks.lastAnswer")}</Th>
                  <Th>{t("organization.webhooks.when")}</Th>
                  <Th screenReaderText={t("common.actions")} />
                </Tr>
              </Thead>
              <Tbody>
                {result.data.map((d) => (
                  <Tr key={d.id}>
                    <Td dataLabel={t("organization.webhooks.event")}>{d.eventType}</Td>
                    <Td dataLabel={t("organization.webhooks.status")}>
                      <Label color={color[d.status as keyof typeof color] ?? "grey"} isCompact>
                        {t(`organization.webhooks.statuses.${d.status}`)}
                      </Label>
                    </Td>
                    <Td dataLabel={t("organization.webhooks.attempts")}>{d.attempts}</Td>
                    <Td dataLabel={t("organization.webhooks.lastAnswer")}>
                      {d.lastStatusCode ?? d.lastError ?? "—"}
                    </Td>
                    <Td dataLabel={t("organization.webhooks.when")}>{dateTime(d.updatedAt)}</Td>
                    <Td dataLabel={t("common.actions")} isActionCell>
                      {canManage ? (
                        <Button variant="link" onClick={() => redeliver.mutate(d.id)}>
                          {t("organization.webhooks.redeliver")}
                        </Button>
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
  );
}

export function Webhooks({ org, can }: TabProps) {
  const { t } = useTranslation();
  const client = useQueryClient();
  const [open, setOpen] = useState<string | null>(null);
  const webhooks = useQuery({
    queryKey: ["org", org.id, "webhooks"],
    queryFn: () =>
      call(
        api.GET("/api/v1/organizations/{org}/webhooks", {
          params: { path: { org: org.id }, query: { page: 1, limit: 100 } },
        }),
      ),
  });
  const refresh = () => client.invalidateQueries({ queryKey: ["org", org.id, "webhooks"] });
  const shown = webhooks.data?.data.find((w) => w.id === open);
  const update = useMutation({
    mutationFn: ({ id, active }: { id: string; active: boolean }) =>
      call(
        api.PATCH("/api/v1/organizations/{org}/webhooks/{webhook}", {
          params: { path: { org: org.id, webhook: id } },
          body: { active },
        }),
      ),
    onSuccess: refresh,
  });
  const remove = useMutation({
    mutationFn: (id: string) =>
      call(
        api.DELETE("/api/v1/organizations/{org}/webhooks/{webhook}", {
          params: { path: { org: org.id, webhook: id } },
        }),
      ),
    onSuccess: refresh,
  });
  return (
    <Stack hasGutter>
      <StackItem>
        <p>{t("organization.webhooks.explain")}</p>
      </StackItem>
      <StackItem>
        <ProblemAlert error={update.error ?? remove.error} />
        <Loaded query={webhooks}>
          {(result) =>
            result.data.length === 0 ? (
              <Empty title={t("organization.webhooks.none")} />
            ) : (
              <Table aria-label={t("organization.webhooks.title")} variant="compact">
                <Thead>
                  <Tr>
                    <Th>{t("organization.webhooks.url")}</Th>
                    <Th>{t("organization.webhooks.events")}</Th>
                    <Th>{t("organization.webhooks.active")}</Th>
                    <Th screenReaderText={t("common.actions")} />
                  </Tr>
                </Thead>
                <Tbody>
                  {result.data.map((w) => (
                    <Tr key={w.id}>
                      <Td dataLabel={t("organization.webhooks.url")}>{w.url}</Td>
                      <Td dataLabel={t("organization.webhooks.events")}>
                        {w.eventTypes.join(", ")}
                      </Td>
                      <Td dataLabel={t("organization.webhooks.active")}>
                        <Switch
                          aria-label={t("organization.webhooks.activeOf", { url: w.url })}
                          isChecked={w.active}
                          isDisabled={!can.manageWebhooks}
                          onChange={(_, active) => update.mutate({ id: w.id, active })}
                        />
                      </Td>
                      <Td dataLabel={t("common.actions")} isActionCell>
                        <Button variant="link" onClick={() => setOpen(open === w.id ? null : w.id)}>
                          {t("organization.webhooks.showLog")}
                        </Button>
                        {can.manageWebhooks ? (
                          <ConfirmButton
                            label={t("common.delete")}
                            title={t("organization.webhooks.deleteTitle", { url: w.url })}
                            body={t("organization.webhooks.deleteBody")}
                            confirm={t("common.delete")}
                            onConfirm={() => remove.mutateAsync(w.id).catch(() => undefined)}
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
      </StackItem>
      {shown ? (
        <StackItem>
          <Title headingLevel="h2">{t("organization.webhooks.logTitle", { url: shown.url })}</Title>
          <Deliveries org={org.id} webhook={shown} canManage={can.manageWebhooks} />
        </StackItem>
      ) : null}
      {can.manageWebhooks ? (
        <StackItem>
          <CreateWebhook org={org.id} />
        </StackItem>
      ) : null}
    </Stack>
  );
}
