import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { deciderSpec, refusedWith } from '../../test/support/decider-spec.ts';
import { eventRegistry } from '../events/catalog.ts';
import type { Member } from '../organizations.ts';
import { carriedOver } from './pipeline.ts';
import { planWorkflows } from './planner.ts';
import { afterApproval, workflowDecider, type PlannedWorkflowJob, type WorkflowCommand, type WorkflowEvent } from './workflow.ts';

const test = suite('domain/pipelines: the planner and the workflow decider');
const dev: Member = { login: 'dev', isAdmin: false, orgs: ['acme'], teams: [] };
const job = (name: string, requires: string[] = [], extra: Partial<PlannedWorkflowJob> = {}): PlannedWorkflowJob => ({
  jobId: `id-${name}`,
  name,
  type: 'build',
  requires,
  context: [],
  jobNumber: 1,
  status: 'blocked',
  unauthorized: null,
  runsFor: 'dev',
  ...extra,
});
const start = (jobs: PlannedWorkflowJob[]): WorkflowCommand => ({
  type: 'start',
  workflowId: 'w',
  pipelineId: 'p',
  pipelineNumber: 1,
  projectSlug: 'gh/acme/app',
  name: 'main',
  rerunOf: null,
  jobs,
});
const spec = deciderSpec(workflowDecider, { registry: eventRegistry });
/** Runs commands in order, as the command handler would, checking every event against its schema. */
const run = (...commands: WorkflowCommand[]) => {
  const { history, state } = spec.run(...commands);
  return { history, state: state! };
};
const statuses = (r: ReturnType<typeof run>) => Object.fromEntries(r.state.jobs.map((j) => [j.name, j.status]));

test('a start queues the jobs that require nothing; the rest wait', () => {
  const r = run(start([job('a'), job('b', ['a']), job('c', ['a', 'b'])]));
  assert.equal(statuses(r), { a: 'queued', b: 'blocked', c: 'blocked' });
  assert.equal(
    r.history.map((e) => e.type),
    ['workflow.start', 'workflow.job.scheduled'],
  );
  assert.throws(() => run(start([job('a')]), start([job('a')])), refusedWith('WORKFLOW_EXISTS'));
});

test('success moves the graph on; failure makes every dependent not_run and fails the workflow', () => {
  const ok = run(
    start([job('a'), job('b', ['a']), job('c', ['b'])]),
    { type: 'finishJob', jobId: 'id-a', status: 'success' },
    { type: 'startJob', jobId: 'id-b' },
    { type: 'finishJob', jobId: 'id-b', status: 'success' },
    { type: 'finishJob', jobId: 'id-c', status: 'success' },
  );
  assert.is(ok.state.finished, 'success');
  const bad = run(start([job('a'), job('b', ['a']), job('c', ['b']), job('d')]), { type: 'finishJob', jobId: 'id-a', status: 'failed' });
  assert.equal(statuses(bad), { a: 'failed', b: 'not_run', c: 'not_run', d: 'queued' });
  assert.is(bad.state.finished, null, 'd still runs');
  const done = run(
    start([job('a'), job('b', ['a']), job('d')]),
    { type: 'finishJob', jobId: 'id-a', status: 'failed' },
    { type: 'finishJob', jobId: 'id-d', status: 'success' },
  );
  assert.is(done.state.finished, 'failed');
  assert.throws(
    () => run(start([job('a')]), { type: 'finishJob', jobId: 'id-a', status: 'success' }, { type: 'finishJob', jobId: 'id-a', status: 'failed' }),
    refusedWith('JOB_NOT_RUNNING'),
  );
});

test('an approval is held once its requirements succeed, and only an allowed member releases it', () => {
  const held = [
    start([job('a'), job('hold', ['a'], { type: 'approval', jobNumber: null }), job('ship', ['hold'])]),
    { type: 'finishJob', jobId: 'id-a', status: 'success' },
  ] as WorkflowCommand[];
  assert.equal(statuses(run(...held)), { a: 'success', hold: 'on_hold', ship: 'blocked' });
  const outsider: Member = { ...dev, orgs: ['other'] };
  assert.throws(
    () => run(...held, { type: 'approve', approvalRequestId: 'id-hold', by: outsider, access: { allowed: true }, decisions: [] }),
    refusedWith('NOT_ORG_MEMBER'),
  );
  assert.throws(
    () =>
      run(...held, {
        type: 'approve',
        approvalRequestId: 'id-hold',
        by: dev,
        access: { allowed: false, reason: 'dev is in none of the groups' },
        decisions: [],
      }),
    refusedWith('CONTEXT_RESTRICTED'),
  );
  const approved = run(...held, { type: 'approve', approvalRequestId: 'id-hold', by: dev, access: { allowed: true }, decisions: [] });
  assert.equal(statuses(approved), { a: 'success', hold: 'success', ship: 'queued' });
  assert.throws(
    () =>
      run(
        ...held,
        { type: 'approve', approvalRequestId: 'id-hold', by: dev, access: { allowed: true }, decisions: [] },
        { type: 'approve', approvalRequestId: 'id-hold', by: dev, access: { allowed: true }, decisions: [] },
      ),
    refusedWith('NOT_ON_HOLD'),
  );
  assert.throws(
    () => run(...held, { type: 'approve', approvalRequestId: 'id-a', by: dev, access: { allowed: true }, decisions: [] }),
    refusedWith('NOT_AN_APPROVAL'),
  );
});

test('jobs after an approval run for the approver: the approval carries what their contexts say of them', () => {
  const plan = [job('a'), job('hold', ['a'], { type: 'approval', jobNumber: null }), job('deploy', ['hold']), job('notify', ['deploy'])];
  assert.equal([...afterApproval(plan, 'hold')].sort(), ['deploy', 'notify']);
  const held = [start(plan), { type: 'finishJob', jobId: 'id-a', status: 'success' }] as WorkflowCommand[];
  const refused = run(...held, {
    type: 'approve',
    approvalRequestId: 'id-hold',
    by: dev,
    access: { allowed: true },
    decisions: [
      { jobId: 'id-deploy', unauthorized: 'context release: dev is in none of the groups' },
      { jobId: 'id-notify', unauthorized: null },
    ],
  });
  assert.equal(statuses(refused), { a: 'success', hold: 'success', deploy: 'unauthorized', notify: 'not_run' });
  const allowed = run(...held, {
    type: 'approve',
    approvalRequestId: 'id-hold',
    by: dev,
    access: { allowed: true },
    decisions: [{ jobId: 'id-deploy', unauthorized: null }],
  });
  assert.equal(statuses(allowed).deploy, 'queued');
});

test('each job records whom it runs for: the pipeline’s actor, and after an approval, the approver', () => {
  const plan = [job('a'), job('hold', ['a'], { type: 'approval', jobNumber: null }), job('deploy', ['hold']), job('notify', ['deploy']), job('side', ['a'])];
  const held = [start(plan), { type: 'finishJob', jobId: 'id-a', status: 'success' }] as WorkflowCommand[];
  const runsFor = (r: ReturnType<typeof run>) => Object.fromEntries(r.state.jobs.map((j) => [j.name, j.runsFor]));
  assert.equal(runsFor(run(...held)), { a: 'dev', hold: 'dev', deploy: 'dev', notify: 'dev', side: 'dev' });
  const lead: Member = { ...dev, login: 'lead' };
  const approved = run(...held, {
    type: 'approve',
    approvalRequestId: 'id-hold',
    by: lead,
    access: { allowed: true },
    decisions: [
      { jobId: 'id-deploy', unauthorized: null },
      { jobId: 'id-notify', unauthorized: null },
    ],
  });
  assert.equal(runsFor(approved), { a: 'dev', hold: 'dev', deploy: 'lead', notify: 'lead', side: 'dev' });
  const started = approved.history.find((e) => e.type === 'workflow.start')!;
  assert.ok(
    (started.data as { jobs: Array<{ runsFor: string }> }).jobs.every((j) => j.runsFor === 'dev'),
    'workflow.start carries runsFor',
  );
});

test('an old workflow.start without runsFor parses and folds with runsFor empty', () => {
  const { runsFor: _, ...old } = job('a');
  const data = eventRegistry.parse('workflow.start', {
    workflowId: 'w',
    pipelineId: 'p',
    pipelineNumber: 1,
    projectSlug: 'gh/acme/app',
    name: 'main',
    rerunOf: null,
    jobs: [old],
  }) as { jobs: Array<{ runsFor: string }> };
  assert.is(data.jobs[0]!.runsFor, '');
  const state = spec.state([
    {
      type: 'workflow.start',
      data: { workflowId: 'w', pipelineId: 'p', pipelineNumber: 1, projectSlug: 'gh/acme/app', name: 'main', rerunOf: null, jobs: [old] },
    } as unknown as WorkflowEvent,
  ]);
  assert.is(state!.jobs[0]!.runsFor, '');
});

test('a job start names its agent when the command gives one, else null', () => {
  const named = run(start([job('a')]), { type: 'startJob', jobId: 'id-a', agent: { id: 'agent-1', name: 'builder-1' } });
  assert.equal(named.history.at(-1), {
    type: 'workflow.job.start',
    data: { workflowId: 'w', pipelineId: 'p', name: 'main', jobId: 'id-a', job: 'a', agent: { id: 'agent-1', name: 'builder-1' } },
  });
  const unnamed = run(start([job('a')]), { type: 'startJob', jobId: 'id-a' });
  assert.is((unnamed.history.at(-1)!.data as { agent: unknown }).agent, null);
  const old = eventRegistry.parse('workflow.job.start', { workflowId: 'w', pipelineId: 'p', name: 'main', jobId: 'id-a', job: 'a' }) as { agent: unknown };
  assert.is(old.agent, null);
});

test('a job whose contexts are refused ends unauthorized when it would run, and so does the workflow', () => {
  const r = run(start([job('a'), job('deploy', ['a'], { unauthorized: 'context release: dev is in none of the groups' })]), {
    type: 'finishJob',
    jobId: 'id-a',
    status: 'success',
  });
  assert.equal(statuses(r), { a: 'success', deploy: 'unauthorized' });
  assert.is(r.state.finished, 'unauthorized');
});

test('cancelJob ends one queued or running job; what requires it is not run, the rest go on', () => {
  const r = run(start([job('a'), job('b', ['a']), job('c')]), { type: 'cancelJob', jobId: 'id-a', by: dev });
  assert.equal(statuses(r), { a: 'canceled', b: 'not_run', c: 'queued' });
  assert.is(r.state.finished, null, 'c still runs');
  assert.equal(r.history.at(-2), {
    type: 'workflow.job.finish',
    data: { workflowId: 'w', pipelineId: 'p', name: 'main', jobId: 'id-a', job: 'a', status: 'canceled', reason: 'canceled by dev' },
  });
  const done = run(
    start([job('a'), job('c')]),
    { type: 'cancelJob', jobId: 'id-a', by: dev },
    { type: 'startJob', jobId: 'id-c' },
    { type: 'finishJob', jobId: 'id-c', status: 'success' },
  );
  assert.is(done.state.finished, 'canceled');
  assert.throws(() => run(start([job('a'), job('b', ['a'])]), { type: 'cancelJob', jobId: 'id-b', by: dev }), refusedWith('JOB_NOT_RUNNING'));
  assert.throws(() => run(start([job('a')]), { type: 'cancelJob', jobId: 'id-a', by: { ...dev, orgs: ['other'] } }), refusedWith('NOT_ORG_MEMBER'));
});

test('cancel ends every job not yet ended, once', () => {
  const r = run(start([job('a'), job('b', ['a'])]), { type: 'finishJob', jobId: 'id-a', status: 'success' }, { type: 'cancel', by: dev });
  assert.equal(statuses(r), { a: 'success', b: 'canceled' });
  assert.is(r.state.finished, 'canceled');
  assert.throws(() => run(start([job('a')]), { type: 'cancel', by: dev }, { type: 'cancel', by: dev }), refusedWith('WORKFLOW_FINISHED'));
});

test('a rerun from failed keeps the jobs that succeeded, in a diamond too', () => {
  const jobs = [
    { name: 'a', status: 'success' },
    { name: 'b', status: 'success' },
    { name: 'c', status: 'failed' },
    { name: 'e', status: 'not_run' },
  ];
  assert.equal([...carriedOver(jobs, true)].sort(), ['a', 'b']);
  assert.equal([...carriedOver(jobs, false)], []);
  const r = run(start([job('a', [], { status: 'success' }), job('b', ['a'], { status: 'success' }), job('c', ['a']), job('e', ['b', 'c'])]));
  assert.equal(statuses(r), { a: 'success', b: 'success', c: 'queued', e: 'blocked' });
});

test('the planner: filters by CircleCI’s rules; a requirement that does not run is ignored, unless all of them do not', () => {
  const config = {
    setup: false,
    jobs: {},
    workflows: {
      main: {
        jobs: [
          { name: 'lint', requires: [], context: [] },
          { name: 'docs', requires: [], context: [], filters: { branches: { only: ['main'] } } },
          { name: 'test', requires: ['lint', 'docs'], context: [] },
          { name: 'publish-docs', requires: ['docs'], context: [] },
          { name: 'release', requires: [], context: [], filters: { branches: { ignore: ['/.*/'] }, tags: { only: ['/^v.*/'] } } },
        ],
      },
      nightly: { jobs: [{ name: 'lint', requires: [], context: [] }], triggers: [{ schedule: { cron: '0 0 * * *' } }] },
    },
  };
  const onFeature = planWorkflows(config, { branch: 'feature' });
  assert.equal(
    onFeature.map((w) => [w.name, w.jobs.map((j) => [j.name, j.requires])]),
    [
      [
        'main',
        [
          ['lint', []],
          ['test', ['lint']],
        ],
      ],
    ],
  );
  const onMain = planWorkflows(config, { branch: 'main' });
  assert.equal(
    onMain[0]!.jobs.map((j) => j.name),
    ['lint', 'docs', 'test', 'publish-docs'],
  );
  const onTag = planWorkflows(config, { tag: 'v1.2.0' });
  assert.equal(
    onTag.map((w) => w.jobs.map((j) => j.name)),
    [['release']],
  );
});

test.run();
