import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Knex } from 'knex';
import { createPostgresEventStore, type PostgresEventStore } from '../adapters/eventstore/postgres.ts';
import type { Position, RecordedEvent } from '../domain/events/envelope.ts';
import { resetDatabase, testDatabase } from '../test/support/database.ts';
import { newEvent, uniqueName } from '../test/support/events.ts';
import type { Reactor } from './reactor.ts';
import { createReactorRunner, type ReactorRunner } from './reactors.ts';

const test = suite('workers/reactors: the checkpointed reactor runner');
let store: PostgresEventStore;
let db: Knex;
const caughtUp = { waitFor: async () => true };
const errors: unknown[] = [];
const log = { warn: () => {}, error: (fields: object) => void errors.push(fields) };

test.before(async () => {
  db = testDatabase();
  await resetDatabase(db);
  store = await createPostgresEventStore(db);
});

/** A reactor that records each event it reacts to, in order, optionally slowly or failing. */
const recorder = (type: string, behave: { fail?: (e: RecordedEvent, attempt: number) => boolean; slowMs?: number } = {}) => {
  const seen: string[] = [];
  const attempts = new Map<string, number>();
  const reactor: Reactor = {
    name: uniqueName('reactor-'),
    handles: [{ exact: type }],
    async react(e) {
      const n = (attempts.get(e.id) ?? 0) + 1;
      attempts.set(e.id, n);
      if (behave.slowMs) await new Promise((r) => setTimeout(r, behave.slowMs));
      if (behave.fail?.(e, n)) throw new Error(`reaction to ${e.id} failed (attempt ${n})`);
      seen.push(e.id);
    },
  };
  return { reactor, seen, attempts };
};

const runner = (reactors: Reactor[], projections: { waitFor(position: Position, timeoutMs: number): Promise<boolean> } = caughtUp): ReactorRunner =>
  createReactorRunner({ store, db, projections, reactors, log, retryMs: 10 });

const append = async (type: string, n: number): Promise<{ ids: string[]; last: Position }> => {
  const events = Array.from({ length: n }, () => newEvent(type));
  const r = await store.append(uniqueName('s-'), events, 'no_stream');
  await store.append(uniqueName('noise-'), [newEvent('other.thing')], 'no_stream');
  return { ids: events.map((e) => e.id), last: r.position };
};

test('reacts to each handled event once, in log order, and waitFor resolves once it has passed a position', async () => {
  const type = `${uniqueName('t')}.happen`;
  const r = recorder(type);
  const a = runner([r.reactor]);
  await a.start();
  const first = await append(type, 3);
  const second = await append(type, 2);
  assert.ok(await a.waitFor(second.last, 10_000));
  assert.equal(r.seen, [...first.ids, ...second.ids]);
  assert.is(await a.waitFor('\uffff', 50), false, 'a position past the log is not reached');
  await a.stop();
});

test('two runners on the same reactor and table act once per event in total', async () => {
  const type = `${uniqueName('t')}.happen`;
  const shared = recorder(type, { slowMs: 5 });
  const a = runner([shared.reactor]);
  const b = runner([shared.reactor]);
  await Promise.all([a.start(), b.start()]);
  const appended: string[] = [];
  let last = '';
  for (let i = 0; i < 5; i++) {
    const r = await append(type, 4);
    appended.push(...r.ids);
    last = r.last;
  }
  assert.ok(await a.waitFor(last, 20_000));
  assert.ok(await b.waitFor(last, 20_000));
  await Promise.all([a.stop(), b.stop()]);
  assert.equal(shared.seen, appended, 'each event once, in order');
  assert.ok([...shared.attempts.values()].every((n) => n === 1));
});

test('a runner stopped mid-way and restarted continues from its checkpoint without skipping or repeating', async () => {
  const type = `${uniqueName('t')}.happen`;
  const r = recorder(type, { slowMs: 2 });
  const { ids, last } = await append(type, 30);
  const first = runner([r.reactor]);
  await first.start();
  const deadline = Date.now() + 10_000;
  while (r.seen.length < 5 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 5));
  await first.stop();
  assert.ok(r.seen.length >= 5 && r.seen.length < 30, `stopped after ${r.seen.length}`);
  const more = await append(type, 3);
  const second = runner([r.reactor]);
  await second.start();
  assert.ok(await second.waitFor(more.last, 10_000));
  await second.stop();
  assert.ok(last < more.last);
  assert.equal(r.seen, [...ids, ...more.ids]);
});

test('a reaction that throws is retried on the same event, logged, and the events after it wait', async () => {
  const type = `${uniqueName('t')}.happen`;
  const r = recorder(type, { fail: (_e, attempt) => attempt < 3 });
  const before = errors.length;
  const { ids, last } = await append(type, 2);
  const a = runner([r.reactor]);
  await a.start();
  assert.ok(await a.waitFor(last, 10_000));
  await a.stop();
  assert.equal(r.seen, ids);
  assert.equal([...r.attempts.values()], [3, 3]);
  assert.is(errors.length - before, 4, 'each failed attempt is logged');
});

test('an event is reacted to only once the projections have passed it', async () => {
  const type = `${uniqueName('t')}.happen`;
  const r = recorder(type);
  let projected: Position = '';
  let release!: () => void;
  const released = new Promise<void>((res) => (release = res));
  const projections = {
    async waitFor(position: Position) {
      await released;
      return projected >= position;
    },
  };
  const a = runner([r.reactor], projections);
  await a.start();
  const { ids, last } = await append(type, 1);
  assert.is(await a.waitFor(last, 100), false);
  assert.equal(r.seen, []);
  projected = last;
  release();
  assert.ok(await a.waitFor(last, 10_000));
  assert.equal(r.seen, ids);
  await a.stop();
});

test('refused attempts recorded under a handled action are not reacted to', async () => {
  const type = `${uniqueName('t')}.happen`;
  const r = recorder(type);
  const refused = { ...newEvent(type), metadata: { ...newEvent(type).metadata, success: false } };
  const res = await store.append(uniqueName('refusal-'), [refused], 'no_stream');
  const a = runner([r.reactor]);
  await a.start();
  assert.ok(await a.waitFor(res.position, 10_000));
  await a.stop();
  assert.equal(r.seen, []);
});

test.run();
