import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { dockerForTests } from './support/docker.ts';
import { gitRepo } from './support/git-repo.ts';
import { startTestGyre, type TestGyre } from './support/gyre.ts';
import { ensureServiceImage, ensureTestImage } from './support/images.ts';
import { finished, ok, trigger } from './support/jobs.ts';

/** Jobs really run: the agent inside the server, real containers on the local Docker engine, real processes on the host. */
const test = suite('execution: docker and machine jobs run end to end');
let g: TestGyre;
let repo: ReturnType<typeof gitRepo>;
const slug = 'gh/acme/run';

const config = `
version: 2.1
jobs:
  build:
    docker: [{image: cimg/base:stable}]
    environment: {GREETING: hello}
    steps:
      - checkout
      - run: echo "$GREETING from $CIRCLE_JOB at $CIRCLE_SHA1" && ls ~/project/.circleci
      - run:
          name: pipefail holds
          command: if false | true; then echo "pipefail is off"; exit 1; fi
      - store_artifacts: {path: out}
  test:
    docker: [{image: cimg/base:stable}]
    steps:
      - run: echo testing && exit 3
      - run: {name: never runs, command: echo nope}
      - run: {name: cleanup, command: echo cleaning up, when: always}
  after-test:
    docker: [{image: cimg/base:stable}]
    steps: [{run: echo should not run}]
  on-host:
    machine: true
    steps:
      - checkout
      - run: echo "on the host in $PWD" && test -f .circleci/config.yml
workflows:
  main:
    jobs:
      - build
      - test: {requires: [build]}
      - after-test: {requires: [test]}
      - on-host
`;

test.before(async () => {
  const docker = await dockerForTests();
  await ensureTestImage(docker, ['cimg/base:stable']);
  await ensureServiceImage(docker, ['postgres:16']);
  g = await startTestGyre({ GYRE_LOCAL_AGENT: 'true', GYRE_LOCAL_MACHINE_JOBS: 'true' });
  repo = gitRepo();
  repo.commit(config, 'first');
  await ok(g, `mutation { createProject(input: {slug: "${slug}", gitUrl: "${repo.dir}"}) { id } }`);
});
test.after(async () => {
  await g.stop();
  repo.remove();
});

test('a docker job and a machine job pass; a failing command fails its job, runs when: always steps, and its dependents do not run', async () => {
  const p = await trigger(g, slug);
  const w = await finished(g, p.workflows[0]!.id);
  assert.is(w.byName.build!.status, 'success');
  assert.is(w.byName['on-host']!.status, 'success');
  assert.is(w.byName.test!.status, 'failed');
  assert.is(w.byName['after-test']!.status, 'not_run');
  assert.is(w.status, 'failed');

  const build = await g.app.inject({ url: `/api/v1.1/project/${slug}/${w.byName.build!.jobNumber}`, headers: { 'circle-token': g.adminToken } });
  assert.is(build.statusCode, 200);
  const b = build.json();
  assert.is(b.status, 'success');
  assert.is(b.lifecycle, 'finished');
  assert.equal(b.steps.map((s: { name: string }) => s.name), ['Spin up environment', 'Checkout code', 'echo "$GREETING from $CIRCLE_JOB at $CIRCLE_SHA1" && ls ~/project/.circleci', 'pipefail holds', 'Uploading artifacts']);
  const echo = b.steps[2].actions[0];
  assert.is(echo.exit_code, 0);
  assert.is(echo.step, 102);
  const out = await g.app.inject({ url: new URL(echo.output_url).pathname, headers: { 'circle-token': g.adminToken } });
  const lines = out.json() as Array<{ type: string; message: string }>;
  assert.match(lines[0]!.message, `hello from build at ${repo.git('rev-parse', 'HEAD')}`);
  assert.match(lines[0]!.message, 'config.yml');
  const raw = await g.app.inject({ url: `/api/private/output/raw/${slug}/${w.byName.build!.jobNumber}/output/0/104`, headers: { 'circle-token': g.adminToken } });
  assert.match(raw.body, 'artifacts are not stored yet');

  const t = (await g.app.inject({ url: `/api/v1.1/project/${slug}/${w.byName.test!.jobNumber}`, headers: { 'circle-token': g.adminToken } })).json();
  assert.equal(t.steps.map((s: { name: string; actions: Array<{ status: string; exit_code: number | null }> }) => [s.name, s.actions[0]!.status, s.actions[0]!.exit_code]), [
    ['Spin up environment', 'success', null],
    ['echo testing && exit 3', 'failed', 3],
    ['cleanup', 'success', 0],
  ]);
});

test.run();
