import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../../adapters/database/sql.ts';
import { createPostgresEventStore } from '../../adapters/eventstore/postgres.ts';
import { compareWithRebuild } from '../support/rebuild-compare.ts';
import { acknowledged, checkLog, startLoad, summary } from './command-load.ts';
import { caughtUp, startGyre, waitForReadiness, type GyreProcess } from './gyre-process.ts';
import { startPostgres, type PostgresServer } from './postgres-server.ts';

const test = suite('faults: gyre serve killed with SIGKILL under load');

const clients = 16;

let postgres: PostgresServer | undefined;
test.after(async () => postgres?.dispose());

/**
 * Gyre under load is killed (no shutdown of any kind), started again on the same data, and takes
 * more load; then, the server stopped, the log and the read models are read with SQL.
 */
/**
 * `killAt`: the kill comes once this many commands were acknowledged, mid-way through twice as many,
 * whatever the machine's speed; `afterRestart`: commands sent once it is up again.
 */
const killedUnderLoad = async (databaseUrl: string | undefined, name: string, { killAt, afterRestart }: { killAt: number; afterRestart: number }) => {
  const run = `kill-${name}`;
  const again = `again-${name}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'gyre-faults-kill-'));
  let gyre: GyreProcess | undefined;
  try {
    gyre = await startGyre({ dataDir, databaseUrl });
    const port = Number(new URL(gyre.url).port);
    const load = startLoad({ url: gyre.url, token: gyre.token, run, clients, total: 2 * killAt });
    await load.until((o) => acknowledged(o).length >= killAt, 180_000, `${killAt} acknowledged commands`);
    gyre.kill('SIGKILL');
    load.stop();
    const before = [...(await load.done)];
    assert.is(await gyre.exited, 'SIGKILL');
    assert.ok(before.length < 2 * killAt, 'the kill came before the load was over');

    gyre = await startGyre({ dataDir, databaseUrl, port });
    const more = startLoad({ url: gyre.url, token: gyre.token, run: again, clients, total: afterRestart });
    const after = await more.done;
    assert.is(acknowledged(after).length, afterRestart, `after the restart every command is acknowledged: ${summary(after)}`);
    await waitForReadiness(gyre.url, caughtUp, 60_000);
    assert.is(await gyre.stop(), 0);
    gyre = undefined;

    const db = openDatabase(databaseUrl ? { url: databaseUrl } : { dataDir: join(dataDir, 'pglite') });
    try {
      const killed = await checkLog(db, run, before);
      assert.equal(killed.problems, [], `the log after the kill (${summary(before)})`);
      assert.equal((await checkLog(db, again, after)).problems, []);
      assert.equal(await compareWithRebuild(db, await createPostgresEventStore(db)), []);
      console.log(
        `  ${name}: ${summary(before)} before the kill (${killed.unacknowledgedLogged} logged without an answer), ${summary(after)} after the restart`,
      );
    } finally {
      await db.destroy();
    }
  } finally {
    gyre?.kill('SIGKILL');
    await gyre?.exited;
    rmSync(dataDir, { recursive: true, force: true });
  }
};

test('on embedded PGlite: every acknowledged command is in the log once, nothing twice, read models equal a rebuild', async () => {
  await killedUnderLoad(undefined, `pglite-${Date.now().toString(36)}`, { killAt: 100, afterRestart: 40 });
});

test('on PostgreSQL (a server of its own): every acknowledged command is in the log once, nothing twice, read models equal a rebuild', async () => {
  postgres = await startPostgres();
  await killedUnderLoad(postgres.url, `postgres-${Date.now().toString(36)}`, { killAt: 400, afterRestart: 100 });
});

test.run();
