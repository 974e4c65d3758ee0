import {
  Button,
  FormSelect,
  FormSelectOption,
  Label,
  PageSection,
  Toolbar,
  ToolbarContent,
  ToolbarItem,
} from "@patternfly/react-core";
import { Table, Tbody, Td, Th, Thead, Tr } from "@patternfly/react-table";
import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { api, call, type Schemas } from "../../api/client";
import { TextField } from "../../components/form";
import { PageHeader } from "../../components/PageHeader";
import { Pager } from "../../components/Pager";
import { Empty, fieldError, Loaded, ProblemAlert } from "../../components/states";
import { dateTime } from "../../lib/format";
import { STATUS_COLOR } from "../Subscriptions";
import { Dialog, FIRST_PAGE, ReadOnlyNote, SaveForm, useCanWrite, UserName } from "./shared";

type Subscription = Schemas["SubscriptionDto"];
type Status = Schemas["SubscriptionStatus"];

const STATUSES: Status[] = ["pending", "active", "denied", "cancelled"];

function useRefreshQueue() {
  const client = useQueryClient();
  return () =>
    Promise.all([
      client.invalidateQueries({ queryKey: ["admin", "subscriptions"] }),
      client.invalidateQueries({ queryKey: ["subscriptions"] }),
    ]);
}

function DenyForm({ subscription, onClose }: { subscription: Subscription; onClose: () => void }) {
  const { t } = useTranslation();
  const refresh = useRefreshQueue();
  const [reason, setReason] = useState("");
  const deny = useMutation({
    mutationFn: () =>
      call(
        api.POST("/api/v1/admin/subscriptions/{id}/deny", {
          params: { path: { id: subscription.id } },
          body: { reason: reason.trim() || null },
        }),
      ),
    onSuccess: async () => {
      await refresh();
      onClose();
    },
  });
  return (
    <Dialog
      title={t("admin.subscriptions.denyTitle", { model: subscription.modelName })}
      onClose={onClose}
    >
      <SaveForm
        onSubmit={() => deny.mutate()}
        onCancel={onClose}
        error={deny.error}
        busy={deny.isPending}
        submitLabel={t("admin.subscriptions.deny")}
      >
        <TextField
          label={t("fields.reason")}
          value={reason}
          onChange={setReason}
          error={fieldError(deny.error, "reason")}
          hint={t("admin.subscriptions.reasonHint")}
          multiline
        />
      </SaveForm>
    </Dialog>
  );
}

export default function AdminSubscriptions() {
  const { t } = useTranslation();
  const canWrite = useCanWrite();
  const refresh = useRefreshQueue();
  const [status, setStatus] = useState<Status>("pending");
  const [page, setPage] = useState(FIRST_PAGE);
  const [denying, setDenying] = useState<Subscription | null>(null);
  const queue = useQuery({
    queryKey: ["admin", "subscriptions", status, page],
    queryFn: () =>
      call(api.GET("/api/v1/admin/subscriptions", { params: { query: { status, ...page } } })),
    placeholderData: keepPreviousData,
  });
  const approve = useMutation({
    mutationFn: (id: string) =>
      call(api.POST("/api/v1/admin/subscriptions/{id}/approve", { params: { path: { id } } })),
    onSettled: refresh,
  });
  return (
    <>
      <PageHeader
        title={t("admin.subscriptions.title")}
        description={t("admin.subscriptions.description")}
      />
      <ReadOnlyNote />
      <PageSection>
        <Toolbar>
          <ToolbarContent>
            <ToolbarItem>
              <FormSelect
                aria-label={t("fields.status")}
                value={status}
                onChange={(_, v) => {
                  setStatus(v as Status);
                  setPage((p) => ({ ...p, page: 1 }));
                }}
              >
                {STATUSES.map((s) => (
                  <FormSelectOption key={s} value={s} label={t(`subscriptionStatus.${s}`)} />
                ))}
              </FormSelect>
            </ToolbarItem>
          </ToolbarContent>
        </Toolbar>
        <ProblemAlert error={approve.error} />
        <Loaded query={queue}>
          {(result) =>
            result.pagination.total === 0 ? (
              <Empty
                title={
                  status === "pending"
                    ? t("admin.subscriptions.none")
                    : t("admin.subscriptions.noneOther")
                }
              />
            ) : (
              <>
                <Table aria-label={t("admin.subscriptions.title")} variant="compact">
                  <Thead>
                    <Tr>
                      <Th>{t("admin.subscriptions.user")}</Th>
                      <Th>{t("fields.model")}</Th>
                      <Th>{t("fields.status")}</Th>
                      <Th>{t("fields.reason")}</Th>
                      <Th>{t("admin.subscriptions.requested")}</Th>
                      <Th>{t("fields.updated")}</Th>
                      {canWrite ? <Th screenReaderText={t("common.actions")} /> : null}
                    </Tr>
                  </Thead>
                  <Tbody>
                    {result.data.map((s) => (
                      <Tr key={s.id}>
                        <Td dataLabel={t("admin.subscriptions.user")}>
                          <UserName id={s.userId} />
                        </Td>
                        <Td dataLabel={t("fields.model")}>{s.modelName}</Td>
                        <Td dataLabel={t("fields.status")}>
                          <Label color={STATUS_COLOR[s.status]}>
                            {t(`subscriptionStatus.${s.status}`)}
                          </Label>
                        </Td>
                        <Td dataLabel={t("fields.reason")}>{s.statusReason ?? "—"}</Td>
                        <Td dataLabel={t("admin.subscriptions.requested")}>
                          {dateTime(s.createdAt)}
                        </Td>
                        <Td dataLabel={t("fields.updated")}>{dateTime(s.updatedAt)}</Td>
                        {canWrite ? (
                          <Td isActionCell>
                            {s.status === "pending" ? (
                              <>
                                <Button
                                  variant="primary"
                                  size="sm"
                                  onClick={() => approve.mutate(s.id)}
                                  isLoading={approve.isPending && approve.variables === s.id}
                                  isDisabled={approve.isPending}
                                >
                                  {t("admin.subscriptions.approve")}
                                </Button>{" "}
                                <Button variant="link" isDanger onClick={() => setDenying(s)}>
                                  {t("admin.subscriptions.deny")}
                                </Button>
                              </>
                            ) : null}
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
      {denying ? <DenyForm subscription={denying} onClose={() => setDenying(null)} /> : null}
    </>
  );
}
