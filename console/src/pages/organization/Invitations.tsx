import {
  Alert,
  Button,
  Form,
  Label,
  Modal,
  ModalBody,
  ModalHeader,
  Toolbar,
  ToolbarContent,
  ToolbarItem,
} from "@patternfly/react-core";
import { Table, Tbody, Td, Th, Thead, Tr } from "@patternfly/react-table";
import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { api, call, type Schemas } from "../../api/client";
import { ConfirmButton } from "../../components/Confirm";
import { SelectField, Submit, TextField } from "../../components/form";
import { Pager } from "../../components/Pager";
import { Empty, fieldError, Loaded, ProblemAlert } from "../../components/states";
import { dateTime } from "../../lib/format";
import { ORG_ROLES, type Abilities, type OrgRole, type TabProps } from "./access";

type Invitation = Schemas["InvitationDto"];

const STATUS_COLOR = {
  pending: "blue",
  accepted: "green",
  revoked: "red",
  expired: "grey",
} as const;

function InviteForm({
  org,
  can,
  onInvited,
}: {
  org: string;
  can: Abilities;
  onInvited: (invitation: Invitation) => void;
}) {
  const { t } = useTranslation();
  const client = useQueryClient();
  const roles = ORG_ROLES.filter((r) => can.invite(r));
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<OrgRole>(
    roles.includes("member") ? "member" : (roles[0] ?? "viewer"),
  );
  const invite = useMutation({
    mutationFn: () =>
      call(
        api.POST("/api/v1/organizations/{org}/invitations", {
          params: { path: { org } },
          body: { email, role },
        }),
      ),
    onSuccess: (invitation) => {
      void client.invalidateQueries({ queryKey: ["org", org, "invitations"] });
      onInvited(invitation);
    },
  });
  return (
    <Form
      onSubmit={(e) => {
        e.preventDefault();
        invite.mutate();
      }}
    >
      <ProblemAlert error={invite.error} />
      <TextField
        label={t("fields.email")}
        type="email"
        value={email}
        onChange={setEmail}
        error={fieldError(invite.error, "email")}
        isRequired
      />
      <SelectField
        label={t("fields.role")}
        value={role}
        onChange={(v) => setRole(v as OrgRole)}
        options={roles.map((r) => ({ value: r, label: t(`organization.roles.${r}`) }))}
        error={fieldError(invite.error, "role")}
        isRequired
      />
      <Submit busy={invite.isPending}>{t("organization.invitations.send")}</Submit>
    </Form>
  );
}

function Sent({ invitation }: { invitation: Invitation }) {
  const { t } = useTranslation();
  return invitation.emailSent === false ? (
    <Alert
      variant="warning"
      isInline
      title={t("organization.invitations.notSent", { email: invitation.email })}
    >
      {t("organization.invitations.notSentDetail")}
    </Alert>
  ) : (
    <Alert
      variant="success"
      isInline
      title={t("organization.invitations.sent", { email: invitation.email })}
    />
  );
}

export function Invitations({ org, can }: TabProps) {
  const { t } = useTranslation();
  const client = useQueryClient();
  const [page, setPage] = useState({ page: 1, limit: 20 });
  const [inviting, setInviting] = useState(false);
  const [sent, setSent] = useState<Invitation | null>(null);
  const invitations = useQuery({
    queryKey: ["org", org.id, "invitations", page],
    queryFn: () =>
      call(
        api.GET("/api/v1/organizations/{org}/invitations", {
          params: { path: { org: org.id }, query: page },
        }),
      ),
    placeholderData: keepPreviousData,
  });
  const revoke = useMutation({
    mutationFn: (invitation: string) =>
      call(
        api.DELETE("/api/v1/organizations/{org}/invitations/{invitation}", {
          params: { path: { org: org.id, invitation } },
        }),
      ),
    onSettled: () => client.invalidateQueries({ queryKey: ["org", org.id, "invitations"] }),
  });
  const mayInvite = ORG_ROLES.some((r) => can.invite(r));
  return (
    <>
      {mayInvite ? (
        <Toolbar>
          <ToolbarContent>
            <ToolbarItem>
              <Button
                onClick={() => {
                  setSent(null);
                  setInviting(true);
                }}
              >
                {t("organization.invitations.invite")}
              </Button>
            </ToolbarItem>
          </ToolbarContent>
        </Toolbar>
      ) : null}
      {sent ? <Sent invitation={sent} /> : null}
      <ProblemAlert error={revoke.error} />
      <Loaded query={invitations}>
        {(result) =>
          result.data.length === 0 ? (
            <Empty title={t("organization.invitations.none")}>
              {t("organization.invitations.noneDetail")}
            </Empty>
          ) : (
            <>
              <Table aria-label={t("organization.invitations.title")} variant="compact">
                <Thead>
                  <Tr>
                    <Th>{t("fields.email")}</Th>
                    <Th>{t("fields.role")}</Th>
                    <Th>{t("fields.status")}</Th>
                    <Th>{t("fields.created")}</Th>
                    <Th>{t("organization.invitations.expires")}</Th>
                    <Th screenReaderText={t("common.actions")} />
                  </Tr>
                </Thead>
                <Tbody>
                  {result.data.map((i) => (
                    <Tr key={i.id}>
                      <Td dataLabel={t("fields.email")}>{i.email}</Td>
                      <Td dataLabel={t("fields.role")}>{t(`organization.roles.${i.role}`)}</Td>
                      <Td dataLabel={t("fields.status")}>
                        <Label color={STATUS_COLOR[i.status]}>
                          {t(`organization.invitations.status.${i.status}`)}
                        </Label>
                      </Td>
                      <Td dataLabel={t("fields.created")}>{dateTime(i.createdAt)}</Td>
                      <Td dataLabel={t("organization.invitations.expires")}>
                        {dateTime(i.expiresAt)}
                      </Td>
                      <Td isActionCell>
                        {i.status === "pending" && can.revokeInvitation ? (
                          <ConfirmButton
                            label={t("organization.invitations.revoke")}
                            title={t("organization.invitations.revokeTitle", { email: i.email })}
                            body={t("organization.invitations.revokeBody")}
                            confirm={t("organization.invitations.revoke")}
                            onConfirm={() => revoke.mutateAsync(i.id).catch(() => undefined)}
                          />
                        ) : null}
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
      <Modal
        variant="small"
        isOpen={inviting}
        onClose={() => setInviting(false)}
        aria-labelledby="invite-title"
      >
        <ModalHeader title={t("organization.invitations.invite")} labelId="invite-title" />
        <ModalBody>
          <InviteForm
            org={org.id}
            can={can}
            onInvited={(invitation) => {
              setSent(invitation);
              setInviting(false);
            }}
          />
        </ModalBody>
      </Modal>
    </>
  );
}
