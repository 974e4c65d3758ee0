import {
  Card,
  CardBody,
  CardHeader,
  CardTitle,
  Gallery,
  Label,
  LabelGroup,
  PageSection,
  SearchInput,
  FormSelect,
  FormSelectOption,
  Toolbar,
  ToolbarContent,
  ToolbarItem,
} from "@patternfly/react-core";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { Link } from "react-router";
import { api, call } from "../api/client";
import { PageHeader } from "../components/PageHeader";
import { Pager } from "../components/Pager";
import { Empty, Loaded } from "../components/states";
import { money } from "../lib/format";

export const CAPABILITIES = [
  "chat",
  "completions",
  "embeddings",
  "vision",
  "tools",
  "reasoning",
] as const;
export type Capability = (typeof CAPABILITIES)[number];

/** Price per million tokens, as people compare them. */
export const perMillion = (perToken: string) => money(Number(perToken) * 1_000_000);

export default function Models() {
  const { t } = useTranslation();
  const [search, setSearch] = useState("");
  const [provider, setProvider] = useState("");
  const [capability, setCapability] = useState("");
  const [page, setPage] = useState({ page: 1, limit: 20 });
  const models = useQuery({
    queryKey: ["models", search, provider, capability, page],
    queryFn: () =>
      call(
        api.GET("/api/v1/models", {
          params: {
            query: {
              search: search || undefined,
              provider: provider || undefined,
              capability: (capability || undefined) as Capability | undefined,
              ...page,
            },
          },
        }),
      ),
    placeholderData: keepPreviousData,
  });
  // The providers to filter by are those of the catalog.
  const providers = useQuery({
    queryKey: ["models", "providers"],
    queryFn: () => call(api.GET("/api/v1/models", { params: { query: { limit: 100 } } })),
    select: (all) => [...new Set(all.data.map((m) => m.provider))].sort(),
  });
  return (
    <>
      <PageHeader title={t("models.title")} description={t("models.description")} />
      <PageSection>
        <Toolbar>
          <ToolbarContent>
            <ToolbarItem>
              <SearchInput
                aria-label={t("models.search")}
                placeholder={t("models.search")}
                value={search}
                onChange={(_, v) => {
                  setSearch(v);
                  setPage((p) => ({ ...p, page: 1 }));
                }}
                onClear={() => setSearch("")}
              />
            </ToolbarItem>
            <ToolbarItem>
              <FormSelect
                aria-label={t("models.provider")}
                value={provider}
                onChange={(_, v) => setProvider(v)}
              >
                <FormSelectOption value="" label={t("models.anyProvider")} />
                {(providers.data ?? []).map((p) => (
                  <FormSelectOption key={p} value={p} label={p} />
                ))}
              </FormSelect>
            </ToolbarItem>
            <ToolbarItem>
              <FormSelect
                aria-label={t("models.capability")}
                value={capability}
                onChange={(_, v) => setCapability(v)}
              >
                <FormSelectOption value="" label={t("models.anyCapability")} />
                {CAPABILITIES.map((c) => (
                  <FormSelectOption key={c} value={c} label={t(`capabilities.${c}`)} />
                ))}
              </FormSelect>
            </ToolbarItem>
          </ToolbarContent>
        </Toolbar>
        <Loaded query={models}>
          {(result) =>
            result.data.length === 0 ? (
              <Empty title={t("models.none")}>{t("models.noneDetail")}</Empty>
            ) : (
              <>
                <Gallery hasGutter minWidths={{ default: "18rem" }}>
                  {result.data.map((model) => (
                    <Card key={model.id} isCompact>
                      <CardHeader>
                        <CardTitle>
                          <Link to={`/models/${model.id}`}>{model.name}</Link>
                        </CardTitle>
                      </CardHeader>
                      <CardBody>
                        <p>{model.description ?? model.provider}</p>
                        <p>
                          {t("models.pricePerMillion", {
                            input: perMillion(model.inputCostPerToken),
                            output: perMillion(model.outputCostPerToken),
                          })}
                        </p>
                        <LabelGroup aria-label={t("models.capabilities")} numLabels={20}>
                          <Label color="blue">{model.provider}</Label>
                          {model.restricted ? (
                            <Label color="orange">{t("models.restricted")}</Label>
                          ) : null}
                          {model.capabilities.map((c) => (
                            <Label key={c}>{t(`capabilities.${c}`)}</Label>
                          ))}
                        </LabelGroup>
                      </CardBody>
                    </Card>
                  ))}
                </Gallery>
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
