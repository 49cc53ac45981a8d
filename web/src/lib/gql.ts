import { createClient, type Client } from 'graphql-ws';

/** An error GraphQL answered with: its message, and the code Gyre gives it (FORBIDDEN, BAD_USER_INPUT…). */
export class GqlError extends Error {
  constructor(
    message: string,
    readonly code: string | null,
  ) {
    super(message);
  }
}

type Answer<T> = { data?: T | null; errors?: Array<{ message: string; extensions?: { code?: string } }> };

/**
 * A query or mutation over Gyre's GraphQL API, as any client sends it: the session cookie goes with
 * it, and the browser adds the Origin Gyre checks.
 */
// biome-ignore lint/suspicious/noExplicitAny: a page reads the answer by the shape of its own query
export const gql = async <T = Record<string, any>>(query: string, variables: Record<string, unknown> = {}): Promise<T> => {
  const res = await fetch('/graphql', {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json().catch(() => ({}))) as Answer<T> & { message?: string; code?: string };
  const first = body.errors?.[0];
  if (first) throw new GqlError(first.message, first.extensions?.code ?? null);
  if (!res.ok || !body.data) throw new GqlError(body.message ?? `Gyre answered ${res.status}`, body.code ?? null);
  return body.data;
};

let client: Client | null = null;
const reconnected = new Set<() => void>();
/**
 * One WebSocket for every subscription of the page, authenticated by the session cookie. A lost
 * connection is retried for as long as the page is open (with graphql-ws's growing waits), and its
 * subscriptions start again: from their beginning, so `onReconnected` listeners drop what they hold.
 */
const ws = () =>
  (client ??= createClient({
    url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`,
    lazy: true,
    retryAttempts: Number.MAX_SAFE_INTEGER,
    shouldRetry: () => true,
    on: {
      connected: (_socket, _payload, wasRetry) => {
        if (wasRetry) for (const l of reconnected) l();
      },
    },
  }));

/** Calls `listener` each time the live connection comes back after it was lost; returns the way to stop. */
export const onReconnected = (listener: () => void): (() => void) => {
  reconnected.add(listener);
  return () => void reconnected.delete(listener);
};

/** Follows a subscription: `next` for each answer, `error` once if it fails; returns the way to stop. */
// biome-ignore lint/suspicious/noExplicitAny: a page reads the answer by the shape of its own query
export const subscribe = <T = Record<string, any>>(
  query: string,
  variables: Record<string, unknown>,
  next: (data: T) => void,
  error: (e: GqlError) => void = () => undefined,
): (() => void) =>
  ws().subscribe<T>(
    { query, variables },
    {
      next: (r) => {
        const first = r.errors?.[0];
        if (first) error(new GqlError(first.message, (first.extensions as { code?: string } | undefined)?.code ?? null));
        else if (r.data) next(r.data as T);
      },
      error: (e) => error(new GqlError(e instanceof Error ? e.message : 'the live connection failed', null)),
      complete: () => undefined,
    },
  );
