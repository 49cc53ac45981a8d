import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { startTestGyre, type TestGyre } from '../test/support/gyre.ts';

const test = suite('cli: gyre projections rebuild (a real process against a listening Gyre)');
// the TypeScript entry under tsx: bin/gyre.mjs would first compile the whole tree into dist/
const bin = join(resolve(import.meta.dirname, '..'), 'bin', 'gyre.ts');
let g: TestGyre;
let host: string;

test.before(async () => {
  g = await startTestGyre();
  for (let i = 0; i < 5; i++) {
    const r = await g.gql(`mutation { createProject(input: {slug: "gh/acme/cli-${i}", gitUrl: "/srv/git/c${i}.git"}) { id } }`);
    assert.is(r.body.errors, undefined);
  }
  host = await g.app.listen({ port: 0, host: '127.0.0.1' });
});
test.after(async () => g.stop());

const gyre = (args: string[], env: Record<string, string> = {}) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', bin, ...args],
      { env: { ...process.env, GYRE_URL: '', GYRE_TOKEN: '', ...env }, timeout: 120_000 },
      (err, stdout, stderr) => done({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });

test('rebuild of one read model shows progress, returns once it is swapped in, and the server still answers from it', async () => {
  const r = await gyre(['projections', 'rebuild', 'projects', '--host', host, '--token', g.adminToken]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /^rebuild [0-9a-f-]{36} of projects\n/);
  assert.match(r.stderr, /swapped in 1 of 1: projects\n$/);
  assert.match(r.stdout, /^projects: rebuilt from 5 events, swapped in\n$/);
  const id = /^rebuild ([0-9a-f-]{36})/.exec(r.stderr)![1]!;
  const status = (await g.gql('query($id: ID!) { projectionRebuild(id: $id) { state } }', { id })).body.data!.projectionRebuild;
  assert.is(status.state, 'DONE');
  const projects = (await g.gql('{ projects { edges { node { slug } } } }')).body.data!.projects.edges;
  assert.is(projects.length, 5);
});

test('every read model, with GYRE_URL and GYRE_TOKEN, as JSON', async () => {
  const r = await gyre(['projections', 'rebuild', '--json'], { GYRE_URL: host, GYRE_TOKEN: g.adminToken });
  assert.is(r.code, 0, r.stderr);
  const done = JSON.parse(r.stdout) as { state: string; readModels: Array<{ name: string; state: string }> };
  assert.is(done.state, 'DONE');
  assert.ok(done.readModels.length >= 10);
  assert.ok(done.readModels.every((m) => m.state === 'SWAPPED'));
});

test('an unknown read model, a non-admin and bad usage exit non-zero with a clear message, and start nothing', async () => {
  const before = (await g.services.db('projection_rebuilds').count('* as n')) as Array<{ n: string }>;
  const unknown = await gyre(['projections', 'rebuild', 'nope', '--host', host, '--token', g.adminToken]);
  assert.is(unknown.code, 2);
  assert.match(unknown.stderr, /^gyre: no read model named nope: Gyre keeps audit_log, /);
  const user = await g.createUser('cli-user');
  const refused = await gyre(['projections', 'rebuild', '--host', host, '--token', user.token]);
  assert.is(refused.code, 2);
  assert.match(refused.stderr, /cli-user is not an administrator/);
  const usage = await gyre(['projections', 'rebiuld', '--host', host, '--token', g.adminToken]);
  assert.is(usage.code, 2);
  assert.match(usage.stderr, /unknown projections command "rebiuld": use gyre projections rebuild \[name…\]/);
  const after = (await g.services.db('projection_rebuilds').count('* as n')) as Array<{ n: string }>;
  assert.is(after[0]!.n, before[0]!.n);
});

test.run();
