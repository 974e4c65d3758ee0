// An organization's service clients: where they get tokens (the token endpoint, the
// organization's JWKS), the list, and creating one. A client's own page (Client.tsx) has
// its certificates.
import {
  Button,
  ClipboardCopy,
  DescriptionList,
  DescriptionListDescription,
  DescriptionListGroup,
  DescriptionListTerm,
  Form,
  Label,
  Modal,
  ModalBody,
  ModalHeader,
  Stack,
  StackItem,
  Toolbar,
  ToolbarContent,
  ToolbarItem,
} from "@patternfly/react-core";
import { Table, Tbody, Td, Th, Thead, Tr } from "@patternfly/react-table";
import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { Link, useNavigate } from "react-router";
import { api, call, type Schemas } from "../../api/client";
import { Pager } from "../../components/Pager";
import { Submit, TextField } from "../../components/form";
import { Empty, fieldError, Loaded, ProblemAlert } from "../../components/states";
import { dateTime } from "../../lib/format";
import type { TabProps } from "./access";

type ClientDto = Schemas["ClientDto"];

export function ClientStatus({ client }: { client: ClientDto }) {
  const { t } = useTranslation();
  return client.disabled ? (
    <Label color="grey" isCompact>
      {t("organization.clients.status.disabled")}
    </Label>
  ) : (
    <Label color="green" isCompact>
      {t("organization.clients.status.enabled")}
    </Label>
  );
}

/** Creates a service client, or renames and describes the one given. */
export function ClientForm({
  org,
  client,
  onDone,
}: {
  org: string;
  client?: ClientDto;
  onDone: (client: ClientDto) => void;
}) {
  const { t } = useTranslation();
  const queries = useQueryClient();
  const [name, setName] = useState(client?.name ?? "");
  const [description, setDescription] = useState(client?.description ?? "");
  const save = useMutation({
    mutationFn: () =>
      client
        ? call(
            api.PATCH("/api/v1/organizations/{org}/clients/{client}", {
              params: { path: { org, client: client.id } },
              body: { name, description: description.trim() },
            }),
          )
        : call(
            api.POST("/api/v1/organizations/{org}/clients", {
              params: { path: { org } },
              body: { name, description: description.trim() || null },
            }),
          ),
    onSuccess: async (saved) => {
      await Promise.all([
        queries.invalidateQueries({ queryKey: ["org", org, "clients"] }),
        queries.invalidateQueries({ queryKey: ["org", org, "client", saved.id] }),
      ]);
      onDone(saved);
    },
  });
  return (
    <Form
      onSubmit={(e) => {
        e.preventDefault();
        save.mutate();
      }}
    >
      <ProblemAlert error={save.error} />
      <TextField
        label={t("fields.name")}
        value={name}
        onChange={setName}
        error={fieldError(save.error, "name")}
        hint={t("organization.clients.nameHint")}
        isRequired
      />
      <TextField
        label={t("fields.description")}
        value={description}
        onChange={setDescription}
        error={fieldError(save.error, "description")}
        multiline
      />
      <Submit busy={save.isPending}>
        {client ? t("common.save") : t("organization.clients.create")}
      </Submit>
    </Form>
  );
}

/** Where a client gets its tokens, and where the keys that sign its assertions are published. */
function Endpoints({ org }: { org: string }) {
  const { t } = useTranslation();
  const origin = window.location.origin;
  const copy = (label: string, text: string) => (
    <ClipboardCopy
      isReadOnly
      hoverTip={t("common.copy")}
      clickTip={t("common.copied")}
      textAriaLabel={label}
      toggleAriaLabel={t("common.copy")}
    >
      {text}
    </ClipboardCopy>
  );
  return (
    <Stack hasGutter>
      <DescriptionList isHorizontal isCompact>
        <DescriptionListGroup>
          <DescriptionListTerm>{t("organization.clients.tokenEndpoint")}</DescriptionListTerm>
          <DescriptionListDescription>
            {copy(t("organization.clients.tokenEndpoint"), `${origin}/api/v1/token`)}
          </DescriptionListDescription>
        </DescriptionListGroup>
        <DescriptionListGroup>
          <DescriptionListTerm>{t("organization.clients.jwks")}</DescriptionListTerm>
          <DescriptionListDescription>
            {copy(
              t("organization.clients.jwks"),
              `${origin}/api/v1/organizations/${org}/jwks.json`,
            )}
          </DescriptionListDescription>
        </DescriptionListGroup>
      </DescriptionList>
      <small>{t("organization.clients.howTo")}</small>
    </Stack>
  );
}

export function Clients({ org, can }: TabProps) {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const [page, setPage] = useState({ page: 1, limit: 20 });
  const [creating, setCreating] = useState(false);
  const clients = useQuery({
    queryKey: ["org", org.id, "clients", page],
    queryFn: () =>
      call(
        api.GET("/api/v1/organizations/{org}/clients", {
          params: { path: { org: org.id }, query: page },
        }),
      ),
    placeholderData: keepPreviousData,
  });
  return (
    <Stack hasGutter>
      <StackItem>
        <p>{t("organization.clients.explain")}</p>
      </StackItem>
      <StackItem>
        <Endpoints org={org.id} />
      </StackItem>
      {can.manageClients ? (
        <StackItem>
          <Toolbar>
            <ToolbarContent>
              <ToolbarItem>
                <Button onClick={() => setCreating(true)}>
                  {t("organization.clients.create")}
                </Button>
              </ToolbarItem>
            </ToolbarContent>
          </Toolbar>
        </StackItem>
      ) : null}
      <StackItem>
        <Loaded query={clients}>
          {(result) =>
            result.data.length === 0 ? (
              <Empty title={t("organization.clients.none")}>
                {t("organization.clients.noneDetail")}
              </Empty>
            ) : (
              <>
                <Table aria-label={t("organization.clients.title")} variant="compact">
                  <Thead>
                    <Tr>
                      <Th>{t("fields.name")}</Th>
                      <Th>{t("fields.description")}</Th>
                      <Th>{t("fields.status")}</Th>
                      <Th>{t("fields.created")}</Th>
                    </Tr>
                  </Thead>
                  <Tbody>
                    {result.data.map((client) => (
                      <Tr key={client.id}>
                        <Td dataLabel={t("fields.name")}>
                          <Link to={`/organizations/${org.id}/clients/${client.id}`}>
                            {client.name}
                          </Link>
                        </Td>
                        <Td dataLabel={t("fields.description")}>{client.description ?? "—"}</Td>
                        <Td dataLabel={t("fields.status")}>
                          <ClientStatus client={client} />
                        </Td>
                        <Td dataLabel={t("fields.created")}>{dateTime(client.createdAt)}</Td>
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
      </StackItem>
      <Modal
        variant="medium"
        isOpen={creating}
        onClose={() => setCreating(false)}
        aria-labelledby="create-client-title"
      >
        <ModalHeader title={t("organization.clients.create")} labelId="create-client-title" />
        <ModalBody>
          <ClientForm
            org={org.id}
            onDone={(client) => navigate(`/organizations/${org.id}/clients/${client.id}`)}
          />
        </ModalBody>
      </Modal>
    </Stack>
  );
}
