import type { Knex } from 'knex';
import type { PipelineEvent, PullRequestVcs } from '../domain/pipelines/pipeline.ts';
import { jobStatusAfter, liveStatus, type JobStatus, type WorkflowEvent } from '../domain/pipelines/workflow.ts';
import { defineProjection, isoTime } from './projection.ts';

/** Pipelines, their workflows and jobs, as the API v2 and GraphQL show them. */
export const pipelinesProjection = defineProjection({
  name: 'pipelines',
  // v2: the config's source and compiled YAML, and setup pipelines' continuation; v3: which workflows are a setup config's;
  // v4: jobs indexed by workflow, and by lower-cased project slug and number (jobByNumber)
  version: 4,
  handles: [{ prefix: 'pipeline.' }, { prefix: 'workflow.' }],
  tables: ['pipelines', 'workflows', 'workflow_jobs'],
  async migrate(db, t) {
    await db.raw(`create table if not exists ${t.pipelines} (
      id text primary key, project_id text not null, project_slug text not null, number int not null, state text not null, errors jsonb not null,
      trigger jsonb not null, vcs jsonb not null, parameters jsonb not null, config text, config_source text, config_compiled text, delivery_id text, planned jsonb not null default '[]',
      setup_config text, setup_config_source text, setup_config_compiled text, continuation_key_hash text, setup_revision int, continued_at timestamptz,
      created_at timestamptz not null, updated_at timestamptz not null)`);
    await db.raw(`create unique index if not exists ${t.pipelines}_continuation on ${t.pipelines} (continuation_key_hash)`);
    await db.raw(`create index if not exists ${t.pipelines}_delivery on ${t.pipelines} (delivery_id)`);
    await db.raw(`create index if not exists ${t.pipelines}_project on ${t.pipelines} (project_id, number desc)`);
    await db.raw(`create table if not exists ${t.workflows} (
      id text primary key, pipeline_id text not null, pipeline_number int not null, project_slug text not null, name text not null, status text not null,
      started_by text not null, tag text, rerun_of text, setup boolean not null default false, created_at timestamptz not null, stopped_at timestamptz)`);
    await db.raw(`create table if not exists ${t.workflow_jobs} (
      id text primary key, workflow_id text not null, project_slug text not null, name text not null, type text not null, status text not null,
      job_number int, requires jsonb not null, started_at timestamptz, stopped_at timestamptz)`);
    await db.raw(`create index if not exists ${t.workflow_jobs}_workflow on ${t.workflow_jobs} (workflow_id)`);
    await db.raw(`create index if not exists ${t.workflow_jobs}_number on ${t.workflow_jobs} (lower(project_slug), job_number)`);
  },
  async apply(events, trx, t) {
    // a batch's job status changes, merged per job, and the workflows they touch: written once at the end
    const jobChanges = new Map<string, { status: JobStatus; started_at?: string; stopped_at?: string }>();
    const touched = new Set<string>();
    for (const recorded of events) {
      if (!recorded.metadata.success) continue;
      const at = recorded.occurredAt;
      const e = recorded as unknown as PipelineEvent | WorkflowEvent;
      switch (e.type) {
        case 'pipeline.create': {
          const d = e.data;
          await trx(t.pipelines).insert({
            id: d.pipelineId,
            project_id: d.projectId,
            project_slug: d.projectSlug,
            number: d.number,
            state: d.state,
            errors: JSON.stringify(d.errors),
            trigger: JSON.stringify(d.trigger),
            vcs: JSON.stringify(d.vcs),
            parameters: JSON.stringify(d.parameters),
            config: d.config,
            config_source: d.source ?? null,
            config_compiled: d.compiled ?? null,
            delivery_id: d.trigger.deliveryId ?? null,
            planned: JSON.stringify(d.continuation ? d.workflows.map((w) => ({ ...w, setup: true })) : d.workflows),
            created_at: at,
            updated_at: at,
            continuation_key_hash: d.continuation?.keyHash ?? null,
            setup_revision: d.continuation ? recorded.revision : null,
          });
          break;
        }
        case 'pipeline.continue': {
          // the setup config stays, as CircleCI's setup-config; the continuation's becomes the pipeline's config
          const d = e.data;
          const row = await trx(t.pipelines).where({ id: d.pipelineId }).first('planned', 'config', 'config_source', 'config_compiled');
          await trx(t.pipelines)
            .where({ id: d.pipelineId })
            .update({
              setup_config: row.config,
              setup_config_source: row.config_source,
              setup_config_compiled: row.config_compiled,
              config: d.config,
              config_source: d.source ?? null,
              config_compiled: d.compiled ?? null,
              state: d.state,
              errors: JSON.stringify(d.errors),
              planned: JSON.stringify([...json(row.planned), ...d.workflows]),
              continued_at: at,
              updated_at: at,
            });
          break;
        }
        case 'workflow.retry': {
          const row = await trx(t.pipelines).where({ id: e.data.pipelineId }).first('planned');
          const planned = [
            ...json(row.planned),
            {
              workflowId: e.data.workflowId,
              name: e.data.name,
              firstJobNumber: e.data.firstJobNumber,
              jobCount: e.data.jobCount,
              rerunOf: e.data.rerunOf,
              fromFailed: e.data.fromFailed,
            },
          ];
          await trx(t.pipelines)
            .where({ id: e.data.pipelineId })
            .update({ planned: JSON.stringify(planned) });
          break;
        }
        case 'workflow.start': {
          const d = e.data;
          const pipeline = await trx(t.pipelines).where({ id: d.pipelineId }).first('vcs', 'planned');
          const vcs = typeof pipeline?.vcs === 'string' ? JSON.parse(pipeline.vcs) : pipeline?.vcs;
          // a setup config's workflow (planned by the setup pipeline's create), or a rerun of one
          const setup = d.rerunOf
            ? Boolean((await trx(t.workflows).where({ id: d.rerunOf }).first('setup'))?.setup)
            : ((json(pipeline?.planned ?? '[]') as Array<{ workflowId: string; setup?: boolean }>).find((w) => w.workflowId === d.workflowId)?.setup ?? false);
          await trx(t.workflows).insert({
            id: d.workflowId,
            pipeline_id: d.pipelineId,
            pipeline_number: d.pipelineNumber,
            project_slug: d.projectSlug,
            name: d.name,
            status: 'running',
            started_by: recorded.metadata.actor.id,
            tag: vcs?.tag ?? null,
            rerun_of: d.rerunOf,
            setup,
            created_at: at,
          });
          const ids = new Map(d.jobs.map((j) => [j.name, j.jobId]));
          if (d.jobs.length > 0) {
            await trx(t.workflow_jobs).insert(
              d.jobs.map((j) => ({
                id: j.jobId,
                workflow_id: d.workflowId,
                project_slug: d.projectSlug,
                name: j.name,
                type: j.type,
                status: j.status,
                job_number: j.jobNumber,
                requires: JSON.stringify(j.requires.map((r) => ids.get(r)).filter(Boolean)),
              })),
            );
          }
          await trx(t.pipelines).where({ id: d.pipelineId }).update({ updated_at: at });
          break;
        }
        case 'workflow.job.scheduled':
        case 'workflow.job.hold':
        case 'workflow.job.approve':
        case 'workflow.job.start':
        case 'workflow.job.finish': {
          const status = jobStatusAfter(e)!;
          jobChanges.set(e.data.jobId, {
            ...jobChanges.get(e.data.jobId),
            status,
            ...(e.type === 'workflow.job.start' ? { started_at: at } : {}),
            ...(e.type === 'workflow.job.finish' || e.type === 'workflow.job.approve' ? { stopped_at: at } : {}),
          });
          touched.add(e.data.workflowId);
          break;
        }
        case 'workflow.cancel':
          break;
        case 'workflow.finish':
          await trx(t.workflows).where({ id: e.data.workflowId }).update({ status: e.data.status, stopped_at: at });
          break;
      }
    }
    if (jobChanges.size === 0) return;
    // the jobs in one statement a thousand; a time not set in the batch stays as it was
    const changes = [...jobChanges];
    for (let i = 0; i < changes.length; i += 1000) {
      const chunk = changes.slice(i, i + 1000);
      await trx.raw(
        `update ${t.workflow_jobs} j set status = v.status, started_at = coalesce(v.started_at, j.started_at), stopped_at = coalesce(v.stopped_at, j.stopped_at)
         from (values ${chunk.map(() => '(?, ?, ?::timestamptz, ?::timestamptz)').join(', ')}) v(id, status, started_at, stopped_at) where j.id = v.id`,
        chunk.flatMap(([id, c]) => [id, c.status, c.started_at ?? null, c.stopped_at ?? null]),
      );
    }
    // a live workflow's status from its jobs' as the batch leaves them (a finished one keeps the status its finish gave)
    const jobsOf = new Map<string, Array<{ status: JobStatus }>>([...touched].map((id) => [id, []]));
    for (const r of (await trx(t.workflow_jobs)
      .whereIn('workflow_id', [...touched])
      .select('workflow_id', 'status')) as Array<{ workflow_id: string; status: JobStatus }>)
      jobsOf.get(r.workflow_id)?.push(r);
    const byStatus = new Map<string, string[]>();
    for (const [id, jobs] of jobsOf) byStatus.set(liveStatus(jobs), [...(byStatus.get(liveStatus(jobs)) ?? []), id]);
    for (const [status, ids] of byStatus) await trx(t.workflows).whereIn('id', ids).whereNull('stopped_at').update({ status });
  },
});

const { pipelines, workflows, workflow_jobs } = pipelinesProjection.tables;
const json = (v: unknown) => (typeof v === 'string' ? JSON.parse(v) : v);
const iso = (v: unknown) => (v ? isoTime(v) : null);

export interface PipelineRow {
  readonly id: string;
  readonly projectId: string;
  readonly projectSlug: string;
  readonly number: number;
  readonly state: string;
  readonly errors: Array<{ type: string; message: string }>;
  readonly trigger: { type: string; receivedAt: string; actor: { login: string; avatarUrl: string | null } };
  readonly vcs: {
    originRepositoryUrl: string;
    revision: string;
    branch: string | null;
    tag: string | null;
    commit: { subject: string; body: string } | null;
    pullRequest: PullRequestVcs | null;
  };
  readonly parameters: Record<string, unknown>;
  readonly config: string | null;
  readonly configSource: string | null;
  readonly configCompiled: string | null;
  /** A setup pipeline's config, once a continue replaced it as `config`. */
  readonly setupConfig: string | null;
  /** Whether a setup pipeline's key was used (never the key). */
  readonly continuedAt: string | null;
  /** The revision of a setup pipeline's `pipeline.create` in its project's stream: where its sealed key is. */
  readonly setupRevision: number | null;
  readonly setupConfigSource: string | null;
  readonly setupConfigCompiled: string | null;
  readonly createdAt: string;
  readonly updatedAt: string;
}
const toPipeline = (r: Record<string, unknown>): PipelineRow => ({
  id: r.id as string,
  projectId: r.project_id as string,
  projectSlug: r.project_slug as string,
  number: Number(r.number),
  state: r.state as string,
  errors: json(r.errors),
  trigger: json(r.trigger),
  vcs: { pullRequest: null, ...json(r.vcs) },
  parameters: json(r.parameters),
  config: (r.config as string | null) ?? null,
  configSource: (r.config_source as string | null) ?? null,
  configCompiled: (r.config_compiled as string | null) ?? null,
  setupConfig: (r.setup_config as string | null) ?? null,
  continuedAt: iso(r.continued_at) ?? null,
  setupRevision: r.setup_revision == null ? null : Number(r.setup_revision),
  setupConfigSource: (r.setup_config_source as string | null) ?? null,
  setupConfigCompiled: (r.setup_config_compiled as string | null) ?? null,
  createdAt: iso(r.created_at)!,
  updatedAt: iso(r.updated_at)!,
});

export const pipelineById = async (db: Knex, id: string): Promise<PipelineRow | undefined> => {
  const r = await db(pipelines).where({ id }).first();
  return r ? toPipeline(r) : undefined;
};
/** The setup pipeline whose continuation key has this SHA-256. */
export const pipelineByContinuationKeyHash = async (db: Knex, hash: string): Promise<PipelineRow | undefined> => {
  const r = await db(pipelines).where({ continuation_key_hash: hash }).first();
  return r ? toPipeline(r) : undefined;
};
export interface PlannedRow {
  readonly pipeline: PipelineRow;
  readonly workflowId: string;
  readonly name: string;
  readonly firstJobNumber: number;
  readonly rerunOf?: string;
  readonly fromFailed?: boolean;
}
/** Workflows a pipeline (or a rerun) decided on that never started: what a crash between two appends leaves. */
export const unstartedWorkflows = async (db: Knex): Promise<PlannedRow[]> => {
  const found = (await db.raw(
    `select p.*, w.value as planned_workflow from ${pipelines} p cross join lateral jsonb_array_elements(p.planned) w
     where not exists (select 1 from ${workflows} x where x.id = w.value->>'workflowId') order by p.created_at`,
  )) as { rows: Array<Record<string, unknown>> };
  return found.rows.map((r) => ({ ...(json(r.planned_workflow) as Omit<PlannedRow, 'pipeline'>), pipeline: toPipeline(r) }));
};

/** The pipeline a GitHub delivery started, if one did. */
export const pipelineByDelivery = async (db: Knex, deliveryId: string): Promise<PipelineRow | undefined> => {
  const r = await db(pipelines).where({ delivery_id: deliveryId }).first();
  return r ? toPipeline(r) : undefined;
};

/** A project's pipeline by its number. */
export const pipelineByNumber = async (db: Knex, projectId: string, number: number): Promise<PipelineRow | undefined> => {
  const r = await db(pipelines).where({ project_id: projectId, number }).first();
  return r ? toPipeline(r) : undefined;
};

/** A project's pipelines, newest first, before a number (the cursor). */
export const pipelinesPage = async (
  db: Knex,
  projectId: string,
  first: number,
  before?: number,
): Promise<{ pipelines: PipelineRow[]; hasNextPage: boolean }> => {
  const q = db(pipelines)
    .where({ project_id: projectId })
    .orderBy('number', 'desc')
    .limit(first + 1);
  if (before !== undefined) q.where('number', '<', before);
  const rows = (await q) as Array<Record<string, unknown>>;
  return { pipelines: rows.slice(0, first).map(toPipeline), hasNextPage: rows.length > first };
};

export interface WorkflowRow {
  readonly id: string;
  readonly pipelineId: string;
  readonly pipelineNumber: number;
  readonly projectSlug: string;
  readonly name: string;
  readonly status: string;
  readonly startedBy: string;
  readonly tag: string | null;
  readonly rerunOf: string | null;
  /** A workflow of a setup pipeline's setup config (or a rerun of one), not of its continuation. */
  readonly setup: boolean;
  readonly createdAt: string;
  readonly stoppedAt: string | null;
}
const toWorkflow = (r: Record<string, unknown>): WorkflowRow => ({
  id: r.id as string,
  pipelineId: r.pipeline_id as string,
  pipelineNumber: Number(r.pipeline_number),
  projectSlug: r.project_slug as string,
  name: r.name as string,
  status: r.status as string,
  startedBy: r.started_by as string,
  tag: (r.tag as string | null) ?? null,
  rerunOf: (r.rerun_of as string | null) ?? null,
  setup: Boolean(r.setup),
  createdAt: iso(r.created_at)!,
  stoppedAt: iso(r.stopped_at),
});
export const workflowById = async (db: Knex, id: string): Promise<WorkflowRow | undefined> => {
  const r = await db(workflows).where({ id }).first();
  return r ? toWorkflow(r) : undefined;
};
export const workflowsOfPipeline = async (db: Knex, pipelineId: string): Promise<WorkflowRow[]> =>
  (
    (await db(workflows)
      .where({ pipeline_id: pipelineId })
      .orderBy([{ column: 'created_at' }, { column: 'id' }])) as Array<Record<string, unknown>>
  ).map(toWorkflow);

export interface JobRow {
  readonly id: string;
  readonly workflowId: string;
  readonly projectSlug: string;
  readonly name: string;
  readonly type: 'build' | 'approval';
  readonly status: JobStatus;
  readonly jobNumber: number | null;
  readonly dependencies: string[];
  readonly startedAt: string | null;
  readonly stoppedAt: string | null;
}
const toJob = (r: Record<string, unknown>): JobRow => ({
  id: r.id as string,
  workflowId: r.workflow_id as string,
  projectSlug: r.project_slug as string,
  name: r.name as string,
  type: r.type as 'build' | 'approval',
  status: r.status as JobStatus,
  jobNumber: r.job_number === null ? null : Number(r.job_number),
  dependencies: json(r.requires),
  startedAt: iso(r.started_at),
  stoppedAt: iso(r.stopped_at),
});
export const jobsOfWorkflow = async (db: Knex, workflowId: string): Promise<JobRow[]> =>
  (
    (await db(workflow_jobs)
      .where({ workflow_id: workflowId })
      .orderBy([{ column: 'job_number' }, { column: 'name' }])) as Array<Record<string, unknown>>
  ).map(toJob);
export const jobById = async (db: Knex, id: string): Promise<JobRow | undefined> => {
  const r = await db(workflow_jobs).where({ id }).first();
  return r ? toJob(r) : undefined;
};
export const jobByNumber = async (db: Knex, projectSlug: string, jobNumber: number): Promise<JobRow | undefined> => {
  const r = await db(workflow_jobs).whereRaw('lower(project_slug) = lower(?)', [projectSlug]).where({ job_number: jobNumber }).first();
  return r ? toJob(r) : undefined;
};

/** Where the pipelines of a list come from: one project, or every project of an owner (`gh/acme`); with `actor`, only those its login triggered. */
export interface PipelineFilter {
  readonly projectId?: string;
  readonly ownerSlug?: string;
  readonly actor?: string;
}
/** Pipelines newest first across projects; the cursor is the last one's `created_at|id`. */
export const pipelinesFeed = async (
  db: Knex,
  filter: PipelineFilter,
  first: number,
  after?: { createdAt: string; id: string },
): Promise<{ pipelines: PipelineRow[]; hasNextPage: boolean }> => {
  // by the millisecond the cursor holds (the column keeps microseconds), so that no pipeline falls between two pages
  const at = `date_trunc('milliseconds', created_at)`;
  const q = db(pipelines)
    .orderByRaw(`${at} desc, id desc`)
    .limit(first + 1);
  if (filter.projectId) q.where({ project_id: filter.projectId });
  if (filter.ownerSlug) q.whereRaw(`lower(project_slug) like ? escape '\\'`, [`${filter.ownerSlug.toLowerCase().replace(/[\\%_]/g, '\\$&')}/%`]);
  if (filter.actor) q.whereRaw(`lower(trigger->'actor'->>'login') = lower(?)`, [filter.actor]);
  if (after) q.whereRaw(`(${at}, id) < (?::timestamptz, ?)`, [after.createdAt, after.id]);
  const rows = (await q) as Array<Record<string, unknown>>;
  return { pipelines: rows.slice(0, first).map(toPipeline), hasNextPage: rows.length > first };
};

/** A workflow's jobs a page at a time, in the order `jobsOfWorkflow` gives; the cursor is how many came before. */
export const jobsOfWorkflowPage = async (db: Knex, workflowId: string, first: number, offset = 0): Promise<{ jobs: JobRow[]; hasNextPage: boolean }> => {
  const rows = (await db(workflow_jobs)
    .where({ workflow_id: workflowId })
    .orderBy([{ column: 'job_number' }, { column: 'name' }])
    .offset(offset)
    .limit(first + 1)) as Array<Record<string, unknown>>;
  return { jobs: rows.slice(0, first).map(toJob), hasNextPage: rows.length > first };
};

/** Workflows not yet ended of the project's pipelines on a branch numbered before `before` (auto-cancel's candidates): reruns are not, someone asked for them. */
export const liveWorkflowsOfBranch = async (db: Knex, projectId: string, branch: string, before: number): Promise<WorkflowRow[]> =>
  (
    (await db(`${workflows} as w`)
      .join(`${pipelines} as p`, 'p.id', 'w.pipeline_id')
      .where('p.project_id', projectId)
      .whereRaw(`p.vcs->>'branch' = ?`, [branch])
      .where('p.number', '<', before)
      .whereNull('w.stopped_at')
      .whereNull('w.rerun_of')
      .orderBy('w.created_at')
      .select('w.*')) as Array<Record<string, unknown>>
  ).map(toWorkflow);

/** Workflows not yet ended of the project's pipelines that built pull request `number`. */
export const liveWorkflowsOfPullRequest = async (db: Knex, projectId: string, number: number): Promise<WorkflowRow[]> =>
  (
    (await db(`${workflows} as w`)
      .join(`${pipelines} as p`, 'p.id', 'w.pipeline_id')
      .where('p.project_id', projectId)
      .whereRaw(`(p.vcs->'pullRequest'->>'number')::int = ?`, [number])
      .whereNull('w.stopped_at')
      .orderBy('w.created_at')
      .select('w.*')) as Array<Record<string, unknown>>
  ).map(toWorkflow);

/** Whether the project has a pipeline on the branch numbered after `after`: the newest such, if any. */
export const newerPipelineOfBranch = async (db: Knex, projectId: string, branch: string, after: number): Promise<PipelineRow | undefined> => {
  const r = await db(pipelines)
    .where({ project_id: projectId })
    .whereRaw(`vcs->>'branch' = ?`, [branch])
    .where('number', '>', after)
    .orderBy('number', 'desc')
    .first();
  return r ? toPipeline(r) : undefined;
};
