import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { openDatabase, isEmbedded } from '../database/sql.ts';
import { resetDatabase, testDatabase, testDatabaseKind, testDatabaseUrl } from '../../test/support/database.ts';
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
  for (const s of free)
    assert.equal(
      (await store.readStream(s)).map((e) => e.type),
      ['g.a', 'g.b'],
    );
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
  for (const s of others)
    assert.equal(
      (await store.readStream(s)).map((e) => e.type),
      ['g.ok', 'g.ok2'],
    );
});

test('one write holds appends of every kind of expected revision, each checked on its own', async () => {
  const db = testDatabase();
  const s = (name: string) => uniqueName(`${name}-`);
  const [taken, existing, anyOld, exactOk, exactStale] = [s('taken'), s('existing'), s('any-old'), s('exact-ok'), s('exact-stale')];
  for (const stream of [taken, existing, anyOld, exactOk, exactStale]) await store.append(stream, [newEvent('k.first'), newEvent('k.second')], 'no_stream');
  const [fresh, missing, anyNew] = [s('fresh'), s('missing'), s('any-new')];
  let statements = 0;
  const count = () => statements++;
  db.on('query', count);
  // the first append is written at once, alone; the eight that arrive meanwhile go together in the next write
  const first = store.append(s('first'), [newEvent('k.one')], 'no_stream');
  const outcomes = await Promise.allSettled([
    store.append(fresh, [newEvent('k.a'), newEvent('k.b'), newEvent('k.c')], 'no_stream'),
    store.append(taken, [newEvent('k.x')], 'no_stream'),
    store.append(missing, [newEvent('k.x')], 'exists'),
    store.append(existing, [newEvent('k.a')], 'exists'),
    store.append(anyNew, [newEvent('k.a'), newEvent('k.b')], 'any'),
    store.append(anyOld, [newEvent('k.a')], 'any'),
    store.append(exactOk, [newEvent('k.a'), newEvent('k.b')], 1),
    store.append(exactStale, [newEvent('k.x')], 0),
  ]);
  await first;
  db.off('query', count);
  const revisions = outcomes.map((o) => (o.status === 'fulfilled' ? o.value.revision : (o.reason as Error).constructor.name));
  assert.equal(revisions, [2, 'WrongExpectedRevisionError', 'WrongExpectedRevisionError', 2, 1, 2, 3, 'WrongExpectedRevisionError']);
  // two writes, and a look at the stream of each of the three refused
  assert.is(statements, 5);
  assert.equal(
    (await store.readStream(fresh)).map((e) => [e.type, e.revision]),
    [
      ['k.a', 0],
      ['k.b', 1],
      ['k.c', 2],
    ],
  );
  assert.equal(
    (await store.readStream(exactOk)).map((e) => e.revision),
    [0, 1, 2, 3],
  );
  for (const stream of [taken, exactStale]) assert.is((await store.readStream(stream)).length, 2);
  assert.is((await store.readStream(missing)).length, 0);
  // positions follow the write's order: streams in order, each stream's events in order
  const written = (await Promise.all([fresh, existing, anyNew, anyOld, exactOk].map((x) => store.readStream(x)))).map((events) =>
    events.filter((e) => e.type !== 'k.first' && e.type !== 'k.second'),
  );
  for (const events of written)
    assert.equal(
      events.map((e) => e.position),
      [...events.map((e) => e.position)].sort(),
    );
});

test('the hot statements are prepared once per connection and serve writes of any size', async () => {
  // one connection, so that the statements it holds are the ones this store prepared (PGlite has only one)
  const one = isEmbedded(testDatabase()) ? testDatabase() : openDatabase({ url: testDatabaseUrl(), poolMax: 1 });
  const single = await createPostgresEventStore(one);
  const follower = new AbortController();
  const last = newEvent('p.last');
  let sawLast = () => {};
  const lastSeen = new Promise<void>((resolve) => (sawLast = resolve));
  const following = (async () => {
    for await (const page of single.subscribe('end', { signal: follower.signal })) if (page.events.some((e) => e.id === last.id)) sawLast();
  })();
  const stream = uniqueName('prepared-');
  await single.append(stream, [newEvent('p.one')], 'no_stream');
  await Promise.all(Array.from({ length: 10 }, (_, i) => single.append(uniqueName('many-'), [newEvent(`p.${i}`)], 'no_stream')));
  await single.append(stream, [newEvent('p.two'), last], 0);
  await single.readStream(stream);
  await single.readLast(stream);
  await Promise.race([
    lastSeen,
    new Promise((_, reject) => setTimeout(() => reject(new Error('the follower did not see the last append within 10 s')), 10_000).unref()),
  ]);
  const prepared = (await one.raw(`select name, statement from pg_prepared_statements where name like 'gyre\\_%' order by name`)).rows as Array<{
    name: string;
    statement: string;
  }>;
  for (const name of ['gyre_append', 'gyre_horizon', 'gyre_read_last', 'gyre_read_log', 'gyre_read_stream']) {
    assert.ok(
      prepared.some((p) => p.name === name),
      `${name} is not among the prepared statements (${prepared.map((p) => p.name).join(', ')})`,
    );
  }
  follower.abort();
  await following;
  await single.close();
  if (one !== testDatabase()) await one.destroy();
});

test.run();
