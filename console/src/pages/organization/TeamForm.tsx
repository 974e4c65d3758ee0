import {
  ActionGroup,
  Button,
  Checkbox,
  Form,
  FormGroup,
  FormHelperText,
  Grid,
  GridItem,
  HelperText,
  HelperTextItem,
} from "@patternfly/react-core";
import { useMutation } from "@tanstack/react-query";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { api, ApiError, call, type Schemas } from "../../api/client";
import { numberOrNull, TextField } from "../../components/form";
import { fieldError, Loaded, ProblemAlert } from "../../components/states";
import { SelectField } from "./SelectField";
import { useCatalog, useRefreshOrg } from "./queries";

type TeamDto = Schemas["TeamDto"];

const text = (n: number | null | undefined) => (n === null || n === undefined ? "" : String(n));

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
  const [budget, setBudget] = useState(team?.budget ?? "");
  const [period, setPeriod] = useState<string>(team?.budgetPeriod ?? "");
  const [tpm, setTpm] = useState(text(team?.tpmLimit));
  const [rpm, setRpm] = useState(text(team?.rpmLimit));
  const [parallel, setParallel] = useState(text(team?.maxParallel));
  const [models, setModels] = useState<string[]>(team?.modelIds ?? []);
  const save = useMutation({
    mutationFn: () => {
      const body = {
        name,
        description: description.trim() || null,
        budget: budget || null,
        budgetPeriod: (period || null) as Schemas["BudgetPeriod"] | null,
        tpmLimit: numberOrNull(tpm),
        rpmLimit: numberOrNull(rpm),
        maxParallel: numberOrNull(parallel),
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
      <Grid hasGutter md={6}>
        <GridItem>
          <TextField
            label={t("limits.budget")}
            type="number"
            value={budget}
            onChange={setBudget}
            hint={t("organization.teams.budgetHint")}
            error={fieldError(error, "budget")}
          />
        </GridItem>
        <GridItem>
          <SelectField
            label={t("limits.budgetPeriod")}
            value={period}
            onChange={setPeriod}
            options={[
              { value: "", label: t("periods.none") },
              { value: "daily", label: t("periods.daily") },
              { value: "weekly", label: t("periods.weekly") },
              { value: "monthly", label: t("periods.monthly") },
            ]}
            error={fieldError(error, "budgetPeriod")}
          />
        </GridItem>
        <GridItem>
          <TextField
            label={t("limits.tpm")}
            type="number"
            value={tpm}
            onChange={setTpm}
            error={fieldError(error, "tpmLimit")}
          />
        </GridItem>
        <GridItem>
          <TextField
            label={t("limits.rpm")}
            type="number"
            value={rpm}
            onChange={setRpm}
            error={fieldError(error, "rpmLimit")}
          />
        </GridItem>
        <GridItem>
          <TextField
            label={t("limits.parallel")}
            type="number"
            value={parallel}
            onChange={setParallel}
            hint={t("organization.teams.parallelHint")}
            error={fieldError(error, "maxParallel")}
          />
        </GridItem>
      </Grid>
      <ModelChoice chosen={models} onChange={setModels} error={modelsError(error)} />
      <ActionGroup>
        <Button type="submit" isLoading={save.isPending} isDisabled={save.isPending}>
          {team ? t("common.save") : t("organization.teams.create")}
        </Button>
      </ActionGroup>
    </Form>
  );
}
