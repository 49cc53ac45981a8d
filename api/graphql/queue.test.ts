import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { gitRepo } from '../../test/support/git-repo.ts';
import { startTestGyre, type TestGyre } from '../../test/support/gyre.ts';
import { ok, trigger, until } from '../../test/support/jobs.ts';

/** queuedJobs: the queue across every resource class, each job with why it waits (the admin UI's Runners page). */
const test = suite('api/graphql/queue: queuedJobs');
const slug = 'gh/acme/queue';
const config = `
version: 2.1
jobs:
  build:
    docker: [{image: cimg/base:stable}]
    steps: [{run: echo build}]
  on-host:
    machine: true
    steps: [{run: echo on the host}]
  deploy:
    docker: [{image: cimg/base:stable}]
    steps: [{run: echo deploy}]
workflows:
  main:
    jobs: [build, on-host, {deploy: {requires: [build]}}]
`;

let g: TestGyre;
let repo: ReturnType<typeof gitRepo>;
test.before(async () => {
  repo = gitRepo();
  repo.commit(config, 'first');
  // no agent: whatever is queued stays queued
  g = await startTestGyre({ GYRE_LOCAL_AGENT: 'false' });
  await ok(g, `mutation { createProject(input: {slug: "${slug}", gitUrl: "${repo.dir}"}) { id } }`);
});
test.after(async () => {
  await g.stop();
  repo.remove();
});

const query = 'query($first: Int) { queuedJobs(first: $first) { id name status queuedAt queueReason executor { type resourceClass } } }';

test('lists the jobs waiting in a queue with their reasons, not those blocked by what they require', async () => {
  assert.equal((await ok(g, query)).queuedJobs, [], 'nothing is queued before a pipeline runs');
  const p = await trigger(g, slug);
  const ids = Object.fromEntries(p.workflows[0]!.jobs.map((j) => [j.name, j.id]));
  const queued = await until('build and on-host to be queued', async () => {
    const q = (await ok(g, query)).queuedJobs as Array<Record<string, any>>;
    return q.length === 2 ? q : undefined;
  });
  const byName = Object.fromEntries(queued.map((j) => [j.name, j]));
  assert.equal(Object.keys(byName).sort(), ['build', 'on-host']);
  assert.is(byName.build!.id, ids.build);
  assert.is(byName.build!.status, 'queued');
  assert.ok(byName.build!.queuedAt);
  assert.equal(byName.build!.executor, { type: 'docker', resourceClass: 'medium' });
  assert.match(byName.build!.queueReason, /^no agent serves resource class docker:medium/);
  assert.match(byName['on-host']!.queueReason, /^no agent serves resource class machine:medium/);
  // longest waiting first
  assert.ok(Date.parse(queued[0]!.queuedAt) <= Date.parse(queued[1]!.queuedAt));

  const one = (await ok(g, query, { first: 1 })).queuedJobs;
  assert.is(one.length, 1);
  assert.is(one[0].id, queued[0]!.id);
});

test('first out of range is refused with the range; a user who is not an admin is refused', async () => {
  for (const first of [0, 101]) {
    const r = await g.gql(query, { first });
    assert.is(r.body.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT', String(first));
    assert.match(r.body.errors![0]!.message, /from 1 to 100/);
  }
  const user = await g.createUser('quinn');
  const r = await g.gql(query, {}, { authorization: `Bearer ${user.token}` });
  assert.is(r.body.errors?.[0]?.extensions?.code, 'FORBIDDEN');
});

test.run();
