import { withSchemaLock } from '../adapters/database/sql.ts';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Knex } from 'knex';
import { createPostgresEventStore, type PostgresEventStore } from '../adapters/eventstore/postgres.ts';
import { resetDatabase, testDatabase } from '../test/support/database.ts';
import { newEvent, sleep, uniqueName } from '../test/support/events.ts';
import { auditLogProjection } from './audit-log.ts';
import { atVersion, type Projection } from './projection.ts';
import { ledgerProjection } from '../test/support/ledger.ts';
import { createProjectionRunner, type ProjectionRunner } from './runner.ts';

const test = suite('projections/runner');
let store: PostgresEventStore;
let db: Knex;

test.before(async () => {
  db = testDatabase();
  await resetDatabase(db);
  store = await createPostgresEventStore(db);
});

const ledger = (name: string, crash: { inside?: (batch: number) => boolean } = {}) => ledgerProjection(name, { crashInside: crash.inside });

const appendMany = async (type: string, n: number) => {
  const ids: string[] = [];
  for (let i = 0; i < n; i += 10) {
    const events = Array.from({ length: Math.min(10, n - i) }, () => newEvent(type));
    ids.push(...events.map((e) => e.id));
    await store.append(uniqueName('s-'), events, 'no_stream');
  }
  return ids;
};

const waitForRows = async (table: string, n: number, ms = 20_000) => {
  const deadline = Date.now() + ms;
  for (;;) {
    const [{ count }] = (await db(table).count('* as count')) as [{ count: string | number }];
    if (Number(count) >= n || Date.now() > deadline) return Number(count);
    await sleep(20);
  }
};

const applied = async (table: string) => (await db(table).select('event_id', 'applied')) as Array<{ event_id: string; applied: number }>;

test('a crash inside a batch rolls the batch back whole; the retry applies each event once', async () => {
  const name = uniqueName('crash');
  const errors: string[] = [];
  const p = ledger(name, { inside: (b) => b % 3 === 1 });
  const runner = createProjectionRunner({ store, db, migrate: withSchemaLock, projections: [p], batchSize: 7, onError: (_, e) => errors.push(String(e)) });
  await runner.start();
  const ids = await appendMany(`${name}.happened`, 60);
  assert.is(await waitForRows(p.tables.ledger, 60), 60);
  await runner.stop();
  const rows = await applied(p.tables.ledger);
  assert.ok(errors.length >= 2, `the projection crashed ${errors.length} times`);
  assert.equal(rows.map((r) => r.event_id).sort(), [...ids].sort());
  assert.ok(
    rows.every((r) => r.applied === 1),
    'an event was applied twice',
  );
});

test('runners killed between batches and restarted, and two runners racing, still apply each event once', async () => {
  const name = uniqueName('restart');
  const p = ledger(name);
  const ids: string[] = [];
  const writing = (async () => {
    for (let round = 0; round < 8; round++) {
      ids.push(...(await appendMany(`${name}.happened`, 25)));
      await sleep(5);
    }
  })();
  let runners: ProjectionRunner[] = [];
  for (let round = 0; round < 6; round++) {
    runners = [
      createProjectionRunner({ store, db, migrate: withSchemaLock, projections: [p], batchSize: 5 }),
      createProjectionRunner({ store, db, migrate: withSchemaLock, projections: [p], batchSize: 3 }),
    ];
    await Promise.all(runners.map((r) => r.start()));
    await sleep(30 + round * 5);
    await Promise.all(runners.map((r) => r.stop()));
  }
  await writing;
  const last = createProjectionRunner({ store, db, migrate: withSchemaLock, projections: [p] });
  await last.start();
  assert.is(await waitForRows(p.tables.ledger, ids.length), ids.length);
  await last.stop();
  const rows = await applied(p.tables.ledger);
  assert.equal(rows.map((r) => r.event_id).sort(), [...ids].sort());
  assert.ok(
    rows.every((r) => r.applied === 1),
    'an event was applied twice',
  );
});

test('a new projection version rebuilds from the start to the same tables as the live one', async () => {
  const live = createProjectionRunner({ store, db, migrate: withSchemaLock, projections: [auditLogProjection], batchSize: 50 });
  await live.start();
  await appendMany(`${uniqueName('audit')}.happened`, 120);
  const head = await store.head();
  assert.ok(await live.waitFor(head, 20_000), 'live projection caught up');
  const rebuilt: Projection = atVersion(auditLogProjection, auditLogProjection.version + 1);
  const rebuild = createProjectionRunner({ store, db, migrate: withSchemaLock, projections: [rebuilt], batchSize: 37 });
  await rebuild.start();
  assert.ok(await rebuild.waitFor(head, 20_000), 'rebuild caught up');
  await Promise.all([live.stop(), rebuild.stop()]);
  const dump = (table: string) =>
    db(table).select('position', 'id', 'action', 'actor_id', 'target_id', 'record').orderBy('position').where('position', '<', head);
  const [a, b] = [await dump(auditLogProjection.tables.audit_events), await dump(rebuilt.tables.audit_events!)];
  assert.ok(a.length >= 120);
  assert.equal(b, a);
});

test('waitFor resolves once the projections pass a position, and says false when time runs out', async () => {
  const name = uniqueName('wait');
  const p = ledger(name);
  const runner = createProjectionRunner({ store, db, migrate: withSchemaLock, projections: [p] });
  await runner.start();
  const r = await store.append(uniqueName('s-'), [newEvent(`${name}.happened`)], 'no_stream');
  assert.ok(await runner.waitFor(r.position, 5000));
  assert.is(await waitForRows(p.tables.ledger, 1, 0), 1, 'the read model holds the write once waitFor resolved');
  assert.is(await runner.waitFor('99999999999999999999/00000000000000000000', 50), false);
  const status = runner.status(r.position)[0]!;
  assert.is(status.name, name);
  assert.ok(status.caughtUp);
  await runner.stop();
});

test('a projection that has not reached the end of the log since start reports an unbounded lag', async () => {
  const name = uniqueName('gate');
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const base = ledgerProjection(name);
  const gated = {
    ...base,
    apply: async (...args: Parameters<typeof base.apply>) => {
      await gate;
      return base.apply(...args);
    },
  };
  await appendMany(`${name}.happened`, 5);
  const head = await store.head();
  const runner = createProjectionRunner({ store, db, migrate: withSchemaLock, projections: [gated] });
  await runner.start();
  await sleep(100);
  const [held] = runner.status(head);
  assert.is(held!.caughtUp, false);
  assert.is(held!.lagMs, Number.POSITIVE_INFINITY);
  open();
  assert.ok(await runner.waitFor(head, 5000));
  assert.equal(
    runner.status(head).map((s) => [s.caughtUp, s.lagMs]),
    [[true, 0]],
  );
  await runner.stop();
});

test.run();
