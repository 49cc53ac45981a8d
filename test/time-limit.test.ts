import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { gitRepo } from './support/git-repo.ts';
import { startTestGyre, type TestGyre } from './support/gyre.ts';
import { finished, ok, trigger } from './support/jobs.ts';

/** A job past its time limit ends timedout; background steps run beside the others and stop with the job. */
const test = suite('execution: time limits and background steps (machine jobs on the host)');
let g: TestGyre;
let repo: ReturnType<typeof gitRepo>;

test.before(async () => {
  g = await startTestGyre({ GYRE_LOCAL_AGENT: 'true', GYRE_LOCAL_MACHINE_JOBS: 'true', GYRE_JOB_TIME_LIMIT_MS: '3000' });
  repo = gitRepo();
  repo.commit(`
version: 2.1
jobs:
  forever:
    machine: true
    steps: [{run: {name: sleeps, command: "echo started; sleep 600"}}]
  with-background:
    machine: true
    working_directory: ~/work
    steps:
      - run: {name: server, background: true, command: "echo serving > served.txt; sleep 600"}
      - run:
          name: waits for the server
          shell: /bin/sh -e
          command: |
            for i in $(seq 100); do test -f served.txt && break; sleep 0.05; done
            echo "in $(pwd): $(cat served.txt)"
workflows:
  main: {jobs: [forever, with-background]}
`);
  await ok(g, `mutation { createProject(input: {slug: "gh/acme/limits", gitUrl: "${repo.dir}"}) { id } }`);
});
test.after(async () => {
  await g.stop();
  repo.remove();
});

test('a job over its time limit ends timedout; a background step runs beside the next and stops with its job', async () => {
  const started = Date.now();
  const p = await trigger(g, 'gh/acme/limits');
  const w = await finished(g, p.workflows[0]!.id, 20_000);
  assert.is(w.byName.forever!.status, 'timedout');
  assert.ok(Date.now() - started < 15_000, 'it did not run its sleep 600');
  const job = (
    await g.app.inject({ url: `/api/v1.1/project/gh/acme/limits/${w.byName.forever!.jobNumber}`, headers: { 'circle-token': g.adminToken } })
  ).json();
  assert.is(job.status, 'timedout');
  const end = (await g.services.store.readStream(`job-${w.byName.forever!.id}`)).find((e) => e.type === 'job.finish')!;
  assert.match((end.data as { reason: string }).reason, 'time limit (3s)');

  assert.is(w.byName['with-background']!.status, 'success');
  const bg = (
    await g.app.inject({ url: `/api/v1.1/project/gh/acme/limits/${w.byName['with-background']!.jobNumber}`, headers: { 'circle-token': g.adminToken } })
  ).json();
  const [server, waits] = [bg.steps[1].actions[0], bg.steps[2].actions[0]];
  assert.is(server.background, true);
  const out = (await g.app.inject({ url: new URL(waits.output_url).pathname, headers: { 'circle-token': g.adminToken } })).json() as Array<{ message: string }>;
  assert.match(out[0]!.message, /in \/.*\/work: serving/);
});

test.run();
