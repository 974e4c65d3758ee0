// An organization's vaults: the list with each vault's sync state, and creating one. A
// vault's own page (Vault.tsx) has its grants and tokens.
import {
  Button,
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
  Tooltip,
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

type VaultDto = Schemas["VaultDto"];

const SYNC_COLOR = { pending: "orange", synced: "green", failed: "red" } as const;

/** Whether the policy engine has the vault's current state; a failure's error on hover. */
export function SyncLabel({ vault }: { vault: VaultDto }) {
  const { t } = useTranslation();
  const label = (
    <Label
      color={SYNC_COLOR[vault.syncStatus]}
      isCompact
      // The last error is read on hover and on focus.
      tabIndex={vault.syncError ? 0 : undefined}
    >
      {t(`organization.vaults.syncStatus.${vault.syncStatus}`)}
    </Label>
  );
  return vault.syncError ? (
    <Tooltip content={t("organization.vaults.syncError", { error: vault.syncError })}>
      {label}
    </Tooltip>
  ) : (
    label
  );
}

/** Creates a vault, or renames and describes the one given. */
export function VaultForm({
  org,
  vault,
  onDone,
}: {
  org: string;
  vault?: VaultDto;
  onDone: (vault: VaultDto) => void;
}) {
  const { t } = useTranslation();
  const client = useQueryClient();
  const [name, setName] = useState(vault?.name ?? "");
  const [description, setDescription] = useState(vault?.description ?? "");
  const save = useMutation({
    mutationFn: () => {
      const body = { name, description: description.trim() };
      return vault
        ? call(
            api.PATCH("/api/v1/organizations/{org}/vaults/{vault}", {
              params: { path: { org, vault: vault.id } },
              body,
            }),
          )
        : call(
            api.POST("/api/v1/organizations/{org}/vaults", {
              params: { path: { org } },
              body: { name, description: body.description || null },
            }),
          );
    },
    onSuccess: async (saved) => {
      await Promise.all([
        client.invalidateQueries({ queryKey: ["org", org, "vaults"] }),
        client.invalidateQueries({ queryKey: ["org", org, "vault", saved.id] }),
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
        {vault ? t("common.save") : t("organization.vaults.create")}
      </Submit>
    </Form>
  );
}

export function Vaults({ org, can }: TabProps) {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const [page, setPage] = useState({ page: 1, limit: 20 });
  const [creating, setCreating] = useState(false);
  const vaults = useQuery({
    queryKey: ["org", org.id, "vaults", page],
    queryFn: () =>
      call(
        api.GET("/api/v1/organizations/{org}/vaults", {
          params: { path: { org: org.id }, query: page },
        }),
      ),
    placeholderData: keepPreviousData,
  });
  return (
    <Stack hasGutter>
      <StackItem>
        <p>{t("organization.vaults.explain")}</p>
      </StackItem>
      {can.createVault ? (
        <StackItem>
          <Toolbar>
            <ToolbarContent>
              <ToolbarItem>
                <Button onClick={() => setCreating(true)}>{t("organization.vaults.create")}</Button>
              </ToolbarItem>
            </ToolbarContent>
          </Toolbar>
        </StackItem>
      ) : null}
      <StackItem>
        <Loaded query={vaults}>
          {(result) =>
            result.data.length === 0 ? (
              <Empty title={t("organization.vaults.none")}>
                {t("organization.vaults.noneDetail")}
              </Empty>
            ) : (
              <>
                <Table aria-label={t("organization.vaults.title")} variant="compact">
                  <Thead>
                    <Tr>
                      <Th>{t("fields.name")}</Th>
                      <Th>{t("fields.description")}</Th>
                      <Th>{t("organization.vaults.sync")}</Th>
                      <Th>{t("fields.created")}</Th>
                    </Tr>
                  </Thead>
                  <Tbody>
                    {result.data.map((vault) => (
                      <Tr key={vault.id}>
                        <Td dataLabel={t("fields.name")}>
                          <Link to={`/organizations/${org.id}/vaults/${vault.id}`}>
                            {vault.name}
                          </Link>
                        </Td>
                        <Td dataLabel={t("fields.description")}>{vault.description ?? "—"}</Td>
                        <Td dataLabel={t("organization.vaults.sync")}>
                          <SyncLabel vault={vault} />
                        </Td>
                        <Td dataLabel={t("fields.created")}>{dateTime(vault.createdAt)}</Td>
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
        aria-labelledby="create-vault-title"
      >
        <ModalHeader title={t("organization.vaults.create")} labelId="create-vault-title" />
        <ModalBody>
          <VaultForm
            org={org.id}
            onDone={(vault) => navigate(`/organizations/${org.id}/vaults/${vault.id}`)}
          />
        </ModalBody>
      </Modal>
    </Stack>
  );
}
