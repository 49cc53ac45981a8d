import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { gql, subscribe, type GqlError } from './gql.ts';

export interface Loaded<T> {
  readonly data: T | null;
  readonly error: GqlError | null;
  readonly loading: boolean;
  /** Asks again (after a change this page made). */
  readonly reload: () => void;
}

/** A query's answer, asked again when `variables` change. */
// biome-ignore lint/suspicious/noExplicitAny: a page reads the answer by the shape of its own query
export const useQuery = <T = Record<string, any>>(query: string, variables: Record<string, unknown> = {}): Loaded<T> => {
  const key = JSON.stringify(variables);
  const [state, setState] = useState<{ data: T | null; error: GqlError | null; loading: boolean }>({ data: null, error: null, loading: true });
  const [round, setRound] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    gql<T>(query, JSON.parse(key))
      .then((data) => live && setState({ data, error: null, loading: false }))
      // the last answer stays beside the error: one failed reload does not blank the page
      .catch((error: GqlError) => live && setState((s) => ({ data: s.data, error, loading: false })));
    return () => {
      live = false;
    };
  }, [query, key, round]);
  const reload = useCallback(() => setRound((r) => r + 1), []);
  return { ...state, reload };
};

/** Follows a subscription while the component shows; `onData` sees each answer. */
// biome-ignore lint/suspicious/noExplicitAny: a page reads the answer by the shape of its own query
export const useSubscription = <T = Record<string, any>>(
  query: string,
  variables: Record<string, unknown>,
  onData: (data: T) => void,
  enabled = true,
): GqlError | null => {
  const key = JSON.stringify(variables);
  const [error, setError] = useState<GqlError | null>(null);
  // the newest onData is called: a new function each render must not restart the subscription
  const latest = useRef(onData);
  latest.current = onData;
  useEffect(() => {
    if (!enabled) return;
    setError(null);
    return subscribe<T>(query, JSON.parse(key), (d) => latest.current(d), setError);
  }, [query, key, enabled]);
  return error;
};
