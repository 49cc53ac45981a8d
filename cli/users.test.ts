import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { startTestGyre, type TestGyre } from '../test/support/gyre.ts';

const test = suite('cli: gyre users (a real process against a listening Gyre)');
const bin = join(resolve(import.meta.dirname, '..'), 'bin', 'gyre.mjs');
let g: TestGyre;
let host: string;

test.before(async () => {
  g = await startTestGyre();
  await g.createUser('olivia');
  host = await g.app.listen({ port: 0, host: '127.0.0.1' });
});
test.after(async () => g.stop());

const gyre = (args: string[], env: Record<string, string> = {}) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
    execFile(process.execPath, [bin, ...args], { env: { ...process.env, GYRE_URL: '', GYRE_TOKEN: '', ...env } }, (err, stdout, stderr) =>
      done({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });

test('users list answers a table, or JSON with --json', async () => {
  const t = await gyre(['users', 'list', '--host', host, '--token', g.adminToken]);
  assert.is(t.code, 0, t.stderr);
  const [header, ...lines] = t.stdout.trim().split('\n');
  assert.match(header!, /^LOGIN\s+NAME\s+STATE\s+ADMIN\s+CREATED\s+LAST LOGIN$/);
  assert.ok(
    lines.some((l) => /^olivia\s+olivia\s+ACTIVE\s+no\s/.test(l)),
    t.stdout,
  );
  const j = await gyre(['users', 'list', '--json'], { GYRE_URL: host, GYRE_TOKEN: g.adminToken });
  const users = JSON.parse(j.stdout) as Array<{ login: string; isAdmin: boolean }>;
  assert.equal(users.map((u) => u.login).sort(), ['admin', 'olivia']);
});

test('users suspend, activate and delete change the account, as the API shows', async () => {
  const opts = ['--host', host, '--token', g.adminToken, '--json'];
  const suspended = await gyre(['users', 'suspend', 'olivia', ...opts]);
  assert.is(JSON.parse(suspended.stdout).state, 'SUSPENDED');
  assert.is((await g.gql('{ user(login: "olivia") { state } }')).body.data!.user.state, 'SUSPENDED');
  const active = await gyre(['users', 'activate', 'olivia', ...opts]);
  assert.is(JSON.parse(active.stdout).state, 'ACTIVE');
  const deleted = await gyre(['users', 'delete', 'olivia', '--host', host, '--token', g.adminToken]);
  assert.is(deleted.stdout.trim(), 'deleted olivia');
  assert.is((await g.gql('{ user(login: "olivia") { state } }')).body.data!.user, null);
});

test('errors are clear and exit non-zero: no token, a bad token, an unknown user, bad usage', async () => {
  const none = await gyre(['users', 'list', '--host', host]);
  assert.is(none.code, 2);
  assert.match(none.stderr, /no API token/);
  const bad = await gyre(['users', 'list', '--host', host, '--token', 'gyre_nope']);
  assert.is(bad.code, 2);
  assert.match(bad.stderr, /not valid/);
  const missing = await gyre(['users', 'suspend', 'nobody', '--host', host, '--token', g.adminToken]);
  assert.match(missing.stderr, /no user nobody/);
  const usage = await gyre(['users', 'suspend', '--host', host, '--token', g.adminToken]);
  assert.match(usage.stderr, /usage: gyre users suspend <login>/);
  const down = await gyre(['users', 'list', '--host', 'http://127.0.0.1:1', '--token', 'x']);
  assert.match(down.stderr, /cannot reach Gyre/);
});

test.run();
