import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { resetDatabase, testDatabase, testDatabaseKind } from '../../test/support/database.ts';
import { newEvent, uniqueName } from '../../test/support/events.ts';
import { WrongExpectedRevisionError } from './port.ts';
import { createPostgresEventStore, type PostgresEventStore } from './postgres.ts';

const test = suite(`group commit (${testDatabaseKind()})`);
let store: PostgresEventStore;

test.before(async () => {
  await resetDatabase(testDatabase());
  store = await createPostgresEventStore(testDatabase());
});
test.after(async () => {
  await store.close();
});

test('appends that arrive together are written together, and a conflict fails its own append alone', async () => {
  const db = testDatabase();
  let statements = 0;
  const count = () => statements++;
  db.on('query', count);
  const contested = uniqueName('contested-');
  await store.append(contested, [newEvent('g.first')], 'no_stream');
  const free = Array.from({ length: 64 }, () => uniqueName('free-'));
  const [freeResults, contestedResults] = await Promise.all([
    Promise.allSettled(free.map((s) => store.append(s, [newEvent('g.a'), newEvent('g.b')], 'no_stream'))),
    // eight appends expecting the same revision: one wins
    Promise.allSettled(Array.from({ length: 8 }, () => store.append(contested, [newEvent('g.next')], 0))),
  ]);
  db.off('query', count);
  assert.ok(freeResults.every((r) => r.status === 'fulfilled' && r.value.revision === 1));
  assert.is(contestedResults.filter((r) => r.status === 'fulfilled').length, 1);
  assert.ok(contestedResults.filter((r) => r.status === 'rejected').every((r) => (r as PromiseRejectedResult).reason instanceof WrongExpectedRevisionError));
  assert.is((await store.readStream(contested)).length, 2);
  for (const s of free) assert.equal((await store.readStream(s)).map((e) => e.type), ['g.a', 'g.b']);
  // 72 appends, and a look at the stream of each of the 7 that lost
  assert.ok(statements < 72, `${statements} statements for 72 appends`);
});

test('an append the database refuses fails alone; the others of its write are written', async () => {
  const taken = newEvent('g.dup');
  await store.append(uniqueName('dup-'), [taken], 'any');
  const others = Array.from({ length: 16 }, () => uniqueName('ok-'));
  const results = await Promise.allSettled([
    ...others.map((s) => store.append(s, [newEvent('g.ok')], 'any')),
    // the same event id again: a unique violation fails the whole statement it is in
    store.append(uniqueName('dup-'), [taken], 'any'),
    ...others.map((s) => store.append(s, [newEvent('g.ok2')], 'any')),
  ]);
  assert.is(results.filter((r) => r.status === 'rejected').length, 1);
  assert.is(results[16]!.status, 'rejected');
  for (const s of others) assert.equal((await store.readStream(s)).map((e) => e.type), ['g.ok', 'g.ok2']);
});

test.run();
