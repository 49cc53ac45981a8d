import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { deciderSpec } from '../../test/support/decider-spec.ts';
import { eventRegistry } from '../events/catalog.ts';
import type { Member } from '../organizations.ts';
import { PipelineNumberTaken, pipelinesDecider, processForPipeline, type PipelineCommand, type PipelineDetails, type PipelineEvent } from './pipeline.ts';

const test = suite('domain/pipelines/pipeline: numbers per project');
/** Every decided event is parsed by the registry: the store would take it. */
const spec = deciderSpec(pipelinesDecider, { registry: eventRegistry });
const dev: Member = { login: 'dev', isAdmin: false, orgs: ['acme'], teams: [] };
const config =
  'version: 2.1\njobs:\n  a: {docker: [{image: x}], steps: [checkout]}\n  b: {docker: [{image: x}], steps: [checkout]}\nworkflows:\n  w:\n    jobs: [a, {b: {requires: [a]}}, {hold: {type: approval, requires: [b]}}]\n';
const noOrbs = () => ({ error: 'no orbs here' });
const details = (id: string): PipelineDetails => ({
  pipelineId: id,
  projectId: 'p',
  projectSlug: 'gh/acme/app',
  trigger: { type: 'api', receivedAt: '2026-01-01T00:00:00Z', actor: { login: 'dev', avatarUrl: null }, deliveryId: null },
  vcs: { originRepositoryUrl: '/r', revision: 'abc', branch: 'main', tag: null, commit: null, pullRequest: null },
  parameters: {},
});
/** A create as the application makes it: the config processed for the number the pipeline is to take. */
const create = (id: string, number: number, source: string | null = config): PipelineCommand => ({
  type: 'create',
  pipeline: details(id),
  number,
  config: source === null ? null : processForPipeline(source, { ...details(id), number }, {}, noOrbs),
});

test('pipeline and job numbers count up per project, approvals taking none; the last event alone holds the counters', () => {
  let history: PipelineEvent[] = [];
  const commands: PipelineCommand[] = [
    create('p1', 1),
    create('p2', 2, null),
    { type: 'rerun', pipelineId: 'p1', projectSlug: 'gh/acme/app', workflowId: 'w2', rerunOf: 'w1', name: 'w', fromFailed: false, jobCount: 2, by: dev },
    create('p3', 3),
  ];
  for (const c of commands) {
    const decided = spec.decide(history, c);
    history = [...history, ...decided];
    // deciding reads only the last event: it must say all the whole history says
    assert.equal(spec.state(history.slice(-1)), spec.state(history));
  }
  const created = history.filter((e): e is Extract<PipelineEvent, { type: 'pipeline.create' }> => e.type === 'pipeline.create');
  assert.equal(
    created.map((e) => [e.data.number, e.data.state, e.data.workflows.map((w) => [w.firstJobNumber, w.jobCount])]),
    [
      [1, 'created', [[1, 2]]],
      [2, 'errored', []],
      [3, 'created', [[5, 2]]],
    ],
  );
  assert.equal(spec.state(history), { pipelines: 3, jobs: 6, continued: new Set() });
});

test('a create carries its config processed for the number it takes; one processed for a number taken since is refused, deciding nothing', () => {
  const numbered = 'version: 2.1\njobs:\n  a: {docker: [{image: x}], steps: [{run: echo << pipeline.number >>}]}\nworkflows:\n  w: {jobs: [a]}\n';
  const first = spec
    .given([])
    .when(create('p1', 1, numbered))
    .history();
  const config = (e: PipelineEvent) => JSON.parse((e.data as { config: string }).config) as { jobs: { a: { steps: unknown[] } } };
  assert.equal(config(first[0]!).jobs.a.steps, [{ run: { command: 'echo 1' } }]);
  // another trigger took 2 first: this one was processed for 2 and must be processed again, for 3
  const second = spec.then(first, create('p2', 2, numbered));
  spec
    .given(second)
    .when(create('p3', 2, numbered))
    .thenThrows(PipelineNumberTaken, /pipeline 2 of gh\/acme\/app was taken by another trigger: process its config again for pipeline 3/);
  spec
    .given(second)
    .when(create('p3', 2, null))
    .thenThrows('CONFLICT');
  assert.equal(
    config(
      spec
        .given(second)
        .when(create('p3', 3, numbered))
        .events()[0]!,
    ).jobs.a.steps,
    [{ run: { command: 'echo 3' } }],
  );
});

test('a rerun is for members of the project’s organization only', () => {
  assert.throws(
    () =>
      pipelinesDecider.decide(
        {
          type: 'rerun',
          pipelineId: 'p1',
          projectSlug: 'gh/acme/app',
          workflowId: 'w2',
          rerunOf: 'w1',
          name: 'w',
          fromFailed: true,
          jobCount: 1,
          by: { ...dev, orgs: ['other'] },
        },
        { pipelines: 1, jobs: 2, continued: new Set() },
      ),
    /not a member/,
  );
});

const setupConfig = 'version: 2.1\nsetup: true\njobs:\n  gen: {docker: [{image: x}], steps: [checkout]}\nworkflows:\n  setup:\n    jobs: [gen]\n';
const continuation = { keyHash: 'a'.repeat(64), sealedKey: 'sealed' };
const setupPipeline = { pipelineId: 's1', number: 1, vcs: details('s1').vcs, trigger: details('s1').trigger };
const continueWith = (source: string): PipelineCommand => ({
  type: 'continue',
  pipeline: setupPipeline,
  parameters: {},
  config: processForPipeline(source, setupPipeline, {}, noOrbs),
});

test('a setup config makes a pipeline in setup, holding its key hashed and sealed; a continue plans the new workflows once', () => {
  const created = spec.decide([], { ...create('s1', 1, setupConfig), continuation } as PipelineCommand);
  assert.equal(
    created.map((e) => [e.type, (e.data as { state: string }).state, (e.data as { continuation: unknown }).continuation]),
    [['pipeline.create', 'setup', continuation]],
  );
  const continued = spec.decide(created, continueWith(config));
  assert.equal(
    continued.map((e) => [
      e.type,
      (e.data as { state: string }).state,
      (e.data as { workflows: Array<{ name: string; firstJobNumber: number }> }).workflows.map((w) => [w.name, w.firstJobNumber]),
    ]),
    [['pipeline.continue', 'created', [['w', 2]]]],
  );
  spec
    .given([...created, ...continued])
    .when(continueWith(config))
    .thenThrows(/Pipeline is not in setup state/);
  // the counters still hold after a continue, from its event alone
  assert.equal(spec.state(continued).jobs, 3);
});

test('a continuation config that does not process, or is itself a setup config, errors the pipeline', () => {
  const created = spec.decide([], { ...create('s1', 1, setupConfig), continuation } as PipelineCommand);
  for (const source of ['version: 2.1\njobs: 3\n', setupConfig]) {
    const [e] = spec.decide(created, continueWith(source));
    assert.is((e!.data as { state: string }).state, 'errored');
  }
});

test('the decider is a function of the command and the state alone: a command is plain data, the same after a round trip through JSON', () => {
  const commands = [
    create('p1', 1),
    create('p1', 1, 'version: 2.1\njobs: 3\n'),
    create('p1', 1, null),
    { ...create('s1', 1, setupConfig), continuation } as PipelineCommand,
  ];
  for (const c of commands) assert.equal(spec.decide([], JSON.parse(JSON.stringify(c)) as PipelineCommand), spec.decide([], c));
  const created = spec.decide([], { ...create('s1', 1, setupConfig), continuation } as PipelineCommand);
  assert.equal(spec.decide(created, JSON.parse(JSON.stringify(continueWith(config))) as PipelineCommand), spec.decide(created, continueWith(config)));
});

test.run();
