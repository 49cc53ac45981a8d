import type { ComponentType, JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { match } from './lib/addresses.ts';
import { Link, navigate, useLocation } from './lib/router.tsx';
import { ErrorBox, Loading, NotAllowed, Page } from './lib/ui.tsx';
import { SessionContext, signOut, type Me } from './session.tsx';
import { routes } from './routes.tsx';

/** Gyre's web UI: who is signed in, the navigation they may use, and the page the address names. */
export const App = () => {
  const { path } = useLocation();
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const [signOutError, setSignOutError] = useState<string | null>(null);
  const refresh = (): Promise<void> =>
    fetch('/auth/session', { credentials: 'same-origin' })
      .then((r) => r.json() as Promise<{ signedIn: boolean } & Me>)
      .then((s) => setMe(s.signedIn ? { login: s.login, name: s.name, isAdmin: s.isAdmin } : null))
      .catch(() => setMe(null));
  useEffect(() => void refresh(), []);
  // a new page takes the focus, as a page load would: keyboard and screen reader users start at its top
  const opened = useRef(false);
  useEffect(() => {
    if (opened.current) document.getElementById('main')?.focus();
    opened.current = true;
  }, [path]);

  if (me === undefined) return <Loading />;
  const route = routes.map((r) => ({ r, params: match(r.path, path) })).find((x) => x.params);
  let body: JSX.Element;
  if (!route)
    body = (
      <Page title="Not found">
        <p>There is no page at {path}.</p>
      </Page>
    );
  else if (route.r.path !== '/sign-in' && !me) {
    // signed out: sign in first, then on to the page asked for (a CIRCLE_BUILD_URL, say)
    const next = `${location.pathname}${location.search}`;
    queueMicrotask(() => navigate(`/sign-in?next=${encodeURIComponent(next)}`, { replace: true }));
    body = <Loading />;
  } else if (route.r.admin && !me?.isAdmin) body = <NotAllowed />;
  else {
    const Component = route.r.page as ComponentType<{ params: Record<string, string> }>;
    body = <Component params={route.params!} />;
  }
  return (
    <SessionContext.Provider value={{ me, refresh }}>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <Link href="/projects" class="brand">
          Gyre
        </Link>
        {me ? (
          <nav aria-label="Main">
            <ul>
              <li>
                <Link href="/projects">Projects</Link>
              </li>
              <li>
                <Link href="/tokens">API tokens</Link>
              </li>
              {me.isAdmin ? (
                <>
                  <li>
                    <Link href="/admin/users">Users</Link>
                  </li>
                  <li>
                    <Link href="/admin/runners">Runners</Link>
                  </li>
                  <li>
                    <Link href="/admin/audit-log">Audit log</Link>
                  </li>
                  <li>
                    <Link href="/admin/settings">Settings</Link>
                  </li>
                </>
              ) : null}
            </ul>
          </nav>
        ) : null}
        {me ? (
          <div class="who">
            <span>{me.login}</span>{' '}
            <button
              type="button"
              onClick={async () => {
                const refused = await signOut();
                setSignOutError(refused);
                if (refused) return;
                setMe(null);
                navigate('/sign-in', { replace: true });
              }}
            >
              Sign out
            </button>
            <ErrorBox error={signOutError} />
          </div>
        ) : null}
      </header>
      <main id="main" tabIndex={-1}>
        {body}
      </main>
    </SessionContext.Provider>
  );
};
