import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { type NomadStandIn, type StandInNode, startNomadStandIn } from './nomad-standin.ts';
import { until } from './jobs.ts';

const test = suite('test/support/nomad-standin');
const small: StandInNode = { id: 'node-small', name: 'small', nodeClass: 'ci', cpuMhz: 4000, cores: 2, memoryMb: 1024 };
const big: StandInNode = { id: 'node-big', name: 'big', nodeClass: 'ci', meta: { tier: 'large' }, cpuMhz: 8000, cores: 4, memoryMb: 8192 };
let out: string;
test.before.each(() => {
  out = mkdtempSync(join(tmpdir(), 'nomad-standin-test-'));
});
test.after.each(() => rmSync(out, { recursive: true, force: true }));

type Json = any;
const call = async (n: NomadStandIn, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
  const r = await fetch(n.url + path, { method, headers, ...(body !== undefined && { body: JSON.stringify(body) }) });
  const text = await r.text();
  return {
    status: r.status,
    index: Number(r.headers.get('x-nomad-index')),
    headers: r.headers,
    text,
    body: (r.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text) as Json,
  };
};
/** Follows `path` with blocking queries until `done` holds for its body, or fails at the deadline. */
const follow = async (n: NomadStandIn, path: string, done: (body: Json) => boolean, ms = 15_000) => {
  const deadline = Date.now() + ms;
  let r = await call(n, 'GET', path);
  while (!(r.status === 200 && done(r.body))) {
    if (Date.now() > deadline) throw new Error(`${path} never got there: ${r.text}`);
    r = await call(n, 'GET', `${path}${path.includes('?') ? '&' : '?'}index=${r.index}&wait=5s`);
  }
  return r.body;
};
const job = (
  id: string,
  task: { command?: string; args: string[]; env?: Record<string, string>; memoryMb?: number; cores?: number; killTimeoutNs?: number },
  extra: Json = {},
) => ({
  Job: {
    ID: id,
    Type: 'batch',
    Datacenters: ['dc1'],
    TaskGroups: [
      {
        Name: 'build',
        Count: 1,
        Tasks: [
          {
            Name: 'step',
            Driver: 'raw_exec',
            Config: { command: task.command ?? process.execPath, args: task.args },
            Env: task.env ?? {},
            Resources: { CPU: 500, MemoryMB: task.memoryMb ?? 256, ...(task.cores && { Cores: task.cores }) },
            ...(task.killTimeoutNs && { KillTimeout: task.killTimeoutNs }),
          },
        ],
      },
    ],
    ...extra,
  },
});
const forever = ['-e', 'setInterval(() => {}, 1000)'];
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('a registered job runs its command with the task env and NOMAD_* variables; a blocking query wakes when it completes', async () => {
  const n = await startNomadStandIn({ nodes: [small] });
  try {
    const file = join(out, 'env.txt');
    const script =
      "require('fs').writeFileSync(process.env.OUT, [process.env.GREETING, process.env.NOMAD_ALLOC_ID, process.env.NOMAD_JOB_ID, process.env.NOMAD_TASK_NAME, process.env.NOMAD_MEMORY_LIMIT, process.env.NOMAD_CPU_LIMIT, process.env.NOMAD_DC, process.env.NOMAD_NAMESPACE, process.env.NOMAD_REGION, process.cwd()].join(' '))";
    const before = await call(n, 'GET', '/v1/job/hello/allocations');
    assert.equal(before.body, []);
    const reg = await call(n, 'PUT', '/v1/jobs', job('hello', { args: ['-e', script], env: { OUT: file, GREETING: 'hi' } }));
    assert.is(reg.status, 200, reg.text);
    assert.ok(reg.body.EvalID && reg.body.EvalCreateIndex > 0 && reg.body.JobModifyIndex > 0, reg.text);
    assert.is(reg.body.Warnings, '');
    // the query blocked at the index before the registration returns once the allocation changes
    const woke = await call(n, 'GET', `/v1/job/hello/allocations?index=${before.index}&wait=10s`);
    assert.ok(woke.index > before.index);
    assert.is(woke.headers.get('x-nomad-knownleader'), 'true');
    assert.is(woke.headers.get('x-nomad-lastcontact'), '0');
    const [stub] = await follow(n, '/v1/job/hello/allocations', (b) => b[0]?.ClientStatus === 'complete');
    assert.is(stub.NodeID, 'node-small');
    assert.is(stub.DesiredStatus, 'run');
    assert.is(stub.Name, 'hello.build[0]');
    const state = stub.TaskStates.step;
    assert.equal({ State: state.State, Failed: state.Failed }, { State: 'dead', Failed: false });
    assert.equal(
      state.Events.map((e: Json) => e.Type),
      ['Received', 'Task Setup', 'Started', 'Terminated'],
    );
    assert.is(state.Events[3].DisplayMessage, 'Exit Code: 0');
    const [greeting, allocId, jobId, task, memory, cpu, dc, ns, region, cwd] = readFileSync(file, 'utf8').split(' ');
    assert.equal([greeting, allocId, jobId, task, memory, cpu, dc, ns, region], ['hi', stub.ID, 'hello', 'step', '256', '500', 'dc1', 'default', 'global']);
    assert.ok(cwd!.endsWith(join(stub.ID, 'step')), cwd);
    const full = await call(n, 'GET', `/v1/allocation/${stub.ID}`);
    assert.is(full.body.Job.ID, 'hello');
    assert.is(full.body.AllocatedResources.Tasks.step.Memory.MemoryMB, 256);
    assert.is((await call(n, 'GET', '/v1/job/hello')).body.Status, 'dead');
    // nothing changes: the query holds for its wait and answers the same index
    const started = Date.now();
    const held = await call(n, 'GET', `/v1/allocation/${stub.ID}?index=${full.index}&wait=300ms`);
    assert.ok(Date.now() - started >= 300, `answered after ${Date.now() - started} ms`);
    assert.is(held.index, full.index);
    assert.is((await call(n, 'GET', '/v1/job/hello?wait=xyz&index=1')).status, 400);
  } finally {
    await n.stop();
  }
});

test('a non-zero exit fails the allocation; registering the same ID again updates the job and places nothing twice', async () => {
  const n = await startNomadStandIn({ nodes: [small] });
  try {
    const spec = job('again', { args: ['-e', 'process.exit(3)'] });
    const first = await call(n, 'POST', '/v1/jobs', spec);
    const [failed] = await follow(n, '/v1/job/again/allocations', (b) => b[0]?.ClientStatus === 'failed');
    assert.equal(
      failed.TaskStates.step.Events.slice(-2).map((e: Json) => [e.Type, e.DisplayMessage]),
      [
        ['Terminated', 'Exit Code: 3'],
        ['Not Restarting', 'Policy allows no restarts'],
      ],
    );
    assert.ok(failed.TaskStates.step.Failed);
    const second = await call(n, 'PUT', '/v1/jobs', spec);
    assert.is(second.body.JobModifyIndex, first.body.JobModifyIndex, 'an unchanged spec is no new version');
    assert.is((await call(n, 'GET', '/v1/job/again/allocations')).body.length, 1);
    assert.equal(
      n.jobs().map(({ spec: _, ...j }) => j),
      [{ namespace: 'default', id: 'again', version: 0, stop: false, status: 'dead' }],
    );
    assert.is(n.requests().filter((r) => r.path === '/v1/jobs').length, 2);
    // a changed spec is a new version, and a batch job's new version runs again
    const third = await call(n, 'PUT', '/v1/jobs', job('again', { args: ['-e', 'process.exit(0)'] }));
    assert.ok(third.body.JobModifyIndex > first.body.JobModifyIndex);
    const allocs = await follow(n, '/v1/job/again/allocations', (b) => b.some((a: Json) => a.JobVersion === 1 && a.ClientStatus === 'complete'));
    assert.is(allocs.length, 2);
  } finally {
    await n.stop();
  }
});

test('a job that needs more memory than any node has waits with FailedTGAllocs naming memory, and is placed when a bigger node joins', async () => {
  const n = await startNomadStandIn({ nodes: [small] });
  try {
    const file = join(out, 'ran');
    const reg = await call(n, 'PUT', '/v1/jobs', job('huge', { args: ['-e', `require('fs').writeFileSync(${JSON.stringify(file)}, 'x')`], memoryMb: 4096 }));
    const e = (await call(n, 'GET', `/v1/evaluation/${reg.body.EvalID}`)).body;
    assert.is(e.Status, 'complete');
    assert.is(e.TriggeredBy, 'job-register');
    const metric = e.FailedTGAllocs.build;
    assert.equal(metric.DimensionExhausted, { memory: 1 });
    assert.equal(metric.ClassExhausted, { ci: 1 });
    assert.is(metric.NodesExhausted, 1);
    assert.is(metric.NodesEvaluated, 1);
    assert.equal(metric.NodesAvailable, { dc1: 1 });
    assert.equal(metric.ResourcesExhausted, { step: { CPU: 0, MemoryMB: 4096 } });
    assert.equal(e.QueuedAllocations, { build: 1 });
    const blocked = (await call(n, 'GET', `/v1/evaluation/${e.BlockedEval}`)).body;
    assert.equal([blocked.Status, blocked.TriggeredBy, blocked.StatusDescription], ['blocked', 'queued-allocs', 'created to place remaining allocations']);
    assert.is((await call(n, 'GET', '/v1/job/huge')).body.Status, 'pending');
    assert.equal((await call(n, 'GET', '/v1/job/huge/allocations')).body, []);
    n.addNode(big);
    const [a] = await follow(n, '/v1/job/huge/allocations', (b) => b[0]?.ClientStatus === 'complete');
    assert.is(a.NodeID, 'node-big');
    assert.ok(existsSync(file));
    const evals = (await call(n, 'GET', '/v1/job/huge/evaluations')).body as Json[];
    assert.is(evals.find((x) => x.ID === blocked.ID).Status, 'complete');
  } finally {
    await n.stop();
  }
});

test('a waiting job is placed when a running allocation ends and frees its capacity; constraints filter nodes as Nomad counts them', async () => {
  const n = await startNomadStandIn({ nodes: [small, big] });
  try {
    const onBig = { Constraints: [{ LTarget: `\${meta.tier}`, RTarget: 'large', Operand: '=' }] };
    await call(n, 'PUT', '/v1/jobs', job('first', { args: forever, memoryMb: 6000, cores: 2 }, onBig));
    const [running] = await follow(n, '/v1/job/first/allocations', (b) => b[0]?.ClientStatus === 'running');
    assert.is(running.NodeID, 'node-big');
    const reg = await call(n, 'PUT', '/v1/jobs', job('second', { args: ['-e', 'console.log(process.env.NOMAD_CPU_CORES)'], memoryMb: 6000 }, onBig));
    const metric = (await call(n, 'GET', `/v1/evaluation/${reg.body.EvalID}`)).body.FailedTGAllocs.build;
    assert.equal(metric.ConstraintFiltered, { '${meta.tier} = large': 1 });
    assert.equal(metric.DimensionExhausted, { memory: 1 });
    assert.is(metric.NodesFiltered, 1);
    const full = (await call(n, 'GET', `/v1/allocation/${running.ID}`)).body;
    assert.equal(full.AllocatedResources.Tasks.step.Cpu, { CpuShares: 4000, ReservedCores: [0, 1] });
    assert.is((await call(n, 'DELETE', '/v1/job/first?purge=true')).status, 200);
    const [placed] = await follow(n, '/v1/job/second/allocations', (b) => b[0]?.ClientStatus === 'complete');
    assert.is(placed.NodeID, 'node-big');
  } finally {
    await n.stop();
  }
});

test('purging a job stops it and kills its running process group', async () => {
  const n = await startNomadStandIn({ nodes: [small] });
  const pidFile = join(out, 'grandchild.pid');
  try {
    // a shell whose child sleeps: both are in the task's process group
    await call(
      n,
      'PUT',
      '/v1/jobs',
      job('long', {
        command: '/bin/sh',
        args: [
          '-c',
          `${JSON.stringify(process.execPath)} -e 'require("fs").writeFileSync(${JSON.stringify(pidFile)}, String(process.pid)); process.on("SIGINT", () => {}); setInterval(() => {}, 1000)' & wait`,
        ],
        killTimeoutNs: 200e6,
      }),
    );
    const [a] = await follow(n, '/v1/job/long/allocations', (b) => b[0]?.ClientStatus === 'running');
    const [pid] = n.allocations()[0]!.pids;
    assert.ok(pid && alive(pid));
    const grandchild = await until('the background child to start', async () =>
      existsSync(pidFile) && readFileSync(pidFile, 'utf8') ? Number(readFileSync(pidFile, 'utf8')) : undefined,
    );
    const del = await call(n, 'DELETE', '/v1/job/long?purge=true');
    assert.ok(del.body.EvalID, del.text);
    assert.is((await call(n, 'GET', '/v1/job/long')).status, 404);
    assert.is((await call(n, 'GET', '/v1/job/long')).text, 'job not found');
    const done = await follow(n, `/v1/allocation/${a.ID}`, (b) => b.ClientStatus === 'complete');
    assert.is(done.DesiredStatus, 'stop');
    assert.equal(
      done.TaskStates.step.Events.slice(-2).map((e: Json) => e.Type),
      ['Killing', 'Killed'],
    );
    assert.not.ok(alive(pid!), 'the task process is gone');
    // the shell's background child ignores SIGINT; the force kill after KillTimeout reaches it, though its shell is gone
    await until('the background child to be killed', async () => (alive(grandchild) ? undefined : true));
    assert.is((await call(n, 'GET', '/v1/jobs')).body.length, 0);
  } finally {
    await n.stop();
  }
});

test('draining and ineligible nodes get nothing new; an eligible node gets the job; a drain ends when its allocations do', async () => {
  const n = await startNomadStandIn({ nodes: [small, big] });
  try {
    await call(n, 'PUT', '/v1/jobs', job('resident', { args: forever }, { Constraints: [{ LTarget: `\${node.unique.name}`, RTarget: 'big' }] }));
    await follow(n, '/v1/job/resident/allocations', (b) => b[0]?.ClientStatus === 'running');
    // Deadline 0: no deadline, the batch allocation may finish in its own time
    const drain = await call(n, 'POST', '/v1/node/node-big/drain', { DrainSpec: { Deadline: 0, IgnoreSystemJobs: false } });
    assert.ok(drain.body.NodeModifyIndex > 0, drain.text);
    assert.is((await call(n, 'POST', '/v1/node/node-small/eligibility', { Eligibility: 'ineligible' })).status, 200);
    const nodes = (await call(n, 'GET', '/v1/nodes?resources=true')).body as Json[];
    assert.equal(
      nodes.map((x) => [x.ID, x.Drain, x.SchedulingEligibility, x.Status, x.NodeResources.Memory.MemoryMB]),
      [
        ['node-small', false, 'ineligible', 'ready', 1024],
        ['node-big', true, 'ineligible', 'ready', 8192],
      ],
    );
    assert.not.ok((await call(n, 'GET', '/v1/nodes')).body[0].NodeResources, 'only with ?resources=true');
    const reg = await call(n, 'PUT', '/v1/jobs', job('waiting', { args: ['-e', ''] }));
    const metric = (await call(n, 'GET', `/v1/evaluation/${reg.body.EvalID}`)).body.FailedTGAllocs.build;
    assert.equal([metric.NodesEvaluated, metric.NodesAvailable], [0, { dc1: 0 }]);
    assert.is((await call(n, 'POST', '/v1/node/node-big/eligibility', { Eligibility: 'eligible' })).status, 500, 'not while it drains');
    n.setEligibility('node-small', true);
    const [a] = await follow(n, '/v1/job/waiting/allocations', (b) => b[0]?.ClientStatus === 'complete');
    assert.is(a.NodeID, 'node-small');
    await call(n, 'DELETE', '/v1/job/resident');
    const bigNode = await follow(n, '/v1/node/node-big', (b) => !b.Drain);
    assert.equal([bigNode.SchedulingEligibility, bigNode.LastDrain?.Status], ['ineligible', 'complete']);
    assert.is((await call(n, 'GET', '/v1/job/resident')).body.Status, 'dead', 'stopped without purge: still there');
  } finally {
    await n.stop();
  }
});

test('a lost allocation is killed, reported lost, and replaced', async () => {
  const n = await startNomadStandIn({ nodes: [small] });
  try {
    await call(n, 'PUT', '/v1/jobs', job('fragile', { args: forever }));
    const [a] = await follow(n, '/v1/job/fragile/allocations', (b) => b[0]?.ClientStatus === 'running');
    const [pid] = n.allocations()[0]!.pids;
    n.loseAllocation(a.ID);
    const list = await follow(n, '/v1/job/fragile/allocations', (b) => b.length === 2 && b[1].ClientStatus === 'running');
    assert.equal([list[0].ClientStatus, list[0].DesiredStatus, list[0].NextAllocation], ['lost', 'stop', list[1].ID]);
    assert.is(list[1].PreviousAllocation, a.ID);
    assert.not.ok(alive(pid!));
    await call(n, 'DELETE', '/v1/job/fragile?purge=true');
  } finally {
    await n.stop();
  }
});

test('with ACLs, a missing, unknown or insufficient token gets 403; namespaces keep jobs apart; regions are checked', async () => {
  const n = await startNomadStandIn({
    nodes: [small],
    tokens: {
      'gyre-secret': { namespaces: { ci: { capabilities: ['submit-job', 'read-job', 'list-jobs'] } }, node: 'read' },
      'reader-secret': { namespaces: { ci: { policy: 'read' } } },
    },
  });
  try {
    const spec = job('acl', { args: ['-e', ''] }, { Namespace: 'ci' });
    const none = await call(n, 'PUT', '/v1/jobs', spec);
    assert.equal([none.status, none.text], [403, 'Permission denied']);
    const unknown = await call(n, 'PUT', '/v1/jobs', spec, { 'X-Nomad-Token': 'wrong' });
    assert.equal([unknown.status, unknown.text], [403, 'ACL token not found']);
    const reader = await call(n, 'PUT', '/v1/jobs', spec, { 'X-Nomad-Token': 'reader-secret' });
    assert.equal([reader.status, reader.text], [403, 'Permission denied']);
    assert.is((await call(n, 'GET', '/v1/nodes', undefined, { 'X-Nomad-Token': 'reader-secret' })).status, 403);
    const ok = await call(n, 'PUT', '/v1/jobs', spec, { Authorization: 'Bearer gyre-secret' });
    assert.is(ok.status, 200, ok.text);
    assert.is((await call(n, 'GET', '/v1/nodes', undefined, { 'X-Nomad-Token': 'gyre-secret' })).status, 200);
    assert.is((await call(n, 'GET', '/v1/job/acl', undefined, { 'X-Nomad-Token': 'gyre-secret' })).status, 403, 'the default namespace is not granted');
    assert.is((await call(n, 'GET', '/v1/job/acl?namespace=ci', undefined, { 'X-Nomad-Token': 'reader-secret' })).body.Namespace, 'ci');
    assert.is((await call(n, 'GET', '/v1/status/leader')).status, 200, 'needs no token');
    const elsewhere = await call(n, 'GET', '/v1/job/acl?namespace=ci&region=mars', undefined, { 'X-Nomad-Token': 'gyre-secret' });
    assert.equal([elsewhere.status, elsewhere.text], [500, 'No path to region']);
    assert.equal(
      n
        .requests()
        .slice(0, 3)
        .map((r) => [r.method, r.path, r.token]),
      [
        ['PUT', '/v1/jobs', false],
        ['PUT', '/v1/jobs', true],
        ['PUT', '/v1/jobs', true],
      ],
    );
  } finally {
    await n.stop();
  }
});

test('slow() delays every answer', async () => {
  const n = await startNomadStandIn({ nodes: [small] });
  try {
    n.slow(200);
    const started = Date.now();
    assert.is((await call(n, 'GET', '/v1/status/leader')).body, '127.0.0.1:4647');
    assert.ok(Date.now() - started >= 200);
  } finally {
    await n.stop();
  }
});

test.run();
