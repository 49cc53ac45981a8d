// Makes a clone runnable: installs the locked dependencies when node_modules is missing or older than
// package-lock.json, and compiles the TypeScript to dist/ when a source is newer than the last build.
// Plain JavaScript: it runs before anything is installed.
import { execSync } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const run = (command) => execSync(command, { cwd: root, stdio: 'inherit' });
const mtime = (path) => (existsSync(path) ? statSync(path).mtimeMs : 0);

const installed = join(root, 'node_modules', '.package-lock.json');
if (mtime(installed) === 0 || mtime(join(root, 'package-lock.json')) > mtime(installed)) {
  console.error('gyre: installing dependencies (npm ci)…');
  run('npm ci --no-audit --no-fund --loglevel=error');
}

const sources = ['domain', 'adapters', 'projections', 'application', 'api', 'workers', 'cli', 'bin'];
const newest = (dir) =>
  readdirSync(dir, { withFileTypes: true }).reduce((max, e) => {
    const path = join(dir, e.name);
    return Math.max(max, e.isDirectory() ? newest(path) : e.name.endsWith('.ts') ? statSync(path).mtimeMs : 0);
  }, 0);
const stamp = join(root, 'dist', '.built');
const latest = Math.max(...sources.map((s) => newest(join(root, s))), mtime(join(root, 'schema.graphql')), mtime(join(root, 'tsconfig.build.json')));
if (latest > mtime(stamp)) {
  console.error('gyre: compiling to dist/…');
  run('npx tsc -p tsconfig.build.json');
  copyFileSync(join(root, 'schema.graphql'), join(root, 'dist', 'schema.graphql'));
  writeFileSync(stamp, new Date().toISOString());
}

// the web UI: built by Vite into dist/web when a source of web/ is newer than the last build
const webSources = (dir) =>
  readdirSync(dir, { withFileTypes: true }).reduce((max, e) => {
    const path = join(dir, e.name);
    return Math.max(max, e.isDirectory() ? webSources(path) : statSync(path).mtimeMs);
  }, 0);
const webBuilt = join(root, 'dist', 'web', 'index.html');
if (Math.max(webSources(join(root, 'web')), mtime(join(root, 'package-lock.json'))) > mtime(webBuilt)) {
  console.error('gyre: building the web UI (vite)…');
  run('npx vite build --config web/vite.config.ts --logLevel warn');
}

// the embedded database's seed, made once per PGlite version in a process of its own (scripts/pglite-seed.mjs)
run('node scripts/pglite-seed.mjs');
