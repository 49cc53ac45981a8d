#!/usr/bin/env node
// The `gyre` command runs the compiled JavaScript in dist/ (`node scripts/setup.mjs` builds it;
// npm start and npm test do so first). Compiled, the server needs far less memory than under tsx.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/bin/gyre.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('gyre: dist/ is not built: run `node scripts/setup.mjs` (npm start does it for you)\n');
  process.exit(1);
}
await import(entry.href);
