import { setMaxListeners } from 'node:events';
import type { Knex } from 'knex';
import { matchesActions, type ActionFilter } from '../domain/audit/action-filter.ts';
import type { Position, RecordedEvent } from '../domain/events/envelope.ts';
import { createPositionWaiters } from './position-waiters.ts';
import type { Projection } from './projection.ts';

/** What the runner needs of the event log (the event store port satisfies it). */
export interface EventLog {
  subscribe(
    from: Position,
    options: { filter: { types: ReadonlyArray<ActionFilter> }; limit: number; signal: AbortSignal },
  ): AsyncIterable<{ events: ReadonlyArray<RecordedEvent>; next: Position; atEnd: boolean }>;
}

const START: Position = '';

const checkpoints = 'projection_checkpoints';

export interface ProjectionStatus {
  readonly name: string;
  readonly version: number;
  readonly position: Position;
  /** True when the projection has reached the head it was compared with. */
  readonly caughtUp: boolean;
  /** Milliseconds since the projection was last at the end of the log (0 when it is there now). */
  readonly lagMs: number;
  readonly error: string | null;
}

export interface ProjectionRunner {
  start(): Promise<void>;
  stop(): Promise<void>;
  /**
   * Resolves true once every projection (or only those named in `only`: the read models a caller
   * reads) has passed `position`, false when the time is up.
   */
  waitFor(position: Position, timeoutMs: number, only?: ReadonlyArray<string>): Promise<boolean>;
  /** The names of the projections that handle any of these event types. */
  handling(types: ReadonlyArray<string>): string[];
  /** Each projection compared with `head`, the log's end now (EventStore.head()). */
  status(head: Position): ProjectionStatus[];
  /**
   * Stops applying batches of the named projection: resolves once no batch of it is under way, with
   * `resume`, which lets it go on. A rebuild swaps its tables meanwhile; `resume(position)` says the
   * checkpoint was moved there, so callers waiting for what lies before it are done at once.
   */
  pause(name: string): Promise<{ resume(movedTo?: Position): void }>;
}

export interface RunnerOptions {
  readonly store: EventLog;
  readonly db: Knex;
  /** Runs the projections' schema changes; the wiring passes one that serializes processes (an advisory lock). */
  readonly migrate?: <T>(db: Knex, change: (trx: Knex.Transaction) => Promise<T>) => Promise<T>;
  readonly projections: ReadonlyArray<Projection>;
  readonly batchSize?: number;
  readonly onError?: (projection: string, error: unknown) => void;
}

class StaleCheckpoint extends Error {}

export const ensureCheckpointTable = async (db: Knex) => {
  await db.raw(`create table if not exists ${checkpoints} (
    name text not null, version int not null, position text not null, updated_at timestamptz not null default now(),
    primary key (name, version))`);
};

/**
 * Empties every read model named, tables and checkpoint alike, so that it is built again from the start of the log:
 * for a log it did not follow (another event store, or a copy of its log).
 */
export const forgetReadModels = async (trx: Knex, projections: ReadonlyArray<Projection>) => {
  await ensureCheckpointTable(trx);
  const tables = projections.flatMap((p) => Object.values(p.tables) as string[]);
  if (tables.length) await trx.raw(`drop table if exists ${tables.join(', ')}`);
  await trx(checkpoints)
    .whereIn(
      'name',
      projections.map((p) => p.name),
    )
    .delete();
};

/** Applies one batch and moves the checkpoint from `from` to `to`, in one transaction, or not at all. */
export const applyBatch = async (db: Knex, p: Projection, from: Position, to: Position, events: Parameters<Projection['apply']>[0]) => {
  await db.transaction(async (trx) => {
    const moved = await trx(checkpoints).where({ name: p.name, version: p.version, position: from }).update({ position: to, updated_at: trx.fn.now() });
    if (moved !== 1) throw new StaleCheckpoint(`checkpoint of ${p.name} v${p.version} moved under us`);
    await p.apply(events, trx, p.tables);
  });
};

export const createProjectionRunner = (options: RunnerOptions): ProjectionRunner => {
  const { store, db, projections } = options;
  const batchSize = options.batchSize ?? 2000;
  const controller = new AbortController();
  // every projection's subscription waits on this one signal at once
  setMaxListeners(projections.length + 10, controller.signal);
  const state = new Map(
    projections.map((p) => [
      p,
      {
        position: START,
        caughtUp: false,
        lastCaughtUpAt: 0,
        error: null as string | null,
        paused: null as Promise<void> | null,
        applying: null as Promise<void> | null,
        moved: false,
      },
    ]),
  );
  const loops: Promise<void>[] = [];
  const stopped = new Promise<void>((r) => controller.signal.addEventListener('abort', () => r(), { once: true }));

  const slowestOf = (names?: ReadonlyArray<string>) => (): Position => {
    const positions = [...state.entries()].filter(([p]) => !names || names.includes(p.name)).map(([, s]) => s.position);
    return positions.reduce((min, p) => (p < min ? p : min), positions[0] ?? START);
  };
  const slowest = slowestOf();
  const waiters = createPositionWaiters(slowest);
  const wake = () => waiters.wake();

  const loadCheckpoint = async (p: Projection): Promise<Position> => {
    await db(checkpoints).insert({ name: p.name, version: p.version, position: START }).onConflict(['name', 'version']).ignore();
    const row = await db(checkpoints).where({ name: p.name, version: p.version }).first('position');
    return row.position as Position;
  };

  const run = async (p: Projection) => {
    const s = state.get(p)!;
    let backoff = 100;
    while (!controller.signal.aborted) {
      try {
        let stored = await loadCheckpoint(p);
        if (stored > s.position) {
          // another server applied what lies before its checkpoint: callers waiting for that are done now
          s.position = stored;
          wake();
        }
        for await (const page of store.subscribe(stored, { filter: { types: p.handles }, limit: batchSize, signal: controller.signal })) {
          if (s.paused) await Promise.race([s.paused, stopped]);
          if (controller.signal.aborted) break;
          // a rebuild swapped the tables and moved the checkpoint while this page waited: read from there
          if (s.moved) {
            s.moved = false;
            throw new StaleCheckpoint(`${p.name} was rebuilt`);
          }
          if (page.events.length) {
            s.applying = applyBatch(db, p, stored, page.next, page.events);
            try {
              await s.applying;
            } finally {
              s.applying = null;
            }
            stored = page.next;
          }
          s.position = page.next;
          s.caughtUp = page.atEnd;
          if (s.caughtUp) s.lastCaughtUpAt = Date.now();
          s.error = null;
          backoff = 100;
          wake();
        }
      } catch (e) {
        if (controller.signal.aborted) break;
        // another server applied the batch first: take its checkpoint now, there is nothing to back off from
        if (e instanceof StaleCheckpoint) continue;
        s.error = e instanceof Error ? e.message : String(e);
        s.caughtUp = false;
        options.onError?.(p.name, e);
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, 5000);
      }
    }
  };

  return {
    async start() {
      await (options.migrate ?? ((d, change) => d.transaction(change)))(db, async (trx) => {
        await ensureCheckpointTable(trx);
        for (const p of projections) await p.migrate(trx, p.tables);
      });
      for (const p of projections) loops.push(run(p));
    },
    async stop() {
      controller.abort();
      await Promise.all(loops);
      waiters.cancelAll();
    },
    waitFor: (position, timeoutMs, only) => {
      const unknown = only?.filter((n) => !projections.some((p) => p.name === n)) ?? [];
      if (unknown.length) throw new Error(`no projection named ${unknown.join(', ')}`);
      if (only?.length === 0) return Promise.resolve(true);
      return waiters.waitFor(position, timeoutMs, only ? slowestOf(only) : undefined);
    },
    handling: (types) => projections.filter((p) => types.some((t) => matchesActions(p.handles, t))).map((p) => p.name),
    status: (head) =>
      projections.map((p) => {
        const s = state.get(p)!;
        const caughtUp = s.position >= head;
        return {
          name: p.name,
          version: p.version,
          position: s.position,
          caughtUp,
          // a projection that has not reached the end of the log since start is as far behind as it can be
          lagMs: caughtUp ? 0 : s.lastCaughtUpAt ? Date.now() - s.lastCaughtUpAt : Number.POSITIVE_INFINITY,
          error: s.error,
        };
      }),
    async pause(name) {
      const p = projections.find((q) => q.name === name);
      if (!p) throw new Error(`no projection named ${name}`);
      const s = state.get(p)!;
      if (s.paused) throw new Error(`projection ${name} is paused already`);
      let release!: () => void;
      s.paused = new Promise<void>((r) => (release = r));
      // a batch under way ends (or fails) first; the loop then waits at the gate
      await s.applying?.catch(() => {});
      return {
        resume(movedTo) {
          if (movedTo) s.moved = true;
          if (movedTo && movedTo > s.position) {
            s.position = movedTo;
            wake();
          }
          s.paused = null;
          release();
        },
      };
    },
  };
};
