/**
 * Projection catch-up over pipeline traffic, in events per second: every read model from an empty
 * checkpoint over pipelines of `BENCH_JOBS` jobs each (a `pipeline.create`, a `workflow.start`, each
 * job scheduled, started and finished, and a `workflow.finish`), ~`BENCH_EVENTS` events in all.
 */
import { randomUUID } from 'node:crypto';
import { withSchemaLock } from '../adapters/database/sql.ts';
import { createPostgresEventStore } from '../adapters/eventstore/postgres.ts';
import type { NewEvent } from '../domain/events/envelope.ts';
import { allProjections } from '../projections/all.ts';
import { pipelinesProjection } from '../projections/pipelines.ts';
import { createProjectionRunner } from '../projections/runner.ts';
import { backendArg, freshDatabase, rate, report, sampleEvent } from './support.ts';

const backend = backendArg();
const target = Number(process.env.BENCH_EVENTS ?? 100_000);
const jobsPer = Number(process.env.BENCH_JOBS ?? 4);
const perPipeline = 3 + 3 * jobsPer;
const pipelineCount = Math.max(1, Math.round(target / perPipeline));
const db = await freshDatabase(backend);
const store = await createPostgresEventStore(db);

const projectId = randomUUID();
const projectSlug = 'gh/Acme/Widgets';
const { metadata } = sampleEvent(0);
const config = JSON.stringify({
  version: 2.1,
  jobs: Object.fromEntries(
    Array.from({ length: jobsPer }, (_, k) => [`job-${k}`, { docker: [{ image: 'cimg/base:current' }], steps: [{ run: { command: 'make' } }] }]),
  ),
  workflows: { build: { jobs: Array.from({ length: jobsPer }, (_, k) => (k ? { [`job-${k}`]: { requires: [`job-${k - 1}`] } } : 'job-0')) } },
});
const event = (type: string, data: unknown): NewEvent => ({ id: randomUUID(), type, data, metadata: { ...metadata, $correlationId: randomUUID() } });
/** One pipeline's events, as the deciders write them: its jobs one after another, each requiring the one before. */
const pipelineEvents = (n: number): NewEvent[] => {
  const pipelineId = randomUUID();
  const workflowId = randomUUID();
  const firstJob = (n - 1) * jobsPer + 1;
  const jobs = Array.from({ length: jobsPer }, (_, k) => ({
    jobId: randomUUID(),
    name: `job-${k}`,
    type: 'build',
    requires: k ? [`job-${k - 1}`] : [],
    context: [],
    jobNumber: firstJob + k,
    status: 'blocked',
    unauthorized: null,
    runsFor: 'octocat',
  }));
  const ref = { workflowId, pipelineId, name: 'build' };
  const at = new Date().toISOString();
  return [
    event('pipeline.create', {
      pipelineId,
      projectId,
      projectSlug,
      number: n,
      state: 'created',
      errors: [],
      trigger: { type: 'webhook', receivedAt: at, actor: { login: 'octocat', avatarUrl: null }, deliveryId: randomUUID() },
      vcs: {
        originRepositoryUrl: 'https://github.com/Acme/Widgets',
        revision: 'a'.repeat(40),
        branch: 'main',
        tag: null,
        commit: { subject: 'Change', body: '' },
        pullRequest: null,
      },
      parameters: {},
      config,
      source: 'version: 2.1',
      compiled: 'version: 2',
      workflows: [{ workflowId, name: 'build', firstJobNumber: firstJob, jobCount: jobsPer }],
      jobsAfter: firstJob + jobsPer - 1,
      continuation: null,
    }),
    event('workflow.start', { ...ref, pipelineNumber: n, projectSlug, rerunOf: null, jobs }),
    ...jobs.flatMap((j) => {
      const job = { ...ref, jobId: j.jobId, job: j.name };
      return [
        event('workflow.job.scheduled', { ...job, jobNumber: j.jobNumber }),
        event('workflow.job.start', { ...job, agent: null }),
        event('workflow.job.finish', { ...job, status: 'success', reason: null }),
      ];
    }),
    event('workflow.finish', { ...ref, status: 'success' }),
  ];
};
let count = 0;
for (let n = 1; n <= pipelineCount; ) {
  const batch: NewEvent[] = [];
  for (; n <= pipelineCount && batch.length < 1000; n++) batch.push(...pipelineEvents(n));
  await store.append(`seed-${n}`, batch, 'no_stream');
  count += batch.length;
}
const head = await store.head();
const runner = createProjectionRunner({
  store,
  db,
  migrate: withSchemaLock,
  projections: allProjections,
  batchSize: 1000,
  onError: (p, e) => {
    console.error(p, e);
    process.exit(1);
  },
});
const started = Date.now();
await runner.start();
if (!(await runner.waitFor(head, 30 * 60_000))) throw new Error('projections did not catch up');
const ms = Date.now() - started;
await runner.stop();
const [{ count: jobs }] = (await db(pipelinesProjection.tables.workflow_jobs).count('* as count')) as [{ count: string }];
if (Number(jobs) !== pipelineCount * jobsPer) throw new Error(`jobs read model holds ${jobs} rows, not ${pipelineCount * jobsPer}`);
const [{ status }] = (await db(pipelinesProjection.tables.workflows).select('status').limit(1)) as [{ status: string }];
if (status !== 'success') throw new Error(`a workflow is ${status}, not success`);
report({
  bench: 'projection-pipelines',
  backend,
  events: count,
  pipelines: pipelineCount,
  jobs_per_pipeline: jobsPer,
  seconds: ms / 1000,
  events_per_s: rate(count, ms),
});
await store.close();
await db.destroy();
