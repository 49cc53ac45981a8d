import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createPostgresEventStore } from '../adapters/eventstore/postgres.ts';
import type { EventStore } from '../adapters/eventstore/port.ts';
import { resetDatabase, testDatabase } from '../test/support/database.ts';
import { newEvent } from '../test/support/events.ts';
import { defineProjection } from './projection.ts';
import { createProjectionRunner, type ProjectionRunner } from './runner.ts';

const test = suite('projections/runner: pause and resume of one projection (what a rebuild swaps under)');

/** Two read models of the same events: `other` keeps running, so it is the signal that `paused` would have applied them. */
const named = (name: string) =>
  defineProjection({
    name,
    version: 1,
    handles: [{ prefix: 'mark.' }],
    tables: [`${name}_marks`],
    async migrate(db, t) {
      await db.raw(`create table if not exists ${Object.values(t)[0]} (id text primary key)`);
    },
    async apply(events, trx, t) {
      // a mark applied twice would break the primary key
      for (const e of events) await trx(Object.values(t)[0] as string).insert({ id: (e.data as { id: string }).id });
    },
  });
const paused = named('paused');
const other = named('other');
let store: EventStore;
let runner: ProjectionRunner;
const db = () => testDatabase();
const pausedTable = Object.values(paused.tables)[0] as string;
const marks = async () => (await db()(pausedTable).orderBy('id').pluck('id')) as string[];

test.before(async () => {
  await resetDatabase();
  store = await createPostgresEventStore(db());
  runner = createProjectionRunner({ store, db: db(), projections: [paused, other] });
  await runner.start();
});
test.after(async () => {
  await runner.stop();
  await store.close();
});

test('while paused nothing is applied to it, and resume lets it catch up', async () => {
  const live = await runner.pause('paused');
  const w = await store.append('marks', [newEvent('mark.set', { id: 'a' })], 'any');
  assert.ok(await runner.waitFor(w.position, 5000, ['other']), 'the other read model applied it');
  assert.equal(await marks(), []);
  assert.is(await runner.waitFor(w.position, 300, ['paused']), false);
  live.resume();
  assert.ok(await runner.waitFor(w.position, 5000, ['paused']));
  assert.equal(await marks(), ['a']);
});

test('a checkpoint moved while paused (a swap) is where it goes on from: what lies before it is not applied again', async () => {
  const live = await runner.pause('paused');
  const w = await store.append('marks', [newEvent('mark.set', { id: 'b' })], 'any');
  assert.ok(await runner.waitFor(w.position, 5000, ['other']));
  // what a swap does in its transaction: the table holds the event, the checkpoint is past it
  await db().transaction(async (trx) => {
    await trx(pausedTable).insert({ id: 'b' });
    await trx('projection_checkpoints').where({ name: 'paused', version: 1 }).update({ position: w.position });
  });
  live.resume(w.position);
  // callers waiting for what the swap holds are done at once
  assert.ok(await runner.waitFor(w.position, 100, ['paused']));
  const next = await store.append('marks', [newEvent('mark.set', { id: 'c' })], 'any');
  assert.ok(await runner.waitFor(next.position, 5000, ['paused']));
  assert.equal(await marks(), ['a', 'b', 'c']);
  assert.ok(
    runner.status(next.position).every((s) => s.error === null),
    JSON.stringify(runner.status(next.position)),
  );
});

test('an unknown name, or a projection paused twice, is an error', async () => {
  try {
    await runner.pause('nope');
    assert.unreachable();
  } catch (e) {
    assert.match(String(e), /no projection named nope/);
  }
  const live = await runner.pause('paused');
  try {
    await runner.pause('paused');
    assert.unreachable();
  } catch (e) {
    assert.match(String(e), /paused already/);
  } finally {
    live.resume();
  }
});

test.run();
