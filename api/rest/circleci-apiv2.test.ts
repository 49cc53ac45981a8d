import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { routeRules } from '../auth/authorization.ts';
import { openApiPath } from './openapi.ts';
import { gitRepo } from '../../test/support/git-repo.ts';
import { startTestGyre, type TestGyre } from '../../test/support/gyre.ts';

/** The rest of CircleCI's API v2 that Gyre has, through real HTTP, and the OpenAPI document that lists it. */
const test = suite('api/rest/circleci-apiv2: pipeline config, by number, mine, across an org, job cancel, collaborations, users, job paging, OpenAPI');
let g: TestGyre;
let base: string;
let repo: ReturnType<typeof gitRepo>;
let dev: { id: string; token: string };
/** Every API v2 route as fastify registered it: `GET /api/v2/me`. */
const registered = new Set<string>();
const keys = (o: object) => Object.keys(o).sort();
const jobs = Array.from({ length: 22 }, (_, i) => `  j${String(i).padStart(2, '0')}: {docker: [{image: cimg/base:current}], steps: [checkout]}`).join('\n');
const config = `
version: 2.1
jobs:
${jobs}
workflows:
  main:
    jobs: [${Array.from({ length: 22 }, (_, i) => `j${String(i).padStart(2, '0')}`).join(', ')}]
`;
const api = async (method: string, path: string, token = g.adminToken, body?: unknown) => {
  const res = await fetch(`${base}/api/v2/${path}`, {
    method,
    headers: { 'circle-token': token, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
};

test.before(async () => {
  g = await startTestGyre(
    {},
    {
      onRoute: (r) => {
        for (const m of ([] as string[]).concat(r.method)) if (m !== 'HEAD' && r.url.startsWith('/api/v2/')) registered.add(`${m} ${r.url}`);
      },
    },
  );
  base = await g.app.listen({ port: 0, host: '127.0.0.1' });
  repo = gitRepo();
  repo.commit(config, 'Add CI');
  for (const slug of ['gh/acme/app', 'gh/acme/lib', 'gh/other/app'])
    assert.is((await g.gql(`mutation { createProject(input: {slug: "${slug}", gitUrl: "${repo.dir}"}) { id } }`)).body.errors, undefined);
  dev = await g.createUser('dev', { orgs: ['acme'] });
});
test.after(async () => {
  await g.stop();
  repo.remove();
});

let first = '';
test('GET /pipeline/{id}/config: source and compiled; setup configs empty', async () => {
  first = (await api('POST', 'project/gh/acme/app/pipeline', dev.token, {})).body.id;
  const r = await api('GET', `pipeline/${first}/config`);
  assert.is(r.status, 200);
  assert.equal(keys(r.body), ['compiled', 'compiled-setup-config', 'setup-config', 'source']);
  assert.is(r.body.source, config);
  assert.match(r.body.compiled, /j21:/);
  assert.equal([r.body['setup-config'], r.body['compiled-setup-config']], ['', '']);
  assert.is((await api('GET', 'pipeline/00000000-0000-4000-8000-000000000000/config')).status, 404);
});

test('GET /project/{slug}/pipeline/{number}, both slug forms; 404 and 400', async () => {
  for (const slug of ['gh/acme/app', 'gh%2Facme%2Fapp']) {
    const r = await api('GET', `project/${slug}/pipeline/1`);
    assert.equal([r.status, r.body.id, r.body.number], [200, first, 1], slug);
  }
  assert.is((await api('GET', 'project/gh/acme/app/pipeline/9')).status, 404);
  assert.is((await api('GET', 'project/gh/acme/app/pipeline/x')).status, 400);
});

test('GET /project/{slug}/pipeline/mine and GET /pipeline?org-slug=&mine=', async () => {
  const byAdmin = (await api('POST', 'project/gh/acme/lib/pipeline', g.adminToken, {})).body.id;
  const other = (await api('POST', 'project/gh/other/app/pipeline', g.adminToken, {})).body.id;
  const mine = await api('GET', 'project/gh/acme/app/pipeline/mine', dev.token);
  assert.equal([mine.status, mine.body.items.map((p: { id: string }) => p.id), mine.body.next_page_token], [200, [first], null]);
  assert.equal((await api('GET', 'project/gh%2Facme%2Fapp/pipeline/mine')).body.items, [], 'the admin triggered none there');
  const org = await api('GET', 'pipeline?org-slug=gh/acme');
  assert.equal(
    org.body.items.map((p: { id: string }) => p.id),
    [byAdmin, first],
  );
  assert.equal(
    (await api('GET', 'pipeline?org-slug=gh/acme&mine=true', dev.token)).body.items.map((p: { id: string }) => p.id),
    [first],
  );
  assert.equal(
    (await api('GET', 'pipeline?mine=true')).body.items.map((p: { id: string }) => p.id),
    [other, byAdmin],
  );
  assert.is((await api('GET', 'pipeline?mine=maybe')).status, 400);
  assert.is((await api('GET', 'pipeline?page-token=nonsense')).status, 400);
});

test('GET /workflow/{id}/job pages by next_page_token', async () => {
  const w = (await api('GET', `pipeline/${first}/workflow`)).body.items[0].id;
  const one = await api('GET', `workflow/${w}/job`);
  assert.equal([one.body.items.length, typeof one.body.next_page_token], [20, 'string']);
  const two = await api('GET', `workflow/${w}/job?page-token=${one.body.next_page_token}`);
  assert.equal([two.body.items.map((j: { name: string }) => j.name), two.body.next_page_token], [['j20', 'j21'], null]);
});

test('POST /project/{slug}/job/{number}/cancel → 202; only that job ends; again → 422; others’ orgs → 403', async () => {
  const w = (await api('GET', `pipeline/${first}/workflow`)).body.items[0].id;
  const job = (await api('GET', `workflow/${w}/job`)).body.items.find((j: { name: string }) => j.name === 'j00');
  const c = await api('POST', `project/gh/acme/app/job/${job.job_number}/cancel`, dev.token);
  assert.equal([c.status, c.body], [202, { message: 'Accepted.' }]);
  const after = (await api('GET', `workflow/${w}/job`)).body.items;
  assert.equal(
    after.filter((j: { status: string }) => j.status === 'canceled').map((j: { name: string }) => j.name),
    ['j00'],
  );
  assert.is((await api('GET', `workflow/${w}`)).body.status, 'running');
  const again = await api('POST', `project/gh%2Facme%2Fapp/job/${job.job_number}/cancel`, dev.token);
  assert.is(again.status, 422, JSON.stringify(again.body));
  const elsewhere = (await api('GET', 'project/gh/other/app/pipeline')).body.items[0].id;
  const ow = (await api('GET', `pipeline/${elsewhere}/workflow`)).body.items[0].id;
  const oj = (await api('GET', `workflow/${ow}/job`)).body.items[0];
  assert.is((await api('POST', `project/gh/other/app/job/${oj.job_number}/cancel`, dev.token)).status, 403);
  assert.is((await api('POST', 'project/gh/acme/app/job/999/cancel', dev.token)).status, 404);
});

test('GET /me/collaborations and GET /user/{id}', async () => {
  const c = await api('GET', 'me/collaborations', dev.token);
  assert.is(c.status, 200);
  assert.equal(
    c.body.map((o: object) => keys(o)),
    [['avatar_url', 'id', 'name', 'slug', 'vcs-type']],
  );
  assert.equal([c.body[0].name, c.body[0].slug, c.body[0]['vcs-type']], ['acme', 'gh/acme', 'github']);
  const project = await g.gql('query { project(slug: "gh/acme/app") { organizationId } }');
  if (project.body.data?.project?.organizationId) assert.is(c.body[0].id, project.body.data.project.organizationId);
  const u = await api('GET', `user/${dev.id}`);
  assert.equal([u.status, u.body], [200, { id: dev.id, login: 'dev', name: u.body.name }]);
  assert.equal(keys(u.body), ['id', 'login', 'name']);
  assert.is((await api('GET', 'user/00000000-0000-4000-8000-000000000000')).status, 404);
});

test('GET /pipeline pages by next_page_token, newest first, none twice', async () => {
  for (let i = 0; i < 20; i++) assert.is((await api('POST', 'project/gh/acme/lib/pipeline', g.adminToken, {})).status, 201);
  const one = await api('GET', 'pipeline?org-slug=gh/acme');
  assert.equal([one.body.items.length, typeof one.body.next_page_token], [20, 'string']);
  const two = await api('GET', `pipeline?org-slug=gh/acme&page-token=${one.body.next_page_token}`);
  assert.equal([two.body.items.length, two.body.next_page_token], [2, null]);
  const all = [...one.body.items, ...two.body.items];
  assert.is(new Set(all.map((p: { id: string }) => p.id)).size, 22);
  assert.is(all.at(-1).id, first);
});

test('/openapi.json lists every /api/v2 route fastify registered, and nothing else', async () => {
  const doc = (await api('GET', 'openapi.json')).body;
  const listed = new Set(
    Object.entries(doc.paths as Record<string, object>).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)),
  );
  const served = new Set(
    [...registered].map((key) => {
      const [method, url] = key.split(' ') as [string, string];
      return `${method} ${openApiPath(url)}`;
    }),
  );
  assert.ok(served.size > 40, `fastify registered ${served.size} API v2 routes`);
  // and every /api/v2 rule in the authorization table is a route fastify serves
  for (const key of Object.keys(routeRules)) if (key.split(' ')[1]!.startsWith('/api/v2/')) assert.ok(registered.has(key), `${key} has a rule but no route`);
  for (const op of served) assert.ok(listed.has(op), `${op} is served but not in openapi.json`);
  for (const op of listed) assert.ok(served.has(op), `${op} is in openapi.json but not served`);
  for (const op of [
    'GET /pipeline/{id}/config',
    'GET /project/{project-slug}/pipeline/{number}',
    'GET /project/{project-slug}/pipeline/mine',
    'GET /pipeline',
    'POST /project/{project-slug}/job/{number}/cancel',
    'GET /me/collaborations',
    'GET /user/{id}',
    'GET /insights/{project-slug}/workflows',
    'GET /insights/{project-slug}/workflows/{workflow-name}',
    'GET /insights/{project-slug}/workflows/{workflow-name}/jobs',
    'GET /insights/{project-slug}/flaky-tests',
    'GET /project/{project-slug}/schedule',
    'POST /project/{project-slug}/schedule',
    'GET /schedule/{schedule-id}',
    'PATCH /schedule/{schedule-id}',
    'DELETE /schedule/{schedule-id}',
  ])
    assert.ok(listed.has(op), op);
});

test.run();
