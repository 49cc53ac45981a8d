import { useState } from 'preact/hooks';
import type { GqlError } from '../lib/gql.ts';
import { Button, ErrorBox, Field, Time } from '../lib/ui.tsx';

export interface EnvVar {
  name: string;
  value: string;
  updatedAt: string;
}

/**
 * Environment variables of a project or a context: names and the masked values the API gives (never
 * the values themselves), a form to add one (or replace it), and a button to delete each.
 */
export const EnvVars = ({
  of,
  vars,
  store,
  remove,
}: {
  of: string;
  vars: ReadonlyArray<EnvVar>;
  store: (name: string, value: string) => Promise<unknown>;
  remove: (name: string) => Promise<unknown>;
}) => {
  const [name, setName] = useState('');
  const [value, setValue] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<GqlError | null>(null);
  const run = async (work: () => Promise<unknown>) => {
    // a second press while it works does nothing (the button stays focusable: a disabled one drops the focus)
    if (busy) return;
    setBusy(true);
    setError(null);
    try {
      await work();
      return true;
    } catch (e) {
      setError(e as GqlError);
      return false;
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="stack">
      {vars.length === 0 ? (
        <p class="muted">No environment variables.</p>
      ) : (
        <table aria-label={`Environment variables of ${of}`}>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Value (masked)</th>
              <th scope="col">Updated</th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {vars.map((v) => (
              <tr key={v.name}>
                <td>
                  <code>{v.name}</code>
                </td>
                <td>
                  <code>{v.value}</code>
                </td>
                <td>
                  <Time at={v.updatedAt} />
                </td>
                <td>
                  <Button class="danger" aria-disabled={busy || undefined} aria-label={`Delete ${v.name}`} onClick={() => run(() => remove(v.name))}>
                    Delete
                  </Button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form
        class="row"
        aria-label={`Add an environment variable to ${of}`}
        onSubmit={async (e) => {
          e.preventDefault();
          if (await run(() => store(name.trim(), value))) {
            setName('');
            setValue('');
          }
        }}
      >
        <Field
          label="Variable name"
          required
          value={name}
          autoComplete="off"
          spellcheck={false}
          onInput={(e: Event) => setName((e.currentTarget as HTMLInputElement).value)}
        />
        <Field
          label="Value"
          type="password"
          required
          value={value}
          autoComplete="new-password"
          onInput={(e: Event) => setValue((e.currentTarget as HTMLInputElement).value)}
        />
        <button type="submit" aria-disabled={busy || undefined}>
          Add variable
        </button>
      </form>
      <ErrorBox error={error} />
    </div>
  );
};
