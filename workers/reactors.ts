import { setMaxListeners } from 'node:events';
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { Logger } from '../application/dependencies.ts';
import { matchesActions, type ActionFilter } from '../domain/audit/action-filter.ts';
import type { Position, RecordedEvent } from '../domain/events/envelope.ts';
import { createPositionWaiters } from '../projections/position-waiters.ts';
import { ensureReactorCheckpointTable, reactorCheckpoints as checkpoints } from '../application/reactor-checkpoints.ts';
import type { Reactor } from './reactor.ts';

/** What the runner needs of the event log (the event store port satisfies it). */
export interface ReactorLog {
  subscribe(
    from: Position,
    options: { filter: { types: ReadonlyArray<ActionFilter> }; limit: number; signal: AbortSignal },
  ): AsyncIterable<{ events: ReadonlyArray<RecordedEvent>; next: Position; atEnd: boolean }>;
}

export interface ReactorRunner {
  /** Creates the checkpoint table if need be and starts following the log; start again after stop() to resume. */
  start(): Promise<void>;
  /** Lets a reaction under way finish (or its retries end), then stops. */
  stop(): Promise<void>;
  /** Resolves true once every reactor (or those named in `only`) has passed `position`, false when the time is up. */
  waitFor(position: Position, timeoutMs: number, only?: ReadonlyArray<string>): Promise<boolean>;
  /** The names of the reactors that handle any of these event types. */
  handling(types: ReadonlyArray<string>): string[];
}

export interface ReactorRunnerOptions {
  readonly store: ReactorLog;
  readonly db: Knex;
  /** The read models reactors read: a reactor acts on an event only once they have passed it. */
  readonly projections: { waitFor(position: Position, timeoutMs: number, only?: ReadonlyArray<string>): Promise<boolean> };
  readonly reactors: ReadonlyArray<Reactor>;
  readonly log: Logger;
  /** Runs the schema change; the wiring passes one that serializes processes (an advisory lock). */
  readonly migrate?: <T>(db: Knex, change: (trx: Knex.Transaction) => Promise<T>) => Promise<T>;
  /** How long another runner's claim on a reactor's next event holds before it is taken over (a crashed server). */
  readonly claimMs?: number;
  /** How long a runner that lost a race waits before it reads the checkpoint again. */
  readonly retryMs?: number;
}

const START: Position = '';

/** Another runner moved or holds the checkpoint: read it again. */
class Moved extends Error {}

/**
 * Runs reactors, each from its own checkpoint in `reactor_checkpoints`, one event at a time and in log
 * order. Before it reacts, a runner claims the event (compare-and-set on the checkpoint, with a claim
 * that lapses after `claimMs`), and after it reacts it moves the checkpoint past it (compare-and-set
 * again), so runners on several servers react to each event once between them; a runner that finds
 * the checkpoint moved or claimed reads it again. A reaction that throws is retried with backoff.
 * Refused attempts (`success: false`) are not reacted to.
 */
export const createReactorRunner = (options: ReactorRunnerOptions): ReactorRunner => {
  const { store, db, projections, reactors, log } = options;
  const claimMs = options.claimMs ?? 30_000;
  const retryMs = options.retryMs ?? 100;
  const me = randomUUID();
  const reached = new Map(reactors.map((r) => [r.name, START]));
  let controller = new AbortController();
  let loops: Promise<void>[] = [];

  const slowestOf = (names?: ReadonlyArray<string>) => (): Position =>
    [...reached.entries()].filter(([n]) => !names || names.includes(n)).reduce((min, [, p]) => (p < min ? p : min), '\uffff');
  const waiters = createPositionWaiters(slowestOf());
  const advanced = (name: string, position: Position) => {
    if (position <= reached.get(name)!) return;
    reached.set(name, position);
    waiters.wake();
  };
  const pause = (ms: number, signal: AbortSignal) =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done);
    });

  const loadCheckpoint = async (name: string): Promise<Position> => {
    await db(checkpoints).insert({ name, position: START }).onConflict('name').ignore();
    const row = await db(checkpoints).where({ name }).first('position');
    return row.position as Position;
  };

  /** Claims the event after `from`: only while no other live runner holds it. */
  const claim = async (name: string, from: Position) => {
    const claimed = await db(checkpoints)
      .where({ name, position: from })
      .andWhere((q) =>
        q
          .whereNull('claimed_by')
          .orWhere('claimed_by', me)
          .orWhere('claimed_at', '<', db.raw(`now() - interval '${Math.ceil(claimMs)} milliseconds'`)),
      )
      .update({ claimed_by: me, claimed_at: db.fn.now() });
    if (claimed !== 1) throw new Moved();
  };
  /** Keeps a claim alive while its reaction runs (a wait for read models or a retry can outlast claimMs). */
  const holding = (name: string, from: Position) => {
    const timer = setInterval(
      () => {
        void db(checkpoints)
          .where({ name, position: from, claimed_by: me })
          .update({ claimed_at: db.fn.now() })
          .catch((err: unknown) => log.warn({ err, reactor: name }, 'could not renew the claim on an event'));
      },
      Math.max(50, Math.floor(claimMs / 3)),
    );
    return () => clearInterval(timer);
  };
  const release = (name: string, from: Position) =>
    db(checkpoints).where({ name, position: from, claimed_by: me }).update({ claimed_by: null, claimed_at: null });
  const move = async (name: string, from: Position, to: Position) => {
    const moved = await db(checkpoints)
      .where({ name, position: from, claimed_by: me })
      .update({ position: to, claimed_by: null, claimed_at: null, updated_at: db.fn.now() });
    if (moved !== 1) throw new Moved();
  };

  /** Reacts until it succeeds, retrying with backoff; false when the runner stopped first. */
  const reactTo = async (r: Reactor, event: RecordedEvent, signal: AbortSignal): Promise<boolean> => {
    while (!(await projections.waitFor(event.position, 5000, r.reads))) {
      if (signal.aborted) return false;
      log.warn({ reactor: r.name, position: event.position }, 'read models have not reached the event yet; waiting');
    }
    for (let backoff = retryMs, attempt = 1; ; attempt++) {
      try {
        await r.react(event);
        return true;
      } catch (err) {
        log.error({ err, reactor: r.name, event: event.id, type: event.type, attempt }, 'reaction failed; retrying');
        await pause(backoff, signal);
        if (signal.aborted) return false;
        backoff = Math.min(backoff * 2, 30_000);
      }
    }
  };

  const run = async (r: Reactor, signal: AbortSignal) => {
    while (!signal.aborted) {
      try {
        let from = await loadCheckpoint(r.name);
        advanced(r.name, from);
        for await (const page of store.subscribe(from, { filter: { types: r.handles }, limit: 100, signal })) {
          for (const event of page.events) {
            if (signal.aborted) return;
            // a refused attempt is recorded under the action attempted, but nothing happened to react to
            if (!event.metadata.success) continue;
            await claim(r.name, from);
            const renewing = holding(r.name, from);
            const reacted = await reactTo(r, event, signal).finally(renewing);
            if (!reacted) {
              await release(r.name, from);
              return;
            }
            await move(r.name, from, event.position);
            from = event.position;
            advanced(r.name, from);
          }
          // events the filter skipped need no reaction; the checkpoint stays at the last one reacted to
          advanced(r.name, page.next);
        }
      } catch (err) {
        if (signal.aborted) break;
        if (!(err instanceof Moved)) log.error({ err, reactor: r.name }, 'reactor runner failed; reading its checkpoint again');
        await pause(retryMs, signal);
      }
    }
  };

  return {
    async start() {
      await (options.migrate ?? ((d, change) => d.transaction(change)))(db, ensureReactorCheckpointTable);
      controller = new AbortController();
      // every reactor's subscription waits on this one signal at once
      setMaxListeners(reactors.length + 10, controller.signal);
      loops = reactors.map((r) => run(r, controller.signal));
    },
    async stop() {
      controller.abort();
      await Promise.all(loops);
      loops = [];
      waiters.cancelAll();
    },
    waitFor: (position, timeoutMs, only) =>
      only?.length === 0 ? Promise.resolve(true) : waiters.waitFor(position, timeoutMs, only ? slowestOf(only) : undefined),
    handling: (types) => reactors.filter((r) => types.some((t) => matchesActions(r.handles, t))).map((r) => r.name),
  };
};
