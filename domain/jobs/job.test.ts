import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { deciderSpec, refusedWith } from '../../test/support/decider-spec.ts';
import { jobDecider, jobEvents, jobResult, type JobCommand } from './job.ts';
import { executorOf, JobSpec, jobSpecOf } from './job-spec.ts';
import { createRegistry } from '../events/registry.ts';
import { isFileStep, Step, stepsOf } from './steps.ts';

const test = suite('domain/jobs: the job decider, steps and specs');
const registry = createRegistry(jobEvents);
const spec = (parallelism = 1): JobSpec =>
  jobSpecOf({
    job: {
      docker: [{ image: 'cimg/base:stable' }],
      parallelism,
      steps: ['checkout', { run: { command: 'make test', no_output_timeout: '5m', when: 'always' } }, { store_artifacts: { path: 'out' } }],
    },
    ids: {
      jobId: 'j',
      jobNumber: 7,
      name: 'build',
      workflowId: 'w',
      workflowName: 'main',
      pipelineId: 'p',
      pipelineNumber: 3,
      projectSlug: 'gh/acme/app',
      runsFor: 'dev',
      contexts: [],
      vcs: { repositoryUrl: '/r', revision: 'abc', branch: 'main', tag: null },
    },
    resourceClass: { kind: 'docker', name: 'medium', cpus: 2, memoryMb: 4096 },
    timeoutMs: 1000,
  });
const a1 = { id: 'a1', name: 'one' };
const a2 = { id: 'a2', name: 'two' };
const jobs = deciderSpec(jobDecider, { registry });
const run = (...commands: JobCommand[]) => {
  const { history, state } = jobs.run(...commands);
  return { history, state: state!, types: history.map((e) => e.type) };
};

test('a spec reads steps, executor, working directory and parallelism from the processed job', () => {
  const s = spec(3);
  assert.is(s.parallelism, 3);
  assert.is(s.workingDirectory, '~/project');
  assert.equal(s.executor, {
    type: 'docker',
    images: [{ image: 'cimg/base:stable', name: null, entrypoint: null, command: null, user: null, environment: {}, auth: null, awsAuth: null }],
  });
  assert.equal(
    s.steps.map((x) => [x.type, x.name]),
    [
      ['checkout', 'Checkout code'],
      ['run', 'make test'],
      ['store_artifacts', 'Uploading artifacts'],
    ],
  );
  assert.equal(s.steps[2], { type: 'store_artifacts', name: 'Uploading artifacts', path: 'out', destination: null });
  const r = s.steps[1]!;
  assert.ok(r.type === 'run' && r.noOutputTimeoutMs === 300_000 && r.when === 'always');
});

test("a spec keeps an image's aws_auth: the keys as written ($NAME included), or the OIDC role, which wins over keys beside it", () => {
  const images = executorOf({
    steps: [],
    docker: [
      { image: '123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1', aws_auth: { aws_access_key_id: '$ECR_KEY_ID', aws_secret_access_key: '$ECR_SECRET' } },
      {
        image: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/db:2',
        aws_auth: { oidc_role_arn: 'arn:aws:iam::123456789012:role/ci', aws_access_key_id: 'AKIA' },
      },
    ],
  });
  assert.ok(images.type === 'docker');
  assert.equal(
    images.images.map((i) => i.awsAuth),
    [{ accessKeyId: '$ECR_KEY_ID', secretAccessKey: '$ECR_SECRET' }, { oidcRoleArn: 'arn:aws:iam::123456789012:role/ci' }],
  );
  // a spec queued before aws_auth was kept reads as having none
  const old = JSON.parse(JSON.stringify(spec()));
  delete old.executor.images[0].awsAuth;
  const read = JobSpec.parse(old).executor;
  assert.is(read.type === 'docker' ? read.images[0]!.awsAuth : 'not docker', null);
});

test('queueing twice queues once; each slice is a task', () => {
  const r = run({ type: 'queue', spec: spec(3) }, { type: 'queue', spec: spec(3) });
  assert.equal(r.types, ['job.queue']);
  assert.equal(
    r.state.tasks.map((t) => t.status),
    ['queued', 'queued', 'queued'],
  );
});

test('a task is claimed once; only its holder reports on it', () => {
  assert.throws(
    () => run({ type: 'queue', spec: spec() }, { type: 'claim', taskIndex: 0, agent: a1 }, { type: 'claim', taskIndex: 0, agent: a2 }),
    refusedWith('TASK_TAKEN'),
  );
  assert.throws(
    () => run({ type: 'queue', spec: spec() }, { type: 'claim', taskIndex: 0, agent: a1 }, { type: 'startStep', taskIndex: 0, agentId: 'a2', stepIndex: 1 }),
    refusedWith('LEASE_LOST'),
  );
  const r = run(
    { type: 'queue', spec: spec() },
    { type: 'claim', taskIndex: 0, agent: a1 },
    { type: 'startStep', taskIndex: 0, agentId: 'a1', stepIndex: 1 },
    { type: 'startStep', taskIndex: 0, agentId: 'a1', stepIndex: 1 },
  );
  assert.equal(r.types, ['job.queue', 'job.task.claim', 'job.step.start']);
});

test('the job ends when its last task does, with the gravest result', () => {
  const r = run(
    { type: 'queue', spec: spec(2) },
    { type: 'claim', taskIndex: 0, agent: a1 },
    { type: 'claim', taskIndex: 1, agent: a2 },
    { type: 'finishTask', taskIndex: 0, agentId: 'a1', status: 'success', reason: null },
    { type: 'finishTask', taskIndex: 1, agentId: null, status: 'infrastructure_fail', reason: 'agent two stopped answering' },
    { type: 'finishTask', taskIndex: 1, agentId: 'a2', status: 'success', reason: null },
  );
  assert.equal(r.types, ['job.queue', 'job.task.claim', 'job.task.claim', 'job.task.finish', 'job.task.finish', 'job.finish']);
  assert.equal((r.history[5]!.data as { status: string }).status, 'infrastructure_fail');
  assert.throws(
    () =>
      run(
        { type: 'queue', spec: spec() },
        { type: 'claim', taskIndex: 0, agent: a1 },
        { type: 'finishTask', taskIndex: 0, agentId: null, status: 'failed', reason: 'x' },
        { type: 'startStep', taskIndex: 0, agentId: 'a1', stepIndex: 1 },
      ),
    refusedWith('LEASE_LOST'),
  );
  assert.is(jobResult(['success', 'failed', 'timedout'], false), 'timedout');
  assert.is(jobResult(['success'], true), 'canceled');
});

test('a cancel ends unclaimed tasks at once; claimed ones end when their agent reports', () => {
  const r = run({ type: 'queue', spec: spec(2) }, { type: 'claim', taskIndex: 0, agent: a1 }, { type: 'cancel', reason: 'canceled by dev' });
  assert.equal(r.types, ['job.queue', 'job.task.claim', 'job.cancel', 'job.task.finish']);
  assert.throws(
    () => run({ type: 'queue', spec: spec() }, { type: 'cancel', reason: 'x' }, { type: 'claim', taskIndex: 0, agent: a1 }),
    refusedWith('JOB_ENDED'),
  );
  const done = run(
    { type: 'queue', spec: spec(2) },
    { type: 'claim', taskIndex: 0, agent: a1 },
    { type: 'cancel', reason: 'x' },
    { type: 'finishTask', taskIndex: 0, agentId: 'a1', status: 'canceled', reason: null },
  );
  assert.equal(done.types.slice(-1), ['job.finish']);
  assert.is(done.state.finished, 'canceled');
});

test('file steps become typed steps with their arguments and CircleCI default names', () => {
  const steps = stepsOf([
    { store_artifacts: { path: '~/out', destination: 'site' } },
    { store_test_results: { path: 'reports' } },
    { save_cache: { key: 'deps-{{ checksum "package-lock.json" }}', paths: ['node_modules', '~/.npm'], when: 'always' } },
    { save_cache: { name: 'Save one', key: 'k', paths: 'vendor' } },
    { restore_cache: { keys: ['deps-{{ .Branch }}', 'deps-'] } },
    { restore_cache: { key: 'single' } },
    { persist_to_workspace: { root: '.', paths: ['dist/*'] } },
    { attach_workspace: { at: '/tmp/ws' } },
  ]);
  assert.equal(steps, [
    { type: 'store_artifacts', name: 'Uploading artifacts', path: '~/out', destination: 'site' },
    { type: 'store_test_results', name: 'Uploading test results', path: 'reports' },
    { type: 'save_cache', name: 'Saving cache', key: 'deps-{{ checksum "package-lock.json" }}', paths: ['node_modules', '~/.npm'], when: 'always' },
    { type: 'save_cache', name: 'Save one', key: 'k', paths: ['vendor'], when: 'on_success' },
    { type: 'restore_cache', name: 'Restoring cache', keys: ['deps-{{ .Branch }}', 'deps-'] },
    { type: 'restore_cache', name: 'Restoring cache', keys: ['single'] },
    { type: 'persist_to_workspace', name: 'Persisting to workspace', root: '.', paths: ['dist/*'] },
    { type: 'attach_workspace', name: 'Attaching workspace', at: '/tmp/ws' },
  ]);
  for (const x of steps) {
    assert.equal(Step.parse(x), x);
    assert.ok(isFileStep(x));
  }
});

test('a file step missing what it needs is skipped as unsupported, saying what it lacks; other steps stay unsupported', () => {
  const steps = stepsOf([
    { store_artifacts: {} },
    { save_cache: { key: 'k' } },
    { restore_cache: {} },
    { persist_to_workspace: { paths: ['x'] } },
    { attach_workspace: {} },
    'add_ssh_keys',
  ]);
  assert.equal(
    steps.map((x) => x.type),
    ['unsupported', 'unsupported', 'unsupported', 'unsupported', 'unsupported', 'unsupported'],
  );
  assert.equal(
    steps.map((x) => (x.type === 'unsupported' ? x.message : '')),
    [
      'store_artifacts needs a path: this step was skipped',
      'save_cache needs a key and paths: this step was skipped',
      'restore_cache needs a key or keys: this step was skipped',
      'persist_to_workspace needs a root and paths: this step was skipped',
      'attach_workspace needs at, the directory to attach to: this step was skipped',
      'SSH keys are not available yet: this step was skipped',
    ],
  );
  assert.ok(!isFileStep(steps[5]!));
});

test('setup_remote_docker is a step of its own, with its version and layer caching as given', () => {
  assert.equal(stepsOf(['setup_remote_docker', { setup_remote_docker: { version: 'default', docker_layer_caching: true, name: 'Engine' } }]), [
    { type: 'setup_remote_docker', name: 'Setup a remote Docker engine', version: null, dockerLayerCaching: false },
    { type: 'setup_remote_docker', name: 'Engine', version: 'default', dockerLayerCaching: true },
  ]);
});

test.run();
