/**
 * Scheduler placement with BENCH_TASKS (10,000) queued tasks over BENCH_AGENTS (100) agents.
 *
 * A real Gyre (no local agent) on a fresh database, one project; its reactors are stopped after start
 * so that nothing but the benchmark claims. The queue is seeded with real `job.queue` commands on the
 * jobs' own streams (docker small, medium and large in turn) and the read models catch up; agents
 * register through dispatch's channel, each under a runner token of its own (class `docker`).
 *
 * (a) decisions/s of the pure `placeTask` over a 100-task page read from the queue, for an idle
 *     agent (takes the head), a busy one with room for a small task only, and a full one (scans the
 *     whole page and finds nothing);
 * (b) claims/s through the whole claim path (`channel.claim`: queuedTasks, placeTask, the claim
 *     command on the job stream, read-model catch-up, the assignment with its secrets), every agent
 *     claiming in a loop at once for BENCH_SECONDS, with the claims refused TASK_TAKEN (another agent
 *     took the task first) counted.
 */
import { randomUUID } from 'node:crypto';
import type { CommandHandler } from '../application/commands.ts';
import { DomainError } from '../domain/errors.ts';
import { systemActor } from '../domain/events/envelope.ts';
import { jobDecider, jobStream, jobTarget } from '../domain/jobs/job.ts';
import { jobSpecOf } from '../domain/jobs/job-spec.ts';
import { dockerClasses } from '../domain/runners/built-in-classes.ts';
import { placeTask, type AgentLoad } from '../domain/scheduling/placement.ts';
import { jobsProjection, queuedTasks } from '../projections/jobs.ts';
import { benchGyre, benchRepo } from './gyre.ts';
import { backendArg, rate, report } from './support.ts';

const backend = backendArg();
const taskCount = Number(process.env.BENCH_TASKS ?? 10_000);
const agentCount = Number(process.env.BENCH_AGENTS ?? 100);
const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const classes = ['small', 'medium', 'large'] as const;
const slug = 'gh/bench/placement';

const g = await benchGyre(backend, { GYRE_LOCAL_AGENT: 'false' });
const repo = await benchRepo(
  'version: 2.1\njobs:\n  build:\n    docker: [{image: cimg/base:stable}]\n    steps: [{run: "true"}]\nworkflows:\n  main:\n    jobs: [build]\n',
);
await g.gql('mutation($s: String!, $u: String!) { createProject(input: {slug: $s, gitUrl: $u}) { id } }', { s: slug, u: repo.dir });
const s = g.gyre.services;
await s.reactors.stop();

// the queue: real job.queue commands, 32 at a time
const seedStarted = Date.now();
let next = 0;
let lastSeeded = '';
await Promise.all(
  Array.from({ length: 32 }, async () => {
    for (let i = next++; i < taskCount; i = next++) {
      const name = classes[i % classes.length]!;
      const jobId = randomUUID();
      const spec = jobSpecOf({
        job: { docker: [{ image: 'cimg/base:stable' }], resource_class: name, steps: [{ run: 'true' }] },
        ids: {
          jobId,
          jobNumber: i + 1,
          name: `job-${i}`,
          workflowId: randomUUID(),
          workflowName: 'main',
          pipelineId: randomUUID(),
          pipelineNumber: 1,
          projectSlug: slug,
          runsFor: 'admin',
          contexts: [],
          vcs: { repositoryUrl: repo.dir, revision: 'HEAD', branch: 'main', tag: null },
        },
        resourceClass: { kind: 'docker', name, ...dockerClasses[name]! },
        timeoutMs: 3_600_000,
      });
      const r = await s.commands.execute({
        stream: jobStream(jobId),
        decider: jobDecider,
        command: { type: 'queue', spec },
        context: { actor: systemActor, request: null },
        target: jobTarget({ jobId, name: spec.name }),
      });
      if (r.position && r.position > lastSeeded) lastSeeded = r.position;
    }
  }),
);
if (!(await s.projections.waitFor(await s.store.head(), 10 * 60_000))) throw new Error('read models did not catch up with the queue');
const seedSeconds = (Date.now() - seedStarted) / 1000;
const served = Object.keys(dockerClasses).map((n) => `docker:${n}`);
const queuedCount = async () => Number(((await s.db(jobsProjection.tables.job_tasks).where({ status: 'queued' }).count('* as n')) as [{ n: string }])[0].n);
let queued = await queuedCount();
// projections.waitFor(head) has been seen to answer while the jobs read model still lacked tasks (PostgreSQL, 32 appending clients): say so, then wait for them
const shortBy = taskCount - queued;
if (!(await s.projections.waitFor(lastSeeded, 10 * 60_000))) throw new Error('read models did not reach the last job.queue');
queued = await queuedCount();
for (const deadline = Date.now() + 5 * 60_000; queued < taskCount && Date.now() < deadline; queued = await queuedCount())
  await new Promise((r) => setTimeout(r, 200));
if (queued !== taskCount) throw new Error(`the queue holds ${queued} tasks, not ${taskCount}`);

// (a) the pure decision over one page
const page = await queuedTasks(s.db, served, 100);
const big = { cpus: 8, memoryMb: 16384 };
const loads: Record<string, AgentLoad> = {
  idle: { capacity: big, running: [], maxTasks: null },
  room_for_small: { capacity: big, running: Array.from({ length: 7 }, () => ({ cpus: 1, memoryMb: 2048 })), maxTasks: null },
  full_scans_page: { capacity: big, running: Array.from({ length: 8 }, () => ({ cpus: 1, memoryMb: 2048 })), maxTasks: null },
};
const decisions: Record<string, number> = {};
let sink = 0; // uses each decision, so the loop is not optimized away
for (const [label, load] of Object.entries(loads)) {
  for (let i = 0; i < 100_000; i++) placeTask(page, load); // warm-up
  let n = 0;
  const started = performance.now();
  while (performance.now() - started < 1000) {
    for (let i = 0; i < 1000; i++) sink += placeTask(page, load)?.taskIndex ?? 1;
    n += 1000;
  }
  decisions[label] = rate(n, performance.now() - started);
}
if (sink < 0) throw new Error('unreachable');
// the page query the claim path runs before each decision
let pages = 0;
const pageStarted = Date.now();
while (Date.now() - pageStarted < 2000) {
  await queuedTasks(s.db, served, 100);
  pages++;
}
const pagesPerS = rate(pages, Date.now() - pageStarted);

// (b) the claim path, every agent at once
let claimCommands = 0;
let taken = 0;
const commands = s.commands as { execute: CommandHandler['execute'] };
const execute = commands.execute.bind(commands);
commands.execute = (async (input: Parameters<CommandHandler['execute']>[0]) => {
  const isClaim = (input.command as { type?: string }).type === 'claim';
  if (isClaim) claimCommands++;
  try {
    return await execute(input);
  } catch (e) {
    if (isClaim && e instanceof DomainError && e.code === 'TASK_TAKEN') taken++;
    throw e;
  }
}) as CommandHandler['execute'];

const agents = await Promise.all(
  Array.from({ length: agentCount }, async (_, i) => {
    const channel = s.dispatch.channel({ kind: 'token', tokenId: randomUUID(), resourceClass: 'docker' });
    const registration = await channel.register({
      name: `bench-agent-${i}`,
      version: 'bench',
      os: 'linux',
      capacity: { cpus: 64, memoryMb: 131072 },
      reserved: { cpus: 0, memoryMb: 0 },
      maxTasks: null,
      kinds: ['docker'],
      declined: [],
    });
    return { channel, agentId: registration.agentId };
  }),
);
let claims = 0;
let empty = 0;
const latencies: number[] = [];
const claimStarted = Date.now();
const end = claimStarted + seconds * 1000;
await Promise.all(
  agents.map(async ({ channel, agentId }) => {
    while (Date.now() < end) {
      const t = performance.now();
      const a = await channel.claim(agentId, 0);
      if (!a) {
        empty++;
        break; // this agent is full
      }
      latencies.push(performance.now() - t);
      claims++;
    }
  }),
);
const claimMs = Date.now() - claimStarted;
latencies.sort((a, b) => a - b);

report({
  bench: 'placement',
  backend,
  tasks: taskCount,
  agents: agentCount,
  seed_s: seedSeconds,
  tasks_missing_after_wait_for: shortBy,
  decisions_per_s_idle: decisions.idle,
  decisions_per_s_room_for_small: decisions.room_for_small,
  decisions_per_s_full_scan: decisions.full_scans_page,
  page_queries_per_s: pagesPerS,
  claims,
  claim_s: claimMs / 1000,
  claims_per_s: rate(claims, claimMs),
  claim_commands: claimCommands,
  task_taken: taken,
  agents_full: empty,
  claim_p50_ms: Math.round(latencies[Math.floor(latencies.length / 2)] ?? NaN),
  claim_p99_ms: Math.round(latencies[Math.floor(latencies.length * 0.99)] ?? NaN),
});
await g.stop();
repo.remove();
