import { createHash } from 'node:crypto';
import { z } from 'zod';
import { ConflictError } from '../errors.ts';
import { describeProblem } from '../config/problems.ts';
import { processConfig, type ProcessResult, type ProcessedConfig, type ResolveOrb } from '../config/process.ts';
import { defineEvent, type EventOf } from '../events/registry.ts';
import { uuidFrom } from '../ids.ts';
import { requireOrgMember, type Member } from '../organizations.ts';
import { ownerSlugOf } from '../projects/slugs.ts';
import type { Decider } from '../decider.ts';
import { planWorkflow, planWorkflows } from './planner.ts';

/**
 * A project's pipelines, on one stream per project: pipeline and job numbers count up per project,
 * so they are decided here, where two triggers can never take the same number. Each event carries
 * the counters, so deciding reads only the stream's last event (`lastEventOnly`).
 */
export const pipelinesStream = (projectId: string) => `pipelines-${projectId}`;
export const pipelineTarget = (p: { pipelineId: string; projectSlug: string; number: number }) => ({
  id: p.pipelineId,
  type: 'pipeline',
  name: `${p.projectSlug}#${p.number}`,
});

export const TriggerType = z.enum(['webhook', 'api', 'explicit', 'schedule']);
/**
 * `deliveryId`: GitHub's X-GitHub-Delivery, so that a delivery replayed is not built twice (for a
 * scheduled run: an id derived from the schedule's fire event). `schedule`: for type `schedule`, the
 * schedule that ran it; `workflows` names the workflows of a legacy scheduled workflow trigger (only
 * they run), null for a scheduled pipeline (the config's workflows run as for any pipeline).
 */
const Trigger = z.object({
  type: TriggerType,
  receivedAt: z.string(),
  actor: z.object({ login: z.string(), avatarUrl: z.string().nullable() }),
  deliveryId: z.string().max(100).nullable().default(null),
  schedule: z.object({ id: z.string(), name: z.string(), workflows: z.array(z.string()).nullable() }).optional(),
});
/** How API v2 and `<< pipeline.trigger_source >>` name a trigger type: a schedule is CircleCI's `scheduled_pipeline`. */
export const triggerSource = (type: string): string => (type === 'schedule' ? 'scheduled_pipeline' : type);
/** `<< pipeline.trigger_source >>` knows webhook, api and scheduled_pipeline only: an explicit trigger is an api one there. */
const configTriggerSource = (type: string): string => (type === 'explicit' ? 'api' : triggerSource(type));
const Vcs = z.object({
  originRepositoryUrl: z.string(),
  revision: z.string(),
  branch: z.string().nullable(),
  tag: z.string().nullable(),
  commit: z.object({ subject: z.string(), body: z.string() }).nullable(),
  /** The pull request built (GitHub's `pull_request` delivery), or the one open for a pushed branch; null in events from before. */
  pullRequest: z
    .object({ number: z.number().int().positive(), url: z.string(), fromFork: z.boolean(), headOwner: z.string(), headRepo: z.string() })
    .nullable()
    .default(null),
});
export type PullRequestVcs = NonNullable<z.infer<typeof Vcs>['pullRequest']>;
/**
 * A setup pipeline's continuation key: its SHA-256 (how a continue finds and checks it) and the key
 * sealed under the project's data key (what dispatch opens for the setup jobs). Never the key in clear.
 */
const Continuation = z.object({ keyHash: z.string().regex(/^[0-9a-f]{64}$/), sealedKey: z.string() });
const PlannedWorkflow = z.object({ workflowId: z.string(), name: z.string(), firstJobNumber: z.number().int(), jobCount: z.number().int() });

export const pipelineCreated = defineEvent(
  'pipeline.create',
  z.object({
    pipelineId: z.string(),
    projectId: z.string(),
    projectSlug: z.string(),
    number: z.number().int(),
    /** `setup`: the config has `setup: true`; its workflows run until a continue (CircleCI's state name). */
    state: z.enum(['created', 'errored', 'setup']),
    errors: z.array(z.object({ type: z.string(), message: z.string() })),
    trigger: Trigger,
    vcs: Vcs,
    parameters: z.record(z.string(), z.unknown()),
    /** The processed config (JSON), as the jobs will run it; null when it did not process. */
    config: z.string().nullable(),
    /** The config as read at the revision, and as compiled (YAML); null when there was none, and in events from before they were kept. */
    source: z.string().nullable().default(null),
    compiled: z.string().nullable().default(null),
    workflows: z.array(PlannedWorkflow),
    /** How many job numbers the project has given out, this pipeline's included: the last event alone holds the counters. */
    jobsAfter: z.number().int(),
    /** Set for a setup pipeline (state `setup`) only. */
    continuation: Continuation.nullable().default(null),
  }),
  { publicFields: ['pipelineId', 'projectId', 'projectSlug', 'number', 'state', 'errors', 'trigger', 'vcs', 'workflows'] },
);
/**
 * A setup pipeline continued with a new config (`POST /api/v2/pipeline/continue`): once only. Its
 * workflows get job numbers of the project, so the event is on the project's stream.
 */
export const pipelineContinued = defineEvent(
  'pipeline.continue',
  z.object({
    pipelineId: z.string(),
    state: z.enum(['created', 'errored']),
    errors: z.array(z.object({ type: z.string(), message: z.string() })),
    parameters: z.record(z.string(), z.unknown()),
    /** The continuation's config as given, and as processed (`GET /pipeline/{id}/config`). */
    source: z.string().nullable().default(null),
    compiled: z.string().nullable().default(null),
    /** The continuation's processed config (JSON); null when it did not process. */
    config: z.string().nullable(),
    workflows: z.array(PlannedWorkflow),
    jobsAfter: z.number().int(),
    pipelinesAfter: z.number().int(),
  }),
  { publicFields: ['pipelineId', 'state', 'errors', 'workflows'] },
);
/** A rerun: a new workflow in the pipeline, with job numbers of its own, run for `rerunBy` (a login; null in events before it was recorded). */
export const workflowRetried = defineEvent(
  'workflow.retry',
  z.object({
    pipelineId: z.string(),
    workflowId: z.string(),
    rerunOf: z.string(),
    name: z.string(),
    fromFailed: z.boolean(),
    firstJobNumber: z.number().int(),
    jobCount: z.number().int(),
    pipelinesAfter: z.number().int(),
    rerunBy: z.string().nullable().default(null),
  }),
  { publicFields: ['pipelineId', 'workflowId', 'rerunOf', 'name', 'fromFailed', 'firstJobNumber', 'jobCount', 'rerunBy'] },
);
export const pipelineEvents = [pipelineCreated, workflowRetried, pipelineContinued];

export type PipelineEvent = EventOf<typeof pipelineCreated> | EventOf<typeof workflowRetried> | EventOf<typeof pipelineContinued>;
export type PipelineDetails = Omit<
  EventOf<typeof pipelineCreated>['data'],
  'number' | 'workflows' | 'state' | 'errors' | 'config' | 'source' | 'compiled' | 'jobsAfter' | 'continuation'
>;
export type Continuation = z.infer<typeof Continuation>;
/** How a continuation key is kept and looked up: its SHA-256, in hex (the key is 256 random bits, so no salt is needed). */
export const continuationKeyHash = (key: string): string => createHash('sha256').update(key).digest('hex');
/** CircleCI's answer to a continue of a pipeline no longer in setup. */
export const notInSetup = 'Pipeline is not in setup state.';
/** A pipeline as its config sees it (`<< pipeline.id >>`, `<< pipeline.number >>`, its git and trigger values). */
export type NumberedPipeline = { pipelineId: string; number: number; vcs: PipelineDetails['vcs']; trigger: PipelineDetails['trigger'] };
/** A config as read (`source`) and as processed for one pipeline (`processForPipeline`). */
export interface PipelineConfig {
  readonly source: string;
  readonly processed: ProcessResult;
}
/**
 * `number`: the number the config was processed for, the project's next (`<< pipeline.number >>`);
 * `config`: the config at the revision, processed for that number, or null when there is none.
 */
export type PipelineCommand =
  | { type: 'create'; pipeline: PipelineDetails; number: number; config: PipelineConfig | null; continuation?: Continuation | null }
  /** `pipeline`: the setup pipeline as created (its number, vcs, trigger); `config`: the continuation's, processed for it. */
  | { type: 'continue'; pipeline: NumberedPipeline; parameters: Record<string, unknown>; config: PipelineConfig }
  | {
      type: 'rerun';
      pipelineId: string;
      projectSlug: string;
      workflowId: string;
      rerunOf: string;
      name: string;
      fromFailed: boolean;
      jobCount: number;
      by: Member;
    };

/**
 * `continued`: the pipelines continued in the events folded. The counters are whole from the last
 * event alone; `continued` only from the whole stream, which is why a continue reads all of it.
 */
export interface ProjectPipelines {
  readonly pipelines: number;
  readonly jobs: number;
  readonly continued: ReadonlySet<string>;
}

/**
 * A create processed for a number another pipeline took first: nothing is decided, and the config is
 * processed again for the project's next number.
 */
export class PipelineNumberTaken extends ConflictError {}

/** The `<< pipeline.* >>` values of a pipeline. */
const pipelineValues = (p: NumberedPipeline) => ({
  id: p.pipelineId,
  number: p.number,
  'project.git_url': p.vcs.originRepositoryUrl,
  'project.type': 'github',
  'git.branch': p.vcs.branch ?? '',
  'git.tag': p.vcs.tag ?? '',
  'git.revision': p.vcs.revision,
  'git.base_revision': p.vcs.revision,
  trigger_source: configTriggerSource(p.trigger.type),
  ...(p.trigger.schedule ? { 'schedule.name': p.trigger.schedule.name, 'schedule.id': p.trigger.schedule.id } : {}),
});

/** What a config is processed with for one pipeline: its parameters and its `<< pipeline.* >>` values. */
export const processOptionsFor = (pipeline: NumberedPipeline, parameters: Record<string, unknown>) => ({
  pipelineParameters: parameters,
  pipelineValues: pipelineValues(pipeline),
});

/** A config processed for one pipeline, as its create or continue command carries it; `resolveOrb` serves orbs already loaded. */
export const processForPipeline = (
  source: string,
  pipeline: NumberedPipeline,
  parameters: Record<string, unknown>,
  resolveOrb: ResolveOrb,
): PipelineConfig => ({
  source,
  processed: processConfig(source, { ...processOptionsFor(pipeline, parameters), resolveOrb }),
});

/** The workflows a processed config plans, numbered from the project's next job number. */
const planned = (config: ProcessedConfig, p: { pipelineId: string; vcs: PipelineDetails['vcs']; trigger: PipelineDetails['trigger'] }, nextJob: number) => {
  let next = nextJob;
  const workflows = planWorkflows(config, p.vcs, p.trigger.schedule?.workflows).map((w) => {
    const jobCount = w.jobs.filter((j) => j.type === 'build').length;
    const planned = { workflowId: derivedId(p.pipelineId, w.name), name: w.name, firstJobNumber: next, jobCount };
    next += jobCount;
    return planned;
  });
  return { workflows, jobsAfter: next - 1 };
};

export const pipelinesDecider: Decider<ProjectPipelines, PipelineCommand, PipelineEvent> = {
  initialState: () => ({ pipelines: 0, jobs: 0, continued: new Set() }),
  // every event carries both counters, so the last one alone is the state
  evolve: (s, e) => {
    if (e.type === 'pipeline.create') return { ...s, pipelines: e.data.number, jobs: e.data.jobsAfter };
    if (e.type === 'pipeline.continue')
      return { pipelines: e.data.pipelinesAfter, jobs: e.data.jobsAfter, continued: new Set([...s.continued, e.data.pipelineId]) };
    return { ...s, pipelines: e.data.pipelinesAfter, jobs: e.data.firstJobNumber + e.data.jobCount - 1 };
  },
  decide: (c, s) => {
    if (c.type === 'continue') {
      if (s.continued.has(c.pipeline.pipelineId)) throw new ConflictError(notInSetup);
      const { source, processed } = c.config;
      const base = { pipelineId: c.pipeline.pipelineId, parameters: c.parameters, pipelinesAfter: s.pipelines };
      if (!processed.valid)
        return [
          {
            type: 'pipeline.continue',
            data: {
              ...base,
              state: 'errored',
              errors: processed.problems.map((p) => ({ type: 'config', message: describeProblem(p) })),
              config: null,
              source,
              compiled: null,
              workflows: [],
              jobsAfter: s.jobs,
            },
          },
        ];
      if (processed.config.setup)
        return [
          {
            type: 'pipeline.continue',
            data: {
              ...base,
              state: 'errored',
              errors: [{ type: 'config', message: 'a continuation config cannot itself be a setup config: remove setup: true from it' }],
              config: null,
              source,
              compiled: null,
              workflows: [],
              jobsAfter: s.jobs,
            },
          },
        ];
      return [
        {
          type: 'pipeline.continue',
          data: {
            ...base,
            state: 'created',
            errors: [],
            config: JSON.stringify(processed.config),
            source,
            compiled: processed.yaml,
            ...planned(processed.config, c.pipeline, s.jobs + 1),
          },
        },
      ];
    }
    if (c.type === 'create') {
      const number = s.pipelines + 1;
      const p = c.pipeline;
      if (c.number !== number)
        throw new PipelineNumberTaken(`pipeline ${c.number} of ${p.projectSlug} was taken by another trigger: process its config again for pipeline ${number}`);
      const errored = (type: string, messages: string[]): PipelineEvent[] => [
        {
          type: 'pipeline.create',
          data: {
            ...p,
            number,
            state: 'errored',
            errors: messages.map((message) => ({ type, message })),
            config: null,
            source: c.config?.source ?? null,
            compiled: null,
            workflows: [],
            jobsAfter: s.jobs,
            continuation: null,
          },
        },
      ];
      if (c.config === null) return errored('config-fetch', [`no .circleci/config.yml at ${p.vcs.revision.slice(0, 12)}`]);
      const { source, processed } = c.config;
      if (!processed.valid) return errored('config', processed.problems.map(describeProblem));
      const continuation = processed.config.setup ? (c.continuation ?? null) : null;
      if (processed.config.setup && !continuation) throw new Error(`pipeline ${p.pipelineId}: a setup config needs a continuation key`);
      return [
        {
          type: 'pipeline.create',
          data: {
            ...p,
            number,
            state: continuation ? 'setup' : 'created',
            errors: [],
            config: JSON.stringify(processed.config),
            source,
            compiled: processed.yaml,
            ...planned(processed.config, p, s.jobs + 1),
            continuation,
          },
        },
      ];
    }
    requireOrgMember(c.by, ownerSlugOf(c.projectSlug));
    return [
      {
        type: 'workflow.retry',
        data: {
          pipelineId: c.pipelineId,
          workflowId: c.workflowId,
          rerunOf: c.rerunOf,
          name: c.name,
          fromFailed: c.fromFailed,
          firstJobNumber: s.jobs + 1,
          jobCount: c.jobCount,
          pipelinesAfter: s.pipelines,
          rerunBy: c.by.login,
        },
      },
    ];
  },
};

/** Ids derived from their parent and a name: deciding stays pure, and replaying gives the same ids. */
export const derivedId = (parent: string, name: string): string => uuidFrom(`${parent}\n${name}`);

/** The jobs of one planned workflow as the workflow starts them: ids, numbers (build jobs only), in order. */
export const workflowJobs = (
  config: ProcessedConfig,
  vcs: { branch: string | null; tag: string | null },
  workflow: { workflowId: string; name: string; firstJobNumber: number },
) => {
  // the workflow was planned when the pipeline was decided (a scheduled one included): plan it again by name
  const wf = Object.hasOwn(config.workflows, workflow.name) ? config.workflows[workflow.name] : undefined;
  let next = workflow.firstJobNumber;
  return (wf ? planWorkflow(wf, vcs) : []).map((j) => ({ ...j, jobId: derivedId(workflow.workflowId, j.name), jobNumber: j.type === 'build' ? next++ : null }));
};

/** What a rerun from failed keeps: every job that succeeded (a job that succeeded had all it required succeed). */
export const carriedOver = (jobs: ReadonlyArray<{ name: string; status: string }>, fromFailed: boolean): Set<string> =>
  new Set(fromFailed ? jobs.filter((j) => j.status === 'success').map((j) => j.name) : []);
