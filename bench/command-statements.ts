/**
 * What one command costs the database, in process: statements and round trips per command, and
 * commands per second at 1 and 16 clients, with one follower on the log's tail (as a projection
 * would be) so that each command's wake of the tail is counted too.
 *
 * A round trip is one statement knex sends ('query' events, BEGIN and COMMIT included): node-postgres
 * sends a statement's parse, bind, execute and sync together and waits for one answer, a named
 * prepared statement included (its first use on a connection parses it in the same round trip).
 * PGlite runs in this process: its "round trips" are calls into the engine.
 *
 * `npx tsx bench/command-statements.ts pglite|postgres`; PostgreSQL is BENCH_DATABASE_URL, whose
 * `public` schema is dropped and created again (it refuses a database named `test`).
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { openDatabase } from '../adapters/database/sql.ts';
import { createPostgresEventStore } from '../adapters/eventstore/postgres.ts';
import { createCommandHandler } from '../application/commands.ts';
import { eventRegistry } from '../domain/events/catalog.ts';
import { systemActor } from '../domain/events/envelope.ts';
import { settingsDecider } from '../domain/system/settings.ts';
import { backendArg, benchDir, printTable, rate, report } from './support.ts';

const backend = backendArg();
const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const counted = Number(process.env.BENCH_COMMANDS ?? 200);

const open = async () => {
  if (backend === 'pglite') {
    const dir = join(benchDir, 'command-statements');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    return openDatabase({ dataDir: dir });
  }
  const url = process.env.BENCH_DATABASE_URL;
  if (!url) throw new Error('BENCH_DATABASE_URL names the PostgreSQL database to use (its public schema is recreated)');
  if (new URL(url).pathname === '/test') throw new Error('refusing to recreate the schema of the database "test"');
  const db = openDatabase({ url, poolMax: 20 });
  await db.raw('drop schema if exists public cascade');
  await db.raw('create schema public');
  return db;
};

const db = await open();
const store = await createPostgresEventStore(db);
const commands = createCommandHandler(store, eventRegistry);

const sent: string[] = [];
db.on('query', (q: { sql: string }) => sent.push(q.sql));
/** The tail looking at the log: the horizon, a page, whether anything is held back. */
const tailLook = /pg_snapshot_xmin|from events where \(transaction_id, global_position\) >|with scanned as|with horizon as/;

// one follower, as a projection: every append wakes the tail, which reads the log once for it
const follower = new AbortController();
let followed = 0;
const following = (async () => {
  for await (const page of store.subscribe('end', { signal: follower.signal })) followed += page.events.length;
})();

/** A real decider on a fresh stream each time: the command path (read, decide, validate, append) without contention. */
const command = () => {
  const id = randomUUID();
  return commands.execute({
    stream: `bench-${id}`,
    decider: settingsDecider,
    command: { type: 'update', input: { licenseSeats: 10 } },
    context: { actor: systemActor, request: { id: randomUUID(), ip_address: '127.0.0.1', client_trace_id: null } },
    target: { id, type: 'system_settings' },
  });
};

/** Waits until the follower has every event appended so far (10 s at most). */
const caughtUp = async (appended: number) => {
  const deadline = Date.now() + 10_000;
  while (followed < appended) {
    if (Date.now() > deadline) throw new Error(`the follower has ${followed} of ${appended} events after 10 s`);
    await new Promise((r) => setImmediate(r));
  }
};

let appended = 0;
const measure = async (clients: number) => {
  const end = Date.now() + seconds * 1000;
  let done = 0;
  const started = Date.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (Date.now() < end) {
        await command();
        done++;
      }
    }),
  );
  appended += done;
  return rate(done, Date.now() - started);
};

// warm-up: connections opened, statements prepared
for (let i = 0; i < 20; i++) await command();
appended += 20;
await caughtUp(appended);

/** One command at a time, each waited on by the follower: what a command and its wake of the tail send. */
const from = sent.length;
for (let i = 0; i < counted; i++) {
  await command();
  await caughtUp(++appended);
}
const window = sent.slice(from);
const per = (n: number) => Math.round((n / counted) * 100) / 100;
const isTail = (s: string) => tailLook.test(s);
const command_round_trips = per(window.filter((s) => !isTail(s)).length);
const command_statements = per(window.filter((s) => !isTail(s) && !/^\s*(begin|commit|rollback)\b/i.test(s)).length);
const tail_statements = per(window.filter(isTail).length);

const out: Record<string, unknown> = { bench: 'command-statements', backend, seconds, command_statements, command_round_trips, tail_statements };
for (const clients of [1, 16]) {
  out[`commands_per_s_${clients}`] = await measure(clients);
  await caughtUp(appended);
}
// commands one after another on one stream (as a job's or a workflow's stream gets them), one client
const busy = `bench-busy-${randomUUID()}`;
const onBusy = (seats: number) =>
  commands.execute({
    stream: busy,
    decider: settingsDecider,
    command: { type: 'update', input: { licenseSeats: seats } },
    context: { actor: systemActor, request: { id: randomUUID(), ip_address: '127.0.0.1', client_trace_id: null } },
    target: { id: busy, type: 'system_settings' },
  });
await onBusy(1);
const busyFrom = sent.length;
const busyEnd = Date.now() + seconds * 1000;
let busyDone = 0;
const busyStarted = Date.now();
while (Date.now() < busyEnd) await onBusy(2 + busyDone++);
out.one_stream_commands_per_s_1 = rate(busyDone, Date.now() - busyStarted);
out.one_stream_round_trips = Math.round((sent.slice(busyFrom).filter((s) => !isTail(s)).length / busyDone) * 100) / 100;
appended += busyDone + 1;
await caughtUp(appended);
// the read a command starts with, alone: a stream of one event, read again and again from one client
const stream = `bench-read-${randomUUID()}`;
await store.append(stream, [{ id: randomUUID(), type: 'system.settings.update', data: {}, metadata: {} as never }], 'no_stream');
appended++;
const readsEnd = Date.now() + seconds * 1000;
let reads = 0;
const readsStarted = Date.now();
while (Date.now() < readsEnd) {
  await store.readStream(stream);
  reads++;
}
out.stream_reads_per_s_1 = rate(reads, Date.now() - readsStarted);
await caughtUp(appended);
follower.abort();
await following;
printTable(
  `One command, ${backend}`,
  [
    'statements',
    'round trips',
    'tail statements per command',
    'commands/s, 1 client',
    'commands/s, 16 clients',
    'on one stream: round trips, commands/s',
    'stream reads/s, 1 client',
  ],
  [
    [
      command_statements,
      command_round_trips,
      tail_statements,
      out.commands_per_s_1,
      out.commands_per_s_16,
      `${out.one_stream_round_trips}, ${out.one_stream_commands_per_s_1}`,
      out.stream_reads_per_s_1,
    ],
  ],
);
report(out);
await store.close();
await db.destroy();
