import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createClient, type Client } from 'graphql-ws';
import { parse } from 'graphql';
import WebSocket from 'ws';
import { gitRepo } from '../../test/support/git-repo.ts';
import { ok, trigger } from '../../test/support/jobs.ts';
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
const maxMessage = 8192;
let httpUrl: string;

test.before(async () => {
  g = await startTestGyre(
    {
      GYRE_SUBSCRIPTIONS_PER_CONNECTION: String(perConnection),
      GYRE_SUBSCRIPTIONS_PER_USER: String(perUser),
      GYRE_SUBSCRIPTION_SLOW_CONSUMER_MS: '300',
      GYRE_SUBSCRIPTION_MAX_MESSAGE_BYTES: String(maxMessage),
      GYRE_GRAPHQL_MAX_TOKENS: '1000',
      GYRE_LOG_LEVEL: 'warn',
    },
    { logStream: { write: (line) => void logs.push(line) } },
  );
  const address = await g.app.listen({ port: 0, host: '127.0.0.1' });
  url = `${address.replace('http', 'ws')}/graphql`;
  httpUrl = address;
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

/** A graphql-transport-ws connection without a client library: what it is sent, and every message it gets. */
const rawConnection = async () => {
  const ws = new WebSocket(url, 'graphql-transport-ws');
  const messages: Array<{ id?: string; type: string; payload?: unknown }> = [];
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  ws.on('message', (m) => messages.push(JSON.parse(String(m))));
  await new Promise((r) => ws.once('open', r));
  ws.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${g.adminToken}` } }));
  const deadline = Date.now() + 5000;
  while (!messages.some((m) => m.type === 'connection_ack') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.ok(
    messages.some((m) => m.type === 'connection_ack'),
    'acknowledged',
  );
  return { ws, messages, closed };
};
/** How long /healthz takes to answer, each time asked, until `done` resolves. */
const healthWhile = async (done: Promise<unknown>) => {
  const times: number[] = [];
  let over = false;
  void done.finally(() => (over = true));
  while (!over) {
    const start = performance.now();
    assert.is((await fetch(`${httpUrl}/healthz`)).status, 200);
    times.push(performance.now() - start);
  }
  return times;
};
const refusalsSoFar = async () => (await waitForAudit(g, (e) => e.success === false, 1, 0)).length;

test('1,000 workflowJobs subscriptions on one socket: its limit is live, the rest refused as one audit event, and other requests answer promptly meanwhile', async () => {
  // a workflow that waits: its approval job never runs
  const repo = gitRepo();
  repo.commit(
    'version: 2.1\njobs:\n  b:\n    docker: [{image: busybox}]\n    steps: [run: "true"]\nworkflows:\n  w:\n    jobs: [{hold: {type: approval}}, {b: {requires: [hold]}}]\n',
  );
  await ok(g, `mutation { createProject(input: {slug: "gh/acme/subs", gitUrl: "${repo.dir}"}) { id } }`);
  const [w] = (await trigger(g, 'gh/acme/subs')).workflows;
  const { ws, messages } = await rawConnection();
  const before = await refusalsSoFar();
  const rss = process.memoryUsage().rss;
  const query = 'subscription($w: ID!) { workflowJobs(workflowId: $w) { status } }';
  const answered = (async () => {
    for (let i = 0; i < 1000; i++) ws.send(JSON.stringify({ id: String(i), type: 'subscribe', payload: { query, variables: { w: w!.id } } }));
    const deadline = Date.now() + 30_000;
    while (messages.filter((m) => m.type === 'error').length < 1000 - perConnection && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  })();
  const health = await healthWhile(answered);
  const refused = messages.filter((m) => m.type === 'error');
  assert.is(refused.length, 1000 - perConnection);
  assert.match(JSON.stringify(refused[0]!.payload), /at most 12 \(GYRE_SUBSCRIPTIONS_PER_CONNECTION\)/);
  // the ones that took a place are the first twelve, and none of them was refused
  assert.equal(new Set(refused.map((m) => Number(m.id))).size, 1000 - perConnection);
  assert.ok(
    refused.every((m) => Number(m.id) >= perConnection),
    'the first twelve were not refused',
  );
  assert.ok(Math.max(...health) < 1000, `/healthz answered within 1 s while refusing (slowest ${Math.round(Math.max(...health))} ms)`);
  assert.ok(process.memoryUsage().rss - rss < 200 * 1024 * 1024, 'memory stays bounded');
  // one socket is one request: its refusals are one event
  const events = (await refusalsSoFar()) - before;
  assert.is(events, 1, 'one refusal event for the socket');
  // with its twelve subscriptions live, a query still answers as fast as before: nothing polls per subscription
  const times: number[] = [];
  for (let i = 0; i < 20; i++) {
    const start = performance.now();
    await fetch(`${httpUrl}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${g.adminToken}` },
      body: JSON.stringify({ query: '{ me { login } }' }),
    });
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  assert.ok(times[10]! < 100, `a query's median stays under 100 ms (${Math.round(times[10]!)} ms)`);
  ws.terminate();
  repo.remove();
});

test('a WebSocket message is bounded before anything parses it: over GYRE_SUBSCRIPTION_MAX_MESSAGE_BYTES closes the connection (1009); under it, the token limit refuses the document naming it', async () => {
  const tooMany = `subscription { events { ${'id '.repeat(1500)}} }`;
  assert.ok(tooMany.length < maxMessage);
  const first = await rawConnection();
  first.ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: tooMany } }));
  const deadline = Date.now() + 5000;
  while (!first.messages.some((m) => m.id === '1') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.match(JSON.stringify(first.messages.find((m) => m.id === '1')), /more tokens than allowed.*GYRE_GRAPHQL_MAX_TOKENS/);
  const audited = await waitForAudit(g, (e) => e.success === false && /GYRE_GRAPHQL_MAX_TOKENS/.test(e.payload.reason));
  assert.is(audited[0]?.payload.code, 'GRAPHQL_LIMIT_EXCEEDED');
  first.ws.terminate();

  const second = await rawConnection();
  const rss = process.memoryUsage().rss;
  // past this limit but within mercurius' own 1 MiB: without the limit it would be parsed, then refused by its tokens
  const huge = `subscription { events { ${'id '.repeat(40_000)}} }`;
  second.ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: huge } }));
  assert.is(await second.closed, 1009);
  assert.not.ok(
    second.messages.some((m) => m.id === '1'),
    'the document got no answer: it was never read',
  );
  assert.ok(process.memoryUsage().rss - rss < 100 * 1024 * 1024, 'memory stays bounded');
  assert.is((await fetch(`${httpUrl}/healthz`)).status, 200);
});

test('a document sent already parsed (not as text) is refused, audited, and gets no events: it would skip every limit', async () => {
  // 40 aliases, over the limit of 30, in a message within the suite's 8 KB
  const aliased = `subscription { events(filter: {actions: ["system.*"]}) { ${Array.from({ length: 40 }, (_, i) => `a${i}: id`).join(' ')} } }`;
  const c = await rawConnection();
  c.ws.send(JSON.stringify({ id: 'p', type: 'subscribe', payload: { query: JSON.parse(JSON.stringify(parse(aliased, { noLocation: true }))) } }));
  c.ws.send(JSON.stringify({ id: 'bad', type: 'subscribe', payload: { query: 'subscription { events { nosuchfield } }' } }));
  const deadline = Date.now() + 5000;
  while (!(c.messages.some((m) => m.id === 'p') && c.messages.some((m) => m.id === 'bad')) && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 10));
  const answer = c.messages.find((m) => m.id === 'p');
  assert.is(answer?.type, 'error');
  assert.match(JSON.stringify(answer), /as text/);
  // graphql's own rules run on a subscription's document too
  assert.is(c.messages.find((m) => m.id === 'bad')?.type, 'error');
  assert.match(JSON.stringify(c.messages.find((m) => m.id === 'bad')), /nosuchfield/);
  await update();
  assert.not.ok(
    c.messages.some((m) => (m.id === 'p' || m.id === 'bad') && m.type === 'next'),
    'neither received an event',
  );
  const audited = await waitForAudit(g, (e) => e.success === false && /as text/.test(e.payload.reason));
  assert.is(audited.length, 1);
  c.ws.terminate();
});

test.run();
