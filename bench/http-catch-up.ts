/**
 * Projection catch-up: every read model from an empty checkpoint over BENCH_EVENTS (default 100k)
 * audit-shaped events, beside two anchors in the same run on the same database:
 * - a plain Node loop that reads the log a page (1,000 events) at a time and writes the audit read
 *   model's rows for it (the audit projection's own apply, into a table made by its own migrate) in
 *   one transaction, with no runner, no checkpoint and no other read model;
 * - COPY of those same rows into another such table (rows/s).
 * Gyre is measured twice: its projection runner in this process (as createGyre builds it), and
 * `gyre serve` in a child process started on the filled log with no read model: spawn to /readyz
 * saying every projection is caught up, less the same for a start on the same database with an
 * empty log (the projections start before the server listens, so its first answer marks nothing).
 */
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { PGlite } from '@electric-sql/pglite';
import { rows, withSchemaLock, type Database } from '../adapters/database/sql.ts';
import { createPostgresEventStore } from '../adapters/eventstore/postgres.ts';
import type { Position } from '../domain/events/envelope.ts';
import { allProjections } from '../projections/all.ts';
import { auditLogProjection } from '../projections/audit-log.ts';
import { createProjectionRunner } from '../projections/runner.ts';
import { startGyre } from './server-process.ts';
import { backendArg, freshStorage, openStorage, printTable, rate, report, seedEvents } from './support.ts';

const backend = backendArg();
const count = Number(process.env.BENCH_EVENTS ?? 100_000);
const storage = await freshStorage(backend, 'catch-up');

/** Milliseconds `fn` takes. */
const timed = async (fn: () => Promise<unknown>) => {
  const started = performance.now();
  await fn();
  return performance.now() - started;
};
const counted = async (table: string) => Number(((await db(table).count('* as n')) as [{ n: string }])[0].n);

/** Drops every table but the log's (read models, their checkpoints, the anchors'). */
const dropAllButTheLog = async (db: Database) => {
  const tables = await rows<{ name: string }>(
    db.raw(`select tablename as name from pg_tables where schemaname = 'public' and tablename not in ('events', 'streams')`),
  );
  for (const { name } of tables) await db.raw(`drop table "${name}" cascade`);
};

// the start to subtract: the database made and its log begun here, the server started on it (its admin made), its read models dropped
let db = openStorage(storage);
await (await createPostgresEventStore(db)).close();
await db.destroy();
process.stderr.write(`gyre serve on an empty log, ${backend}…\n`);
const empty = await startGyre(storage);
await empty.stop();
db = openStorage(storage, 40);
await dropAllButTheLog(db);

process.stderr.write(`seeding ${count} events…\n`);
const store = await seedEvents(db, count);
const head = await store.head();
// the log also holds the admin the first start made
const total = await counted('events');

process.stderr.write('anchor: a plain loop writing the audit rows…\n');
const loopTable = { audit_events: 'anchor_audit_loop' };
const copyTable = { audit_events: 'anchor_audit_copy' };
await auditLogProjection.migrate(db, loopTable);
await auditLogProjection.migrate(db, copyTable);
const loopMs = await timed(async () => {
  let from: Position = '';
  for (;;) {
    const page = await store.readAll(from, { limit: 1000 });
    if (page.events.length) await db.transaction((trx) => auditLogProjection.apply(page.events, trx, loopTable));
    from = page.next;
    if (page.atEnd) break;
  }
});
if ((await counted(loopTable.audit_events)) !== total) throw new Error('the plain loop did not write every row');

process.stderr.write('anchor: COPY of the same rows…\n');
let copyMs: number;
if (storage.databaseUrl) {
  const file = join(storage.dataDir, 'audit.copy');
  const psql = (command: string) => execFileSync('psql', [storage.databaseUrl!, '-v', 'ON_ERROR_STOP=1', '-q', '-c', command]);
  psql(`\\copy ${loopTable.audit_events} to '${file}'`);
  const started = performance.now();
  psql(`\\copy ${copyTable.audit_events} from '${file}'`);
  copyMs = performance.now() - started;
  rmSync(file);
} else {
  const pglite = (db.client.config.connection as () => { pglite: PGlite })().pglite;
  const out = await pglite.query(`copy ${loopTable.audit_events} to '/dev/blob'`);
  const started = performance.now();
  await pglite.query(`copy ${copyTable.audit_events} from '/dev/blob'`, [], { blob: out.blob! });
  copyMs = performance.now() - started;
}
if ((await counted(copyTable.audit_events)) !== total) throw new Error('COPY did not write every row');

process.stderr.write('Gyre: the projection runner in this process…\n');
const runner = createProjectionRunner({ store, db, migrate: withSchemaLock, projections: allProjections });
const runnerMs = await timed(async () => {
  await runner.start();
  if (!(await runner.waitFor(head, 30 * 60_000))) throw new Error('projections did not catch up');
});
await runner.stop();
if ((await counted(auditLogProjection.tables.audit_events)) !== total) throw new Error('the audit read model does not hold every event');

await dropAllButTheLog(db);
await store.close();
await db.destroy();

process.stderr.write('Gyre: gyre serve catching up from its start…\n');
const gyre = await startGyre(storage);
await gyre.stop();
const serveMs = gyre.timings.readyMs - empty.timings.readyMs;
db = openStorage(storage);
if ((await counted(auditLogProjection.tables.audit_events)) < total) throw new Error('gyre serve did not project every event');
await db.destroy();

const out = {
  bench: 'http-catch-up',
  backend,
  events: total,
  runner_events_per_s: rate(total, runnerMs),
  serve_events_per_s: rate(total, serveMs),
  serve_ready_s: Math.round(gyre.timings.readyMs / 100) / 10,
  serve_ready_empty_log_s: Math.round(empty.timings.readyMs / 100) / 10,
  loop_rows_per_s: rate(total, loopMs),
  copy_rows_per_s: rate(total, copyMs),
};
printTable(
  `Catch-up of every read model over ${total.toLocaleString('en-US')} events, ${backend}`,
  ['what', 'per second'],
  [
    ['Gyre: projection runner in-process, events', out.runner_events_per_s],
    [`Gyre: \`gyre serve\`, events (spawn to caught up ${out.serve_ready_s} s, less ${out.serve_ready_empty_log_s} s on an empty log)`, out.serve_events_per_s],
    ['anchor: a plain loop writing the audit rows (1,000 a transaction), rows', out.loop_rows_per_s],
    ['anchor: COPY of the same rows, rows', out.copy_rows_per_s],
  ],
);
report(out);
