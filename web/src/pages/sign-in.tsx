import { useState } from 'preact/hooks';
import { returnPath } from '../lib/addresses.ts';
import { navigate } from '../lib/router.tsx';
import { ErrorBox, Field, Page } from '../lib/ui.tsx';
import { signInWithToken, useSession } from '../session.tsx';

export const SignIn = () => {
  const { refresh } = useSession();
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <Page title="Sign in">
      <p>
        <a href="/auth/github">Sign in with GitHub</a>
      </p>
      <form
        class="stack"
        onSubmit={async (e) => {
          e.preventDefault();
          // a second press while it works does nothing (the button stays focusable: a disabled one drops the focus)
          if (busy) return;
          setBusy(true);
          const refused = await signInWithToken(token.trim());
          setBusy(false);
          if (refused) return setError(refused);
          setToken('');
          // the session first: a page opened before it is known would send the browser back here
          await refresh();
          navigate(returnPath(new URLSearchParams(location.search).get('next')), { replace: true });
        }}
      >
        <Field
          label="API token"
          type="password"
          autoComplete="off"
          required
          value={token}
          onInput={(e: Event) => setToken((e.currentTarget as HTMLInputElement).value)}
        />
        <ErrorBox error={error} />
        <div>
          <button type="submit" aria-disabled={busy || undefined}>
            Sign in
          </button>
        </div>
      </form>
    </Page>
  );
};
