/** Runs every benchmark on PGlite and PostgreSQL, each in its own process, and prints a table. */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

const benches = (process.env.BENCH_ONLY ?? 'commands,projection,projection-pipelines,audit-export,placement,job-latency,artifact-transfer').split(',');
const backends = (process.env.BENCH_BACKENDS ?? 'pglite,postgres').split(',');
const results: Array<Record<string, unknown>> = [];
for (const bench of benches) {
  for (const backend of backends) {
    process.stderr.write(`bench ${bench} on ${backend}…\n`);
    const out = execFileSync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, `${bench}.ts`), backend], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      maxBuffer: 64 * 1024 * 1024,
    });
    const line = out.split('\n').find((l) => l.startsWith('RESULT '));
    if (!line) throw new Error(`${bench} on ${backend} gave no result`);
    const result = JSON.parse(line.slice(7));
    results.push(result);
    process.stdout.write(`${JSON.stringify(result)}\n`);
  }
}
process.stdout.write('\n| bench | backend | figures |\n|---|---|---|\n');
for (const { bench, backend, ...figures } of results) {
  process.stdout.write(
    `| ${bench} | ${backend} | ${Object.entries(figures)
      .map(([k, v]) => `${k} ${typeof v === 'object' ? JSON.stringify(v) : v}`)
      .join(', ')} |\n`,
  );
}
