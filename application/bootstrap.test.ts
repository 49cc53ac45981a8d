import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resetDatabase, testDatabase } from '../test/support/database.ts';
import { createGyre, type Gyre } from '../api/app.ts';
import { adminTokenFile } from './bootstrap.ts';
import { loadConfig } from '../api/config.ts';

const test = suite('application/bootstrap');
const dirs: string[] = [];
const gyres: Gyre[] = [];
const start = async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gyre-boot-'));
  dirs.push(dir);
  const g = await createGyre(loadConfig({ GYRE_DATA_DIR: dir, GYRE_LOG_LEVEL: 'silent' }), { db: testDatabase(), logger: false });
  gyres.push(g);
  return { g, dir };
};
test.after(async () => {
  for (const g of gyres) await g.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test('two processes starting together create one admin, and only the winner writes a token', async () => {
  await resetDatabase();
  const [a, b] = [await start(), await start()];
  const results = await Promise.all([a.g.bootstrap(), b.g.bootstrap()]);
  const winners = results.filter((r) => r !== null);
  assert.is(winners.length, 1);
  const admins = await testDatabase()('users_v2').where({ is_admin: true });
  assert.is(admins.length, 1);
  const files = [a.dir, b.dir].filter((d) => existsSync(adminTokenFile(d)));
  assert.is(files.length, 1);
  assert.is(readFileSync(adminTokenFile(files[0]!), 'utf8').trim(), winners[0]!.token);
  assert.ok(
    [a.dir, b.dir].every((d) => !existsSync(`${adminTokenFile(d)}.pending`)),
    'the loser left a pending token',
  );
});

test('a token left pending by a crash after the append is put in place on the next start', async () => {
  const c = await start();
  writeFileSync(`${adminTokenFile(c.dir)}.pending`, 'gyre_left_by_a_crash\n', { mode: 0o600 });
  assert.is(await c.g.bootstrap(), null);
  assert.is(readFileSync(adminTokenFile(c.dir), 'utf8').trim(), 'gyre_left_by_a_crash');
});

test.run();
