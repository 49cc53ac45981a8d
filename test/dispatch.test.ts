import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import { createGyre, type Gyre } from '../api/app.ts';
import { loadConfig } from '../api/config.ts';
import { testDatabase } from './support/database.ts';
import * as assert from 'uvu/assert';
import type { AgentInfo } from '../domain/agents/protocol.ts';
import type { AgentIdentity } from '../workers/dispatch.ts';
import { gitRepo } from './support/git-repo.ts';
import { refusedWith } from './support/rejects.ts';
import { startTestGyre, type TestGyre } from './support/gyre.ts';
import { ok, trigger, until } from './support/jobs.ts';

/**
 * Dispatch under real concurrency, on the real database: agents racing for one task, reports from an
 * agent that does not hold the task, a class an agent does not serve, and a cancel heard at the
 * next heartbeat. No job runs here: the agents are the test's own callers of the protocol.
 */
const test = suite('dispatch: claims, leases and reports under concurrency');
let g: TestGyre;
let repo: ReturnType<typeof gitRepo>;
const info = (name: string, cpus = 4): AgentInfo => ({
  name,
  version: 'test',
  os: 'test',
  capacity: { cpus, memoryMb: 8192 },
  reserved: { cpus: 2, memoryMb: 4096 },
  maxTasks: null,
  kinds: ['docker'],
  declined: [],
});
const fleet = (tokenId: string): AgentIdentity => ({ kind: 'token', tokenId, resourceClass: 'docker' });

/** A second server on the same database: its agents race the first's. */
let second: Gyre;
let secondDir = '';

test.before(async () => {
  g = await startTestGyre({ GYRE_AGENT_LEASE_MS: '1500' });
  secondDir = mkdtempSync(join(tmpdir(), 'gyre-second-'));
  second = await createGyre(loadConfig({ GYRE_DATA_DIR: secondDir, GYRE_LOG_LEVEL: 'silent', GYRE_LOCAL_AGENT: 'false', GYRE_AGENT_LEASE_MS: '1500' }), {
    db: testDatabase(),
    logger: false,
  });
  repo = gitRepo();
  repo.commit(`
version: 2.1
jobs:
  one:
    docker: [{image: cimg/base:stable}]
    steps: [{run: sleep 600}]
workflows:
  main: {jobs: [one]}
`);
  await ok(g, `mutation { createProject(input: {slug: "gh/acme/dispatch", gitUrl: "${repo.dir}"}) { id } }`);
});
test.after(async () => {
  await second.close();
  rmSync(secondDir, { recursive: true, force: true });
  await g.stop();
  repo.remove();
});

test('an agent waiting on one server hears of a task queued through the other at once, not at its next look', async () => {
  const channel = second.services.dispatch.channel(fleet('waiting-token'));
  const id = (await channel.register(info('waiting'))).agentId;
  // the claim waits 9 s; left alone it would look at the queue again only then
  const claiming = channel.claim(id, 9000);
  const p = await trigger(g, 'gh/acme/dispatch');
  const jobId = p.workflows[0]!.jobs[0]!.id;
  const queuedAt = await until('the job to be queued', async () => ((await g.services.store.readLast(`job-${jobId}`)) ? Date.now() : undefined));
  const got = await claiming;
  const heardAfterMs = Date.now() - queuedAt;
  assert.is(got?.jobId, jobId);
  assert.ok(heardAfterMs < 4000, `claimed ${heardAfterMs} ms after the job was queued`);
  await channel.finishTask(id, { jobId, taskIndex: 0, status: 'canceled', reason: null });
});

test('six agents on two servers race for one task: exactly one gets it; the others and other classes get nothing', async () => {
  const { dispatch } = g.services;
  const dispatches = [dispatch, second.services.dispatch];
  const agents = await Promise.all(
    [1, 2, 3, 4, 5, 6].map(async (i) => {
      const channel = dispatches[i % 2]!.channel(fleet(`token-${i}`));
      return { channel, id: (await channel.register(info(`racer-${i}`))).agentId };
    }),
  );
  const gpu = dispatch.channel({ kind: 'token', tokenId: 'gpu-token', resourceClass: 'acme/gpu' });
  const gpuId = (await gpu.register(info('gpu'))).agentId;
  const p = await trigger(g, 'gh/acme/dispatch');
  const jobId = p.workflows[0]!.jobs[0]!.id;
  await until('the job to be queued', async () => ((await g.services.store.readLast(`job-${jobId}`)) ? true : undefined));
  const [gpuClaim, ...claims] = await Promise.all([gpu.claim(gpuId, 300), ...agents.map((a) => a.channel.claim(a.id, 300))]);
  assert.is(gpuClaim, null, 'an agent of another class gets nothing');
  const won = claims.filter((c) => c !== null);
  assert.is(won.length, 1);
  assert.is(won[0]!.jobId, jobId);
  assert.is(won[0]!.environment.CIRCLE_NODE_TOTAL, '1');
  const claimed = (await g.services.store.readStream(`job-${jobId}`)).filter((e) => e.type === 'job.task.claim');
  assert.is(claimed.length, 1);

  const winner = agents[claims.findIndex((c) => c !== null)]!;
  const loser = agents.find((a) => a !== winner)!;
  const step = { jobId, taskIndex: 0, stepIndex: 1 };
  await refusedWith('LEASE_LOST', loser.channel.startStep(loser.id, step));
  await refusedWith('LEASE_LOST', loser.channel.output(loser.id, step, 'not mine'));
  await refusedWith('NOT_YOUR_AGENT', agents[2]!.channel.heartbeat(agents[3]!.id, []));
  await winner.channel.startStep(winner.id, step);

  // a cancel reaches the agent at its next heartbeat
  assert.equal((await winner.channel.heartbeat(winner.id, [{ jobId, taskIndex: 0 }])).stop, []);
  await ok(g, 'mutation($id: ID!) { cancelWorkflow(workflowId: $id) { status } }', { id: p.workflows[0]!.id });
  const stop = await until('the cancel to reach the heartbeat', async () => {
    const answer = await winner.channel.heartbeat(winner.id, [{ jobId, taskIndex: 0 }]);
    return answer.stop.length ? answer.stop : undefined;
  });
  assert.equal(stop, [{ jobId, taskIndex: 0 }]);
  await winner.channel.finishTask(winner.id, { jobId, taskIndex: 0, status: 'canceled', reason: null });
  const finished = (await g.services.store.readStream(`job-${jobId}`)).filter((e) => e.type === 'job.finish');
  assert.equal(
    finished.map((e) => (e.data as { status: string }).status),
    ['canceled'],
  );
});

test('a task whose agent falls silent ends infrastructure_fail once, and no one else runs it', async () => {
  const { dispatch } = g.services;
  const silent = dispatch.channel(fleet('silent-token'));
  const silentId = (await silent.register(info('silent'))).agentId;
  const p = await trigger(g, 'gh/acme/dispatch');
  const jobId = p.workflows[0]!.jobs[0]!.id;
  await until('the job to be queued', async () => ((await g.services.store.readLast(`job-${jobId}`)) ? true : undefined));
  const got = await silent.claim(silentId, 2000);
  assert.is(got?.jobId, jobId);
  // the agent says no more; a lease (1.5 s) later the lease keeper ends the task
  const end = await until('the lease to run out', async () => (await g.services.store.readStream(`job-${jobId}`)).find((e) => e.type === 'job.finish'), 10_000);
  assert.is((end.data as { status: string }).status, 'infrastructure_fail');
  assert.match((end.data as { reason: string }).reason, 'agent silent stopped answering');
  const other = dispatch.channel(fleet('other-token'));
  const otherId = (await other.register(info('other'))).agentId;
  assert.is(await other.claim(otherId, 300), null, 'the task is not given out again');
  await refusedWith('LEASE_LOST', silent.startStep(silentId, { jobId, taskIndex: 0, stepIndex: 0 }));
  const events = await g.services.store.readStream(`job-${jobId}`);
  assert.is(events.filter((e) => e.type === 'job.task.claim').length, 1);
  assert.is(events.filter((e) => e.type === 'job.finish').length, 1);
  const w = await until('the workflow to end', async () => {
    const x = (await ok(g, 'query($id: ID!) { workflow(id: $id) { status jobs { status } } }', { id: p.workflows[0]!.id })).workflow;
    return x.status === 'failed' ? x : undefined;
  });
  assert.equal(
    w.jobs.map((j: { status: string }) => j.status),
    ['infrastructure_fail'],
  );
});

test('a job Gyre cannot run fails at once, saying why: an unknown resource class, a macOS executor', async () => {
  repo.commit(`
version: 2.1
jobs:
  huge:
    docker: [{image: cimg/base:stable}]
    resource_class: 4xlarge
    steps: [{run: 'true'}]
  mac:
    macos: {xcode: 15.0.0}
    steps: [{run: 'true'}]
workflows:
  main: {jobs: [huge, mac]}
`);
  const p = await trigger(g, 'gh/acme/dispatch');
  const ended = await until('both jobs to fail', async () => {
    const w = (await ok(g, 'query($id: ID!) { workflow(id: $id) { status jobs { id name status } } }', { id: p.workflows[0]!.id })).workflow;
    return w.status === 'failed' ? w : undefined;
  });
  const reasons: Record<string, string> = {};
  for (const j of ended.jobs as Array<{ id: string; name: string; status: string }>) {
    assert.is(j.status, 'failed');
    const finish = (await g.services.store.readStream(`workflow-${p.workflows[0]!.id}`)).find(
      (e) => e.type === 'workflow.job.finish' && (e.data as { jobId: string }).jobId === j.id,
    )!;
    reasons[j.name] = (finish.data as { reason: string }).reason;
    assert.is(await g.services.store.readLast(`job-${j.id}`), undefined, 'nothing was queued');
  }
  assert.match(reasons.huge!, 'docker has no resource class 4xlarge');
  assert.match(reasons.mac!, 'not macos');
});

test.run();
