// The limits keys, teams and users share: a budget with its period, tokens and requests
// per minute, requests at once. Kept as text while edited: an empty field means "none".
import { Grid, GridItem } from "@patternfly/react-core";
import { useTranslation } from "react-i18next";
import type { Schemas } from "../api/client";
import { numberOrNull, SelectField, TextField } from "./form";
import { fieldError } from "./states";

export interface LimitsText {
  budget: string;
  period: string;
  tpm: string;
  rpm: string;
  parallel: string;
}

interface Limits {
  budgetPeriod?: Schemas["BudgetPeriod"] | null;
  tpmLimit?: number | null;
  rpmLimit?: number | null;
  maxParallel?: number | null;
}

const text = (n: number | null | undefined) => (n === null || n === undefined ? "" : String(n));

/** What a key's, team's or user's limits are, to edit. */
export function limitsText(
  limits: Limits | undefined,
  budget: string | null | undefined,
): LimitsText {
  return {
    budget: budget ?? "",
    period: limits?.budgetPeriod ?? "",
    tpm: text(limits?.tpmLimit),
    rpm: text(limits?.rpmLimit),
    parallel: text(limits?.maxParallel),
  };
}

/** The limits as the API takes them (`null`: none), but the budget, whose name differs. */
export function limitsBody(v: LimitsText) {
  return {
    budgetPeriod: (v.period || null) as Schemas["BudgetPeriod"] | null,
    tpmLimit: numberOrNull(v.tpm),
    rpmLimit: numberOrNull(v.rpm),
    maxParallel: numberOrNull(v.parallel),
  };
}

export function LimitsFields({
  value,
  onChange,
  error,
  budgetField,
  budgetHint,
  parallelHint,
}: {
  value: LimitsText;
  onChange: (value: LimitsText) => void;
  error: unknown;
  /** The API's name for the budget: `maxBudget` (keys, users) or `budget` (teams). */
  budgetField: "maxBudget" | "budget";
  budgetHint?: string;
  parallelHint?: string;
}) {
  const { t } = useTranslation();
  const set = (key: keyof LimitsText) => (v: string) => onChange({ ...value, [key]: v });
  const number = (key: "tpm" | "rpm" | "parallel", field: string, label: string, hint?: string) => (
    <GridItem>
      <TextField
        label={label}
        type="number"
        value={value[key]}
        onChange={set(key)}
        hint={hint}
        error={fieldError(error, field)}
      />
    </GridItem>
  );
  return (
    <Grid hasGutter md={6}>
      <GridItem>
        {/* Text, not a number input: a budget like 12.50 must be accepted as typed. */}
        <TextField
          label={t("limits.budget")}
          value={value.budget}
          onChange={set("budget")}
          hint={budgetHint}
          error={fieldError(error, budgetField)}
        />
      </GridItem>
      <GridItem>
        <SelectField
          label={t("limits.budgetPeriod")}
          value={value.period}
          onChange={set("period")}
          options={["", "daily", "weekly", "monthly"].map((p) => ({
            value: p,
            label: t(`periods.${p || "none"}`),
          }))}
          error={fieldError(error, "budgetPeriod")}
        />
      </GridItem>
      {number("tpm", "tpmLimit", t("limits.tpm"))}
      {number("rpm", "rpmLimit", t("limits.rpm"))}
      {number("parallel", "maxParallel", t("limits.parallel"), parallelHint)}
    </Grid>
  );
}
