// The pages of the mailed links and of visitors: register, verify an address, reset a
// password, accept an invitation.
import { Alert, Form } from "@patternfly/react-core";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { Link, useSearchParams } from "react-router";
import { api, call } from "../api/client";
import { Submit, TextField } from "../components/form";
import { PublicFrame } from "../components/PublicFrame";
import { fieldError, Loading, ProblemAlert } from "../components/states";
import { useMe } from "../lib/session";

const backToSignIn = (label: string) => <Link to="/sign-in">{label}</Link>;

export function Register() {
  const { t } = useTranslation();
  const [name, setName] = useState("");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const register = useMutation({
    mutationFn: () => call(api.POST("/api/v1/auth/register", { body: { name, email, password } })),
  });
  return (
    <PublicFrame title={t("register.title")} footer={backToSignIn(t("register.haveAccount"))}>
      {register.isSuccess ? (
        <Alert variant="success" isInline title={t("register.sent")}>
          {t("register.sentDetail", { email })}
        </Alert>
      ) : (
        <Form
          onSubmit={(e) => {
            e.preventDefault();
            register.mutate();
          }}
        >
          <ProblemAlert error={register.error} />
          <TextField
            label={t("fields.name")}
            value={name}
            onChange={setName}
            autoComplete="name"
            error={fieldError(register.error, "name")}
            isRequired
          />
          <TextField
            label={t("fields.email")}
            type="email"
            value={email}
            onChange={setEmail}
            autoComplete="email"
            error={fieldError(register.error, "email")}
            isRequired
          />
          <TextField
            label={t("fields.password")}
            type="password"
            value={password}
            onChange={setPassword}
            autoComplete="new-password"
            hint={t("fields.passwordHint")}
            error={fieldError(register.error, "password")}
            isRequired
          />
          <Submit busy={register.isPending}>{t("register.submit")}</Submit>
        </Form>
      )}
    </PublicFrame>
  );
}

export function VerifyEmail() {
  const { t } = useTranslation();
  const [params] = useSearchParams();
  const token = params.get("token") ?? "";
  const client = useQueryClient();
  const verify = useMutation({
    mutationFn: () => call(api.POST("/api/v1/auth/verify-email", { body: { token } })),
    onSuccess: () => client.invalidateQueries({ queryKey: ["me"] }),
  });
  return (
    <PublicFrame title={t("verify.title")} footer={backToSignIn(t("common.toSignIn"))}>
      {!token ? (
        <Alert variant="warning" isInline title={t("common.missingToken")} />
      ) : verify.isSuccess ? (
        <Alert variant="success" isInline title={t("verify.done")} />
      ) : (
        <Form
          onSubmit={(e) => {
            e.preventDefault();
            verify.mutate();
          }}
        >
          <p>{t("verify.explain")}</p>
          <ProblemAlert error={verify.error} />
          <Submit busy={verify.isPending}>{t("verify.submit")}</Submit>
        </Form>
      )}
    </PublicFrame>
  );
}

export function ForgotPassword() {
  const { t } = useTranslation();
  const [email, setEmail] = useState("");
  const request = useMutation({
    mutationFn: () => call(api.POST("/api/v1/auth/password-reset/request", { body: { email } })),
  });
  return (
    <PublicFrame title={t("forgot.title")} footer={backToSignIn(t("common.toSignIn"))}>
      {request.isSuccess ? (
        <Alert variant="success" isInline title={t("forgot.sent")} />
      ) : (
        <Form
          onSubmit={(e) => {
            e.preventDefault();
            request.mutate();
          }}
        >
          <p>{t("forgot.explain")}</p>
          <ProblemAlert error={request.error} />
          <TextField
            label={t("fields.email")}
            type="email"
            value={email}
            onChange={setEmail}
            autoComplete="email"
            error={fieldError(request.error, "email")}
            isRequired
          />
          <Submit busy={request.isPending}>{t("forgot.submit")}</Submit>
        </Form>
      )}
    </PublicFrame>
  );
}

export function ResetPassword() {
  const { t } = useTranslation();
  const [params] = useSearchParams();
  const token = params.get("token") ?? "";
  const [password, setPassword] = useState("");
  const reset = useMutation({
    mutationFn: () =>
      call(api.POST("/api/v1/auth/password-reset", { body: { token, newPassword: password } })),
  });
  return (
    <PublicFrame title={t("reset.title")} footer={backToSignIn(t("common.toSignIn"))}>
      {!token ? (
        <Alert variant="warning" isInline title={t("common.missingToken")} />
      ) : reset.isSuccess ? (
        <Alert variant="success" isInline title={t("reset.done")} />
      ) : (
        <Form
          onSubmit={(e) => {
            e.preventDefault();
            reset.mutate();
          }}
        >
          <ProblemAlert error={reset.error} />
          <TextField
            label={t("fields.newPassword")}
            type="password"
            value={password}
            onChange={setPassword}
            autoComplete="new-password"
            hint={t("fields.passwordHint")}
            error={fieldError(reset.error, "newPassword")}
            isRequired
          />
          <Submit busy={reset.isPending}>{t("reset.submit")}</Submit>
        </Form>
      )}
    </PublicFrame>
  );
}

export function AcceptInvitation() {
  const { t } = useTranslation();
  const [params] = useSearchParams();
  const token = params.get("token") ?? "";
  const me = useMe();
  const accept = useMutation({
    mutationFn: () => call(api.POST("/api/v1/invitations/accept", { body: { token } })),
  });
  const here = `/invitations/accept?token=${encodeURIComponent(token)}`;
  let body;
  if (!token) body = <Alert variant="warning" isInline title={t("common.missingToken")} />;
  else if (me.isPending) body = <Loading />;
  else if (!me.data)
    body = (
      <Alert variant="info" isInline title={t("invitation.signInFirst")}>
        <Link to={`/sign-in?next=${encodeURIComponent(here)}`}>{t("invitation.signIn")}</Link>
      </Alert>
    );
  else if (accept.isSuccess)
    body = (
      <Alert variant="success" isInline title={t("invitation.done")}>
        <Link to={`/organizations/${accept.data.orgId}`}>{t("invitation.open")}</Link>
      </Alert>
    );
  else
    body = (
      <Form
        onSubmit={(e) => {
          e.preventDefault();
          accept.mutate();
        }}
      >
        <p>{t("invitation.explain", { name: me.data.name })}</p>
        <ProblemAlert error={accept.error} />
        <Submit busy={accept.isPending}>{t("invitation.submit")}</Submit>
      </Form>
    );
  return (
    <PublicFrame title={t("invitation.title")} footer={<Link to="/">{t("common.toConsole")}</Link>}>
      {body}
    </PublicFrame>
  );
}
