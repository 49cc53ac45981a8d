/**
 * A live event to many subscribers: BENCH_SUBSCRIBERS (default 1,000) WebSocket clients, each its own
 * connection speaking graphql-ws as Gyre's web UI does, subscribe to `events` (system.settings.update)
 * on `gyre serve`: 50 connections at a time, each 50 acknowledged before the next, for at most
 * BENCH_CONNECT_MS (default 180 s; what connected by then is measured, and said). Then BENCH_EVENTS
 * (default 10) `updateSystemSettings` over HTTP, one after another, each once every subscriber has
 * the one before (or 30 s have passed). Delivery latency: when a
 * subscriber receives the event less the event's occurredAt (the database's clock_timestamp() at the
 * insert; same machine, same clock). Mutation latency: the same updates with no subscriber, then
 * with all of them attached. Every subscriber is the admin, so the server lets one account hold them all
 * (GYRE_SUBSCRIPTIONS_PER_USER).
 */
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { graphqlClient, oneByOne } from './load.ts';
import { startGyre, until } from './server-process.ts';
import { backendArg, freshStorage, printTable, report, spread } from './support.ts';

const backend = backendArg();
const count = Number(process.env.BENCH_SUBSCRIBERS ?? 1000);
const events = Number(process.env.BENCH_EVENTS ?? 10);
const gyre = await startGyre(await freshStorage(backend, 'subscribers'), { GYRE_SUBSCRIPTIONS_PER_USER: String(Math.max(count, 256)) });
const auth = `Bearer ${gyre.token}`;
const http = graphqlClient(gyre.url, { authorization: auth }, 1);
let seats = 1000;
const update = (s: number) => http.data('mutation($s: Int) { updateSystemSettings(input: {licenseSeats: $s}) { licenseSeats } }', { s });

process.stderr.write(`${events} updates with no subscriber…\n`);
await update(seats++);
const alone = await oneByOne(events, () => update(seats++));

process.stderr.write(`${count} subscribers connecting…\n`);
const clock = () => performance.timeOrigin + performance.now();
/** Per subscriber: the licenseSeats each event set → how long after its occurredAt it arrived (ms). */
const received = Array.from({ length: count }, () => new Map<number, number>());
const failures: string[] = [];
/** A close event, an error or GraphQL errors, as words. */
const describe = (e: unknown) => {
  const { code, reason, message } = (e ?? {}) as { code?: number; reason?: string; message?: string };
  return code !== undefined ? `closed ${code} ${reason ?? ''}` : (message ?? JSON.stringify(e));
};
const clients: Client[] = [];
let connected = 0;
const connecting = performance.now();
const connectBy = connecting + Number(process.env.BENCH_CONNECT_MS ?? 180_000);
// 50 at a time, each 50 acknowledged before the next, for as long as BENCH_CONNECT_MS allows
for (let i = 0; i < count && performance.now() < connectBy; i++) {
  const client = createClient({
    url: `${gyre.url.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: { authorization: auth },
    retryAttempts: 0,
    on: { connected: () => connected++ },
  });
  clients.push(client);
  client.subscribe<{ events: { occurredAt: string; payload: { changes: { licenseSeats: { to: number } } } } }>(
    { query: 'subscription($f: EventFilter) { events(filter: $f) { occurredAt payload } }', variables: { f: { actions: ['system.settings.update'] } } },
    {
      next: (m) => {
        const e = m.data?.events;
        if (e) received[i]!.set(e.payload.changes.licenseSeats.to, clock() - Date.parse(e.occurredAt));
        else failures.push(describe(m.errors));
      },
      error: (e) => failures.push(describe(e)),
      complete: () => {},
    },
  );
  if ((i + 1) % 50 === 0 || i + 1 === count) {
    await until(
      () => {
        if (failures.length) throw new Error(`a subscription failed: ${failures[0]}`);
        return connected === i + 1;
      },
      300_000,
      `${i + 1} connections to be acknowledged`,
    );
    process.stderr.write(`  ${connected} connected after ${Math.round((performance.now() - connecting) / 1000)} s\n`);
  }
}
await until(() => connected === clients.length, 300_000, `${clients.length} connections to be acknowledged`);
const connectS = Math.round((performance.now() - connecting) / 1000);
const attached = clients.length;
received.length = attached;
const everyoneHas = (s: number) => received.every((r) => r.has(s));
// attached once each has an event: an update every 2 s (or sooner, once all have it) until then
await until(
  async () => {
    if (failures.length) throw new Error(`a subscription failed: ${failures[0]}`);
    const s = seats++;
    await update(s);
    await until(() => everyoneHas(s), 2_000, 'the warm-up event').catch(() => {});
    return everyoneHas(s);
  },
  Number(process.env.BENCH_ATTACH_MS ?? 300_000),
  `${attached} subscriptions to attach`,
);

process.stderr.write(`${events} updates with ${attached} subscribers…\n`);
const sent: number[] = [];
let missed = 0;
const meanwhile = await oneByOne(events, async () => {
  const s = seats++;
  sent.push(s);
  await update(s);
  await until(() => everyoneHas(s), 30_000, 'every subscriber to have the event').catch(() => (missed += received.filter((r) => !r.has(s)).length));
});
const delivery = spread(sent.flatMap((s) => received.flatMap((r) => (r.has(s) ? [r.get(s)!] : []))));
await Promise.all(clients.map((c) => c.dispose()));
http.close();
await gyre.stop();
printTable(
  `A live event to ${attached} subscribers (${attached} of ${count} connected in ${connectS} s), ${backend}, ${events} events`,
  ['what', 'p50 ms', 'p99 ms', 'max ms'],
  [
    ['delivery (received less occurredAt)', delivery.p50, delivery.p99, delivery.max],
    ['updateSystemSettings, no subscriber', alone.p50, alone.p99, alone.max],
    [`updateSystemSettings, ${attached} subscribers`, meanwhile.p50, meanwhile.p99, meanwhile.max],
  ],
);
report({
  bench: 'http-subscribers',
  backend,
  subscribers: attached,
  asked: count,
  connect_s: connectS,
  events,
  delivery,
  missed,
  failures: failures.length,
  mutation_alone: alone,
  mutation_meanwhile: meanwhile,
});
