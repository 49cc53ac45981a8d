import type { Knex } from 'knex';
import { filesProjection } from './files.ts';
import { pipelinesProjection } from './pipelines.ts';
import { isoTime } from './projection.ts';

/**
 * Insights: queries over the pipelines read model (workflows and jobs with their times) and the files
 * read model (which jobs stored test results). No tables of their own; every query is bounded by a
 * project, a time window and a page.
 */
const { pipelines, workflows, workflow_jobs } = pipelinesProjection.tables;
const { job_tests } = filesProjection.tables;

export interface InsightsScope {
  readonly projectId: string;
  /** null: every branch. */
  readonly branch: string | null;
  readonly start: string;
  readonly end: string;
}

export interface DurationMetrics {
  readonly min: number;
  readonly mean: number;
  readonly median: number;
  readonly p95: number;
  readonly max: number;
  readonly standard_deviation: number;
}
export interface RunMetrics {
  readonly name: string;
  readonly totalRuns: number;
  readonly successfulRuns: number;
  readonly failedRuns: number;
  /** Of successful runs, in seconds (zeros when none succeeded). */
  readonly durations: DurationMetrics;
}
export interface WorkflowMetrics extends RunMetrics {
  /** Mean seconds from the first failure of a streak to the success that ended it. */
  readonly mttr: number;
  readonly totalRecoveries: number;
}

/** Workflow statuses of runs that ended, and those that count as failed. */
const endedWorkflow = ['success', 'failed', 'error', 'canceled', 'unauthorized'];
const failedWorkflow = ['failed', 'error'];
const endedJob = ['success', 'failed', 'infrastructure_fail', 'timedout', 'canceled', 'unauthorized'];
const failedJob = ['failed', 'infrastructure_fail', 'timedout'];

const inList = (xs: string[]) => xs.map((x) => `'${x}'`).join(', ');
const durationColumns = `
  coalesce(min(duration) filter (where status = 'success'), 0) as d_min,
  coalesce(avg(duration) filter (where status = 'success'), 0) as d_mean,
  coalesce(percentile_cont(0.5) within group (order by duration) filter (where status = 'success'), 0) as d_median,
  coalesce(percentile_cont(0.95) within group (order by duration) filter (where status = 'success'), 0) as d_p95,
  coalesce(max(duration) filter (where status = 'success'), 0) as d_max,
  coalesce(stddev_samp(duration) filter (where status = 'success'), 0) as d_stddev`;

const toMetrics = (r: Record<string, unknown>): RunMetrics => ({
  name: r.name as string,
  totalRuns: Number(r.total_runs),
  successfulRuns: Number(r.successful_runs),
  failedRuns: Number(r.failed_runs),
  durations: {
    min: Math.round(Number(r.d_min)),
    mean: Math.round(Number(r.d_mean)),
    median: Math.round(Number(r.d_median)),
    p95: Math.round(Number(r.d_p95)),
    max: Math.round(Number(r.d_max)),
    standard_deviation: Number(Number(r.d_stddev).toFixed(3)),
  },
});

const branchFilter = (scope: InsightsScope) =>
  scope.branch === null ? { sql: '', bindings: [] as string[] } : { sql: `and p.vcs->>'branch' = ?`, bindings: [scope.branch] };

/** Per workflow name (after `after`, by name), metrics over its runs that ended in the window. */
export const workflowMetrics = async (
  db: Knex,
  scope: InsightsScope,
  page: { after?: string | undefined; limit: number },
): Promise<{ items: WorkflowMetrics[]; hasNextPage: boolean }> => {
  const b = branchFilter(scope);
  const rows = (await db.raw(
    `with runs as (
       select w.name, w.status, w.stopped_at, extract(epoch from (w.stopped_at - w.created_at)) as duration
       from ${workflows} w join ${pipelines} p on p.id = w.pipeline_id
       where p.project_id = ? and w.stopped_at is not null and w.status in (${inList(endedWorkflow)})
         and w.created_at >= ?::timestamptz and w.created_at < ?::timestamptz ${b.sql} and w.name > ?
     ),
     names as (select distinct name from runs order by name limit ?),
     marked as (
       select r.*, count(*) filter (where status = 'success') over (partition by name order by stopped_at rows unbounded preceding) as streak
       from runs r where name in (select name from names)
     ),
     failures as (select name, streak, min(stopped_at) as first_failed from marked where status in (${inList(failedWorkflow)}) group by name, streak),
     recoveries as (
       select f.name, extract(epoch from (m.stopped_at - f.first_failed)) as ttr
       from failures f join marked m on m.name = f.name and m.status = 'success' and m.streak = f.streak + 1
     )
     select m.name, count(*) as total_runs, count(*) filter (where status = 'success') as successful_runs,
       count(*) filter (where status in (${inList(failedWorkflow)})) as failed_runs, ${durationColumns},
       (select count(*) from recoveries r where r.name = m.name) as total_recoveries,
       (select coalesce(avg(ttr), 0) from recoveries r where r.name = m.name) as mttr
     from marked m group by m.name order by m.name`,
    [scope.projectId, scope.start, scope.end, ...b.bindings, page.after ?? '', page.limit + 1],
  )) as { rows: Array<Record<string, unknown>> };
  return {
    items: rows.rows.slice(0, page.limit).map((r) => ({ ...toMetrics(r), totalRecoveries: Number(r.total_recoveries), mttr: Math.round(Number(r.mttr)) })),
    hasNextPage: rows.rows.length > page.limit,
  };
};

/** Per job name of a workflow (after `after`, by name), metrics over its runs that ended, in workflows created in the window. */
export const jobMetrics = async (
  db: Knex,
  scope: InsightsScope,
  workflowName: string,
  page: { after?: string | undefined; limit: number },
): Promise<{ items: RunMetrics[]; hasNextPage: boolean }> => {
  const b = branchFilter(scope);
  const rows = (await db.raw(
    `with runs as (
       select j.name, j.status, extract(epoch from (j.stopped_at - j.started_at)) as duration
       from ${workflow_jobs} j join ${workflows} w on w.id = j.workflow_id join ${pipelines} p on p.id = w.pipeline_id
       where p.project_id = ? and w.name = ? and j.type = 'build' and j.stopped_at is not null and j.started_at is not null and j.status in (${inList(endedJob)})
         and w.created_at >= ?::timestamptz and w.created_at < ?::timestamptz ${b.sql} and j.name > ?
     )
     select name, count(*) as total_runs, count(*) filter (where status = 'success') as successful_runs,
       count(*) filter (where status in (${inList(failedJob)})) as failed_runs, ${durationColumns}
     from runs group by name order by name limit ?`,
    [scope.projectId, workflowName, scope.start, scope.end, ...b.bindings, page.after ?? '', page.limit + 1],
  )) as { rows: Array<Record<string, unknown>> };
  return { items: rows.rows.slice(0, page.limit).map(toMetrics), hasNextPage: rows.rows.length > page.limit };
};

export interface WorkflowRunRow {
  readonly id: string;
  readonly branch: string | null;
  /** Seconds from created to stopped. */
  readonly duration: number;
  readonly createdAt: string;
  readonly stoppedAt: string;
  readonly status: string;
  /** Whether the workflow has an approval job. */
  readonly isApproval: boolean;
}
/** A workflow's runs that ended, created between start and end, newest first after the cursor (`created_at|id`). */
export const workflowRuns = async (
  db: Knex,
  scope: InsightsScope,
  workflowName: string,
  page: { after?: { createdAt: string; id: string } | undefined; limit: number },
): Promise<{ items: WorkflowRunRow[]; hasNextPage: boolean }> => {
  const at = `date_trunc('milliseconds', w.created_at)`;
  const q = db(`${workflows} as w`)
    .join(`${pipelines} as p`, 'p.id', 'w.pipeline_id')
    .where('p.project_id', scope.projectId)
    .andWhere('w.name', workflowName)
    .whereNotNull('w.stopped_at')
    .whereIn('w.status', endedWorkflow)
    .andWhere('w.created_at', '>=', scope.start)
    .andWhere('w.created_at', '<=', scope.end)
    .select('w.id', 'w.status', 'w.created_at', 'w.stopped_at', db.raw(`p.vcs->>'branch' as branch`))
    .select(db.raw(`exists (select 1 from ${workflow_jobs} j where j.workflow_id = w.id and j.type = 'approval') as is_approval`))
    .orderByRaw(`${at} desc, w.id desc`)
    .limit(page.limit + 1);
  if (scope.branch !== null) q.whereRaw(`p.vcs->>'branch' = ?`, [scope.branch]);
  if (page.after) q.whereRaw(`(${at}, w.id) < (?::timestamptz, ?)`, [page.after.createdAt, page.after.id]);
  const rows = (await q) as Array<Record<string, unknown>>;
  return {
    items: rows.slice(0, page.limit).map((r) => {
      const createdAt = isoTime(r.created_at);
      const stoppedAt = isoTime(r.stopped_at);
      return {
        id: r.id as string,
        branch: (r.branch as string | null) ?? null,
        duration: Math.round((Date.parse(stoppedAt) - Date.parse(createdAt)) / 1000),
        createdAt,
        stoppedAt,
        status: r.status as string,
        isApproval: Boolean(r.is_approval),
      };
    }),
    hasNextPage: rows.length > page.limit,
  };
};

export interface FlakyCandidateJob {
  readonly jobId: string;
  readonly objectKey: string;
  /** Tests in that report. */
  readonly total: number;
  readonly revision: string;
  readonly workflowId: string;
  readonly workflowName: string;
  readonly workflowCreatedAt: string;
  readonly pipelineNumber: number;
  readonly jobName: string;
  readonly jobNumber: number;
}
/**
 * The test reports of jobs that may hold flaky tests: on the latest `maxCommits` commits since `since`
 * where a job of a workflow reported a failed test, every report of jobs of that name on that commit.
 */
export const flakyCandidates = async (db: Knex, projectId: string, since: string, maxCommits: number): Promise<FlakyCandidateJob[]> => {
  const rows = (await db.raw(
    `with reports as (
       select t.job_id, t.object_key, t.passed + t.failed + t.skipped as total, t.failed, p.vcs->>'revision' as revision, w.id as workflow_id, w.name as workflow_name,
         w.created_at as workflow_created_at, w.pipeline_number, j.name as job_name, j.job_number, t.node_index, t.step_index
       from ${job_tests} t join ${workflow_jobs} j on j.id = t.job_id join ${workflows} w on w.id = j.workflow_id join ${pipelines} p on p.id = w.pipeline_id
       where p.project_id = ? and w.created_at >= ?::timestamptz
     ),
     suspects as (
       select revision, workflow_name, job_name, max(workflow_created_at) as latest from reports
       group by revision, workflow_name, job_name having sum(failed) > 0 order by latest desc limit ?
     )
     select r.* from reports r join suspects s using (revision, workflow_name, job_name)
     order by r.workflow_created_at, r.job_id, r.node_index, r.step_index`,
    [projectId, since, maxCommits],
  )) as { rows: Array<Record<string, unknown>> };
  return rows.rows.map((r) => ({
    jobId: r.job_id as string,
    objectKey: r.object_key as string,
    total: Number(r.total),
    revision: r.revision as string,
    workflowId: r.workflow_id as string,
    workflowName: r.workflow_name as string,
    workflowCreatedAt: isoTime(r.workflow_created_at),
    pipelineNumber: Number(r.pipeline_number),
    jobName: r.job_name as string,
    jobNumber: Number(r.job_number),
  }));
};
