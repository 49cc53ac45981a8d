import { DomainError } from '../domain/errors.ts';
import type { CommandContext, RecordedEvent } from '../domain/events/envelope.ts';
import type { EventOf } from '../domain/events/registry.ts';
import type { jobFinishedRun, taskClaimed } from '../domain/jobs/job.ts';
import { workflowDecider, workflowStream, workflowTarget, type WorkflowCommand } from '../domain/pipelines/workflow.ts';
import type { UseCases } from './dependencies.ts';

/**
 * Tells the workflow what a job's stream says: the first task claimed starts the job (naming the
 * agent), the job's end finishes it, so the jobs that require it move. Telling it twice changes
 * nothing: a job that runs does not start again, and one that ended does not end again.
 */
export const tellWorkflow = async (deps: UseCases, e: RecordedEvent): Promise<void> => {
  let workflowId: string;
  let command: WorkflowCommand;
  if (e.type === 'job.task.claim') {
    const d = (e as unknown as EventOf<typeof taskClaimed>).data;
    [workflowId, command] = [d.workflowId, { type: 'startJob', jobId: d.jobId, agent: d.agent }];
  } else if (e.type === 'job.finish') {
    const d = (e as unknown as EventOf<typeof jobFinishedRun>).data;
    [workflowId, command] = [d.workflowId, { type: 'finishJob', jobId: d.jobId, status: d.status, reason: d.reason }];
  } else return;
  const context: CommandContext = { actor: e.metadata.actor, request: null, correlationId: e.metadata.$correlationId, causationId: e.id };
  try {
    await deps.commands.execute({
      stream: workflowStream(workflowId),
      decider: workflowDecider,
      command,
      context,
      target: (s) => workflowTarget({ workflowId, name: s?.name ?? workflowId }),
    });
  } catch (err) {
    // the workflow ended the job first (canceled), or was told already: nothing to tell
    if (!(err instanceof DomainError && ['JOB_NOT_QUEUED', 'JOB_NOT_RUNNING'].includes(err.code))) throw err;
  }
};
