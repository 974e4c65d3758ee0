import {
  Button,
  Checkbox,
  Content,
  FormGroup,
  FormSection,
  Grid,
  GridItem,
  Label,
  LabelGroup,
  PageSection,
  SearchInput,
  Toolbar,
  ToolbarContent,
  ToolbarItem,
} from "@patternfly/react-core";
import { ExpandableRowContent, Table, Tbody, Td, Th, Thead, Tr } from "@patternfly/react-table";
import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { api, call, type Schemas } from "../../api/client";
import { ConfirmButton } from "../../components/Confirm";
import { FieldMessage, TextField, numberOrNull } from "../../components/form";
import { PageHeader } from "../../components/PageHeader";
import { Pager } from "../../components/Pager";
import { Empty, fieldError, Loaded, ProblemAlert } from "../../components/states";
import { number } from "../../lib/format";
import { CAPABILITIES, perMillion, type Capability } from "../Models";
import {
  Dialog,
  ExpandToggle,
  FIRST_PAGE,
  ReadOnlyNote,
  SaveForm,
  text,
  useCanWrite,
  useFields,
} from "./shared";

type Model = Schemas["ModelDto"];
type Deployment = Schemas["DeploymentDto"];

/** The admin's list and the catalog everyone browses both show models. */
function useRefreshModels() {
  const client = useQueryClient();
  return () =>
    Promise.all(
      [["admin", "models"], ["models"], ["model"]].map((queryKey) =>
        client.invalidateQueries({ queryKey }),
      ),
    );
}

function PriceField({
  label,
  value,
  onChange,
  error,
}: {
  label: string;
  value: string;
  onChange: (value: string) => void;
  error?: string;
}) {
  const { t } = useTranslation();
  const valid = value.trim() !== "" && Number.isFinite(Number(value));
  return (
    <TextField
      label={label}
      value={value}
      onChange={onChange}
      error={error}
      hint={valid ? t("admin.models.priceHint", { price: perMillion(value) }) : undefined}
    />
  );
}

function ModelForm({ model, onClose }: { model?: Model; onClose: () => void }) {
  const { t } = useTranslation();
  const refresh = useRefreshModels();
  const [f, set] = useFields({
    name: model?.name ?? "",
    provider: model?.provider ?? "",
    description: model?.description ?? "",
    inputPrice: model?.inputCostPerToken ?? "0",
    outputPrice: model?.outputCostPerToken ?? "0",
    contextLength: text(model?.contextLength),
    capabilities: model?.capabilities ?? (["chat"] as Capability[]),
    restricted: model?.restricted ?? false,
    upstreamUrl: "",
    upstreamModel: "",
    upstreamApiKey: "",
  });
  const served = f.provider.trim() !== "mock";
  const fields = {
    name: f.name,
    provider: f.provider,
    description: f.description || null,
    inputCostPerToken: f.inputPrice || "0",
    outputCostPerToken: f.outputPrice || "0",
    contextLength: numberOrNull(f.contextLength),
    capabilities: f.capabilities,
    restricted: f.restricted,
  };
  const save = useMutation({
    mutationFn: () =>
      model
        ? call(
            api.PATCH("/api/v1/admin/models/{id}", {
              params: { path: { id: model.id } },
              body: fields,
            }),
          )
        : call(
            api.POST("/api/v1/admin/models", {
              body: {
                ...fields,
                upstreamUrl: served ? f.upstreamUrl || null : null,
                upstreamModel: served ? f.upstreamModel || null : null,
                upstreamApiKey: served ? f.upstreamApiKey || null : null,
              },
            }),
          ),
    onSuccess: async () => {
      await refresh();
      onClose();
    },
  });
  const error = (field: string) => fieldError(save.error, field);
  const toggle = (c: Capability, on: boolean) =>
    set("capabilities")(on ? [...f.capabilities, c] : f.capabilities.filter((x) => x !== c));
  return (
    <Dialog
      title={model ? t("admin.models.editTitle", { name: model.name }) : t("admin.models.add")}
      onClose={onClose}
    >
      <SaveForm
        onSubmit={() => save.mutate()}
        onCancel={onClose}
        error={save.error}
        busy={save.isPending}
        submitLabel={model ? t("common.save") : t("admin.models.add")}
      >
        <Grid hasGutter md={6}>
          <GridItem>
            <TextField
              label={t("fields.name")}
              value={f.name}
              onChange={set("name")}
              error={error("name")}
              hint={t("admin.models.nameHint")}
              isRequired
            />
          </GridItem>
          <GridItem>
            <TextField
              label={t("models.provider")}
              value={f.provider}
              onChange={set("provider")}
              error={error("provider")}
              hint={t("admin.models.providerHint")}
              isRequired
            />
          </GridItem>
        </Grid>
        <TextField
          label={t("fields.description")}
          value={f.description}
          onChange={set("description")}
          error={error("description")}
          multiline
        />
        <Grid hasGutter md={4}>
          <GridItem>
            <PriceField
              label={t("admin.models.inputPrice")}
              value={f.inputPrice}
              onChange={set("inputPrice")}
              error={error("inputCostPerToken")}
            />
          </GridItem>
          <GridItem>
            <PriceField
              label={t("admin.models.outputPrice")}
              value={f.outputPrice}
              onChange={set("outputPrice")}
              error={error("outputCostPerToken")}
            />
          </GridItem>
          <GridItem>
            <TextField
              label={t("models.contextLength")}
              type="number"
              value={f.contextLength}
              onChange={set("contextLength")}
              error={error("contextLength")}
              hint={t("admin.models.contextLengthHint")}
            />
          </GridItem>
        </Grid>
        <FormGroup
          label={t("models.capabilities")}
          isRequired
          role="group"
          fieldId="model-capabilities"
        >
          {CAPABILITIES.map((c) => (
            <Checkbox
              key={c}
              id={`model-capability-${c}`}
              label={t(`capabilities.${c}`)}
              isChecked={f.capabilities.includes(c)}
              onChange={(_, on) => toggle(c, on)}
            />
          ))}
          <FieldMessage error={error("capabilities")} />
        </FormGroup>
        <Checkbox
          id="model-restricted"
          label={t("admin.models.restricted")}
          description={t("models.restrictedExplain")}
          isChecked={f.restricted}
          onChange={(_, on) => set("restricted")(on)}
        />
        <FieldMessage error={error("restricted")} />
        {!model && served ? (
          <FormSection title={t("admin.models.firstDeployment")} titleElement="h3">
            <UpstreamFields modelName={f.name} values={f} set={set} error={error} urlRequired />
          </FormSection>
        ) : null}
      </SaveForm>
    </Dialog>
  );
}

interface Upstream {
  upstreamUrl: string;
  upstreamModel: string;
  upstreamApiKey: string;
}

function UpstreamFields({
  modelName,
  values,
  set,
  error,
  urlRequired,
  keyHint,
  keyDisabled,
}: {
  modelName: string;
  values: Upstream;
  set: <K extends keyof Upstream>(key: K) => (value: string) => void;
  error: (field: string) => string | undefined;
  urlRequired?: boolean;
  keyHint?: string;
  keyDisabled?: boolean;
}) {
  const { t } = useTranslation();
  return (
    <>
      <TextField
        label={t("admin.deployments.url")}
        value={values.upstreamUrl}
        onChange={set("upstreamUrl")}
        error={error("upstreamUrl")}
        hint={t("admin.deployments.urlHint")}
        isRequired={urlRequired}
      />
      <TextField
        label={t("admin.deployments.model")}
        value={values.upstreamModel}
        onChange={set("upstreamModel")}
        error={error("upstreamModel")}
        hint={
          modelName
            ? t("admin.deployments.modelHint", { name: modelName })
            : t("admin.deployments.modelHintNoName")
        }
      />
      <TextField
        label={t("admin.deployments.key")}
        type="password"
        autoComplete="new-password"
        value={values.upstreamApiKey}
        onChange={set("upstreamApiKey")}
        error={error("upstreamApiKey")}
        hint={keyHint ?? t("admin.deployments.keyHint")}
        isDisabled={keyDisabled}
      />
    </>
  );
}

function DeploymentForm({
  model,
  deployment,
  onClose,
}: {
  model: Model;
  deployment?: Deployment;
  onClose: () => void;
}) {
  const { t } = useTranslation();
  const refresh = useRefreshModels();
  const [f, set] = useFields({
    upstreamUrl: deployment?.upstreamUrl ?? "",
    upstreamModel: deployment?.upstreamModel ?? "",
    upstreamApiKey: "",
    removeKey: false,
    weight: text(deployment?.weight),
    rpmLimit: text(deployment?.rpmLimit),
    tpmLimit: text(deployment?.tpmLimit),
  });
  const limits = {
    weight: numberOrNull(f.weight),
    rpmLimit: numberOrNull(f.rpmLimit),
    tpmLimit: numberOrNull(f.tpmLimit),
  };
  const save = useMutation({
    mutationFn: () =>
      deployment
        ? call(
            api.PATCH("/api/v1/admin/models/{id}/deployments/{deploymentId}", {
              params: { path: { id: model.id, deploymentId: deployment.id } },
              body: {
                ...limits,
                upstreamUrl: f.upstreamUrl,
                // An empty field means the default, as when adding.
                upstreamModel: f.upstreamModel || model.name,
                // Left out, the stored key stays; null removes it.
                upstreamApiKey: f.removeKey ? null : f.upstreamApiKey || undefined,
              },
            }),
          )
        : call(
            api.POST("/api/v1/admin/models/{id}/deployments", {
              params: { path: { id: model.id } },
              body: {
                ...limits,
                upstreamUrl: f.upstreamUrl,
                upstreamModel: f.upstreamModel || null,
                upstreamApiKey: f.upstreamApiKey || null,
              },
            }),
          ),
    onSuccess: async () => {
      await refresh();
      onClose();
    },
  });
  const error = (field: string) => fieldError(save.error, field);
  return (
    <Dialog
      title={
        deployment
          ? t("admin.deployments.editTitle", { name: model.name })
          : t("admin.deployments.addTitle", { name: model.name })
      }
      onClose={onClose}
    >
      <SaveForm
        onSubmit={() => save.mutate()}
        onCancel={onClose}
        error={save.error}
        busy={save.isPending}
        submitLabel={deployment ? t("common.save") : t("admin.deployments.add")}
      >
        <UpstreamFields
          modelName={model.name}
          values={f}
          set={set}
          error={error}
          urlRequired
          keyHint={deployment?.hasApiKey ? t("admin.deployments.keyKeep") : undefined}
          keyDisabled={f.removeKey}
        />
        {deployment?.hasApiKey ? (
          <Checkbox
            id="deployment-remove-key"
            label={t("admin.deployments.removeKey")}
            isChecked={f.removeKey}
            onChange={(_, on) => set("removeKey")(on)}
          />
        ) : null}
        <Grid hasGutter md={4}>
          <GridItem>
            <TextField
              label={t("admin.deployments.weight")}
              type="number"
              value={f.weight}
              onChange={set("weight")}
              error={error("weight")}
              hint={t("admin.deployments.weightHint")}
            />
          </GridItem>
          <GridItem>
            <TextField
              label={t("limits.rpm")}
              type="number"
              value={f.rpmLimit}
              onChange={set("rpmLimit")}
              error={error("rpmLimit")}
              hint={t("admin.noLimitHint")}
            />
          </GridItem>
          <GridItem>
            <TextField
              label={t("limits.tpm")}
              type="number"
              value={f.tpmLimit}
              onChange={set("tpmLimit")}
              error={error("tpmLimit")}
              hint={t("admin.noLimitHint")}
            />
          </GridItem>
        </Grid>
      </SaveForm>
    </Dialog>
  );
}

function Deployments({ model }: { model: Model }) {
  const { t } = useTranslation();
  const canWrite = useCanWrite();
  const refresh = useRefreshModels();
  const [editing, setEditing] = useState<Deployment | "new" | null>(null);
  const remove = useMutation({
    mutationFn: (deploymentId: string) =>
      call(
        api.DELETE("/api/v1/admin/models/{id}/deployments/{deploymentId}", {
          params: { path: { id: model.id, deploymentId } },
        }),
      ),
    onSettled: refresh,
  });
  if (model.mock) return <Content component="p">{t("admin.deployments.mock")}</Content>;
  const deployments = model.deployments ?? [];
  return (
    <>
      <ProblemAlert error={remove.error} />
      {deployments.length === 0 ? (
        <Empty title={t("admin.deployments.none")} />
      ) : (
        <Table aria-label={t("admin.deployments.label", { name: model.name })} variant="compact">
          <Thead>
            <Tr>
              <Th>{t("admin.deployments.url")}</Th>
              <Th>{t("admin.deployments.model")}</Th>
              <Th>{t("admin.deployments.key")}</Th>
              <Th>{t("admin.deployments.weight")}</Th>
              <Th>{t("limits.rpm")}</Th>
              <Th>{t("limits.tpm")}</Th>
              {canWrite ? <Th screenReaderText={t("common.actions")} /> : null}
            </Tr>
          </Thead>
          <Tbody>
            {deployments.map((d) => (
              <Tr key={d.id}>
                <Td dataLabel={t("admin.deployments.url")}>
                  <code>{d.upstreamUrl}</code>
                </Td>
                <Td dataLabel={t("admin.deployments.model")}>{d.upstreamModel}</Td>
                <Td dataLabel={t("admin.deployments.key")}>
                  {d.hasApiKey ? (
                    <Label color="green">{t("admin.deployments.keySet")}</Label>
                  ) : (
                    <Label>{t("admin.deployments.noKey")}</Label>
                  )}
                </Td>
                <Td dataLabel={t("admin.deployments.weight")}>{number(d.weight)}</Td>
                <Td dataLabel={t("limits.rpm")}>{number(d.rpmLimit)}</Td>
                <Td dataLabel={t("limits.tpm")}>{number(d.tpmLimit)}</Td>
                {canWrite ? (
                  <Td isActionCell>
                    <Button variant="link" onClick={() => setEditing(d)}>
                      {t("common.edit")}
                    </Button>
                    <ConfirmButton
                      label={t("common.remove")}
                      title={t("admin.deployments.removeTitle")}
                      body={t("admin.deployments.removeBody", { url: d.upstreamUrl })}
                      confirm={t("common.remove")}
                      onConfirm={() => remove.mutateAsync(d.id).catch(() => undefined)}
                    />
                  </Td>
                ) : null}
              </Tr>
            ))}
          </Tbody>
        </Table>
      )}
      {canWrite ? (
        <Button variant="secondary" className="pf-v6-u-mt-md" onClick={() => setEditing("new")}>
          {t("admin.deployments.add")}
        </Button>
      ) : null}
      {editing ? (
        <DeploymentForm
          model={model}
          deployment={editing === "new" ? undefined : editing}
          onClose={() => setEditing(null)}
        />
      ) : null}
    </>
  );
}

const COLUMNS = 8;

function ModelRows({
  model,
  onEdit,
  onDelete,
}: {
  model: Model;
  onEdit: () => void;
  onDelete: () => Promise<unknown>;
}) {
  const { t } = useTranslation();
  const canWrite = useCanWrite();
  const [open, setOpen] = useState(false);
  return (
    <Tbody isExpanded={open}>
      <Tr>
        <Td>
          <ExpandToggle
            label={t("admin.models.showDeployments", { name: model.name })}
            isExpanded={open}
            onToggle={() => setOpen(!open)}
          />
        </Td>
        <Td dataLabel={t("fields.name")}>{model.name}</Td>
        <Td dataLabel={t("models.provider")}>{model.provider}</Td>
        <Td dataLabel={t("admin.models.prices")}>
          {t("models.pricePerMillion", {
            input: perMillion(model.inputCostPerToken),
            output: perMillion(model.outputCostPerToken),
          })}
        </Td>
        <Td dataLabel={t("models.contextLength")}>{number(model.contextLength)}</Td>
        <Td dataLabel={t("admin.models.access")}>
          <LabelGroup aria-label={t("admin.models.access")} numLabels={20}>
            {model.restricted ? <Label color="orange">{t("models.restricted")}</Label> : null}
            {model.mock ? <Label color="purple">{t("admin.models.mock")}</Label> : null}
          </LabelGroup>
        </Td>
        <Td dataLabel={t("admin.deployments.title")}>
          {model.mock ? "—" : number(model.deployments?.length ?? 0)}
        </Td>
        <Td isActionCell>
          {canWrite ? (
            <>
              <Button variant="link" onClick={onEdit}>
                {t("common.edit")}
              </Button>
              <ConfirmButton
                label={t("common.delete")}
                title={t("admin.models.deleteTitle", { name: model.name })}
                body={t("admin.models.deleteBody")}
                confirm={t("common.delete")}
                onConfirm={onDelete}
              />
            </>
          ) : null}
        </Td>
      </Tr>
      {open ? (
        <Tr isExpanded>
          <Td colSpan={COLUMNS}>
            <ExpandableRowContent>
              <Deployments model={model} />
            </ExpandableRowContent>
          </Td>
        </Tr>
      ) : null}
    </Tbody>
  );
}

export default function AdminModels() {
  const { t } = useTranslation();
  const canWrite = useCanWrite();
  const refresh = useRefreshModels();
  const [search, setSearch] = useState("");
  const [page, setPage] = useState(FIRST_PAGE);
  const [editing, setEditing] = useState<Model | "new" | null>(null);
  const models = useQuery({
    queryKey: ["admin", "models", search, page],
    queryFn: () =>
      call(
        api.GET("/api/v1/models", { params: { query: { search: search || undefined, ...page } } }),
      ),
    placeholderData: keepPreviousData,
  });
  const remove = useMutation({
    mutationFn: (id: string) =>
      call(api.DELETE("/api/v1/admin/models/{id}", { params: { path: { id } } })),
    onSettled: refresh,
  });
  return (
    <>
      <PageHeader
        title={t("admin.models.title")}
        description={t("admin.models.description")}
        actions={
          canWrite ? (
            <Button onClick={() => setEditing("new")}>{t("admin.models.add")}</Button>
          ) : null
        }
      />
      <ReadOnlyNote />
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
          </ToolbarContent>
        </Toolbar>
        <ProblemAlert error={remove.error} />
        <Loaded query={models}>
          {(result) =>
            result.pagination.total === 0 ? (
              <Empty title={search ? t("models.none") : t("admin.models.none")}>
                {search ? t("models.noneDetail") : t("admin.models.noneDetail")}
              </Empty>
            ) : (
              <>
                <Table aria-label={t("admin.models.title")} variant="compact">
                  <Thead>
                    <Tr>
                      <Th screenReaderText={t("admin.details")} />
                      <Th>{t("fields.name")}</Th>
                      <Th>{t("models.provider")}</Th>
                      <Th>{t("admin.models.prices")}</Th>
                      <Th>{t("models.contextLength")}</Th>
                      <Th>{t("admin.models.access")}</Th>
                      <Th>{t("admin.deployments.title")}</Th>
                      <Th screenReaderText={t("common.actions")} />
                    </Tr>
                  </Thead>
                  {result.data.map((model) => (
                    <ModelRows
                      key={model.id}
                      model={model}
                      onEdit={() => setEditing(model)}
                      onDelete={() => remove.mutateAsync(model.id).catch(() => undefined)}
                    />
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
      {editing ? (
        <ModelForm
          model={editing === "new" ? undefined : editing}
          onClose={() => setEditing(null)}
        />
      ) : null}
    </>
  );
}
