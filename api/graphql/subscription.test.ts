import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { startTestGyre, waitForAudit, type TestGyre } from '../../test/support/gyre.ts';

const test = suite('api/graphql subscriptions over WebSocket');
let g: TestGyre;
let url: string;
let user: { id: string; token: string };
const clients: Client[] = [];

test.before(async () => {
  g = await startTestGyre();
  user = await g.createUser('carol');
  const address = await g.app.listen({ port: 0, host: '127.0.0.1' });
  url = `${address.replace('http', 'ws')}/graphql`;
});
test.after(async () => {
  await Promise.all(clients.map((c) => c.dispose()));
  await g.stop();
});

const connect = (connectionParams: Record<string, string>) => {
  const client = createClient({ url, webSocketImpl: WebSocket, connectionParams, retryAttempts: 0, lazy: true });
  clients.push(client);
  return client;
};

/** Subscribes and collects what arrives: events, or the error that ended it. */
const subscribe = (client: Client, actions?: string[]) => {
  const got: any[] = [];
  const errors: any[] = [];
  let resolveDone: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  const dispose = client.subscribe(
    {
      query: 'subscription($f: EventFilter) { events(filter: $f) { id action actor { name } payload success request } }',
      variables: { f: actions ? { actions } : null },
    },
    {
      next: (m) => (m.errors ? errors.push(...m.errors) : got.push(m.data?.events)),
      error: (e) => {
        errors.push(e);
        resolveDone();
      },
      complete: () => resolveDone(),
    },
  );
  return { got, errors, done, dispose };
};

/** Waits for `check`, doing `poke` (if any) before each look, up to `ms`. */
const until = async (check: () => boolean, ms = 5000, poke?: () => Promise<unknown>) => {
  const deadline = Date.now() + ms;
  for (;;) {
    if (poke) await poke();
    if (check() || Date.now() > deadline) return check();
    await new Promise((r) => setTimeout(r, 20));
  }
};

let warmUps = 100;
/** A change each time (an update to the same value changes nothing, and records nothing). */
const warmUp = () => update(warmUps++);
const update = (seats: number) => g.gql('mutation($s: Int) { updateSystemSettings(input: {licenseSeats: $s}) { licenseSeats } }', { s: seats });

test('an admin receives live audit events matching the filter, prefix included, and nothing else', async () => {
  const exact = subscribe(connect({ authorization: `Bearer ${g.adminToken}` }), ['system.settings.update']);
  const prefix = subscribe(connect({ 'Circle-Token': g.adminToken }), ['system.*']);
  const other = subscribe(connect({ authorization: `Bearer ${g.adminToken}` }), ['user.*']);
  // attached once each has seen an event: warm up until both have one, then count from there
  assert.ok(await until(() => exact.got.length > 0 && prefix.got.length > 0, 10_000, warmUp), 'the subscriptions attached');
  await update(7);
  await update(8);
  const seats = (e: any) => e.payload.changes.licenseSeats.to;
  assert.ok(
    await until(() => exact.got.some((e) => seats(e) === 8) && prefix.got.some((e) => e.action === 'system.settings.update' && seats(e) === 8)),
    `got ${exact.got.length} and ${prefix.got.length}`,
  );
  const after = exact.got.filter((e) => seats(e) < 100);
  assert.equal(after.map(seats), [7, 8]);
  assert.equal(
    prefix.got.filter((e) => e.action === 'system.settings.update' && seats(e) < 100).map((e) => e.id),
    after.map((e) => e.id),
  );
  assert.equal(
    exact.got.map((e) => e.action),
    exact.got.map(() => 'system.settings.update'),
  );
  assert.is(after[0].actor.name, 'admin');
  assert.is(after[0].success, true);
  // events arrive in log order: once the user.* subscriber sees a user event made after the settings changes, it would have seen them first
  assert.ok(
    await until(
      () => other.got.some((e) => e.action === 'user.create'),
      10_000,
      () => g.createUser(`sub-${Date.now()}`),
    ),
    'the user.* subscriber attached',
  );
  assert.equal(
    other.got.filter((e) => !e.action.startsWith('user.')),
    [],
    'the user.* subscriber saw other events',
  );
  exact.dispose();
  prefix.dispose();
  other.dispose();
});

test('without a token, with a bad token, or as a non-admin the subscription is refused and audited', async () => {
  const anonymous = subscribe(connect({}));
  const bad = subscribe(connect({ authorization: 'Bearer gyre_forged' }));
  const nonAdmin = subscribe(connect({ authorization: `Bearer ${user.token}` }));
  await Promise.race([Promise.all([anonymous.done, bad.done, nonAdmin.done]), new Promise((r) => setTimeout(r, 5000))]);
  assert.match(JSON.stringify(anonymous.errors), /authentication required/);
  assert.match(JSON.stringify(bad.errors), /not valid/);
  assert.match(JSON.stringify(nonAdmin.errors), /carol is not an administrator/);
  // ended: nothing can arrive after the refusal
  await update(9);
  assert.is(anonymous.got.length + bad.got.length + nonAdmin.got.length, 0);
  const refusals = await waitForAudit(g, (e) => e.action === 'audit_log.subscribe' && e.success === false, 3);
  assert.is(refusals.length, 3);
  assert.ok(refusals.every((r) => r.request.ip_address === '127.0.0.1'));
  assert.equal(refusals.map((r) => r.payload.status).sort(), [401, 401, 403]);
});

test('an admin suspended while subscribed stops receiving events', async () => {
  const other = await g.createUser('oscar', { isAdmin: true });
  const s = subscribe(connect({ authorization: `Bearer ${other.token}` }), ['system.*']);
  assert.ok(await until(() => s.got.length > 0, 10_000, warmUp), 'received while active');
  await g.gql('mutation { suspendUser(login: "oscar") { state } }');
  const before = s.got.length;
  // an account changed: the subscription checks its token again before the next event it delivers, which ends it
  let ended = false;
  void s.done.then(() => (ended = true));
  assert.ok(await until(() => ended, 10_000, warmUp), 'the subscription ended');
  assert.is(s.got.length, before, 'no event delivered after the suspension');
  // suspension revoked the token it subscribed with
  assert.match(JSON.stringify(s.errors), /not valid/);
});

test('delivering events to many subscribers reads no token: they check their callers again only when access changed', async () => {
  const many = Array.from({ length: 20 }, () => subscribe(connect({ authorization: `Bearer ${g.adminToken}` }), ['system.*']));
  assert.ok(await until(() => many.every((s) => s.got.length > 0), 10_000, warmUp), 'every subscriber received');
  const lookups: string[] = [];
  const seen = (q: { sql: string }) => {
    if (/token_hash|session_hash/.test(q.sql)) lookups.push(q.sql);
  };
  g.services.db.on('query', seen);
  try {
    const counts = many.map((s) => s.got.length);
    for (let i = 0; i < 3; i++) await warmUp();
    assert.ok(await until(() => many.every((s, k) => s.got.length >= counts[k]! + 3), 10_000), 'every subscriber received three more');
    // the three mutations' own callers are looked up, once each
    assert.is(lookups.length, 3, lookups.join('\n'));
  } finally {
    g.services.db.off('query', seen);
    for (const s of many) s.dispose();
  }
});

test('a bad filter ends the subscription with a typed error', async () => {
  const s = subscribe(connect({ authorization: `Bearer ${g.adminToken}` }), ['NOT VALID']);
  await Promise.race([s.done, new Promise((r) => setTimeout(r, 5000))]);
  assert.match(JSON.stringify(s.errors), /invalid action filter/);
});

test.run();
