import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { testDatabaseUrl } from './support/database.ts';

const test = suite('gyre serve (a real process)');
const root = resolve(import.meta.dirname, '..');
const dataDir = mkdtempSync(join(tmpdir(), 'gyre-start-'));
const port = 18_000 + Math.floor(Math.random() * 2000);

const start = (env: Record<string, string>) => {
  const child = spawn(process.execPath, [join(root, 'bin', 'gyre.mjs'), 'serve'], {
    cwd: root,
    env: { ...process.env, GYRE_DATABASE_URL: '', GYRE_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, exited, output: () => out, errors: () => err };
};

const waitReady = async (proc: ReturnType<typeof start>, ms = 60_000) => {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/readyz`);
      if (r.status === 200 && (proc.output().includes('API token') || proc.output().length === 0)) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`gyre did not become ready: ${proc.errors()}`);
};

const stop = async (p: { child: ChildProcess; exited: Promise<number | null> }) => {
  p.child.kill('SIGTERM');
  return p.exited;
};

test.after(() => rmSync(dataDir, { recursive: true, force: true }));

test('the first start creates the admin, prints its token once and writes it 0600; the token works', async () => {
  const env = { GYRE_DATA_DIR: dataDir, GYRE_PORT: String(port) };
  // every log line, at the most talkative level, is checked for the token below
  const first = start({ ...env, GYRE_LOG_LEVEL: 'trace' });
  await waitReady(first);
  const deadline = Date.now() + 10_000;
  while (!first.output().includes('API token') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  const file = join(dataDir, 'admin-token');
  const token = readFileSync(file, 'utf8').trim();
  assert.is(statSync(file).mode & 0o777, 0o600);
  assert.ok(first.output().includes(token), 'the token is printed');
  assert.not.ok(first.errors().includes(token), 'the token reached stderr');
  const r = await fetch(`http://127.0.0.1:${port}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'circle-token': token },
    body: JSON.stringify({ query: '{ systemSettings { suspendNewUsers } }' }),
  });
  assert.is(r.status, 200);
  assert.equal(await r.json(), { data: { systemSettings: { suspendNewUsers: false } } });
  await new Promise((res) => setTimeout(res, 300));
  const logLines = first
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'));
  assert.ok(
    logLines.some((l) => l.includes('/graphql')),
    'the server logged the request',
  );
  assert.is(first.output().split(token).length - 1, 1, 'the token is printed once, and never logged');
  assert.is(await stop(first), 0);

  const second = start(env);
  await waitReady(second);
  await new Promise((r) => setTimeout(r, 500));
  assert.not.ok(second.output().includes('API token'), 'a second start printed a token again');
  const again = await fetch(`http://127.0.0.1:${port}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: '{ auditLog(first: 5, filter: {actions: ["user.*"]}) { edges { node { action } } } }' }),
  });
  const body = (await again.json()) as { data: { auditLog: { edges: Array<{ node: { action: string } }> } } };
  assert.equal(
    body.data.auditLog.edges.map((e) => e.node.action),
    ['user.api_token.create', 'user.create'],
    'data kept across restarts, no second admin',
  );
  assert.is(await stop(second), 0);
});

test('a bad configuration value stops start-up with a message naming the variable', async () => {
  const p = start({ GYRE_DATA_DIR: dataDir, GYRE_PORT: 'not-a-port' });
  const code = await p.exited;
  assert.is(code, 78);
  assert.match(p.errors(), /GYRE_PORT/);
});

if (!testDatabaseUrl()) test.run();
