import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { eventRegistry } from '../domain/events/catalog.ts';
import { DomainError, ValidationError } from '../domain/errors.ts';
import { settingsDecider, settingsStream, settingsTarget } from '../domain/system/settings.ts';
import { resetDatabase, testDatabase } from '../test/support/database.ts';
import { createCommandHandler } from './commands.ts';
import { createPostgresEventStore, type PostgresEventStore } from '../adapters/eventstore/postgres.ts';

const test = suite('application/commands');
let store: PostgresEventStore;
const context = { actor: { id: 'u1', type: 'user', name: 'ann' }, request: { id: 'req-1', ip_address: '127.0.0.1', client_trace_id: 'trace-9' } };

test.before(async () => {
  await resetDatabase();
  store = await createPostgresEventStore(testDatabase());
});

test('a command appends its events in the audit envelope', async () => {
  const handler = createCommandHandler(store, eventRegistry);
  const r = await handler.execute({
    stream: settingsStream,
    decider: settingsDecider,
    command: { type: 'update', input: { licenseSeats: 5 } },
    context,
    target: settingsTarget,
  });
  assert.is(r.events.length, 1);
  const e = r.events[0]!;
  assert.equal(e.metadata.actor, context.actor);
  assert.equal(e.metadata.request, context.request);
  assert.equal(e.metadata.target, settingsTarget);
  assert.is(e.metadata.success, true);
  assert.is(e.metadata.version, 1);
  assert.is(e.metadata.$correlationId, 'req-1');
  assert.equal(r.state.licenseSeats, 5);
});

test('concurrent commands on one stream each apply exactly once, in some order', async () => {
  const handler = createCommandHandler(store, eventRegistry, { maxAttempts: 50 });
  const seats = Array.from({ length: 10 }, (_, i) => 100 + i);
  await Promise.all(
    seats.map((n) =>
      handler.execute({
        stream: settingsStream,
        decider: settingsDecider,
        command: { type: 'update', input: { licenseSeats: n } },
        context,
        target: settingsTarget,
      }),
    ),
  );
  const history = await store.readStream(settingsStream);
  const changes = history.slice(1).map((e) => (e.data as { changes: { licenseSeats: { from: number | null; to: number } } }).changes.licenseSeats);
  assert.equal(changes.map((c) => c.to).sort(), seats);
  // each decision was made on the state the previous one left: the chain of from → to is unbroken
  for (let i = 1; i < changes.length; i++) assert.is(changes[i]!.from, changes[i - 1]!.to);
});

test('with no retries left, a conflict reaches the caller as a typed error', async () => {
  // a store that lets another writer in between this command's read and its append
  const racing = {
    ...store,
    async readStream(stream: string, from?: number) {
      const history = await store.readStream(stream, from);
      await createCommandHandler(store, eventRegistry).execute({
        stream,
        decider: settingsDecider,
        command: { type: 'update', input: { licenseSeats: 300 + history.length } },
        context,
        target: settingsTarget,
      });
      return history;
    },
  };
  const handler = createCommandHandler(racing, eventRegistry, { maxAttempts: 2 });
  try {
    await handler.execute({
      stream: settingsStream,
      decider: settingsDecider,
      command: { type: 'update', input: { licenseSeats: 299 } },
      context,
      target: settingsTarget,
    });
    assert.unreachable('the command won against a writer that always came first');
  } catch (e) {
    assert.is((e as { code?: string }).code, 'CONFLICT');
  }
  const last = (await store.readStream(settingsStream)).at(-1)!;
  assert.is.not((last.data as { changes: { licenseSeats: { to: number } } }).changes.licenseSeats.to, 299);
});

test('an event that fails its schema is never appended', async () => {
  const handler = createCommandHandler(store, eventRegistry);
  const before = (await store.readStream('odd-stream')).length;
  try {
    await handler.record(
      'odd-stream',
      { type: 'system.settings.update', data: { changes: { licenseSeats: { from: 'x', to: 2 } } } },
      { context, target: settingsTarget },
    );
    assert.unreachable('a bad event was appended');
  } catch (e) {
    assert.instance(e, ValidationError);
  }
  try {
    await handler.record('odd-stream', { type: 'made.up', data: {} }, { context, target: settingsTarget });
    assert.unreachable('an unknown event type was appended');
  } catch (e) {
    assert.instance(e, ValidationError);
  }
  assert.is((await store.readStream('odd-stream')).length, before);
});

test('a refusal is recorded with success false on a stream of its own, without the values the caller sent', async () => {
  const handler = createCommandHandler(store, eventRegistry);
  const e = await handler.refuse(
    'system.settings.update',
    { reason: 'Int cannot represent non-integer value: "gyre_canary_s3cret"', code: 'FORBIDDEN', status: 403, operation: 'mutation updateSystemSettings' },
    { context },
  );
  assert.is((e.data as { reason: string }).reason, 'Int cannot represent non-integer value: "…"');
  assert.match(e.stream, /^refusal-[0-9a-f-]{36}$/);
  assert.is(e.metadata.success, false);
  assert.equal(e.metadata.target, { id: 'mutation updateSystemSettings', type: 'api_operation' });
});

const seatsOf = async (stream: string) =>
  (await store.readStream(stream)).map((e) => (e.data as { changes: { licenseSeats?: { from: number | null; to: number } } }).changes.licenseSeats);
const update = (licenseSeats: number, stream: string) => ({
  stream,
  decider: settingsDecider,
  command: { type: 'update' as const, input: { licenseSeats } },
  context,
  target: settingsTarget,
});

test('a command on a stream this handler wrote last decides on what it wrote: its append is its one statement', async () => {
  const handler = createCommandHandler(store, eventRegistry);
  const stream = `remembered-${Date.now()}`;
  await handler.execute(update(5, stream));
  let statements = 0;
  const count = () => statements++;
  testDatabase().on('query', count);
  const second = await handler.execute(update(6, stream));
  testDatabase().off('query', count);
  assert.is(statements, 1);
  assert.is(second.state.licenseSeats, 6);
  assert.equal((await seatsOf(stream)).slice(1), [{ from: 5, to: 6 }]);
});

test('another writer in between: the append fails its revision check, and the command reads the stream and decides again, with no attempt used up', async () => {
  const here = createCommandHandler(store, eventRegistry, { maxAttempts: 1 });
  const elsewhere = createCommandHandler(store, eventRegistry);
  const stream = `raced-${Date.now()}`;
  await here.execute(update(5, stream));
  await elsewhere.execute(update(7, stream));
  const r = await here.execute(update(8, stream));
  assert.is(r.state.licenseSeats, 8);
  const changes = await seatsOf(stream);
  assert.equal(changes.slice(1), [
    { from: 5, to: 7 },
    { from: 7, to: 8 },
  ]);
});

test('a decision that changes nothing, or is refused, on what the handler remembered is made again on the stream as read', async () => {
  const here = createCommandHandler(store, eventRegistry);
  const elsewhere = createCommandHandler(store, eventRegistry);
  const stream = `stale-${Date.now()}`;
  await here.execute(update(5, stream));
  await elsewhere.execute(update(7, stream));
  // remembered: 5 seats, so "5" would change nothing; the stream says 7
  const same = await here.execute(update(5, stream));
  assert.is(same.events.length, 1);
  assert.is(same.state.licenseSeats, 5);
  await elsewhere.execute(update(50, stream));
  // refused below 10 seats as remembered (5), accepted on the stream as it is (50)
  const strict = {
    ...settingsDecider,
    decide: (c: Parameters<typeof settingsDecider.decide>[0], s: Parameters<typeof settingsDecider.decide>[1]) => {
      if ((s.licenseSeats ?? 0) < 10) throw new DomainError('TOO_FEW_SEATS', `${s.licenseSeats} seats`);
      return settingsDecider.decide(c, s);
    },
  };
  const r = await here.execute({ ...update(60, stream), decider: strict });
  assert.is(r.state.licenseSeats, 60);
  assert.equal((await seatsOf(stream)).slice(1), [
    { from: 5, to: 7 },
    { from: 7, to: 5 },
    { from: 5, to: 50 },
    { from: 50, to: 60 },
  ]);
});

test('the handler remembers at most the events it is given, forgetting the least recently used stream first', async () => {
  const handler = createCommandHandler(store, eventRegistry, { recentEvents: 2 });
  const [a, b, c] = ['a', 'b', 'c'].map((x) => `budget-${x}-${Date.now()}`) as [string, string, string];
  for (const stream of [a, b, c]) await handler.execute(update(5, stream));
  const statementsOf = async (stream: string, seats: number) => {
    let statements = 0;
    const count = () => statements++;
    testDatabase().on('query', count);
    await handler.execute(update(seats, stream));
    testDatabase().off('query', count);
    return statements;
  };
  // c, written last, is remembered: its append alone
  assert.is(await statementsOf(c, 6), 1);
  // a was forgotten when c came: read, then append
  assert.is(await statementsOf(a, 6), 2);
  // a now holds two events, the whole budget: c was forgotten to make room
  assert.is(await statementsOf(c, 7), 2);
});

test.run();
