import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { OutputStore } from '../../adapters/output/port.ts';
import { stepOutput } from '../../application/job-output.ts';
import { NotFoundError, ValidationError } from '../../domain/errors.ts';
import { circleStepNumber, stepIndexOf } from '../../domain/jobs/output.ts';
import { parseProjectSlug } from '../../domain/projects/slugs.ts';
import { jobRunByNumber, stepsOfJob, tasksOfJob, type JobRunRow, type StepRow } from '../../projections/jobs.ts';
import { jobByNumber, workflowById, type JobRow } from '../../projections/pipelines.ts';
import type { Knex } from 'knex';

/** CircleCI API v1.1's lifecycle, status and outcome of a job. */
const v1Status = (status: string) => {
  if (status === 'queued') return { lifecycle: 'queued', status: 'queued', outcome: null };
  if (status === 'running') return { lifecycle: 'running', status: 'running', outcome: null };
  if (status === 'blocked' || status === 'on_hold') return { lifecycle: 'not_running', status: 'not_running', outcome: null };
  if (status === 'not_run' || status === 'unauthorized') return { lifecycle: 'not_run', status: 'not_run', outcome: null };
  return { lifecycle: 'finished', status, outcome: status };
};
const millis = (from: string | null, to: string | null) => (from && to ? Date.parse(to) - Date.parse(from) : null);

export interface BuildsDeps {
  readonly db: Knex;
  readonly output: OutputStore;
  readonly publicUrl: string | undefined;
}

interface Found {
  readonly slug: string;
  readonly job: JobRow;
  readonly run: JobRunRow | undefined;
}

/**
 * CircleCI's older job reads, which tools that fetch logs still use: API v1.1's single job with its
 * steps and actions (one action per parallel task), each action's output as `output_url` answers it,
 * and the private raw output.
 */
export const registerCircleCiBuilds = (app: FastifyInstance, deps: BuildsDeps) => {
  const base = (req: FastifyRequest) => deps.publicUrl?.replace(/\/+$/, '') ?? `${req.protocol}://${req.host}`;
  const find = async (params: unknown): Promise<Found> => {
    const p = params as { vcs: string; org: string; repo: string; num: string };
    const slug = parseProjectSlug(`${p.vcs}/${p.org}/${p.repo}`).slug;
    if (!/^\d{1,9}$/.test(p.num)) throw new ValidationError('the job number is a whole number');
    const job = await jobByNumber(deps.db, slug, Number(p.num));
    if (!job) throw new NotFoundError('Build not found');
    return { slug, job, run: await jobRunByNumber(deps.db, slug, Number(p.num)) };
  };
  const stepOf = async (found: Found, taskIndex: string, step: string): Promise<StepRow | undefined> => {
    if (!found.run || !/^\d{1,6}$/.test(taskIndex) || !/^\d{1,6}$/.test(step)) return undefined;
    const index = stepIndexOf(Number(step));
    return (await stepsOfJob(deps.db, found.run.jobId)).find((s) => s.stepIndex === index && s.taskIndex === Number(taskIndex));
  };
  const outputOf = (found: Found, s: StepRow) => stepOutput(deps, { jobId: found.run!.jobId, taskIndex: s.taskIndex, stepIndex: s.stepIndex });

  app.get('/api/v1.1/project/:vcs/:org/:repo/:num', async (req) => {
    const found = await find(req.params);
    const { job, run } = found;
    const workflow = await workflowById(deps.db, job.workflowId);
    const steps = run ? await stepsOfJob(deps.db, run.jobId) : [];
    const tasks = run ? await tasksOfJob(deps.db, run.jobId) : [];
    const at = base(req);
    const byStep = new Map<number, StepRow[]>();
    for (const s of steps) byStep.set(s.stepIndex, [...(byStep.get(s.stepIndex) ?? []), s]);
    const [org, repo] = found.slug.split('/').slice(1);
    const status = run && !['queued', 'running'].includes(run.status) ? run.status : job.status;
    return {
      build_num: job.jobNumber,
      job_name: job.name,
      username: org,
      reponame: repo,
      build_url: `${at}/pipelines/${found.slug}/${workflow?.pipelineNumber ?? ''}/workflows/${job.workflowId}/jobs/${job.jobNumber}`,
      ...v1Status(status),
      failed: status === 'failed' ? true : null,
      canceled: status === 'canceled',
      infrastructure_fail: status === 'infrastructure_fail',
      timedout: status === 'timedout',
      queued_at: run?.queuedAt ?? null,
      start_time: run?.startedAt ?? job.startedAt,
      stop_time: run?.stoppedAt ?? job.stoppedAt,
      build_time_millis: millis(run?.startedAt ?? null, run?.stoppedAt ?? null),
      parallel: run?.spec.parallelism ?? 1,
      vcs_revision: run?.spec.vcs.revision ?? null,
      branch: run?.spec.vcs.branch ?? null,
      vcs_tag: run?.spec.vcs.tag ?? null,
      workflows: {
        job_name: job.name,
        job_id: job.id,
        workflow_id: job.workflowId,
        workspace_id: job.workflowId,
        workflow_name: workflow?.name ?? null,
        upstream_job_ids: job.dependencies,
      },
      steps: [...byStep.entries()].map(([index, actions]) => ({
        name: actions[0]!.name,
        actions: actions.map((s) => {
          const step = circleStepNumber(index);
          return {
            index: s.taskIndex,
            step,
            name: s.name,
            type: 'test',
            status: s.status,
            failed: s.status === 'failed' ? true : null,
            canceled: s.status === 'canceled' ? true : null,
            timedout: s.status === 'timedout' ? true : null,
            infrastructure_fail: tasks[s.taskIndex]?.status === 'infrastructure_fail' && s.status !== 'success' ? true : null,
            exit_code: s.exitCode,
            start_time: s.startedAt,
            end_time: s.stoppedAt,
            run_time_millis: millis(s.startedAt, s.stoppedAt),
            background: s.background,
            parallel: (run?.spec.parallelism ?? 1) > 1,
            insignificant: false,
            has_output: s.outputBytes > 0 || s.status === 'running',
            ...(s.outputBytes > 0 || s.status === 'running'
              ? { output_url: `${at}/api/v1.1/project/${found.slug}/${job.jobNumber}/output/${step}/${s.taskIndex}` }
              : {}),
          };
        }),
      })),
    };
  });

  app.get('/api/v1.1/project/:vcs/:org/:repo/:num/output/:step/:index', async (req) => {
    const found = await find(req.params);
    const p = req.params as { step: string; index: string };
    const s = await stepOf(found, p.index, p.step);
    if (!s) throw new NotFoundError('no such step in this job');
    const text = await outputOf(found, s);
    const out: Array<{ type: string; time: string; message: string }> = [];
    if (text) out.push({ type: 'out', time: s.stoppedAt ?? s.startedAt, message: text });
    return out;
  });

  const raw = (stream: 'output' | 'error') => async (req: FastifyRequest, reply: FastifyReply) => {
    const found = await find(req.params);
    const p = req.params as { task: string; step: string };
    const s = await stepOf(found, p.task, p.step);
    // stdout and stderr arrive interleaved, as written, so all of a step's output is its output
    const text = s && stream === 'output' ? await outputOf(found, s) : null;
    reply.header('x-terminal', String(Boolean(s?.stoppedAt)));
    if (!text) return reply.status(204).send();
    return reply.type('text/plain; charset=utf-8').send(text);
  };
  app.get('/api/private/output/raw/:vcs/:org/:repo/:num/output/:task/:step', raw('output'));
  app.get('/api/private/output/raw/:vcs/:org/:repo/:num/error/:task/:step', raw('error'));
};
