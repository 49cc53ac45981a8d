import { randomBytes, randomUUID } from 'node:crypto';
import { z } from 'zod';
import { mayUseContext, type Access } from '../domain/contexts/access.ts';
import { projectOwner } from '../adapters/encryption/port.ts';
import { GitError } from '../adapters/git/port.ts';
import { ConflictError, DomainError, NotFoundError, UnauthorizedError, ValidationError, parseInput } from '../domain/errors.ts';
import { parseUuid } from '../domain/ids.ts';
import type { CommandContext, RecordedEvent } from '../domain/events/envelope.ts';
import { requireOrgMember, type Member } from '../domain/organizations.ts';
import { ownerSlugOf } from '../domain/projects/slugs.ts';
import type { ProcessedConfig } from '../domain/config/process.ts';
import {
  PipelineNumberTaken,
  TriggerType,
  carriedOver,
  continuationKeyHash,
  notInSetup,
  pipelinesDecider,
  pipelinesStream,
  pipelineTarget,
  processOptionsFor,
  workflowJobs,
  type Continuation,
  type NumberedPipeline,
  type PipelineDetails,
  type PipelineEvent,
  type PullRequestVcs,
} from '../domain/pipelines/pipeline.ts';
import {
  JobResult,
  afterApproval,
  workflowDecider,
  workflowStream,
  workflowTarget,
  type WorkflowCommand,
  type WorkflowState,
} from '../domain/pipelines/workflow.ts';
import { fold } from '../domain/decider.ts';
import { contextByName, contextRestrictions } from '../projections/contexts.ts';
import {
  jobById,
  jobByNumber,
  pipelineByContinuationKeyHash,
  pipelineById,
  workflowById,
  workflowsOfPipeline,
  type PipelineRow,
  type WorkflowRow,
} from '../projections/pipelines.ts';
import { projectBySlug } from '../projections/projects.ts';
import { memberByLogin } from './members.ts';
import { findProject } from './projects.ts';
import { written } from './read-your-writes.ts';
import type { Reads, UseCases, WithConfigs, WithGit, WithStore, WithVault } from './dependencies.ts';
import { executeAndWait } from './execute-and-wait.ts';

/**
 * Pipelines as triggers, GraphQL and the API v2 start and move them: read the config at the revision
 * with git, decide the pipeline (its number, its processed config, its workflows), and move jobs by
 * the commands given. The workflows a pipeline (or a rerun) decided on are started by a reactor
 * (workers/workflow-starter.ts) through `startDecidedWorkflows`.
 */

/** Pipelines' use cases read configs with git, fold workflows from their streams, and seal setup pipelines' continuation keys. */
export type PipelineDeps = UseCases & WithStore & WithGit & WithVault & WithConfigs;

/** git's rules for ref names (check-ref-format), so that no name reads as an option or a revision expression. */
const RefName = z
  .string()
  .trim()
  .min(1)
  .max(255)
  .regex(/^[^\s~^:?*[\\\x00-\x1f\x7f]+$/, 'must be a git branch or tag name')
  .refine(
    (v) =>
      !v.startsWith('-') &&
      !v.startsWith('/') &&
      !v.endsWith('/') &&
      !v.endsWith('.') &&
      !v.endsWith('.lock') &&
      !v.includes('..') &&
      !v.includes('@{') &&
      !v.includes('//') &&
      v !== '@',
    'must be a git branch or tag name',
  );
const Parameters = z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]));

export interface TriggerInput {
  readonly slug: unknown;
  readonly branch?: unknown;
  readonly tag?: unknown;
  readonly revision?: unknown;
  readonly parameters?: unknown;
  readonly type: 'webhook' | 'api' | 'explicit' | 'schedule';
  readonly deliveryId?: string | null;
  /** The pull request a delivery builds, or the one open for a pushed branch. */
  readonly pullRequest?: PullRequestVcs | null;
  /** Read the revision from the pull request's `refs/pull/<n>/head` (a `pull_request` delivery), not from the branch. */
  readonly fromPullRequestRef?: boolean;
  /** For type `schedule`: the schedule that runs it (application/schedules.ts). */
  readonly schedule?: { id: string; name: string; workflows: string[] | null };
  /** The new pipeline's id when the caller chose it beforehand (a claim of the revision names it: application/pull-requests.ts). */
  readonly pipelineId?: string;
}

/** What a job's contexts say of the pipeline's actor: the first refusal, or allowed. */
const contextAccess = async (s: Reads, ownerSlug: string, names: ReadonlyArray<string>, member: Member): Promise<Access> => {
  for (const name of names) {
    const c = await contextByName(s.db, ownerSlug.toLowerCase(), name);
    if (!c) return { allowed: false, reason: `${ownerSlug} has no context named ${name}` };
    const access = mayUseContext(await contextRestrictions(s.db, c.id), c.ownerSlug, member);
    if (!access.allowed) return { allowed: false, reason: `context ${name}: ${access.reason}` };
  }
  return { allowed: true };
};

const correlated = (context: CommandContext, pipelineId: string): CommandContext => ({ ...context, correlationId: pipelineId });

/**
 * A fork's build gets no secrets unless its project passes them to forks: a job of it that names a
 * context cannot run as written, and is `unauthorized` (dispatch withholds the project's variables too).
 */
const forkContexts = async (s: Reads, pipeline: PipelineRow | undefined): Promise<(names: ReadonlyArray<string>) => Access | null> => {
  const withheld =
    pipeline?.vcs.pullRequest?.fromFork === true && !(await projectBySlug(s.db, pipeline.projectSlug.toLowerCase()))?.settings.passSecretsToForkPullRequests;
  return (names) =>
    withheld && names.length > 0
      ? {
          allowed: false,
          reason: `context ${names.join(', ')}: contexts are not passed to builds of forked pull requests (turn on passSecretsToForkPullRequests)`,
        }
      : null;
};

/** `setup`: a workflow of the setup config, which a continue replaced as the pipeline's config. */
const startWorkflow = async (
  s: UseCases,
  context: CommandContext,
  pipeline: PipelineRow,
  workflow: { workflowId: string; name: string; firstJobNumber: number },
  member: Member,
  carried: ReadonlySet<string>,
  rerunOf: string | null,
  setup = false,
) => {
  const config = JSON.parse((setup ? pipeline.setupConfig : null) ?? pipeline.config!) as ProcessedConfig;
  const planned = workflowJobs(config, pipeline.vcs, workflow);
  // approvals, and the jobs after them, are judged when approved: they run for the approver
  const deferred = new Set(planned.filter((j) => j.type === 'approval').flatMap((a) => [a.name, ...afterApproval(planned, a.name)]));
  const fork = await forkContexts(s, pipeline);
  const jobs = [];
  for (const j of planned) {
    const access = deferred.has(j.name)
      ? { allowed: true as const }
      : (fork(j.context) ?? (await contextAccess(s, ownerSlugOf(pipeline.projectSlug), j.context, member)));
    jobs.push({
      ...j,
      requires: [...j.requires],
      context: [...j.context],
      status: carried.has(j.name) ? ('success' as const) : ('blocked' as const),
      unauthorized: access.allowed ? null : access.reason,
      runsFor: member.login,
    });
  }
  await s.commands
    .execute({
      stream: workflowStream(workflow.workflowId),
      decider: workflowDecider,
      command: {
        type: 'start',
        workflowId: workflow.workflowId,
        pipelineId: pipeline.id,
        pipelineNumber: pipeline.number,
        projectSlug: pipeline.projectSlug,
        name: workflow.name,
        rerunOf,
        jobs,
      },
      context: correlated(context, pipeline.id),
      target: workflowTarget(workflow),
    })
    .catch((e: unknown) => {
      // the workflow id is derived from the event that decided it: a second delivery finds it started
      if (!(e instanceof DomainError && e.code === 'WORKFLOW_EXISTS')) throw e;
    });
};

/** A webhook is authorized by its signature, a scheduled run when it was scheduled; every other trigger by its caller's membership of the organization. */
export const triggerPipeline = async (s: PipelineDeps, context: CommandContext, by: Member, input: TriggerInput): Promise<PipelineRow> => {
  const project = await findProject(s, input.slug);
  if (input.type !== 'webhook' && input.type !== 'schedule') requireOrgMember(by, ownerSlugOf(project.slug));
  if (input.branch != null && input.tag != null) throw new ValidationError('give a branch or a tag, not both');
  const tag = input.tag == null ? null : parseInput(RefName, input.tag, 'tag');
  const branch = tag ? null : input.branch == null ? project.settings.defaultBranch : parseInput(RefName, input.branch, 'branch');
  const revision = input.revision == null ? null : parseInput(z.string().regex(/^[0-9a-f]{7,64}$/, 'must be a commit sha'), input.revision, 'revision');
  const parameters = input.parameters == null ? {} : parseInput(Parameters, input.parameters, 'parameters');
  const pullRequest = input.pullRequest ?? null;
  // a pull request's head is read from its refs/pull/<n>/head: a fork's commits are on no branch of the repository
  const checkout = await s.git
    .read(
      project.settings.gitUrl,
      { branch, tag, revision, pullRequest: pullRequest && input.fromPullRequestRef ? pullRequest.number : null },
      { maxConfigBytes: s.configs.sourceBytes },
    )
    .catch((e: unknown) => {
      // what git met on the network is for admins: to others it would map Gyre's network
      if (e instanceof GitError && e.detail && by.isAdmin) throw new GitError(`${e.message}: ${e.detail}`, e.reason, e.detail);
      throw e;
    });
  if (checkout.configTooLarge !== undefined) s.configs.refuseSize(checkout.configTooLarge);
  const pipelineId = input.pipelineId ?? randomUUID();
  const pipeline: PipelineDetails = {
    pipelineId,
    projectId: project.id,
    projectSlug: project.slug,
    trigger: {
      type: input.type,
      receivedAt: new Date().toISOString(),
      actor: { login: by.login, avatarUrl: null },
      deliveryId: input.deliveryId ?? null,
      ...(input.schedule ? { schedule: input.schedule } : {}),
    },
    vcs: {
      originRepositoryUrl: project.settings.gitUrl,
      revision: checkout.revision,
      branch,
      tag,
      commit: { subject: checkout.subject, body: checkout.body },
      pullRequest,
    },
    parameters,
  };
  const source = checkout.config;
  let continuation: Continuation | null = null;
  // the config is processed for the number the pipeline will take (`<< pipeline.number >>`); a trigger
  // that takes it first makes the decider refuse, and it is processed again for the next
  for (let attempt = 1; ; attempt++) {
    const number = await nextPipelineNumber(s, project.id);
    const config = source === null ? null : { source, processed: await s.configs.process(s, source, processOptionsFor({ ...pipeline, number }, parameters)) };
    if (!continuation && config?.processed.valid && config.processed.config.setup) continuation = await newContinuation(s, project.id, pipelineId);
    const executed = await s.commands
      .execute({
        stream: pipelinesStream(project.id),
        decider: pipelinesDecider,
        lastEventOnly: true,
        command: { type: 'create', pipeline, number, config, continuation },
        context: correlated(context, pipelineId),
        target: (state) => pipelineTarget({ pipelineId, projectSlug: project.slug, number: state.pipelines }),
      })
      .catch((e: unknown) => (e instanceof PipelineNumberTaken && attempt < maxNumberAttempts ? null : Promise.reject(e)));
    if (!executed) continue;
    await s.readYourWrites(executed);
    return written(await pipelineById(s.db, pipelineId));
  }
};

/** How many numbers a trigger tries before it gives up: each one lost went to another trigger of the project. */
const maxNumberAttempts = 10;

/** The number the project's next pipeline takes, from the last event of its pipelines stream (which holds the counters). */
export const nextPipelineNumber = async (s: WithStore, projectId: string): Promise<number> => {
  const last = await s.store.readLast(pipelinesStream(projectId));
  return fold(pipelinesDecider, last ? [last as unknown as PipelineEvent] : []).pipelines + 1;
};

/** A setup pipeline's key: random, kept only hashed (to find and check it) and sealed (for its setup jobs). */
const newContinuation = async (s: WithVault, projectId: string, pipelineId: string): Promise<Continuation> => {
  const key = randomBytes(32).toString('hex');
  return { keyHash: continuationKeyHash(key), sealedKey: await s.vault.seal(projectOwner(projectId), continuationKeyLabel(pipelineId), key) };
};

/** What a setup pipeline's sealed continuation key is bound to. */
export const continuationKeyLabel = (pipelineId: string) => `continuation key of pipeline ${pipelineId}`;

export interface ContinueInput {
  readonly key: unknown;
  readonly configuration: unknown;
  readonly parameters?: unknown;
}
const ended = new Set(['success', 'failed', 'error', 'canceled', 'not_run', 'unauthorized']);

/**
 * `POST /api/v2/pipeline/continue`: the key alone says which pipeline and that the caller may
 * continue it (as CircleCI's continuation orb uses it). Once only, and only while a setup workflow
 * runs; the pipelines decider settles two continues racing.
 */
export const continuePipeline = async (s: PipelineDeps, context: CommandContext, input: ContinueInput): Promise<PipelineRow> => {
  const key = parseInput(z.string().min(1).max(200), input.key, 'continuation-key');
  const configuration = parseInput(z.string(), input.configuration, 'configuration');
  const parameters = input.parameters == null ? {} : parseInput(Parameters, input.parameters, 'parameters');
  const pipeline = await pipelineByContinuationKeyHash(s.db, continuationKeyHash(key));
  // an open route: its refusals are recorded here (a wrong key, one used, one expired), bad input by the route
  const refuse = async (e: ConflictError | UnauthorizedError): Promise<never> => {
    await s.commands.refuse(
      'pipeline.continue',
      { reason: e.message, code: e.code, status: e.status, operation: 'POST /api/v2/pipeline/continue' },
      {
        context: pipeline ? correlated(context, pipeline.id) : context,
        ...(pipeline ? { target: pipelineTarget({ pipelineId: pipeline.id, projectSlug: pipeline.projectSlug, number: pipeline.number }) } : {}),
      },
    );
    throw e;
  };
  if (!pipeline)
    return refuse(new UnauthorizedError('continuation-key is not a key Gyre gave out: use the CIRCLE_CONTINUATION_KEY of a job of the setup workflow'));
  if (pipeline.continuedAt) return refuse(new ConflictError(notInSetup));
  const workflows = await workflowsOfPipeline(s.db, pipeline.id);
  if (workflows.length > 0 && workflows.every((w) => ended.has(w.status)))
    return refuse(new ConflictError('Continuation key has expired. Please run a new pipeline.'));
  const setup: NumberedPipeline = {
    pipelineId: pipeline.id,
    number: pipeline.number,
    vcs: pipeline.vcs,
    trigger: { ...pipeline.trigger, type: TriggerType.parse(pipeline.trigger.type), deliveryId: null },
  };
  const config = { source: configuration, processed: await s.configs.process(s, configuration, processOptionsFor(setup, parameters)) };
  const executed = await s.commands
    .execute({
      stream: pipelinesStream(pipeline.projectId),
      decider: pipelinesDecider,
      // whether this pipeline was continued before is in the whole stream, not its last event
      command: { type: 'continue', pipeline: setup, parameters, config },
      context: correlated(context, pipeline.id),
      target: pipelineTarget({ pipelineId: pipeline.id, projectSlug: pipeline.projectSlug, number: pipeline.number }),
    })
    // two continues racing: the one that lost finds the pipeline continued
    .catch((e: unknown) => (e instanceof ConflictError ? refuse(e) : Promise.reject(e)));
  await s.readYourWrites(executed);
  return written(await pipelineById(s.db, pipeline.id));
};

/**
 * Starts the workflows a `pipeline.create` or a `workflow.retry` decided on, for the person who
 * triggered the pipeline (or asked for the rerun). The workflows' ids come from the event and a start
 * is refused twice, so reacting to the same event again starts nothing more. The read models must
 * already hold the event.
 */
export const startDecidedWorkflows = async (s: UseCases & WithStore, event: RecordedEvent): Promise<void> => {
  const e = event as unknown as PipelineEvent;
  const pipeline = await pipelineById(s.db, e.data.pipelineId);
  if (!pipeline) throw new Error(`pipeline ${e.data.pipelineId} of event ${event.id} is not in the read model`);
  const context: CommandContext = { actor: event.metadata.actor, request: null, causationId: event.id, correlationId: pipeline.id };
  if (e.type === 'pipeline.create' || e.type === 'pipeline.continue') {
    const member = await memberByLogin(s, pipeline.trigger.actor.login);
    for (const w of e.data.workflows) await startWorkflow(s, context, pipeline, w, member, new Set(), null, e.type === 'pipeline.create');
    return;
  }
  const member = await memberByLogin(s, e.data.rerunBy ?? pipeline.trigger.actor.login);
  const carried = e.data.fromFailed ? carriedOver((await loadWorkflow(s, e.data.rerunOf))?.jobs ?? [], true) : new Set<string>();
  await startWorkflow(s, context, pipeline, e.data, member, carried, e.data.rerunOf);
};

const findWorkflow = async (s: Reads, id: unknown): Promise<WorkflowRow> => {
  const w = await workflowById(s.db, parseUuid(id, 'a workflow id'));
  if (!w) throw new NotFoundError('workflow not found', 'WORKFLOW_NOT_FOUND');
  return w;
};

const runWorkflow = async (s: UseCases, context: CommandContext, w: WorkflowRow, command: WorkflowCommand) => {
  return (
    await executeAndWait(s, {
      stream: workflowStream(w.id),
      decider: workflowDecider,
      command,
      context: correlated(context, w.pipelineId),
      target: workflowTarget({ workflowId: w.id, name: w.name }),
    })
  ).state;
};

const loadWorkflow = async (s: WithStore, id: string): Promise<WorkflowState> => fold(workflowDecider, (await s.store.readStream(workflowStream(id))) as never);

/** Approves a held approval job; the approver must be of the organization, and of its contexts' groups. */
export const approveJob = async (s: PipelineDeps, context: CommandContext, by: Member, workflowId: unknown, approvalRequestId: unknown) => {
  const w = await findWorkflow(s, workflowId);
  const state = await loadWorkflow(s, w.id);
  const job = state?.jobs.find((j) => j.jobId === approvalRequestId);
  if (!job) throw new NotFoundError(`workflow ${w.name} has no approval request with that id`, 'JOB_NOT_FOUND');
  const owner = ownerSlugOf(w.projectSlug);
  const access = await contextAccess(s, owner, job.context, by);
  const after = afterApproval(state!.jobs, job.name);
  const fork = await forkContexts(s, await pipelineById(s.db, w.pipelineId));
  const decisions = [];
  for (const j of state!.jobs.filter((x) => after.has(x.name))) {
    const a = fork(j.context) ?? (await contextAccess(s, owner, j.context, by));
    decisions.push({ jobId: j.jobId, unauthorized: a.allowed ? null : a.reason });
  }
  await runWorkflow(s, context, w, { type: 'approve', approvalRequestId: job.jobId, by, access, decisions });
  return w;
};

export const cancelWorkflow = async (s: PipelineDeps, context: CommandContext, by: Member, workflowId: unknown) => {
  const w = await findWorkflow(s, workflowId);
  await runWorkflow(s, context, w, { type: 'cancel', by });
  return w;
};

/**
 * Cancels one queued or running job of a project by its number, through its workflow: the scheduler
 * then ends the job's own run (its tasks) as it does for a whole-workflow cancel.
 */
export const cancelJob = async (s: PipelineDeps, context: CommandContext, by: Member, projectSlug: string, jobNumber: number) => {
  const project = await findProject(s, projectSlug);
  const job = await jobByNumber(s.db, project.slug, jobNumber);
  if (!job) throw new NotFoundError(`job ${jobNumber} of ${project.slug} not found`, 'JOB_NOT_FOUND');
  const w = (await workflowById(s.db, job.workflowId))!;
  await runWorkflow(s, context, w, { type: 'cancelJob', jobId: job.id, by });
  return job;
};

/** Cancels one queued or running job by its id (GraphQL's `cancelJob`), as `cancelJob` does by number. */
export const cancelJobById = async (s: PipelineDeps, context: CommandContext, by: Member, jobId: unknown) => {
  const job = await jobById(s.db, parseUuid(jobId, 'a job id'));
  if (!job) throw new NotFoundError('job not found', 'JOB_NOT_FOUND');
  const w = (await workflowById(s.db, job.workflowId))!;
  await runWorkflow(s, context, w, { type: 'cancelJob', jobId: job.id, by });
  return w;
};

/** What a build machine reports: a job started, or ended with a result. */
export const reportJob = async (s: PipelineDeps, context: CommandContext, workflowId: unknown, jobId: unknown, status: unknown) => {
  const w = await findWorkflow(s, workflowId);
  if (typeof jobId !== 'string') throw new ValidationError('jobId is a job id');
  if (status === 'running') await runWorkflow(s, context, w, { type: 'startJob', jobId });
  else await runWorkflow(s, context, w, { type: 'finishJob', jobId, status: parseInput(JobResult, status, 'status') });
  return w;
};

/** A new workflow of the same name in the pipeline; from failed, jobs that succeeded (and all they required) are carried over. */
export const rerunWorkflow = async (s: PipelineDeps, context: CommandContext, by: Member, workflowId: unknown, fromFailed: boolean) => {
  const w = await findWorkflow(s, workflowId);
  const old = await loadWorkflow(s, w.id);
  if (!old?.finished) throw new ValidationError(`workflow ${w.name} is still running: cancel it or wait for it to finish before a rerun`);
  if (fromFailed && old.finished !== 'failed') throw new ValidationError(`workflow ${w.name} did not fail (${old.finished}): rerun it whole`);
  const pipeline = written(await pipelineById(s.db, w.pipelineId));
  // the pipeline's config is the continuation's now: a workflow of the setup config has nothing to rerun from
  if (pipeline.continuedAt && w.setup)
    throw new ConflictError(
      `workflow ${w.name} is the setup workflow of pipeline ${pipeline.number}, which was continued: a setup workflow cannot be rerun after its continuation; rerun the continued workflows or trigger a new pipeline`,
    );
  const newId = randomUUID();
  const config = JSON.parse(pipeline.config!) as ProcessedConfig;
  const jobCount = workflowJobs(config, pipeline.vcs, { workflowId: newId, name: w.name, firstJobNumber: 0 }).filter((j) => j.jobNumber !== null).length;
  const ctx = correlated(context, pipeline.id);
  await executeAndWait(s, {
    stream: pipelinesStream(pipeline.projectId),
    decider: pipelinesDecider,
    lastEventOnly: true,
    command: {
      type: 'rerun',
      pipelineId: pipeline.id,
      projectSlug: pipeline.projectSlug,
      workflowId: newId,
      rerunOf: w.id,
      name: w.name,
      fromFailed,
      jobCount,
      by,
    },
    context: ctx,
    target: workflowTarget({ workflowId: w.id, name: w.name }),
  });
  return written(await workflowById(s.db, newId));
};
