import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { openDatabase, type Database } from '../database/sql.ts';
import type { RecordedEvent } from '../../domain/events/envelope.ts';
import { resetDatabase, testDatabase, testDatabaseKind, testDatabaseUrl } from '../../test/support/database.ts';
import { newEvent, sleep, uniqueName } from '../../test/support/events.ts';
import type { EventFilter, EventStore } from './port.ts';
import { createLogTail } from './log-tail.ts';
import { createPostgresEventStore, type PostgresEventStore } from './postgres.ts';

const test = suite(`one tail of the log per store (${testDatabaseKind()})`);

/** A follower that keeps what it is given, and says when it holds an event. */
const follow = (store: EventStore, from: string | 'end', filter: EventFilter = {}) => {
  const controller = new AbortController();
  const got: RecordedEvent[] = [];
  let notify = () => {};
  const done = (async () => {
    for await (const page of store.subscribe(from, { filter, signal: controller.signal, limit: 50 })) {
      got.push(...page.events);
      notify();
    }
  })();
  const holds = (id: string, ms = 10_000) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no event ${id} within ${ms} ms`)), ms);
      const check = () => {
        if (!got.some((e) => e.id === id)) return;
        clearTimeout(timer);
        resolve();
      };
      const before = notify;
      notify = () => {
        before();
        check();
      };
      check();
    });
  const stop = () => {
    controller.abort();
    return done;
  };
  return { got, holds, stop };
};

/** Counts the statements a database connection pool sends. */
const counting = (db: Database) => {
  let n = 0;
  db.on('query', () => n++);
  return { get: () => n, reset: () => (n = 0) };
};

let db: Database;
const opened: Database[] = [];
/** A second pool on the same database: another process, as far as PostgreSQL can tell. */
const anotherPool = (): Database => {
  const other = openDatabase({ url: testDatabaseUrl(), poolMax: 4 });
  opened.push(other);
  return other;
};

test.before(async () => {
  await resetDatabase(testDatabase());
});
test.after(async () => {
  for (const d of opened) await d.destroy();
});

test('twenty followers share one read of the log per append, and nothing is read while nothing happens', async () => {
  db = testDatabaseUrl() ? anotherPool() : testDatabase();
  const store = await createPostgresEventStore(db);
  const followers = Array.from({ length: 20 }, (_, i) => follow(store, 'end', i % 2 ? { types: [{ prefix: 'tail.' }] } : {}));
  const warm = newEvent('tail.warm');
  await store.append(uniqueName('s-'), [warm], 'any');
  await Promise.all(followers.map((f) => f.holds(warm.id)));

  const statements = counting(db);
  const e = newEvent('tail.one');
  await store.append(uniqueName('s-'), [e], 'any');
  await Promise.all(followers.map((f) => f.holds(e.id)));
  // the append, then one look at the log (its horizon, its rows and whether anything is held back, in
  // one statement); on PostgreSQL a write transaction open elsewhere in the cluster may hold the
  // horizon back for a few more looks
  if (testDatabaseUrl()) assert.ok(statements.get() <= 10, `${statements.get()} statements for one append and twenty followers`);
  else assert.is(statements.get(), 2, 'statements for one append and twenty followers');

  // idle: windows of time with nothing appended, not a wait for something. On PostgreSQL a
  // notification of this store's own appends can still be on its way, so the tail must fall quiet
  // within a few windows; a tail that polls while idle sends statements in every one.
  const windows = testDatabaseUrl() ? 10 : 1;
  const sent: number[] = [];
  for (let i = 0; i < windows && sent.at(-1) !== 0; i++) {
    statements.reset();
    await sleep(300);
    sent.push(statements.get());
  }
  assert.is(sent.at(-1), 0, `statements sent while nothing was appended, window by window: ${sent.join(', ')}`);
  for (const f of followers) {
    assert.is(f.got.filter((x) => x.id === e.id).length, 1);
    await f.stop();
  }
  await store.close();
});

test('a follower behind what the tail keeps catches up from the store, in order and once, then follows live', async () => {
  db = testDatabaseUrl() ? anotherPool() : testDatabase();
  const store = await createPostgresEventStore(db, { tail: { retainEvents: 5, pageSize: 7 } });
  const live = follow(store, 'end');
  const from = await store.head();
  const appended: string[] = [];
  for (let i = 0; i < 12; i++) {
    const events = [newEvent('late.a'), newEvent('late.b'), newEvent('late.c')];
    appended.push(...events.filter((x) => x.type !== 'late.b').map((x) => x.id));
    await store.append(uniqueName('s-'), events, 'any');
  }
  await live.holds(appended.at(-1)!);
  const late = follow(store, from, { types: [{ exact: 'late.a' }, { exact: 'late.c' }] });
  await late.holds(appended.at(-1)!);
  const next = newEvent('late.a');
  await store.append(uniqueName('s-'), [next], 'any');
  await late.holds(next.id);
  assert.equal(
    late.got.map((x) => x.id),
    [...appended, next.id],
  );
  await live.stop();
  await late.stop();
  await store.close();
});

test('a tail whose database is away when it starts tries again, more slowly each time, then delivers', async () => {
  const e = { ...newEvent('away.one'), stream: 's', revision: 0, position: '2', occurredAt: new Date().toISOString() };
  let starts = 0;
  const back = Date.now() + 500;
  const tail = createLogTail({
    async start() {
      starts++;
      // an outage of half a second, not a count of failures: how often the tail tries is what is measured
      if (Date.now() < back) throw new Error('connection refused');
      return '1';
    },
    readAll: async (from) => (from < '2' ? { events: [e], next: '2', atEnd: true, heldBack: false } : { events: [], next: from, atEnd: true, heldBack: false }),
  });
  const controller = new AbortController();
  for await (const page of tail.subscribe('1', { signal: controller.signal })) {
    if (page.events.some((x) => x.id === e.id)) break;
  }
  // backoffs of 100, 200, 400 ms cover the outage in four tries; a loop without them tries thousands of times
  assert.ok(starts <= 5, `${starts} tries to start`);
  tail.close();
});

test('two stores on one database: an append through one reaches a follower of the other', async () => {
  const one = await createPostgresEventStore(testDatabase());
  const other = await createPostgresEventStore(testDatabase());
  const f = follow(other, 'end');
  const e = newEvent('neighbour.one');
  await one.append(uniqueName('s-'), [e], 'any');
  await f.holds(e.id);
  await f.stop();
  await one.close();
  await other.close();
});

if (testDatabaseUrl()) {
  test('appends of another process wake a follower through PostgreSQL, and still do after its LISTEN connection is cut', async () => {
    const here: PostgresEventStore = await createPostgresEventStore(anotherPool());
    const there = await createPostgresEventStore(anotherPool());
    const f = follow(here, 'end');
    const first = newEvent('elsewhere.one');
    await there.append(uniqueName('s-'), [first], 'any');
    await f.holds(first.id);

    const cut = await testDatabase().raw(
      `select pg_terminate_backend(pid) from pg_stat_activity where query = 'listen gyre_events' and pid <> pg_backend_pid()`,
    );
    assert.ok(cut.rows.length >= 1, 'no LISTEN connection to cut');
    const second = newEvent('elsewhere.two');
    await there.append(uniqueName('s-'), [second], 'any');
    await f.holds(second.id);
    assert.equal(
      f.got.map((x) => x.id),
      [first.id, second.id],
    );
    await f.stop();
    await here.close();
    await there.close();
  });
}

test.run();
