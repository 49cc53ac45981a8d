import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createPostgresEventStore, type PostgresEventStore } from '../adapters/eventstore/postgres.ts';
import { START } from '../adapters/eventstore/port.ts';
import { eventRegistry } from '../domain/events/catalog.ts';
import { resetDatabase, testDatabase } from '../test/support/database.ts';
import { createCommandHandler } from './commands.ts';
import { createRefusals, type Refusals } from './refusals.ts';

// The refusal budget over the real command handler and event store, on a clock the test moves.
const test = suite('application/refusals');
let store: PostgresEventStore;
let refusals: Refusals;
let clock = 1_000_000;
const windowMs = 60_000;
const errors: unknown[] = [];

test.before(async () => {
  await resetDatabase();
  store = await createPostgresEventStore(testDatabase());
  refusals = createRefusals(
    createCommandHandler(store, eventRegistry),
    { perSource: 3, perWindow: 100, sources: 100, windowMs },
    { now: () => clock, onError: (e) => errors.push(e) },
  );
});
test.after(async () => {
  await refusals.close();
  await store.close();
});

const anonymous = (request: string, ip = '203.0.113.9') => ({
  context: { actor: { id: 'anonymous', type: 'anonymous', name: 'anonymous' }, request: { id: request, ip_address: ip, client_trace_id: null } },
});
const refusal = { reason: 'no token', code: 'UNAUTHENTICATED', status: 401, operation: 'query me' };
const refusalsOf = async () => {
  const page = await store.readAll(START, { limit: 10_000 });
  return page.events.filter((e) => e.metadata.success === false);
};

test('one source: its budget in full, the rest counted; the refusal that ends the window has its summary appended before it returns', async () => {
  for (let i = 0; i < 10; i++) await refusals.refuse('user.read', refusal, anonymous(`r${i}`));
  // the same request again is the same refusal
  assert.is(await refusals.refuse('user.read', refusal, anonymous('r9')), null);
  assert.is((await refusalsOf()).length, 3);
  clock += windowMs;
  const next = await refusals.refuse('user.read', refusal, anonymous('r10'));
  assert.ok(next, 'a new window records in full again');
  const [summary] = await store.readStream(`refusals-${clock}`);
  assert.ok(summary, 'the summary was appended before the refusal that ended its window returned');
  assert.is(summary.type, 'api.refusals.summarize');
  assert.equal(summary.data, {
    source: 'address',
    refusals: 7,
    actions: ['user.read'],
    from: new Date(clock - windowMs).toISOString(),
    to: new Date(clock).toISOString(),
  });
  assert.is((await refusalsOf()).length, 3 + 1);
  assert.equal(errors, []);
});

test("a request is recorded once though another request's refusal came between its own", async () => {
  clock += windowMs;
  await refusals.flush();
  const before = (await refusalsOf()).length;
  const ip = '192.0.2.77';
  assert.ok(await refusals.refuse('user.read', refusal, anonymous('socket', ip)));
  assert.ok(await refusals.refuse('user.read', refusal, anonymous('other', ip)));
  assert.is(await refusals.refuse('user.read', refusal, anonymous('socket', ip)), null);
  assert.is((await refusalsOf()).length - before, 2);
});

test('many sources: the refusal that ends the window waits for every summary of it', async () => {
  clock += windowMs;
  await refusals.flush();
  const before = (await refusalsOf()).length;
  for (let source = 0; source < 30; source++)
    for (let i = 0; i < 5; i++) await refusals.refuse('user.read', refusal, anonymous(`s${source}-${i}`, `198.51.100.${source}`));
  assert.is((await refusalsOf()).length - before, 30 * 3);
  clock += windowMs;
  await refusals.refuse('user.read', refusal, anonymous('last'));
  const summaries = await store.readStream(`refusals-${clock}`);
  assert.is(summaries.length, 30, 'every summary was appended before the refusal that ended their window returned');
  assert.ok(summaries.every((s) => (s.data as { refusals: number }).refusals === 2));
});

test.run();
