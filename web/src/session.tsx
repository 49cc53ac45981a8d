import { createContext } from 'preact';
import { useContext } from 'preact/hooks';

export interface Me {
  readonly login: string;
  readonly name: string;
  readonly isAdmin: boolean;
}

/** Who is signed in; null before anyone is. */
export const SessionContext = createContext<{ me: Me | null; refresh: () => Promise<void> }>({ me: null, refresh: async () => undefined });
export const useSession = () => useContext(SessionContext);

/** Starts a session with an API token (the same cookie GitHub sign-in gives); the error's words when refused. */
export const signInWithToken = async (token: string): Promise<string | null> => {
  const res = await fetch('/auth/token', {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token }),
  });
  if (res.ok) return null;
  const body = (await res.json().catch(() => ({}))) as { message?: string };
  return body.message ?? `Gyre answered ${res.status}`;
};

/** Ends the session; the words of the refusal when Gyre did not end it. */
export const signOut = async (): Promise<string | null> => {
  const res = await fetch('/auth/logout', { method: 'POST', credentials: 'same-origin' }).catch(() => null);
  if (res?.ok) return null;
  const body = (await res?.json().catch(() => ({}))) as { message?: string } | undefined;
  return `Gyre did not sign you out: ${body?.message ?? (res ? `it answered ${res.status}` : 'it could not be reached')}`;
};
