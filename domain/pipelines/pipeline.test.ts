import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { fold } from '../decider.ts';
import { eventRegistry } from '../events/catalog.ts';
import type { Member } from '../organizations.ts';
import { pipelinesDecider, type PipelineCommand, type PipelineEvent } from './pipeline.ts';

const test = suite('domain/pipelines/pipeline: numbers per project');
const dev: Member = { login: 'dev', isAdmin: false, orgs: ['acme'], teams: [] };
const config = 'version: 2.1\njobs:\n  a: {docker: [{image: x}], steps: [checkout]}\n  b: {docker: [{image: x}], steps: [checkout]}\nworkflows:\n  w:\n    jobs: [a, {b: {requires: [a]}}, {hold: {type: approval, requires: [b]}}]\n';
const create = (id: string, source: string | null = config): PipelineCommand => ({
  type: 'create',
  source,
  resolveOrb: () => ({ error: 'no orbs here' }),
  pipeline: {
    pipelineId: id,
    projectId: 'p',
    projectSlug: 'gh/acme/app',
    trigger: { type: 'api', receivedAt: '2026-01-01T00:00:00Z', actor: { login: 'dev', avatarUrl: null }, deliveryId: null },
    vcs: { originRepositoryUrl: '/r', revision: 'abc', branch: 'main', tag: null, commit: null },
    parameters: {},
  },
});

test('pipeline and job numbers count up per project, approvals taking none; the last event alone holds the counters', () => {
  let history: PipelineEvent[] = [];
  const commands: PipelineCommand[] = [
    create('p1'),
    create('p2', null),
    { type: 'rerun', pipelineId: 'p1', projectSlug: 'gh/acme/app', workflowId: 'w2', rerunOf: 'w1', name: 'w', fromFailed: false, jobCount: 2, by: dev },
    create('p3'),
  ];
  for (const c of commands) {
    const decided = pipelinesDecider.decide(c, fold(pipelinesDecider, history));
    for (const e of decided) eventRegistry.parse(e.type, e.data);
    history = [...history, ...decided];
    // deciding reads only the last event: it must say all the whole history says
    assert.equal(fold(pipelinesDecider, history.slice(-1)), fold(pipelinesDecider, history));
  }
  const created = history.filter((e): e is Extract<PipelineEvent, { type: 'pipeline.create' }> => e.type === 'pipeline.create');
  assert.equal(created.map((e) => [e.data.number, e.data.state, e.data.workflows.map((w) => [w.firstJobNumber, w.jobCount])]), [
    [1, 'created', [[1, 2]]],
    [2, 'errored', []],
    [3, 'created', [[5, 2]]],
  ]);
  assert.equal(fold(pipelinesDecider, history), { pipelines: 3, jobs: 6 });
});

test('a rerun is for members of the project’s organization only', () => {
  assert.throws(() => pipelinesDecider.decide({ type: 'rerun', pipelineId: 'p1', projectSlug: 'gh/acme/app', workflowId: 'w2', rerunOf: 'w1', name: 'w', fromFailed: true, jobCount: 1, by: { ...dev, orgs: ['other'] } }, { pipelines: 1, jobs: 2 }), /not a member/);
});

test.run();
