import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createPostgresEventStore } from '../adapters/eventstore/postgres.ts';
import type { EventStore } from '../adapters/eventstore/port.ts';
import { resetDatabase, testDatabase } from '../test/support/database.ts';
import { newEvent } from '../test/support/events.ts';
import { defineProjection } from './projection.ts';
import { createProjectionRebuilds, type ProjectionRebuilds } from './rebuild.ts';
import { createProjectionRunner, type ProjectionRunner } from './runner.ts';

const test = suite('projections/rebuild: a rebuild that fails leaves the live read model as it was');

/** A small read model whose apply fails on an event marked `poison`, but only while `poisoned` says so. */
let poisoned = false;
const items = defineProjection({
  name: 'items',
  version: 1,
  handles: [{ prefix: 'item.' }],
  tables: ['items'],
  async migrate(db, t) {
    await db.raw(`create table if not exists ${t.items} (id text primary key, n int not null check (n >= 0))`);
    await db.raw(`create index if not exists ${t.items}_n on ${t.items} (n)`);
  },
  async apply(events, trx, t) {
    for (const e of events) {
      if (poisoned && (e.data as { poison?: boolean }).poison) throw new Error('cannot apply the poisoned item');
      await trx(t.items).insert({ id: (e.data as { id: string }).id, n: (e.data as { n: number }).n });
    }
  },
});

let store: EventStore;
let runner: ProjectionRunner;
let rebuilds: ProjectionRebuilds;
const db = () => testDatabase();

test.before(async () => {
  await resetDatabase();
  store = await createPostgresEventStore(db());
  runner = createProjectionRunner({ store, db: db(), projections: [items] });
  rebuilds = createProjectionRebuilds({ db: db(), store, runner, projections: [items], pageSize: 3 });
  await runner.start();
  const written = await store.append(
    'items',
    [1, 2, 3, 4, 5].map((n) => newEvent('item.add', { id: `i${n}`, n, poison: n === 4 })),
    'no_stream',
  );
  assert.ok(await runner.waitFor(written.position, 5000));
});
test.after(async () => {
  await rebuilds.stop();
  await runner.stop();
  await store.close();
});

const rowsOf = async () => (await db()(items.tables.items).orderBy('id').select('*')) as Array<{ id: string; n: number }>;

test('the failure is reported, the shadow and the lease are gone, the live table and its checkpoint are as they were, and it keeps following the log', async () => {
  const before = await rowsOf();
  const checkpoint = await db()('projection_checkpoints').where({ name: 'items' }).first('position');
  poisoned = true;
  try {
    const { id } = await rebuilds.start(['items']);
    await rebuilds.settled(id);
    const status = (await rebuilds.status(id))!;
    assert.is(status.state, 'failed');
    assert.is(status.error, 'cannot apply the poisoned item');
    assert.is(status.readModels[0]!.state, 'failed');
  } finally {
    poisoned = false;
  }
  assert.equal(await rowsOf(), before);
  assert.equal(await db()('projection_checkpoints').where({ name: 'items' }).first('position'), checkpoint);
  const shadows = await db().raw(`select table_name from information_schema.tables where table_schema = current_schema() and table_name like 'rebuild\\_%'`);
  assert.equal(shadows.rows, []);
  assert.equal(await db()('projection_rebuild_leases').select('*'), []);
  const more = await store.append('items', [newEvent('item.add', { id: 'i6', n: 6 })], 'any');
  assert.ok(await runner.waitFor(more.position, 5000));
  assert.is((await rowsOf()).length, 6);
});

test('rebuilt again without the fault, it is swapped in with the same rows, index and constraint names', async () => {
  const names = async () =>
    (
      await db().raw(
        `select conname as n from pg_constraint where conrelid = ?::regclass union all select indexname from pg_indexes where tablename = ? order by 1`,
        [items.tables.items, items.tables.items],
      )
    ).rows.map((r: { n: string }) => r.n);
  const [rows, before] = [await rowsOf(), await names()];
  // (PostgreSQL 18 names NOT NULL constraints too: items_v1_id_not_null)
  for (const n of ['items_v1_n', 'items_v1_n_check', 'items_v1_pkey']) assert.ok(before.includes(n), `${n} in ${before}`);
  const { id } = await rebuilds.start(['items']);
  await rebuilds.settled(id);
  const status = (await rebuilds.status(id))!;
  assert.is(status.state, 'done', status.error ?? '');
  assert.is(status.readModels[0]!.eventsApplied, 6);
  assert.equal(await rowsOf(), rows);
  assert.equal(await names(), before);
  // the live loop goes on from the swapped-in checkpoint, into the swapped-in table
  const more = await store.append('items', [newEvent('item.add', { id: 'i7', n: 7 })], 'any');
  assert.ok(await runner.waitFor(more.position, 5000));
  assert.is((await rowsOf()).length, 7);
});

test.run();
