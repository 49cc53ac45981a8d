import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { startTestGyre, waitForAudit, type TestGyre } from '../../test/support/gyre.ts';

/**
 * Live subscriptions are bounded: per WebSocket, per account, and in how long a subscriber may take
 * to receive an event. A real server on a real port; graphql-ws clients, and a raw WebSocket that
 * stops reading.
 */
const test = suite('api/graphql subscription limits');
let g: TestGyre;
let url: string;
const clients: Client[] = [];
const perConnection = 12;
const perUser = 20;
const logs: string[] = [];

test.before(async () => {
  g = await startTestGyre(
    {
      GYRE_SUBSCRIPTIONS_PER_CONNECTION: String(perConnection),
      GYRE_SUBSCRIPTIONS_PER_USER: String(perUser),
      GYRE_SUBSCRIPTION_SLOW_CONSUMER_MS: '300',
      GYRE_LOG_LEVEL: 'warn',
    },
    { logStream: { write: (line) => void logs.push(line) } },
  );
  const address = await g.app.listen({ port: 0, host: '127.0.0.1' });
  url = `${address.replace('http', 'ws')}/graphql`;
});
test.after(async () => {
  await Promise.all(clients.map((c) => c.dispose()));
  await g.stop();
});

const connect = () => {
  const client = createClient({ url, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${g.adminToken}` }, retryAttempts: 0, lazy: true });
  clients.push(client);
  return client;
};
const subscribe = (client: Client) => {
  const s = { got: 0, errors: [] as unknown[], ended: false, dispose: () => {} };
  s.dispose = client.subscribe(
    { query: 'subscription { events(filter: {actions: ["system.*"]}) { id } }' },
    {
      next: (m) => (m.errors ? s.errors.push(...m.errors) : s.got++),
      error: (e) => {
        s.errors.push(e);
        s.ended = true;
      },
      complete: () => (s.ended = true),
    },
  );
  return s;
};
let seats = 1000;
const update = (orgs: string[] = []) =>
  g.gql('mutation($s: Int, $o: [String!]) { updateSystemSettings(input: {licenseSeats: $s, requiredOrgMembership: $o}) { licenseSeats } }', {
    s: seats++,
    o: orgs,
  });
const until = async (check: () => boolean, ms = 10_000) => {
  const deadline = Date.now() + ms;
  while (!check() && Date.now() < deadline) {
    await update();
    await new Promise((r) => setTimeout(r, 20));
  }
  return check();
};
type Subscription = ReturnType<typeof subscribe>;
/** Subscriptions that all receive events: each has taken its place. */
const open = async (client: Client, n: number) => {
  const subs = Array.from({ length: n }, () => subscribe(client));
  assert.ok(await until(() => subs.every((s) => s.got > 0)), `${n} subscriptions receive`);
  return subs;
};
const refusedAs = async (s: Subscription, pattern: RegExp) => {
  assert.ok(await until(() => s.ended), 'refused');
  assert.match(JSON.stringify(s.errors), pattern);
  assert.is(s.got, 0);
};

test('one connection holds at most its limit: the next subscription is refused naming the limit, audited; ending one makes room', async () => {
  const client = connect();
  const subs = await open(client, perConnection);
  const extra = subscribe(client);
  await refusedAs(extra, /at most 12 \(GYRE_SUBSCRIPTIONS_PER_CONNECTION\)/);
  const refusal = await waitForAudit(
    g,
    (e) => e.action === 'audit_log.subscribe' && e.success === false && /GYRE_SUBSCRIPTIONS_PER_CONNECTION/.test(e.payload.reason),
  );
  assert.is(refusal[0]!.payload.code, 'TOO_MANY_SUBSCRIPTIONS');
  subs[0]!.dispose();
  const again = subscribe(client);
  assert.ok(await until(() => again.got > 0), 'room again once one ended');
  for (const s of [...subs, again]) s.dispose();
});

test('one account holds at most its limit over all its connections; a connection closed gives its places back', async () => {
  const first = connect();
  const second = connect();
  const a = await open(first, perConnection);
  const b = await open(second, perUser - perConnection);
  const third = connect();
  await refusedAs(subscribe(third), /at most 20 \(GYRE_SUBSCRIPTIONS_PER_USER\)/);
  await first.dispose();
  const more = await open(third, perConnection);
  for (const s of [...a, ...b, ...more]) s.dispose();
});

test('a subscriber that stops reading is disconnected, and its places are given back', async () => {
  // a raw graphql-transport-ws client, so that its socket can stop reading
  const ws = new WebSocket(url, 'graphql-transport-ws');
  const acked = new Promise<void>((resolve) => ws.on('message', (m) => JSON.parse(String(m)).type === 'connection_ack' && resolve()));
  await new Promise((r) => ws.once('open', r));
  ws.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${g.adminToken}` } }));
  await acked;
  let received = 0;
  ws.on('message', () => received++);
  for (let i = 0; i < perConnection; i++)
    ws.send(
      JSON.stringify({ id: String(i), type: 'subscribe', payload: { query: 'subscription { events(filter: {actions: ["system.*"]}) { id payload } }' } }),
    );
  assert.ok(await until(() => received >= perConnection), 'its subscriptions are live');
  // it stops reading; each event, some 8 KB of settings, goes to each of its subscriptions until the socket's buffers fill
  (ws as unknown as { _socket: { pause(): void } })._socket.pause();
  const orgs = (n: number) => Array.from({ length: 100 }, (_, k) => `org-${n}-${k}-${'x'.repeat(24)}`.slice(0, 39));
  // the server says so in its log (a paused socket would not see the connection end)
  const dropped = () => logs.some((l) => l.includes('a subscriber too slow to keep up was disconnected'));
  const deadline = Date.now() + 20_000;
  for (let n = 0; !dropped() && Date.now() < deadline; n++) await update(orgs(n));
  assert.ok(dropped(), 'the server cut the slow subscriber off');
  ws.terminate();
  // all of the account's places are free again
  const subs = await open(connect(), perConnection);
  for (const s of subs) s.dispose();
});

test.run();
