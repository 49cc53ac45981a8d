/**
 * A command on one long stream, over HTTP: `updateSystemSettings` when the `system-settings` stream
 * holds 1k, 10k and 30k events (BENCH_SIZES), from one client (BENCH_UPDATES one after another,
 * default 10) and from 16 at once (BENCH_BURSTS bursts of 16, default 2): latency, and the share of
 * the concurrent ones refused with CONFLICT. Between sizes `gyre serve` stops and this process fills
 * the stream with settings changes like the ones the command appends (a PGlite directory has one
 * owner at a time); the server then starts again and catches up before it is measured.
 */
import { createPostgresEventStore } from '../adapters/eventstore/postgres.ts';
import { settingsStream } from '../domain/system/settings.ts';
import { graphqlClient, oneByOne } from './load.ts';
import { startGyre } from './server-process.ts';
import { backendArg, freshStorage, openStorage, printTable, report, sampleEvent, spread } from './support.ts';

const backend = backendArg();
const sizes = (process.env.BENCH_SIZES ?? '1000,10000,30000').split(',').map(Number);
const updates = Number(process.env.BENCH_UPDATES ?? 10);
const bursts = Number(process.env.BENCH_BURSTS ?? 2);
const storage = await freshStorage(backend, 'settings');
const update = 'mutation($s: Int) { updateSystemSettings(input: {licenseSeats: $s}) { licenseSeats } }';

let held = 0;
// each update sets a number no earlier one did, so that every one changes something
let seats = 500_000;
const out: Record<string, unknown> = { bench: 'http-settings', backend };
const rows: unknown[][] = [];
for (const size of sizes) {
  process.stderr.write(`system-settings filled to ${size} events…\n`);
  const db = openStorage(storage);
  const store = await createPostgresEventStore(db);
  for (; held < size; held += Math.min(1000, size - held)) {
    await store.append(
      settingsStream,
      Array.from({ length: Math.min(1000, size - held) }, (_, k) => sampleEvent(held + k)),
      'any',
    );
  }
  await store.close();
  await db.destroy();
  const gyre = await startGyre(storage);
  const client = graphqlClient(gyre.url, { authorization: `Bearer ${gyre.token}` }, 16);
  await client.data(update, { s: seats++ }); // warm-up
  const alone = await oneByOne(updates, () => client.data(update, { s: seats++ }));
  const latencies: number[] = [];
  let conflicts = 0;
  for (let b = 0; b < bursts; b++) {
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        const t = performance.now();
        const answer = await client.post(update, { s: seats++ });
        latencies.push(performance.now() - t);
        const code = answer.errors?.[0]?.extensions?.code;
        if (code === 'CONFLICT') conflicts++;
        else if (answer.errors) throw new Error(`updateSystemSettings answered ${JSON.stringify(answer.errors)}`);
      }),
    );
  }
  client.close();
  await gyre.stop();
  held += updates + 1 + 16 * bursts - conflicts;
  const together = spread(latencies);
  const share = Math.round((conflicts / latencies.length) * 100);
  out[`events_${size}`] = { alone, together, conflicts, requests: latencies.length, conflict_pct: share };
  rows.push([size, `${alone.p50} / ${alone.p99}`, `${together.p50} / ${together.p99}`, `${share}% (${conflicts} of ${latencies.length})`]);
}
printTable(
  `updateSystemSettings over HTTP, ${backend}`,
  ['events in system-settings', '1 client: p50 / p99 ms', '16 clients: p50 / p99 ms', 'refused CONFLICT'],
  rows,
);
report(out);
