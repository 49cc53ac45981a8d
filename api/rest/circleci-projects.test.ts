import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestGyre, waitForAudit, type TestGyre, loggedEvents } from '../../test/support/gyre.ts';

const test = suite('api/rest/circleci-projects: CircleCI API v2 projects and project environment variables');
let g: TestGyre;
let dan: { id: string; token: string };
let project: { id: string; organizationId: string; defaultBranch: string };

const isoTime = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/;
const keys = (o: unknown) => Object.keys(o as object).sort();
const secret = 'abcdef123456';

/** A CircleCI API v2 request with Circle-Token; every answer must be JSON. */
const api = async (method: 'GET' | 'POST' | 'DELETE', path: string, json?: unknown, token: string | null = dan.token) => {
  const res = await g.app.inject({
    method,
    url: `/api/v2/${path}`,
    headers: { accept: 'application/json', ...(token ? { 'circle-token': token } : {}), ...(json === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(json === undefined ? {} : { payload: JSON.stringify(json) }),
  });
  assert.match(
    String(res.headers['content-type']),
    /application\/json/,
    `${method} ${path} (${res.statusCode}) answered ${res.headers['content-type']}: ${res.body}`,
  );
  return { status: res.statusCode, body: res.json() as any, text: res.body };
};

const refused = (r: { status: number; body: any; text: string }, status: number, what: string) => {
  assert.is(r.status, status, `${what}: ${r.text}`);
  assert.type(r.body.message, 'string', `${what}: no message in ${r.text}`);
  assert.ok(r.body.message.length > 0, `${what}: empty message`);
};

test.before(async () => {
  g = await startTestGyre();
  dan = await g.createUser('dan', { orgs: ['acme'] });
  const created = await g.gql(
    'mutation { createProject(input: {slug: "gh/acme/app", gitUrl: "https://github.com/acme/app.git"}) { id organizationId settings { defaultBranch } } }',
    {},
    { authorization: `Bearer ${dan.token}` },
  );
  assert.equal(created.body.errors, undefined, JSON.stringify(created.body.errors));
  const p = created.body.data!.createProject;
  project = { id: p.id, organizationId: p.organizationId, defaultBranch: p.settings.defaultBranch };
});
test.after(async () => g.stop());

test('GET /project/{slug}: CircleCI’s Project shape, whatever the provider spelling or case', async () => {
  const expected = {
    slug: 'gh/acme/app',
    name: 'app',
    id: project.id,
    organization_name: 'acme',
    organization_slug: 'gh/acme',
    organization_id: project.organizationId,
    vcs_info: { vcs_url: 'https://github.com/acme/app.git', provider: 'GitHub', default_branch: project.defaultBranch },
  };
  for (const slug of ['gh/acme/app', 'github/acme/app', 'gh/ACME/App', 'github/Acme/APP']) {
    const r = await api('GET', `project/${slug}`);
    assert.is(r.status, 200, `${slug}: ${r.text}`);
    assert.equal(keys(r.body), ['id', 'name', 'organization_id', 'organization_name', 'organization_slug', 'slug', 'vcs_info']);
    assert.equal(keys(r.body.vcs_info), ['default_branch', 'provider', 'vcs_url']);
    assert.equal(r.body, expected, slug);
  }
});

test('an unknown project is a 404 with a message; no token is a 401', async () => {
  refused(await api('GET', 'project/gh/acme/nope'), 404, 'unknown project');
  refused(await api('GET', 'project/gh/other/app'), 404, 'unknown organization');
  refused(await api('GET', 'project/gh/acme/nope/envvar'), 404, 'envvars of an unknown project');
  refused(await api('GET', 'project/gh/acme/app', undefined, null), 401, 'no token');
  refused(await api('POST', 'project/gh/acme/app/envvar', { name: 'X', value: 'y' }, null), 401, 'create without a token');
});

test('POST envvar: 201 and {name, value, created_at} with the value masked', async () => {
  const r = await api('POST', 'project/gh/acme/app/envvar', { name: 'TOKEN', value: secret });
  assert.is(r.status, 201, r.text);
  assert.equal(keys(r.body), ['created_at', 'name', 'value']);
  assert.is(r.body.name, 'TOKEN');
  assert.is(r.body.value, 'xxxx3456');
  assert.match(r.body.created_at, isoTime);
  assert.not.ok(r.text.includes(secret));

  const short = await api('POST', 'project/github/acme/app/envvar', { name: 'PIN', value: 'abc' });
  assert.is(short.status, 201, short.text);
  assert.equal(keys(short.body), ['created_at', 'name', 'value']);
  assert.is(short.body.value, 'xxxx');
  assert.not.ok(short.text.includes('abc'));
});

test('GET envvar lists masked values only, with next_page_token null', async () => {
  const r = await api('GET', 'project/gh/acme/app/envvar');
  assert.is(r.status, 200, r.text);
  assert.equal(keys(r.body), ['items', 'next_page_token']);
  assert.is(r.body.next_page_token, null);
  assert.equal(
    r.body.items.map((i: any) => [i.name, i.value]),
    [
      ['PIN', 'xxxx'],
      ['TOKEN', 'xxxx3456'],
    ],
  );
  for (const item of r.body.items) {
    assert.equal(keys(item), ['created_at', 'name', 'value']);
    assert.match(item.created_at, isoTime);
  }
  assert.not.ok(r.text.includes(secret) || r.text.includes('"abc"'), 'a value in clear text');
});

test('GET envvar/{name} is masked', async () => {
  const r = await api('GET', 'project/gh/acme/app/envvar/TOKEN');
  assert.is(r.status, 200, r.text);
  assert.equal(keys(r.body), ['created_at', 'name', 'value']);
  assert.is(r.body.name, 'TOKEN');
  assert.is(r.body.value, 'xxxx3456');
  assert.not.ok(r.text.includes(secret));
  refused(await api('GET', 'project/gh/acme/app/envvar/MISSING'), 404, 'an unknown variable');
});

test('bad variable names and bodies are 400s with a message', async () => {
  refused(await api('POST', 'project/gh/acme/app/envvar', { name: 'BAD-NAME', value: 'v' }), 400, 'name BAD-NAME');
  refused(await api('POST', 'project/gh/acme/app/envvar', { value: 'v' }), 400, 'no name');
  refused(await api('POST', 'project/gh/acme/app/envvar', { name: 'OK', value: 42 }), 400, 'a value that is not a string');
  const listed = await api('GET', 'project/gh/acme/app/envvar');
  assert.equal(
    listed.body.items.map((i: any) => i.name),
    ['PIN', 'TOKEN'],
    'refusals changed nothing',
  );
});

test('DELETE envvar/{name}: {message}; afterwards GET is a 404', async () => {
  const r = await api('DELETE', 'project/gh/acme/app/envvar/TOKEN');
  assert.is(r.status, 200, r.text);
  assert.equal(keys(r.body), ['message']);
  assert.type(r.body.message, 'string');
  refused(await api('GET', 'project/gh/acme/app/envvar/TOKEN'), 404, 'a deleted variable');
  const listed = await api('GET', 'project/gh/acme/app/envvar');
  assert.equal(
    listed.body.items.map((i: any) => i.name),
    ['PIN'],
  );
});

test('the audit log holds the create and the delete, with {projectId, slug, name} and no value or ciphertext', async () => {
  const created = await waitForAudit(g, (r) => r.action === 'project.env_var.create' && r.success === true && r.payload.name === 'TOKEN');
  assert.is(created.length, 1);
  assert.equal(created[0]!.payload, { projectId: project.id, slug: 'gh/acme/app', name: 'TOKEN' });
  const deleted = await waitForAudit(g, (r) => r.action === 'project.env_var.delete' && r.success === true && r.payload.name === 'TOKEN');
  assert.is(deleted.length, 1);
  assert.equal(deleted[0]!.payload, { projectId: project.id, slug: 'gh/acme/app', name: 'TOKEN' });
  const all = await waitForAudit(g, (r) => String(r.action).startsWith('project.env_var.'), 1);
  const text = JSON.stringify(all);
  assert.not.ok(text.includes(secret), 'a value in the audit log');
  assert.not.ok(text.includes('gyre:aes-256-gcm:'), 'a ciphertext in the audit log');
  assert.not.ok(text.includes('xxxx3456'), 'a masked value in the audit log');
  const events = await loggedEvents(g);
  assert.not.ok(JSON.stringify(events).includes(secret), 'a value in clear text in the event log');
});

test.run();
