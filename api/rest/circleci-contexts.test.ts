import type { AddressInfo } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestGyre, waitForAudit, type TestGyre, loggedEvents } from '../../test/support/gyre.ts';

/**
 * The requests the official `circleci` CLI (CircleCI-Public/circleci-cli, api/context/rest.go and
 * context.go, api/rest/client.go) sends to a server that is not circleci.com, over a real port.
 */
const test = suite('api/rest/circleci-contexts: the circleci CLI against Gyre');
let g: TestGyre;
let base: string;
let carol: { id: string; token: string };

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const isoTime = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/;
const keys = (o: unknown) => Object.keys(o as object).sort();

interface Answer {
  status: number;
  body: any;
  text: string;
}

/**
 * One request as the CLI's rest.Client builds it: Circle-Token, Accept and User-Agent always,
 * Content-Type and a json.Encoder body (with its trailing newline) only when there is a payload.
 * Every answer must be JSON, whatever its status: the CLI decodes `{message}` from errors too.
 */
const cli = async (method: string, path: string, options: { json?: unknown; raw?: string; token?: string | null } = {}): Promise<Answer> => {
  const token = options.token === undefined ? carol.token : options.token;
  const headers: Record<string, string> = {
    accept: 'application/json',
    'user-agent': 'circleci-cli/0.1.31425+abcdef0 (linux amd64 )',
    'circleci-cli-command': 'context',
  };
  if (token) headers['circle-token'] = token;
  let body: string | undefined;
  if (options.json !== undefined || options.raw !== undefined) {
    headers['content-type'] = 'application/json';
    body = options.raw ?? `${JSON.stringify(options.json)}\n`;
  }
  const res = await fetch(`${base}/api/v2/${path}`, { method, headers, body });
  const text = await res.text();
  assert.match(
    String(res.headers.get('content-type')),
    /application\/json/,
    `${method} ${path} (${res.status}) answered ${res.headers.get('content-type')}: ${text}`,
  );
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    assert.unreachable(`${method} ${path} (${res.status}) answered a body that is not JSON: ${text}`);
  }
  return { status: res.status, body: parsed, text };
};

/** A refusal as the CLI shows it: a 4xx status and a JSON `{message}` it can print. */
const refused = (r: Answer, status: number | '4xx', what: string) => {
  if (status === '4xx') assert.ok(r.status >= 400 && r.status < 500, `${what}: status ${r.status}, body ${r.text}`);
  else assert.is(r.status, status, `${what}: body ${r.text}`);
  assert.type(r.body.message, 'string', `${what}: no message in ${r.text}`);
  assert.ok(r.body.message.length > 0, `${what}: empty message`);
};

const listAll = async (query: string) => {
  const names: string[] = [];
  let token: string | null = null;
  let pages = 0;
  do {
    const r = await cli('GET', `context?${query}${token ? `&page-token=${encodeURIComponent(token)}` : ''}`);
    assert.is(r.status, 200, r.text);
    assert.equal(keys(r.body), ['items', 'next_page_token']);
    names.push(...r.body.items.map((c: any) => c.name));
    token = r.body.next_page_token;
    pages++;
    assert.ok(pages < 20, 'paging does not end');
  } while (token !== null);
  return { names, pages };
};

const orgIdOf = async (contextId: string): Promise<string> => {
  const r = await g.gql('query($id: ID!) { context(id: $id) { owner { id slug type } } }', { id: contextId }, { authorization: `Bearer ${carol.token}` });
  assert.equal(r.body.errors, undefined);
  const owner = r.body.data!.context.owner;
  assert.is(owner.slug, 'gh/acme');
  assert.is(owner.type, 'organization');
  return owner.id as string;
};

let deploy: { id: string; name: string; created_at: string };

test.before(async () => {
  g = await startTestGyre();
  carol = await g.createUser('carol', { orgs: ['acme', 'pager', 'other'] });
  await g.app.listen({ port: 0, host: '127.0.0.1' });
  base = `http://127.0.0.1:${(g.app.server.address() as AddressInfo).port}`;
});
test.after(async () => g.stop());

test('openapi.json names /context, so the CLI uses REST rather than falling back to GraphQL', async () => {
  const r = await cli('GET', 'openapi.json');
  assert.is(r.status, 200);
  assert.ok(r.body.paths, 'no paths');
  assert.ok(r.body.paths['/context'], 'no /context path');
  assert.ok(r.body.paths['/context'].get && r.body.paths['/context'].post, 'GET and POST /context');
  const anonymous = await cli('GET', 'openapi.json', { token: null });
  assert.is(anonymous.status, 200);
  assert.ok(anonymous.body.paths['/context']);
});

test('an organization with no contexts lists none, on one page', async () => {
  const r = await cli('GET', 'context?owner-slug=github/acme');
  assert.is(r.status, 200, r.text);
  assert.equal(r.body, { items: [], next_page_token: null });
});

test('create a context by owner slug: {id, name, created_at}; the same name again is refused', async () => {
  const r = await cli('POST', 'context', { json: { name: 'deploy', owner: { type: 'organization', slug: 'github/acme' } } });
  assert.is(r.status, 200, r.text);
  assert.equal(keys(r.body), ['created_at', 'id', 'name']);
  assert.match(r.body.id, uuid);
  assert.is(r.body.name, 'deploy');
  assert.match(r.body.created_at, isoTime);
  assert.ok(!Number.isNaN(Date.parse(r.body.created_at)));
  deploy = r.body;

  const again = await cli('POST', 'context', { json: { name: 'deploy', owner: { type: 'organization', slug: 'github/acme' } } });
  refused(again, '4xx', 'a second context named deploy');
  const listed = await cli('GET', 'context?owner-slug=github/acme');
  assert.equal(listed.body, { items: [deploy], next_page_token: null }, 'the refused create added nothing');
});

test('the CLI finds the context by listing, and GET /context/{id} answers the same shape', async () => {
  const listed = await cli('GET', 'context?owner-slug=github/acme');
  assert.is(listed.status, 200);
  assert.equal(listed.body, { items: [deploy], next_page_token: null });
  const gh = await cli('GET', 'context?owner-slug=gh/acme');
  assert.equal(gh.body, listed.body, 'gh/ and github/ name the same organization');
  const one = await cli('GET', `context/${deploy.id}`);
  assert.is(one.status, 200, one.text);
  assert.equal(one.body, deploy);
});

test('owner-id: listing and creating by the organization id', async () => {
  const orgId = await orgIdOf(deploy.id);
  assert.match(orgId, uuid);
  const byId = await cli('GET', `context?owner-id=${orgId}`);
  assert.is(byId.status, 200, byId.text);
  assert.equal(byId.body, { items: [deploy], next_page_token: null });

  const created = await cli('POST', 'context', { json: { name: 'staging', owner: { type: 'organization', id: orgId } } });
  assert.is(created.status, 200, created.text);
  assert.equal(keys(created.body), ['created_at', 'id', 'name']);
  assert.is(created.body.name, 'staging');
  assert.match(created.body.created_at, isoTime);
  assert.is(await orgIdOf(created.body.id), orgId);
  const bySlug = await cli('GET', 'context?owner-slug=github/acme');
  assert.equal(bySlug.body, { items: [deploy, created.body], next_page_token: null });
  const again = await cli('GET', `context?owner-id=${orgId}`);
  assert.equal(again.body, bySlug.body);
  const gone = await cli('DELETE', `context/${created.body.id}`);
  assert.is(gone.status, 200, gone.text);
});

test('store a variable: {variable, created_at, updated_at, context_id}, never its value; a second PUT replaces it', async () => {
  const value = 'AKIA-first-secret-value-0001';
  const first = await cli('PUT', `context/${deploy.id}/environment-variable/AWS_KEY`, { json: { value } });
  assert.is(first.status, 200, first.text);
  assert.equal(keys(first.body), ['context_id', 'created_at', 'updated_at', 'variable']);
  assert.is(first.body.variable, 'AWS_KEY');
  assert.is(first.body.context_id, deploy.id);
  assert.match(first.body.created_at, isoTime);
  assert.match(first.body.updated_at, isoTime);
  assert.not.ok(first.text.includes(value), 'the value is in the answer');
  assert.not.ok(first.text.includes('0001'), 'the value, even masked, is in the answer');

  const second = await cli('PUT', `context/${deploy.id}/environment-variable/AWS_KEY`, { json: { value: 'AKIA-second-secret-value-0002' } });
  assert.is(second.status, 200, second.text);
  assert.equal(keys(second.body), ['context_id', 'created_at', 'updated_at', 'variable']);
  assert.is(second.body.created_at, first.body.created_at, 'replacing keeps created_at');
  assert.ok(Date.parse(second.body.updated_at) >= Date.parse(second.body.created_at));
  assert.ok(Date.parse(second.body.updated_at) >= Date.parse(first.body.updated_at));
  assert.not.ok(second.text.includes('0002'));

  const list = await cli('GET', `context/${deploy.id}/environment-variable`);
  assert.is(list.status, 200, list.text);
  assert.equal(keys(list.body), ['items', 'next_page_token']);
  assert.is(list.body.next_page_token, null);
  assert.equal(list.body.items, [second.body], 'one variable, as the second PUT answered it');
  for (const item of list.body.items) assert.not.ok('value' in item, 'a value key in the list');
  assert.not.ok(list.text.includes('secret-value') || list.text.includes('xxxx'), 'a value or mask in the list');

  const events = await loggedEvents(g);
  assert.not.ok(JSON.stringify(events).includes('secret-value'), 'a value in clear text in the event log');
});

test('delete a variable: {message}; deleting it again is refused with a message', async () => {
  const r = await cli('DELETE', `context/${deploy.id}/environment-variable/AWS_KEY`);
  assert.is(r.status, 200, r.text);
  assert.equal(keys(r.body), ['message']);
  assert.type(r.body.message, 'string');
  const again = await cli('DELETE', `context/${deploy.id}/environment-variable/AWS_KEY`);
  refused(again, 404, 'deleting a variable twice');
  const list = await cli('GET', `context/${deploy.id}/environment-variable`);
  assert.equal(list.body, { items: [], next_page_token: null });
});

test('45 contexts page by page-token until next_page_token is null, each once, in name order', async () => {
  const names = Array.from({ length: 45 }, (_, i) => `ctx-${String(i).padStart(2, '0')}`);
  for (const name of [...names].reverse()) {
    const r = await cli('POST', 'context', { json: { name, owner: { type: 'organization', slug: 'github/pager' } } });
    assert.is(r.status, 200, r.text);
  }
  const { names: seen, pages } = await listAll('owner-slug=github/pager');
  assert.equal(seen, names);
  assert.is(new Set(seen).size, 45);
  assert.ok(pages >= 3, `45 contexts on ${pages} pages`);
  const acme = await listAll('owner-slug=github/acme');
  assert.equal(acme.names, ['deploy'], 'another organization’s contexts stay apart');
});

test('a page-token this API did not give out is a 400 with a JSON message', async () => {
  for (const token of ['garbage', '!!!!', '%00%01', 'zzzz']) {
    const r = await cli('GET', `context?owner-slug=github/pager&page-token=${token}`);
    refused(r, 400, `page-token ${token}`);
    const vars = await cli('GET', `context/${deploy.id}/environment-variable?page-token=${token}`);
    refused(vars, 400, `environment-variable page-token ${token}`);
  }
});

test('bad input is a 400 with a JSON message, changes nothing, and is audited as refused', async () => {
  const before = {
    contexts: (await cli('GET', 'context?owner-slug=github/acme')).body,
    vars: (await cli('GET', `context/${deploy.id}/environment-variable`)).body,
  };

  const badName = await cli('PUT', `context/${deploy.id}/environment-variable/BAD-NAME`, { json: { value: 'v' } });
  refused(badName, 400, 'variable name BAD-NAME');
  const noOwner = await cli('POST', 'context', { json: { name: 'orphan' } });
  refused(noOwner, 400, 'a context without an owner');
  const notJson = await cli('POST', 'context', { raw: '{not json' });
  refused(notJson, 400, 'a body that is not JSON');
  const notJsonPut = await cli('PUT', `context/${deploy.id}/environment-variable/FOO`, { raw: '{not json' });
  refused(notJsonPut, 400, 'a PUT body that is not JSON');
  const getBadId = await cli('GET', 'context/not-a-uuid');
  refused(getBadId, 400, 'GET with an id that is not a UUID');
  const deleteBadId = await cli('DELETE', 'context/not-a-uuid');
  refused(deleteBadId, 400, 'DELETE with an id that is not a UUID');
  const putBadId = await cli('PUT', 'context/not-a-uuid/environment-variable/FOO', { json: { value: 'v' } });
  refused(putBadId, 400, 'PUT with a context id that is not a UUID');

  assert.equal((await cli('GET', 'context?owner-slug=github/acme')).body, before.contexts, 'contexts changed');
  assert.equal((await cli('GET', `context/${deploy.id}/environment-variable`)).body, before.vars, 'variables changed');

  const refusal = (action: string, operation: string, reason: RegExp) => (r: Record<string, any>) =>
    r.action === action && r.success === false && r.payload.status === 400 && r.payload.operation === operation && reason.test(r.payload.reason);
  const put = 'PUT /api/v2/context/:id/environment-variable/:name';
  const expected: Array<[string, string, RegExp]> = [
    ['context.env_var.store', put, /environment variable name/],
    ['context.env_var.store', put, /not valid JSON/],
    ['context.env_var.store', put, /UUID/],
    ['context.create', 'POST /api/v2/context', /must be JSON like/],
    ['context.create', 'POST /api/v2/context', /not valid JSON/],
    ['context.read', 'GET /api/v2/context/:id', /UUID/],
    ['context.delete', 'DELETE /api/v2/context/:id', /UUID/],
  ];
  for (const [action, operation, reason] of expected) {
    const found = await waitForAudit(g, refusal(action, operation, reason));
    assert.is(found.length, 1, `${action} ${operation} ${reason}: ${found.length} refusals audited`);
    assert.not.ok(JSON.stringify(found[0]).includes('not json'), 'the body is quoted in the audit log');
  }
});

test('without a token every route is a 401 with a JSON message', async () => {
  const routes: Array<[string, string, unknown?]> = [
    ['GET', 'context?owner-slug=github/acme'],
    ['POST', 'context', { name: 'sneaky', owner: { type: 'organization', slug: 'github/acme' } }],
    ['GET', `context/${deploy.id}`],
    ['DELETE', `context/${deploy.id}`],
    ['GET', `context/${deploy.id}/environment-variable`],
    ['PUT', `context/${deploy.id}/environment-variable/FOO`, { value: 'v' }],
    ['DELETE', `context/${deploy.id}/environment-variable/FOO`],
  ];
  for (const [method, path, json] of routes) {
    const anonymous = await cli(method, path, { json, token: null });
    refused(anonymous, 401, `${method} ${path} without a token`);
    const wrong = await cli(method, path, { json, token: 'gyre_not-a-real-token' });
    refused(wrong, 401, `${method} ${path} with a wrong token`);
  }
  const listed = await cli('GET', 'context?owner-slug=github/acme');
  assert.equal(listed.body.items, [deploy], 'nothing changed');
});

test('outsiders and non-members of a restricted context’s group are refused with 403 and a message', async () => {
  const outsider = await g.createUser('oscar', { orgs: ['elsewhere'] });
  refused(
    await cli('PUT', `context/${deploy.id}/environment-variable/X`, { json: { value: 'v' }, token: outsider.token }),
    403,
    'an outsider storing a variable',
  );
  refused(
    await cli('POST', 'context', { json: { name: 'mine', owner: { slug: 'github/acme', type: 'organization' } }, token: outsider.token }),
    403,
    'an outsider creating a context',
  );
  const restricted = await g.gql(`mutation { addContextRestriction(contextId: "${deploy.id}", group: "release") { id } }`);
  assert.is(restricted.body.errors, undefined);
  const r = await cli('PUT', `context/${deploy.id}/environment-variable/X`, { json: { value: 'v' } });
  refused(r, 403, 'a member outside the group storing a variable');
  assert.match(r.body.message, /restricted to \(acme\/release\)/);
  refused(await cli('DELETE', `context/${deploy.id}`), 403, 'a member outside the group deleting the context');
  const teamMember = await g.createUser('rhea', { orgs: ['acme'], teams: ['acme/release'] });
  assert.is((await cli('PUT', `context/${deploy.id}/environment-variable/X`, { json: { value: 'v' }, token: teamMember.token })).status, 200);
  assert.is((await cli('DELETE', `context/${deploy.id}/environment-variable/X`, { token: teamMember.token })).status, 200);
  const r2 = (await g.gql(`{ context(id: "${deploy.id}") { restrictions { id } } }`)).body.data!.context.restrictions[0].id;
  assert.is((await g.gql(`mutation { removeContextRestriction(contextId: "${deploy.id}", restrictionId: "${r2}") { id } }`)).body.errors, undefined);
});

test('delete the context: {message}; afterwards GET is a 404 with a message', async () => {
  const r = await cli('DELETE', `context/${deploy.id}`);
  assert.is(r.status, 200, r.text);
  assert.equal(keys(r.body), ['message']);
  assert.type(r.body.message, 'string');
  const after = await cli('GET', `context/${deploy.id}`);
  refused(after, 404, 'GET a deleted context');
  const listed = await cli('GET', 'context?owner-slug=github/acme');
  assert.equal(listed.body, { items: [], next_page_token: null });
});

test('an unknown route under /api/v2 answers JSON too', async () => {
  const r = await cli('GET', 'no-such-thing');
  refused(r, 404, 'an unknown route');
});

test.run();
