import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import knexFactory from 'knex';
import { openDatabase, type Database } from '../adapters/database/sql.ts';
import { createPostgresEventStore } from '../adapters/eventstore/postgres.ts';
import type { NewEvent } from '../domain/events/envelope.ts';

export type Backend = 'pglite' | 'postgres';
export const benchDir = resolve(import.meta.dirname, '..', 'tmp', 'bench');
export const pgliteDir = join(benchDir, 'pglite');
const adminUrl = process.env.GYRE_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const benchPostgresUrl = adminUrl.replace(/\/[^/]*$/, '/gyre_bench');

/** A fresh, empty database of the given kind (a PGlite directory, or the gyre_bench PostgreSQL database). */
export const freshDatabase = async (backend: Backend): Promise<Database> => {
  if (backend === 'pglite') {
    rmSync(pgliteDir, { recursive: true, force: true });
    mkdirSync(benchDir, { recursive: true });
    return openDatabase({ dataDir: pgliteDir });
  }
  const admin = knexFactory({ client: 'pg', connection: adminUrl });
  await admin.raw('drop database if exists gyre_bench with (force)');
  await admin.raw('create database gyre_bench');
  await admin.destroy();
  return openDatabase({ url: benchPostgresUrl, poolMax: 40 });
};

/** An audit-shaped event like the ones Gyre writes for a request. */
export const sampleEvent = (i: number): NewEvent => ({
  id: randomUUID(),
  type: 'system.settings.update',
  data: { changes: { licenseSeats: { from: i, to: i + 1 } } },
  metadata: {
    actor: { id: '6f1c1e1a-1b6e-4c39-9d39-6a1d8f3c2b10', type: 'user', name: 'admin' },
    target: { id: 'system-settings', type: 'system_settings', name: 'System Settings' },
    scope: null,
    request: { id: randomUUID(), ip_address: '10.1.2.3', client_trace_id: `trace-${i}` },
    success: true,
    metadata: {},
    version: 1,
    $correlationId: randomUUID(),
    $causationId: null,
  },
});

/** Appends `count` events, `perAppend` to a transaction: how the benchmarks fill a log quickly. */
export const seedEvents = async (db: Database, count: number, perAppend = 1000) => {
  const store = await createPostgresEventStore(db);
  for (let i = 0; i < count; i += perAppend) {
    const n = Math.min(perAppend, count - i);
    await store.append(
      `seed-${i}`,
      Array.from({ length: n }, (_, k) => sampleEvent(i + k)),
      'no_stream',
    );
  }
  return store;
};

export const rate = (count: number, ms: number) => Math.round((count / ms) * 1000);
export const report = (result: Record<string, unknown>) => process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
export const backendArg = (): Backend => {
  const b = process.argv[2];
  if (b !== 'pglite' && b !== 'postgres') throw new Error('usage: <bench> pglite|postgres');
  return b;
};

/** Percentile (nearest rank) of numbers sorted ascending. */
export const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
/** p50, p99 and max of some durations in ms, rounded to 0.1 ms. */
export const spread = (values: ReadonlyArray<number>) => {
  const s = [...values].sort((a, b) => a - b);
  const r = (x: number) => Math.round(x * 10) / 10;
  return { p50: r(percentile(s, 50)), p99: r(percentile(s, 99)), max: r(s[s.length - 1] ?? NaN) };
};

/** The PostgreSQL database the HTTP benchmarks own and recreate (`bench_http`; GYRE_BENCH_HTTP_POSTGRES_URL names another). */
export const httpPostgresUrl = process.env.GYRE_BENCH_HTTP_POSTGRES_URL ?? adminUrl.replace(/\/[^/]*$/, '/bench_http');
/** Where the HTTP benchmarks keep their data directories. */
export const httpBenchDir = join(benchDir, 'http');

/** What a server is started on: its data directory, and for PostgreSQL its database. */
export interface Storage {
  readonly dataDir: string;
  readonly databaseUrl?: string;
}

/**
 * Empty storage of the given kind named `name`: a new data directory (PGlite keeps its files there)
 * and, for PostgreSQL, the bench_http database dropped and created again.
 */
export const freshStorage = async (backend: Backend, name: string): Promise<Storage> => {
  const dataDir = join(httpBenchDir, name);
  rmSync(dataDir, { recursive: true, force: true });
  mkdirSync(dataDir, { recursive: true });
  if (backend === 'pglite') return { dataDir };
  const database = new URL(httpPostgresUrl).pathname.slice(1);
  if (!/^[a-z_][a-z0-9_]*$/.test(database) || database === 'test') throw new Error(`refusing to recreate the database "${database}"`);
  const admin = knexFactory({ client: 'pg', connection: adminUrl });
  await admin.raw(`drop database if exists ${database} with (force)`);
  await admin.raw(`create database ${database}`);
  await admin.destroy();
  return { dataDir, databaseUrl: httpPostgresUrl };
};

/** The database of some storage, opened in this process as Gyre opens it (a PGlite directory is then this process's alone). */
export const openStorage = (storage: Storage, poolMax?: number): Database =>
  storage.databaseUrl
    ? openDatabase({ url: storage.databaseUrl, ...(poolMax ? { poolMax } : {}) })
    : openDatabase({ dataDir: join(storage.dataDir, 'pglite') });

/** Prints a small Markdown table. */
export const printTable = (title: string, header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<unknown>>) => {
  const line = (cells: ReadonlyArray<unknown>) => `| ${cells.map((c) => (typeof c === 'number' ? c.toLocaleString('en-US') : String(c))).join(' | ')} |`;
  process.stdout.write(`\n${title}\n\n${line(header)}\n|${header.map(() => '---').join('|')}|\n${rows.map(line).join('\n')}\n\n`);
};
