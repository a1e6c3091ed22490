import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError } from '../lib/api';

export interface FormState {
  /** Field name → the api's message for it. */
  errors: Record<string, string>;
  /** A message about the whole form (not about one field). */
  formError: string | null;
  busy: boolean;
  /** Seconds until a rate-limited form may be sent again. */
  retryIn: number;
  /** Runs the submit; maps an ApiError onto the fields this form shows. Returns whether it worked. */
  submit: (send: () => Promise<void>) => Promise<boolean>;
  clear: (field?: string) => void;
}

/**
 * Submit state for a form whose fields are named like the api's body fields, so a
 * `validation_failed` detail lands next to the field it names. Anything the form does not
 * show (and every other error) is reported for the form as a whole; a 429 counts down.
 */
export function useForm(fields: readonly string[]): FormState {
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [retryUntil, setRetryUntil] = useState(0);
  const [now, setNow] = useState(Date.now());

  useEffect(() => {
    if (retryUntil <= Date.now()) return;
    const timer = setInterval(() => setNow(Date.now()), 250);
    return () => clearInterval(timer);
  }, [retryUntil]);

  const submit = async (send: () => Promise<void>) => {
    setBusy(true);
    setErrors({});
    setFormError(null);
    try {
      await send();
      return true;
    } catch (err) {
      if (!(err instanceof ApiError)) {
        setFormError((err as Error).message);
        return false;
      }
      const mine: Record<string, string> = {};
      const others: string[] = [];
      for (const [field, message] of Object.entries(err.fields)) {
        if (fields.includes(field)) mine[field] = message;
        else others.push(`${field}: ${message}`);
      }
      setErrors(mine);
      if (err.status === 429 && err.retryAfterS) {
        setRetryUntil(Date.now() + err.retryAfterS * 1000);
        setNow(Date.now());
      }
      if (Object.keys(mine).length === 0) setFormError(others.length ? others.join('; ') : err.message);
      else if (others.length) setFormError(others.join('; '));
      return false;
    } finally {
      setBusy(false);
    }
  };

  return {
    errors,
    formError,
    busy,
    retryIn: Math.max(0, Math.ceil((retryUntil - now) / 1000)),
    submit,
    clear: (field) => {
      if (field) {
        if (errors[field]) setErrors(({ [field]: _, ...rest }) => rest);
      } else setErrors({});
    },
  };
}

export function Field(props: { label: string; name: string; form: FormState; hint?: string; children: ComponentChildren; wide?: boolean }) {
  const error = props.form.errors[props.name];
  return (
    <div class={`field${error ? ' invalid' : ''}${props.wide ? ' wide' : ''}`} data-field={props.name}>
      <label for={`f-${props.name}`}>{props.label}</label>
      {props.children}
      {error ? (
        <p class="field-error" id={`f-${props.name}-error`} data-field={props.name} role="alert">
          {error}
        </p>
      ) : (
        props.hint && <p class="hint">{props.hint}</p>
      )}
    </div>
  );
}

/** The form's footer: its whole-form error (or the retry countdown) and the submit button. */
export function FormFooter(props: { form: FormState; submit: string; busy: string; onCancel?: () => void }) {
  const { form } = props;
  return (
    <>
      {form.retryIn > 0 ? (
        <p class="form-error" role="alert" data-retry-in={form.retryIn}>
          Too many requests — try again in {form.retryIn} s.
        </p>
      ) : (
        form.formError && (
          <p class="form-error" role="alert">
            {form.formError}
          </p>
        )
      )}
      <div class="actions">
        {props.onCancel && (
          <button type="button" class="btn ghost" onClick={props.onCancel}>
            Cancel
          </button>
        )}
        <button type="submit" class="btn primary" disabled={form.busy || form.retryIn > 0}>
          {form.busy ? props.busy : props.submit}
        </button>
      </div>
    </>
  );
}
