import type { UseCases, WithStore } from '../application/dependencies.ts';
import type { ProcessedConfig } from '../domain/config/process.ts';
import { fold } from '../domain/decider.ts';
import { DomainError } from '../domain/errors.ts';
import type { CommandContext, Position, RecordedEvent } from '../domain/events/envelope.ts';
import { jobDecider, jobStream, jobTarget } from '../domain/jobs/job.ts';
import { jobSpecOf, type JobSpec } from '../domain/jobs/job-spec.ts';
import { type jobScheduled, workflowDecider, workflowStream, workflowTarget, type WorkflowEvent } from '../domain/pipelines/workflow.ts';
import type { EventOf } from '../domain/events/registry.ts';
import { resourceClassOf } from '../domain/runners/built-in-classes.ts';
import { pipelineById } from '../projections/pipelines.ts';
import type { Reactor } from './reactor.ts';
import type { TaskBoard } from './task-board.ts';

export interface SchedulerDeps extends UseCases, WithStore {
  readonly board: TaskBoard;
  readonly projections: { waitFor(position: Position, timeoutMs: number, only?: ReadonlyArray<string>): Promise<boolean> };
  readonly timeLimitMs: number;
}

/**
 * The scheduler: a job the workflow queues (`workflow.job.scheduled`) becomes a job stream with one
 * task per `parallelism` slice, in its resource class's queue; agents take tasks from there. A job
 * the workflow cancels (`workflow.job.finish` canceled) is canceled on its stream, which its agents
 * hear at their next heartbeat. One reactor handles both, so a cancel is never seen before its queue.
 */
export const scheduler = (deps: SchedulerDeps): Reactor => {
  const context = (e: RecordedEvent): CommandContext => ({
    actor: { id: 'gyre', type: 'system', name: 'scheduler' },
    request: null,
    correlationId: e.metadata.$correlationId,
    causationId: e.id,
  });
  const run = async (jobId: string, name: string, command: Parameters<typeof jobDecider.decide>[0], e: RecordedEvent) => {
    const r = await deps.commands.execute({ stream: jobStream(jobId), decider: jobDecider, command, context: context(e), target: jobTarget({ jobId, name }) });
    // agents claim from the jobs read model: wake them once it holds the queued job
    if (r.position) await deps.projections.waitFor(r.position, 5000, ['jobs']);
    deps.board.notify();
  };

  const queue = async (e: RecordedEvent) => {
    const d = (e as unknown as EventOf<typeof jobScheduled>).data;
    const workflow = fold(workflowDecider, (await deps.store.readStream(workflowStream(d.workflowId))) as unknown as WorkflowEvent[]);
    const job = workflow?.jobs.find((j) => j.jobId === d.jobId);
    // canceled (or otherwise ended) before its turn came
    if (!workflow || !job || job.status !== 'queued') return;
    const pipeline = await pipelineById(deps.db, d.pipelineId);
    const config = pipeline?.config ? (JSON.parse(pipeline.config) as ProcessedConfig) : null;
    const processed = config?.jobs[job.name];
    let spec: JobSpec;
    try {
      if (!pipeline || !processed) throw new DomainError('JOB_NOT_IN_CONFIG', `job ${job.name} is not in the pipeline's config`);
      const rc = resourceClassOf(processed);
      spec = jobSpecOf({
        job: processed,
        ids: {
          jobId: d.jobId,
          jobNumber: d.jobNumber,
          name: job.name,
          workflowId: d.workflowId,
          workflowName: workflow.name,
          pipelineId: d.pipelineId,
          pipelineNumber: pipeline.number,
          projectSlug: workflow.projectSlug,
          runsFor: job.runsFor,
          contexts: [...job.context],
          vcs: {
            repositoryUrl: pipeline.vcs.originRepositoryUrl,
            revision: pipeline.vcs.revision,
            branch: pipeline.vcs.branch,
            tag: pipeline.vcs.tag,
            fromFork: pipeline.vcs.pullRequest?.fromFork ?? false,
            pullRequest: pipeline.vcs.pullRequest,
          },
        },
        resourceClass: { kind: rc.kind, name: rc.name, cpus: rc.cpus ?? 0, memoryMb: rc.memoryMb ?? 0 },
        timeoutMs: deps.timeLimitMs,
      });
    } catch (err) {
      if (!(err instanceof DomainError)) throw err;
      // a job Gyre cannot run fails at once, saying why
      await deps.commands.execute({
        stream: workflowStream(d.workflowId),
        decider: workflowDecider,
        command: { type: 'finishJob', jobId: d.jobId, status: 'failed', reason: err.message },
        context: context(e),
        target: workflowTarget({ workflowId: d.workflowId, name: workflow.name }),
      });
      return;
    }
    await run(d.jobId, job.name, { type: 'queue', spec }, e);
  };

  const cancel = async (e: RecordedEvent) => {
    const d = e.data as { jobId: string; job: string; status: string; reason: string | null };
    if (d.status !== 'canceled') return;
    const exists = await deps.store.readLast(jobStream(d.jobId));
    if (!exists) return;
    await run(d.jobId, d.job, { type: 'cancel', reason: d.reason ?? 'canceled' }, e);
  };

  return {
    name: 'scheduler',
    handles: [{ exact: 'workflow.job.scheduled' }, { exact: 'workflow.job.finish' }],
    reads: ['pipelines'],
    react: (e) => (e.type === 'workflow.job.scheduled' ? queue(e) : cancel(e)),
  };
};
