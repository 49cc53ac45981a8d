import type { Knex } from 'knex';
import type { AgentEvent } from '../domain/agents/agent.ts';
import type { AgentInfo } from '../domain/agents/protocol.ts';
import type { JobEvent } from '../domain/jobs/job.ts';
import { resourceClassKey, type JobSpec } from '../domain/jobs/job-spec.ts';
import type { QueuedTask } from '../domain/scheduling/placement.ts';
import { defineProjection, isoTime } from './projection.ts';

/** Jobs as they run: each job, its tasks (what the scheduler places), their steps, and the agents. */
export const jobsProjection = defineProjection({
  name: 'jobs',
  version: 1,
  handles: [{ prefix: 'job.' }, { exact: 'agent.register' }],
  tables: ['jobs', 'job_tasks', 'job_steps', 'agents'],
  async migrate(db, t) {
    await db.raw(`create table if not exists ${t.jobs} (
      job_id text primary key, workflow_id text not null, pipeline_id text not null, project_slug text not null, job_number int, name text not null,
      resource_class text not null, spec jsonb not null, status text not null, canceled boolean not null default false, reason text,
      queued_at timestamptz not null, started_at timestamptz, stopped_at timestamptz)`);
    await db.raw(`create index if not exists ${t.jobs}_number on ${t.jobs} (lower(project_slug), job_number)`);
    await db.raw(`create table if not exists ${t.job_tasks} (
      job_id text not null, task_index int not null, resource_class text not null, cpus real not null, memory_mb int not null, timeout_ms bigint not null,
      status text not null, agent_id text, agent_name text, cancel_requested boolean not null default false, reason text,
      queued_at timestamptz not null, started_at timestamptz, stopped_at timestamptz, primary key (job_id, task_index))`);
    await db.raw(`create index if not exists ${t.job_tasks}_queue on ${t.job_tasks} (resource_class, queued_at, job_id, task_index) where status = 'queued'`);
    // an agent serving several classes reads their queues merged, oldest first
    await db.raw(`create index if not exists ${t.job_tasks}_queued on ${t.job_tasks} (queued_at, job_id, task_index) where status = 'queued'`);
    await db.raw(`create index if not exists ${t.job_tasks}_running on ${t.job_tasks} (agent_id) where status = 'running'`);
    await db.raw(`create table if not exists ${t.job_steps} (
      job_id text not null, task_index int not null, step_index int not null, name text not null, status text not null, exit_code int, reason text,
      background boolean not null, output_bytes bigint not null default 0, truncated boolean not null default false,
      started_at timestamptz not null, stopped_at timestamptz, primary key (job_id, task_index, step_index))`);
    await db.raw(`create table if not exists ${t.agents} (
      agent_id text primary key, name text not null, resource_classes jsonb not null, info jsonb not null, registered_at timestamptz not null)`);
  },
  async apply(events, trx, t) {
    for (const recorded of events) {
      if (!recorded.metadata.success) continue;
      const at = recorded.occurredAt;
      const e = recorded as unknown as JobEvent | AgentEvent;
      switch (e.type) {
        case 'agent.register':
          await trx(t.agents)
            .insert({
              agent_id: e.data.agentId,
              name: e.data.info.name,
              resource_classes: JSON.stringify(e.data.resourceClasses),
              info: JSON.stringify(e.data.info),
              registered_at: at,
            })
            .onConflict('agent_id')
            .merge();
          break;
        case 'job.queue': {
          const s = e.data.spec;
          const rc = resourceClassKey(s.resourceClass);
          await trx(t.jobs).insert({
            job_id: s.jobId,
            workflow_id: s.workflowId,
            pipeline_id: s.pipelineId,
            project_slug: s.projectSlug,
            job_number: s.jobNumber,
            name: s.name,
            resource_class: rc,
            spec: JSON.stringify(s),
            status: 'queued',
            queued_at: at,
          });
          const tasks = Array.from({ length: s.parallelism }, (_, i) => ({
            job_id: s.jobId,
            task_index: i,
            resource_class: rc,
            cpus: s.resourceClass.cpus,
            memory_mb: s.resourceClass.memoryMb,
            timeout_ms: s.timeoutMs,
            status: 'queued',
            queued_at: at,
          }));
          await trx(t.job_tasks).insert(tasks);
          break;
        }
        case 'job.task.claim':
          await trx(t.job_tasks)
            .where({ job_id: e.data.jobId, task_index: e.data.taskIndex })
            .update({ status: 'running', agent_id: e.data.agent.id, agent_name: e.data.agent.name, started_at: at });
          await trx(t.jobs).where({ job_id: e.data.jobId }).whereNull('started_at').update({ started_at: at, status: 'running' });
          break;
        case 'job.step.start': {
          const job = await trx(t.jobs).where({ job_id: e.data.jobId }).first('spec');
          const spec = json(job?.spec) as JobSpec | undefined;
          const step = spec?.steps[e.data.stepIndex - 1];
          await trx(t.job_steps)
            .insert({
              job_id: e.data.jobId,
              task_index: e.data.taskIndex,
              step_index: e.data.stepIndex,
              name: e.data.step,
              status: 'running',
              background: step?.type === 'run' && step.background,
              started_at: at,
            })
            .onConflict(['job_id', 'task_index', 'step_index'])
            .ignore();
          break;
        }
        case 'job.step.finish':
          await trx(t.job_steps).where({ job_id: e.data.jobId, task_index: e.data.taskIndex, step_index: e.data.stepIndex }).update({
            status: e.data.status,
            exit_code: e.data.exitCode,
            reason: e.data.reason,
            output_bytes: e.data.outputBytes,
            truncated: e.data.truncated,
            stopped_at: at,
          });
          break;
        case 'job.task.finish':
          await trx(t.job_tasks)
            .where({ job_id: e.data.jobId, task_index: e.data.taskIndex })
            .update({ status: e.data.status, reason: e.data.reason, stopped_at: at });
          // steps a lost agent never ended end with their task
          await trx(t.job_steps)
            .where({ job_id: e.data.jobId, task_index: e.data.taskIndex, status: 'running' })
            .update({ status: e.data.status === 'success' ? 'success' : 'canceled', stopped_at: at });
          break;
        case 'job.cancel':
          await trx(t.jobs).where({ job_id: e.data.jobId }).update({ canceled: true });
          await trx(t.job_tasks).where({ job_id: e.data.jobId }).update({ cancel_requested: true });
          break;
        case 'job.finish':
          await trx(t.jobs).where({ job_id: e.data.jobId }).update({ status: e.data.status, reason: e.data.reason, stopped_at: at });
          break;
      }
    }
  },
});

const { jobs, job_tasks, job_steps, agents } = jobsProjection.tables;
const json = (v: unknown) => (typeof v === 'string' ? JSON.parse(v) : v);
const iso = (v: unknown) => (v ? isoTime(v) : null);

export interface JobRunRow {
  readonly jobId: string;
  readonly workflowId: string;
  readonly pipelineId: string;
  readonly projectSlug: string;
  readonly jobNumber: number | null;
  readonly name: string;
  readonly resourceClass: string;
  readonly spec: JobSpec;
  readonly status: string;
  readonly canceled: boolean;
  readonly reason: string | null;
  readonly queuedAt: string;
  readonly startedAt: string | null;
  readonly stoppedAt: string | null;
}
const toJob = (r: Record<string, unknown>): JobRunRow => ({
  jobId: r.job_id as string,
  workflowId: r.workflow_id as string,
  pipelineId: r.pipeline_id as string,
  projectSlug: r.project_slug as string,
  jobNumber: r.job_number === null ? null : Number(r.job_number),
  name: r.name as string,
  resourceClass: r.resource_class as string,
  spec: json(r.spec) as JobSpec,
  status: r.status as string,
  canceled: Boolean(r.canceled),
  reason: (r.reason as string | null) ?? null,
  queuedAt: iso(r.queued_at)!,
  startedAt: iso(r.started_at),
  stoppedAt: iso(r.stopped_at),
});
export const jobRunById = async (db: Knex, jobId: string): Promise<JobRunRow | undefined> => {
  const r = await db(jobs).where({ job_id: jobId }).first();
  return r ? toJob(r) : undefined;
};
export const jobRunByNumber = async (db: Knex, projectSlug: string, jobNumber: number): Promise<JobRunRow | undefined> => {
  const r = await db(jobs).whereRaw('lower(project_slug) = lower(?)', [projectSlug]).where({ job_number: jobNumber }).first();
  return r ? toJob(r) : undefined;
};

export interface TaskRow {
  readonly jobId: string;
  readonly taskIndex: number;
  readonly resourceClass: string;
  readonly status: string;
  readonly agentId: string | null;
  readonly agentName: string | null;
  readonly cancelRequested: boolean;
  readonly reason: string | null;
  readonly timeoutMs: number;
  readonly queuedAt: string;
  readonly startedAt: string | null;
  readonly stoppedAt: string | null;
}
const toTask = (r: Record<string, unknown>): TaskRow => ({
  jobId: r.job_id as string,
  taskIndex: Number(r.task_index),
  resourceClass: r.resource_class as string,
  status: r.status as string,
  agentId: (r.agent_id as string | null) ?? null,
  agentName: (r.agent_name as string | null) ?? null,
  cancelRequested: Boolean(r.cancel_requested),
  reason: (r.reason as string | null) ?? null,
  timeoutMs: Number(r.timeout_ms),
  queuedAt: iso(r.queued_at)!,
  startedAt: iso(r.started_at),
  stoppedAt: iso(r.stopped_at),
});
export const tasksOfJob = async (db: Knex, jobId: string): Promise<TaskRow[]> =>
  ((await db(job_tasks).where({ job_id: jobId }).orderBy('task_index')) as Array<Record<string, unknown>>).map(toTask);
export const taskByRef = async (db: Knex, jobId: string, taskIndex: number): Promise<TaskRow | undefined> => {
  const r = await db(job_tasks).where({ job_id: jobId, task_index: taskIndex }).first();
  return r ? toTask(r) : undefined;
};
/** Tasks running on an agent, with the size each takes. */
export const runningOnAgent = async (db: Knex, agentId: string): Promise<Array<TaskRow & { cpus: number; memoryMb: number }>> =>
  ((await db(job_tasks).where({ agent_id: agentId, status: 'running' })) as Array<Record<string, unknown>>).map((r) => ({
    ...toTask(r),
    cpus: Number(r.cpus),
    memoryMb: Number(r.memory_mb),
  }));
/** Every running task, for the lease keeper. */
export const runningTasks = async (db: Knex): Promise<TaskRow[]> =>
  ((await db(job_tasks).where({ status: 'running' })) as Array<Record<string, unknown>>).map(toTask);

/** The queues of some resource classes, oldest first. */
/** The tasks waiting in these classes' queues, oldest first; or only the one task `only`, if it waits. */
/** The resource classes with a task waiting. */
export const queuedClasses = async (db: Knex): Promise<string[]> =>
  (await db(job_tasks).where({ status: 'queued' }).distinct('resource_class').pluck('resource_class')) as string[];
export const queuedTasks = async (
  db: Knex,
  resourceClasses: ReadonlyArray<string>,
  limit: number,
  only?: { jobId: string; taskIndex: number },
): Promise<QueuedTask[]> => {
  if (resourceClasses.length === 0) return [];
  const rows = (await db(job_tasks)
    .where({ status: 'queued', ...(only ? { job_id: only.jobId, task_index: only.taskIndex } : {}) })
    .whereIn('resource_class', [...resourceClasses])
    .orderBy([{ column: 'queued_at' }, { column: 'job_id' }, { column: 'task_index' }])
    .limit(limit)) as Array<Record<string, unknown>>;
  return rows.map((r) => ({
    jobId: r.job_id as string,
    taskIndex: Number(r.task_index),
    resourceClass: r.resource_class as string,
    size: { cpus: Number(r.cpus), memoryMb: Number(r.memory_mb) },
    queuedAt: iso(r.queued_at)!,
  }));
};

/** The jobs with a task waiting, longest waiting first (by their oldest waiting task). */
export const queuedJobIds = async (db: Knex, limit: number): Promise<string[]> => {
  const rows = (await db(job_tasks)
    .where({ status: 'queued' })
    .select('job_id')
    .min('queued_at as since')
    .groupBy('job_id')
    .orderBy([{ column: 'since' }, { column: 'job_id' }])
    .limit(limit)) as Array<{ job_id: string }>;
  return rows.map((r) => r.job_id);
};

/** Queued and running tasks per resource class. */
export const taskCounts = async (db: Knex): Promise<Array<{ resourceClass: string; queued: number; running: number }>> => {
  const rows = (await db(job_tasks)
    .whereIn('status', ['queued', 'running'])
    .select('resource_class', 'status')
    .count('* as n')
    .groupBy('resource_class', 'status')) as Array<{ resource_class: string; status: string; n: string | number }>;
  const by = new Map<string, { resourceClass: string; queued: number; running: number }>();
  for (const r of rows) {
    const c = by.get(r.resource_class) ?? { resourceClass: r.resource_class, queued: 0, running: 0 };
    if (r.status === 'queued') c.queued = Number(r.n);
    else c.running = Number(r.n);
    by.set(r.resource_class, c);
  }
  return [...by.values()].sort((a, b) => a.resourceClass.localeCompare(b.resourceClass));
};

export interface StepRow {
  readonly jobId: string;
  readonly taskIndex: number;
  readonly stepIndex: number;
  readonly name: string;
  readonly status: string;
  readonly exitCode: number | null;
  readonly reason: string | null;
  readonly background: boolean;
  readonly outputBytes: number;
  readonly truncated: boolean;
  readonly startedAt: string;
  readonly stoppedAt: string | null;
}
export const stepsOfJob = async (db: Knex, jobId: string): Promise<StepRow[]> =>
  (
    (await db(job_steps)
      .where({ job_id: jobId })
      .orderBy([{ column: 'step_index' }, { column: 'task_index' }])) as Array<Record<string, unknown>>
  ).map((r) => ({
    jobId: r.job_id as string,
    taskIndex: Number(r.task_index),
    stepIndex: Number(r.step_index),
    name: r.name as string,
    status: r.status as string,
    exitCode: r.exit_code === null ? null : Number(r.exit_code),
    reason: (r.reason as string | null) ?? null,
    background: Boolean(r.background),
    outputBytes: Number(r.output_bytes),
    truncated: Boolean(r.truncated),
    startedAt: iso(r.started_at)!,
    stoppedAt: iso(r.stopped_at),
  }));

export interface AgentRow {
  readonly agentId: string;
  readonly name: string;
  readonly resourceClasses: string[];
  readonly info: AgentInfo;
  readonly registeredAt: string;
}
const toAgent = (r: Record<string, unknown>): AgentRow => ({
  agentId: r.agent_id as string,
  name: r.name as string,
  resourceClasses: json(r.resource_classes),
  info: json(r.info),
  registeredAt: iso(r.registered_at)!,
});
export const agentById = async (db: Knex, agentId: string): Promise<AgentRow | undefined> => {
  const r = await db(agents).where({ agent_id: agentId }).first();
  return r ? toAgent(r) : undefined;
};
export const allAgents = async (db: Knex): Promise<AgentRow[]> => ((await db(agents).orderBy('name')) as Array<Record<string, unknown>>).map(toAgent);

/** A running task with the size it takes and its job's name: what an agent is busy with. */
export interface RunningTaskLoad extends TaskRow {
  readonly jobName: string;
  readonly cpus: number;
  readonly memoryMb: number;
}
/** Every running task, with its size and job name (agents' load, resource classes' room). */
export const runningTaskLoads = async (db: Knex): Promise<RunningTaskLoad[]> =>
  (
    (await db(`${job_tasks} as t`)
      .join(`${jobs} as j`, 'j.job_id', 't.job_id')
      .where('t.status', 'running')
      .orderBy([{ column: 't.started_at' }, { column: 't.job_id' }, { column: 't.task_index' }])
      .select('t.*', 'j.name as job_name')) as Array<Record<string, unknown>>
  ).map((r) => ({ ...toTask(r), jobName: r.job_name as string, cpus: Number(r.cpus), memoryMb: Number(r.memory_mb) }));

/** How long tasks of one resource class waited, queued to claimed: cumulative counts at each bound (seconds). */
export interface QueueWaits {
  readonly resourceClass: string;
  readonly count: number;
  readonly sumSeconds: number;
  /** Tasks that waited at most `buckets[i]` seconds. */
  readonly atMost: number[];
}
/**
 * Every task ever claimed, by how long it waited, counted in SQL from its row (queued_at, started_at):
 * a task is counted once, however often this is asked or the server restarts.
 */
export const queueWaits = async (db: Knex, buckets: ReadonlyArray<number>): Promise<QueueWaits[]> => {
  const wait = 'extract(epoch from (started_at - queued_at))';
  const rows = (await db(job_tasks)
    .whereNotNull('started_at')
    .groupBy('resource_class')
    .orderBy('resource_class')
    .select(
      'resource_class',
      db.raw('count(*) as n'),
      db.raw(`coalesce(sum(greatest(${wait}, 0)), 0) as total`),
      ...buckets.map((b, i) => db.raw(`count(*) filter (where ${wait} <= ?) as b${i}`, [b])),
    )) as Array<Record<string, string | number>>;
  return rows.map((r) => ({
    resourceClass: String(r.resource_class),
    count: Number(r.n),
    sumSeconds: Number(r.total),
    atMost: buckets.map((_, i) => Number(r[`b${i}`])),
  }));
};
