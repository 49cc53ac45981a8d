import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestGyre, waitForAudit, type TestGyre } from '../../test/support/gyre.ts';

/**
 * The requests the `circleci` CLI's runner commands send (CircleCI-Public/circleci-cli,
 * internal/apiclient/runner.go; api/runner/runner.go in earlier releases, under /api/v2), over a real port.
 */
const test = suite('api/rest/circleci-runners: circleci runner resource-class|token against Gyre');
let g: TestGyre;
let base: string;

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const keys = (o: unknown) => Object.keys(o as object).sort();

/** One request as the CLI's HTTP client builds it: Circle-Token, Accept, a JSON body with a trailing newline. */
const cli = async (method: string, path: string, options: { json?: unknown; token?: string; prefix?: string } = {}) => {
  const headers: Record<string, string> = {
    accept: 'application/json',
    'user-agent': 'circleci-cli/0.2.0 (linux amd64)',
    'circle-token': options.token ?? g.adminToken,
  };
  let body: string | undefined;
  if (options.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = `${JSON.stringify(options.json)}\n`;
  }
  const res = await fetch(`${base}${options.prefix ?? '/api/v3'}/${path}`, { method, headers, body });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text), text };
};

test.before(async () => {
  g = await startTestGyre();
  base = await g.app.listen({ port: 0, host: '127.0.0.1' });
});
test.after(async () => g.stop());

test('resource-class create, list; token create, list, delete; resource-class delete', async () => {
  const created = await cli('POST', 'runner/resource', { json: { resource_class: 'acme/linux-amd64', description: 'Linux amd64' } });
  assert.is(created.status, 200, created.text);
  assert.equal(keys(created.body), ['description', 'id', 'resource_class']);
  assert.match(created.body.id, uuid);
  assert.equal({ rc: created.body.resource_class, d: created.body.description }, { rc: 'acme/linux-amd64', d: 'Linux amd64' });
  await cli('POST', 'runner/resource', { json: { resource_class: 'acme/macos', description: '' } });
  await cli('POST', 'runner/resource', { json: { resource_class: 'other/linux', description: '' } });

  const listed = await cli('GET', `runner/resource?${new URLSearchParams({ namespace: 'acme' })}`);
  assert.is(listed.status, 200);
  assert.equal(
    listed.body.items.map((i: any) => i.resource_class),
    ['acme/linux-amd64', 'acme/macos'],
  );
  assert.equal(listed.body.items[0], created.body);
  assert.equal(
    (await cli('GET', 'runner/resource?namespace=nobody')).body,
    { items: [] },
    'an empty namespace is an empty list, not a 404 (the CLI reads 404 as "runners not enabled")',
  );

  const token = await cli('POST', 'runner/token', { json: { resource_class: 'acme/linux-amd64', nickname: 'box-1' } });
  assert.is(token.status, 200, token.text);
  assert.equal(keys(token.body), ['created_at', 'id', 'nickname', 'resource_class', 'token']);
  assert.match(token.body.token, /^gyre_runner_[A-Za-z0-9_-]{43}$/);
  assert.equal({ rc: token.body.resource_class, n: token.body.nickname }, { rc: 'acme/linux-amd64', n: 'box-1' });

  const tokens = await cli('GET', `runner/token?${new URLSearchParams({ 'resource-class': 'acme/linux-amd64' })}`);
  assert.equal(tokens.body.items, [{ id: token.body.id, resource_class: 'acme/linux-amd64', nickname: 'box-1', created_at: token.body.created_at }]);
  assert.not.match(tokens.text, token.body.token);

  // the agent's token works as an agent, and for nothing here
  const asAgent = await cli('GET', 'runner/resource?namespace=acme', { token: token.body.token });
  assert.is(asAgent.status, 403);
  assert.match(asAgent.body.message, /runner token \(of acme\/linux-amd64\)/);

  // a class with tokens: refused, naming the way out (CircleCI: delete the tokens first, or /force)
  const refused = await cli('DELETE', `runner/resource/${created.body.id}`);
  assert.is(refused.status, 422);
  assert.match(refused.body.message, /delete its tokens first/);

  const deletedToken = await cli('DELETE', `runner/token/${token.body.id}`);
  assert.equal([deletedToken.status, deletedToken.body], [200, { message: 'Token deleted.' }]);
  assert.is((await cli('GET', 'me', { token: token.body.token, prefix: '/api/v2' })).status, 401, 'a deleted token stops working at once');
  assert.is((await cli('DELETE', `runner/token/${token.body.id}`)).status, 404);

  const deleted = await cli('DELETE', `runner/resource/${created.body.id}`);
  assert.equal([deleted.status, deleted.body], [200, { message: 'Resource class acme/linux-amd64 deleted.' }]);
  assert.equal(
    (await cli('GET', 'runner/resource?namespace=acme')).body.items.map((i: any) => i.resource_class),
    ['acme/macos'],
  );
  const audited = await waitForAudit(g, (e) => e.action.startsWith('runner.') && e.success, 6);
  assert.equal(
    audited.map((e) => e.action),
    [
      'runner.resource_class.create',
      'runner.resource_class.create',
      'runner.resource_class.create',
      'runner.token.create',
      'runner.token.delete',
      'runner.resource_class.delete',
    ],
  );
  assert.not.ok(JSON.stringify(audited).includes('tokenHash'), 'the audit log never shows the hash');
});

test('the CLI deletes with /force (and earlier releases under /api/v2): tokens go with the class', async () => {
  const rc = (await cli('POST', 'runner/resource', { json: { resource_class: 'acme/forced', description: 'x' }, prefix: '/api/v2' })).body;
  const t = (await cli('POST', 'runner/token', { json: { resource_class: 'acme/forced', nickname: 'default' } })).body;
  const forced = await cli('DELETE', `runner/resource/${rc.id}/force`);
  assert.equal([forced.status, forced.body], [200, { message: 'Resource class acme/forced and its tokens deleted.' }]);
  assert.is((await cli('GET', 'me', { token: t.token, prefix: '/api/v2' })).status, 401);
  assert.is((await cli('GET', 'runner/token?resource-class=acme/forced')).status, 404);
});

test('bad input and unknown names answer {message} with 4xx; only admins may', async () => {
  const bad = await cli('POST', 'runner/resource', { json: { resource_class: 'no-slash', description: '' } });
  assert.is(bad.status, 400);
  assert.match(bad.body.message, /namespace\/name/);
  const taken = await cli('POST', 'runner/resource', { json: { resource_class: 'ACME/MacOS', description: '' } });
  assert.equal([taken.status, taken.body.code], [422, 'RESOURCE_CLASS_EXISTS']);
  assert.is((await cli('GET', 'runner/resource')).status, 400);
  assert.is((await cli('GET', 'runner/token')).status, 400);
  assert.is((await cli('POST', 'runner/token', { json: { resource_class: 'acme/nope', nickname: 'x' } })).status, 404);
  assert.is((await cli('DELETE', 'runner/resource/not-an-id')).status, 400);
  const byName = await cli('DELETE', `runner/resource/${encodeURIComponent('acme/macos')}`);
  assert.equal([byName.status, byName.body.message], [200, 'Resource class acme/macos deleted.']);
  const user = await g.createUser('ursula');
  const forbidden = await cli('POST', 'runner/resource', { json: { resource_class: 'acme/x', description: '' }, token: user.token });
  assert.is(forbidden.status, 403);
  assert.match(forbidden.body.message, /not an administrator/);
});

test.run();
