import type { Knex } from 'knex';
import { rows } from '../../adapters/database/sql.ts';

/** What became of one command: acknowledged (200 with data), refused or failed with an answer, or no answer at all. */
export interface Outcome {
  readonly slug: string;
  /** Its X-Client-Trace-Id, which every event it causes carries. */
  readonly trace: string;
  readonly kind: 'acknowledged' | 'failed' | 'no answer';
  readonly status: number | null;
  /** The typed code of a failure (GraphQL `extensions.code`, or REST's `code`). */
  readonly code: string | null;
  readonly ms: number;
  /** When it was sent, as Date.now(). */
  readonly at: number;
}

export interface Load {
  readonly outcomes: ReadonlyArray<Outcome>;
  /** Resolves once `holds` is true of the outcomes so far; rejects when the deadline passes first or the load has ended without it. */
  until(holds: (outcomes: ReadonlyArray<Outcome>) => boolean, withinMs: number, what: string): Promise<void>;
  /** Sends no more commands; what is in flight finishes. */
  stop(): void;
  /** Every client has stopped: after stop(), or once `total` commands were sent. */
  readonly done: Promise<ReadonlyArray<Outcome>>;
}

export const acknowledged = (outcomes: ReadonlyArray<Outcome>) => outcomes.filter((o) => o.kind === 'acknowledged');

/**
 * `clients` concurrent clients sending `createProject` with unique slugs (`gh/faults/<run>-<n>`) over
 * HTTP, at most `total` in all, each with its own trace id and a time limit, so a hung command shows
 * as a failure instead of stalling the test.
 */
export const startLoad = (options: { url: string; token: string; run: string; clients: number; total: number; timeLimitMs?: number }): Load => {
  const outcomes: Outcome[] = [];
  const waiters = new Set<() => void>();
  let sent = 0;
  let stopped = false;
  const send = async (n: number): Promise<Outcome> => {
    const slug = `gh/faults/${options.run}-${n}`;
    const trace = `${options.run}-${n}`;
    const at = Date.now();
    const query = `mutation { createProject(input: {slug: "${slug}", gitUrl: "/srv/git/${options.run}-${n}.git"}) { id slug } }`;
    try {
      const r = await fetch(`${options.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${options.token}`, 'x-client-trace-id': trace },
        body: JSON.stringify({ query }),
        signal: AbortSignal.timeout(options.timeLimitMs ?? 60_000),
      });
      const body = (await r.json().catch(() => null)) as {
        data?: { createProject?: { slug?: string } | null } | null;
        errors?: Array<{ extensions?: { code?: string } }>;
        code?: string;
      } | null;
      const ok = r.status === 200 && body?.data?.createProject?.slug === slug && !body.errors?.length;
      const code = ok ? null : (body?.errors?.[0]?.extensions?.code ?? body?.code ?? null);
      return { slug, trace, kind: ok ? 'acknowledged' : 'failed', status: r.status, code, ms: Date.now() - at, at };
    } catch {
      return { slug, trace, kind: 'no answer', status: null, code: null, ms: Date.now() - at, at };
    }
  };
  const client = async () => {
    while (!stopped && sent < options.total) {
      outcomes.push(await send(sent++));
      for (const wake of waiters) wake();
    }
  };
  const done = Promise.all(Array.from({ length: options.clients }, client)).then(() => {
    for (const wake of waiters) wake();
    return outcomes;
  });
  let ended = false;
  void done.then(() => (ended = true));
  return {
    outcomes,
    done,
    stop: () => void (stopped = true),
    until: (holds, withinMs, what) =>
      new Promise<void>((resolve, reject) => {
        const finish = (error?: Error) => {
          clearTimeout(timer);
          waiters.delete(check);
          if (error) reject(error);
          else resolve();
        };
        const check = () => {
          if (holds(outcomes)) finish();
          else if (ended) finish(new Error(`the load ended before ${what} (${summary(outcomes)})`));
        };
        const timer = setTimeout(() => finish(new Error(`not within ${withinMs} ms: ${what} (${summary(outcomes)})`)), withinMs);
        waiters.add(check);
        check();
      }),
  };
};

/** Counts by outcome and code, e.g. `acknowledged 812, failed DATABASE_UNAVAILABLE 40, no answer 16`. */
export const summary = (outcomes: ReadonlyArray<Outcome>) => {
  const counts = new Map<string, number>();
  for (const o of outcomes) {
    const key = o.kind === 'failed' ? `failed ${o.status} ${o.code}` : o.kind;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].map(([k, n]) => `${k} ${n}`).join(', ');
};

/**
 * Reads the log (the `events` table) for the load's commands and says what is wrong: an acknowledged
 * command whose event is missing or there twice, any command logged twice, a slug created twice.
 * Also counts the commands that took effect though their answer never arrived (allowed: the client
 * could not know, and a retry would be refused as a duplicate).
 */
export const checkLog = async (db: Knex, run: string, outcomes: ReadonlyArray<Outcome>) => {
  const logged = await rows<{ trace: string; type: string; slug: string | null }>(
    db.raw(
      `select metadata->'request'->>'client_trace_id' as trace, type, data->>'slug' as slug from events where metadata->'request'->>'client_trace_id' like ?`,
      [`${run}-%`],
    ),
  );
  const byTrace = new Map<string, typeof logged>();
  for (const e of logged) byTrace.set(e.trace, [...(byTrace.get(e.trace) ?? []), e]);
  const problems: string[] = [];
  let unacknowledgedLogged = 0;
  for (const o of outcomes) {
    const events = byTrace.get(o.trace) ?? [];
    byTrace.delete(o.trace);
    const described = `${o.slug} (${o.kind}${o.code ? ` ${o.code}` : ''}): ${events.map((e) => e.type).join(', ') || 'no event'}`;
    const exactlyItsCreate = events.length === 1 && events[0]!.type === 'project.create' && events[0]!.slug === o.slug;
    if (o.kind === 'acknowledged' && !exactlyItsCreate) problems.push(`acknowledged but not logged exactly once: ${described}`);
    if (o.kind !== 'acknowledged' && events.length > 0) {
      if (exactlyItsCreate) unacknowledgedLogged++;
      else problems.push(`not acknowledged, logged other than once: ${described}`);
    }
  }
  for (const [trace, events] of byTrace) problems.push(`logged for a command never sent: ${trace}: ${events.map((e) => e.type).join(', ')}`);
  const twice = await rows<{ slug: string; n: number }>(
    db.raw(
      `select data->>'slug' as slug, count(*)::int as n from events where type = 'project.create' and data->>'slug' like ? group by 1 having count(*) > 1`,
      [`gh/faults/${run}-%`],
    ),
  );
  for (const t of twice) problems.push(`${t.slug} created ${t.n} times`);
  return { problems, unacknowledgedLogged };
};
