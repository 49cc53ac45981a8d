import { z } from 'zod';
import { DomainError, NotFoundError } from '../errors.ts';
import { defineEvent, type EventOf } from '../events/registry.ts';
import type { Decider } from '../decider.ts';
import { JobSpec } from './job-spec.ts';

/**
 * One stream per job: its tasks (one per `parallelism` slice), who holds each, and every step's start
 * and end. Agents reporting parallel tasks contend here, never on the workflow's stream; the workflow
 * hears of the job's start and end through a reactor.
 */
export const jobStream = (jobId: string) => `job-${jobId}`;
export const jobTarget = (j: { jobId: string; name: string }) => ({ id: j.jobId, type: 'job', name: j.name });

export const TaskResult = z.enum(['success', 'failed', 'infrastructure_fail', 'timedout', 'canceled']);
export type TaskResult = z.infer<typeof TaskResult>;
export const StepResult = z.enum(['success', 'failed', 'canceled', 'timedout', 'skipped']);
export type StepResult = z.infer<typeof StepResult>;
const Agent = z.object({ id: z.string(), name: z.string() });
export type AgentRef = z.infer<typeof Agent>;

const ref = { jobId: z.string(), workflowId: z.string(), name: z.string() };
const task = { ...ref, taskIndex: z.number().int().min(0) };
const step = { ...task, stepIndex: z.number().int().min(0), step: z.string() };

export const jobQueued = defineEvent('job.queue', z.object({ ...ref, spec: JobSpec }), { publicFields: ['jobId', 'workflowId', 'name'] });
export const taskClaimed = defineEvent('job.task.claim', z.object({ ...task, agent: Agent, attempt: z.number().int().min(1) }), {
  publicFields: ['jobId', 'workflowId', 'name', 'taskIndex', 'agent', 'attempt'],
});
export const stepStarted = defineEvent('job.step.start', z.object(step), { publicFields: ['jobId', 'workflowId', 'name', 'taskIndex', 'stepIndex', 'step'] });
export const stepFinished = defineEvent(
  'job.step.finish',
  z.object({
    ...step,
    status: StepResult,
    exitCode: z.number().int().nullable(),
    reason: z.string().nullable(),
    outputBytes: z.number().int().min(0),
    truncated: z.boolean(),
  }),
  { publicFields: ['jobId', 'workflowId', 'name', 'taskIndex', 'stepIndex', 'step', 'status', 'exitCode', 'reason', 'outputBytes', 'truncated'] },
);
export const taskFinished = defineEvent('job.task.finish', z.object({ ...task, status: TaskResult, reason: z.string().nullable() }), {
  publicFields: ['jobId', 'workflowId', 'name', 'taskIndex', 'status', 'reason'],
});
export const jobCanceled = defineEvent('job.cancel', z.object({ ...ref, reason: z.string() }), { publicFields: ['jobId', 'workflowId', 'name', 'reason'] });
export const jobFinishedRun = defineEvent('job.finish', z.object({ ...ref, status: TaskResult, reason: z.string().nullable() }), {
  publicFields: ['jobId', 'workflowId', 'name', 'status', 'reason'],
});
/** Files a step kept (see domain/files/keys.ts for where they live): artifacts in batches of at most 1000 names. */
const Artifact = z.object({ path: z.string(), size: z.number().int().min(0) });
export const artifactsStored = defineEvent('job.artifacts.store', z.object({ ...step, artifacts: z.array(Artifact).max(1000) }), {
  publicFields: ['jobId', 'workflowId', 'name', 'taskIndex', 'stepIndex', 'step', 'artifacts'],
});
const Counts = z.object({ passed: z.number().int().min(0), failed: z.number().int().min(0), skipped: z.number().int().min(0) });
const ReportProblem = z.object({ file: z.string(), reason: z.string() });
export const testsStored = defineEvent(
  'job.tests.store',
  z.object({ ...step, objectKey: z.string(), counts: Counts, problems: z.array(ReportProblem).max(100) }),
  {
    publicFields: ['jobId', 'workflowId', 'name', 'taskIndex', 'stepIndex', 'step', 'counts', 'problems'],
  },
);
export const workspacePersisted = defineEvent(
  'job.workspace.persist',
  z.object({ ...step, objectKey: z.string(), bytes: z.number().int().min(0), files: z.number().int().min(0) }),
  {
    publicFields: ['jobId', 'workflowId', 'name', 'taskIndex', 'stepIndex', 'step', 'bytes', 'files'],
  },
);
export const FileKind = z.enum(['output', 'artifacts', 'tests', 'workspace']);
export type FileKind = z.infer<typeof FileKind>;
/** Retention removed these kinds of the job's files (a reactor then deletes their objects). */
export const filesExpired = defineEvent('job.files.expire', z.object({ ...ref, kinds: z.array(FileKind).min(1) }), {
  publicFields: ['jobId', 'workflowId', 'name', 'kinds'],
});
export const jobEvents = [
  jobQueued,
  taskClaimed,
  stepStarted,
  stepFinished,
  taskFinished,
  jobCanceled,
  jobFinishedRun,
  artifactsStored,
  testsStored,
  workspacePersisted,
  filesExpired,
];

export type JobEvent =
  | EventOf<typeof jobQueued>
  | EventOf<typeof taskClaimed>
  | EventOf<typeof stepStarted>
  | EventOf<typeof stepFinished>
  | EventOf<typeof taskFinished>
  | EventOf<typeof jobCanceled>
  | EventOf<typeof jobFinishedRun>
  | EventOf<typeof artifactsStored>
  | EventOf<typeof testsStored>
  | EventOf<typeof workspacePersisted>
  | EventOf<typeof filesExpired>;

/** What a file step reports, by the agent that holds its task while the step is open. */
export type FileRecord =
  | { kind: 'artifacts'; artifacts: ReadonlyArray<{ path: string; size: number }> }
  | { kind: 'tests'; objectKey: string; counts: { passed: number; failed: number; skipped: number }; problems: ReadonlyArray<{ file: string; reason: string }> }
  | { kind: 'workspace'; objectKey: string; bytes: number; files: number };

export type JobCommand =
  | { type: 'queue'; spec: JobSpec }
  | { type: 'claim'; taskIndex: number; agent: AgentRef }
  | { type: 'startStep'; taskIndex: number; agentId: string; stepIndex: number }
  | {
      type: 'finishStep';
      taskIndex: number;
      agentId: string;
      stepIndex: number;
      status: StepResult;
      exitCode: number | null;
      reason: string | null;
      outputBytes: number;
      truncated: boolean;
    }
  /** `agentId` null: Gyre itself ends the task (its agent stopped answering, or it ran past its time). */
  | { type: 'finishTask'; taskIndex: number; agentId: string | null; status: TaskResult; reason: string | null }
  | { type: 'cancel'; reason: string }
  | { type: 'recordFiles'; taskIndex: number; agentId: string; stepIndex: number; record: FileRecord }
  /** Retention: only a finished job's files expire, each kind once. */
  | { type: 'expireFiles'; kinds: ReadonlyArray<FileKind> };

export type TaskStatus = 'queued' | 'running' | TaskResult;
export interface Task {
  readonly index: number;
  readonly status: TaskStatus;
  readonly agent: AgentRef | null;
  /** Steps started and not yet finished. */
  readonly open: ReadonlyArray<number>;
  readonly finishedSteps: ReadonlyArray<number>;
}
export interface Job {
  readonly spec: JobSpec;
  readonly tasks: ReadonlyArray<Task>;
  readonly canceled: boolean;
  readonly finished: TaskResult | null;
  readonly expired: ReadonlyArray<FileKind>;
}
export type JobState = Job | null;

/** A job's result from its tasks': one slice that did not succeed decides it, the gravest first. */
export const jobResult = (results: ReadonlyArray<TaskResult>, canceled: boolean): TaskResult => {
  if (canceled) return 'canceled';
  for (const r of ['infrastructure_fail', 'timedout', 'failed', 'canceled'] as const) if (results.includes(r)) return r;
  return 'success';
};

const ended = (s: TaskStatus): s is TaskResult => s !== 'queued' && s !== 'running';
const withTask = (j: Job, index: number, change: (t: Task) => Task): Job => ({ ...j, tasks: j.tasks.map((t) => (t.index === index ? change(t) : t)) });

const evolve = (s: JobState, e: JobEvent): JobState => {
  if (e.type === 'job.queue') {
    return {
      spec: e.data.spec,
      canceled: false,
      finished: null,
      expired: [],
      tasks: Array.from({ length: e.data.spec.parallelism }, (_, index) => ({ index, status: 'queued' as const, agent: null, open: [], finishedSteps: [] })),
    };
  }
  if (!s) return s;
  switch (e.type) {
    case 'job.task.claim':
      return withTask(s, e.data.taskIndex, (t) => ({ ...t, status: 'running', agent: e.data.agent }));
    case 'job.step.start':
      return withTask(s, e.data.taskIndex, (t) => ({ ...t, open: [...t.open, e.data.stepIndex] }));
    case 'job.step.finish':
      return withTask(s, e.data.taskIndex, (t) => ({
        ...t,
        open: t.open.filter((i) => i !== e.data.stepIndex),
        finishedSteps: [...t.finishedSteps, e.data.stepIndex],
      }));
    case 'job.task.finish':
      return withTask(s, e.data.taskIndex, (t) => ({ ...t, status: e.data.status, open: [] }));
    case 'job.cancel':
      return { ...s, canceled: true };
    case 'job.finish':
      return { ...s, finished: e.data.status };
    case 'job.files.expire':
      return { ...s, expired: [...s.expired, ...e.data.kinds] };
    case 'job.artifacts.store':
    case 'job.tests.store':
    case 'job.workspace.persist':
      return s;
  }
};

const live = (s: JobState): Job => {
  if (!s) throw new NotFoundError('no such job', 'JOB_NOT_FOUND');
  return s;
};
const taskOf = (j: Job, index: number): Task => {
  const t = j.tasks[index];
  if (!t) throw new NotFoundError(`job ${j.spec.name} has no task ${index} (parallelism ${j.spec.parallelism})`, 'TASK_NOT_FOUND');
  return t;
};
/** Only the agent that claimed a task reports on it, and only while it runs. */
const held = (j: Job, index: number, agentId: string): Task => {
  const t = taskOf(j, index);
  if (t.status !== 'running' || t.agent?.id !== agentId) {
    const why = ended(t.status) ? `it has ended (${t.status})` : t.status === 'queued' ? 'it has not been claimed' : 'another agent holds it';
    throw new DomainError('LEASE_LOST', `task ${index} of job ${j.spec.name} is not this agent's: ${why}; stop running it`);
  }
  return t;
};

const ids = (j: Job) => ({ jobId: j.spec.jobId, workflowId: j.spec.workflowId, name: j.spec.name });

/** Ends tasks, then the job once no task is left running. */
const finishing = (j: Job, ends: ReadonlyArray<{ index: number; status: TaskResult; reason: string | null }>, canceled: boolean): JobEvent[] => {
  const out: JobEvent[] = ends.map((x) => ({ type: 'job.task.finish', data: { ...ids(j), taskIndex: x.index, status: x.status, reason: x.reason } }));
  const after = new Map(ends.map((x) => [x.index, x.status]));
  const statuses = j.tasks.map((t) => after.get(t.index) ?? t.status);
  if (!j.finished && statuses.every(ended)) {
    const status = jobResult(statuses as TaskResult[], canceled);
    const reason = ends.find((x) => x.status === status)?.reason ?? null;
    out.push({ type: 'job.finish', data: { ...ids(j), status, reason } });
  }
  return out;
};

export const jobDecider: Decider<JobState, JobCommand, JobEvent> = {
  initialState: () => null,
  evolve,
  decide: (c, s) => {
    switch (c.type) {
      case 'queue':
        // a reactor may deliver the same scheduling twice: the job is queued once
        if (s) return [];
        return [{ type: 'job.queue', data: { jobId: c.spec.jobId, workflowId: c.spec.workflowId, name: c.spec.name, spec: c.spec } }];
      case 'claim': {
        const j = live(s);
        const t = taskOf(j, c.taskIndex);
        if (j.canceled || j.finished) throw new DomainError('JOB_ENDED', `job ${j.spec.name} has ${j.finished ? `ended (${j.finished})` : 'been canceled'}`);
        if (t.status !== 'queued') throw new DomainError('TASK_TAKEN', `task ${c.taskIndex} of job ${j.spec.name} is ${t.status}: another agent took it`);
        return [{ type: 'job.task.claim', data: { ...ids(j), taskIndex: c.taskIndex, agent: c.agent, attempt: 1 } }];
      }
      case 'startStep': {
        const j = live(s);
        const t = held(j, c.taskIndex, c.agentId);
        if (t.open.includes(c.stepIndex) || t.finishedSteps.includes(c.stepIndex)) return [];
        const step = j.spec.steps[c.stepIndex - 1]?.name ?? (c.stepIndex === 0 ? 'Spin up environment' : undefined);
        if (step === undefined) throw new NotFoundError(`job ${j.spec.name} has no step ${c.stepIndex}`, 'STEP_NOT_FOUND');
        return [{ type: 'job.step.start', data: { ...ids(j), taskIndex: c.taskIndex, stepIndex: c.stepIndex, step } }];
      }
      case 'finishStep': {
        const j = live(s);
        const t = held(j, c.taskIndex, c.agentId);
        if (t.finishedSteps.includes(c.stepIndex)) return [];
        if (!t.open.includes(c.stepIndex)) throw new DomainError('STEP_NOT_STARTED', `step ${c.stepIndex} of task ${c.taskIndex} has not started`);
        const step = j.spec.steps[c.stepIndex - 1]?.name ?? 'Spin up environment';
        return [
          {
            type: 'job.step.finish',
            data: {
              ...ids(j),
              taskIndex: c.taskIndex,
              stepIndex: c.stepIndex,
              step,
              status: c.status,
              exitCode: c.exitCode,
              reason: c.reason,
              outputBytes: c.outputBytes,
              truncated: c.truncated,
            },
          },
        ];
      }
      case 'finishTask': {
        const j = live(s);
        const t = taskOf(j, c.taskIndex);
        if (ended(t.status)) return [];
        if (c.agentId !== null) held(j, c.taskIndex, c.agentId);
        return finishing(j, [{ index: t.index, status: c.status, reason: c.reason }], j.canceled);
      }
      case 'cancel': {
        const j = live(s);
        if (j.canceled || j.finished) return [];
        // tasks no agent holds end now; an agent stops the ones it holds and reports them
        const waiting = j.tasks.filter((t) => t.status === 'queued').map((t) => ({ index: t.index, status: 'canceled' as const, reason: c.reason }));
        return [{ type: 'job.cancel', data: { ...ids(j), reason: c.reason } }, ...finishing(j, waiting, true)];
      }
      case 'recordFiles': {
        const j = live(s);
        const t = held(j, c.taskIndex, c.agentId);
        if (!t.open.includes(c.stepIndex))
          throw new DomainError(
            'STEP_NOT_STARTED',
            `step ${c.stepIndex} of task ${c.taskIndex} is not running: files are kept only by the step that makes them`,
          );
        const at = { ...ids(j), taskIndex: c.taskIndex, stepIndex: c.stepIndex, step: j.spec.steps[c.stepIndex - 1]?.name ?? '' };
        const r = c.record;
        if (r.kind === 'tests')
          return [{ type: 'job.tests.store', data: { ...at, objectKey: r.objectKey, counts: r.counts, problems: r.problems.slice(0, 100) } }];
        if (r.kind === 'workspace') return [{ type: 'job.workspace.persist', data: { ...at, objectKey: r.objectKey, bytes: r.bytes, files: r.files } }];
        const batches: JobEvent[] = [];
        for (let i = 0; i < r.artifacts.length; i += 1000)
          batches.push({ type: 'job.artifacts.store', data: { ...at, artifacts: r.artifacts.slice(i, i + 1000) } });
        return batches;
      }
      case 'expireFiles': {
        const j = live(s);
        if (!j.finished) throw new DomainError('JOB_RUNNING', `job ${j.spec.name} has not finished: its files do not expire while it runs`);
        const kinds = [...new Set(c.kinds)].filter((k) => !j.expired.includes(k));
        return kinds.length ? [{ type: 'job.files.expire', data: { ...ids(j), kinds } }] : [];
      }
    }
  },
};
