import {
  Button,
  Card,
  CardBody,
  CardTitle,
  Flex,
  FormGroup,
  FormSelect,
  FormSelectOption,
  Gallery,
  Label,
  PageSection,
  TextInput,
  Title,
  Toolbar,
  ToolbarContent,
  ToolbarItem,
} from "@patternfly/react-core";
import { Table, Tbody, Td, Th, Thead, Tr } from "@patternfly/react-table";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useMemo, useState } from "react";
import { useTranslation } from "react-i18next";
import { api, call } from "../api/client";
import { TimeChart, type Series } from "../components/Chart";
import { PageHeader } from "../components/PageHeader";
import { Pager } from "../components/Pager";
import { Empty, Loaded } from "../components/states";
import { dateTime, money, number } from "../lib/format";
import { currentTheme } from "../lib/theme";

type Preset = "24h" | "7d" | "30d" | "90d" | "custom";
const DAY = 86_400_000;
const isoDay = (d: Date) => d.toISOString().slice(0, 10);

/** The period a preset means, and the buckets that suit it. */
export function period(preset: Preset, custom: { from: string; to: string }, now = Date.now()) {
  if (preset === "custom") {
    const from = new Date(`${custom.from}T00:00:00Z`);
    const to = new Date(new Date(`${custom.to}T00:00:00Z`).getTime() + DAY);
    const days = (to.getTime() - from.getTime()) / DAY;
    return {
      from: from.toISOString(),
      to: to.toISOString(),
      bucket: days <= 2 ? "hour" : "day",
    } as const;
  }
  const days = { "24h": 1, "7d": 7, "30d": 30, "90d": 90 }[preset];
  const to = new Date(now);
  const from = new Date(now - days * DAY);
  return {
    from: from.toISOString(),
    to: to.toISOString(),
    bucket: days <= 2 ? "hour" : "day",
  } as const;
}

export default function Usage() {
  const { t } = useTranslation();
  const [preset, setPreset] = useState<Preset>("30d");
  const [custom, setCustom] = useState(() => ({
    from: isoDay(new Date(Date.now() - 7 * DAY)),
    to: isoDay(new Date()),
  }));
  const [page, setPage] = useState({ page: 1, limit: 20 });
  // The period is fixed when chosen, so that queries do not chase the clock.
  const [chosenAt, setChosenAt] = useState(() => Date.now());
  const range = useMemo(() => period(preset, custom, chosenAt), [preset, custom, chosenAt]);
  const query = { from: range.from, to: range.to };

  const summary = useQuery({
    queryKey: ["usage", "summary", query],
    queryFn: () => call(api.GET("/api/v1/usage/summary", { params: { query } })),
  });
  const series = useQuery({
    queryKey: ["usage", "timeseries", range],
    queryFn: () => call(api.GET("/api/v1/usage/timeseries", { params: { query: range } })),
  });
  const records = useQuery({
    queryKey: ["usage", "records", query, page],
    queryFn: () =>
      call(api.GET("/api/v1/usage/records", { params: { query: { ...query, ...page } } })),
    placeholderData: keepPreviousData,
  });
  const charts = useMemo(() => {
    const spend: Series[] = [];
    const tokens: Series[] = [];
    for (const s of series.data?.series ?? []) {
      spend.push({ name: s.modelName, points: s.points.map((p) => [p.at, Number(p.cost)]) });
      tokens.push({
        name: s.modelName,
        points: s.points.map((p) => [p.at, p.promptTokens + p.completionTokens]),
      });
    }
    return { spend, tokens };
  }, [series.data]);
  const dark = currentTheme() === "dark";
  const exportUrl = `/api/v1/usage/export?from=${encodeURIComponent(range.from)}&to=${encodeURIComponent(range.to)}`;

  return (
    <>
      <PageHeader
        title={t("usage.title")}
        description={t("usage.description")}
        actions={
          <Button component="a" href={exportUrl} variant="secondary" download>
            {t("usage.export")}
          </Button>
        }
      />
      <PageSection>
        <Toolbar>
          <ToolbarContent>
            <ToolbarItem>
              <FormGroup label={t("usage.period")} fieldId="usage-period">
                <FormSelect
                  id="usage-period"
                  value={preset}
                  onChange={(_, v) => {
                    setPreset(v as Preset);
                    setChosenAt(Date.now());
                    setPage((p) => ({ ...p, page: 1 }));
                  }}
                >
                  {(["24h", "7d", "30d", "90d", "custom"] as const).map((p) => (
                    <FormSelectOption key={p} value={p} label={t(`usage.presets.${p}`)} />
                  ))}
                </FormSelect>
              </FormGroup>
            </ToolbarItem>
            {preset === "custom" ? (
              <>
                <ToolbarItem>
                  <FormGroup label={t("usage.from")} fieldId="usage-from">
                    <TextInput
                      id="usage-from"
                      type="date"
                      value={custom.from}
                      onChange={(_, v) => setCustom((c) => ({ ...c, from: v }))}
                    />
                  </FormGroup>
                </ToolbarItem>
                <ToolbarItem>
                  <FormGroup label={t("usage.to")} fieldId="usage-to">
                    <TextInput
                      id="usage-to"
                      type="date"
                      value={custom.to}
                      onChange={(_, v) => setCustom((c) => ({ ...c, to: v }))}
                    />
                  </FormGroup>
                </ToolbarItem>
              </>
            ) : null}
          </ToolbarContent>
        </Toolbar>
        <Loaded query={summary}>
          {(s) => (
            <Gallery hasGutter minWidths={{ default: "12rem" }}>
              {[
                [t("usage.requests"), number(s.totals.requests)],
                [t("usage.promptTokens"), number(s.totals.promptTokens)],
                [t("usage.completionTokens"), number(s.totals.completionTokens)],
                [t("usage.cost"), money(s.totals.cost)],
              ].map(([label, value]) => (
                <Card key={label} isCompact>
                  <CardTitle>{label}</CardTitle>
                  <CardBody>
                    <Title headingLevel="h2" size="2xl">
                      {value}
                    </Title>
                  </CardBody>
                </Card>
              ))}
            </Gallery>
          )}
        </Loaded>
      </PageSection>
      <PageSection>
        <Loaded query={series}>
          {(data) =>
            data.series.length === 0 ? (
              <Empty title={t("usage.none")}>{t("usage.noneDetail")}</Empty>
            ) : (
              <Flex direction={{ default: "column" }}>
                <Title headingLevel="h2">{t("usage.spendOverTime")}</Title>
                <TimeChart
                  series={charts.spend}
                  kind="bar"
                  label={t("usage.spendOverTime")}
                  format={(v) => money(v)}
                  dark={dark}
                />
                <Title headingLevel="h2">{t("usage.tokensOverTime")}</Title>
                <TimeChart
                  series={charts.tokens}
                  kind="line"
                  label={t("usage.tokensOverTime")}
                  format={(v) => number(v)}
                  dark={dark}
                />
              </Flex>
            )
          }
        </Loaded>
      </PageSection>
      <PageSection>
        <Title headingLevel="h2">{t("usage.requestsTable")}</Title>
        <Loaded query={records}>
          {(result) =>
            result.data.length === 0 ? (
              <Empty title={t("usage.none")} />
            ) : (
              <>
                <Table aria-label={t("usage.requestsTable")} variant="compact">
                  <Thead>
                    <Tr>
                      <Th>{t("usage.when")}</Th>
                      <Th>{t("fields.model")}</Th>
                      <Th>{t("usage.endpoint")}</Th>
                      <Th>{t("usage.promptTokens")}</Th>
                      <Th>{t("usage.completionTokens")}</Th>
                      <Th>{t("usage.cost")}</Th>
                      <Th>{t("fields.status")}</Th>
                    </Tr>
                  </Thead>
                  <Tbody>
                    {result.data.map((r) => (
                      <Tr key={r.id}>
                        <Td dataLabel={t("usage.when")}>{dateTime(r.createdAt)}</Td>
                        <Td dataLabel={t("fields.model")}>{r.modelName}</Td>
                        <Td dataLabel={t("usage.endpoint")}>{r.endpoint}</Td>
                        <Td dataLabel={t("usage.promptTokens")}>{number(r.promptTokens)}</Td>
                        <Td dataLabel={t("usage.completionTokens")}>
                          {number(r.completionTokens)}
                        </Td>
                        <Td dataLabel={t("usage.cost")}>
                          {money(r.cost, true)}{" "}
                          {r.estimated ? <Label isCompact>{t("usage.estimated")}</Label> : null}
                        </Td>
                        <Td dataLabel={t("fields.status")}>{r.status}</Td>
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
    </>
  );
}
