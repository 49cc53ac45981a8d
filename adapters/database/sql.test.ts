import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { GyreError } from '../../domain/errors.ts';
import { freePort } from '../../test/support/ports.ts';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, typedDatabaseError } from './sql.ts';

const test = suite('adapters/database/sql');

const failure = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: unknown) => e,
  );

test('a PostgreSQL server that does not answer is DATABASE_UNAVAILABLE (503), for queries and transactions alike', async () => {
  // nothing listens on a port that was free a moment ago
  const db = openDatabase({ url: `postgres://gyre@127.0.0.1:${await freePort()}/gyre` });
  try {
    for (const e of [await failure(db.raw('select 1')), await failure(db.transaction((trx) => trx.raw('select 1')))]) {
      assert.instance(e, GyreError);
      assert.is((e as GyreError).code, 'DATABASE_UNAVAILABLE');
      assert.is((e as GyreError).status, 503);
      assert.is(((e as Error).cause as { code?: string }).code, 'ECONNREFUSED');
    }
  } finally {
    await db.destroy();
  }
});

test("a query's own fault keeps the driver's error", async () => {
  const db = openDatabase({});
  try {
    const e = await failure(db.transaction((trx) => trx.raw('select 1/0')));
    assert.not.instance(e, GyreError);
    assert.is((e as { code?: string }).code, '22012');
  } finally {
    await db.destroy();
  }
});

test('SQLSTATE 53100 is DATABASE_DISK_FULL (507); a server shutting down is DATABASE_UNAVAILABLE', () => {
  const full = typedDatabaseError(Object.assign(new Error('could not extend file "base/5/16394": No space left on device'), { code: '53100' }));
  assert.equal([(full as GyreError).code, (full as GyreError).status], ['DATABASE_DISK_FULL', 507]);
  const shutdown = typedDatabaseError(Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }));
  assert.equal([(shutdown as GyreError).code, (shutdown as GyreError).status], ['DATABASE_UNAVAILABLE', 503]);
  const terminated = typedDatabaseError(new Error('Connection terminated unexpectedly'));
  assert.is((terminated as GyreError).code, 'DATABASE_UNAVAILABLE');
  // as knex passes it on: the statement, then the driver's message
  const fromKnex = typedDatabaseError(new Error('select * from "users_v2" where "id" = $1 - Connection terminated unexpectedly'));
  assert.is((fromKnex as GyreError).code, 'DATABASE_UNAVAILABLE');
  const unique = Object.assign(new Error('duplicate key value violates unique constraint'), { code: '23505' });
  assert.is(typedDatabaseError(unique), unique);
});

test('a new embedded database is copied from the seed setup made (no initdb in this process), and holds data across opens', async () => {
  const root = mkdtempSync(join(tmpdir(), 'gyre-seed-'));
  const dataDir = join(root, 'pglite');
  try {
    const db = openDatabase({ dataDir });
    // initdb would write the directory only once the engine has started; the seed is there at once
    assert.ok(existsSync(join(dataDir, 'PG_VERSION')), 'PG_VERSION right after opening: the seed was copied (run node scripts/setup.mjs to make it)');
    assert.equal(readdirSync(root), ['pglite'], 'no half copy left beside it');
    await db.raw('create table kept (x int)');
    await db.raw('insert into kept values (42)');
    await db.destroy();
    const again = openDatabase({ dataDir });
    assert.equal((await again.raw('select x from kept')).rows, [{ x: 42 }]);
    await again.destroy();
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test.run();
