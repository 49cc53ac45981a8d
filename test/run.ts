/**
 * Runs every `*.test.ts` beside the code (the web UI's pure modules included) and under test/ in one process (one embedded database,
 * started by the first test that asks for it: pure suites such as domain/ never start one),
 * and ends with the plain line `N passed, N failed`.
 * Usage: tsx test/run.ts [substring…]   (only files whose path contains one of them; test/faults/ only when named)
 *
 * On PostgreSQL (GYRE_TEST_DATABASE_URL set) only the suites that reach the test database run: the
 * others would repeat themselves; so does a suite marked `// runs on the embedded database only: <why>`,
 * whose subject is not the database.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
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

/** Whether a file imports, through its own imports, the test database (test/support/database.ts). */
const testDatabase = join(root, 'test', 'support', 'database.ts');
const importsOf = (file: string): string[] =>
  [...readFileSync(file, 'utf8').matchAll(/(?:from |import\(|import )['"](\.{1,2}\/[^'"]+)['"]/g)]
    .map((m) => resolve(dirname(file), m[1]!))
    .filter((f) => f.endsWith('.ts') && existsSync(f));
const reachesDatabase = (file: string): boolean => {
  const seen = new Set<string>();
  const walk = (f: string): boolean => {
    if (f === testDatabase) return true;
    if (seen.has(f)) return false;
    seen.add(f);
    return importsOf(f).some(walk);
  };
  return walk(file);
};
const embeddedOnly = (file: string) => /^\/\/ runs on the embedded database only: /m.test(readFileSync(file, 'utf8'));
const onPostgres = Boolean(process.env.GYRE_TEST_DATABASE_URL);
const chosen = onPostgres ? files.filter((f) => reachesDatabase(f) && !embeddedOnly(f)) : files;
if (onPostgres) console.log(`PostgreSQL: ${chosen.length} of ${files.length} suites reach the database and run again on it`);

(globalThis as { UVU_DEFER?: number }).UVU_DEFER = 1;
const uvu = await import('uvu');
const queue = (globalThis as unknown as { UVU_QUEUE: unknown[][] }).UVU_QUEUE;
for (const [index, file] of chosen.entries()) {
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
// uvu counts a skipped test in Skipped only, never in Total
const failed = total - passed;
// the embedded database starts only when a test asks for it (test/support/database.ts), so the pure suites
// (domain/, web/src) run without one; it is closed here if one was opened
await (globalThis as { closeGyreTestDatabase?: () => Promise<void> }).closeGyreTestDatabase?.();
console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed > 0 || chosen.length === 0 ? 1 : 0);
