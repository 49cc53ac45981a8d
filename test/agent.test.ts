import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { RecordedEvent } from '../domain/events/envelope.ts';
import { jobStream } from '../domain/jobs/job.ts';
import { workflowStream } from '../domain/pipelines/workflow.ts';
import { allAgents } from '../projections/jobs.ts';
import { gitRepo } from './support/git-repo.ts';
import { startTestGyre, type TestGyre } from './support/gyre.ts';
import { finished, ok, trigger, until, workflow } from './support/jobs.ts';

/**
 * `gyre agent` as a build machine runs it: a child process speaking the agent protocol over a real
 * HTTP port with a runner token, running machine jobs on this host. Docker is pointed nowhere, so
 * these tests need no Docker engine.
 */
const root = resolve(import.meta.dirname, '..');
const slug = 'gh/acme/agent';

interface AgentProcess {
  readonly child: ChildProcess;
  readonly name: string;
  readonly workDir: string;
  output(): string;
  /** The exit code (or the signal's name) once it exits. */
  readonly exited: Promise<number | string>;
}

/** One Gyre on a real port, a project on a real repository, a runner token, and the agents it started. */
const fixture = (env: Record<string, string>) => {
  const f = {
    g: null as unknown as TestGyre,
    url: '',
    token: '',
    repo: null as unknown as ReturnType<typeof gitRepo>,
    scratch: '',
    agents: [] as AgentProcess[],
    async start() {
      f.g = await startTestGyre(env);
      await f.g.app.listen({ port: 0, host: '127.0.0.1' });
      f.url = `http://127.0.0.1:${(f.g.app.server.address() as AddressInfo).port}`;
      f.repo = gitRepo();
      f.repo.commit('version: 2.1\nworkflows: {}\n', 'empty');
      f.scratch = mkdtempSync(join(tmpdir(), 'gyre-agent-test-'));
      await ok(f.g, `mutation { createProject(input: {slug: "${slug}", gitUrl: "${f.repo.dir}"}) { id } }`);
      await ok(f.g, 'mutation { createRunnerResourceClass(input: {resourceClass: "acme/linux"}) { id } }');
      f.token = (await ok(f.g, 'mutation { createRunnerToken(input: {resourceClass: "acme/linux", nickname: "boxes"}) { token } }')).createRunnerToken.token;
    },
    /** `gyre agent` in a child process of its own, on a work directory of its own. */
    agent(name: string, args: string[] = [], extraEnv: Record<string, string> = {}): AgentProcess {
      const workDir = join(f.scratch, `work-${name}-${f.agents.length}`);
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', 'bin/gyre.ts', 'agent', '--host', f.url, '--token', f.token, '--name', name, '--work-dir', workDir, ...args],
        {
          cwd: root,
          env: { ...process.env, DOCKER_HOST: `unix://${join(f.scratch, 'no-docker.sock')}`, ...extraEnv },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let text = '';
      child.stdout!.on('data', (c: Buffer) => (text += c.toString()));
      child.stderr!.on('data', (c: Buffer) => (text += c.toString()));
      const exited = new Promise<number | string>((r) => child.once('exit', (code, signal) => r(code ?? signal ?? 'unknown')));
      const a = { child, name, workDir, output: () => text, exited };
      f.agents.push(a);
      return a;
    },
    /** Commits a config and triggers it; answers the workflow. */
    async run(config: string) {
      f.repo.commit(config);
      const id = (await trigger(f.g, slug)).workflows[0]!.id;
      return until('the workflow to plan its jobs', async () => {
        const w = await workflow(f.g, id);
        return w.jobs.length ? w : undefined;
      });
    },
    async stop() {
      for (const a of f.agents) if (a.child.exitCode === null && a.child.signalCode === null) a.child.kill('SIGKILL');
      await Promise.all(f.agents.map((a) => a.exited));
      // steps that outlived a killed agent wrote their process group's id: end them, by that id
      for (const pidFile of ['kill-me.pid', 'restart-me.pid']) {
        const file = join(f.scratch, pidFile);
        if (existsSync(file)) {
          try {
            process.kill(-Number(readFileSync(file, 'utf8').trim()), 'SIGKILL');
          } catch {
            // gone already
          }
        }
      }
      await f.g.stop();
      f.repo.remove();
      rmSync(f.scratch, { recursive: true, force: true });
    },
  };
  return f;
};

const events = async (g: TestGyre, stream: string, type: string, jobId?: string): Promise<RecordedEvent[]> =>
  (await g.services.store.readStream(stream)).filter((e) => e.type === type && (!jobId || (e.data as { jobId?: string }).jobId === jobId));
const registered = (g: TestGyre, name: string) =>
  until(`agent ${name} to register`, async () => (await allAgents(g.services.db)).find((a) => a.name === name), 60_000);
/** A job's id by name once its workflow has planned it. */
const jobIdOf = (w: { jobs: Array<{ id: string; name: string }> }, name: string) => w.jobs.find((j) => j.name === name)!.id;
const status = async (g: TestGyre, workflowId: string, name: string) => (await workflow(g, workflowId)).jobs.find((j) => j.name === name)!.status;
const job = (name: string, command: string) => `
  ${name}:
    machine: true
    resource_class: acme/linux
    steps:
      - run: ${JSON.stringify(command)}`;

// ---------------------------------------------------------------------------------------------------

const test = suite('gyre agent: a build machine over HTTP with a runner token');
// a lease long enough that a loaded machine's late heartbeat does not end a healthy task, short enough to wait out
const leaseMs = 3000;
const f = fixture({ GYRE_AGENT_LEASE_MS: String(leaseMs) });
test.before(() => f.start());
test.after(() => f.stop());

test('refuses a machine over 64 CPUs, on stderr, exit non-zero', async () => {
  const a = f.agent('huge', [], { GYRE_AGENT_TEST_CPUS: '96', GYRE_AGENT_TEST_MEMORY_MB: '65536' });
  const code = await a.exited;
  assert.ok(code !== 0, `exit ${code}`);
  assert.match(a.output(), /at most 64 CPUs/);
  assert.equal(
    (await allAgents(f.g.services.db)).map((x) => x.name),
    [],
    'it never registered',
  );
});

test('the reserve: 2 CPUs and 4 GB by default, the flags change it, a machine too small keeps none; a self-hosted class takes one task at a time', async () => {
  const big = { GYRE_AGENT_TEST_CPUS: '16', GYRE_AGENT_TEST_MEMORY_MB: '32768' };
  const started = [
    f.agent('default-reserve', [], big),
    f.agent('flags-reserve', ['--reserve-cpus', '4', '--reserve-memory', '8g'], big),
    f.agent('small', [], { GYRE_AGENT_TEST_CPUS: '2', GYRE_AGENT_TEST_MEMORY_MB: '3000' }),
    f.agent('four-at-once', ['--max-tasks', '4', '--reserve-memory', '2048'], big),
  ];
  const [byDefault, byFlags, small, four] = await Promise.all(started.map((a) => registered(f.g, a.name)));
  assert.equal(
    [byDefault!.info.capacity, byDefault!.info.reserved],
    [
      { cpus: 14, memoryMb: 28672 },
      { cpus: 2, memoryMb: 4096 },
    ],
  );
  assert.equal(
    [byFlags!.info.capacity, byFlags!.info.reserved],
    [
      { cpus: 12, memoryMb: 24576 },
      { cpus: 4, memoryMb: 8192 },
    ],
  );
  assert.equal(
    [small!.info.capacity, small!.info.reserved],
    [
      { cpus: 2, memoryMb: 3000 },
      { cpus: 0, memoryMb: 0 },
    ],
  );
  assert.equal([four!.info.capacity, four!.info.maxTasks], [{ cpus: 14, memoryMb: 30720 }, 4]);
  assert.is(byDefault!.info.maxTasks, 1, 'an agent of a self-hosted class runs one task at a time unless told otherwise');
  assert.equal(byDefault!.resourceClasses, ['acme/linux']);
  assert.equal(byDefault!.info.kinds, ['machine']);
  assert.match(byDefault!.info.declined[0]!.reason, /Docker/);
  // the audit log holds the registration as the agent sent it, under its own name
  const audit = (await f.g.services.store.readStream(`agent-${byFlags!.agentId}`)).map((e) => e.data as { info: { reserved: unknown } });
  assert.equal(
    audit.map((e) => e.info.reserved),
    [{ cpus: 4, memoryMb: 8192 }],
  );

  // idle agents stop at once on SIGTERM
  for (const a of started) a.child.kill('SIGTERM');
  assert.equal(await Promise.all(started.map((a) => a.exited)), [0, 0, 0, 0]);
});

test('a self-hosted job runs on the host and passes; its output reads through API v1.1; --one-shot exits after it', async () => {
  const w = await f.run(`version: 2.1
jobs:
  on-box:
    machine: true
    resource_class: acme/linux
    steps:
      - checkout
      - run: echo "on the box in $PWD as $CIRCLE_JOB" && test -f .circleci/config.yml
workflows:
  main: {jobs: [on-box]}
`);
  const a = f.agent('box-1', ['--one-shot']);
  const done = await finished(f.g, w.id, 60_000);
  assert.is(done.byName['on-box']!.status, 'success', a.output());
  assert.is(await a.exited, 0, 'a one-shot agent exits after its task');
  assert.match(a.output(), /registered .*classes=acme\/linux.*maxTasks=1/);

  const b = (
    await f.g.app.inject({ url: `/api/v1.1/project/${slug}/${done.byName['on-box']!.jobNumber}`, headers: { 'circle-token': f.g.adminToken } })
  ).json();
  assert.is(b.status, 'success');
  const echo = b.steps.find((s: { name: string }) => s.name.startsWith('echo "on the box'))!.actions[0];
  assert.is(echo.exit_code, 0);
  const out = (await f.g.app.inject({ url: new URL(echo.output_url).pathname, headers: { 'circle-token': f.g.adminToken } })).json() as Array<{
    message: string;
  }>;
  assert.match(out[0]!.message, `on the box in ${a.workDir}/`);
  assert.match(out[0]!.message, 'as on-box');
  const claims = await events(f.g, jobStream(jobIdOf(done, 'on-box')), 'job.task.claim');
  assert.is((claims[0]!.data as { agent: { name: string } }).agent.name, 'box-1');
  assert.not.ok(existsSync(join(a.workDir, `${jobIdOf(done, 'on-box')}.0`)), 'the task directory goes with the task');
});

test('self-hosted, one at a time: of two queued jobs the second starts only after the first ends', async () => {
  const w = await f.run(`version: 2.1
jobs:${job('first', 'sleep 1')}${job('second', 'sleep 1')}
workflows:
  main: {jobs: [first, second]}
`);
  const a = f.agent('serial');
  const done = await finished(f.g, w.id, 60_000);
  assert.equal([done.byName.first!.status, done.byName.second!.status], ['success', 'success'], a.output());
  const span = async (name: string) => {
    const s = jobStream(jobIdOf(done, name));
    return {
      claimed: Date.parse((await events(f.g, s, 'job.task.claim'))[0]!.occurredAt),
      ended: Date.parse((await events(f.g, s, 'job.task.finish'))[0]!.occurredAt),
    };
  };
  const [x, y] = [await span('first'), await span('second')].sort((p, q) => p.claimed - q.claimed);
  assert.ok(y!.claimed >= x!.ended, `the second was claimed ${x!.ended - y!.claimed} ms before the first ended`);
  const times = await Promise.all(
    ['first', 'second'].map(
      async (n) =>
        (await f.g.app.inject({ url: `/api/v1.1/project/${slug}/${done.byName[n]!.jobNumber}`, headers: { 'circle-token': f.g.adminToken } })).json() as {
          start_time: string;
          stop_time: string;
        },
    ),
  );
  const [t1, t2] = times.sort((p, q) => Date.parse(p.start_time) - Date.parse(q.start_time));
  assert.ok(Date.parse(t2!.start_time) >= Date.parse(t1!.stop_time), 'API v1.1 shows them one after the other');
  a.child.kill('SIGTERM');
  assert.is(await a.exited, 0);
});

test('many agents share one token: two names register as two agents, and both take tasks', async () => {
  const gate = join(f.scratch, 'gate-shared');
  const wait = `while [ ! -f ${gate} ]; do sleep 0.05; done`;
  const [a, b] = [f.agent('shared-a'), f.agent('shared-b')];
  const [ra, rb] = await Promise.all([registered(f.g, 'shared-a'), registered(f.g, 'shared-b')]);
  assert.is.not(ra!.agentId, rb!.agentId);
  const w = await f.run(`version: 2.1
jobs:${job('left', wait)}${job('right', wait)}
workflows:
  main: {jobs: [left, right]}
`);
  // each agent takes one task at a time, so with both tasks held open each agent has one
  const takers = await until('both jobs to be claimed', async () => {
    const claims = await Promise.all(['left', 'right'].map(async (n) => (await events(f.g, jobStream(jobIdOf(w, n)), 'job.task.claim'))[0]));
    return claims.every(Boolean) ? claims.map((c) => (c!.data as { agent: { name: string } }).agent.name).sort() : undefined;
  });
  assert.equal(takers, ['shared-a', 'shared-b']);
  writeFileSync(gate, '');
  const done = await finished(f.g, w.id, 60_000);
  assert.equal([done.byName.left!.status, done.byName.right!.status], ['success', 'success']);
  a.child.kill('SIGINT');
  b.child.kill('SIGTERM');
  assert.equal([await a.exited, await b.exited], [0, 0]);
});

test('SIGTERM lets the running task finish and claims nothing more; the agent then exits', async () => {
  const gate = join(f.scratch, 'gate-drain');
  const wait = `while [ ! -f ${gate} ]; do sleep 0.05; done`;
  const w = await f.run(`version: 2.1
jobs:${job('one', wait)}${job('other', wait)}
workflows:
  main: {jobs: [one, other]}
`);
  const a = f.agent('drain');
  const running = await until('one job to run', async () => (await workflow(f.g, w.id)).jobs.find((j) => j.status === 'running'), 60_000);
  a.child.kill('SIGTERM');
  await until('the agent to say it stops claiming', async () => (a.output().includes('claiming no more tasks') ? true : undefined));
  writeFileSync(gate, '');
  assert.is(await a.exited, 0);
  const left = w.jobs.find((j) => j.name !== running.name)!.name;
  // the job's end reaches the workflow through a reactor: wait for it
  const ended = await until('the running task to finish', async () => {
    const now = await status(f.g, w.id, running.name);
    return now === 'queued' || now === 'running' ? undefined : now;
  });
  assert.is(ended, 'success', a.output());
  assert.is(await status(f.g, w.id, left), 'queued', 'the other waited in the queue the whole time, and a stopping agent took nothing');
  const b = f.agent('drain-next');
  assert.is((await finished(f.g, w.id, 60_000)).byName[left]!.status, 'success');
  b.child.kill('SIGTERM');
  assert.is(await b.exited, 0);
});

test('an agent killed with SIGKILL mid-job: the job ends infrastructure_fail once, within the lease and a sweep, and never runs again', async () => {
  const pidFile = join(f.scratch, 'kill-me.pid');
  const w = await f.run(`version: 2.1
jobs:${job('killed', `echo $$ > ${pidFile}; sleep 600`)}
workflows:
  main: {jobs: [killed]}
`);
  const jobId = jobIdOf(w, 'killed');
  const a = f.agent('doomed');
  await until('the step to start', async () => (existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() ? true : undefined), 60_000);
  a.child.kill('SIGKILL');
  const killedAt = Date.now();
  await a.exited;
  const done = await finished(f.g, w.id, 30_000);
  const took = Date.now() - killedAt;
  assert.is(done.byName.killed!.status, 'infrastructure_fail');
  assert.ok(
    took < leaseMs * 1.25 + 3000,
    `ended ${took} ms after the kill: the lease is ${leaseMs} ms, a sweep every quarter of it (3 s for a loaded machine)`,
  );
  const finish = await events(f.g, jobStream(jobId), 'job.finish');
  assert.is(finish.length, 1);
  assert.match((finish[0]!.data as { reason: string }).reason, 'doomed stopped answering');
  assert.is((await events(f.g, workflowStream(w.id), 'workflow.job.finish', jobId)).length, 1);

  // another agent of the same token takes the queue from here: a later job runs, the killed one never again
  const b = f.agent('survivor');
  const later = await f.run(`version: 2.1
jobs:${job('later', 'echo later')}
workflows:
  main: {jobs: [later]}
`);
  assert.is((await finished(f.g, later.id, 60_000)).byName.later!.status, 'success');
  assert.is((await events(f.g, jobStream(jobId), 'job.task.claim')).length, 1, 'the killed job was claimed once only');
  assert.is((await events(f.g, jobStream(jobId), 'job.finish')).length, 1);
  assert.is((await workflow(f.g, w.id)).status, 'failed');
  b.child.kill('SIGTERM');
  assert.is(await b.exited, 0);
});

test.run();

// ---------------------------------------------------------------------------------------------------

/** With a long lease, only the agent's return can end its lost task at once. */
const restart = suite('gyre agent: the same agent restarted after a kill');
const r = fixture({ GYRE_AGENT_LEASE_MS: '120000' });
restart.before(() => r.start());
restart.after(() => r.stop());

restart('the same name restarted right after a SIGKILL ends its lost task at once, as "restarted", and runs it no more', async () => {
  const pidFile = join(r.scratch, 'restart-me.pid');
  const w = await r.run(`version: 2.1
jobs:${job('lost', `echo $$ > ${pidFile}; sleep 600`)}
workflows:
  main: {jobs: [lost]}
`);
  const jobId = jobIdOf(w, 'lost');
  const a = r.agent('phoenix');
  await until('the step to start', async () => (existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() ? true : undefined), 60_000);
  a.child.kill('SIGKILL');
  await a.exited;
  const killedAt = Date.now();
  const again = r.agent('phoenix');
  const done = await finished(r.g, w.id, 60_000);
  assert.ok(Date.now() - killedAt < 60_000, 'ended long before the two-minute lease');
  assert.is(done.byName.lost!.status, 'infrastructure_fail');
  const finish = await events(r.g, jobStream(jobId), 'job.finish');
  assert.is(finish.length, 1);
  assert.match((finish[0]!.data as { reason: string }).reason, 'agent phoenix restarted while running it');
  assert.is((await events(r.g, workflowStream(w.id), 'workflow.job.finish', jobId)).length, 1);
  assert.is((await events(r.g, jobStream(jobId), 'job.task.claim')).length, 1);
  again.child.kill('SIGTERM');
  assert.is(await again.exited, 0);
});

restart.run();
