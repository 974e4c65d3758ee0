import {
  Alert,
  Button,
  Form,
  Label,
  Modal,
  ModalBody,
  ModalHeader,
  PageSection,
} from "@patternfly/react-core";
import { Table, Tbody, Td, Th, Thead, Tr } from "@patternfly/react-table";
import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { Link, useLocation, useNavigate } from "react-router";
import { api, ApiError, call } from "../api/client";
import { Submit, TextField } from "../components/form";
import { PageHeader } from "../components/PageHeader";
import { Pager } from "../components/Pager";
import { Empty, fieldError, Loaded, ProblemAlert } from "../components/states";
import { date, number } from "../lib/format";
import { ROLE_COLOR } from "./organization/access";

function CreateOrganization() {
  const { t } = useTranslation();
  const client = useQueryClient();
  const navigate = useNavigate();
  const [name, setName] = useState("");
  const create = useMutation({
    mutationFn: () => call(api.POST("/api/v1/organizations", { body: { name } })),
    onSuccess: (org) => {
      void client.invalidateQueries({ queryKey: ["org", "list"] });
      void client.invalidateQueries({ queryKey: ["my-teams"] });
      navigate(`/organizations/${org.id}/members`);
    },
  });
  const unverified = create.error instanceof ApiError && create.error.code === "email_not_verified";
  return (
    <Form
      onSubmit={(e) => {
        e.preventDefault();
        create.mutate();
      }}
    >
      <ProblemAlert error={create.error} />
      {unverified ? <Link to="/account">{t("organizations.verifyOnAccount")}</Link> : null}
      <TextField
        label={t("fields.name")}
        value={name}
        onChange={setName}
        error={fieldError(create.error, "name")}
        isRequired
      />
      <Submit busy={create.isPending}>{t("organizations.create")}</Submit>
    </Form>
  );
}

/** Said once after an organization was deleted (see organization/Settings). */
function Deleted() {
  const { t } = useTranslation();
  const { state } = useLocation();
  const deleted = (state as { deleted?: { name: string; purgeAfter: string } } | null)?.deleted;
  if (!deleted) return null;
  return (
    <Alert
      variant="success"
      isInline
      title={t("organizations.deleted", { name: deleted.name, date: date(deleted.purgeAfter) })}
    />
  );
}

export default function Organizations() {
  const { t } = useTranslation();
  const [page, setPage] = useState({ page: 1, limit: 20 });
  const [creating, setCreating] = useState(false);
  const orgs = useQuery({
    queryKey: ["org", "list", page],
    queryFn: () => call(api.GET("/api/v1/organizations", { params: { query: page } })),
    placeholderData: keepPreviousData,
  });
  return (
    <>
      <PageHeader
        title={t("organizations.title")}
        description={t("organizations.description")}
        actions={<Button onClick={() => setCreating(true)}>{t("organizations.create")}</Button>}
      />
      <PageSection>
        <Deleted />
        <Loaded query={orgs}>
          {(result) =>
            result.data.length === 0 ? (
              <Empty title={t("organizations.none")}>{t("organizations.noneDetail")}</Empty>
            ) : (
              <>
                <Table aria-label={t("organizations.title")} variant="compact">
                  <Thead>
                    <Tr>
                      <Th>{t("fields.name")}</Th>
                      <Th>{t("organizations.yourRole")}</Th>
                      <Th>{t("organizations.members")}</Th>
                      <Th>{t("fields.status")}</Th>
                      <Th>{t("fields.created")}</Th>
                    </Tr>
                  </Thead>
                  <Tbody>
                    {result.data.map((org) => (
                      <Tr key={org.id}>
                        <Td dataLabel={t("fields.name")}>
                          <Link to={`/organizations/${org.id}/members`}>{org.name}</Link>{" "}
                          {org.isDefault ? (
                            <Label isCompact>{t("organizations.default")}</Label>
                          ) : null}
                        </Td>
                        <Td dataLabel={t("organizations.yourRole")}>
                          {org.myRole ? (
                            <Label color={ROLE_COLOR[org.myRole]}>
                              {t(`organization.roles.${org.myRole}`)}
                            </Label>
                          ) : (
                            "—"
                          )}
                        </Td>
                        <Td dataLabel={t("organizations.members")}>{number(org.memberCount)}</Td>
                        <Td dataLabel={t("fields.status")}>
                          <Label color={org.status === "active" ? "green" : "orange"}>
                            {t(`organizations.status.${org.status}`)}
                          </Label>
                        </Td>
                        <Td dataLabel={t("fields.created")}>{date(org.createdAt)}</Td>
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
      <Modal
        variant="small"
        isOpen={creating}
        onClose={() => setCreating(false)}
        aria-labelledby="create-org-title"
      >
        <ModalHeader title={t("organizations.create")} labelId="create-org-title" />
        <ModalBody>
          <CreateOrganization />
        </ModalBody>
      </Modal>
    </>
  );
}
