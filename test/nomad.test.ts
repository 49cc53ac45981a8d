import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { jobStream } from '../domain/jobs/job.ts';
import { placementStream } from '../domain/nomad/placement.ts';
import { gitRepo } from './support/git-repo.ts';
import { loggedEvents, restartTestGyre, startTestGyre, type TestGyre } from './support/gyre.ts';
import { finished, ok, triggerOneJob, until } from './support/jobs.ts';
import { type NomadStandIn, startNomadStandIn } from './support/nomad-standin.ts';
import { freePort } from './support/ports.ts';

/**
 * Gyre with GYRE_NOMAD_ADDR: each task of a class Nomad serves becomes a Nomad batch job whose raw_exec
 * task is `gyre agent --one-shot`, really run as a child process by the stand-in Nomad, which claims its
 * task over Gyre's real HTTP port, runs it on this host (machine jobs: no Docker needed) and exits.
 */
const root = resolve(import.meta.dirname, '..');
const slug = 'gh/acme/nomad';
const gyreToken = 'nomad-secret-canary-7f3a1c9e';
const agentCommand = `${process.execPath} --import ${import.meta.resolve('tsx')} ${join(root, 'bin', 'gyre.ts')}`;
const nodeA = { id: 'node-aaaa', name: 'build-a', nodeClass: 'ci', cpuMhz: 8000, cores: 4, memoryMb: 16384 };
const nodeB = { id: 'node-bbbb', name: 'build-b', nodeClass: 'ci', cpuMhz: 8000, cores: 4, memoryMb: 16384 };
const submitter = { namespaces: { default: { capabilities: ['submit-job', 'read-job', 'list-jobs'] } }, node: 'read' as const };

/** A Gyre on a real port that Nomad's agents reach, a project on a real repository, and a stand-in Nomad. */
const fixture = (tokens: Record<string, typeof submitter | { node: 'read' }>, token: string, env: Record<string, string> = {}) => {
  const f = {
    g: null as unknown as TestGyre,
    nomad: null as unknown as NomadStandIn,
    repo: null as unknown as ReturnType<typeof gitRepo>,
    scratch: '',
    logs: [] as string[],
    env: {} as Record<string, string>,
    async start() {
      f.nomad = await startNomadStandIn({ nodes: [nodeA, nodeB], tokens });
      const port = await freePort();
      f.env = {
        GYRE_NOMAD_ADDR: f.nomad.url,
        GYRE_NOMAD_TOKEN: token,
        GYRE_NOMAD_CLASSES: 'machine:*',
        GYRE_NOMAD_AGENT_COMMAND: agentCommand,
        GYRE_NOMAD_NODE_CLASS: 'ci',
        GYRE_PUBLIC_URL: `http://127.0.0.1:${port}`,
        GYRE_LOG_LEVEL: 'info',
        // a restart opens another data directory: the same master key, as the servers of a cluster share
        GYRE_MASTER_KEY: randomBytes(32).toString('base64'),
        ...env,
      };
      f.g = await startTestGyre(f.env, { logStream: { write: (line) => void f.logs.push(line) } });
      await f.g.app.listen({ port, host: '127.0.0.1' });
      f.repo = gitRepo();
      f.repo.commit('version: 2.1\nworkflows: {}\n', 'empty');
      f.scratch = mkdtempSync(join(tmpdir(), 'gyre-nomad-test-'));
      await ok(f.g, `mutation { createProject(input: {slug: "${slug}", gitUrl: "${f.repo.dir}"}) { id } }`);
    },
    /** Commits a one-job config and triggers it; the job's id once planned. */
    async run(command: string) {
      f.repo.commit(`version: 2.1
jobs:
  build:
    machine: true
    steps:
      - run: ${JSON.stringify(command)}
workflows:
  main: {jobs: [build]}
`);
      return triggerOneJob(f.g, slug);
    },
    /** Stops this Gyre and starts another on the same database and port, as a restart (or a second server taking over) does. */
    async restart(env: Record<string, string> = {}) {
      Object.assign(f.env, env);
      const port = Number(new URL(f.env.GYRE_PUBLIC_URL!).port);
      f.g = await restartTestGyre(f.g, f.env, { port, logStream: { write: (line) => void f.logs.push(line) } });
    },
    async stop() {
      await f.g?.stop();
      await f.nomad?.stop();
      f.repo?.remove();
      if (f.scratch) rmSync(f.scratch, { recursive: true, force: true });
    },
  };
  return f;
};

const job = async (g: TestGyre, id: string) =>
  (await ok(g, 'query($id: ID!) { job(id: $id) { id status queueReason agent tasks { status reason } } }', { id })).job as {
    status: string;
    queueReason: string | null;
    agent: string | null;
    tasks: Array<{ status: string; reason: string | null }>;
  };
const nomadJobOf = (jobId: string) => `gyre-${jobId}-0`;
const purged = (f: { nomad: NomadStandIn }, jobId: string) =>
  until(`Nomad job ${nomadJobOf(jobId)} to be stopped and purged`, async () =>
    f.nomad.requests().some((r) => r.method === 'DELETE' && r.path === `/v1/job/${nomadJobOf(jobId)}` && r.query.includes('purge=true')) &&
    !f.nomad.jobs().some((j) => j.id === nomadJobOf(jobId))
      ? true
      : undefined,
  );
/** The placement's events once its stop is recorded: the placer records it after Nomad has purged the job. */
const stopped = (f: { g: TestGyre }, jobId: string) =>
  until(`the placement of ${jobId} to be recorded stopped`, async () => {
    const events = await f.g.services.store.readStream(placementStream(jobId, 0));
    return events.at(-1)?.type === 'nomad.job.stop' ? events : undefined;
  });
const allocationOf = (f: { nomad: NomadStandIn }, jobId: string, status = 'running') =>
  until(`an allocation of ${nomadJobOf(jobId)} ${status}`, async () =>
    f.nomad.allocations().find((a) => a.JobID === nomadJobOf(jobId) && a.ClientStatus === status),
  );

// ---------------------------------------------------------------------------------------------------

const test = suite('nomad: tasks placed as Nomad batch jobs, run by one-shot agents (a stand-in Nomad on 127.0.0.1)');
const f = fixture({ [gyreToken]: submitter }, gyreToken);
test.before(() => f.start());
test.after(() => f.stop());

test('a machine job goes from Gyre through Nomad to a one-shot agent and back; its Nomad job is then purged', async () => {
  const { workflowId, jobId } = await f.run('echo "ran in $PWD on $CIRCLE_JOB"');
  const done = await finished(f.g, workflowId, 90_000);
  const ran = await job(f.g, jobId);
  assert.is(done.byName.build!.status, 'success', JSON.stringify(ran));
  assert.match(ran.agent ?? '', /^nomad-[0-9a-f]{8}$/, 'the agent is named after its allocation');
  await purged(f, jobId);

  // the job Gyre registered: one raw_exec task running the one-shot agent, sized as machine:medium in cores, in dc1, on the ci node class
  const registered = f.nomad.requests().filter((r) => r.method === 'PUT' && r.path === '/v1/jobs');
  assert.ok(registered.length >= 1 && registered.every((r) => r.token), 'registered with the ACL token');
  const alloc = f.nomad.allocations().find((a) => a.JobID === nomadJobOf(jobId))!;
  assert.is(alloc.ClientStatus, 'complete');
  const placement = await stopped(f, jobId);
  assert.equal(
    placement.map((e) => e.type),
    ['nomad.job.submit', 'nomad.job.register', 'nomad.job.allocate', 'nomad.job.stop'],
  );
  assert.equal((placement[2]!.data as { nodeName: string }).nodeName, alloc.NodeName);
  // the task's single-use token is sealed in the log; Gyre's own Nomad token is nowhere
  const everything = JSON.stringify(await loggedEvents(f.g));
  assert.not.match(everything, gyreToken);
  assert.not.match(f.logs.join(''), gyreToken);
  assert.is((await f.g.app.inject({ url: '/admin/audit-log.csv', headers: { authorization: `Bearer ${f.g.adminToken}` } })).statusCode, 200);
  const audit = await f.g.app.inject({ url: '/admin/audit-log.csv', headers: { authorization: `Bearer ${f.g.adminToken}` } });
  assert.not.match(audit.body, gyreToken);
});

test('resourceClasses and /metrics show the Nomad nodes; ineligible nodes take no new work while a running task finishes', async () => {
  const classes = (
    await ok(f.g, '{ resourceClasses { resourceClass nomadNodes { id name datacenter nodeClass status eligibility draining cpuMhz cpuCores memoryMb } } }')
  ).resourceClasses as Array<{ resourceClass: string; nomadNodes: Array<{ name: string; eligibility: string; cpuCores: number; memoryMb: number }> | null }>;
  const medium = classes.find((c) => c.resourceClass === 'machine:medium')!;
  assert.equal(
    medium.nomadNodes!.map((n) => [n.name, n.eligibility, n.cpuCores, n.memoryMb]),
    [
      ['build-a', 'eligible', 4, 16384],
      ['build-b', 'eligible', 4, 16384],
    ],
  );
  assert.is(classes.find((c) => c.resourceClass === 'docker:medium')?.nomadNodes ?? null, null, 'Docker classes are still served by agents here');

  // a task running on one node, which is then marked ineligible
  const gate = join(f.scratch, 'go-drain');
  const first = await f.run(`while [ ! -f ${gate} ]; do sleep 0.05; done; echo released`);
  const running = await allocationOf(f, first.jobId);
  await until('the task to run', async () => ((await job(f.g, first.jobId)).status === 'running' ? true : undefined), 60_000);
  // the task's single-use token, as its Nomad job carries it: it works while the task runs
  const spec = f.nomad.jobs().find((j) => j.id === nomadJobOf(first.jobId))!.spec as { TaskGroups: Array<{ Tasks: Array<{ Env: Record<string, string> }> }> };
  const taskToken = spec.TaskGroups[0]!.Tasks[0]!.Env.GYRE_TOKEN!;
  const register = () => f.g.app.inject({ method: 'POST', url: '/api/agent/register', headers: { authorization: `Bearer ${taskToken}` }, payload: {} });
  assert.is((await register()).statusCode, 400, 'known, only the body is wrong');
  const metrics = async () => (await f.g.app.inject({ url: '/metrics' })).body;
  const both = await metrics();
  assert.match(both, 'gyre_nomad_nodes{datacenter="dc1",state="eligible"} 2');
  assert.match(both, 'gyre_nomad_memory_mb{datacenter="dc1"} 32768');
  assert.match(both, 'gyre_nomad_cpu_mhz{datacenter="dc1"} 16000');
  f.nomad.setEligibility(running.NodeID, false);
  const one = await until('Gyre to see the node ineligible', async () => {
    const text = await metrics();
    return text.includes('gyre_nomad_nodes{datacenter="dc1",state="ineligible"} 1') ? text : undefined;
  });
  assert.match(one, 'gyre_nomad_memory_mb{datacenter="dc1"} 16384', 'an ineligible node offers nothing');
  const second = await f.run('echo elsewhere');
  await finished(f.g, second.workflowId, 90_000);
  const elsewhere = f.nomad.allocations().find((a) => a.JobID === nomadJobOf(second.jobId))!;
  assert.is.not(elsewhere.NodeID, running.NodeID, 'new work goes to the eligible node');
  assert.is((await job(f.g, first.jobId)).status, 'running', 'the task on the ineligible node runs on');
  writeFileSync(gate, '');
  const done = await finished(f.g, first.workflowId, 60_000);
  assert.is(done.byName.build!.status, 'success');
  f.nomad.setEligibility(running.NodeID, true);
  await purged(f, first.jobId);
  await until('the token to end with its task', async () => ((await register()).statusCode === 401 ? true : undefined));
  assert.not.match(JSON.stringify(await loggedEvents(f.g)), taskToken);
});

test("a task Nomad cannot place stays queued with Nomad's reason, and runs once Nomad can place it", async () => {
  f.nomad.refusePlacement('memory');
  const { workflowId, jobId } = await f.run('echo placed at last');
  const waiting = await until('the queue reason to say why', async () => {
    const j = await job(f.g, jobId);
    return j.queueReason?.includes('resources exhausted') ? j : undefined;
  });
  assert.is(waiting.status, 'queued');
  assert.match(waiting.queueReason!, /^Nomad cannot place it: resources exhausted on 2 of 2 nodes \(memory/);
  f.nomad.refusePlacement(false);
  const done = await finished(f.g, workflowId, 90_000);
  assert.is(done.byName.build!.status, 'success');
  await purged(f, jobId);
});

test('an allocation lost while its task runs ends the job infrastructure_fail, once', async () => {
  const { workflowId, jobId } = await f.run('sleep 20');
  const alloc = await allocationOf(f, jobId);
  await until('the task to run', async () => ((await job(f.g, jobId)).status === 'running' ? true : undefined), 60_000);
  f.nomad.loseAllocation(alloc.ID);
  const done = await finished(f.g, workflowId, 60_000);
  assert.is(done.byName.build!.status, 'infrastructure_fail');
  const ran = await job(f.g, jobId);
  assert.match(ran.tasks[0]!.reason ?? '', /^Nomad allocation [0-9a-f]{8} on build-[ab] was lost/);
  await purged(f, jobId);
  const ends = (await f.g.services.store.readStream(jobStream(jobId))).filter((e) => e.type === 'job.task.finish');
  assert.is(ends.length, 1);
  const failed = (await f.g.services.store.readStream(placementStream(jobId, 0))).filter((e) => e.type === 'nomad.job.fail');
  assert.is(failed.length, 1);
});

test('cancelling a job stops and purges its Nomad job', async () => {
  const { workflowId, jobId } = await f.run('sleep 30');
  await allocationOf(f, jobId);
  await until('the task to run', async () => ((await job(f.g, jobId)).status === 'running' ? true : undefined), 60_000);
  await ok(f.g, 'mutation($id: ID!) { cancelJob(jobId: $id) { id } }', { id: jobId });
  const done = await finished(f.g, workflowId, 60_000);
  assert.is(done.byName.build!.status, 'canceled');
  await purged(f, jobId);
});

test('a restart while Nomad cannot place a task: the new server follows its placement, and the task runs once', async () => {
  f.nomad.refusePlacement('cpu');
  const { workflowId, jobId } = await f.run('echo after the restart');
  await until('the queue reason to say why', async () => ((await job(f.g, jobId)).queueReason?.includes('resources exhausted') ? true : undefined));
  await f.restart();
  f.nomad.refusePlacement(false);
  const done = await finished(f.g, workflowId, 90_000);
  assert.is(done.byName.build!.status, 'success');
  await purged(f, jobId);
  const events = await f.g.services.store.readStream(jobStream(jobId));
  assert.is(events.filter((e) => e.type === 'job.task.claim').length, 1);
  const placement = (await stopped(f, jobId)).map((e) => e.type);
  assert.equal(
    placement.filter((t) => t !== 'nomad.job.wait'),
    ['nomad.job.submit', 'nomad.job.register', 'nomad.job.allocate', 'nomad.job.stop'],
  );
});

test('a class Nomad comes to serve after its tasks were queued: the next server places them', async () => {
  // the earlier tests' one-shot agents served machine:* and count as online until their lease runs out: a server
  // with a lease of 5 s instead of 30 s sees them gone sooner; the server that places the job has the default again
  await f.restart({ GYRE_NOMAD_CLASSES: 'docker:*', GYRE_AGENT_LEASE_MS: '5000' });
  const { workflowId, jobId } = await f.run('echo placed once Nomad served it');
  const waiting = await until('the job to wait for an agent', async () => {
    const j = await job(f.g, jobId);
    return j.queueReason?.startsWith('no agent serves resource class machine:medium') ? j : undefined;
  });
  assert.is(waiting.status, 'queued');
  await f.restart({ GYRE_NOMAD_CLASSES: 'machine:*', GYRE_AGENT_LEASE_MS: '30000' });
  const done = await finished(f.g, workflowId, 90_000);
  assert.is(done.byName.build!.status, 'success');
  await purged(f, jobId);
});

// ---------------------------------------------------------------------------------------------------

const refused = suite('nomad: a token Nomad refuses');
const r = fixture({ 'read-only-token': { node: 'read' } }, 'read-only-token');
refused.before(() => r.start());
refused.after(() => r.stop());

refused('a 403 on registering keeps the task queued, saying so in its queueReason and in the server log', async () => {
  const { jobId } = await r.run('echo never');
  const waiting = await until('the queue reason to name the refusal', async () => {
    const j = await job(r.g, jobId);
    return j.queueReason?.includes('403') ? j : undefined;
  });
  assert.is(waiting.status, 'queued');
  assert.match(waiting.queueReason!, /Nomad refused to register its job \(403 .*\): GYRE_NOMAD_TOKEN is wrong, expired, or lacks submit-job/);
  assert.ok(
    r.logs.some((l) => /"status":403/.test(l) && l.includes('nomad: cannot register a task')),
    'the server log says so',
  );
  assert.is(r.nomad.jobs().length, 0);
});

// ---------------------------------------------------------------------------------------------------

const unstarted = suite('nomad: an agent that never starts');
const u = fixture({ [gyreToken]: submitter }, gyreToken, { GYRE_NOMAD_AGENT_COMMAND: '/nonexistent/gyre' });
unstarted.before(() => u.start());
unstarted.after(() => u.stop());

unstarted("an allocation that fails before its agent starts ends the job infrastructure_fail once, with Nomad's reason", async () => {
  const { workflowId, jobId } = await u.run('echo never');
  const done = await finished(u.g, workflowId, 60_000);
  assert.is(done.byName.build!.status, 'infrastructure_fail');
  const ran = await job(u.g, jobId);
  assert.match(ran.tasks[0]!.reason ?? '', /^Nomad allocation [0-9a-f]{8} on build-[ab] failed: Driver Failure, failed to launch command/);
  await purged(u, jobId);
  const ends = (await u.g.services.store.readStream(jobStream(jobId))).filter((e) => e.type === 'job.task.finish');
  assert.is(ends.length, 1);
});

// ---------------------------------------------------------------------------------------------------

const startup = suite("nomad: start-up checks that Nomad answers and takes Gyre's token");

/** `gyre serve` in a child process; its exit code and what it printed. */
const serve = (env: Record<string, string>) =>
  new Promise<{ code: number | null; output: string }>((done) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'gyre-nomad-serve-'));
    const child = spawn(process.execPath, ['--import', 'tsx', 'bin/gyre.ts', 'serve'], {
      cwd: root,
      env: { ...process.env, GYRE_DATA_DIR: dataDir, GYRE_PORT: '0', GYRE_LOCAL_AGENT: 'false', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.on('exit', (code) => {
      rmSync(dataDir, { recursive: true, force: true });
      done({ code, output });
    });
  });

startup('a Nomad that does not answer stops gyre serve (exit 78) naming GYRE_NOMAD_ADDR; a token it refuses, naming GYRE_NOMAD_TOKEN', async () => {
  const closed = await serve({ GYRE_NOMAD_ADDR: `http://127.0.0.1:${await freePort()}` });
  assert.is(closed.code, 78, closed.output);
  assert.match(closed.output, /GYRE_NOMAD_ADDR: Nomad at http:\/\/127\.0\.0\.1:\d+ does not answer/);
  const nomad = await startNomadStandIn({ nodes: [nodeA], tokens: { [gyreToken]: submitter } });
  try {
    const wrong = await serve({ GYRE_NOMAD_ADDR: nomad.url, GYRE_NOMAD_TOKEN: 'wrong-token-canary-51d2' });
    assert.is(wrong.code, 78, wrong.output);
    assert.match(wrong.output, /GYRE_NOMAD_TOKEN: Nomad at .* refused Gyre \(403\): ACL token not found/);
    assert.not.match(wrong.output, 'wrong-token-canary-51d2');
  } finally {
    await nomad.stop();
  }
});

test.run();
refused.run();
unstarted.run();
startup.run();
