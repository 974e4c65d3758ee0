import {
  Checkbox,
  Form,
  FormGroup,
  FormHelperText,
  HelperText,
  HelperTextItem,
} from "@patternfly/react-core";
import { useMutation } from "@tanstack/react-query";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { api, ApiError, call, type Schemas } from "../../api/client";
import { Submit, TextField } from "../../components/form";
import { LimitsFields, limitsBody, limitsText } from "../../components/Limits";
import { fieldError, Loaded, ProblemAlert } from "../../components/states";
import { useCatalog, useRefreshOrg } from "./queries";

type TeamDto = Schemas["TeamDto"];

/** The API names each bad model by its place in the list (`modelIds[2]`). */
const modelsError = (error: unknown) =>
  error instanceof ApiError
    ? error.problem.errors?.find((e) => e.field.startsWith("modelIds"))?.message
    : undefined;

function ModelChoice({
  chosen,
  onChange,
  error,
}: {
  chosen: string[];
  onChange: (ids: string[]) => void;
  error?: string;
}) {
  const { t } = useTranslation();
  const catalog = useCatalog();
  return (
    <FormGroup label={t("organization.teams.models")} role="group" fieldId="team-models">
      <Loaded query={catalog}>
        {(models) =>
          models.map((m) => (
            <Checkbox
              key={m.id}
              id={`team-model-${m.id}`}
              label={m.name}
              isChecked={chosen.includes(m.id)}
              onChange={(_, on) =>
                onChange(on ? [...chosen, m.id] : chosen.filter((id) => id !== m.id))
              }
            />
          ))
        }
      </Loaded>
      <FormHelperText>
        <HelperText>
          <HelperTextItem variant={error ? "error" : "default"}>
            {error ?? t("organization.teams.modelsHint")}
          </HelperTextItem>
        </HelperText>
      </FormHelperText>
    </FormGroup>
  );
}

/** Creates a team, or changes the one given. */
export function TeamForm({
  org,
  team,
  onDone,
}: {
  org: string;
  team?: TeamDto;
  onDone: (team: TeamDto) => void;
}) {
  const { t } = useTranslation();
  const refresh = useRefreshOrg(org);
  const [name, setName] = useState(team?.name ?? "");
  const [description, setDescription] = useState(team?.description ?? "");
  const [limits, setLimits] = useState(() => limitsText(team, team?.budget));
  const [models, setModels] = useState<string[]>(team?.modelIds ?? []);
  const save = useMutation({
    mutationFn: () => {
      const body = {
        name,
        description: description.trim() || null,
        budget: limits.budget || null,
        ...limitsBody(limits),
        modelIds: models,
      };
      return team
        ? call(
            api.PATCH("/api/v1/organizations/{org}/teams/{team}", {
              params: { path: { org, team: team.id } },
              body,
            }),
          )
        : call(api.POST("/api/v1/organizations/{org}/teams", { params: { path: { org } }, body }));
    },
    onSuccess: async (saved) => {
      await refresh();
      onDone(saved);
    },
  });
  const error = save.error;
  return (
    <Form
      onSubmit={(e) => {
        e.preventDefault();
        save.mutate();
      }}
    >
      <ProblemAlert error={error} />
      <TextField
        label={t("fields.name")}
        value={name}
        onChange={setName}
        error={fieldError(error, "name")}
        isRequired
      />
      <TextField
        label={t("fields.description")}
        value={description}
        onChange={setDescription}
        error={fieldError(error, "description")}
        multiline
      />
      <LimitsFields
        value={limits}
        onChange={setLimits}
        error={error}
        budgetField="budget"
        budgetHint={t("organization.teams.budgetHint")}
        parallelHint={t("organization.teams.parallelHint")}
      />
      <ModelChoice chosen={models} onChange={setModels} error={modelsError(error)} />
      <Submit busy={save.isPending}>
        {team ? t("common.save") : t("organization.teams.create")}
      </Submit>
    </Form>
  );
}
