import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { fold } from '../domain/decider.ts';
import { describeIssues, DomainError, ValidationError } from '../domain/errors.ts';
import type { CommandContext, RecordedEvent } from '../domain/events/envelope.ts';
import type { EventOf } from '../domain/events/registry.ts';
import type { Member } from '../domain/organizations.ts';
import type { pipelineCreated } from '../domain/pipelines/pipeline.ts';
import {
  pullRequestDecider,
  pullRequestStream,
  pullRequestTarget,
  revisionBuildDecider,
  revisionBuildStream,
  revisionBuildTarget,
  type PullRequestCommand,
  type pullRequestClosed,
  type RevisionBuildEvent,
  type RevisionBuildState,
} from '../domain/pipelines/pull-request.ts';
import { workflowDecider, workflowStream, workflowTarget, type workflowStarted } from '../domain/pipelines/workflow.ts';
import {
  liveWorkflowsOfBranch,
  liveWorkflowsOfPullRequest,
  newerPipelineOfBranch,
  pipelineByDelivery,
  pipelineById,
  workflowsOfPipeline,
  type PipelineRow,
  type WorkflowRow,
} from '../projections/pipelines.ts';
import { projectFollow } from '../projections/project-follows.ts';
import type { ProjectRow } from '../projections/projects.ts';
import { openPullRequestsOfBranch, pullRequestIsOpen } from '../projections/pull-requests.ts';
import { projectBySlug } from '../projections/projects.ts';
import type { UseCases } from './dependencies.ts';
import { memberOfGitHubSender } from './members.ts';
import { triggerPipeline, type PipelineDeps, type TriggerInput } from './pipelines.ts';
import { executeAndWait } from './execute-and-wait.ts';
import { receiveOnce } from './webhook-deliveries.ts';

/**
 * Pull requests as GitHub's deliveries tell them (open, closed), and the builds Gyre cancels on its
 * own: a branch's older workflows when a newer pipeline of it starts ("auto-cancel redundant
 * builds"), and a closed pull request's. Cancels are a reactor's (workers/build-canceler.ts).
 */

/** Records a pull request opened (or reopened, or given a new head) or closed; telling it twice changes nothing. */
export const recordPullRequest = async (s: UseCases, context: CommandContext, command: PullRequestCommand) => {
  const ref = command.type === 'open' ? command.pullRequest : command;
  await executeAndWait(s, {
    stream: pullRequestStream(ref.projectId, ref.number),
    decider: pullRequestDecider,
    command,
    context,
    target: pullRequestTarget(ref),
  });
};

/** Who cancels when Gyre does: the cancel is Gyre's own, on the project's settings. */
const gyre: Member = { login: 'gyre', isAdmin: true, orgs: [], teams: [] };

const cancelAll = async (s: UseCases, event: RecordedEvent, found: ReadonlyArray<Pick<WorkflowRow, 'id' | 'pipelineId' | 'name'>>, reason: string) => {
  const context: CommandContext = { actor: { id: 'gyre', type: 'system', name: 'gyre' }, request: null, causationId: event.id };
  for (const w of found) {
    await s.commands
      .execute({
        stream: workflowStream(w.id),
        decider: workflowDecider,
        command: { type: 'cancel', by: gyre, reason },
        context: { ...context, correlationId: w.pipelineId },
        target: workflowTarget({ workflowId: w.id, name: w.name }),
      })
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
    const newer =
      project?.settings.autoCancelRedundantWorkflows && branch !== project.settings.defaultBranch
        ? await newerPipelineOfBranch(s.db, pipeline.projectId, branch, pipeline.number)
        : undefined;
    if (newer) return cancelAll(s, event, started, `canceled: pipeline ${newer.number} of branch ${branch} is newer (auto-cancel redundant builds)`);
  }
  const pr = pipeline.vcs.pullRequest;
  if (pr && (await pullRequestIsOpen(s.db, pipeline.projectId, pr.number)) === false)
    await cancelAll(s, event, started, `canceled: pull request #${pr.number} was closed`);
};

/** A closed pull request's pipelines stop: every workflow of them that has not ended is canceled. */
export const cancelClosedPullRequest = async (s: UseCases, event: RecordedEvent): Promise<void> => {
  const d = (event as unknown as EventOf<typeof pullRequestClosed>).data;
  const found = await liveWorkflowsOfPullRequest(s.db, d.projectId, d.number);
  await cancelAll(s, event, found, `canceled: pull request #${d.number} was ${d.merged ? 'merged' : 'closed'}`);
};

/** What Gyre did with a genuine GitHub delivery: the route answers 201, 200 and 202 for these. */
export type DeliveryOutcome =
  | { readonly kind: 'started'; readonly pipeline: PipelineRow }
  | { readonly kind: 'built'; readonly message: string; readonly pipeline: PipelineRow }
  | { readonly kind: 'ignored'; readonly message: string }
  /** The same signed body received before (under another delivery id, or none): the pipeline it started, if any. */
  | { readonly kind: 'replayed'; readonly message: string; readonly pipeline: PipelineRow | undefined }
  | { readonly kind: 'pong' };

/** A delivery whose signature held: its project, what GitHub says it is, and who sent it (`context.actor`). */
export interface GitHubDelivery {
  readonly project: ProjectRow;
  readonly event: string;
  readonly payload: unknown;
  readonly deliveryId: string | null;
  /** SHA-256 (hex) of the body as signed: a replay is recognised by it, whatever delivery id it comes with. */
  readonly digest: string;
}

/**
 * The same revision of a branch told again (a push and its pull request's delivery, or GitHub
 * redelivering) within this long of the first claim is built once; later, it builds again (a re-push
 * of an old commit).
 */
export const REVISION_DEDUPE_WINDOW_MS = 10 * 60_000;
/** How long a second delivery waits for the pipeline of the first's claim to be created (reading its config) before taking it for abandoned. */
const CLAIM_WAIT_MS = 60_000;

/**
 * GitHub's push and pull_request deliveries: a push of a branch or tag starts a pipeline at the
 * pushed revision (see `receivePush`), a pull request opened, reopened or pushed to one at its head
 * (see `receivePullRequest`). The same delivery told twice (by its delivery id, or by its signed body
 * under another id: `receiveOnce`) starts one pipeline.
 */
export const receiveGitHubDelivery = async (
  s: PipelineDeps,
  context: CommandContext,
  d: GitHubDelivery,
  now: () => number = Date.now,
): Promise<DeliveryOutcome> => {
  const earlier = d.deliveryId ? await pipelineByDelivery(s.db, d.deliveryId) : undefined;
  if (earlier) return { kind: 'built', message: 'this delivery has already started a pipeline', pipeline: earlier };
  if (d.event === 'ping') return { kind: 'pong' };
  if (!(await projectFollow(s.db, d.project.id)).followed)
    return { kind: 'ignored', message: `ignored: ${d.project.slug} is not followed; follow it again with createProject` };
  if (d.event !== 'pull_request' && d.event !== 'push')
    return { kind: 'ignored', message: `ignored: Gyre starts pipelines on push and pull_request, not ${d.event}` };
  const outcome = await receiveOnce(s, context, d, () => (d.event === 'push' ? receivePush(s, context, d, now) : receivePullRequest(s, context, d, now)));
  return 'kind' in outcome ? outcome : { kind: 'replayed', ...outcome };
};

/** The parts of GitHub's `push` delivery Gyre reads. */
const PushDelivery = z
  .object({
    ref: z.string().max(1000).optional(),
    after: z.string().max(64).optional(),
    deleted: z.boolean().optional(),
    sender: z.object({ login: z.string().optional(), id: z.number().int().optional() }).passthrough().nullable().optional(),
  })
  .passthrough();

/**
 * A push of a branch or tag. A pushed branch with a pull request open builds as that pull request
 * (`CIRCLE_PULL_REQUEST`), as CircleCI does; with "only build pull requests", a branch other than the
 * default with none open builds nothing. A branch's revision its pull request's delivery built
 * recently is not built again (`buildRevisionOnce`).
 */
export const receivePush = async (s: PipelineDeps, context: CommandContext, d: GitHubDelivery, now: () => number = Date.now): Promise<DeliveryOutcome> => {
  const parsed = PushDelivery.safeParse(d.payload);
  if (!parsed.success) throw new ValidationError(`the push delivery is malformed: ${describeIssues(parsed.error.issues)}`);
  const payload = parsed.data;
  if (payload.deleted) return { kind: 'ignored', message: 'ignored: a deleted ref' };
  const m = /^refs\/(heads|tags)\/(.+)$/.exec(payload.ref ?? '');
  if (!m) throw new ValidationError('a push names refs/heads/<branch> or refs/tags/<tag>');
  const project = d.project;
  const branch = m[1] === 'heads' ? m[2]! : null;
  const open = branch === null ? [] : await openPullRequestsOfBranch(s.db, project.id, branch);
  if (branch !== null && branch !== project.settings.defaultBranch && project.settings.onlyBuildPullRequests && open.length === 0) {
    return {
      kind: 'ignored',
      message: `ignored: ${project.slug} only builds pull requests, the default branch and tags, and no pull request is open for ${branch}`,
    };
  }
  const pr = open[0];
  const by = await memberOfGitHubSender(s, payload.sender);
  const input: TriggerInput = {
    slug: project.slug,
    ...(branch !== null ? { branch } : { tag: m[2] }),
    revision: payload.after,
    type: 'webhook',
    deliveryId: d.deliveryId,
    pullRequest: pr ? { number: pr.number, url: pr.url, fromFork: false, headOwner: pr.headOwner, headRepo: pr.headRepo } : null,
  };
  if (branch === null || !payload.after) return { kind: 'started', pipeline: await triggerPipeline(s, context, by, input) };
  return buildRevisionOnce(s, context, { project, branch, revision: payload.after, deliveryId: d.deliveryId, always: false, now }, (pipelineId) =>
    triggerPipeline(s, context, by, { ...input, pipelineId }),
  );
};

/** The parts of GitHub's `pull_request` delivery Gyre reads (docs.github.com, webhook events and payloads). */
const PullRequestDelivery = z.object({
  action: z.string().min(1).max(100),
  number: z.number().int().positive(),
  pull_request: z.object({
    html_url: z.string().url().max(2000),
    merged: z.boolean().nullable().optional(),
    head: z.object({
      sha: z.string().regex(/^[0-9a-f]{40,64}$/, 'must be a commit sha'),
      ref: z.string().min(1).max(255),
      user: z.object({ login: z.string() }).nullable().optional(),
      repo: z.object({ name: z.string().min(1), full_name: z.string().min(1), owner: z.object({ login: z.string().min(1) }) }).nullable(),
    }),
    base: z.object({ ref: z.string().min(1).max(255) }),
  }),
  repository: z.object({ full_name: z.string().min(1) }),
  sender: z.object({ login: z.string(), id: z.number().int().optional() }).nullable().optional(),
});

/**
 * `opened`, `synchronize` and `reopened` build the head commit, read from `refs/pull/<n>/head`: a
 * pull request from the repository itself as its branch, one from a fork as `pull/<n>` (and only
 * with "build forked pull requests" on). `opened` and `synchronize` do not build again a revision its
 * push built recently; `reopened` always builds. `closed` cancels its pipelines (a reactor's); other
 * actions change nothing.
 */
export const receivePullRequest = async (
  s: PipelineDeps,
  context: CommandContext,
  d: GitHubDelivery,
  now: () => number = Date.now,
): Promise<DeliveryOutcome> => {
  const parsed = PullRequestDelivery.safeParse(d.payload);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ValidationError(`the pull_request delivery is malformed: ${issue.path.join('.') || 'the payload'} ${issue.message.toLowerCase()}`);
  }
  const { action, number, pull_request: pr, repository, sender } = parsed.data;
  const project = d.project;
  if (action === 'closed') {
    await recordPullRequest(s, context, { type: 'close', projectId: project.id, projectSlug: project.slug, number, merged: pr.merged === true });
    return { kind: 'ignored', message: `pull request #${number} is closed: its running pipelines are canceled` };
  }
  if (action !== 'opened' && action !== 'synchronize' && action !== 'reopened')
    return { kind: 'ignored', message: `ignored: Gyre builds pull requests opened, reopened or pushed to, not ${action}` };
  const headRepo = pr.head.repo;
  // a head repository GitHub no longer knows (a deleted fork) is taken for a fork
  const fromFork = !headRepo || headRepo.full_name.toLowerCase() !== repository.full_name.toLowerCase();
  const headOwner = headRepo?.owner.login ?? pr.head.user?.login ?? 'unknown';
  const headRepoName = headRepo?.name ?? repository.full_name.split('/')[1] ?? '';
  await recordPullRequest(s, context, {
    type: 'open',
    pullRequest: {
      projectId: project.id,
      projectSlug: project.slug,
      number,
      url: pr.html_url,
      headSha: pr.head.sha,
      headBranch: pr.head.ref,
      baseBranch: pr.base.ref,
      fromFork,
      headOwner,
      headRepo: headRepoName,
    },
  });
  if (fromFork && !project.settings.buildForkPullRequests) {
    return {
      kind: 'ignored',
      message: `ignored: pull request #${number} is from a fork (${headOwner}/${headRepoName}) and ${project.slug} does not build forked pull requests (turn on buildForkPullRequests)`,
    };
  }
  const branch = fromFork ? `pull/${number}` : pr.head.ref;
  const by = await memberOfGitHubSender(s, sender);
  return buildRevisionOnce(s, context, { project, branch, revision: pr.head.sha, deliveryId: d.deliveryId, always: action === 'reopened', now }, (pipelineId) =>
    triggerPipeline(s, context, by, {
      slug: project.slug,
      branch,
      revision: pr.head.sha,
      type: 'webhook',
      deliveryId: d.deliveryId,
      pullRequest: { number, url: pr.html_url, fromFork, headOwner, headRepo: headRepoName },
      fromPullRequestRef: true,
      pipelineId,
    }),
  );
};

interface RevisionBuild {
  readonly project: ProjectRow;
  readonly branch: string;
  readonly revision: string;
  readonly deliveryId: string | null;
  /** Build even when the revision was built recently (a reopened pull request). */
  readonly always: boolean;
  readonly now: () => number;
}

/**
 * Builds a revision of a branch once however many deliveries tell it at once, on however many
 * servers: each first claims it on its stream (`revisionBuildDecider`, appended at the revision
 * read), and only the claim's holder creates the pipeline the claim names. A later delivery finds
 * the claim and answers with its pipeline, unless the claim is older than REVISION_DEDUPE_WINDOW_MS,
 * its pipeline was canceled, or it was released (its pipeline could not be created): then it claims
 * the revision anew, superseding that claim (`always` supersedes any but one by the same delivery).
 */
const buildRevisionOnce = async (
  s: PipelineDeps,
  context: CommandContext,
  r: RevisionBuild,
  build: (pipelineId: string) => Promise<PipelineRow>,
): Promise<DeliveryOutcome> => {
  const stream = revisionBuildStream(r.project.id, r.branch, r.revision);
  const built = (pipeline: PipelineRow): DeliveryOutcome => ({
    kind: 'built',
    message: `revision ${r.revision.slice(0, 12)} of ${r.branch} is already built`,
    pipeline,
  });
  for (;;) {
    const last = await s.store.readLast(stream);
    const current: RevisionBuildState = fold(revisionBuildDecider, last ? [last as unknown as RevisionBuildEvent] : []);
    if (current && !current.released) {
      const sameDelivery = r.deliveryId !== null && current.deliveryId === r.deliveryId;
      const recent = r.now() - Date.parse(current.claimedAt) < REVISION_DEDUPE_WINDOW_MS;
      if (sameDelivery || (!r.always && recent)) {
        const pipeline = await claimedPipeline(s, stream, current.pipelineId);
        if (pipeline === 'released') continue;
        if (pipeline && (sameDelivery || !(await wasCanceled(s, pipeline)))) return built(pipeline);
      }
    }
    const claim = {
      projectId: r.project.id,
      projectSlug: r.project.slug,
      branch: r.branch,
      revision: r.revision,
      pipelineId: randomUUID(),
      claimedAt: new Date(r.now()).toISOString(),
      deliveryId: r.deliveryId,
    };
    const target = revisionBuildTarget(claim);
    const claimed = await s.commands.execute({
      stream,
      decider: revisionBuildDecider,
      lastEventOnly: true,
      command: { type: 'claim', claim, supersedes: current?.pipelineId ?? null },
      context,
      target,
    });
    // another delivery claimed it after this one looked: judge its claim
    if (claimed.events.length === 0) continue;
    try {
      return { kind: 'started', pipeline: await build(claim.pipelineId) };
    } catch (e) {
      await s.commands
        .execute({ stream, decider: revisionBuildDecider, lastEventOnly: true, command: { type: 'release', claim }, context, target })
        .catch(() => undefined);
      throw e;
    }
  }
};

/**
 * The pipeline a claim names, once its holder has created it (bounded by CLAIM_WAIT_MS: a holder
 * gone meanwhile leaves undefined, and the claim is taken for abandoned); 'released' when its
 * holder could not create it, or another delivery has superseded the claim (the caller looks again).
 */
const claimedPipeline = async (s: PipelineDeps, stream: string, pipelineId: string): Promise<PipelineRow | 'released' | undefined> => {
  const deadline = Date.now() + CLAIM_WAIT_MS;
  for (;;) {
    const pipeline = await pipelineById(s.db, pipelineId);
    if (pipeline) return pipeline;
    const last = await s.store.readLast(stream);
    if (last?.type === 'revision_build.release' || (last?.data as { pipelineId?: string } | undefined)?.pipelineId !== pipelineId) return 'released';
    if (Date.now() >= deadline) return undefined;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
};

/** A pipeline a cancel stopped (auto-cancel, a closed pull request, someone): its revision builds again when told again. */
const wasCanceled = async (s: PipelineDeps, pipeline: PipelineRow) => (await workflowsOfPipeline(s.db, pipeline.id)).some((w) => w.status === 'canceled');
