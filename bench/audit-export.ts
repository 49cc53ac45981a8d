/**
 * Audit CSV export over 1M events: rows/s and the peak RSS (VmHWM) of the Gyre process serving it.
 * This process seeds the log and the read model, then starts `gyre serve` as a child and streams the
 * CSV from it over HTTP, so the figure is the server's memory alone.
 */
import { withSchemaLock } from '../adapters/database/sql.ts';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { allProjections } from '../projections/all.ts';
import { createProjectionRunner } from '../projections/runner.ts';
import { backendArg, benchDir, benchPostgresUrl, freshDatabase, rate, report, seedEvents } from './support.ts';

const backend = backendArg();
const count = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const root = resolve(import.meta.dirname, '..');

// BENCH_REUSE=1 serves the log the previous run seeded
if (!process.env.BENCH_REUSE) {
  const db = await freshDatabase(backend);
  const store = await seedEvents(db, count);
  const runner = createProjectionRunner({ store, db, migrate: withSchemaLock, projections: allProjections, batchSize: 2000 });
  await runner.start();
  if (!(await runner.waitFor(await store.head(), 60 * 60_000))) throw new Error('projections did not catch up');
  await runner.stop();
  await store.close();
  await db.destroy();
}

const port = 19_000 + Math.floor(Math.random() * 1000);
const dataDir = join(benchDir, 'server');
const child = spawn(process.execPath, [join(root, 'bin', 'gyre.mjs'), 'serve'], {
  cwd: root,
  env: {
    ...process.env,
    NODE_OPTIONS: process.env.BENCH_SERVER_NODE_OPTIONS ?? '',
    GYRE_PORT: String(port),
    GYRE_LOG_LEVEL: 'warn',
    GYRE_DATA_DIR: backend === 'pglite' ? benchDir : dataDir,
    GYRE_DATABASE_URL: backend === 'postgres' ? benchPostgresUrl : '',
  },
  stdio: ['ignore', 'ignore', 'inherit'],
});
const peakRss = () => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
const currentRss = () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;

try {
  let token = '';
  for (let i = 0; i < 600 && !token; i++) {
    await new Promise((r) => setTimeout(r, 500));
    try {
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
      if (ready.status === 200) token = readFileSync(join(backend === 'pglite' ? benchDir : dataDir, 'admin-token'), 'utf8').trim();
    } catch {}
  }
  if (!token) throw new Error('gyre did not start');
  const rssBefore = currentRss();
  const started = Date.now();
  const res = await fetch(`http://127.0.0.1:${port}/admin/audit-log.csv`, { headers: { authorization: `Bearer ${token}` } });
  if (res.status !== 200) throw new Error(`export answered ${res.status}`);
  let lines = 0;
  let bytes = 0;
  const decoder = new TextDecoder();
  for await (const chunk of res.body!) {
    bytes += chunk.length;
    const text = decoder.decode(chunk, { stream: true });
    for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) lines++;
  }
  const ms = Date.now() - started;
  const rows = lines - 1;
  if (rows < count) throw new Error(`export had ${rows} rows, expected at least ${count}`);
  const peak = Math.round(peakRss() / 1048576);
  report({
    bench: 'audit-export',
    backend,
    rows,
    seconds: ms / 1000,
    rows_per_s: rate(rows, ms),
    mb: Math.round(bytes / 1e6),
    rss_idle_mb: Math.round(rssBefore / 1048576),
    peak_rss_mb: peak,
    under_150_mb: peak < 150,
  });
} finally {
  child.kill('SIGTERM');
}
