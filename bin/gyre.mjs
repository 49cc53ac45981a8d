#!/usr/bin/env node
// The `gyre` command runs the compiled JavaScript in dist/, building it first when a source changed
// (scripts/setup.mjs: a timestamp check when nothing did). Compiled, the server needs far less memory
// than under tsx.
await import('../scripts/setup.mjs');
await import(new URL('../dist/bin/gyre.js', import.meta.url).href);
