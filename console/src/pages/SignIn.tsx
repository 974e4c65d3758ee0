import { Form, Stack } from "@patternfly/react-core";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { Link, Navigate, useNavigate, useSearchParams } from "react-router";
import { api, call } from "../api/client";
import { Submit, TextField } from "../components/form";
import { PublicFrame } from "../components/PublicFrame";
import { fieldError, ProblemAlert } from "../components/states";
import { useMe } from "../lib/session";

/** Only a path of this site: `next` comes from the address bar and must not lead away. */
export function safeNext(next: string | null): string {
  return next && next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\")
    ? next
    : "/";
}

export function SignIn() {
  const { t } = useTranslation();
  const [params] = useSearchParams();
  const next = safeNext(params.get("next"));
  const me = useMe();
  const client = useQueryClient();
  const navigate = useNavigate();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const signIn = useMutation({
    mutationFn: () => call(api.POST("/api/v1/auth/login/cookie", { body: { email, password } })),
    onSuccess: (session) => {
      client.setQueryData(["me"], session.user);
      navigate(next, { replace: true });
    },
  });
  if (me.data) return <Navigate to={next} replace />;
  return (
    <PublicFrame
      title={t("signIn.title")}
      footer={
        <Stack>
          <Link to="/register">{t("signIn.register")}</Link>
          <Link to="/forgot-password">{t("signIn.forgot")}</Link>
        </Stack>
      }
    >
      <Form
        onSubmit={(e) => {
          e.preventDefault();
          signIn.mutate();
        }}
      >
        <ProblemAlert error={signIn.error} />
        <TextField
          label={t("fields.email")}
          type="email"
          autoComplete="username"
          value={email}
          onChange={setEmail}
          error={fieldError(signIn.error, "email")}
          isRequired
        />
        <TextField
          label={t("fields.password")}
          type="password"
          autoComplete="current-password"
          value={password}
          onChange={setPassword}
          error={fieldError(signIn.error, "password")}
          isRequired
        />
        <Submit busy={signIn.isPending}>{t("signIn.submit")}</Submit>
      </Form>
    </PublicFrame>
  );
}
