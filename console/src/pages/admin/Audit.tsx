import {
  ActionGroup,
  Button,
  CodeBlock,
  CodeBlockCode,
  DescriptionList,
  DescriptionListDescription,
  DescriptionListGroup,
  DescriptionListTerm,
  Form,
  Grid,
  GridItem,
  Label,
  PageSection,
  Title,
} from "@patternfly/react-core";
import { ExpandableRowContent, Table, Tbody, Td, Th, Thead, Tr } from "@patternfly/react-table";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { api, call, type Schemas } from "../../api/client";
import { TextField } from "../../components/form";
import { PageHeader } from "../../components/PageHeader";
import { Pager } from "../../components/Pager";
import { Empty, fieldError, Loaded } from "../../components/states";
import { dateTime } from "../../lib/format";
import { ExpandToggle, FIRST_PAGE, useFields, UserName } from "./shared";

type Entry = Schemas["AuditEntryDto"];

const NO_FILTERS = { actorId: "", action: "", resourceType: "", orgId: "", from: "", to: "" };
type Filters = typeof NO_FILTERS;

/** The start of a day in the reader's time zone. */
const dayStart = (day: string, plusDays = 0) => {
  const date = new Date(`${day}T00:00`);
  date.setDate(date.getDate() + plusDays);
  return date.toISOString();
};

function toQuery(f: Filters) {
  return {
    actorId: f.actorId.trim() || undefined,
    action: f.action.trim() || undefined,
    resourceType: f.resourceType.trim() || undefined,
    orgId: f.orgId.trim() || undefined,
    from: f.from ? dayStart(f.from) : undefined,
    // The API's `to` is exclusive; the field means "up to and including this day".
    to: f.to ? dayStart(f.to, 1) : undefined,
  };
}

function FilterForm({
  applied,
  error,
  onApply,
}: {
  applied: Filters;
  error: unknown;
  onApply: (filters: Filters) => void;
}) {
  const { t } = useTranslation();
  const [f, set, setAll] = useFields(applied);
  const field = (name: keyof Filters, label: string, type: "text" | "date" = "text") => (
    <GridItem>
      <TextField
        label={label}
        type={type}
        value={f[name]}
        onChange={set(name)}
        error={fieldError(error, name)}
      />
    </GridItem>
  );
  return (
    <Form
      onSubmit={(e) => {
        e.preventDefault();
        onApply(f);
      }}
    >
      <Grid hasGutter md={4} xl={2}>
        {field("actorId", t("admin.audit.actorId"))}
        {field("action", t("admin.audit.action"))}
        {field("resourceType", t("admin.audit.resourceType"))}
        {field("orgId", t("admin.audit.orgId"))}
        {field("from", t("usage.from"), "date")}
        {field("to", t("usage.to"), "date")}
      </Grid>
      <ActionGroup>
        <Button type="submit">{t("admin.audit.apply")}</Button>
        <Button
          variant="link"
          onClick={() => {
            setAll(NO_FILTERS);
            onApply(NO_FILTERS);
          }}
        >
          {t("admin.audit.clear")}
        </Button>
      </ActionGroup>
    </Form>
  );
}

function Json({ title, value }: { title: string; value: unknown }) {
  const { t } = useTranslation();
  return (
    <>
      <Title headingLevel="h3" size="md">
        {title}
      </Title>
      {value === null || value === undefined ? (
        <p>{t("common.none")}</p>
      ) : (
        <CodeBlock>
          <CodeBlockCode>{JSON.stringify(value, null, 2)}</CodeBlockCode>
        </CodeBlock>
      )}
    </>
  );
}

function EntryDetails({ entry }: { entry: Entry }) {
  const { t } = useTranslation();
  const rows: [string, string | null | undefined][] = [
    [t("admin.audit.resourceId"), entry.resourceId],
    [t("admin.audit.orgId"), entry.orgId],
    [t("admin.audit.errorCode"), entry.errorCode],
    [t("admin.audit.ip"), entry.ip],
    [t("admin.audit.userAgent"), entry.userAgent],
    [t("admin.audit.requestId"), entry.requestId],
  ];
  return (
    <>
      <DescriptionList isCompact isHorizontal className="pf-v6-u-mb-md">
        {rows.map(([term, value]) => (
          <DescriptionListGroup key={term}>
            <DescriptionListTerm>{term}</DescriptionListTerm>
            <DescriptionListDescription>{value ?? "—"}</DescriptionListDescription>
          </DescriptionListGroup>
        ))}
      </DescriptionList>
      <Grid hasGutter md={6}>
        <GridItem>
          <Json title={t("admin.audit.before")} value={entry.before} />
        </GridItem>
        <GridItem>
          <Json title={t("admin.audit.after")} value={entry.after} />
        </GridItem>
      </Grid>
    </>
  );
}

const COLUMNS = 6;

function EntryRows({ entry }: { entry: Entry }) {
  const { t } = useTranslation();
  const [open, setOpen] = useState(false);
  return (
    <Tbody isExpanded={open}>
      <Tr>
        <Td>
          <ExpandToggle
            label={t("admin.audit.showDetails", { action: entry.action })}
            isExpanded={open}
            onToggle={() => setOpen(!open)}
          />
        </Td>
        <Td dataLabel={t("admin.audit.when")}>{dateTime(entry.occurredAt)}</Td>
        <Td dataLabel={t("admin.audit.actor")}>
          {entry.actorId ? <UserName id={entry.actorId} /> : t("admin.audit.system")}
        </Td>
        <Td dataLabel={t("admin.audit.action")}>
          <code>{entry.action}</code>
        </Td>
        <Td dataLabel={t("admin.audit.resource")}>
          {entry.resourceType}
          {entry.resourceId ? <code> {entry.resourceId}</code> : null}
        </Td>
        <Td dataLabel={t("admin.audit.result")}>
          {entry.success ? (
            <Label color="green">{t("admin.audit.succeeded")}</Label>
          ) : (
            <Label color="red">{t("admin.audit.failed")}</Label>
          )}
        </Td>
      </Tr>
      {open ? (
        <Tr isExpanded>
          <Td colSpan={COLUMNS}>
            <ExpandableRowContent>
              <EntryDetails entry={entry} />
            </ExpandableRowContent>
          </Td>
        </Tr>
      ) : null}
    </Tbody>
  );
}

export default function AdminAudit() {
  const { t } = useTranslation();
  const [filters, setFilters] = useState(NO_FILTERS);
  const [page, setPage] = useState(FIRST_PAGE);
  const audit = useQuery({
    queryKey: ["admin", "audit", filters, page],
    queryFn: () =>
      call(api.GET("/api/v1/admin/audit", { params: { query: { ...toQuery(filters), ...page } } })),
    placeholderData: keepPreviousData,
  });
  const filtered = Object.values(filters).some((v) => v !== "");
  return (
    <>
      <PageHeader title={t("admin.audit.title")} description={t("admin.audit.description")} />
      <PageSection>
        <FilterForm
          applied={filters}
          error={audit.error}
          onApply={(f) => {
            setFilters(f);
            setPage((p) => ({ ...p, page: 1 }));
          }}
        />
      </PageSection>
      <PageSection>
        <Loaded query={audit}>
          {(result) =>
            result.pagination.total === 0 ? (
              <Empty title={filtered ? t("admin.audit.noMatch") : t("admin.audit.none")}>
                {filtered ? t("admin.otherFilters") : null}
              </Empty>
            ) : (
              <>
                <Table aria-label={t("admin.audit.title")} variant="compact">
                  <Thead>
                    <Tr>
                      <Th screenReaderText={t("admin.details")} />
                      <Th>{t("admin.audit.when")}</Th>
                      <Th>{t("admin.audit.actor")}</Th>
                      <Th>{t("admin.audit.action")}</Th>
                      <Th>{t("admin.audit.resource")}</Th>
                      <Th>{t("admin.audit.result")}</Th>
                    </Tr>
                  </Thead>
                  {result.data.map((entry) => (
                    <EntryRows key={entry.id} entry={entry} />
                  ))}
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
    </>
  );
}
