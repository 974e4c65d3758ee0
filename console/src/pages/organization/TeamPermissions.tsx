import { Alert, Checkbox, Form, FormGroup, Title } from "@patternfly/react-core";
import { useMutation } from "@tanstack/react-query";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { api, call, type Schemas } from "../../api/client";
import { ProblemAlert } from "../../components/states";
import { PERMISSIONS, type Permission } from "./access";
import { useRefreshOrg } from "./queries";
import { Submit } from "../../components/form";

/** The organization permissions an owner delegates to the team's members. */
export function TeamPermissions({
  org,
  team,
  mayGrant,
}: {
  org: string;
  team: Schemas["TeamDto"];
  mayGrant: boolean;
}) {
  const { t } = useTranslation();
  const refresh = useRefreshOrg(org);
  const [chosen, setChosen] = useState<Permission[]>(team.permissions);
  const save = useMutation({
    mutationFn: () =>
      call(
        api.PUT("/api/v1/organizations/{org}/teams/{team}/permissions", {
          params: { path: { org, team: team.id } },
          body: { permissions: chosen },
        }),
      ),
    onSuccess: refresh,
  });
  return (
    <Form
      onSubmit={(e) => {
        e.preventDefault();
        save.mutate();
      }}
    >
      <Title headingLevel="h3">{t("organization.permissions.title")}</Title>
      <p>{t("organization.permissions.explain")}</p>
      <ProblemAlert error={save.error} />
      {save.isSuccess ? <Alert variant="success" isInline title={t("common.saved")} /> : null}
      <FormGroup
        label={t("organization.permissions.label")}
        role="group"
        fieldId="team-permissions"
      >
        {PERMISSIONS.map((p) => (
          <Checkbox
            key={p}
            id={`permission-${p}`}
            label={t(`organization.permissions.${p}`)}
            description={t(`organization.permissions.${p}Hint`)}
            isChecked={chosen.includes(p)}
            isDisabled={!mayGrant}
            onChange={(_, on) => setChosen((c) => (on ? [...c, p] : c.filter((x) => x !== p)))}
          />
        ))}
      </FormGroup>
      {mayGrant ? <Submit busy={save.isPending}>{t("common.save")}</Submit> : null}
    </Form>
  );
}
