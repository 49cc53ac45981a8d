import { z } from 'zod';
import type { Access } from '../contexts/access.ts';
import { DomainError, ForbiddenError, NotFoundError } from '../errors.ts';
import { defineEvent, type EventOf } from '../events/registry.ts';
import { requireOrgMember, type Member } from '../organizations.ts';
import type { Decider } from '../decider.ts';
import { ownerSlugOf } from '../projects/slugs.ts';

/** One stream per workflow: its jobs move through CircleCI's statuses, decided against each other. */
export const workflowStream = (workflowId: string) => `workflow-${workflowId}`;
export const workflowTarget = (w: { workflowId: string; name: string }) => ({ id: w.workflowId, type: 'workflow', name: w.name });

export const JobStatus = z.enum([
  'blocked',
  'queued',
  'running',
  'on_hold',
  'success',
  'failed',
  'canceled',
  'not_run',
  'unauthorized',
  'infrastructure_fail',
  'timedout',
]);
export type JobStatus = z.infer<typeof JobStatus>;
/** What an agent (or whoever runs the job) may report as a job's end. */
export const JobResult = z.enum(['success', 'failed', 'infrastructure_fail', 'timedout', 'canceled']);
export type JobResult = z.infer<typeof JobResult>;
export const terminal: ReadonlySet<JobStatus> = new Set(['success', 'failed', 'canceled', 'not_run', 'unauthorized', 'infrastructure_fail', 'timedout']);
export type WorkflowStatus = 'running' | 'on_hold' | 'failing' | 'success' | 'failed' | 'canceled' | 'unauthorized' | 'not_run' | 'error';

const PlannedJob = z.object({
  jobId: z.string(),
  name: z.string(),
  type: z.enum(['build', 'approval']),
  requires: z.array(z.string()),
  context: z.array(z.string()),
  jobNumber: z.number().int().nullable(),
  /** A job carried over from the workflow a rerun from failed repeats. */
  status: z.enum(['blocked', 'success']),
  /** Why its contexts are refused to the pipeline's actor, or null. */
  unauthorized: z.string().nullable(),
  /** The login the job runs for: the pipeline's actor, or for jobs after an approval, the approver ('' in events before it was recorded). */
  runsFor: z.string().default(''),
});
export type PlannedWorkflowJob = z.infer<typeof PlannedJob>;

const ref = { workflowId: z.string(), pipelineId: z.string(), name: z.string() };
const job = { ...ref, jobId: z.string(), job: z.string() };
export const workflowStarted = defineEvent(
  'workflow.start',
  z.object({ ...ref, pipelineNumber: z.number().int(), projectSlug: z.string(), rerunOf: z.string().nullable(), jobs: z.array(PlannedJob) }),
  {
    publicFields: ['workflowId', 'pipelineId', 'name', 'pipelineNumber', 'projectSlug', 'rerunOf'],
  },
);
export const jobScheduled = defineEvent('workflow.job.scheduled', z.object({ ...job, jobNumber: z.number().int().nullable() }), {
  publicFields: ['workflowId', 'pipelineId', 'name', 'jobId', 'job', 'jobNumber'],
});
export const jobHeld = defineEvent('workflow.job.hold', z.object(job), { publicFields: ['workflowId', 'pipelineId', 'name', 'jobId', 'job'] });
/** `decisions`: what the contexts of the jobs after the approval say of the approver, who they now run for. */
const Decision = z.object({ jobId: z.string(), unauthorized: z.string().nullable() });
export const jobApproved = defineEvent('workflow.job.approve', z.object({ ...job, approvedBy: z.string(), decisions: z.array(Decision).default([]) }), {
  publicFields: ['workflowId', 'pipelineId', 'name', 'jobId', 'job', 'approvedBy', 'decisions'],
});
/** The agent that runs the job, when one was named. */
const Agent = z.object({ id: z.string(), name: z.string() });
export type Agent = z.infer<typeof Agent>;
export const jobStarted = defineEvent('workflow.job.start', z.object({ ...job, agent: Agent.nullable().default(null) }), {
  publicFields: ['workflowId', 'pipelineId', 'name', 'jobId', 'job', 'agent'],
});
export const jobFinished = defineEvent('workflow.job.finish', z.object({ ...job, status: JobStatus, reason: z.string().nullable() }), {
  publicFields: ['workflowId', 'pipelineId', 'name', 'jobId', 'job', 'status', 'reason'],
});
export const workflowCanceled = defineEvent('workflow.cancel', z.object(ref), { publicFields: ['workflowId', 'pipelineId', 'name'] });
export const workflowFinished = defineEvent('workflow.finish', z.object({ ...ref, status: z.string() }), {
  publicFields: ['workflowId', 'pipelineId', 'name', 'status'],
});
export const workflowEvents = [workflowStarted, jobScheduled, jobHeld, jobApproved, jobStarted, jobFinished, workflowCanceled, workflowFinished];

export type WorkflowEvent =
  | EventOf<typeof workflowStarted>
  | EventOf<typeof jobScheduled>
  | EventOf<typeof jobHeld>
  | EventOf<typeof jobApproved>
  | EventOf<typeof jobStarted>
  | EventOf<typeof jobFinished>
  | EventOf<typeof workflowCanceled>
  | EventOf<typeof workflowFinished>;

export type WorkflowCommand =
  | {
      type: 'start';
      workflowId: string;
      pipelineId: string;
      pipelineNumber: number;
      projectSlug: string;
      name: string;
      rerunOf: string | null;
      jobs: PlannedWorkflowJob[];
    }
  /**
   * `access`: what the approval job's contexts say of the approver; `decisions`: the same for each job
   * after the approval (mayUseContext, decided by the caller).
   */
  | { type: 'approve'; approvalRequestId: string; by: Member; access: Access; decisions: ReadonlyArray<{ jobId: string; unauthorized: string | null }> }
  | { type: 'startJob'; jobId: string; agent?: Agent | null }
  | { type: 'finishJob'; jobId: string; status: JobResult; reason?: string | null }
  /** `reason`: why, when Gyre cancels on its own (a newer build of the branch, a closed pull request). */
  | { type: 'cancel'; by: Member; reason?: string }
  /** One queued or running job, ended as canceled: the jobs that require it are not run, the others go on. */
  | { type: 'cancelJob'; jobId: string; by: Member };

export type WorkflowJob = Omit<PlannedWorkflowJob, 'status'> & { readonly status: JobStatus };
export interface Workflow {
  readonly workflowId: string;
  readonly pipelineId: string;
  readonly name: string;
  readonly projectSlug: string;
  readonly jobs: ReadonlyArray<WorkflowJob>;
  readonly canceled: boolean;
  readonly finished: WorkflowStatus | null;
}
export type WorkflowState = Workflow | null;

/** The status a finished workflow ends with. */
export const finalStatus = (jobs: ReadonlyArray<{ status: JobStatus }>, canceled: boolean): WorkflowStatus => {
  if (canceled) return 'canceled';
  if (jobs.some((j) => ['failed', 'infrastructure_fail', 'timedout'].includes(j.status))) return 'failed';
  // a job canceled on its own (the rest ran on) leaves the workflow canceled, as CircleCI shows it
  if (jobs.some((j) => j.status === 'canceled')) return 'canceled';
  if (jobs.some((j) => j.status === 'unauthorized')) return 'unauthorized';
  return jobs.every((j) => j.status === 'success') ? 'success' : 'not_run';
};
/** The status of a workflow while it runs. */
export const liveStatus = (jobs: ReadonlyArray<{ status: JobStatus }>): WorkflowStatus => {
  if (jobs.some((j) => j.status === 'failed' || j.status === 'infrastructure_fail' || j.status === 'timedout')) return 'failing';
  if (jobs.some((j) => j.status === 'on_hold') && !jobs.some((j) => j.status === 'queued' || j.status === 'running')) return 'on_hold';
  return 'running';
};

/** The status a job event leaves its job in; undefined for the workflow's own events. */
export const jobStatusAfter = (e: { type: string; data: unknown }): JobStatus | undefined => {
  const fixed: Record<string, JobStatus> = {
    'workflow.job.scheduled': 'queued',
    'workflow.job.hold': 'on_hold',
    'workflow.job.approve': 'success',
    'workflow.job.start': 'running',
  };
  return e.type === 'workflow.job.finish' ? (e.data as { status: JobStatus }).status : fixed[e.type];
};

const setStatus = (s: Workflow, jobId: string, status: JobStatus): Workflow => ({ ...s, jobs: s.jobs.map((j) => (j.jobId === jobId ? { ...j, status } : j)) });

const evolve = (s: WorkflowState, e: WorkflowEvent): WorkflowState => {
  if (e.type === 'workflow.start')
    return {
      workflowId: e.data.workflowId,
      pipelineId: e.data.pipelineId,
      name: e.data.name,
      projectSlug: e.data.projectSlug,
      jobs: e.data.jobs.map((j) => ({ ...j, runsFor: j.runsFor ?? '' })),
      canceled: false,
      finished: null,
    };
  if (!s) return s;
  switch (e.type) {
    case 'workflow.job.approve': {
      const decided = new Map((e.data.decisions ?? []).map((d) => [d.jobId, d.unauthorized]));
      const w = setStatus(s, e.data.jobId, 'success');
      return { ...w, jobs: w.jobs.map((j) => (decided.has(j.jobId) ? { ...j, unauthorized: decided.get(j.jobId)!, runsFor: e.data.approvedBy } : j)) };
    }
    case 'workflow.job.scheduled':
    case 'workflow.job.hold':
    case 'workflow.job.start':
    case 'workflow.job.finish':
      return setStatus(s, e.data.jobId, jobStatusAfter(e)!);
    case 'workflow.cancel':
      return { ...s, canceled: true };
    case 'workflow.finish':
      return { ...s, finished: e.data.status as WorkflowStatus };
  }
};

/**
 * Moves every job that can move: requirements all successful → queued (an approval: on_hold; refused
 * contexts: unauthorized); a requirement that ended otherwise → not_run. Then finishes the workflow
 * when every job has ended.
 */
const advance = (start: Workflow): WorkflowEvent[] => {
  const out: WorkflowEvent[] = [];
  let s = start;
  const ids = { workflowId: s.workflowId, pipelineId: s.pipelineId, name: s.name };
  for (let moved = true; moved; ) {
    moved = false;
    const byName = new Map(s.jobs.map((j) => [j.name, j]));
    for (const j of s.jobs) {
      if (j.status !== 'blocked') continue;
      const reqs = j.requires.map((r) => byName.get(r)).filter((r): r is WorkflowJob => r !== undefined);
      let e: WorkflowEvent | null = null;
      const base = { ...ids, jobId: j.jobId, job: j.name };
      if (reqs.some((r) => terminal.has(r.status) && r.status !== 'success'))
        e = { type: 'workflow.job.finish', data: { ...base, status: 'not_run', reason: 'a job it requires did not succeed' } };
      else if (reqs.every((r) => r.status === 'success')) {
        if (j.unauthorized) e = { type: 'workflow.job.finish', data: { ...base, status: 'unauthorized', reason: j.unauthorized } };
        else if (j.type === 'approval') e = { type: 'workflow.job.hold', data: base };
        else e = { type: 'workflow.job.scheduled', data: { ...base, jobNumber: j.jobNumber } };
      }
      if (e) {
        out.push(e);
        s = evolve(s, e) as Workflow;
        moved = true;
      }
    }
  }
  if (!s.finished && s.jobs.every((j) => terminal.has(j.status)))
    out.push({ type: 'workflow.finish', data: { ...ids, status: finalStatus(s.jobs, s.canceled) } });
  return out;
};

const live = (s: WorkflowState): Workflow => {
  if (!s) throw new NotFoundError('no such workflow', 'WORKFLOW_NOT_FOUND');
  return s;
};
const jobOf = (s: Workflow, jobId: string) => {
  const j = s.jobs.find((x) => x.jobId === jobId);
  if (!j) throw new NotFoundError(`workflow ${s.name} has no job with that id`, 'JOB_NOT_FOUND');
  return j;
};
const then = (s: Workflow, events: WorkflowEvent[]): WorkflowEvent[] => [...events, ...advance(events.reduce((x, e) => evolve(x, e) as Workflow, s))];

export const workflowDecider: Decider<WorkflowState, WorkflowCommand, WorkflowEvent> = {
  initialState: () => null,
  evolve,
  decide: (c, s) => {
    switch (c.type) {
      case 'start': {
        if (s) throw new DomainError('WORKFLOW_EXISTS', `workflow ${s.name} has already started`);
        const started: WorkflowEvent = {
          type: 'workflow.start',
          data: {
            workflowId: c.workflowId,
            pipelineId: c.pipelineId,
            pipelineNumber: c.pipelineNumber,
            projectSlug: c.projectSlug,
            name: c.name,
            rerunOf: c.rerunOf,
            jobs: c.jobs,
          },
        };
        return [started, ...advance(evolve(null, started) as Workflow)];
      }
      case 'approve': {
        const w = live(s);
        const j = jobOf(w, c.approvalRequestId);
        if (j.type !== 'approval') throw new DomainError('NOT_AN_APPROVAL', `${j.name} is not an approval job`);
        if (j.status !== 'on_hold') throw new DomainError('NOT_ON_HOLD', `${j.name} is ${j.status}, not on hold: only a held approval can be approved`);
        requireOrgMember(c.by, ownerSlugOf(w.projectSlug));
        if (!c.access.allowed) throw new ForbiddenError(`${c.access.reason}: only its groups' members may approve ${j.name}`, 'CONTEXT_RESTRICTED');
        return then(w, [
          {
            type: 'workflow.job.approve',
            data: {
              workflowId: w.workflowId,
              pipelineId: w.pipelineId,
              name: w.name,
              jobId: j.jobId,
              job: j.name,
              approvedBy: c.by.login,
              decisions: [...c.decisions],
            },
          },
        ]);
      }
      case 'startJob': {
        const w = live(s);
        const j = jobOf(w, c.jobId);
        if (j.status === 'running') return [];
        if (j.status !== 'queued') throw new DomainError('JOB_NOT_QUEUED', `${j.name} is ${j.status}: only a queued job starts`);
        return [
          {
            type: 'workflow.job.start',
            data: { workflowId: w.workflowId, pipelineId: w.pipelineId, name: w.name, jobId: j.jobId, job: j.name, agent: c.agent ?? null },
          },
        ];
      }
      case 'finishJob': {
        const w = live(s);
        const j = jobOf(w, c.jobId);
        if (j.status !== 'queued' && j.status !== 'running')
          throw new DomainError('JOB_NOT_RUNNING', `${j.name} is ${j.status}: only a queued or running job finishes`);
        return then(w, [
          {
            type: 'workflow.job.finish',
            data: { workflowId: w.workflowId, pipelineId: w.pipelineId, name: w.name, jobId: j.jobId, job: j.name, status: c.status, reason: c.reason ?? null },
          },
        ]);
      }
      case 'cancel': {
        const w = live(s);
        requireOrgMember(c.by, ownerSlugOf(w.projectSlug));
        if (w.finished) throw new DomainError('WORKFLOW_FINISHED', `workflow ${w.name} has already finished (${w.finished})`);
        const ids = { workflowId: w.workflowId, pipelineId: w.pipelineId, name: w.name };
        const ends: WorkflowEvent[] = w.jobs
          .filter((j) => !terminal.has(j.status))
          .map((j) => ({
            type: 'workflow.job.finish',
            data: { ...ids, jobId: j.jobId, job: j.name, status: 'canceled', reason: c.reason ?? `canceled by ${c.by.login}` },
          }));
        return then(w, [{ type: 'workflow.cancel', data: ids }, ...ends]);
      }
      case 'cancelJob': {
        const w = live(s);
        requireOrgMember(c.by, ownerSlugOf(w.projectSlug));
        const j = jobOf(w, c.jobId);
        if (j.status !== 'queued' && j.status !== 'running')
          throw new DomainError('JOB_NOT_RUNNING', `${j.name} is ${j.status}: only a queued or running job can be canceled`);
        return then(w, [
          {
            type: 'workflow.job.finish',
            data: {
              workflowId: w.workflowId,
              pipelineId: w.pipelineId,
              name: w.name,
              jobId: j.jobId,
              job: j.name,
              status: 'canceled',
              reason: `canceled by ${c.by.login}`,
            },
          },
        ]);
      }
    }
  },
};

/** The jobs that run after an approval (those that require it, directly or not): they run for whoever approves it. */
export const afterApproval = (jobs: ReadonlyArray<{ name: string; requires: ReadonlyArray<string> }>, approval: string): Set<string> => {
  const after = new Set<string>();
  for (let grew = true; grew; ) {
    grew = false;
    for (const j of jobs) if (!after.has(j.name) && j.requires.some((r) => r === approval || after.has(r))) grew = after.add(j.name) !== undefined;
  }
  return after;
};
