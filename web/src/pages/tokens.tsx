import { useState } from 'preact/hooks';
import { gql, type GqlError } from '../lib/gql.ts';
import { useQuery } from '../lib/hooks.ts';
import { Button, ErrorBox, Field, Loading, Page, Time } from '../lib/ui.tsx';

interface ApiToken {
  id: string;
  label: string;
  createdAt: string;
  lastUsedAt: string | null;
}

/** The signed-in account's API tokens: a new one is shown once, here, and any can be revoked. */
export const Tokens = () => {
  const q = useQuery<{ apiTokens: ApiToken[] }>('query { apiTokens { id label createdAt lastUsedAt } }');
  const [label, setLabel] = useState('');
  const [created, setCreated] = useState<{ token: string; label: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<GqlError | null>(null);
  const run = async (work: () => Promise<void>) => {
    // a second press while it works does nothing (the button stays focusable: a disabled one drops the focus)
    if (busy) return;
    setBusy(true);
    setError(null);
    try {
      await work();
      q.reload();
    } catch (e) {
      setError(e as GqlError);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Page title="API tokens">
      <form
        class="row"
        aria-label="Create an API token"
        onSubmit={(e) => {
          e.preventDefault();
          void run(async () => {
            const d = await gql<{ createApiToken: { token: string; apiToken: ApiToken } }>(
              'mutation($l: String!) { createApiToken(label: $l) { token apiToken { id label } } }',
              { l: label.trim() },
            );
            setCreated({ token: d.createApiToken.token, label: d.createApiToken.apiToken.label });
            setLabel('');
          });
        }}
      >
        <Field label="Token label" required value={label} onInput={(e: Event) => setLabel((e.currentTarget as HTMLInputElement).value)} />
        <button type="submit" class="primary" aria-disabled={busy || undefined}>
          Create token
        </button>
      </form>
      {created ? (
        <div class="notice stack" role="status">
          <p>
            <strong>New token “{created.label}”.</strong> Copy it now: Gyre keeps only its hash and will not show it again.
          </p>
          <label class="field wide">
            <span>New API token</span>
            <input class="mono" readOnly value={created.token} onFocus={(e) => (e.currentTarget as HTMLInputElement).select()} />
          </label>
          <p class="muted">Select the field and copy it (Ctrl+C or ⌘C).</p>
          <div>
            <Button onClick={() => setCreated(null)}>Done</Button>
          </div>
        </div>
      ) : null}
      <ErrorBox error={error} />
      <ErrorBox error={q.error} />
      {!q.data ? (
        q.error ? null : (
          <Loading />
        )
      ) : q.data.apiTokens.length === 0 ? (
        <p class="muted">No API tokens.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Label</th>
              <th scope="col">Created</th>
              <th scope="col">Last used</th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {q.data.apiTokens.map((t) => (
              <tr key={t.id}>
                <td id={`token-${t.id}`}>{t.label}</td>
                <td>
                  <Time at={t.createdAt} />
                </td>
                <td>{t.lastUsedAt ? <Time at={t.lastUsedAt} /> : <span class="muted">never</span>}</td>
                <td>
                  <Button
                    class="danger"
                    aria-describedby={`token-${t.id}`}
                    aria-disabled={busy || undefined}
                    onClick={() => void run(async () => void (await gql('mutation($id: ID!) { revokeApiToken(id: $id) }', { id: t.id })))}
                  >
                    Revoke
                  </Button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Page>
  );
};
