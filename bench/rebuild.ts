/**
 * A rebuild of every read model while the server answers queries: events per second of the rebuild
 * (its one read of the log, applied to every shadow, each swapped in), and the latency of GraphQL
 * queries a client sends over HTTP meanwhile against the latency of the same queries before.
 *
 *   npx tsx bench/rebuild.ts pglite|postgres     (BENCH_EVENTS, default 100000)
 *
 * PostgreSQL: the bench_rebuild database, dropped and created again (GYRE_BENCH_REBUILD_POSTGRES_URL
 * names another server).
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import knexFactory from 'knex';
import { createGyre } from '../api/app.ts';
import { loadConfig } from '../api/config.ts';
import { openDatabase } from '../adapters/database/sql.ts';
import { backendArg, benchDir, rate, report, seedEvents, spread } from './support.ts';

const backend = backendArg();
const count = Number(process.env.BENCH_EVENTS ?? 100_000);
const postgresUrl = process.env.GYRE_BENCH_REBUILD_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/bench_rebuild';
const dataDir = join(benchDir, 'rebuild');
rmSync(dataDir, { recursive: true, force: true });
mkdirSync(dataDir, { recursive: true });

if (backend === 'postgres') {
  const url = new URL(postgresUrl);
  const database = url.pathname.slice(1);
  if (database !== 'bench_rebuild' && !process.env.GYRE_BENCH_REBUILD_POSTGRES_URL) throw new Error('refusing to recreate a database other than bench_rebuild');
  url.pathname = '/postgres';
  const admin = knexFactory({ client: 'pg', connection: url.toString() });
  await admin.raw(`drop database if exists ${database} with (force)`);
  await admin.raw(`create database ${database}`);
  await admin.destroy();
}

// the log first, written the quick way (1,000 events an append), by a store of its own
{
  const db = backend === 'postgres' ? openDatabase({ url: postgresUrl }) : openDatabase({ dataDir: join(dataDir, 'pglite') });
  const store = await seedEvents(db, count);
  await store.close();
  await db.destroy();
}

const config = loadConfig({
  GYRE_DATA_DIR: dataDir,
  GYRE_LOG_LEVEL: 'warn',
  GYRE_LOCAL_AGENT: 'false',
  GYRE_PORT: '0',
  ...(backend === 'postgres' ? { GYRE_DATABASE_URL: postgresUrl } : {}),
});
// the anchor, in the same run on the same log: the live runner catching every read model up from empty
const catchUpStarted = performance.now();
const gyre = await createGyre(config, { logger: false });
const address = await gyre.app.listen({ port: 0, host: '127.0.0.1' });
// waits for the live read models to catch up with the seeded log
const admin = await gyre.bootstrap();
const catchUpMs = performance.now() - catchUpStarted;
if (!admin) throw new Error('no admin was created on a fresh database');

/** A client asking one query after another over keep-alive HTTP until told to stop; each answer's latency. */
const client = (stop: { now: boolean }) =>
  (async () => {
    const latencies: number[] = [];
    let failures = 0;
    let firstFailure: string | null = null;
    while (!stop.now) {
      const began = performance.now();
      const res = await fetch(`${address}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${admin.token}` },
        body: JSON.stringify({ query: '{ systemSettings { licenseSeats } users(first: 5) { edges { node { login } } } }' }),
      });
      const body = (await res.json()) as { errors?: unknown };
      if (!res.ok || body.errors) {
        failures++;
        firstFailure ??= `${res.status} ${JSON.stringify(body.errors)}`.slice(0, 300);
      }
      latencies.push(performance.now() - began);
    }
    return { latencies, failures, firstFailure };
  })();

const measureQueries = async (ms: number) => {
  const stop = { now: false };
  const running = client(stop);
  await new Promise((r) => setTimeout(r, ms));
  stop.now = true;
  return running;
};

const idle = await measureQueries(3000);
const stop = { now: false };
const during = client(stop);
const started = performance.now();
const { id } = await gyre.services.rebuilds.start(gyre.services.readModels);
await gyre.services.rebuilds.settled(id);
const ms = performance.now() - started;
stop.now = true;
const queries = await during;
const status = await gyre.services.rebuilds.status(id);
if (status?.state !== 'done') throw new Error(`the rebuild ended ${status?.state}: ${status?.error}`);

report({
  bench: 'rebuild',
  backend,
  events: status.eventsRead,
  read_models: status.readModels.length,
  seconds: Math.round(ms) / 1000,
  events_per_s: rate(status.eventsRead, ms),
  live_catch_up_events_per_s: rate(count, catchUpMs),
  queries_during: queries.latencies.length,
  query_failures_during: queries.failures,
  ...(queries.firstFailure ? { first_failure: queries.firstFailure } : {}),
  query_ms_during: spread(queries.latencies),
  query_ms_before: spread(idle.latencies),
});
await gyre.close();
