import {
  FormGroup,
  FormHelperText,
  FormSelect,
  FormSelectOption,
  HelperText,
  HelperTextItem,
} from "@patternfly/react-core";
import { useId } from "react";

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
        aria-describedby={`${id}-help`}
      >
        {options.map((o) => (
          <FormSelectOption key={o.value} value={o.value} label={o.label} />
        ))}
      </FormSelect>
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
