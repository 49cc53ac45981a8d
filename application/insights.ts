import type { Readable } from 'node:stream';
import type { ObjectStore } from '../adapters/objectstore/port.ts';
import { NotFoundError, ValidationError } from '../domain/errors.ts';
import { objectKeys, testsPerChunk } from '../domain/files/keys.ts';
import type { TestResult } from '../domain/files/test-results.ts';
import { flakyCandidates, jobMetrics, workflowMetrics, workflowRuns, type RunMetrics, type InsightsScope } from '../projections/insights.ts';
import type { ProjectRow } from '../projections/projects.ts';
import type { Reads } from './dependencies.ts';
import { isCalendarDate } from '../domain/calendar.ts';

/**
 * CircleCI's Insights over what Gyre ran: workflow and job metrics over a reporting window, a
 * workflow's recent runs, and flaky tests (a test that both failed and passed on the same commit, in
 * jobs of the same name). Gyre has no credits: every credit count is 0.
 */

export const reportingWindows = { 'last-24-hours': 1, 'last-7-days': 7, 'last-30-days': 30, 'last-60-days': 60, 'last-90-days': 90 } as const;
export type ReportingWindow = keyof typeof reportingWindows;
const dayMs = 86_400_000;
/** How far back a workflow's runs go, as with CircleCI. */
export const maxRunsSpanDays = 90;
/** How far back flaky tests are looked for, as with CircleCI's Insights. */
export const flakyWindowDays = 14;
/** Bounds of the flaky-test search: commits looked at, and tests read from the object store. */
const maxFlakyCommits = 50;
const maxFlakyTestsRead = 500_000;

export interface InsightsQuery {
  readonly branch?: string | undefined;
  readonly 'all-branches'?: string | undefined;
  readonly 'reporting-window'?: string | undefined;
  readonly 'start-date'?: string | undefined;
  readonly 'end-date'?: string | undefined;
}

const flag = (v: string | undefined, name: string) => {
  if (v === undefined || v === 'false') return false;
  if (v === 'true') return true;
  throw new ValidationError(`${name} is true or false`);
};

/** The branch asked for: `branch`, every branch with `all-branches=true`, else the project's default branch (as CircleCI). */
const branchOf = (project: ProjectRow, q: InsightsQuery): string | null => {
  const all = flag(q['all-branches'], 'all-branches');
  if (q.branch !== undefined) {
    if (all) throw new ValidationError('give either branch or all-branches=true, not both');
    if (!q.branch || q.branch.length > 255) throw new ValidationError('branch is a branch name (1 to 255 characters)');
    return q.branch;
  }
  return all ? null : project.settings.defaultBranch;
};

const windowOf = (q: InsightsQuery, now: Date): { start: Date; end: Date; days: number } => {
  const name = q['reporting-window'] ?? 'last-90-days';
  if (!(name in reportingWindows))
    throw new ValidationError(`reporting-window is one of ${Object.keys(reportingWindows).join(', ')} (not ${JSON.stringify(name)})`);
  const days = reportingWindows[name as ReportingWindow];
  return { start: new Date(now.getTime() - days * dayMs), end: now, days };
};

const scopeOf = (project: ProjectRow, q: InsightsQuery, now: Date): InsightsScope & { days: number } => {
  const w = windowOf(q, now);
  return { projectId: project.id, branch: branchOf(project, q), start: w.start.toISOString(), end: w.end.toISOString(), days: w.days };
};

const metricsJson = (m: RunMetrics, days: number) => ({
  total_runs: m.totalRuns,
  successful_runs: m.successfulRuns,
  failed_runs: m.failedRuns,
  success_rate: m.totalRuns ? m.successfulRuns / m.totalRuns : 0,
  total_credits_used: 0,
  duration_metrics: m.durations,
  throughput: m.totalRuns / days,
});

/** `GET /insights/{slug}/workflows`: per workflow name, its metrics over the window; paged by name. */
export const workflowsInsights = async (
  s: Reads,
  project: ProjectRow,
  q: InsightsQuery,
  page: { after?: string | undefined; limit: number },
  now = new Date(),
) => {
  const scope = scopeOf(project, q, now);
  const rows = await workflowMetrics(s.db, scope, page);
  return {
    items: rows.items.map((m) => ({
      name: m.name,
      metrics: { ...metricsJson(m, scope.days), mttr: m.mttr, total_recoveries: m.totalRecoveries },
      window_start: scope.start,
      window_end: scope.end,
      project_id: project.id,
    })),
    hasNextPage: rows.hasNextPage,
  };
};

/** `GET /insights/{slug}/workflows/{name}/jobs`: per job name of the workflow, its metrics over the window; paged by name. */
export const jobsInsights = async (
  s: Reads,
  project: ProjectRow,
  workflowName: string,
  q: InsightsQuery,
  page: { after?: string | undefined; limit: number },
  now = new Date(),
) => {
  const scope = scopeOf(project, q, now);
  const rows = await jobMetrics(s.db, scope, workflowName, page);
  return {
    items: rows.items.map((m) => ({ name: m.name, metrics: metricsJson(m, scope.days), window_start: scope.start, window_end: scope.end })),
    hasNextPage: rows.hasNextPage,
  };
};

const dateOf = (v: string | undefined, name: string): Date | undefined => {
  if (v === undefined) return undefined;
  const d = /^\d{4}-\d\d-\d\d(T[\d:.]+(Z|[+-]\d\d:?\d\d)?)?$/.test(v) ? new Date(v) : new Date(NaN);
  if (Number.isNaN(d.getTime()) || !isCalendarDate(v))
    throw new ValidationError(`${name} is an ISO 8601 date-time (2024-01-31T00:00:00Z), not ${JSON.stringify(v)}`);
  return d;
};

/** `GET /insights/{slug}/workflows/{name}`: the workflow's ended runs, newest first, between start-date and end-date (at most 90 days apart). */
export const workflowRunsInsights = async (
  s: Reads,
  project: ProjectRow,
  workflowName: string,
  q: InsightsQuery,
  page: { after?: { createdAt: string; id: string } | undefined; limit: number },
  now = new Date(),
) => {
  const branch = branchOf(project, q);
  const end = dateOf(q['end-date'], 'end-date') ?? now;
  const start = dateOf(q['start-date'], 'start-date') ?? new Date(end.getTime() - maxRunsSpanDays * dayMs);
  if (start > end) throw new ValidationError('start-date is after end-date');
  if (end.getTime() - start.getTime() > maxRunsSpanDays * dayMs) throw new ValidationError(`start-date and end-date are at most ${maxRunsSpanDays} days apart`);
  const rows = await workflowRuns(s.db, { projectId: project.id, branch, start: start.toISOString(), end: end.toISOString() }, workflowName, page);
  return {
    items: rows.items.map((r) => ({
      id: r.id,
      branch: r.branch,
      duration: r.duration,
      created_at: r.createdAt,
      stopped_at: r.stoppedAt,
      credits_used: 0,
      status: r.status,
      is_approval: r.isApproval,
    })),
    hasNextPage: rows.hasNextPage,
    last: rows.items.at(-1),
  };
};

const readAll = async (body: Readable): Promise<string> => {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks).toString('utf8');
};

export interface FlakyTest {
  readonly time_wasted: number;
  readonly workflow_created_at: string;
  readonly workflow_id: string;
  readonly classname: string;
  readonly pipeline_number: number;
  readonly workflow_name: string;
  readonly test_name: string;
  readonly job_name: string;
  readonly job_number: number;
  readonly times_flaked: number;
  readonly source: string;
  readonly file: string;
}

/**
 * `GET /insights/{slug}/flaky-tests`: over the last 14 days, a test (classname, name, file) of a job
 * (workflow name, job name) that failed and passed on the same commit. `times_flaked` counts its
 * failures on such commits, `time_wasted` their run time in seconds; the workflow and job named are
 * those of its latest failure. Only commits where a job of that name both reported a failed test
 * and ran more than once are read (the 50 latest), from the stored test results.
 */
export const flakyTestsInsights = async (s: Reads & { readonly objects: ObjectStore }, project: ProjectRow, now = new Date()) => {
  const jobs = await flakyCandidates(s.db, project.id, new Date(now.getTime() - flakyWindowDays * dayMs).toISOString(), maxFlakyCommits);
  type Seen = { passed: boolean; failures: number; wasted: number; latest?: (typeof jobs)[number]; source: string; file: string };
  const tests = new Map<string, Seen>();
  let read = 0;
  reading: for (const job of jobs) {
    for (let chunk = 0; chunk * testsPerChunk < job.total; chunk++) {
      if ((read += testsPerChunk) > maxFlakyTestsRead) break reading;
      const got = await s.objects.get(objectKeys.testsChunk(job.objectKey, chunk));
      if (!got) throw new NotFoundError('test results are listed but their objects are gone from the store', 'TESTS_NOT_FOUND');
      for (const t of JSON.parse(await readAll(got.body)) as TestResult[]) {
        if (t.result === 'skipped') continue;
        const key = JSON.stringify([job.revision, job.workflowName, job.jobName, t.classname, t.name, t.file]);
        const seen = tests.get(key) ?? { passed: false, failures: 0, wasted: 0, source: t.source, file: t.file ?? '' };
        if (t.result === 'success') seen.passed = true;
        else {
          seen.failures++;
          seen.wasted += t.run_time;
          if (!seen.latest || seen.latest.workflowCreatedAt < job.workflowCreatedAt) seen.latest = job;
        }
        tests.set(key, seen);
      }
    }
  }
  // one entry per test over all commits where it flaked
  const flaky = new Map<string, FlakyTest>();
  for (const [key, seen] of tests) {
    if (!seen.passed || !seen.failures || !seen.latest) continue;
    const [, workflowName, jobName, classname, name, file] = JSON.parse(key) as [string, string, string, string, string, string | null];
    const id = JSON.stringify([workflowName, jobName, classname, name, file]);
    const before = flaky.get(id);
    const latest = !before || before.workflow_created_at < seen.latest.workflowCreatedAt ? seen.latest : undefined;
    flaky.set(id, {
      time_wasted: (before?.time_wasted ?? 0) + seen.wasted,
      times_flaked: (before?.times_flaked ?? 0) + seen.failures,
      workflow_created_at: latest?.workflowCreatedAt ?? before!.workflow_created_at,
      workflow_id: latest?.workflowId ?? before!.workflow_id,
      pipeline_number: latest?.pipelineNumber ?? before!.pipeline_number,
      job_number: latest?.jobNumber ?? before!.job_number,
      workflow_name: workflowName,
      job_name: jobName,
      classname,
      test_name: name,
      source: seen.source,
      file: seen.file,
    });
  }
  const items = [...flaky.values()].sort(
    (a, b) => b.times_flaked - a.times_flaked || a.classname.localeCompare(b.classname) || a.test_name.localeCompare(b.test_name),
  );
  return { flaky_tests: items, total_flaky_tests: items.length };
};
