import { parseUuid } from '../../domain/ids.ts';
import { jobRunById, stepsOfJob, tasksOfJob, type JobRunRow, type StepRow } from '../../projections/jobs.ts';
import { jobById, type JobRow } from '../../projections/pipelines.ts';
import { testCountsOfJob, testResultsOfJob } from '../../projections/files.ts';
import { artifactsPage, artifactUrl, testsPage } from '../../application/file-reads.ts';
import { ValidationError } from '../../domain/errors.ts';
import { jobOutput, stepOutput } from '../../application/job-output.ts';
import { agentStates, queuedJobs, resourceClassLoads, whyQueued, type AgentState, type JobReads } from '../../application/job-reads.ts';
import type { Services } from '../services.ts';
import { overWebSocket, type GraphQLContext } from './context.ts';
import { decodeCursor, encodeCursor, parsePageSize } from './paging.ts';

/** One job's run, read once per request however many of its fields are asked for. */
const runs = new WeakMap<object, Map<string, Promise<JobRunRow | undefined>>>();
const runOf = (s: Services, ctx: GraphQLContext, jobId: string) => {
  const memo = runs.get(ctx) ?? new Map<string, Promise<JobRunRow | undefined>>();
  runs.set(ctx, memo);
  const got = memo.get(jobId) ?? jobRunById(s.db, jobId);
  memo.set(jobId, got);
  return got;
};

/** Jobs as they run, their output, the queues and the agents: thin over application/job-reads.ts and application/job-output.ts. */
export const jobResolvers = (s: Services) => {
  const reads: JobReads = { db: s.db, presence: () => s.dispatch.presence(), nomad: s.nomad };
  const run = (j: JobRow, ctx: GraphQLContext) => runOf(s, ctx, j.id);
  return {
    Query: {
      job: async (_: unknown, args: { id: unknown }) => (await jobById(s.db, parseUuid(args.id, 'id'))) ?? null,
      resourceClasses: () => resourceClassLoads(reads),
      agents: () => agentStates(reads),
      queuedJobs: (_: unknown, args: { first?: unknown }) => queuedJobs(reads, args.first),
    },
    Subscription: {
      jobOutput: {
        subscribe: (_: unknown, args: { jobId: unknown }) => jobOutput(s, parseUuid(args.jobId, 'jobId')),
        resolve: overWebSocket,
      },
    },
    Job: {
      queuedAt: async (j: JobRow, _: unknown, ctx: GraphQLContext) => (await run(j, ctx))?.queuedAt ?? null,
      queueReason: async (j: JobRow, _: unknown, ctx: GraphQLContext) => {
        const r = await run(j, ctx);
        return r ? whyQueued(reads, r) : null;
      },
      executor: async (j: JobRow, _: unknown, ctx: GraphQLContext) => {
        const r = await run(j, ctx);
        return r ? { type: r.spec.executor.type, resourceClass: r.spec.resourceClass.name } : null;
      },
      parallelism: async (j: JobRow, _: unknown, ctx: GraphQLContext) => (await run(j, ctx))?.spec.parallelism ?? null,
      contexts: async (j: JobRow, _: unknown, ctx: GraphQLContext) => (await run(j, ctx))?.spec.contexts ?? [],
      agent: async (j: JobRow) => {
        const names = [...new Set((await tasksOfJob(s.db, j.id)).flatMap((t) => (t.agentName ? [t.agentName] : [])))];
        return names.length ? names.join(', ') : null;
      },
      tasks: async (j: JobRow) =>
        (await tasksOfJob(s.db, j.id)).map((t) => ({
          index: t.taskIndex,
          status: t.status,
          agent: t.agentName,
          queuedAt: t.queuedAt,
          startedAt: t.startedAt,
          stoppedAt: t.stoppedAt,
          reason: t.reason,
        })),
      steps: (j: JobRow) => stepsOfJob(s.db, j.id),
      testCounts: (j: JobRow) => testCountsOfJob(s.db, j.id),
      testReportProblems: async (j: JobRow) => (await testResultsOfJob(s.db, j.id)).flatMap((r) => r.problems),
      artifacts: async (j: JobRow, args: { first?: number | null }) => {
        const first = args.first ?? 1000;
        if (!Number.isInteger(first) || first < 1 || first > 1000) throw new ValidationError('first is a whole number from 1 to 1000');
        const base = s.config.GYRE_PUBLIC_URL?.replace(/\/+$/, '') ?? '';
        return (await artifactsPage(s, j.id, undefined, first)).items.map((a) => ({ ...a, url: artifactUrl(base, j.id, a.nodeIndex, a.path) }));
      },
      // the cursor of a test is the index of the one after it, as the tests API's page token is
      tests: async (j: JobRow, args: { first?: unknown; after?: string | null }) => {
        const first = parsePageSize(args.first ?? 100);
        const after = decodeCursor(args.after);
        if (after !== undefined && !/^\d{1,9}$/.test(after)) throw new ValidationError('after is not a cursor this API gave out');
        const from = after === undefined ? 0 : Number(after);
        const page = await testsPage(s, j.id, after, first);
        const edges = page.items.map((t, i) => ({ cursor: encodeCursor(String(from + i + 1)), node: { ...t, runTime: t.run_time } }));
        return { edges, pageInfo: { hasNextPage: page.next !== null, endCursor: edges[edges.length - 1]?.cursor ?? null } };
      },
    },
    JobStep: {
      index: (step: StepRow) => step.stepIndex,
      // read from the output store only when asked for
      output: (step: StepRow) => stepOutput(s, { jobId: step.jobId, taskIndex: step.taskIndex, stepIndex: step.stepIndex }),
    },
    Agent: {
      id: (a: AgentState) => a.agent.agentId,
      name: (a: AgentState) => a.agent.name,
      resourceClasses: (a: AgentState) => a.agent.resourceClasses,
      capacity: (a: AgentState) => a.agent.info.capacity,
      maxTasks: (a: AgentState) => a.agent.info.maxTasks,
      version: (a: AgentState) => a.agent.info.version,
      os: (a: AgentState) => a.agent.info.os,
      declined: (a: AgentState) => a.agent.info.declined ?? [],
      registeredAt: (a: AgentState) => a.agent.registeredAt,
      running: (a: AgentState) => a.running.map((t) => ({ jobId: t.jobId, job: t.jobName, taskIndex: t.taskIndex, startedAt: t.startedAt })),
    },
  };
};
