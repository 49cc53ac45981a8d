/**
 * Commands on streams that stay small, in this process (`npx tsx bench/streams.ts pglite|postgres`):
 * a settings update and an account command (an approval: the roster takes the reservation, the
 * account is written, the roster settles) when the `system-settings` and `roster` streams already
 * hold 1k, 10k and 30k events (BENCH_SIZES), each the median of BENCH_OPS (default 30) one after
 * another; beside it, the same settings update decided the way it was before (the stream read whole,
 * 5 attempts). Then 16 updates at once (BENCH_BURSTS bursts, default 3), counting CONFLICT answers,
 * both ways, and 16 approvals at once. PostgreSQL: the `bench_streams` database on
 * GYRE_BENCH_STREAMS_POSTGRES_URL's server (default postgres://postgres@127.0.0.1:5432), dropped and
 * created again here. PGlite: a data directory under tmp/bench/streams.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import knexFactory from 'knex';
import { openDatabase } from '../adapters/database/sql.ts';
import { createPostgresEventStore } from '../adapters/eventstore/postgres.ts';
import { approveUser } from '../application/accounts.ts';
import { createCommandHandler } from '../application/commands.ts';
import { updateSystemSettings } from '../application/settings.ts';
import { systemActor, type NewEvent } from '../domain/events/envelope.ts';
import { eventRegistry } from '../domain/events/catalog.ts';
import { defaultSettings, settingsDecider, settingsStream, settingsTarget } from '../domain/system/settings.ts';
import { rosterStream } from '../domain/users/roster.ts';
import { systemSettingsProjection } from '../projections/system-settings.ts';
import { usersProjection } from '../projections/users.ts';
import { backendArg, benchDir, printTable, report, sampleEvent, spread } from './support.ts';

const backend = backendArg();
const sizes = (process.env.BENCH_SIZES ?? '1000,10000,30000').split(',').map(Number);
const ops = Number(process.env.BENCH_OPS ?? 30);
const bursts = Number(process.env.BENCH_BURSTS ?? 3);
const server = process.env.GYRE_BENCH_STREAMS_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432';

const open = async () => {
  if (backend === 'pglite') {
    const dir = join(benchDir, 'streams');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    return openDatabase({ dataDir: dir });
  }
  const admin = knexFactory({ client: 'pg', connection: `${server}/postgres` });
  await admin.raw('drop database if exists bench_streams with (force)');
  await admin.raw('create database bench_streams');
  await admin.destroy();
  return openDatabase({ url: `${server}/bench_streams`, poolMax: 20 });
};

const db = await open();
const store = await createPostgresEventStore(db);
const commands = createCommandHandler(store, eventRegistry);
for (const p of [systemSettingsProjection, usersProjection]) await p.migrate(db, p.tables as never);
// the use cases as the API calls them; no read model follows here, so nothing waits for one
const s = { db, store, commands, readYourWrites: async () => {} };
const context = { actor: systemActor, request: null };

/** A settings change of the shape the command appends now: the whole settings after it. */
const settingsEvent = (i: number): NewEvent => {
  const e = sampleEvent(i);
  return {
    ...e,
    data: { changes: { licenseSeats: { from: i, to: i + 1 } }, settings: { ...defaultSettings, requiredOrgMembership: [], licenseSeats: i + 1 } },
  };
};
/** A roster change: the whole roster, nothing pending. */
const rosterEvent = (i: number): NewEvent => ({
  ...sampleEvent(i),
  type: 'roster.update',
  data: {
    seatsUsed: 1 + (i % 7),
    reserved: i % 3,
    activeAdmins: 1,
    change: { kind: 'done', login: `filler-${i % 500}`, delta: { seats: 1, reserved: 0, admins: 0 } },
    pending: [],
  },
  metadata: { ...sampleEvent(i).metadata, target: { id: 'roster', type: 'roster' } },
});

const timed = async (n: number, f: (i: number) => Promise<unknown>) => {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await f(i);
    ms.push(performance.now() - t);
  }
  return spread(ms);
};
/** 16 at once, `bursts` times: how many answered CONFLICT, and any other error. */
const together = async (f: (i: number) => Promise<unknown>) => {
  let conflicts = 0;
  let total = 0;
  for (let b = 0; b < bursts; b++) {
    await Promise.all(
      Array.from({ length: 16 }, async (_, i) => {
        total++;
        try {
          await f(b * 16 + i);
        } catch (e) {
          if ((e as { code?: string }).code === 'CONFLICT') conflicts++;
          else throw e;
        }
      }),
    );
  }
  return { conflicts, total };
};

let seats = 500_000;
let logins = 0;
const update = () => updateSystemSettings(s, context, { licenseSeats: seats++ });
/** The update as it was decided before: the stream read whole, at most 5 attempts. */
const updateAsBefore = () =>
  commands.execute({
    stream: settingsStream,
    decider: settingsDecider,
    command: { type: 'update', input: { licenseSeats: seats++ } },
    context,
    target: settingsTarget,
  });
const approve = () => approveUser(s, context, `bench-${logins++}`);

const out: Record<string, unknown> = { bench: 'streams', backend };
const rows: unknown[][] = [];
/** Appends to a stream until it holds `size` events, 1,000 to a transaction. */
const fill = async (stream: string, make: (i: number) => NewEvent, size: number) => {
  for (let held = ((await store.readLast(stream))?.revision ?? -1) + 1; held < size; held += Math.min(1000, size - held)) {
    await store.append(
      stream,
      Array.from({ length: Math.min(1000, size - held) }, (_, k) => make(held + k)),
      'any',
    );
  }
};
for (const size of sizes) {
  process.stderr.write(`system-settings and roster filled to ${size} events…\n`);
  await fill(settingsStream, settingsEvent, size);
  await fill(rosterStream, rosterEvent, size);
  await update(); // warm-up
  const settingsNow = await timed(ops, update);
  const accountNow = await timed(ops, approve);
  const settingsBefore = await timed(Math.min(ops, 10), updateAsBefore);
  const burstNow = await together(update);
  const burstBefore = await together(updateAsBefore);
  const burstApprove = await together(approve);
  out[`events_${size}`] = { settingsNow, accountNow, settingsBefore, burstNow, burstBefore, burstApprove };
  rows.push([
    size,
    `${settingsNow.p50} / ${settingsNow.p99}`,
    `${accountNow.p50} / ${accountNow.p99}`,
    `${settingsBefore.p50} / ${settingsBefore.p99}`,
    `${burstNow.conflicts} of ${burstNow.total}`,
    `${burstApprove.conflicts} of ${burstApprove.total}`,
    `${burstBefore.conflicts} of ${burstBefore.total}`,
  ]);
}
printTable(
  `streams that stay small, ${backend} (ms)`,
  [
    'events in each stream',
    'settings update p50 / p99',
    'approveUser p50 / p99',
    'settings, stream read whole (before) p50 / p99',
    'CONFLICT, 16 updates at once',
    'CONFLICT, 16 approvals at once',
    'CONFLICT, 16 at once, before',
  ],
  rows,
);
report(out);
await store.close();
await db.destroy();
