import {
  ActionGroup,
  Alert,
  Button,
  Card,
  CardBody,
  CardTitle,
  Form,
  FormGroup,
  FormSelect,
  FormSelectOption,
  Grid,
  GridItem,
  PageSection,
  Stack,
  TextArea,
  TextInput,
} from "@patternfly/react-core";
import { useQuery } from "@tanstack/react-query";
import { useRef, useState } from "react";
import { useTranslation } from "react-i18next";
import { useSearchParams } from "react-router";
import { api, call } from "../api/client";
import { PageHeader } from "../components/PageHeader";
import { money, number } from "../lib/format";
import { useMySubscriptions } from "../lib/queries";
import { readChatStream } from "../lib/sse";

interface Turn {
  role: "user" | "assistant";
  content: string;
  usage?: { prompt: number; completion: number; cost: number };
}

/**
 * Chat with a model through Purser's own gateway. The key lives in this page's state only:
 * never in storage, gone when the tab is.
 */
export default function Playground() {
  const { t } = useTranslation();
  const [params] = useSearchParams();
  const subscriptions = useMySubscriptions();
  const active = (subscriptions.data?.data ?? []).filter((s) => s.status === "active");
  const [model, setModel] = useState(params.get("model") ?? "");
  const [key, setKey] = useState("");
  const [prompt, setPrompt] = useState("");
  const [turns, setTurns] = useState<Turn[]>([]);
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<string | null>(null);
  const stop = useRef<AbortController | null>(null);
  const chosen = model || active[0]?.modelName || "";
  const modelId = active.find((s) => s.modelName === chosen)?.modelId;
  const prices = useQuery({
    queryKey: ["model", modelId],
    queryFn: () => call(api.GET("/api/v1/models/{id}", { params: { path: { id: modelId! } } })),
    enabled: !!modelId,
  });

  async function send() {
    const history: Turn[] = [...turns, { role: "user", content: prompt }];
    setTurns([...history, { role: "assistant", content: "" }]);
    setPrompt("");
    setBusy(true);
    setFailure(null);
    stop.current = new AbortController();
    const update = (change: (last: Turn) => Turn) =>
      setTurns((all) => [...all.slice(0, -1), change(all[all.length - 1]!)]);
    try {
      const response = await fetch("/v1/chat/completions", {
        method: "POST",
        headers: { authorization: `Bearer ${key.trim()}`, "content-type": "application/json" },
        body: JSON.stringify({
          model: chosen,
          stream: true,
          stream_options: { include_usage: true },
          messages: history.map(({ role, content }) => ({ role, content })),
        }),
        signal: stop.current.signal,
      });
      if (!response.ok || !response.body) {
        const body = await response.json().catch(() => null);
        setFailure(body?.error?.message ?? `${response.status} ${response.statusText}`);
        setTurns(history);
        return;
      }
      await readChatStream(response.body, (chunk) => {
        const text = chunk.choices?.[0]?.delta?.content ?? "";
        if (text) update((last) => ({ ...last, content: last.content + text }));
        if (chunk.usage) {
          const { prompt_tokens: p, completion_tokens: c } = chunk.usage;
          const input = Number(prices.data?.inputCostPerToken ?? 0);
          const output = Number(prices.data?.outputCostPerToken ?? 0);
          update((last) => ({
            ...last,
            usage: { prompt: p, completion: c, cost: p * input + c * output },
          }));
        }
      });
    } catch (e) {
      if ((e as Error).name !== "AbortError") setFailure(t("errors.network"));
    } finally {
      setBusy(false);
      stop.current = null;
    }
  }

  return (
    <>
      <PageHeader title={t("playground.title")} description={t("playground.description")} />
      <PageSection>
        <Grid hasGutter>
          <GridItem md={4}>
            <Form>
              <FormGroup label={t("fields.model")} fieldId="playground-model" isRequired>
                <FormSelect id="playground-model" value={chosen} onChange={(_, v) => setModel(v)}>
                  {active.length === 0 ? (
                    <FormSelectOption value="" label={t("playground.noModels")} isDisabled />
                  ) : null}
                  {active.map((s) => (
                    <FormSelectOption key={s.modelId} value={s.modelName} label={s.modelName} />
                  ))}
                </FormSelect>
              </FormGroup>
              <FormGroup label={t("playground.key")} fieldId="playground-key" isRequired>
                <TextInput
                  id="playground-key"
                  type="password"
                  autoComplete="off"
                  value={key}
                  onChange={(_, v) => setKey(v)}
                  placeholder="sk-prs-…"
                />
              </FormGroup>
              <Alert variant="info" isInline isPlain title={t("playground.keyNotKept")} />
            </Form>
          </GridItem>
          <GridItem md={8}>
            <Stack hasGutter>
              <div className="purser-chat-log" role="log" aria-label={t("playground.conversation")}>
                <Stack hasGutter>
                  {turns.map((turn, i) => (
                    <Card key={i} isCompact>
                      <CardTitle>{turn.role === "user" ? t("playground.you") : chosen}</CardTitle>
                      <CardBody>
                        <div className="purser-pre">{turn.content}</div>
                        {turn.usage ? (
                          <small>
                            {t("playground.usage", {
                              prompt: number(turn.usage.prompt),
                              completion: number(turn.usage.completion),
                              cost: money(turn.usage.cost, true),
                            })}
                          </small>
                        ) : null}
                      </CardBody>
                    </Card>
                  ))}
                </Stack>
              </div>
              {failure ? <Alert variant="danger" isInline title={failure} /> : null}
              <Form
                onSubmit={(e) => {
                  e.preventDefault();
                  void send();
                }}
              >
                <FormGroup label={t("playground.message")} fieldId="playground-message">
                  <TextArea
                    id="playground-message"
                    value={prompt}
                    onChange={(_, v) => setPrompt(v)}
                    autoResize
                  />
                </FormGroup>
                <ActionGroup>
                  <Button
                    type="submit"
                    isDisabled={busy || !prompt.trim() || !key.trim() || !chosen}
                    isLoading={busy}
                  >
                    {t("playground.send")}
                  </Button>
                  {busy ? (
                    <Button variant="secondary" onClick={() => stop.current?.abort()}>
                      {t("playground.stop")}
                    </Button>
                  ) : null}
                  <Button variant="link" onClick={() => setTurns([])} isDisabled={busy}>
                    {t("playground.clear")}
                  </Button>
                </ActionGroup>
              </Form>
            </Stack>
          </GridItem>
        </Grid>
      </PageSection>
    </>
  );
}
