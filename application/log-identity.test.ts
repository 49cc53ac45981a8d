import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { connectEventStoreDb } from '../adapters/eventstore/eventstoredb.ts';
import { createPostgresEventStore } from '../adapters/eventstore/postgres.ts';
import { withSchemaLock } from '../adapters/database/sql.ts';
import { allProjections } from '../projections/all.ts';
import { resetDatabase, testDatabase } from '../test/support/database.ts';
import { type EventStoreDbStandIn, startEventStoreDbStandIn } from '../test/support/eventstoredb-standin.ts';
import { newEvent } from '../test/support/events.ts';
import { rejects } from '../test/support/rejects.ts';
import { ensureCheckpointTable } from '../projections/runner.ts';
import { ensureStatusOutboxTable, forgetStatusPositions } from '../workers/github-statuses.ts';
import { ensureReactorCheckpointTable, reactorPositions } from './reactor-checkpoints.ts';
import { copyEvents } from './events-copy.ts';
import { AnotherLogError, adoptLog, followLog, logIdentity } from './log-identity.ts';

/**
 * Which log a database's read models follow: the same log is left alone, a database that never named one adopts it,
 * and another log empties the read models and puts the reactors where a copy of the old log says they were.
 */
const test = suite('application/log-identity');
const standIns: EventStoreDbStandIn[] = [];
const opened: Array<{ close(): Promise<void> }> = [];
const sqlStore = async () => {
  const store = await createPostgresEventStore(db);
  opened.push(store);
  return store;
};
/** An empty EventStoreDB of its own for each test. */
const emptyEventStoreDb = async () => {
  const standIn = await startEventStoreDbStandIn();
  standIns.push(standIn);
  const store = await connectEventStoreDb(standIn.url);
  opened.push(store);
  return store;
};
test.after(async () => {
  for (const s of opened) await s.close();
  for (const s of standIns) await s.stop();
});

const db = testDatabase();
const follow = (store: Parameters<typeof followLog>[0]['store']) =>
  followLog({ db, store, projections: allProjections, migrate: withSchemaLock, forgetPositions: [forgetStatusPositions] });

test('the reactors go on at the same events of the copy; the read models are emptied to be built again', async () => {
  await resetDatabase(db);
  const source = await sqlStore();
  const a = await source.append('one', [newEvent('system.settings.update'), newEvent('system.settings.update')], 'no_stream');
  const b = await source.append('two', [newEvent('system.settings.update')], 'no_stream');
  await source.append('one', [newEvent('system.settings.update')], 1);
  assert.equal(await follow(source), { changed: false }, 'a database that named no log adopts its own');
  await ensureReactorCheckpointTable(db);
  await ensureCheckpointTable(db);
  // where three reactors had got to: one in the middle of a run of one stream, one at the start, one at the end of a run
  await db('reactor_checkpoints').insert([
    { name: 'middle', position: a.events[1]!.position },
    { name: 'start', position: '' },
    { name: 'endOfRun', position: b.position },
  ]);
  await db('projection_checkpoints').insert({ name: 'users', version: 1, position: b.position }).onConflict(['name', 'version']).merge();
  // commit statuses owed and sent, by positions of the old log
  await ensureStatusOutboxTable(db);
  const status = { project_id: 'p', repository: 'o/r', follower_id: 'f', workflow_id: 'w', state: 'success', description: 'd', target_url: 'u' };
  await db('github_status_outbox').insert([
    { ...status, sha: 'sent', context: 'c', seq: b.position, sent_seq: b.position },
    { ...status, sha: 'owed', context: 'c', seq: b.position, sent_seq: a.position },
  ]);

  const target = await emptyEventStoreDb();
  const copied = await copyEvents({ source, target, db, from: 'embedded', pageSize: 2 });
  assert.is(copied.events, 4);
  const moved = await target.readAll('', { limit: 100 });
  assert.equal(
    moved.events.map((e) => [e.stream, e.revision, e.id]),
    [...(await source.readAll('', { limit: 100 })).events.map((e) => [e.stream, e.revision, e.id]), ['event-log', 0, moved.events[4]!.id]],
  );
  assert.is(moved.events[4]!.type, 'system.event_log.copy');
  assert.equal(
    moved.events.slice(0, 4).map((e) => e.occurredAt),
    (await source.readAll('', { limit: 100 })).events.map((e) => e.occurredAt),
    'each keeps the time its first log recorded it',
  );

  assert.equal(await follow(target), { changed: true, from: (await logIdentity(source))! });
  assert.equal(await reactorPositions(db), { middle: moved.events[1]!.position, endOfRun: moved.events[2]!.position });
  assert.is(
    await db('projection_checkpoints')
      .count({ n: '*' })
      .first()
      .then((r) => Number(r!.n)),
    0,
    'every read model starts again',
  );
  assert.not.ok(await db.schema.hasTable(allProjections[0]!.tables[Object.keys(allProjections[0]!.tables)[0]!]!), 'its tables are gone');
  assert.equal(
    await db('github_status_outbox').orderBy('sha').select('sha', 'seq', 'sent_seq'),
    [
      { sha: 'owed', seq: '', sent_seq: null },
      { sha: 'sent', seq: '', sent_seq: '' },
    ],
    'what was sent stays sent, what is owed stays owed, and any event of the new log is newer',
  );
  assert.equal(await follow(target), { changed: false }, 'and once is enough');
});

test('another log, or an empty one, not copied from the one followed, is refused and changes nothing', async () => {
  await resetDatabase(db);
  const other = await emptyEventStoreDb();
  await adoptLog(db, 'someone-else@00000000000000000001/00000000000000000001');
  await ensureReactorCheckpointTable(db);
  await db('reactor_checkpoints').insert({ name: 'middle', position: 'x' });
  await rejects(
    () => follow(other),
    (e) => e instanceof AnotherLogError && /the event log is empty/.test(String(e)),
  );
  await other.append('one', [newEvent('system.settings.update')], 'no_stream');
  await rejects(
    () => follow(other),
    (e) => e instanceof AnotherLogError && /no copy of it/.test(String(e)),
  );
  assert.equal(await reactorPositions(db), { middle: 'x' }, 'the reactors stay where they were');
  assert.is(await adoptLog(db, 'any'), 'someone-else@00000000000000000001/00000000000000000001');
});

test('a copy refuses a target that holds events of Gyre, and an installation with none', async () => {
  await resetDatabase(db);
  const source = await sqlStore();
  const target = await emptyEventStoreDb();
  await rejects(
    () => copyEvents({ source, target, db, from: 'embedded' }),
    (e) => /holds no events/.test(String(e)),
  );
  await source.append('one', [newEvent('system.settings.update')], 'no_stream');
  await target.append('elsewhere', [newEvent('system.settings.update')], 'no_stream');
  await rejects(
    () => copyEvents({ source, target, db, from: 'embedded' }),
    (e) => /already holds events of Gyre/.test(String(e)),
  );
});

test('a copy that stopped part-way goes on where it stopped, repeating nothing', async () => {
  await resetDatabase(db);
  const source = await sqlStore();
  for (let i = 0; i < 6; i++)
    await source.append(`s${i % 2}`, [newEvent('system.settings.update'), newEvent('system.settings.update')], i < 2 ? 'no_stream' : 2 * Math.floor(i / 2) - 1);
  await ensureReactorCheckpointTable(db);
  const events = (await source.readAll('', { limit: 100 })).events;
  await db('reactor_checkpoints').insert({ name: 'early', position: events[1]!.position });
  const target = await emptyEventStoreDb();
  let appends = 0;
  const failing = {
    ...target,
    append: async (...args: Parameters<typeof target.append>) => {
      if (++appends > 2) throw new Error('the connection went away');
      return target.append(...args);
    },
  };
  await rejects(
    () => copyEvents({ source, target: failing, db, from: 'embedded' }),
    (e) => /went away/.test(String(e)),
  );
  assert.is((await target.readAll('', { limit: 100 })).events.length, 4, 'two runs of two events went across');
  const copied = await copyEvents({ source, target, db, from: 'embedded' });
  assert.is(copied.events, 12);
  const moved = (await target.readAll('', { limit: 100 })).events;
  assert.equal(
    moved.slice(0, 12).map((e) => e.id),
    events.map((e) => e.id),
    'every event once, in order',
  );
  const record = await target.readLast('event-log');
  assert.equal((record!.data as { reactors: unknown }).reactors, { early: moved[1]!.position }, 'a reactor placed at an event copied the first time');
  await rejects(
    () => copyEvents({ source, target, db, from: 'embedded' }),
    (e) => /already holds events of Gyre/.test(String(e)),
    'a finished copy is not copied again',
  );
});

test.run();
