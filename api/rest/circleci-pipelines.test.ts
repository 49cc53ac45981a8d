import { createClient } from 'graphql-ws';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { gitRepo } from '../../test/support/git-repo.ts';
import { startTestGyre, type TestGyre } from '../../test/support/gyre.ts';

/** CircleCI API v2 for pipelines, workflows and jobs, with the shapes and statuses clients rely on. */
const test = suite('api/rest/circleci-pipelines: API v2 pipelines, workflows, jobs and the job status subscription');
let g: TestGyre;
let base: string;
let repo: ReturnType<typeof gitRepo>;
const keys = (o: object) => Object.keys(o).sort();

const config = `
version: 2.1
jobs:
  build: {docker: [{image: cimg/base:current}], steps: [checkout]}
  ship: {docker: [{image: cimg/base:current}], steps: [{run: ./ship}]}
workflows:
  main:
    jobs:
      - build
      - approve-ship: {type: approval, requires: [build]}
      - ship: {requires: [approve-ship]}
`;
const api = async (method: string, path: string, body?: unknown) => {
  const res = await fetch(`${base}/api/v2/${path}`, {
    method,
    headers: { 'circle-token': g.adminToken, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
};

test.before(async () => {
  g = await startTestGyre();
  base = await g.app.listen({ port: 0, host: '127.0.0.1' });
  repo = gitRepo();
  repo.commit(config, 'Add CI\n\nwith a body');
  repo.git('checkout', '--quiet', '-b', 'feature/x');
  repo.git('checkout', '--quiet', 'main');
  const r = await g.gql(`mutation { createProject(input: {slug: "gh/acme/app", gitUrl: "${repo.dir}"}) { id } }`);
  assert.is(r.body.errors, undefined);
});
test.after(async () => {
  await g.stop();
  repo.remove();
});

let pipelineId = '';
let workflowId = '';

test('POST /project/{slug}/pipeline → 201 {id, number, state, created_at}; the pipeline has CircleCI’s shape', async () => {
  const r = await api('POST', 'project/gh/acme/app/pipeline', { branch: 'feature/x' });
  assert.is(r.status, 201, JSON.stringify(r.body));
  assert.equal(keys(r.body), ['created_at', 'id', 'number', 'state']);
  assert.equal([r.body.number, r.body.state], [1, 'created']);
  pipelineId = r.body.id;
  const p = await api('GET', `pipeline/${pipelineId}`);
  assert.equal(keys(p.body), ['created_at', 'errors', 'id', 'number', 'project_slug', 'state', 'trigger', 'trigger_parameters', 'updated_at', 'vcs']);
  assert.equal(p.body.trigger.type, 'api');
  assert.equal(p.body.trigger.actor.login, 'admin');
  assert.equal(
    { ...p.body.vcs, revision: undefined },
    {
      provider_name: 'GitHub',
      origin_repository_url: repo.dir,
      target_repository_url: repo.dir,
      revision: undefined,
      branch: 'feature/x',
      commit: { subject: 'Add CI', body: 'with a body' },
    },
  );
  const list = await api('GET', 'project/gh/acme/app/pipeline');
  assert.equal(
    list.body.items.map((x: { id: string }) => x.id),
    [pipelineId],
  );
  assert.is(list.body.next_page_token, null);
});

test('a pipeline’s workflows, a workflow, its jobs with approval_request_id on the approval', async () => {
  const ws = await api('GET', `pipeline/${pipelineId}/workflow`);
  assert.is(ws.body.items.length, 1);
  workflowId = ws.body.items[0].id;
  assert.equal(keys(ws.body.items[0]), ['created_at', 'id', 'name', 'pipeline_id', 'pipeline_number', 'project_slug', 'started_by', 'status', 'stopped_at']);
  const w = await api('GET', `workflow/${workflowId}`);
  assert.equal([w.body.name, w.body.status, w.body.pipeline_number, w.body.project_slug], ['main', 'running', 1, 'gh/acme/app']);
  const jobs = (await api('GET', `workflow/${workflowId}/job`)).body.items;
  const byName = Object.fromEntries(jobs.map((j: { name: string }) => [j.name, j]));
  assert.equal([byName.build.status, byName.build.type, byName.build.job_number], ['queued', 'build', 1]);
  assert.equal([byName['approve-ship'].type, byName['approve-ship'].approval_request_id], ['approval', byName['approve-ship'].id]);
  assert.equal(byName.ship.dependencies, [byName['approve-ship'].id]);
  const job = await api('GET', 'project/gh/acme/app/job/1');
  assert.equal(
    [job.body.number, job.body.name, job.body.status, job.body.pipeline.id, job.body.latest_workflow.id],
    [1, 'build', 'queued', pipelineId, workflowId],
  );
});

test('approve → 202 {"message": "Accepted."}; the job status subscription sees each change', async () => {
  const changes: any[] = [];
  const client = createClient({
    url: `${base.replace('http', 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: { 'Circle-Token': g.adminToken },
    retryAttempts: 0,
  });
  let ended = false;
  const stop = client.subscribe(
    { query: `subscription { workflowJobs(workflowId: "${workflowId}") { action job status } }` },
    { next: (m) => void changes.push(m.data?.workflowJobs ?? m.errors), error: () => {}, complete: () => void (ended = true) },
  );
  const until = async (n: number) => {
    const deadline = Date.now() + 5000;
    while (changes.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  };
  // first the jobs as they stand, so nothing between a query and the subscription is lost
  await until(3);
  assert.equal(changes.slice(0, 3), [
    { action: 'snapshot', job: 'build', status: 'queued' },
    { action: 'snapshot', job: 'approve-ship', status: 'blocked' },
    { action: 'snapshot', job: 'ship', status: 'blocked' },
  ]);
  const jobs = (await api('GET', `workflow/${workflowId}/job`)).body.items;
  const build = jobs.find((j: { name: string }) => j.name === 'build');
  const approval = jobs.find((j: { name: string }) => j.name === 'approve-ship');
  const early = await api('POST', `workflow/${workflowId}/approve/${approval.approval_request_id}`);
  assert.is(early.status, 422);
  assert.match(early.body.message, /not on hold/);
  await g.gql(`mutation { reportJob(workflowId: "${workflowId}", jobId: "${build.id}", status: "success") { id } }`);
  const ok = await api('POST', `workflow/${workflowId}/approve/${approval.approval_request_id}`);
  assert.equal([ok.status, ok.body], [202, { message: 'Accepted.' }]);
  await until(7);
  assert.equal(changes.slice(3, 7), [
    { action: 'workflow.job.finish', job: 'build', status: 'success' },
    { action: 'workflow.job.hold', job: 'approve-ship', status: 'on_hold' },
    { action: 'workflow.job.approve', job: 'approve-ship', status: 'success' },
    { action: 'workflow.job.scheduled', job: 'ship', status: 'queued' },
  ]);
  // the subscription ends with the workflow
  await g.gql(
    `mutation { reportJob(workflowId: "${workflowId}", jobId: "${jobs.find((j: { name: string }) => j.name === 'ship').id}", status: "failed") { id } }`,
  );
  await until(9);
  const deadline = Date.now() + 5000;
  while (!ended && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  stop();
  await client.dispose();
  assert.equal(changes.slice(7), [
    { action: 'workflow.job.finish', job: 'ship', status: 'failed' },
    { action: 'workflow.finish', job: null, status: 'failed' },
  ]);
  assert.ok(ended, 'the subscription completed');
});

test('cancel → 202; rerun → 202 {workflow_id}, a new workflow in the same pipeline', async () => {
  const p = await api('POST', 'project/gh/acme/app/pipeline', { branch: 'feature/x' });
  pipelineId = p.body.id;
  workflowId = (await api('GET', `pipeline/${pipelineId}/workflow`)).body.items[0].id;
  const c = await api('POST', `workflow/${workflowId}/cancel`);
  assert.equal([c.status, c.body], [202, { message: 'Accepted.' }]);
  assert.is((await api('GET', `workflow/${workflowId}`)).body.status, 'canceled');
  const again = await api('POST', `workflow/${workflowId}/cancel`);
  assert.is(again.status, 422);
  const r = await api('POST', `workflow/${workflowId}/rerun`, { from_failed: false });
  assert.is(r.status, 202);
  assert.equal(keys(r.body), ['workflow_id']);
  const ws = (await api('GET', `pipeline/${pipelineId}/workflow`)).body.items;
  assert.equal(ws.map((w: { id: string }) => w.id).sort(), [workflowId, r.body.workflow_id].sort());
  const jobs = (await api('GET', `workflow/${r.body.workflow_id}/job`)).body.items;
  assert.equal(jobs.find((j: { name: string }) => j.name === 'build').job_number, 5, 'job numbers go on counting in the project');
});

test('errors are JSON {message}: unknown ids 404, bad ids 400, an unknown branch 422', async () => {
  const missing = await api('GET', 'pipeline/00000000-0000-4000-8000-000000000000');
  assert.equal([missing.status, typeof missing.body.message], [404, 'string']);
  assert.is((await api('GET', 'workflow/not-a-uuid')).status, 400);
  const branch = await api('POST', 'project/gh/acme/app/pipeline', { branch: 'nope' });
  assert.is(branch.status, 422);
  assert.match(branch.body.message, /branch nope is not in the repository/);
  const both = await api('POST', 'project/gh/acme/app/pipeline', { branch: 'main', tag: 'v1' });
  assert.is(both.status, 400);
  for (const bad of ['-x', 'a..b', 'a@{1}', 'x.lock']) assert.is((await api('POST', 'project/gh/acme/app/pipeline', { branch: bad })).status, 400, bad);
  // a commit that is not on the branch is not built as that branch
  repo.git('checkout', '--quiet', 'feature/x');
  const side = repo.commit(config, 'only on feature/x');
  repo.git('checkout', '--quiet', 'main');
  const r = await g.gql(`mutation { triggerPipeline(input: {projectSlug: "gh/acme/app", branch: "main", revision: "${side}"}) { id } }`);
  assert.is(r.body.errors?.[0]?.extensions?.code, 'GIT_FAILED');
  assert.match(r.body.errors![0]!.message, /is not on branch main/);
  const onBranch = await g.gql(
    `mutation { triggerPipeline(input: {projectSlug: "gh/acme/app", branch: "feature/x", revision: "${side}"}) { vcs { revision } } }`,
  );
  assert.is(onBranch.body.data!.triggerPipeline.vcs.revision, side);
});

test.run();
