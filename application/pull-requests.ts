import { DomainError } from '../domain/errors.ts';
import type { CommandContext, RecordedEvent } from '../domain/events/envelope.ts';
import type { EventOf } from '../domain/events/registry.ts';
import type { Member } from '../domain/organizations.ts';
import type { pipelineCreated } from '../domain/pipelines/pipeline.ts';
import { pullRequestDecider, pullRequestStream, pullRequestTarget, type PullRequestCommand, type pullRequestClosed } from '../domain/pipelines/pull-request.ts';
import { workflowDecider, workflowStream, workflowTarget, type workflowStarted } from '../domain/pipelines/workflow.ts';
import { liveWorkflowsOfBranch, liveWorkflowsOfPullRequest, newerPipelineOfBranch, pipelineById, type WorkflowRow } from '../projections/pipelines.ts';
import { pullRequestIsOpen } from '../projections/pull-requests.ts';
import { projectBySlug } from '../projections/projects.ts';
import type { UseCases } from './dependencies.ts';

/**
 * Pull requests as GitHub's deliveries tell them (open, closed), and the builds Gyre cancels on its
 * own: a branch's older workflows when a newer pipeline of it starts ("auto-cancel redundant
 * builds"), and a closed pull request's. Cancels are a reactor's (workers/build-canceler.ts).
 */

/** Records a pull request opened (or reopened, or given a new head) or closed; telling it twice changes nothing. */
export const recordPullRequest = async (s: UseCases, context: CommandContext, command: PullRequestCommand) => {
  const ref = command.type === 'open' ? command.pullRequest : command;
  const r = await s.commands.execute({ stream: pullRequestStream(ref.projectId, ref.number), decider: pullRequestDecider, command, context, target: pullRequestTarget(ref) });
  await s.readYourWrites(r.position);
};

/** Who cancels when Gyre does: the cancel is Gyre's own, on the project's settings. */
const gyre: Member = { login: 'gyre', isAdmin: true, orgs: [], teams: [] };

const cancelAll = async (s: UseCases, event: RecordedEvent, found: ReadonlyArray<Pick<WorkflowRow, 'id' | 'pipelineId' | 'name'>>, reason: string) => {
  const context: CommandContext = { actor: { id: 'gyre', type: 'system', name: 'gyre' }, request: null, causationId: event.id };
  for (const w of found) {
    await s.commands
      .execute({ stream: workflowStream(w.id), decider: workflowDecider, command: { type: 'cancel', by: gyre, reason }, context: { ...context, correlationId: w.pipelineId }, target: workflowTarget({ workflowId: w.id, name: w.name }) })
      // ended meanwhile, or canceled when this event was reacted to before: nothing more to do
      .catch((e: unknown) => {
        if (!(e instanceof DomainError && e.code === 'WORKFLOW_FINISHED')) throw e;
      });
  }
};

/**
 * "Auto-cancel redundant builds": a new pipeline of a branch other than the default cancels the
 * workflows of the branch's older pipelines that have not ended. Tags and the default branch are never
 * canceled so.
 */
export const cancelRedundantWorkflows = async (s: UseCases, event: RecordedEvent): Promise<void> => {
  const d = (event as unknown as EventOf<typeof pipelineCreated>).data;
  const branch = d.vcs.branch;
  if (branch === null || d.vcs.tag !== null) return;
  const project = await projectBySlug(s.db, d.projectSlug.toLowerCase());
  if (!project?.settings.autoCancelRedundantWorkflows || branch === project.settings.defaultBranch) return;
  const older = await liveWorkflowsOfBranch(s.db, d.projectId, branch, d.number);
  await cancelAll(s, event, older, `canceled: pipeline ${d.number} of branch ${branch} is newer (auto-cancel redundant builds)`);
};

/**
 * The other order of the two above: a workflow that starts after its pipeline became redundant (a
 * newer pipeline of the branch was created first) or after its pull request was closed is canceled as
 * it starts. Either the cancel on `pipeline.create` (or `pull_request.close`) finds the workflow, or
 * this finds the newer pipeline (or the close): the read models hold whichever came first in the log.
 * A rerun is never canceled so: someone asked for it.
 */
export const cancelIfStartedRedundant = async (s: UseCases, event: RecordedEvent): Promise<void> => {
  const d = (event as unknown as EventOf<typeof workflowStarted>).data;
  if (d.rerunOf !== null) return;
  const pipeline = await pipelineById(s.db, d.pipelineId);
  if (!pipeline) return;
  const started = [{ id: d.workflowId, pipelineId: d.pipelineId, name: d.name }];
  const branch = pipeline.vcs.branch;
  if (branch !== null && pipeline.vcs.tag === null) {
    const project = await projectBySlug(s.db, pipeline.projectSlug.toLowerCase());
    const newer = project?.settings.autoCancelRedundantWorkflows && branch !== project.settings.defaultBranch ? await newerPipelineOfBranch(s.db, pipeline.projectId, branch, pipeline.number) : undefined;
    if (newer) return cancelAll(s, event, started, `canceled: pipeline ${newer.number} of branch ${branch} is newer (auto-cancel redundant builds)`);
  }
  const pr = pipeline.vcs.pullRequest;
  if (pr && (await pullRequestIsOpen(s.db, pipeline.projectId, pr.number)) === false) await cancelAll(s, event, started, `canceled: pull request #${pr.number} was closed`);
};

/** A closed pull request's pipelines stop: every workflow of them that has not ended is canceled. */
export const cancelClosedPullRequest = async (s: UseCases, event: RecordedEvent): Promise<void> => {
  const d = (event as unknown as EventOf<typeof pullRequestClosed>).data;
  const found = await liveWorkflowsOfPullRequest(s.db, d.projectId, d.number);
  await cancelAll(s, event, found, `canceled: pull request #${d.number} was ${d.merged ? 'merged' : 'closed'}`);
};
