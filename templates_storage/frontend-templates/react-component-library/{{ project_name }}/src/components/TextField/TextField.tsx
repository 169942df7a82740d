import { type InputHTMLAttributes, type Ref, useId } from "react";
import "./TextField.css";

export interface TextFieldProps extends Omit<InputHTMLAttributes<HTMLInputElement>, "id"> {
  label: string;
  /** Help text shown below the field. */
  hint?: string;
  /** Error message; marks the field invalid and is announced by screen readers. */
  error?: string;
  ref?: Ref<HTMLInputElement>;
}

export function TextField({ label, hint, error, className, ...rest }: TextFieldProps) {
  const id = useId();
  const hintId = hint ? `${id}-hint` : undefined;
  const errorId = error ? `${id}-error` : undefined;
  const describedBy = [hintId, errorId].filter(Boolean).join(" ") || undefined;
  return (
    <div className={["{{ css_prefix }}-field", className].filter(Boolean).join(" ")}>
      <label htmlFor={id} className="{{ css_prefix }}-field__label">
        {label}
        {rest.required ? <span aria-hidden="true"> *</span> : null}
      </label>
      <input
        id={id}
        className="{{ css_prefix }}-field__input"
        aria-invalid={error ? true : undefined}
        aria-describedby={describedBy}
        {...rest}
      />
      {hint ? (
        <p id={hintId} className="{{ css_prefix }}-field__hint">
          {hint}
        </p>
      ) : null}
      {error ? (
        <p id={errorId} className="{{ css_prefix }}-field__error" role="alert">
          {error}
        </p>
      ) : null}
    </div>
  );
}
