// Form fields with their label, hint and the API's message for them.
import {
  ActionGroup,
  Button,
  FormGroup,
  FormHelperText,
  FormSelect,
  FormSelectOption,
  HelperText,
  HelperTextItem,
  TextArea,
  TextInput,
  type TextInputProps,
} from "@patternfly/react-core";
import { useId, type ReactNode } from "react";

interface FieldProps {
  label: string;
  value: string;
  onChange: (value: string) => void;
  error?: string;
  hint?: string;
  isRequired?: boolean;
  type?: TextInputProps["type"];
  autoComplete?: string;
  multiline?: boolean;
  isDisabled?: boolean;
}

export function TextField({
  label,
  value,
  onChange,
  error,
  hint,
  isRequired,
  type = "text",
  autoComplete,
  multiline,
  isDisabled,
}: FieldProps) {
  const id = useId();
  const validated = error ? "error" : "default";
  return (
    <FormGroup label={label} fieldId={id} isRequired={isRequired}>
      {multiline ? (
        <TextArea
          id={id}
          value={value}
          onChange={(_, v) => onChange(v)}
          validated={validated}
          isRequired={isRequired}
          isDisabled={isDisabled}
          aria-describedby={helpId(id, error, hint)}
          autoResize
        />
      ) : (
        <TextInput
          id={id}
          type={type}
          value={value}
          onChange={(_, v) => onChange(v)}
          validated={validated}
          isRequired={isRequired}
          isDisabled={isDisabled}
          autoComplete={autoComplete}
          aria-describedby={helpId(id, error, hint)}
        />
      )}
      <FieldMessage id={id} error={error} hint={hint} />
    </FormGroup>
  );
}

const helpId = (id: string, error?: string, hint?: string) =>
  error || hint ? `${id}-help` : undefined;

/** The hint under a field, or the API's message for it when it was refused; also for
 * fields that are not text inputs (a group of checkboxes, a switch). */
export function FieldMessage({ id, error, hint }: { id?: string; error?: string; hint?: string }) {
  if (!error && !hint) return null;
  return (
    <FormHelperText>
      <HelperText id={id ? `${id}-help` : undefined}>
        <HelperTextItem variant={error ? "error" : "default"}>{error ?? hint}</HelperTextItem>
      </HelperText>
    </FormHelperText>
  );
}

/** A number input kept as text so that an empty field means "none". */
export const numberOrNull = (text: string): number | null =>
  text.trim() === "" ? null : Number(text);

/** A labelled select with its hint and the API's message for it, like TextField. */
export function SelectField({
  label,
  value,
  onChange,
  options,
  error,
  hint,
  isRequired,
}: {
  label: string;
  value: string;
  onChange: (value: string) => void;
  options: { value: string; label: string }[];
  error?: string;
  hint?: string;
  isRequired?: boolean;
}) {
  const id = useId();
  return (
    <FormGroup label={label} fieldId={id} isRequired={isRequired}>
      <FormSelect
        id={id}
        value={value}
        onChange={(_, v) => onChange(v)}
        validated={error ? "error" : "default"}
        isRequired={isRequired}
        aria-describedby={helpId(id, error, hint)}
      >
        {options.map((o) => (
          <FormSelectOption key={o.value} value={o.value} label={o.label} />
        ))}
      </FormSelect>
      <FieldMessage id={id} error={error} hint={hint} />
    </FormGroup>
  );
}

/** A form's submit button: busy while its request runs, so it is not sent twice. */
export function Submit({ busy, children }: { busy: boolean; children: ReactNode }) {
  return (
    <ActionGroup>
      <Button type="submit" isLoading={busy} isDisabled={busy}>
        {children}
      </Button>
    </ActionGroup>
  );
}
