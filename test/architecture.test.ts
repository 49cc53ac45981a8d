import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

/** The layout in DESIGN.md, checked: which folder may import which, and who may decrypt. */
const test = suite('architecture: the layout DESIGN.md draws');
const root = resolve(import.meta.dirname, '..');
const folders = ['domain', 'adapters', 'projections', 'application', 'api', 'workers', 'cli', 'bin'];
const walk = (dir: string): string[] =>
  readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? walk(join(dir, f)) : f.endsWith('.ts') ? [join(dir, f)] : []));
const sources = folders.flatMap((f) => walk(join(root, f))).filter((f) => !f.endsWith('.test.ts'));
const top = (file: string) => relative(root, file).split('/')[0]!;
const imports = (file: string) =>
  [...readFileSync(file, 'utf8').matchAll(/^\s*(?:import|export)[^'"]*from\s+'(\.[^']+)'/gm)].map((m) => top(resolve(dirname(file), m[1]!)));

const mayImport: Record<string, ReadonlyArray<string>> = {
  domain: ['domain'],
  projections: ['projections', 'domain'],
  adapters: ['adapters', 'domain'],
  application: ['application', 'domain', 'adapters', 'projections'],
  workers: ['workers', 'application', 'domain', 'adapters', 'projections'],
  api: ['api', 'application', 'domain', 'adapters', 'projections', 'workers'],
  cli: ['cli', 'domain'],
  bin: ['bin', 'api', 'application', 'cli', 'domain', 'adapters', 'projections', 'workers'],
};
/** The contract suite is test code that lives beside the port it checks. */
const known = new Set(['adapters/eventstore/contract.ts → test']);

test('every import crosses the layers only the way DESIGN.md allows', () => {
  assert.ok(sources.filter((f) => imports(f).includes('domain')).length > 20, 'the scan finds imports');
  const wrong = sources
    .flatMap((file) =>
      imports(file)
        .filter((to) => !mayImport[top(file)]!.includes(to))
        .map((to) => `${relative(root, file)} → ${to}`),
    )
    .filter((w) => !known.has(w));
  assert.equal(wrong, []);
});

test('the application layer keeps fastify out', () => {
  const web = sources
    .filter((f) => relative(root, f).startsWith('application/') && /from 'fastify'|from 'mercurius'/.test(readFileSync(f, 'utf8')))
    .map((f) => relative(root, f));
  assert.equal(web, []);
});

test('values are decrypted in one module only: workers/job-secrets.ts', () => {
  const opening = sources
    .filter((f) => !relative(root, f).startsWith('adapters/encryption/') && /\.open\(/.test(readFileSync(f, 'utf8')))
    .map((f) => relative(root, f));
  assert.equal(opening, ['workers/job-secrets.ts']);
});

test('only the wiring and job dispatch hold the opener', () => {
  const holding = sources
    .filter((f) => /\bopener\b/.test(readFileSync(f, 'utf8')))
    .map((f) => relative(root, f))
    .filter((f) => !f.startsWith('adapters/encryption/'));
  assert.equal(holding.sort(), ['api/app.ts', 'workers/job-secrets.ts']);
});

test.run();
