import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { GyreError } from '../../domain/errors.ts';
import { openDatabase, type Database } from './sql.ts';

const test = suite('named prepared statements on PGlite');
let db: Database;

test.before(async () => {
  db = openDatabase({});
  await db.raw('create table kept (id int primary key, tag text not null, body jsonb, note text)');
});
test.after(async () => {
  await db.destroy();
});

const insert = `insert into kept (id, tag, body, note) select * from unnest(?::int[], ?::text[], ?::jsonb[], ?::text[]) returning id, tag, body, note`;
const named = (sql: string, bindings: unknown[], name = 'kept_insert') => db.raw(sql, bindings as never).options({ name });

test('a named statement is parsed once, then bound and executed, with the values query() would send and the rows it would answer', async () => {
  const first = await named(insert, [
    [1, 2],
    ['a', 'b,"c"'],
    [JSON.stringify({ x: 1 }), JSON.stringify([1, 'two'])],
    ['one', null],
  ]);
  // the same text with another number of rows: one statement serves any size
  const second = await named(insert, [[3], ["it's"], [null], ['three']]);
  assert.equal(first.rows, [
    { id: 1, tag: 'a', body: { x: 1 }, note: 'one' },
    { id: 2, tag: 'b,"c"', body: [1, 'two'], note: null },
  ]);
  assert.equal(second.rows, [{ id: 3, tag: "it's", body: null, note: 'three' }]);
  const read = 'select id, tag, body, note, ?::text[] as list, ?::bigint as big from kept where id = any(?::int[]) order by id';
  const plain = await db.raw(read, [['x', null, 'y z'], '9007199254740993', [1, 2]] as never);
  const again = await named(read, [['x', null, 'y z'], '9007199254740993', [1, 2]], 'kept_one');
  assert.is(again.rows.length, 2);
  assert.equal(again.rows, plain.rows);
  const statements = await db.raw(`select name from pg_prepared_statements order by name`);
  assert.equal(
    statements.rows.map((r: { name: string }) => r.name),
    ['kept_insert', 'kept_one'],
  );
});

test("a statement's failure is the database's error, and the connection and the statement go on working", async () => {
  const error = await named(insert, [[1], ['dup'], [null], [null]]).then(
    () => null,
    (e: unknown) => e,
  );
  assert.not.instance(error, GyreError);
  assert.is((error as { code?: string }).code, '23505');
  const next = await named(insert, [[4], ['ok'], [null], [null]]);
  assert.equal(
    next.rows.map((r: { id: number }) => r.id),
    [4],
  );
  const inside = await db.transaction(async (trx) => (await trx.raw('select id from kept where id = ?', [4]).options({ name: 'kept_id' })).rows);
  assert.equal(inside, [{ id: 4 }]);
});

test('a name keeps its first text', async () => {
  const error = await named('select 1 as one', [], 'kept_insert').then(
    () => null,
    (e: unknown) => e as Error,
  );
  assert.match(String(error?.message), /"kept_insert" was given another text/);
});

test.run();
