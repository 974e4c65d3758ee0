import { Button, Modal, ModalBody, ModalFooter, ModalHeader } from "@patternfly/react-core";
import { useState, type ReactNode } from "react";
import { useTranslation } from "react-i18next";

/** A button that asks before doing something that cannot be undone. */
export function ConfirmButton({
  label,
  title,
  body,
  confirm,
  onConfirm,
  variant = "danger",
  isDisabled,
}: {
  label: string;
  title: string;
  body: ReactNode;
  confirm: string;
  onConfirm: () => Promise<unknown> | void;
  variant?: "danger" | "primary" | "secondary" | "link";
  isDisabled?: boolean;
}) {
  const { t } = useTranslation();
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  return (
    <>
      <Button
        variant={variant === "danger" ? "link" : variant}
        isDanger={variant === "danger"}
        onClick={() => setOpen(true)}
        isDisabled={isDisabled}
      >
        {label}
      </Button>
      <Modal
        variant="small"
        isOpen={open}
        onClose={() => setOpen(false)}
        aria-labelledby="confirm-title"
      >
        <ModalHeader title={title} labelId="confirm-title" />
        <ModalBody>{body}</ModalBody>
        <ModalFooter>
          <Button
            variant={variant === "danger" ? "danger" : "primary"}
            isLoading={busy}
            isDisabled={busy}
            onClick={async () => {
              setBusy(true);
              try {
                await onConfirm();
              } finally {
                setBusy(false);
                setOpen(false);
              }
            }}
          >
            {confirm}
          </Button>
          <Button variant="link" onClick={() => setOpen(false)}>
            {t("common.cancel")}
          </Button>
        </ModalFooter>
      </Modal>
    </>
  );
}
