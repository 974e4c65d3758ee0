import { Button, CodeBlock, CodeBlockCode, Label } from "@patternfly/react-core";
import { ExpandableRowContent, Table, Tbody, Td, Th, Thead, Tr } from "@patternfly/react-table";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { api, call, type Schemas } from "../../api/client";
import { Pager } from "../../components/Pager";
import { Empty, Loaded } from "../../components/states";
import { dateTime } from "../../lib/format";
import type { TabProps } from "./access";

type Entry = Schemas["AuditEntryDto"];

/** Who acted, by name while they are a member; else their id. */
function Actor({ org, id }: { org: string; id: string | null | undefined }) {
  const { t } = useTranslation();
  const member = useQuery({
    queryKey: ["org", org, "member", id],
    enabled: !!id,
    retry: false,
    staleTime: 5 * 60_000,
    queryFn: () =>
      call(
        api.GET("/api/v1/organizations/{org}/members/{user}", {
          params: { path: { org, user: id ?? "" } },
        }),
      ),
  });
  if (!id) return <>{t("organization.audit.system")}</>;
  return <>{member.data?.name ?? id}</>;
}

function Details({ entry }: { entry: Entry }) {
  const { t } = useTranslation();
  const json = (value: unknown) => JSON.stringify(value ?? null, null, 2);
  return (
    <dl>
      <dt>{t("organization.audit.before")}</dt>
      <dd>
        <CodeBlock>
          <CodeBlockCode>{json(entry.before)}</CodeBlockCode>
        </CodeBlock>
      </dd>
      <dt>{t("organization.audit.after")}</dt>
      <dd>
        <CodeBlock>
          <CodeBlockCode>{json(entry.after)}</CodeBlockCode>
        </CodeBlock>
      </dd>
      <dt>{t("organization.audit.userAgent")}</dt>
      <dd>{entry.userAgent ?? "—"}</dd>
      <dt>{t("organization.audit.requestId")}</dt>
      <dd>{entry.requestId ?? "—"}</dd>
    </dl>
  );
}

export function Audit({ org }: TabProps) {
  const { t } = useTranslation();
  const [page, setPage] = useState({ page: 1, limit: 20 });
  const [open, setOpen] = useState<string | null>(null);
  const entries = useQuery({
    queryKey: ["org", org.id, "audit", page],
    queryFn: () =>
      call(
        api.GET("/api/v1/organizations/{org}/audit-logs", {
          params: { path: { org: org.id }, query: page },
        }),
      ),
    placeholderData: keepPreviousData,
  });
  const columns = 7;
  return (
    <Loaded query={entries}>
      {(result) =>
        result.data.length === 0 ? (
          <Empty title={t("organization.audit.none")} />
        ) : (
          <>
            <Table aria-label={t("organization.audit.title")} variant="compact">
              <Thead>
                <Tr>
                  <Th>{t("organization.audit.when")}</Th>
                  <Th>{t("organization.audit.who")}</Th>
                  <Th>{t("organization.audit.action")}</Th>
                  <Th>{t("organization.audit.resource")}</Th>
                  <Th>{t("organization.audit.outcome")}</Th>
                  <Th>{t("organization.audit.ip")}</Th>
                  <Th screenReaderText={t("common.actions")} />
                </Tr>
              </Thead>
              {result.data.map((e) => {
                const expanded = open === e.id;
                return (
                  <Tbody key={e.id} isExpanded={expanded}>
                    <Tr>
                      <Td dataLabel={t("organization.audit.when")}>{dateTime(e.occurredAt)}</Td>
                      <Td dataLabel={t("organization.audit.who")}>
                        <Actor org={org.id} id={e.actorId} />
                      </Td>
                      <Td dataLabel={t("organization.audit.action")}>
                        <code>{e.action}</code>
                      </Td>
                      <Td dataLabel={t("organization.audit.resource")}>
                        {e.resourceId ? `${e.resourceType} ${e.resourceId}` : e.resourceType}
                      </Td>
                      <Td dataLabel={t("organization.audit.outcome")}>
                        {e.success ? (
                          <Label color="green">{t("organization.audit.succeeded")}</Label>
                        ) : (
                          <Label color="red">
                            {e.errorCode
                              ? t("organization.audit.refusedWith", { code: e.errorCode })
                              : t("organization.audit.refused")}
                          </Label>
                        )}
                      </Td>
                      <Td dataLabel={t("organization.audit.ip")}>{e.ip ?? "—"}</Td>
                      <Td isActionCell>
                        <Button
                          variant="link"
                          isInline
                          aria-expanded={expanded}
                          onClick={() => setOpen(expanded ? null : e.id)}
                        >
                          {expanded
                            ? t("organization.audit.hideDetails")
                            : t("organization.audit.showDetails")}
                        </Button>
                      </Td>
                    </Tr>
                    {expanded ? (
                      <Tr isExpanded>
                        <Td colSpan={columns}>
                          <ExpandableRowContent>
                            <Details entry={e} />
                          </ExpandableRowContent>
                        </Td>
                      </Tr>
                    ) : null}
                  </Tbody>
                );
              })}
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
