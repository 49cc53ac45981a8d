/**
 * Runs every `*.test.ts` beside the code (the web UI's pure modules included) and under test/ in one process (one embedded database,
 * started by the first test that asks for it: pure suites such as domain/ never start one),
 * and ends with the plain line `N passed, N failed`.
 * Usage: tsx test/run.ts [substring…]   (only files whose path contains one of them; test/faults/ only when named)
 */
import { readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const root = resolve(import.meta.dirname, '..');
const roots = ['domain', 'adapters', 'projections', 'application', 'api', 'workers', 'cli', 'bin', 'test', 'web/src'];
const only = process.argv.slice(2);

const find = (dir: string): string[] =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (name === 'node_modules') return [];
    if (statSync(path).isDirectory()) return find(path);
    return name.endsWith('.test.ts') ? [path] : [];
  });

const files = roots
  .flatMap((r) => {
    try {
      return find(join(root, r));
    } catch {
      return [];
    }
  })
  .filter((f) => only.length === 0 || only.some((o) => relative(root, f).includes(o)))
  // the fault suite (its own PostgreSQL server, a tmpfs, killed processes) runs only when named: tsx test/run.ts test/faults
  .filter((f) => !relative(root, f).startsWith('test/faults/') || only.some((o) => o.startsWith('test/faults')))
  .sort();

(globalThis as { UVU_DEFER?: number }).UVU_DEFER = 1;
const uvu = await import('uvu');
const queue = (globalThis as unknown as { UVU_QUEUE: unknown[][] }).UVU_QUEUE;
for (const [index, file] of files.entries()) {
  (globalThis as { UVU_INDEX?: number }).UVU_INDEX = index;
  queue.push([relative(root, file)]);
  await import(pathToFileURL(file).href);
}

let printed = '';
const write = process.stdout.write.bind(process.stdout);
process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
  printed += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
  return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
}) as typeof process.stdout.write;
await uvu.exec(false);
process.stdout.write = write;

const plain = printed.replace(/\u001b\[[0-9;]*m/g, '');
const count = (label: string) => Number(new RegExp(`${label}:\\s+(\\d+)`).exec(plain)?.[1] ?? 0);
const total = count('Total');
const passed = count('Passed');
const skipped = count('Skipped');
const failed = total - passed - skipped;
// the embedded database starts only when a test asks for it (test/support/database.ts), so the pure suites
// (domain/, web/src) run without one; it is closed here if one was opened
await (globalThis as { closeGyreTestDatabase?: () => Promise<void> }).closeGyreTestDatabase?.();
console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed > 0 || files.length === 0 ? 1 : 0);
