/**
 * Runs every `*.test.ts` beside the code (the web UI's pure modules included) and under test/ in one process (one embedded database,
 * started by the first test that asks for it: pure suites such as domain/ never start one),
 * and ends with the plain line `N passed, N failed`.
 * Usage: tsx test/run.ts [substring…]   (only files whose path contains one of them; test/faults/ only when named)
 *
 * On PostgreSQL (GYRE_TEST_DATABASE_URL set) only the suites that reach the test database run: the
 * others would repeat themselves; so does a suite marked `// runs on the embedded database only: <why>`,
 * whose subject is not the database.
 *
 * With GYRE_TEST_EVENTSTORE=standin (npm run test:eventstoredb) each test Gyre keeps its events in the EventStoreDB
 * stand-in, and the end-to-end API suites and the adapter's run, less a suite marked `// runs on the SQL event store only: <why>`.
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

/** Whether a file imports, through its own imports, `target` (the test database, test/support/database.ts, or a test Gyre). */
const testDatabase = join(root, 'test', 'support', 'database.ts');
const importsOf = (file: string): string[] =>
  [...readFileSync(file, 'utf8').matchAll(/(?:from |import\(|import )['"](\.{1,2}\/[^'"]+)['"]/g)]
    .map((m) => resolve(dirname(file), m[1]!))
    .filter((f) => f.endsWith('.ts') && existsSync(f));
const reaches = (file: string, target: string): boolean => {
  const seen = new Set<string>();
  const walk = (f: string): boolean => {
    if (f === target) return true;
    if (seen.has(f)) return false;
    seen.add(f);
    return importsOf(f).some(walk);
  };
  return walk(file);
};
const embeddedOnly = (file: string) => /^\/\/ runs on the embedded database only: /m.test(readFileSync(file, 'utf8'));
const onPostgres = Boolean(process.env.GYRE_TEST_DATABASE_URL);
const onEventStoreDb = process.env.GYRE_TEST_EVENTSTORE === 'standin';
const testGyre = join(root, 'test', 'support', 'gyre.ts');
const sqlStoreOnly = (file: string) => /^\/\/ runs on the SQL event store only: /m.test(readFileSync(file, 'utf8'));
// on EventStoreDB: the end-to-end API suites (api/), whole Gyres started by test/support/gyre.ts, and the adapter's own;
// the other suites that start a Gyre run on the SQL store only (several start a second server beside it, on the SQL store)
const endToEnd = (f: string) => relative(root, f).startsWith('api/');
const chosen = onEventStoreDb
  ? files.filter((f) => (endToEnd(f) && reaches(f, testGyre) && !sqlStoreOnly(f)) || relative(root, f).includes('eventstoredb'))
  : onPostgres
    ? files.filter((f) => reaches(f, testDatabase) && !embeddedOnly(f))
    : files;
if (onEventStoreDb) console.log(`EventStoreDB (stand-in): ${chosen.length} of ${files.length} suites (the end-to-end API suites and the adapter's) run on it`);
else if (onPostgres) console.log(`PostgreSQL: ${chosen.length} of ${files.length} suites reach the database and run again on it`);

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
await (globalThis as { closeGyreTestEventStore?: () => Promise<void> }).closeGyreTestEventStore?.();
console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed > 0 || chosen.length === 0 ? 1 : 0);
