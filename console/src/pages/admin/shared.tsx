// Pieces the administration pages share.
import {
  ActionGroup,
  Alert,
  Button,
  Form,
  Modal,
  ModalBody,
  ModalHeader,
  PageSection,
} from "@patternfly/react-core";
import AngleDownIcon from "@patternfly/react-icons/dist/esm/icons/angle-down-icon";
import AngleRightIcon from "@patternfly/react-icons/dist/esm/icons/angle-right-icon";
import { useQuery } from "@tanstack/react-query";
import { useId, useState, type ReactNode } from "react";
import { useTranslation } from "react-i18next";
import { api, call } from "../../api/client";
import { ProblemAlert } from "../../components/states";
import { canAdminister, useMe } from "../../lib/session";

export const FIRST_PAGE = { page: 1, limit: 20 };

/** Whether the signed-in admin may change things (read-only admins may not). */
export function useCanWrite() {
  return canAdminister(useMe().data);
}

export function ReadOnlyNote() {
  const { t } = useTranslation();
  const canWrite = useCanWrite();
  if (canWrite) return null;
  return (
    <PageSection>
      <Alert variant="info" isInline title={t("common.readOnly")} />
    </PageSection>
  );
}

/** A form's values in one state, with a setter per field. */
export function useFields<T extends object>(initial: T) {
  const [values, setValues] = useState(initial);
  const set =
    <K extends keyof T>(key: K) =>
    (value: T[K]) =>
      setValues((v) => ({ ...v, [key]: value }));
  return [values, set, setValues] as const;
}

/** A number for a text field: empty when there is none. */
export const text = (n: number | null | undefined) =>
  n === null || n === undefined ? "" : String(n);

export function Dialog({
  title,
  onClose,
  children,
}: {
  title: string;
  onClose: () => void;
  children: ReactNode;
}) {
  const id = useId();
  return (
    <Modal variant="medium" isOpen onClose={onClose} aria-labelledby={id}>
      <ModalHeader title={title} labelId={id} />
      <ModalBody>{children}</ModalBody>
    </Modal>
  );
}

export function SaveForm({
  onSubmit,
  onCancel,
  error,
  busy,
  submitLabel,
  children,
}: {
  onSubmit: () => void;
  onCancel: () => void;
  error: unknown;
  busy: boolean;
  submitLabel?: string;
  children: ReactNode;
}) {
  const { t } = useTranslation();
  return (
    <Form
      onSubmit={(e) => {
        e.preventDefault();
        onSubmit();
      }}
    >
      <ProblemAlert error={error} />
      {children}
      <ActionGroup>
        <Button type="submit" isLoading={busy} isDisabled={busy}>
          {submitLabel ?? t("common.save")}
        </Button>
        <Button variant="link" onClick={onCancel}>
          {t("common.cancel")}
        </Button>
      </ActionGroup>
    </Form>
  );
}

/** Opens or closes a table row's details. */
export function ExpandToggle({
  label,
  isExpanded,
  onToggle,
}: {
  label: string;
  isExpanded: boolean;
  onToggle: () => void;
}) {
  return (
    <Button
      variant="plain"
      aria-label={label}
      aria-expanded={isExpanded}
      onClick={onToggle}
      icon={isExpanded ? <AngleDownIcon /> : <AngleRightIcon />}
    />
  );
}

/** A user's name and address, looked up by id; the id itself until then or if that fails. */
export function UserName({ id }: { id: string }) {
  const user = useQuery({
    queryKey: ["admin", "user", id],
    queryFn: () => call(api.GET("/api/v1/users/{id}", { params: { path: { id } } })),
    staleTime: 5 * 60_000,
  });
  if (!user.data) return <code>{id}</code>;
  return (
    <>
      {user.data.name} <small className="pf-v6-u-text-color-subtle">{user.data.email}</small>
    </>
  );
}
