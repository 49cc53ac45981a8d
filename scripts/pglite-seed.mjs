// Makes the embedded database's seed: a fresh PGlite data directory, initialised once per installed
// PGlite version and kept under node_modules/.cache/gyre. A new database is then copied from it
// (adapters/database/sql.ts) instead of running initdb inside the Gyre process, which takes PGlite's
// WebAssembly heap to some 700 MB that it never gives back.
// Run in a process of its own, by scripts/setup.mjs; idempotent, and safe to run twice at once.
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
const entry = require.resolve('@electric-sql/pglite');
const packageDir = entry.slice(0, entry.lastIndexOf('/dist/'));
const version = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')).version;
const seed = join(packageDir, '..', '..', '.cache', 'gyre', `pglite-${version}-seed`);

if (!existsSync(seed)) {
  const { PGlite } = await import('@electric-sql/pglite');
  mkdirSync(dirname(seed), { recursive: true });
  const dir = mkdtempSync(join(dirname(seed), 'initdb-'));
  try {
    const db = new PGlite(join(dir, 'data'));
    await db.waitReady;
    await db.close();
    // the rename makes it whole or absent; another process's seed, made meanwhile, is as good
    try {
      renameSync(join(dir, 'data'), seed);
    } catch (e) {
      if (!existsSync(seed)) throw e;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
