/**
 * Queued → started latency with the agent inside the server: a real Gyre (GYRE_LOCAL_AGENT=true,
 * GYRE_LOCAL_MACHINE_JOBS=true, so `machine: true` jobs run on this host and no Docker is needed),
 * a project on a local git repository, pipelines triggered through GraphQL triggerPipeline.
 *
 * Latency of a job = occurredAt of its `workflow.job.start` − occurredAt of its `workflow.job.scheduled`
 * (both in the workflow's stream), split into hops with `job.queue` and `job.task.claim` from the
 * job's own stream.
 *
 * Two shapes of pipelines of BENCH_JOBS (50) trivial jobs (`run: "true"`) each:
 * - burst: BENCH_PIPELINES (10) pipelines of independent jobs, triggered back to back. The local agent offers this machine's
 *   CPUs and a machine job takes 2, so on a 2-core machine it runs one job at a time: most of a job's
 *   wait is for the job before it to end. `ready` is when the agent could have taken it (the later of
 *   its queueing and the last task end before its claim); `dispatch` = claim − ready.
 * - chain: BENCH_CHAIN_PIPELINES (2) pipelines where each job requires the one before, one at a time, so the agent is idle whenever a
 *   job is scheduled: the whole latency is Gyre's own (reactors, read models, claim wake-up).
 */
import { jobStream } from '../domain/jobs/job.ts';
import { workflowStream } from '../domain/pipelines/workflow.ts';
import type { RecordedEvent } from '../domain/events/envelope.ts';
import { benchGyre, benchRepo } from './gyre.ts';
import { backendArg, report, spread } from './support.ts';

const backend = backendArg();
const pipelines = Number(process.env.BENCH_PIPELINES ?? 10);
const chainPipelines = Number(process.env.BENCH_CHAIN_PIPELINES ?? 2);
const perPipeline = Number(process.env.BENCH_JOBS ?? 50);
const shapes = (process.env.BENCH_SHAPES ?? 'chain,burst').split(',') as Array<'chain' | 'burst'>;

const names = Array.from({ length: perPipeline }, (_, i) => `j${i}`);
const jobs = names.map((n) => `  ${n}:\n    machine: true\n    steps:\n      - run: "true"\n`).join('');
const configs = {
  burst: `version: 2.1\njobs:\n${jobs}workflows:\n  burst:\n    jobs:\n${names.map((n) => `      - ${n}\n`).join('')}`,
  chain: `version: 2.1\njobs:\n${jobs}workflows:\n  chain:\n    jobs:\n${names.map((n, i) => (i === 0 ? `      - ${n}\n` : `      - ${n}: {requires: [${names[i - 1]}]}\n`)).join('')}`,
};

const g = await benchGyre(backend, { GYRE_LOCAL_AGENT: 'true', GYRE_LOCAL_MACHINE_JOBS: 'true' });
const repos: Array<{ remove(): void }> = [];
const ms = (a: string, b: string) => Date.parse(b) - Date.parse(a) + micro(b) - micro(a);
/** occurredAt has microseconds; Date.parse keeps milliseconds. */
const micro = (iso: string) => Number(/\.\d{3}(\d{3})Z$/.exec(iso)?.[1] ?? 0) / 1000;
const ended = new Set(['success', 'failed', 'canceled', 'not_run', 'unauthorized', 'error']);

const trigger = async (slug: string) =>
  (
    await g.gql<{ triggerPipeline: { workflows: Array<{ id: string }> } }>(
      'mutation($s: String!) { triggerPipeline(input: {projectSlug: $s}) { workflows { id } } }',
      { s: slug },
    )
  ).triggerPipeline.workflows.map((w) => w.id);
const finish = async (workflowId: string) => {
  const deadline = Date.now() + 30 * 60_000;
  for (;;) {
    const { workflow } = await g.gql<{ workflow: { status: string } }>('query($id: ID!) { workflow(id: $id) { status } }', { id: workflowId });
    if (ended.has(workflow.status)) return workflow.status;
    if (Date.now() > deadline) throw new Error(`workflow ${workflowId} did not end`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

interface JobTimes {
  scheduled: string;
  queued: string;
  claimed: string;
  started: string;
  taskEnded: string | null;
}
const timesOf = async (workflowIds: string[]): Promise<JobTimes[]> => {
  const out: JobTimes[] = [];
  const at = (events: RecordedEvent[], type: string, jobId?: string) =>
    events.find((e) => e.type === type && e.metadata.success && (!jobId || (e.data as { jobId: string }).jobId === jobId))?.occurredAt;
  for (const w of workflowIds) {
    const wf = await g.gyre.services.store.readStream(workflowStream(w));
    for (const e of wf.filter((x) => x.type === 'workflow.job.scheduled')) {
      const jobId = (e.data as { jobId: string }).jobId;
      const job = await g.gyre.services.store.readStream(jobStream(jobId));
      const started = at(wf, 'workflow.job.start', jobId);
      const queued = at(job, 'job.queue');
      const claimed = at(job, 'job.task.claim');
      if (!started || !queued || !claimed) throw new Error(`job ${jobId} did not start`);
      out.push({ scheduled: e.occurredAt, queued, claimed, started, taskEnded: at(job, 'job.task.finish') ?? null });
    }
  }
  return out;
};

const result: Record<string, unknown> = {
  bench: 'job-latency',
  backend,
  executor: 'machine (host, local agent)',
  cpus: (await import('node:os')).cpus().length,
};
for (const shape of shapes) {
  const repo = await benchRepo(configs[shape]);
  repos.push(repo);
  const slug = `gh/bench/${shape}`;
  await g.gql('mutation($s: String!, $u: String!) { createProject(input: {slug: $s, gitUrl: $u}) { id } }', { s: slug, u: repo.dir });
  const started = Date.now();
  const workflowIds: string[] = [];
  if (shape === 'burst') {
    for (let p = 0; p < pipelines; p++) workflowIds.push(...(await trigger(slug)));
    for (const w of workflowIds) if ((await finish(w)) !== 'success') throw new Error(`workflow ${w} did not succeed`);
  } else {
    for (let p = 0; p < chainPipelines; p++) {
      const ids = await trigger(slug);
      workflowIds.push(...ids);
      for (const w of ids) if ((await finish(w)) !== 'success') throw new Error(`workflow ${w} did not succeed`);
    }
  }
  const seconds = (Date.now() - started) / 1000;
  const times = await timesOf(workflowIds);
  const latency = spread(times.map((t) => ms(t.scheduled, t.started)));
  const hops: Record<string, ReturnType<typeof spread>> = {
    scheduler: spread(times.map((t) => ms(t.scheduled, t.queued))),
    queue_to_claim: spread(times.map((t) => ms(t.queued, t.claimed))),
    job_progress: spread(times.map((t) => ms(t.claimed, t.started))),
  };
  if (shape === 'burst') {
    // when the agent had room for the job: the later of its queueing and the last task end before its claim
    const ends = times
      .map((t) => t.taskEnded)
      .filter((x): x is string => !!x)
      .sort();
    const dispatch = times.map((t) => {
      const freed = ends.filter((x) => x < t.claimed).at(-1);
      const ready = freed && freed > t.queued ? freed : t.queued;
      return ms(ready, t.claimed);
    });
    hops.dispatch_after_ready = spread(dispatch);
  }
  result[shape] = { jobs: times.length, seconds, jobs_per_s: Math.round((times.length / seconds) * 10) / 10, latency_ms: latency, hops_ms: hops };
  process.stderr.write(`${shape}: ${JSON.stringify(result[shape])}\n`);
}
report(result);
await g.stop();
for (const r of repos) r.remove();
