/**
 * Command throughput (one event per command) at 1 and 32 concurrent clients, beside the raw
 * single-row INSERT commit rate of the same database in the same run.
 */
import { randomUUID } from 'node:crypto';
import { createCommandHandler } from '../application/commands.ts';
import { createPostgresEventStore } from '../adapters/eventstore/postgres.ts';
import { eventRegistry } from '../domain/events/catalog.ts';
import { systemActor } from '../domain/events/envelope.ts';
import { settingsDecider } from '../domain/system/settings.ts';
import { backendArg, freshDatabase, rate, report } from './support.ts';

const backend = backendArg();
const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const db = await freshDatabase(backend);
const store = await createPostgresEventStore(db);
const commands = createCommandHandler(store, eventRegistry);
await db.raw('create table if not exists bench_raw (id uuid primary key, body jsonb not null)');

/** Runs `op` from `clients` loops for the time given; answers operations per second. */
const measure = async (clients: number, op: () => Promise<unknown>) => {
  const end = Date.now() + seconds * 1000;
  let done = 0;
  const started = Date.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (Date.now() < end) {
        await op();
        done++;
      }
    }),
  );
  return rate(done, Date.now() - started);
};

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
const rawInsert = () => db.raw('insert into bench_raw (id, body) values (?, ?)', [randomUUID(), JSON.stringify({ login: 'bench', state: 'ACTIVE' })]);

const out: Record<string, unknown> = { bench: 'commands', backend, seconds };
for (const clients of [1, 32]) {
  await measure(clients, rawInsert); // warm-up
  out[`raw_insert_per_s_${clients}`] = await measure(clients, rawInsert);
  out[`commands_per_s_${clients}`] = await measure(clients, command);
  out[`ratio_${clients}`] = Number(((out[`commands_per_s_${clients}`] as number) / (out[`raw_insert_per_s_${clients}`] as number)).toFixed(2));
}
report(out);
await store.close();
await db.destroy();
