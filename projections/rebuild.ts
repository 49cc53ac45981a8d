import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { matchesActions, type ActionFilter } from '../domain/audit/action-filter.ts';
import { GyreError } from '../domain/errors.ts';
import type { Position, RecordedEvent } from '../domain/events/envelope.ts';
import type { Projection, Tables } from './projection.ts';
import type { ProjectionRunner } from './runner.ts';

/** What a rebuild needs of the event log (the event store port satisfies it). */
export interface LogReader {
  readAll(
    from: Position,
    options?: { filter?: { types?: ReadonlyArray<ActionFilter> }; limit?: number },
  ): Promise<{ events: ReadonlyArray<RecordedEvent>; next: Position; atEnd: boolean }>;
  head(): Promise<Position>;
}

const START: Position = '';
const checkpoints = 'projection_checkpoints';
const rebuildsTable = 'projection_rebuilds';
const leasesTable = 'projection_rebuild_leases';
/** Shadow tables, and their indexes and constraints, carry this prefix until they are swapped in. */
export const shadowPrefix = 'rebuild_';

export type ReadModelRebuildState = 'building' | 'swapped' | 'failed';
export interface ReadModelProgress {
  readonly name: string;
  readonly version: number;
  readonly state: ReadModelRebuildState;
  /** Events of the log this read model handles, applied to its shadow tables. */
  readonly eventsApplied: number;
  /** How far its shadow has read the log. */
  readonly position: Position;
  readonly swappedAt: string | null;
}

/** A row of projection_rebuilds as the driver gives it (jsonb parsed on PostgreSQL, text on PGlite). */
interface RebuildRow {
  readonly id: string;
  readonly names: ReadonlyArray<string> | string;
  readonly state: RebuildStatus['state'];
  readonly error: string | null;
  readonly progress: Partial<Pick<RebuildStatus, 'eventsRead' | 'eventsInLog' | 'head' | 'readModels'>> | string;
  readonly started_at: Date | string;
  readonly finished_at: Date | string | null;
  readonly stale?: boolean;
}

export interface RebuildStatus {
  readonly id: string;
  readonly names: ReadonlyArray<string>;
  readonly state: 'running' | 'done' | 'failed';
  readonly error: string | null;
  /** Events the one shared read has taken from the log so far, and about how many the log held (its newest position number). */
  readonly eventsRead: number;
  readonly eventsInLog: number;
  /** The log's head when the rebuild last looked. */
  readonly head: Position;
  readonly readModels: ReadonlyArray<ReadModelProgress>;
  readonly startedAt: string;
  readonly finishedAt: string | null;
}

export interface ProjectionRebuilds {
  /**
   * Starts building the named read models again beside the live ones, or joins the rebuild already
   * building all of them; refused (409 REBUILD_RUNNING) while another rebuild holds some of them.
   */
  start(names: ReadonlyArray<string>): Promise<{ id: string; joined: boolean }>;
  /** A rebuild's progress, from the database, whichever server runs it; null for an id never started. */
  status(id: string): Promise<RebuildStatus | null>;
  /** Resolves once the rebuild has ended (done or failed), on this server; a test's and the CLI's signal. */
  settled(id: string): Promise<void>;
  /** Stops the rebuilds this server runs (they end failed, their shadow tables dropped) and waits for them. */
  stop(): Promise<void>;
}

export interface RebuildOptions {
  readonly db: Knex;
  readonly store: LogReader;
  readonly runner: Pick<ProjectionRunner, 'pause'>;
  readonly projections: ReadonlyArray<Projection>;
  /** Runs schema changes under the same lock as the runner's (an advisory lock across servers). */
  readonly migrate?: <T>(db: Knex, change: (trx: Knex.Transaction) => Promise<T>) => Promise<T>;
  /** About how many events the log holds, for progress; 0 when unknown. */
  readonly logLength?: () => Promise<number>;
  /** This server, as leases name it. */
  readonly owner?: string;
  /** How long a lease lasts unrenewed: a server that stops renewing (it crashed) loses its read models to the next request after that. */
  readonly leaseMs?: number;
  /** Events the shared read takes at once. */
  readonly pageSize?: number;
  /** Shadows that apply a page at once (each in its own transaction, so on its own connection). */
  readonly concurrency?: number;
  /**
   * The share of the database's time the rebuild may take, from 0 (exclusive) to 1: after each page it
   * waits (1 - share) / share times as long as the page took. An embedded database has one connection,
   * and every query of the server waits its turn on it behind the rebuild's, so there it takes a half.
   */
  readonly share?: number;
  readonly onError?: (rebuildId: string, error: unknown) => void;
}

/** The same projection, writing into its shadow tables. */
export const shadowOf = <T extends string>(p: Projection<T>): Projection<T> => ({
  ...p,
  tables: Object.fromEntries(Object.entries(p.tables).map(([k, v]) => [k, `${shadowPrefix}${v as string}`])) as Tables<T>,
});

export const ensureRebuildTables = async (db: Knex) => {
  await db.raw(`create table if not exists ${rebuildsTable} (
    id uuid primary key, names jsonb not null, state text not null, error text, progress jsonb not null, owner text not null,
    started_at timestamptz not null default now(), updated_at timestamptz not null default now(), finished_at timestamptz)`);
  await db.raw(
    `create table if not exists ${leasesTable} (name text primary key, rebuild_id uuid not null, owner text not null, expires_at timestamptz not null)`,
  );
};

const dropShadow = async (db: Knex, p: Projection) => {
  await db.raw(`drop table if exists ${Object.values(shadowOf(p).tables).join(', ')}`);
};

/** The database refused to wait (longer) for a lock (SQLSTATE 55P03): a reader held the table; try again. */
const lockTimedOut = (e: unknown) => (e as { code?: unknown }).code === '55P03' || (e as { cause?: { code?: unknown } }).cause?.code === '55P03';

/**
 * In one transaction: takes the live checkpoint (waiting for a batch of another server under way), and
 * when the shadow has read at least as far, drops the live tables, renames the shadow tables, their
 * indexes and constraints to the live names, and moves the checkpoint to where the shadow stands.
 * False when the live read model is further on (another server applied more): catch up and try again.
 */
const swapIn = (db: Knex, p: Projection, shadowAt: Position): Promise<boolean> =>
  db.transaction(async (trx) => {
    // readers queue behind the swap's lock: it waits for a long reader no more than this, then tries again
    await trx.raw(`set local lock_timeout = '3s'`);
    const row = (await trx(checkpoints).where({ name: p.name, version: p.version }).forUpdate().first('position')) as { position: Position } | undefined;
    if (row && row.position > shadowAt) return false;
    const shadow = shadowOf(p).tables as Record<string, string>;
    // every table at once, without waiting: a swap that held one table while it waited for another
    // would deadlock with a reader that joins them (the reader is the one PostgreSQL would cancel)
    const names = [...Object.values(p.tables as Record<string, string>), ...Object.values(shadow)];
    const existing = (await trx.raw(`select tablename as name from pg_tables where schemaname = current_schema() and tablename = any(?)`, [names]))
      .rows as Array<{
      name: string;
    }>;
    await trx.raw(
      `lock table ${existing.map(() => '??').join(', ')} in access exclusive mode nowait`,
      existing.map((t) => t.name),
    );
    for (const [key, live] of Object.entries(p.tables as Record<string, string>)) {
      await trx.raw(`drop table if exists ${live}`);
      await trx.raw(`alter table ${shadow[key]} rename to ${live}`);
      // renaming an index renames the primary key or unique constraint it backs
      const indexes = (
        await trx.raw(`select indexname as name from pg_indexes where schemaname = current_schema() and tablename = ? and starts_with(indexname, ?)`, [
          live,
          shadowPrefix,
        ])
      ).rows as Array<{ name: string }>;
      for (const { name } of indexes) await trx.raw(`alter index ?? rename to ??`, [name, name.slice(shadowPrefix.length)]);
      const constraints = (
        await trx.raw(`select conname as name from pg_constraint where conrelid = ?::regclass and starts_with(conname, ?)`, [live, shadowPrefix])
      ).rows as Array<{ name: string }>;
      for (const { name } of constraints) await trx.raw(`alter table ?? rename constraint ?? to ??`, [live, name, name.slice(shadowPrefix.length)]);
    }
    if (row) await trx(checkpoints).where({ name: p.name, version: p.version }).update({ position: shadowAt, updated_at: trx.fn.now() });
    else await trx(checkpoints).insert({ name: p.name, version: p.version, position: shadowAt });
    return true;
  });

interface Running {
  readonly done: Promise<void>;
  readonly controller: AbortController;
}

/**
 * Builds read models again from the start of the log beside the live ones, while the server serves:
 * each into shadow tables `rebuild_<table>` made by its own `migrate`, all from ONE read of the log
 * (each page applied to every shadow that handles its events); then, one read model at a time, pauses
 * its live loop, catches its shadow up to the log's end, swaps the tables in one transaction with the
 * checkpoint, and lets the live loop go on from there. A lease per read model keeps two servers on one
 * database from rebuilding it at once.
 */
export const createProjectionRebuilds = (options: RebuildOptions): ProjectionRebuilds => {
  const { db, store, runner, projections } = options;
  const owner = options.owner ?? randomUUID();
  const leaseMs = options.leaseMs ?? 30_000;
  const pageSize = options.pageSize ?? 2000;
  const concurrency = Math.max(1, options.concurrency ?? 4);
  const share = Math.min(1, Math.max(0.05, options.share ?? 1));
  /** Leaves the database to the server for a while after the rebuild used it for `busyMs`. */
  const yieldAfter = (busyMs: number) => (share >= 1 ? Promise.resolve() : new Promise<void>((r) => setTimeout(r, (busyMs * (1 - share)) / share)));
  const migrate = options.migrate ?? ((d, change) => d.transaction(change));
  const running = new Map<string, Running>();
  let ready: Promise<void> | null = null;
  const tables = () =>
    (ready ??= migrate(db, ensureRebuildTables).catch((e) => {
      ready = null;
      throw e;
    }));

  const run = async (id: string, chosen: ReadonlyArray<Projection>, signal: AbortSignal) => {
    const progress = new Map(
      chosen.map((p) => [
        p.name,
        { name: p.name, version: p.version, state: 'building' as ReadModelRebuildState, eventsApplied: 0, position: START, swappedAt: null as string | null },
      ]),
    );
    let eventsRead = 0;
    let eventsInLog = 0;
    let head: Position = START;
    let savedAt = 0;
    const save = async (force = false) => {
      if (!force && Date.now() - savedAt < 250) return;
      savedAt = Date.now();
      await db(rebuildsTable)
        .where({ id })
        .update({
          progress: JSON.stringify({ eventsRead, eventsInLog: Math.max(eventsInLog, eventsRead), head, readModels: [...progress.values()] }),
          updated_at: db.fn.now(),
        });
    };
    const renew = setInterval(
      () => {
        void db(leasesTable)
          .where({ rebuild_id: id, owner })
          .update({ expires_at: db.raw(`now() + ? * interval '1 millisecond'`, [leaseMs]) })
          .then(() => db(rebuildsTable).where({ id }).update({ updated_at: db.fn.now() }))
          .catch((e) => options.onError?.(id, e));
      },
      Math.max(100, Math.floor(leaseMs / 3)),
    );
    const stopped = () => {
      if (signal.aborted) throw new GyreError('the server stopped before the rebuild finished: ask for it again', 'REBUILD_STOPPED', 503);
    };
    /** Applies a page to the shadows that handle its events, each in a transaction of its own. */
    const applyToShadows = async (ps: ReadonlyArray<Projection>, events: ReadonlyArray<RecordedEvent>) => {
      const work = ps.map((p) => ({ p, events: events.filter((e) => matchesActions(p.handles, e.type)) })).filter((w) => w.events.length);
      for (let i = 0; i < work.length; i += concurrency) {
        await Promise.all(
          work.slice(i, i + concurrency).map(({ p, events: mine }) =>
            db.transaction(async (trx) => {
              // a shadow is rebuilt from the log again if the machine fails: its commits need not wait for the disk
              await trx.raw('set local synchronous_commit = off');
              await p.apply(mine, trx, shadowOf(p).tables);
              progress.get(p.name)!.eventsApplied += mine.length;
            }),
          ),
        );
      }
    };
    /** Reads the log from `from` to its end now for one projection, applying what it handles to its shadow. */
    const catchUp = async (p: Projection, from: Position): Promise<Position> => {
      let position = from;
      for (;;) {
        stopped();
        const began = Date.now();
        const page = await store.readAll(position, { filter: { types: p.handles }, limit: pageSize });
        await applyToShadows([p], page.events);
        if (!page.atEnd) await yieldAfter(Date.now() - began);
        position = page.next;
        progress.get(p.name)!.position = position;
        if (page.atEnd) return position;
      }
    };

    try {
      eventsInLog = (await options.logLength?.().catch(() => 0)) ?? 0;
      head = await store.head();
      await migrate(db, async (trx) => {
        for (const p of chosen) {
          // what an interrupted rebuild left goes first
          await dropShadow(trx, p);
          await p.migrate(trx, shadowOf(p).tables);
        }
      });
      // ONE read of the log for every read model being rebuilt; the next page is read while this one applies
      const types = chosen.some((p) => p.handles.length === 0) ? [] : chosen.flatMap((p) => p.handles);
      const read = (from: Position) => {
        const page = store.readAll(from, { filter: { types }, limit: pageSize });
        page.catch(() => {});
        return page;
      };
      let position = START;
      let next = read(position);
      for (;;) {
        stopped();
        const began = Date.now();
        const page = await next;
        // on a database of its own the next page is read while this one applies; sharing one, it waits its turn
        if (!page.atEnd && share >= 1) next = read(page.next);
        await applyToShadows(chosen, page.events);
        eventsRead += page.events.length;
        position = page.next;
        for (const p of chosen) progress.get(p.name)!.position = position;
        await save();
        if (page.atEnd) break;
        await yieldAfter(Date.now() - began);
        if (share < 1) next = read(page.next);
      }
      // each read model in turn: pause its live loop, catch its shadow up to the log's end, swap, go on
      for (const p of chosen) {
        // most of what was appended meanwhile is applied before the live loop waits
        await catchUp(p, progress.get(p.name)!.position);
        const live = await runner.pause(p.name);
        let movedTo: Position | undefined;
        try {
          for (let attempt = 1; ; attempt++) {
            const at = await catchUp(p, progress.get(p.name)!.position);
            try {
              if (await swapIn(db, p, at)) {
                movedTo = at;
                break;
              }
            } catch (e) {
              if (!lockTimedOut(e) || attempt >= 100) throw e;
              // a reader holds a table: let it finish
              await new Promise((r) => setTimeout(r, 5 + Math.random() * 20));
              continue;
            }
            if (attempt >= 20) throw new Error(`the live ${p.name} kept moving past its rebuild: another server applies faster than the rebuild catches up`);
          }
        } finally {
          live.resume(movedTo);
        }
        const m = progress.get(p.name)!;
        m.state = 'swapped';
        m.swappedAt = new Date().toISOString();
        await db(leasesTable).where({ name: p.name, rebuild_id: id }).delete();
        head = await store.head();
        await save(true);
      }
      await save(true);
      await db(rebuildsTable).where({ id }).update({ state: 'done', finished_at: db.fn.now() });
    } catch (e) {
      options.onError?.(id, e);
      for (const m of progress.values()) if (m.state === 'building') m.state = 'failed';
      const message = e instanceof Error ? e.message : String(e);
      await Promise.all(chosen.filter((p) => progress.get(p.name)!.state === 'failed').map((p) => dropShadow(db, p).catch(() => {})));
      await save(true).catch(() => {});
      await db(rebuildsTable)
        .where({ id })
        .update({ state: 'failed', error: message.slice(0, 1000), finished_at: db.fn.now() })
        .catch(() => {});
    } finally {
      clearInterval(renew);
      await db(leasesTable)
        .where({ rebuild_id: id })
        .delete()
        .catch(() => {});
      eventsInLog = 0;
    }
  };

  const toStatus = (r: RebuildRow, stale: boolean): RebuildStatus => {
    const json = <T>(v: T | string): T => (typeof v === 'string' ? (JSON.parse(v) as T) : v);
    const progress = json(r.progress);
    const failedSilently = r.state === 'running' && stale;
    return {
      id: r.id,
      names: json(r.names),
      state: failedSilently ? 'failed' : r.state,
      error: failedSilently
        ? `the server running it has not been heard from for over ${Math.round(leaseMs / 1000)} s (it stopped): ask for the rebuild again`
        : (r.error ?? null),
      eventsRead: progress.eventsRead ?? 0,
      eventsInLog: progress.eventsInLog ?? 0,
      head: progress.head ?? START,
      readModels: progress.readModels ?? [],
      startedAt: new Date(r.started_at).toISOString(),
      finishedAt: r.finished_at ? new Date(r.finished_at).toISOString() : null,
    };
  };

  return {
    async start(names) {
      await tables();
      const chosen = names.map((n) => {
        const p = projections.find((q) => q.name === n);
        if (!p) throw new Error(`no projection named ${n}`);
        return p;
      });
      const taken = await db.transaction(async (trx) => {
        // one request at a time across servers decides who holds which read model
        await trx.raw(`select pg_advisory_xact_lock(hashtext('gyre.projection_rebuilds'))`);
        const held = (await trx(leasesTable).whereIn('name', names).where('expires_at', '>', trx.fn.now()).select('name', 'rebuild_id')) as Array<{
          name: string;
          rebuild_id: string;
        }>;
        const holders = [...new Set(held.map((h) => h.rebuild_id))];
        if (held.length === names.length && holders.length === 1) return { id: holders[0]!, joined: true };
        if (held.length) {
          throw new GyreError(
            `${held.map((h) => h.name).join(', ')} ${held.length === 1 ? 'is' : 'are'} being rebuilt already (rebuild ${holders.join(', ')}): wait for it to finish, or ask for exactly the read models it rebuilds to follow it`,
            'REBUILD_RUNNING',
            409,
          );
        }
        const id = randomUUID();
        await trx(rebuildsTable).insert({
          id,
          names: JSON.stringify(names),
          state: 'running',
          owner,
          progress: JSON.stringify({
            eventsRead: 0,
            eventsInLog: 0,
            head: START,
            readModels: chosen.map((p) => ({ name: p.name, version: p.version, state: 'building', eventsApplied: 0, position: START, swappedAt: null })),
          }),
        });
        const expires = trx.raw(`now() + ? * interval '1 millisecond'`, [leaseMs]);
        await trx(leasesTable)
          .insert(names.map((name) => ({ name, rebuild_id: id, owner, expires_at: expires })))
          .onConflict('name')
          .merge(['rebuild_id', 'owner', 'expires_at']);
        return { id, joined: false };
      });
      if (!taken.joined) {
        const controller = new AbortController();
        // run records its own failure; nothing it throws is left unhandled
        const done = run(taken.id, chosen, controller.signal)
          .catch((e) => options.onError?.(taken.id, e))
          .finally(() => running.delete(taken.id));
        running.set(taken.id, { done, controller });
      }
      return taken;
    },
    async status(id) {
      await tables();
      if (!/^[0-9a-f-]{36}$/i.test(id)) return null;
      const r = (await db(rebuildsTable)
        .where({ id })
        .first('*', db.raw(`updated_at < now() - ? * interval '1 millisecond' as stale`, [leaseMs]))) as RebuildRow | undefined;
      return r ? toStatus(r, Boolean(r.stale) && !running.has(id)) : null;
    },
    settled: async (id) => running.get(id)?.done,
    async stop() {
      for (const r of running.values()) r.controller.abort();
      await Promise.all([...running.values()].map((r) => r.done));
    },
  };
};
