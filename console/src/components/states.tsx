// Loading, empty and error states, and problems turned into readable messages.
import {
  Alert,
  Bullseye,
  EmptyState,
  EmptyStateBody,
  Spinner,
  type AlertProps,
} from "@patternfly/react-core";
import type { ReactNode } from "react";
import { useTranslation } from "react-i18next";
import { ApiError } from "../api/client";

/** A problem's message: ours for the codes we know, else the server's own words. */
export function useProblemText() {
  const { t } = useTranslation();
  return (error: unknown): string => {
    if (error instanceof ApiError) {
      if (error.code === "network") return t("errors.network");
      return t(`errors.codes.${error.code}`, {
        defaultValue: error.problem.detail || t("errors.unknown"),
      });
    }
    return t("errors.unknown");
  };
}

export function ProblemAlert({
  error,
  title,
  variant = "danger",
}: {
  error: unknown;
  title?: string;
  variant?: AlertProps["variant"];
}) {
  const { t } = useTranslation();
  const text = useProblemText();
  if (!error) return null;
  const requestId = error instanceof ApiError ? error.problem.requestId : undefined;
  return (
    <Alert variant={variant} isInline title={title ?? text(error)} role="alert">
      {title ? <p>{text(error)}</p> : null}
      {requestId ? <small>{t("errors.requestId", { id: requestId })}</small> : null}
    </Alert>
  );
}

/** The message the API gave for one field of a form, if any. */
export function fieldError(error: unknown, field: string): string | undefined {
  return error instanceof ApiError ? error.field(field) : undefined;
}

export function Loading() {
  const { t } = useTranslation();
  return (
    <Bullseye className="pf-v6-u-p-xl">
      <Spinner aria-label={t("common.loading")} />
    </Bullseye>
  );
}

export function Empty({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <EmptyState titleText={title} headingLevel="h2">
      {children ? <EmptyStateBody>{children}</EmptyStateBody> : null}
    </EmptyState>
  );
}

/** Renders a query's data once it is there, with its loading and error states. */
export function Loaded<T>({
  query,
  children,
}: {
  query: { isPending: boolean; error: unknown; data: T | undefined };
  children: (data: T) => ReactNode;
}) {
  if (query.isPending) return <Loading />;
  if (query.error || query.data === undefined) return <ProblemAlert error={query.error} />;
  return <>{children(query.data)}</>;
}
