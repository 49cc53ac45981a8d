import { fold } from '../../domain/decider.ts';
import { NotFoundError, ValidationError } from '../../domain/errors.ts';
import { parseUuid } from '../../domain/ids.ts';
import { triggerSource } from '../../domain/pipelines/pipeline.ts';
import { jobStatusAfter, workflowDecider, workflowStream, type WorkflowEvent } from '../../domain/pipelines/workflow.ts';
import { parseProjectSlug } from '../../domain/projects/slugs.ts';
import {
  jobsOfWorkflow,
  pipelineById,
  pipelineByNumber,
  pipelinesPage,
  workflowById,
  workflowsOfPipeline,
  type JobRow,
  type PipelineRow,
  type WorkflowRow,
} from '../../projections/pipelines.ts';
import { memberOf } from '../../application/members.ts';
import { approveJob, cancelJobById, cancelWorkflow, reportJob, rerunWorkflow, triggerPipeline } from '../../application/pipelines.ts';
import { findProject } from '../../application/projects.ts';
import { written } from '../../application/read-your-writes.ts';
import type { Services } from '../services.ts';
import { commandContextOf as context, overWebSocket, type GraphQLContext } from './context.ts';
import { connection, decodeCursor } from './paging.ts';

/**
 * One workflow's job statuses: first each job as it stands (action `snapshot`), then every change as it
 * happens, from the workflow's own stream so that none is missed or repeated; it ends with the
 * workflow's `workflow.finish`.
 */
const jobChanges = (s: Services, workflowId: string): AsyncIterableIterator<unknown> => {
  const controller = new AbortController();
  async function* changes() {
    const from = await s.store.head();
    const history = await s.store.readStream(workflowStream(workflowId));
    const state = fold(workflowDecider, history as unknown as WorkflowEvent[]);
    if (!state) throw new NotFoundError('workflow not found', 'WORKFLOW_NOT_FOUND');
    const seen = history.length ? history[history.length - 1]!.revision : -1;
    const now = new Date().toISOString();
    for (const j of state.jobs) yield { workflowId, action: 'snapshot', jobId: j.jobId, job: j.name, status: j.status, occurredAt: now };
    if (state.finished) {
      yield { workflowId, action: 'workflow.finish', jobId: null, job: null, status: state.finished, occurredAt: now };
      return;
    }
    for await (const page of s.store.subscribe(from, { filter: { types: [{ prefix: 'workflow.' }] }, signal: controller.signal })) {
      for (const e of page.events) {
        if (e.stream !== workflowStream(workflowId) || e.revision <= seen || e.type === 'workflow.start' || e.type === 'workflow.cancel') continue;
        const d = e.data as { jobId?: string; job?: string; status?: string };
        yield {
          workflowId,
          action: e.type,
          jobId: d.jobId ?? null,
          job: d.job ?? null,
          status: jobStatusAfter(e) ?? d.status ?? 'unknown',
          occurredAt: e.occurredAt,
        };
        if (e.type === 'workflow.finish') return;
      }
    }
  }
  const inner = changes();
  return {
    next: () => inner.next(),
    return: async () => {
      controller.abort();
      return inner.return(undefined);
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
};

/** Pipelines, workflows and jobs: thin over application/pipelines.ts, which the API v2 routes share. */
export const pipelineResolvers = (s: Services) => ({
  Query: {
    pipelines: async (_: unknown, args: { projectSlug: unknown; first?: number; after?: string | null }) => {
      const project = await findProject(s, parseProjectSlug(args.projectSlug).slug);
      const first = Math.min(Math.max(args.first ?? 20, 1), 100);
      const after = decodeCursor(args.after);
      if (after !== undefined && !/^\d{1,9}$/.test(after)) throw new ValidationError('after is not a cursor this API gave out');
      const page = await pipelinesPage(s.db, project.id, first, after === undefined ? undefined : Number(after));
      return connection(page.pipelines, page.hasNextPage, (p) => String(p.number));
    },
    pipeline: async (_: unknown, args: { id: unknown }) => (await pipelineById(s.db, parseUuid(args.id, 'id'))) ?? null,
    pipelineByNumber: async (_: unknown, args: { projectSlug: unknown; number: unknown }) => {
      const project = await findProject(s, parseProjectSlug(args.projectSlug).slug);
      if (typeof args.number !== 'number' || !Number.isInteger(args.number) || args.number < 1)
        throw new ValidationError('number is a pipeline number: a whole number from 1');
      return (await pipelineByNumber(s.db, project.id, args.number)) ?? null;
    },
    workflow: async (_: unknown, args: { id: unknown }) => (await workflowById(s.db, parseUuid(args.id, 'id'))) ?? null,
  },
  Mutation: {
    triggerPipeline: async (
      _: unknown,
      args: { input: { projectSlug: unknown; branch?: unknown; tag?: unknown; revision?: unknown; parameters?: unknown } },
      ctx: GraphQLContext,
    ) =>
      triggerPipeline(s, context(ctx), await memberOf(s, ctx.auth), {
        slug: args.input.projectSlug,
        branch: args.input.branch,
        tag: args.input.tag,
        revision: args.input.revision,
        parameters: args.input.parameters,
        type: 'explicit',
      }),
    approveJob: async (_: unknown, args: { workflowId: unknown; approvalRequestId: unknown }, ctx: GraphQLContext) =>
      written(await workflowById(s.db, (await approveJob(s, context(ctx), await memberOf(s, ctx.auth), args.workflowId, args.approvalRequestId)).id)),
    cancelWorkflow: async (_: unknown, args: { workflowId: unknown }, ctx: GraphQLContext) =>
      written(await workflowById(s.db, (await cancelWorkflow(s, context(ctx), await memberOf(s, ctx.auth), args.workflowId)).id)),
    cancelJob: async (_: unknown, args: { jobId: unknown }, ctx: GraphQLContext) =>
      written(await workflowById(s.db, (await cancelJobById(s, context(ctx), await memberOf(s, ctx.auth), args.jobId)).id)),
    rerunWorkflow: async (_: unknown, args: { workflowId: unknown; fromFailed?: boolean | null }, ctx: GraphQLContext) =>
      rerunWorkflow(s, context(ctx), await memberOf(s, ctx.auth), args.workflowId, args.fromFailed === true),
    reportJob: async (_: unknown, args: { workflowId: unknown; jobId: unknown; status: unknown }, ctx: GraphQLContext) =>
      written(await workflowById(s.db, (await reportJob(s, context(ctx), args.workflowId, args.jobId, args.status)).id)),
  },
  Subscription: {
    workflowJobs: {
      subscribe: (_: unknown, args: { workflowId: unknown }) => jobChanges(s, parseUuid(args.workflowId, 'workflowId')),
      resolve: overWebSocket,
    },
  },
  Pipeline: {
    workflows: (p: PipelineRow) => workflowsOfPipeline(s.db, p.id),
  },
  PipelineTrigger: {
    // as API v2 names it: a schedule's is CircleCI's scheduled_pipeline
    type: (t: PipelineRow['trigger']) => triggerSource(t.type),
  },
  Workflow: {
    jobs: (w: WorkflowRow) => jobsOfWorkflow(s.db, w.id),
  },
  Job: {
    approvalRequestId: (j: JobRow) => (j.type === 'approval' ? j.id : null),
  },
});
