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

const test = suite('faults: PostgreSQL stopped and started again under load');

const clients = 16;
/** Acknowledgements before the outage, and again after it, that the test waits for. */
const beforeOutage = 150;
const afterOutage = 150;
const timeLimitMs = 30_000;

let postgres: PostgresServer | undefined;
let gyre: GyreProcess | undefined;
const dataDir = mkdtempSync(join(tmpdir(), 'gyre-faults-pg-restart-'));
test.after(async () => {
  gyre?.kill('SIGKILL');
  await gyre?.exited;
  await postgres?.dispose();
  rmSync(dataDir, { recursive: true, force: true });
});

test('Gyre reconnects by itself, /readyz reports the outage while it lasts, commands fail typed and fast, nothing acknowledged is lost', async () => {
  postgres = await startPostgres();
  gyre = await startGyre({ dataDir, databaseUrl: postgres.url });
  const run = `restart-${Date.now().toString(36)}`;
  const load = startLoad({ url: gyre.url, token: gyre.token, run, clients, total: 1_000_000, timeLimitMs });
  await load.until((o) => acknowledged(o).length >= beforeOutage, 120_000, `${beforeOutage} acknowledged commands`);

  const down = Date.now();
  await postgres.stop();
  const unready = await waitForReadiness(gyre.url, (r) => r.status === 503, 10_000);
  assert.equal(unready.body, { status: 'unready', reason: 'the database does not answer' });
  await load.until(
    (o) => o.some((c) => c.at > down && c.code === 'DATABASE_UNAVAILABLE'),
    20_000,
    'a command refused with DATABASE_UNAVAILABLE while the server is down',
  );
  await postgres.start();
  const up = Date.now();
  // nothing tells Gyre the server is back: it finds out by itself
  await waitForReadiness(gyre.url, (r) => r.status === 200, 30_000);
  const reconnectedMs = Date.now() - up;
  const acknowledgedBefore = acknowledged(load.outcomes).length;
  await load.until((o) => acknowledged(o).length >= acknowledgedBefore + afterOutage, 120_000, `${afterOutage} more acknowledged commands after the restart`);
  load.stop();
  const outcomes = await load.done;

  const failures = outcomes.filter((o) => o.kind !== 'acknowledged');
  assert.ok(failures.length > 0, 'the outage refused some commands');
  const untyped = failures.filter((o) => o.kind !== 'failed' || o.status! < 500 || o.code === null || o.code === 'INTERNAL');
  assert.equal(untyped, [], 'every command that failed answered a 5xx with a typed code');
  const slowest = Math.max(...failures.map((o) => o.ms));
  assert.ok(slowest < timeLimitMs, `a failed command answered within ${timeLimitMs} ms (slowest ${slowest} ms)`);
  assert.ok(gyre.running(), 'Gyre kept running through the outage');

  await waitForReadiness(gyre.url, caughtUp, 60_000);
  assert.is(await gyre.stop(), 0);
  gyre = undefined;
  const db = openDatabase({ url: postgres.url });
  try {
    assert.equal((await checkLog(db, run, outcomes)).problems, [], summary(outcomes));
    assert.equal(await compareWithRebuild(db, await createPostgresEventStore(db)), []);
  } finally {
    await db.destroy();
  }
  console.log(
    `  ${summary(outcomes)}; server down for ${up - down} ms, /readyz 200 again ${reconnectedMs} ms after it was back; slowest failure ${slowest} ms`,
  );
});

test.run();
