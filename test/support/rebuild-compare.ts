import type { Knex } from 'knex';
import { START, type EventStore } from '../../adapters/eventstore/port.ts';
import type { Position } from '../../domain/events/envelope.ts';
import { allProjections } from '../../projections/all.ts';
import { atVersion, type Projection } from '../../projections/projection.ts';
import { applyBatch, ensureCheckpointTable } from '../../projections/runner.ts';

/** The version the rebuilt tables take: far from any real one, so they never meet a live read model's. */
export const rebuildVersion = 9000;

const checkpointsTable = 'projection_checkpoints';

const stable = (v: unknown): unknown => {
  if (v instanceof Date) return v.toISOString();
  if (Buffer.isBuffer(v)) return v.toString('hex');
  if (Array.isArray(v)) return v.map(stable);
  if (v && typeof v === 'object')
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, stable((v as Record<string, unknown>)[k])]),
    );
  return v;
};
const rowsOf = async (db: Knex, table: string) => ((await db(table).select('*')) as unknown[]).map((r) => JSON.stringify(stable(r))).sort();

/** The rows of `a` that `b` lacks, counting duplicates. */
const missingFrom = (a: string[], b: string[]) => {
  const left = new Map<string, number>();
  for (const r of b) left.set(r, (left.get(r) ?? 0) + 1);
  return a.filter((r) => {
    const n = left.get(r) ?? 0;
    left.set(r, n - 1);
    return n <= 0;
  });
};

const drop = async (db: Knex, p: Projection) => {
  await db.raw(`drop table if exists ${Object.values(p.tables).join(', ')} cascade`);
  await db(checkpointsTable).where({ name: p.name, version: p.version }).del();
};

const rebuild = async (db: Knex, store: Pick<EventStore, 'readAll'>, p: Projection) => {
  // whatever an interrupted comparison left behind goes first
  await drop(db, p);
  await db(checkpointsTable).insert({ name: p.name, version: p.version, position: START });
  await p.migrate(db, p.tables);
  let position: Position = START;
  // the checkpoint moves only with a batch: a window of events it does not handle leaves it where it was
  let stored: Position = START;
  for (;;) {
    const page = await store.readAll(position, { filter: { types: p.handles }, limit: 500 });
    if (page.events.length) {
      await applyBatch(db, p, stored, page.next, page.events);
      stored = page.next;
    }
    position = page.next;
    if (page.atEnd) return;
  }
};

/** Whether events the live projection handles lie past its checkpoint: it has not caught up, and no comparison would mean anything. */
const pendingFor = async (db: Knex, store: Pick<EventStore, 'readAll'>, p: Projection) => {
  const row = (await db(checkpointsTable).where({ name: p.name, version: p.version }).first('position')) as { position: Position } | undefined;
  let position = row?.position ?? START;
  let pending = 0;
  for (;;) {
    const page = await store.readAll(position, { filter: { types: p.handles }, limit: 500 });
    pending += page.events.length;
    position = page.next;
    if (page.atEnd) return pending;
  }
};

/**
 * Builds every read model of projections/all.ts again from the start of the log, into tables of
 * another version beside the live ones (as a new version of a projection is built), and compares
 * each live table with its rebuild row by row, in no order. Every column is compared: what a
 * projection writes is a function of the events alone (times come from the events' `occurredAt`,
 * ids from their data; no projection stamps now(), draws from a sequence or a random source).
 * Call it while nothing appends (the server stopped or idle). Answers the differences, one sentence
 * each (none: every read model equals its rebuild); the rebuilt tables are dropped again.
 */
export const compareWithRebuild = async (
  db: Knex,
  store: Pick<EventStore, 'readAll'>,
  projections: ReadonlyArray<Projection> = allProjections,
): Promise<string[]> => {
  await ensureCheckpointTable(db);
  const differences: string[] = [];
  for (const live of projections) {
    const rebuilt = atVersion(live, rebuildVersion);
    const pending = await pendingFor(db, store, live);
    if (pending) differences.push(`${live.name} v${live.version} has ${pending} events it handles past its checkpoint`);
    try {
      await rebuild(db, store, rebuilt);
      for (const [key, table] of Object.entries(live.tables)) {
        const [a, b] = [await rowsOf(db, table), await rowsOf(db, rebuilt.tables[key]!)];
        const [onlyLive, onlyRebuilt] = [missingFrom(a, b), missingFrom(b, a)];
        if (onlyLive.length || onlyRebuilt.length) {
          const first = (rs: string[]) => (rs.length ? `, first ${rs[0]!.slice(0, 400)}` : '');
          differences.push(
            `${table}: ${onlyLive.length} of ${a.length} rows only in the live table${first(onlyLive)}; ${onlyRebuilt.length} of ${b.length} only in the rebuild${first(onlyRebuilt)}`,
          );
        }
      }
    } finally {
      await drop(db, rebuilt);
    }
  }
  return differences;
};
