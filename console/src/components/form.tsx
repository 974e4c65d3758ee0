// Form fields with their label, hint and the API's message for them.
import {
  FormGroup,
  FormHelperText,
  HelperText,
  HelperTextItem,
  TextArea,
  TextInput,
  type TextInputProps,
} from "@patternfly/react-core";
import { useId } from "react";

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
          aria-describedby={`${id}-help`}
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
          aria-describedby={`${id}-help`}
        />
      )}
      {error || hint ? (
        <FormHelperText>
          <HelperText id={`${id}-help`}>
            <HelperTextItem variant={error ? "error" : "default"}>{error ?? hint}</HelperTextItem>
          </HelperText>
        </FormHelperText>
      ) : null}
    </FormGroup>
  );
}

/** A number input kept as text so that an empty field means "none". */
export const numberOrNull = (text: string): number | null =>
  text.trim() === "" ? null : Number(text);
