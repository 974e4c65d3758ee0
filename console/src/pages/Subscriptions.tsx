import { Label, PageSection } from "@patternfly/react-core";
import { Table, Tbody, Td, Th, Thead, Tr } from "@patternfly/react-table";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { Link } from "react-router";
import { api, ApiError, call } from "../api/client";
import { ConfirmButton } from "../components/Confirm";
import { PageHeader } from "../components/PageHeader";
import { Empty, Loaded, ProblemAlert } from "../components/states";
import { dateTime } from "../lib/format";
import { useMySubscriptions } from "../lib/queries";

export const STATUS_COLOR = {
  active: "green",
  pending: "orange",
  denied: "red",
  cancelled: "grey",
} as const;

export default function Subscriptions() {
  const { t } = useTranslation();
  const client = useQueryClient();
  const subscriptions = useMySubscriptions();
  const cancel = useMutation({
    mutationFn: (id: string) =>
      call(api.POST("/api/v1/subscriptions/{id}/cancel", { params: { path: { id } } })),
    onSettled: () => client.invalidateQueries({ queryKey: ["subscriptions"] }),
  });
  const inUse = cancel.error instanceof ApiError && cancel.error.code === "subscription_in_use";
  return (
    <>
      <PageHeader title={t("subscriptions.title")} description={t("subscriptions.description")} />
      <PageSection>
        {inUse ? (
          <ProblemAlert error={cancel.error} title={t("subscriptions.inUse")} variant="warning" />
        ) : (
          <ProblemAlert error={cancel.error} />
        )}
        <Loaded query={subscriptions}>
          {(result) =>
            result.data.length === 0 ? (
              <Empty title={t("subscriptions.none")}>
                <Link to="/models">{t("subscriptions.browse")}</Link>
              </Empty>
            ) : (
              <Table aria-label={t("subscriptions.title")} variant="compact">
                <Thead>
                  <Tr>
                    <Th>{t("fields.model")}</Th>
                    <Th>{t("fields.status")}</Th>
                    <Th>{t("fields.reason")}</Th>
                    <Th>{t("fields.updated")}</Th>
                    <Th screenReaderText={t("common.actions")} />
                  </Tr>
                </Thead>
                <Tbody>
                  {result.data.map((s) => (
                    <Tr key={s.id}>
                      <Td dataLabel={t("fields.model")}>
                        <Link to={`/models/${s.modelId}`}>{s.modelName}</Link>
                      </Td>
                      <Td dataLabel={t("fields.status")}>
                        <Label color={STATUS_COLOR[s.status]}>
                          {t(`subscriptionStatus.${s.status}`)}
                        </Label>
                      </Td>
                      <Td dataLabel={t("fields.reason")}>{s.statusReason ?? "—"}</Td>
                      <Td dataLabel={t("fields.updated")}>{dateTime(s.updatedAt)}</Td>
                      <Td isActionCell>
                        {s.status === "active" || s.status === "pending" ? (
                          <ConfirmButton
                            label={t("subscriptions.cancel")}
                            title={t("subscriptions.cancelTitle", { model: s.modelName })}
                            body={t("subscriptions.cancelBody")}
                            confirm={t("subscriptions.cancel")}
                            onConfirm={() => cancel.mutateAsync(s.id).catch(() => undefined)}
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
    </>
  );
}
