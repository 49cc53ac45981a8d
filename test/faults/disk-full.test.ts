import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../../adapters/database/sql.ts';
import { createPostgresEventStore } from '../../adapters/eventstore/postgres.ts';
import { compareWithRebuild } from '../support/rebuild-compare.ts';
import { acknowledged, checkLog, startLoad, summary, type Outcome } from './command-load.ts';
import { caughtUp, readiness, startGyre, waitForReadiness, type GyreProcess } from './gyre-process.ts';

const test = suite('faults: the embedded data directory runs out of disk under load');

const clients = 16;
const beforeFull = 40;
/** Refusals to wait for while the disk is full: enough that a crash, or a crash loop, would show. */
const refusalsWhileFull = 20;
const afterFreed = 40;
const timeLimitMs = 60_000;

const mount = mkdtempSync(join(tmpdir(), 'gyre-faults-disk-'));
const dataDir = join(mount, 'data');
const filler = join(mount, 'filler');
let mounted = false;
let gyre: GyreProcess | undefined;
test.after(async () => {
  gyre?.kill('SIGKILL');
  await gyre?.exited;
  if (mounted) execFileSync('umount', [mount]);
  rmSync(mount, { recursive: true, force: true });
});

/** Writes zeros until the file system refuses (ENOSPC); answers how many bytes it took. */
const fillDisk = () => {
  const fd = openSync(filler, 'w');
  const chunk = Buffer.alloc(1 << 20);
  let written = 0;
  try {
    for (;;) written += writeSync(fd, chunk);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  } finally {
    closeSync(fd);
  }
  return written;
};

const diskFull = (o: Outcome) => o.code === 'DATABASE_DISK_FULL';

test('commands fail with DATABASE_DISK_FULL while the disk is full, Gyre keeps running, and once space is freed commands succeed and nothing acknowledged is lost', async () => {
  // a small file system of its own (root only): the data directory's PGlite files take some 40 MB on the first start
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=128m', 'tmpfs', mount]);
  mounted = true;
  gyre = await startGyre({ dataDir });
  const run = `disk-${Date.now().toString(36)}`;
  const load = startLoad({ url: gyre.url, token: gyre.token, run, clients, total: 1_000_000, timeLimitMs });
  await load.until((o) => acknowledged(o).length >= beforeFull, 120_000, `${beforeFull} acknowledged commands`);

  const filledAt = Date.now();
  const filled = fillDisk();
  await load.until(
    (o) => o.filter((c) => c.at > filledAt && diskFull(c)).length >= refusalsWhileFull,
    120_000,
    `${refusalsWhileFull} commands refused with DATABASE_DISK_FULL`,
  );
  assert.ok(gyre.running(), 'Gyre kept running while the disk was full');
  // what /readyz says depends on whether an append got through before the read models failed: reported, not asserted
  const whileFull = await readiness(gyre.url);

  rmSync(filler);
  const freedAt = Date.now();
  await waitForReadiness(gyre.url, (r) => r.status === 200, 60_000);
  const recoveredMs = Date.now() - freedAt;
  await load.until(
    (o) => o.filter((c) => c.at > freedAt && c.kind === 'acknowledged').length >= afterFreed,
    120_000,
    `${afterFreed} acknowledged commands after the space was freed`,
  );
  load.stop();
  const outcomes = await load.done;

  const failures = outcomes.filter((o) => o.kind !== 'acknowledged');
  const untyped = failures.filter((o) => o.kind !== 'failed' || o.status! < 500 || o.code === null || o.code === 'INTERNAL');
  assert.equal(untyped, [], 'every command that failed answered a 5xx with a typed code');
  assert.ok(
    outcomes.filter((o) => o.at > freedAt + recoveredMs).every((o) => o.kind === 'acknowledged'),
    'once ready again, every command succeeds',
  );

  await waitForReadiness(gyre.url, caughtUp, 60_000);
  assert.is(await gyre.stop(), 0);
  gyre = undefined;

  // opened again (WAL replay and all), the files the full disk left behind are whole
  const db = openDatabase({ dataDir: join(dataDir, 'pglite') });
  try {
    assert.equal((await checkLog(db, run, outcomes)).problems, [], summary(outcomes));
    assert.equal(await compareWithRebuild(db, await createPostgresEventStore(db)), []);
  } finally {
    await db.destroy();
  }
  console.log(
    `  ${summary(outcomes)}; filler ${Math.round(filled / 2 ** 20)} MB; /readyz while full: ${whileFull.status} ${whileFull.body?.reason ?? ''}; ready ${recoveredMs} ms after the filler went`,
  );
});

test.run();
