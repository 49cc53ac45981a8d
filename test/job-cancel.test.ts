import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { gitRepo } from './support/git-repo.ts';
import { startTestGyre, waitForAudit, type TestGyre } from './support/gyre.ts';
import { finished, ok, trigger, until } from './support/jobs.ts';

/** GraphQL's cancelJob on a job running on the host: it ends canceled, its task stops, what requires it is not run. */
const test = suite('cancelJob: a running job canceled through GraphQL');
let g: TestGyre;
let repo: ReturnType<typeof gitRepo>;
let dev: { id: string; token: string };
const dir = mkdtempSync(join(tmpdir(), 'gyre-job-cancel-'));
const slug = 'gh/acme/cancelable';

const config = `
version: 2.1
jobs:
  slow:
    machine: true
    steps:
      - run: |
          touch ${dir}/started-$CIRCLE_BUILD_NUM
          for i in $(seq 1200); do sleep 0.1; done
  after:
    machine: true
    steps: [{run: 'true'}]
  beside:
    machine: true
    steps: [{run: 'true'}]
workflows:
  main:
    jobs: [slow, beside, {after: {requires: [slow]}}]
`;
const as = (token: string) => ({ authorization: `Bearer ${token}` });
const cancel = (jobId: string, token: string) =>
  g.gql('mutation($id: ID!) { cancelJob(jobId: $id) { id status jobs { name status } } }', { id: jobId }, as(token));

test.before(async () => {
  g = await startTestGyre({ GYRE_LOCAL_AGENT: 'true', GYRE_LOCAL_MACHINE_JOBS: 'true' });
  repo = gitRepo();
  repo.commit(config);
  dev = await g.createUser('dev', { orgs: ['acme'] });
  await ok(g, `mutation { createProject(input: {slug: "${slug}", gitUrl: "${repo.dir}"}) { id } }`);
});
test.after(async () => {
  await g?.stop();
  repo?.remove();
  rmSync(dir, { recursive: true, force: true });
});

test('a running job is canceled, its task stops, its dependents are not run and the rest goes on', async () => {
  const w = (await trigger(g, slug)).workflows[0]!;
  const slow = w.jobs.find((j) => j.name === 'slow')!;
  await until('the slow job to run on the host', async () => (existsSync(join(dir, `started-${slow.jobNumber}`)) ? true : undefined));

  const outsider = await g.createUser('outsider', { orgs: ['elsewhere'] });
  assert.is((await cancel(slow.id, outsider.token)).body.errors?.[0]?.extensions?.code, 'NOT_ORG_MEMBER');
  assert.is((await cancel('not-an-id', dev.token)).body.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT');
  assert.is((await cancel('00000000-0000-4000-8000-000000000000', dev.token)).body.errors?.[0]?.extensions?.code, 'JOB_NOT_FOUND');

  const r = await cancel(slow.id, dev.token);
  assert.is(r.body.errors, undefined, JSON.stringify(r.body.errors));
  assert.is(r.body.data!.cancelJob.id, w.id);
  assert.equal(r.body.data!.cancelJob.jobs.find((j: { name: string }) => j.name === 'slow').status, 'canceled');

  const done = await finished(g, w.id);
  assert.equal([done.byName.slow!.status, done.byName.after!.status, done.byName.beside!.status], ['canceled', 'not_run', 'success']);
  // the job's own run ends too: its task is stopped on the agent
  const task = await until("the slow job's task to end", async () => {
    const j = (await ok(g, 'query($id: ID!) { job(id: $id) { status tasks { status } } }', { id: slow.id })).job;
    return j.tasks[0]?.status && j.tasks[0].status !== 'running' ? j : undefined;
  });
  assert.is(task.tasks[0].status, 'canceled');
  const audit = await waitForAudit(g, (e) => e.action === 'workflow.job.finish' && e.payload.job === 'slow');
  assert.is(audit[0]!.actor.name, 'dev');

  const again = await cancel(slow.id, dev.token);
  assert.is(again.body.errors?.[0]?.extensions?.code, 'JOB_NOT_RUNNING');
  assert.match(again.body.errors![0]!.message, 'only a queued or running job can be canceled');
});

test.run();
