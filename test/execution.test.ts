import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { dockerForTests } from './support/docker.ts';
import { gitRepo } from './support/git-repo.ts';
import { startTestGyre, type TestGyre } from './support/gyre.ts';
import { ensureServiceImage, ensureTestImage } from './support/images.ts';
import { finished, ok, trigger, until } from './support/jobs.ts';

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
  silent:
    docker: [{image: cimg/base:stable}]
    steps:
      - run: {name: quiet, command: "echo about to go quiet; sleep 30; echo never", no_output_timeout: 1s}
  with-service:
    docker:
      - image: cimg/base:stable
      - image: postgres:16
        environment: {POSTGRES_PASSWORD: secret}
    steps:
      - run: |
          for i in $(seq 100); do
            if nc localhost 5432 </dev/null | grep -q ready; then echo "the service answered"; exit 0; fi
            sleep 0.1
          done
          exit 1
  missing-image:
    docker: [{image: "127.0.0.1:1/gyre-test/missing:1"}]
    steps: [{run: echo never}]
  remote-engine:
    docker: [{image: cimg/base:stable}]
    steps:
      - setup_remote_docker
      - run: echo never
  split:
    docker: [{image: cimg/base:stable}]
    parallelism: 3
    steps:
      - run: echo "node $CIRCLE_NODE_INDEX of $CIRCLE_NODE_TOTAL"
workflows:
  main:
    jobs:
      - build
      - test: {requires: [build]}
      - after-test: {requires: [test]}
      - on-host
      - silent
      - with-service
      - missing-image
      - remote-engine
      - split
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

let run: Awaited<ReturnType<typeof trigger>>;
const v1 = async (jobNumber: number) => {
  const r = await g.app.inject({ url: `/api/v1.1/project/${slug}/${jobNumber}`, headers: { 'circle-token': g.adminToken } });
  assert.is(r.statusCode, 200);
  return r.json();
};
/** An output_url's messages, joined. */
const text = async (outputUrl: string) => {
  const r = await g.app.inject({ url: new URL(outputUrl).pathname, headers: { 'circle-token': g.adminToken } });
  assert.is(r.statusCode, 200);
  return (r.json() as Array<{ message: string }>).map((m) => m.message).join('');
};

test('a docker job and a machine job pass; a failing command fails its job, runs when: always steps, and its dependents do not run', async () => {
  run = await trigger(g, slug);
  const w = await finished(g, run.workflows[0]!.id);
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
  assert.equal(
    b.steps.map((s: { name: string }) => s.name),
    [
      'Spin up environment',
      'Checkout code',
      'echo "$GREETING from $CIRCLE_JOB at $CIRCLE_SHA1" && ls ~/project/.circleci',
      'pipefail holds',
      'Uploading artifacts',
    ],
  );
  const echo = b.steps[2].actions[0];
  assert.is(echo.exit_code, 0);
  assert.is(echo.step, 102);
  const out = await g.app.inject({ url: new URL(echo.output_url).pathname, headers: { 'circle-token': g.adminToken } });
  const lines = out.json() as Array<{ type: string; message: string }>;
  assert.match(lines[0]!.message, `hello from build at ${repo.git('rev-parse', 'HEAD')}`);
  assert.match(lines[0]!.message, 'config.yml');
  const raw = await g.app.inject({
    url: `/api/private/output/raw/${slug}/${w.byName.build!.jobNumber}/output/0/104`,
    headers: { 'circle-token': g.adminToken },
  });
  // `out` is never made: CircleCI's words, and the step passes
  assert.match(raw.body, /No artifact files found at \/\S*project\/out\n/);

  const t = (await g.app.inject({ url: `/api/v1.1/project/${slug}/${w.byName.test!.jobNumber}`, headers: { 'circle-token': g.adminToken } })).json();
  assert.equal(
    t.steps.map((s: { name: string; actions: Array<{ status: string; exit_code: number | null }> }) => [s.name, s.actions[0]!.status, s.actions[0]!.exit_code]),
    [
      ['Spin up environment', 'success', null],
      ['echo testing && exit 3', 'failed', 3],
      ['cleanup', 'success', 0],
    ],
  );
});

test("no_output_timeout ends a silent step with CircleCI's message", async () => {
  const w = await finished(g, run.workflows[0]!.id);
  assert.is(w.byName.silent!.status, 'failed');
  const j = await v1(w.byName.silent!.jobNumber!);
  const quiet = j.steps.find((s: { name: string }) => s.name === 'quiet').actions[0];
  assert.is(quiet.status, 'timedout');
  const out = await text(quiet.output_url);
  assert.match(out, 'about to go quiet');
  assert.match(out, 'Too long with no output (exceeded 1s): context deadline exceeded');
  assert.not.match(out, 'never');
});

test('a service container is reached at localhost from the primary', async () => {
  const w = await finished(g, run.workflows[0]!.id);
  assert.is(w.byName['with-service']!.status, 'success');
  const j = await v1(w.byName['with-service']!.jobNumber!);
  assert.match(await text(j.steps[1].actions[0].output_url), 'the service answered');
});

test('an image that cannot be pulled ends its job infrastructure_fail at once, saying why', async () => {
  const w = await finished(g, run.workflows[0]!.id);
  assert.is(w.byName['missing-image']!.status, 'infrastructure_fail');
  const end = (await g.services.store.readStream(`job-${w.byName['missing-image']!.id}`)).find((e) => e.type === 'job.finish')!;
  assert.match((end.data as { reason: string }).reason, 'image 127.0.0.1:1/gyre-test/missing:1 could not be pulled');
  const j = await v1(w.byName['missing-image']!.jobNumber!);
  assert.equal(
    j.steps.map((s: { name: string; actions: Array<{ status: string }> }) => [s.name, s.actions[0]!.status]),
    [['Spin up environment', 'failed']],
  );
});

test('setup_remote_docker without the VM service fails its step saying so, and the later steps do not run', async () => {
  const w = await finished(g, run.workflows[0]!.id);
  assert.is(w.byName['remote-engine']!.status, 'failed');
  const j = await v1(w.byName['remote-engine']!.jobNumber!);
  assert.equal(
    j.steps.map((s: { name: string; actions: Array<{ status: string }> }) => [s.name, s.actions[0]!.status]),
    [
      ['Spin up environment', 'success'],
      ['Setup a remote Docker engine', 'failed'],
    ],
  );
  assert.match(await text(j.steps[1].actions[0].output_url), 'setup_remote_docker needs the VM service, which is not configured');
});

test('parallelism 3 runs three tasks, each with its own CIRCLE_NODE_INDEX', async () => {
  const w = await finished(g, run.workflows[0]!.id);
  assert.is(w.byName.split!.status, 'success');
  const j = await v1(w.byName.split!.jobNumber!);
  assert.is(j.parallel, 3);
  const actions = j.steps[1].actions as Array<{ index: number; output_url: string }>;
  assert.equal(actions.map((a) => a.index).sort(), [0, 1, 2]);
  const outputs = await Promise.all(actions.map(async (a) => [a.index, (await text(a.output_url)).trim()]));
  assert.equal(outputs.sort(), [
    [0, 'node 0 of 3'],
    [1, 'node 1 of 3'],
    [2, 'node 2 of 3'],
  ]);
});

test('cancelWorkflow stops a running sleep 600 within 2 seconds, and its container is gone', async () => {
  const other = gitRepo();
  other.commit(`
version: 2.1
jobs:
  long:
    docker: [{image: cimg/base:stable}]
    steps: [{run: {name: sleeps, command: "echo sleeping; sleep 600"}}]
workflows:
  main: {jobs: [long]}
`);
  try {
    await ok(g, `mutation { createProject(input: {slug: "gh/acme/long", gitUrl: "${other.dir}"}) { id } }`);
    const p = await trigger(g, 'gh/acme/long');
    const w = p.workflows[0]!;
    const jobId = w.jobs[0]!.id;
    // running: its step has printed
    await until(
      'the sleep to start',
      async () => ((await g.services.output.read({ jobId, taskIndex: 0, stepIndex: 1 })) ?? '').includes('sleeping') || undefined,
    );
    const docker = await dockerForTests();
    const containers = async () => (await docker.listContainers({ all: true, filters: { label: [`gyre.task=${jobId}.0`] } })).length;
    assert.is(await containers(), 1);
    const asked = Date.now();
    await ok(g, 'mutation($id: ID!) { cancelWorkflow(workflowId: $id) { status } }', { id: w.id });
    const end = await until('the job to end', async () => (await g.services.store.readStream(`job-${jobId}`)).find((e) => e.type === 'job.finish'), 10_000);
    const stoppedIn = Date.parse(end.occurredAt) - asked;
    assert.ok(stoppedIn < 2000, `stopped in ${stoppedIn} ms`);
    assert.is((end.data as { status: string }).status, 'canceled');
    await until('the container to be removed', async () => ((await containers()) === 0 ? true : undefined), 5000);
    assert.is((await finished(g, w.id)).byName.long!.status, 'canceled');
  } finally {
    other.remove();
  }
});

test.run();
