/**
 * Resident memory of `gyre serve` (on PGlite the database engine runs inside that process): started
 * on a fresh data directory (the first start creates the database), then again on the same one.
 * Peak: the kernel's VmHWM, over start-up (until /readyz says ready) and over the whole run. Idle:
 * the median of VmRSS sampled every 100 ms over BENCH_IDLE_SECONDS (default 10) once ready, no traffic.
 */
import { memoryOf, startGyre } from './server-process.ts';
import { backendArg, freshStorage, printTable, report } from './support.ts';

const backend = backendArg();
const idleSeconds = Number(process.env.BENCH_IDLE_SECONDS ?? 10);
const storage = await freshStorage(backend, 'memory');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const out: Record<string, unknown> = { bench: 'http-memory', backend, idle_s: idleSeconds };
const rows: unknown[][] = [];
for (const start of ['first', 'second'] as const) {
  process.stderr.write(`${start} start on ${backend}…\n`);
  const gyre = await startGyre(storage);
  const atReady = memoryOf(gyre.pid);
  const samples: number[] = [];
  const until = Date.now() + idleSeconds * 1000;
  while (Date.now() < until) {
    samples.push(memoryOf(gyre.pid).rssMb);
    await new Promise((r) => setTimeout(r, 100));
  }
  const peak = memoryOf(gyre.pid).peakMb;
  await gyre.stop();
  const figures = {
    startup_peak_mb: atReady.peakMb,
    rss_at_ready_mb: atReady.rssMb,
    idle_rss_mb: median(samples),
    peak_mb: peak,
    ready_s: Math.round(gyre.timings.readyMs / 100) / 10,
  };
  out[start] = figures;
  rows.push([
    `${start} start${start === 'first' ? ' (fresh data directory)' : ''}`,
    figures.startup_peak_mb,
    figures.idle_rss_mb,
    figures.peak_mb,
    figures.ready_s,
  ]);
}
printTable(
  `Resident memory of gyre serve, ${backend}`,
  ['start', 'start-up peak MB (VmHWM at ready)', `idle MB (median VmRSS over ${idleSeconds} s)`, 'peak MB over the run', 'spawn to ready, s'],
  rows,
);
report(out);
