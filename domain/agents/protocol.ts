import { z } from 'zod';
import { JobSpec } from '../jobs/job-spec.ts';
import { StepResult, TaskResult } from '../jobs/job.ts';

/**
 * What agents and Gyre say to each other: over HTTP for agents on other machines, by direct calls for
 * the agent inside `gyre serve`. Every message an agent sends is parsed with these schemas.
 */

const Size = z.object({ cpus: z.number().positive().max(1024), memoryMb: z.number().int().positive().max(16 * 1024 * 1024) });
const Reserve = z.object({ cpus: z.number().min(0).max(1024), memoryMb: z.number().int().min(0).max(16 * 1024 * 1024) });

/** A kind of work this agent could serve but does not, and why (shown to whoever asks why a job waits). */
const Declined = z.object({ kind: z.enum(['docker', 'machine']), reason: z.string().max(500) });

export const AgentInfo = z.object({
  name: z.string().trim().min(1).max(100).regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'must be letters, digits, dots, dashes and underscores'),
  version: z.string().max(50),
  os: z.string().max(100),
  /** What it offers jobs, the reserve already taken off. */
  capacity: Size,
  reserved: Reserve,
  /** null: as many tasks as fit. */
  maxTasks: z.number().int().min(1).max(1000).nullable(),
  /** Executors it runs: `docker` (containers) and `machine` (the host). */
  kinds: z.array(z.enum(['docker', 'machine'])).max(2),
  declined: z.array(Declined).max(2).default([]),
});
export type AgentInfo = z.infer<typeof AgentInfo>;

/** `maxTasks`: the limit Gyre registered (an agent of a self-hosted class without one gets 1). */
export const Registration = z.object({ agentId: z.string(), resourceClasses: z.array(z.string()), heartbeatMs: z.number().int(), leaseMs: z.number().int(), maxTasks: z.number().int().nullable().optional() });
export type Registration = z.infer<typeof Registration>;

/** A task given to an agent: the job's spec, the environment it runs with, and the values to mask in its output. */
export const Assignment = z.object({
  jobId: z.string(),
  taskIndex: z.number().int().min(0),
  spec: JobSpec,
  environment: z.record(z.string(), z.string()),
  secrets: z.array(z.string()),
  /** An absolute deadline (ISO-8601): past it the agent stops the task as timed out. */
  deadline: z.string(),
});
export type Assignment = z.infer<typeof Assignment>;

export const TaskRef = z.object({ jobId: z.string().uuid(), taskIndex: z.number().int().min(0).max(99) });
export type TaskRef = z.infer<typeof TaskRef>;
export const taskKey = (t: TaskRef) => `${t.jobId}.${t.taskIndex}`;

export const Heartbeat = z.object({ running: z.array(TaskRef).max(1000) });
/** Tasks the agent must stop: canceled, or no longer its own. */
export const HeartbeatAnswer = z.object({ stop: z.array(TaskRef) });
export type HeartbeatAnswer = z.infer<typeof HeartbeatAnswer>;

export const StepRef = TaskRef.extend({ stepIndex: z.number().int().min(0).max(100_000) });
export type StepRef = z.infer<typeof StepRef>;
export const StepEnd = StepRef.extend({ status: StepResult, exitCode: z.number().int().nullable(), reason: z.string().max(2000).nullable() });
export type StepEnd = z.infer<typeof StepEnd>;
export const TaskEnd = TaskRef.extend({ status: TaskResult, reason: z.string().max(2000).nullable() });
export type TaskEnd = z.infer<typeof TaskEnd>;

/** Gyre's side of the conversation, as an agent sees it. */
export interface AgentChannel {
  register(info: AgentInfo): Promise<Registration>;
  /**
   * Waits up to `waitMs` for a task; null when none came. `signal` withdraws the claim (the agent is
   * stopping): no task is given after it aborts.
   */
  claim(agentId: string, waitMs: number, signal?: AbortSignal): Promise<Assignment | null>;
  heartbeat(agentId: string, running: ReadonlyArray<TaskRef>): Promise<HeartbeatAnswer>;
  startStep(agentId: string, step: StepRef): Promise<void>;
  /** Output of a running step, masked already, in order. */
  output(agentId: string, step: StepRef, text: string): Promise<void>;
  finishStep(agentId: string, end: StepEnd): Promise<void>;
  finishTask(agentId: string, end: TaskEnd): Promise<void>;
}
