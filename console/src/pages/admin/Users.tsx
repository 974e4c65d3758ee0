import {
  Button,
  DescriptionList,
  DescriptionListDescription,
  DescriptionListGroup,
  DescriptionListTerm,
  FormGroup,
  FormSelect,
  FormSelectOption,
  Label,
  PageSection,
  SearchInput,
  Switch,
  Toolbar,
  ToolbarContent,
  ToolbarItem,
} from "@patternfly/react-core";
import { Table, Tbody, Td, Th, Thead, Tr } from "@patternfly/react-table";
import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { api, call, type Schemas } from "../../api/client";
import { FieldMessage } from "../../components/form";
import { LimitsFields, limitsBody, limitsText } from "../../components/Limits";
import { PageHeader } from "../../components/PageHeader";
import { Pager } from "../../components/Pager";
import { Empty, fieldError, Loaded } from "../../components/states";
import { dateTime, money, number } from "../../lib/format";
import type { User } from "../../lib/session";
import { Dialog, FIRST_PAGE, ReadOnlyNote, SaveForm, useCanWrite, useFields } from "./shared";

type Role = Schemas["PlatformRole"];
type Limits = Schemas["UserLimitsDto"];

const ROLES: Role[] = ["user", "adminReadonly", "admin"];
const ROLE_COLOR = { user: "grey", adminReadonly: "blue", admin: "purple" } as const;

function useRefreshUser(id: string) {
  const client = useQueryClient();
  return () =>
    Promise.all(
      [["admin", "users"], ["admin", "user", id], ["admin", "user-limits", id], ["me"]].map(
        (queryKey) => client.invalidateQueries({ queryKey }),
      ),
    );
}

function UserForm({ user, onClose }: { user: User; onClose: () => void }) {
  const { t } = useTranslation();
  const refresh = useRefreshUser(user.id);
  const [f, set] = useFields({ role: user.role, active: user.active });
  const save = useMutation({
    mutationFn: () =>
      call(api.PATCH("/api/v1/users/{id}", { params: { path: { id: user.id } }, body: f })),
    onSuccess: async () => {
      await refresh();
      onClose();
    },
  });
  return (
    <Dialog title={t("admin.users.editTitle", { name: user.name })} onClose={onClose}>
      <SaveForm
        onSubmit={() => save.mutate()}
        onCancel={onClose}
        error={save.error}
        busy={save.isPending}
      >
        <FormGroup label={t("fields.role")} fieldId="user-role">
          <FormSelect id="user-role" value={f.role} onChange={(_, v) => set("role")(v as Role)}>
            {ROLES.map((r) => (
              <FormSelectOption key={r} value={r} label={t(`admin.roles.${r}`)} />
            ))}
          </FormSelect>
          <FieldMessage error={fieldError(save.error, "role")} />
        </FormGroup>
        <FormGroup fieldId="user-active">
          <Switch
            id="user-active"
            label={t("admin.users.active")}
            isChecked={f.active}
            onChange={(_, on) => set("active")(on)}
          />
          <FieldMessage error={fieldError(save.error, "active")} />
        </FormGroup>
        {user.active && !f.active ? (
          <p className="pf-v6-u-text-color-subtle">{t("admin.users.deactivateHint")}</p>
        ) : null}
      </SaveForm>
    </Dialog>
  );
}

function LimitsForm({
  user,
  limits,
  onClose,
}: {
  user: User;
  limits: Limits;
  onClose: () => void;
}) {
  const { t } = useTranslation();
  const refresh = useRefreshUser(user.id);
  const [values, setValues] = useState(() => limitsText(limits, limits.maxBudget));
  const save = useMutation({
    mutationFn: () =>
      call(
        api.PUT("/api/v1/users/{id}/limits", {
          params: { path: { id: user.id } },
          body: { maxBudget: values.budget.trim() || null, ...limitsBody(values) },
        }),
      ),
    onSuccess: async () => {
      await refresh();
      onClose();
    },
  });
  return (
    <SaveForm
      onSubmit={() => save.mutate()}
      onCancel={onClose}
      error={save.error}
      busy={save.isPending}
    >
      <LimitsFields
        value={values}
        onChange={setValues}
        error={save.error}
        budgetField="maxBudget"
        budgetHint={t("admin.noLimitHint")}
      />
    </SaveForm>
  );
}

function LimitsView({ limits }: { limits: Limits }) {
  const { t } = useTranslation();
  const none = t("admin.unlimited");
  const rows = [
    [t("limits.rpm"), limits.rpmLimit ? number(limits.rpmLimit) : none],
    [t("limits.tpm"), limits.tpmLimit ? number(limits.tpmLimit) : none],
    [t("limits.parallel"), limits.maxParallel ? number(limits.maxParallel) : none],
    [t("limits.budget"), limits.maxBudget ? money(limits.maxBudget) : none],
    [t("limits.budgetPeriod"), limits.budgetPeriod ? t(`periods.${limits.budgetPeriod}`) : none],
  ];
  return (
    <DescriptionList isHorizontal>
      {rows.map(([term, value]) => (
        <DescriptionListGroup key={term}>
          <DescriptionListTerm>{term}</DescriptionListTerm>
          <DescriptionListDescription>{value}</DescriptionListDescription>
        </DescriptionListGroup>
      ))}
    </DescriptionList>
  );
}

function UserLimits({ user, onClose }: { user: User; onClose: () => void }) {
  const { t } = useTranslation();
  const canWrite = useCanWrite();
  const limits = useQuery({
    queryKey: ["admin", "user-limits", user.id],
    queryFn: () =>
      call(api.GET("/api/v1/users/{id}/limits", { params: { path: { id: user.id } } })),
  });
  return (
    <Dialog title={t("admin.users.limitsTitle", { name: user.name })} onClose={onClose}>
      <Loaded query={limits}>
        {(data) =>
          canWrite ? (
            <LimitsForm user={user} limits={data} onClose={onClose} />
          ) : (
            <LimitsView limits={data} />
          )
        }
      </Loaded>
    </Dialog>
  );
}

export default function AdminUsers() {
  const { t } = useTranslation();
  const canWrite = useCanWrite();
  const [search, setSearch] = useState("");
  const [role, setRole] = useState<Role | "">("");
  const [page, setPage] = useState(FIRST_PAGE);
  const [editing, setEditing] = useState<User | null>(null);
  const [limitsOf, setLimitsOf] = useState<User | null>(null);
  const users = useQuery({
    queryKey: ["admin", "users", search, role, page],
    queryFn: () =>
      call(
        api.GET("/api/v1/users", {
          params: { query: { search: search || undefined, role: role || undefined, ...page } },
        }),
      ),
    placeholderData: keepPreviousData,
  });
  const firstPage = () => setPage((p) => ({ ...p, page: 1 }));
  return (
    <>
      <PageHeader title={t("admin.users.title")} description={t("admin.users.description")} />
      <ReadOnlyNote />
      <PageSection>
        <Toolbar>
          <ToolbarContent>
            <ToolbarItem>
              <SearchInput
                aria-label={t("admin.users.search")}
                placeholder={t("admin.users.search")}
                value={search}
                onChange={(_, v) => {
                  setSearch(v);
                  firstPage();
                }}
                onClear={() => setSearch("")}
              />
            </ToolbarItem>
            <ToolbarItem>
              <FormSelect
                aria-label={t("fields.role")}
                value={role}
                onChange={(_, v) => {
                  setRole(v as Role | "");
                  firstPage();
                }}
              >
                <FormSelectOption value="" label={t("admin.roles.any")} />
                {ROLES.map((r) => (
                  <FormSelectOption key={r} value={r} label={t(`admin.roles.${r}`)} />
                ))}
              </FormSelect>
            </ToolbarItem>
          </ToolbarContent>
        </Toolbar>
        <Loaded query={users}>
          {(result) =>
            result.pagination.total === 0 ? (
              <Empty title={t("admin.users.none")}>{t("admin.otherFilters")}</Empty>
            ) : (
              <>
                <Table aria-label={t("admin.users.title")} variant="compact">
                  <Thead>
                    <Tr>
                      <Th>{t("fields.name")}</Th>
                      <Th>{t("fields.email")}</Th>
                      <Th>{t("fields.role")}</Th>
                      <Th>{t("fields.status")}</Th>
                      <Th>{t("fields.created")}</Th>
                      <Th screenReaderText={t("common.actions")} />
                    </Tr>
                  </Thead>
                  <Tbody>
                    {result.data.map((user) => (
                      <Tr key={user.id}>
                        <Td dataLabel={t("fields.name")}>{user.name}</Td>
                        <Td dataLabel={t("fields.email")}>
                          {user.email}{" "}
                          {user.emailVerified ? null : (
                            <Label isCompact color="orange">
                              {t("admin.users.unverified")}
                            </Label>
                          )}
                        </Td>
                        <Td dataLabel={t("fields.role")}>
                          <Label color={ROLE_COLOR[user.role]}>
                            {t(`admin.roles.${user.role}`)}
                          </Label>
                        </Td>
                        <Td dataLabel={t("fields.status")}>
                          {user.active ? (
                            <Label color="green">{t("admin.users.activeStatus")}</Label>
                          ) : (
                            <Label color="red">{t("admin.users.inactiveStatus")}</Label>
                          )}
                        </Td>
                        <Td dataLabel={t("fields.created")}>{dateTime(user.createdAt)}</Td>
                        <Td isActionCell>
                          {canWrite ? (
                            <Button variant="link" onClick={() => setEditing(user)}>
                              {t("common.edit")}
                            </Button>
                          ) : null}
                          <Button variant="link" onClick={() => setLimitsOf(user)}>
                            {t("admin.users.limits")}
                          </Button>
                        </Td>
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
      {editing ? <UserForm user={editing} onClose={() => setEditing(null)} /> : null}
      {limitsOf ? <UserLimits user={limitsOf} onClose={() => setLimitsOf(null)} /> : null}
    </>
  );
}
