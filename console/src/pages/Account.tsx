import {
  Alert,
  Button,
  DescriptionList,
  DescriptionListDescription,
  DescriptionListGroup,
  DescriptionListTerm,
  Form,
  Label,
  PageSection,
  Title,
} from "@patternfly/react-core";
import { Table, Tbody, Td, Th, Thead, Tr } from "@patternfly/react-table";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type ReactNode } from "react";
import { useTranslation } from "react-i18next";
import { api, call, type Schemas } from "../api/client";
import { ConfirmButton } from "../components/Confirm";
import { Submit, TextField } from "../components/form";
import { PageHeader } from "../components/PageHeader";
import { Empty, fieldError, Loaded, ProblemAlert } from "../components/states";
import { date, dateTime } from "../lib/format";
import { useMe, type User } from "../lib/session";

function Section({ title, children }: { title: string; children: ReactNode }) {
  return (
    <PageSection>
      <Title headingLevel="h2" className="pf-v6-u-mb-md">
        {title}
      </Title>
      {children}
    </PageSection>
  );
}

function Profile({ user }: { user: User }) {
  const { t } = useTranslation();
  return (
    <DescriptionList isHorizontal>
      <DescriptionListGroup>
        <DescriptionListTerm>{t("fields.name")}</DescriptionListTerm>
        <DescriptionListDescription>{user.name}</DescriptionListDescription>
      </DescriptionListGroup>
      <DescriptionListGroup>
        <DescriptionListTerm>{t("fields.email")}</DescriptionListTerm>
        <DescriptionListDescription>
          {user.email}{" "}
          {user.emailVerified ? (
            <Label color="green" isCompact>
              {t("account.emails.verified")}
            </Label>
          ) : (
            <Label color="orange" isCompact>
              {t("account.emails.unverified")}
            </Label>
          )}
        </DescriptionListDescription>
      </DescriptionListGroup>
      <DescriptionListGroup>
        <DescriptionListTerm>{t("fields.role")}</DescriptionListTerm>
        <DescriptionListDescription>{t(`account.roles.${user.role}`)}</DescriptionListDescription>
      </DescriptionListGroup>
      <DescriptionListGroup>
        <DescriptionListTerm>{t("account.memberSince")}</DescriptionListTerm>
        <DescriptionListDescription>{date(user.createdAt)}</DescriptionListDescription>
      </DescriptionListGroup>
    </DescriptionList>
  );
}

function AddEmail({ onAdded }: { onAdded: (email: string) => void }) {
  const { t } = useTranslation();
  const client = useQueryClient();
  const [email, setEmail] = useState("");
  const add = useMutation({
    mutationFn: () => call(api.POST("/api/v1/auth/emails", { body: { email } })),
    onSuccess: (added) => {
      setEmail("");
      onAdded(added.email);
      void client.invalidateQueries({ queryKey: ["account", "emails"] });
    },
  });
  return (
    <Form
      onSubmit={(e) => {
        e.preventDefault();
        add.mutate();
      }}
    >
      <ProblemAlert error={add.error} />
      <TextField
        label={t("account.emails.new")}
        type="email"
        value={email}
        onChange={setEmail}
        autoComplete="email"
        hint={t("account.emails.newHint")}
        error={fieldError(add.error, "email")}
        isRequired
      />
      <Submit busy={add.isPending}>{t("account.emails.add")}</Submit>
    </Form>
  );
}

function Emails() {
  const { t } = useTranslation();
  const client = useQueryClient();
  const [notice, setNotice] = useState<{ ok: boolean; text: string } | null>(null);
  const emails = useQuery({
    queryKey: ["account", "emails"],
    queryFn: () => call(api.GET("/api/v1/auth/emails")),
  });
  const refresh = () => client.invalidateQueries({ queryKey: ["account", "emails"] });
  const path = (id: string) => ({ params: { path: { id } } });
  const primary = useMutation({
    mutationFn: (id: string) => call(api.POST("/api/v1/auth/emails/{id}/primary", path(id))),
    onSuccess: (user) => client.setQueryData(["me"], user),
    onSettled: refresh,
  });
  const remove = useMutation({
    mutationFn: (id: string) => call(api.DELETE("/api/v1/auth/emails/{id}", path(id))),
    onSettled: refresh,
  });
  const verify = useMutation({
    mutationFn: (email: Schemas["UserEmailDto"]) =>
      call(api.POST("/api/v1/auth/verify-email/send", { body: { emailId: email.id } })),
    onSuccess: (sent, email) =>
      setNotice(
        sent.emailSent
          ? { ok: true, text: t("account.emails.verificationSent", { email: email.email }) }
          : { ok: false, text: t("account.emails.verificationNotSent", { email: email.email }) },
      ),
  });
  return (
    <>
      {notice ? (
        <Alert variant={notice.ok ? "success" : "warning"} isInline title={notice.text} />
      ) : null}
      <ProblemAlert error={primary.error} />
      <ProblemAlert error={remove.error} />
      <ProblemAlert error={verify.error} />
      <Loaded query={emails}>
        {(list) =>
          list.length === 0 ? (
            <Empty title={t("account.emails.none")} />
          ) : (
            <Table aria-label={t("account.emails.title")} variant="compact">
              <Thead>
                <Tr>
                  <Th>{t("fields.email")}</Th>
                  <Th>{t("fields.status")}</Th>
                  <Th>{t("fields.created")}</Th>
                  <Th screenReaderText={t("common.actions")} />
                </Tr>
              </Thead>
              <Tbody>
                {list.map((e) => (
                  <Tr key={e.id}>
                    <Td dataLabel={t("fields.email")}>
                      {e.email}{" "}
                      {e.primary ? (
                        <Label color="blue" isCompact>
                          {t("account.emails.primary")}
                        </Label>
                      ) : null}
                    </Td>
                    <Td dataLabel={t("fields.status")}>
                      {e.verified ? (
                        <Label color="green">{t("account.emails.verified")}</Label>
                      ) : (
                        <Label color="orange">{t("account.emails.unverified")}</Label>
                      )}
                    </Td>
                    <Td dataLabel={t("fields.created")}>{date(e.createdAt)}</Td>
                    <Td isActionCell>
                      {!e.verified ? (
                        <Button
                          variant="link"
                          onClick={() => verify.mutate(e)}
                          isDisabled={verify.isPending}
                          aria-label={t("account.emails.sendVerificationTo", { email: e.email })}
                        >
                          {t("account.emails.sendVerification")}
                        </Button>
                      ) : null}
                      {e.verified && !e.primary ? (
                        <Button
                          variant="link"
                          onClick={() => primary.mutate(e.id)}
                          isDisabled={primary.isPending}
                          aria-label={t("account.emails.makePrimaryOf", { email: e.email })}
                        >
                          {t("account.emails.makePrimary")}
                        </Button>
                      ) : null}
                      {!e.primary ? (
                        <ConfirmButton
                          label={t("common.remove")}
                          title={t("account.emails.removeTitle", { email: e.email })}
                          body={t("account.emails.removeBody")}
                          confirm={t("common.remove")}
                          onConfirm={() => remove.mutateAsync(e.id).catch(() => undefined)}
                        />
                      ) : null}
                    </Td>
                  </Tr>
                ))}
              </Tbody>
            </Table>
          )
        }
      </Loaded>
      <AddEmail
        onAdded={(email) => setNotice({ ok: true, text: t("account.emails.added", { email }) })}
      />
    </>
  );
}

function Password() {
  const { t } = useTranslation();
  const client = useQueryClient();
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const change = useMutation({
    mutationFn: () =>
      call(
        api.POST("/api/v1/auth/password", {
          body: { currentPassword: current, newPassword: next },
        }),
      ),
    onSuccess: () => {
      setCurrent("");
      setNext("");
      // The server ends every other session of the account.
      void client.invalidateQueries({ queryKey: ["account", "sessions"] });
    },
  });
  return (
    <Form
      onSubmit={(e) => {
        e.preventDefault();
        change.mutate();
      }}
    >
      <ProblemAlert error={change.error} />
      {change.isSuccess ? (
        <Alert variant="success" isInline title={t("account.password.changed")} />
      ) : null}
      <TextField
        label={t("fields.currentPassword")}
        type="password"
        value={current}
        onChange={setCurrent}
        autoComplete="current-password"
        error={fieldError(change.error, "currentPassword")}
        isRequired
      />
      <TextField
        label={t("fields.newPassword")}
        type="password"
        value={next}
        onChange={setNext}
        autoComplete="new-password"
        hint={t("fields.passwordHint")}
        error={fieldError(change.error, "newPassword")}
        isRequired
      />
      <Submit busy={change.isPending}>{t("account.password.submit")}</Submit>
    </Form>
  );
}

function Sessions() {
  const { t } = useTranslation();
  const client = useQueryClient();
  const sessions = useQuery({
    queryKey: ["account", "sessions"],
    queryFn: () => call(api.GET("/api/v1/auth/sessions")),
  });
  const refresh = () => client.invalidateQueries({ queryKey: ["account", "sessions"] });
  const revoke = useMutation({
    mutationFn: (id: string) =>
      call(api.DELETE("/api/v1/auth/sessions/{id}", { params: { path: { id } } })),
    onSettled: refresh,
  });
  const revokeOthers = useMutation({
    mutationFn: () => call(api.POST("/api/v1/auth/sessions/revoke-others")),
    onSettled: refresh,
  });
  return (
    <>
      <ProblemAlert error={revoke.error} />
      <ProblemAlert error={revokeOthers.error} />
      {revokeOthers.isSuccess ? (
        <Alert
          variant="success"
          isInline
          title={t("account.sessions.ended", { count: revokeOthers.data.revoked })}
        />
      ) : null}
      <Loaded query={sessions}>
        {(list) =>
          list.length === 0 ? (
            <Empty title={t("account.sessions.none")} />
          ) : (
            <>
              <Table aria-label={t("account.sessions.title")} variant="compact">
                <Thead>
                  <Tr>
                    <Th>{t("account.sessions.device")}</Th>
                    <Th>{t("account.sessions.ip")}</Th>
                    <Th>{t("account.sessions.signedIn")}</Th>
                    <Th>{t("account.sessions.expires")}</Th>
                    <Th screenReaderText={t("common.actions")} />
                  </Tr>
                </Thead>
                <Tbody>
                  {list.map((s) => {
                    const device = s.userAgent || t("account.sessions.unknownDevice");
                    return (
                      <Tr key={s.id}>
                        <Td dataLabel={t("account.sessions.device")} modifier="breakWord">
                          {device}{" "}
                          {s.current ? (
                            <Label color="green" isCompact>
                              {t("account.sessions.current")}
                            </Label>
                          ) : null}
                        </Td>
                        <Td dataLabel={t("account.sessions.ip")}>{s.ip ?? "—"}</Td>
                        <Td dataLabel={t("account.sessions.signedIn")}>{dateTime(s.createdAt)}</Td>
                        <Td dataLabel={t("account.sessions.expires")}>{dateTime(s.expiresAt)}</Td>
                        <Td isActionCell>
                          {/* Ending this one is signing out, which the masthead does. */}
                          {!s.current ? (
                            <Button
                              variant="link"
                              isDanger
                              onClick={() => revoke.mutate(s.id)}
                              isDisabled={revoke.isPending}
                              aria-label={t("account.sessions.endOne", { device })}
                            >
                              {t("account.sessions.end")}
                            </Button>
                          ) : null}
                        </Td>
                      </Tr>
                    );
                  })}
                </Tbody>
              </Table>
              {list.some((s) => !s.current) ? (
                <ConfirmButton
                  variant="secondary"
                  label={t("account.sessions.endOthers")}
                  title={t("account.sessions.endOthersTitle")}
                  body={t("account.sessions.endOthersBody")}
                  confirm={t("account.sessions.endOthers")}
                  onConfirm={() => revokeOthers.mutateAsync().catch(() => undefined)}
                />
              ) : null}
            </>
          )
        }
      </Loaded>
    </>
  );
}

export default function Account() {
  const { t } = useTranslation();
  const me = useMe();
  return (
    <>
      <PageHeader title={t("account.title")} description={t("account.description")} />
      <Loaded query={me}>
        {(user) =>
          user ? (
            <>
              <Section title={t("account.profile")}>
                <Profile user={user} />
              </Section>
              <Section title={t("account.emails.title")}>
                <Emails />
              </Section>
              <Section title={t("account.password.title")}>
                <Password />
              </Section>
              <Section title={t("account.sessions.title")}>
                <Sessions />
              </Section>
            </>
          ) : null
        }
      </Loaded>
    </>
  );
}
