import {
  Alert,
  Button,
  DescriptionList,
  DescriptionListDescription,
  DescriptionListGroup,
  DescriptionListTerm,
  Label,
  LabelGroup,
  PageSection,
} from "@patternfly/react-core";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { Link, useParams } from "react-router";
import { api, call } from "../api/client";
import { PageHeader } from "../components/PageHeader";
import { Loaded, ProblemAlert } from "../components/states";
import { number } from "../lib/format";
import { useMySubscriptions } from "../lib/queries";
import { perMillion } from "./Models";

export default function ModelDetail() {
  const { t } = useTranslation();
  const { id = "" } = useParams();
  const client = useQueryClient();
  const model = useQuery({
    queryKey: ["model", id],
    queryFn: () => call(api.GET("/api/v1/models/{id}", { params: { path: { id } } })),
  });
  const subscriptions = useMySubscriptions();
  const subscribe = useMutation({
    mutationFn: () => call(api.POST("/api/v1/subscriptions", { body: { modelId: id } })),
    onSuccess: () => client.invalidateQueries({ queryKey: ["subscriptions"] }),
  });
  const mine = subscriptions.data?.data.find((s) => s.modelId === id && s.status !== "cancelled");
  return (
    <Loaded query={model}>
      {(m) => (
        <>
          <PageHeader
            title={m.name}
            description={m.description ?? undefined}
            actions={
              mine ? (
                <Label color={mine.status === "active" ? "green" : "orange"}>
                  {t(`subscriptionStatus.${mine.status}`)}
                </Label>
              ) : (
                <Button
                  onClick={() => subscribe.mutate()}
                  isLoading={subscribe.isPending}
                  isDisabled={subscribe.isPending || subscriptions.isPending}
                >
                  {m.restricted ? t("models.requestAccess") : t("models.subscribe")}
                </Button>
              )
            }
          />
          <PageSection>
            <ProblemAlert error={subscribe.error} />
            {subscribe.data?.status === "pending" ? (
              <Alert variant="info" isInline title={t("models.pendingApproval")} />
            ) : null}
            {m.restricted && !mine ? (
              <Alert variant="info" isInline title={t("models.restrictedExplain")} />
            ) : null}
            <DescriptionList isHorizontal>
              <DescriptionListGroup>
                <DescriptionListTerm>{t("models.provider")}</DescriptionListTerm>
                <DescriptionListDescription>{m.provider}</DescriptionListDescription>
              </DescriptionListGroup>
              <DescriptionListGroup>
                <DescriptionListTerm>{t("models.inputPrice")}</DescriptionListTerm>
                <DescriptionListDescription>
                  {t("models.perMillion", { price: perMillion(m.inputCostPerToken) })}
                </DescriptionListDescription>
              </DescriptionListGroup>
              <DescriptionListGroup>
                <DescriptionListTerm>{t("models.outputPrice")}</DescriptionListTerm>
                <DescriptionListDescription>
                  {t("models.perMillion", { price: perMillion(m.outputCostPerToken) })}
                </DescriptionListDescription>
              </DescriptionListGroup>
              <DescriptionListGroup>
                <DescriptionListTerm>{t("models.contextLength")}</DescriptionListTerm>
                <DescriptionListDescription>
                  {m.contextLength
                    ? t("models.tokens", {
                        count: m.contextLength,
                        formatted: number(m.contextLength),
                      })
                    : "—"}
                </DescriptionListDescription>
              </DescriptionListGroup>
              <DescriptionListGroup>
                <DescriptionListTerm>{t("models.capabilities")}</DescriptionListTerm>
                <DescriptionListDescription>
                  <LabelGroup aria-label={t("models.capabilities")} numLabels={20}>
                    {m.capabilities.map((c) => (
                      <Label key={c}>{t(`capabilities.${c}`)}</Label>
                    ))}
                  </LabelGroup>
                </DescriptionListDescription>
              </DescriptionListGroup>
            </DescriptionList>
            {mine?.status === "active" ? (
              <p className="pf-v6-u-mt-md">
                <Link to="/api-keys">{t("models.createKey")}</Link> ·{" "}
                <Link to={`/playground?model=${encodeURIComponent(m.name)}`}>
                  {t("models.tryIt")}
                </Link>
              </p>
            ) : null}
          </PageSection>
        </>
      )}
    </Loaded>
  );
}
