import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { openDatabase, type Database } from '../adapters/database/sql.ts';
import { createPostgresEventStore } from '../adapters/eventstore/postgres.ts';
import { resetDatabase, testDatabase, testDatabaseUrl } from '../test/support/database.ts';
import { newEvent, uniqueName } from '../test/support/events.ts';

const test = suite('projections/runner killed with SIGKILL');
const child = resolve(import.meta.dirname, '..', 'test', 'support', 'runner-process.ts');

const runChild = (name: string, where: string, untilCaughtUp = false) => {
  const p = spawn(process.execPath, ['--import', 'tsx', child, name, where, ...(untilCaughtUp ? ['--until-caught-up'] : [])], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let said = '';
  const heard: Array<{ until: (s: string) => boolean; then: () => void }> = [];
  p.stdout!.on('data', (d) => {
    said += String(d);
    for (const h of heard.filter((x) => x.until(said))) {
      heard.splice(heard.indexOf(h), 1);
      h.then();
    }
  });
  /** Resolves once the child has begun applying its `n`th batch: batch n-1 has committed. */
  const exited = new Promise<number | null>((r) => p.on('exit', (code, signal) => r(signal ? -1 : code)));
  const beganBatch = (n: number) =>
    Promise.race([
      new Promise<void>((then) => heard.push({ until: (s) => s.includes(`batch ${n}\n`), then })),
      exited.then((code) => Promise.reject(new Error(`the runner exited (${code}) before its batch ${n}`))),
    ]);
  return { p, beganBatch, exited };
};

/**
 * Seeds events, then starts a runner that applies them slowly and SIGKILLs it several times, each
 * time inside a batch's transaction after an earlier batch committed, then lets one run to the end.
 */
const killAndCheck = async (open: () => Database, where: string, exclusive: boolean) => {
  const name = uniqueName('killed');
  let db = open();
  const store = await createPostgresEventStore(db);
  const ids: string[] = [];
  for (let i = 0; i < 40; i++) {
    const events = Array.from({ length: 10 }, () => newEvent(`${name}.happened`));
    ids.push(...events.map((e) => e.id));
    await store.append(uniqueName('s-'), events, 'no_stream');
  }
  // PGlite is one process's database: let go of it while the child has it
  if (exclusive) await db.destroy();
  let kills = 0;
  for (let round = 0; round < 5; round++) {
    const c = runChild(name, where);
    await c.beganBatch(2 + round);
    c.p.kill('SIGKILL');
    assert.is(await c.exited, -1);
    kills++;
  }
  // the kills landed while there was work: some events applied, some not yet
  if (exclusive) db = open();
  const [{ count: midway }] = (await db(`${name}_v1`).count('* as count')) as [{ count: string | number }];
  if (exclusive) await db.destroy();
  assert.ok(Number(midway) > 0 && Number(midway) < ids.length, `${midway} of ${ids.length} applied when the last kill landed`);
  const last = runChild(name, where, true);
  assert.is(await last.exited, 0, 'the last runner caught up and stopped');
  if (exclusive) db = open();
  const rows = (await db(`${name}_v1`).select('event_id', 'applied')) as Array<{ event_id: string; applied: number }>;
  if (exclusive) await db.destroy();
  assert.is(kills, 5);
  assert.equal(rows.map((r) => r.event_id).sort(), [...ids].sort(), 'an event was skipped');
  assert.ok(
    rows.every((r) => r.applied === 1),
    'an event was applied twice',
  );
};

if (testDatabaseUrl()) {
  test('on PostgreSQL: no event applied twice or skipped', async () => {
    await resetDatabase();
    await killAndCheck(() => testDatabase(), testDatabaseUrl()!, false);
  });
} else {
  const dir = mkdtempSync(join(tmpdir(), 'gyre-kill-'));
  test.after(() => rmSync(dir, { recursive: true, force: true }));
  test('on an embedded PGlite directory: no event applied twice or skipped', async () => {
    await killAndCheck(() => openDatabase({ dataDir: dir }), dir, true);
  });
}

test.run();
