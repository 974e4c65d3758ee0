import {
  Card,
  CardBody,
  CardTitle,
  CodeBlock,
  CodeBlockAction,
  CodeBlockCode,
  ClipboardCopyButton,
  Grid,
  GridItem,
  PageSection,
  Progress,
  Tab,
  Tabs,
  TabTitleText,
} from "@patternfly/react-core";
import { Table, Tbody, Td, Th, Thead, Tr } from "@patternfly/react-table";
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { Link } from "react-router";
import { api, call } from "../api/client";
import { PageHeader } from "../components/PageHeader";
import { Empty, Loaded } from "../components/states";
import { dateTime, money, number } from "../lib/format";
import { useMe } from "../lib/session";

/** Ready-to-run calls of the gateway at this server's address. */
export function snippets(gateway: string, model: string) {
  return {
    curl: `curl ${gateway}/chat/completions \\
  -H "Authorization: Bearer $PURSER_API_KEY" \\
  -H "Content-Type: application/json" \\
  -d '{"model": "${model}", "messages": [{"role": "user", "content": "Hello"}]}'`,
    python: `import os

from openai import OpenAI

client = OpenAI(base_url="${gateway}", api_key=os.environ["PURSER_API_KEY"])
answer = client.chat.completions.create(
    model="${model}",
    messages=[{"role": "user", "content": "Hello"}],
)
print(answer.choices[0].message.content)`,
    node: `import OpenAI from "openai";

const client = new OpenAI({ baseURL: "${gateway}", apiKey: process.env.PURSER_API_KEY });
const answer = await client.chat.completions.create({
  model: "${model}",
  messages: [{ role: "user", content: "Hello" }],
});
console.log(answer.choices[0].message.content);`,
  };
}

function QuickStart({ model }: { model: string }) {
  const { t } = useTranslation();
  const [tab, setTab] = useState<"curl" | "python" | "node">("curl");
  const [copied, setCopied] = useState(false);
  const code = snippets(`${window.location.origin}/v1`, model);
  return (
    <Card>
      <CardTitle>{t("home.quickStart")}</CardTitle>
      <CardBody>
        <Tabs
          id="quick-start"
          activeKey={tab}
          onSelect={(_, k) => setTab(k as typeof tab)}
          aria-label={t("home.quickStart")}
        >
          {(["curl", "python", "node"] as const).map((k) => (
            <Tab key={k} eventKey={k} title={<TabTitleText>{t(`home.lang.${k}`)}</TabTitleText>}>
              <CodeBlock
                actions={
                  <CodeBlockAction>
                    <ClipboardCopyButton
                      id={`quick-start-copy-${k}`}
                      textId={`quick-start-code-${k}`}
                      aria-label={t("common.copy")}
                      onClick={() => {
                        void navigator.clipboard?.writeText(code[k]);
                        setCopied(true);
                      }}
                      exitDelay={copied ? 1500 : 600}
                      variant="plain"
                      onTooltipHidden={() => setCopied(false)}
                    >
                      {copied ? t("common.copied") : t("common.copy")}
                    </ClipboardCopyButton>
                  </CodeBlockAction>
                }
              >
                <CodeBlockCode id={`quick-start-code-${k}`}>{code[k]}</CodeBlockCode>
              </CodeBlock>
            </Tab>
          ))}
        </Tabs>
        <p className="pf-v6-u-mt-sm">
          {t("home.quickStartKey")} <Link to="/api-keys">{t("nav.apiKeys")}</Link>
        </p>
      </CardBody>
    </Card>
  );
}

export default function Home() {
  const { t } = useTranslation();
  const me = useMe();
  const budgets = useQuery({
    queryKey: ["usage", "budgets"],
    queryFn: () => call(api.GET("/api/v1/usage/budgets")),
  });
  const recent = useQuery({
    queryKey: ["usage", "recent"],
    queryFn: () => call(api.GET("/api/v1/usage/records", { params: { query: { limit: 5 } } })),
  });
  const firstModel = recent.data?.data[0]?.modelName ?? "MODEL";
  return (
    <>
      <PageHeader title={t("home.title", { name: me.data?.name ?? "" })} />
      <PageSection>
        <Grid hasGutter>
          <GridItem lg={6}>
            <Card isFullHeight>
              <CardTitle>{t("home.budgets")}</CardTitle>
              <CardBody>
                <Loaded query={budgets}>
                  {(list) =>
                    list.length === 0 ? (
                      <Empty title={t("home.noBudgets")}>{t("home.noBudgetsDetail")}</Empty>
                    ) : (
                      list.map((b) => (
                        <Progress
                          key={`${b.scope}-${b.id}`}
                          className="pf-v6-u-mb-md"
                          title={`${t(`home.scope.${b.scope}`)}: ${b.name}`}
                          value={Math.min(
                            100,
                            (Number(b.spend) / Math.max(Number(b.budget), 1e-9)) * 100,
                          )}
                          label={t("home.spendOf", {
                            spend: money(b.spend),
                            budget: money(b.budget),
                            period: t(`periods.${b.period ?? "none"}`),
                          })}
                          variant={Number(b.spend) >= Number(b.budget) ? "danger" : undefined}
                          measureLocation="outside"
                        />
                      ))
                    )
                  }
                </Loaded>
              </CardBody>
            </Card>
          </GridItem>
          <GridItem lg={6}>
            <Card isFullHeight>
              <CardTitle>{t("home.recent")}</CardTitle>
              <CardBody>
                <Loaded query={recent}>
                  {(page) =>
                    page.data.length === 0 ? (
                      <Empty title={t("home.noActivity")}>{t("home.noActivityDetail")}</Empty>
                    ) : (
                      <Table aria-label={t("home.recent")} variant="compact">
                        <Thead>
                          <Tr>
                            <Th>{t("usage.when")}</Th>
                            <Th>{t("fields.model")}</Th>
                            <Th>{t("usage.tokens")}</Th>
                            <Th>{t("usage.cost")}</Th>
                          </Tr>
                        </Thead>
                        <Tbody>
                          {page.data.map((r) => (
                            <Tr key={r.id}>
                              <Td dataLabel={t("usage.when")}>{dateTime(r.createdAt)}</Td>
                              <Td dataLabel={t("fields.model")}>{r.modelName}</Td>
                              <Td dataLabel={t("usage.tokens")}>
                                {number(r.promptTokens + r.completionTokens)}
                              </Td>
                              <Td dataLabel={t("usage.cost")}>{money(r.cost, true)}</Td>
                            </Tr>
                          ))}
                        </Tbody>
                      </Table>
                    )
                  }
                </Loaded>
              </CardBody>
            </Card>
          </GridItem>
          <GridItem>
            <QuickStart model={firstModel} />
          </GridItem>
        </Grid>
      </PageSection>
    </>
  );
}
