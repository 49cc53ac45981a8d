import type { UseCases } from '../application/dependencies.ts';
import { DomainError } from '../domain/errors.ts';
import type { CommandContext, RecordedEvent } from '../domain/events/envelope.ts';
import type { EventOf } from '../domain/events/registry.ts';
import type { jobFinishedRun, taskClaimed } from '../domain/jobs/job.ts';
import { workflowDecider, workflowStream, workflowTarget, type WorkflowCommand } from '../domain/pipelines/workflow.ts';
import type { Reactor } from './reactor.ts';

/**
 * Tells the workflow how its jobs run: the first task an agent claims starts the job (naming the
 * agent), and the job's end finishes it, so the jobs that require it move at once.
 */
export const jobProgress = (deps: UseCases): Reactor => {
  const tell = async (e: RecordedEvent, workflowId: string, command: WorkflowCommand) => {
    const context: CommandContext = { actor: e.metadata.actor, request: null, correlationId: e.metadata.$correlationId, causationId: e.id };
    try {
      await deps.commands.execute({ stream: workflowStream(workflowId), decider: workflowDecider, command, context, target: (s) => workflowTarget({ workflowId, name: s?.name ?? workflowId }) });
    } catch (err) {
      // the workflow ended the job first (canceled): nothing to tell
      if (!(err instanceof DomainError && ['JOB_NOT_QUEUED', 'JOB_NOT_RUNNING'].includes(err.code))) throw err;
    }
  };
  return {
    name: 'job-progress',
    handles: [{ exact: 'job.task.claim' }, { exact: 'job.finish' }],
    reads: [],
    react: async (e) => {
      if (e.type === 'job.task.claim') {
        const d = (e as unknown as EventOf<typeof taskClaimed>).data;
        await tell(e, d.workflowId, { type: 'startJob', jobId: d.jobId, agent: d.agent });
      } else {
        const d = (e as unknown as EventOf<typeof jobFinishedRun>).data;
        await tell(e, d.workflowId, { type: 'finishJob', jobId: d.jobId, status: d.status, reason: d.reason });
      }
    },
  };
};
