import type { Readable } from 'node:stream';
import { z } from 'zod';
import type { TestResult as TestResultType } from '../files/test-results.ts';
import { JobSpec } from '../jobs/job-spec.ts';
import { StepResult, TaskResult } from '../jobs/job.ts';

/**
 * What agents and Gyre say to each other: over HTTP for agents on other machines, by direct calls for
 * the agent inside `gyre serve`. Every message an agent sends is parsed with these schemas.
 */

const Size = z.object({
  cpus: z.number().positive().max(1024),
  memoryMb: z
    .number()
    .int()
    .positive()
    .max(16 * 1024 * 1024),
});
const Reserve = z.object({
  cpus: z.number().min(0).max(1024),
  memoryMb: z
    .number()
    .int()
    .min(0)
    .max(16 * 1024 * 1024),
});

/** A kind of work this agent could serve but does not, and why (shown to whoever asks why a job waits). */
const Declined = z.object({ kind: z.enum(['docker', 'machine']), reason: z.string().max(500) });

export const AgentInfo = z.object({
  name: z
    .string()
    .trim()
    .min(1)
    .max(100)
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'must be letters, digits, dots, dashes and underscores'),
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
export const Registration = z.object({
  agentId: z.string(),
  resourceClasses: z.array(z.string()),
  heartbeatMs: z.number().int(),
  leaseMs: z.number().int(),
  maxTasks: z.number().int().nullable().optional(),
});
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
/** Gyre's answer when an agent no longer holds a task (it was ended elsewhere): the agent stops it and reports nothing more. */
export const isLeaseLost = (e: unknown) => (e as { code?: string } | null)?.code === 'LEASE_LOST';

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

/** Which artifacts `store_artifacts` kept, and the files it left out with why (a name the store refuses). */
export const ArtifactsStored = z.object({ files: z.number().int(), bytes: z.number(), skipped: z.array(z.object({ path: z.string(), reason: z.string() })) });
export type ArtifactsStored = z.infer<typeof ArtifactsStored>;

const Text = (max: number) => z.string().transform((s) => (s.length > max ? `${s.slice(0, max)}…` : s));
/** One test as the agent read it from a JUnit report (see domain/files/test-results.ts); long texts are cut. */
export const UploadedTest = z.object({
  name: Text(1000),
  classname: Text(1000),
  file: Text(1000).nullable(),
  result: z.enum(['success', 'failure', 'skipped']),
  message: Text(64 * 1024).nullable(),
  source: Text(500),
  run_time: z.number().min(0).finite(),
}) satisfies z.ZodType<TestResultType, unknown>;
export type UploadedTest = z.infer<typeof UploadedTest>;
/** The most tests one `store_test_results` step keeps. */
export const maxUploadedTests = 200_000;
/** What `store_test_results` read: how many reports, and the ones it could not read with why. */
export const TestReportsSummary = z.object({
  reports: z.number().int().min(0),
  problems: z.array(z.object({ file: Text(1000), reason: Text(2000) })).max(1000),
});
/** The summary, and every test of every report, streamed (over HTTP, one JSON line each after the summary's). */
export interface TestResultsUpload extends z.infer<typeof TestReportsSummary> {
  readonly tests: Iterable<TestResultType> | AsyncIterable<TestResultType>;
}
export const TestCounts = z.object({ passed: z.number().int(), failed: z.number().int(), skipped: z.number().int() });
export type TestCounts = z.infer<typeof TestCounts>;

/** The cache `restore_cache` restores: its key as saved, and its size in bytes. */
export const CacheFound = z.object({ cacheId: z.string(), key: z.string(), bytes: z.number() });
export type CacheFound = z.infer<typeof CacheFound>;
/** `saved` false: the key was taken (saved before, or by a build racing this one); nothing was overwritten. */
export const CacheSaved = z.object({ saved: z.boolean(), key: z.string(), bytes: z.number() });
export type CacheSaved = z.infer<typeof CacheSaved>;
export const LayerStored = z.object({ files: z.number().int(), bytes: z.number() });
export type LayerStored = z.infer<typeof LayerStored>;
/** One layer `attach_workspace` applies: the job that persisted it, in the order they apply (a later layer wins). */
export const WorkspaceLayer = z.object({ layerId: z.string(), job: z.string(), bytes: z.number() });
export type WorkspaceLayer = z.infer<typeof WorkspaceLayer>;

/**
 * What `setup_remote_docker` is told as its engine comes: still starting (and how far), ready (the
 * `DOCKER_HOST` to use and the TLS files: the engine's CA, the client's certificate and key), or
 * failed (why; the task then ends infrastructure_fail).
 */
export const RemoteEngine = z.discriminatedUnion('state', [
  z.object({ state: z.literal('starting'), message: z.string() }),
  z.object({ state: z.literal('ready'), host: z.string(), ca: z.string(), cert: z.string(), key: z.string() }),
  z.object({ state: z.literal('failed'), message: z.string() }),
]);
export type RemoteEngine = z.infer<typeof RemoteEngine>;

export const CacheKeys = z.array(z.string().min(1).max(900)).min(1).max(50);
export const CacheKey = z.string().min(1).max(900);

/**
 * The files steps move, reported by the agent holding the task while the step runs. Bodies stream
 * both ways: tar archives (POSIX ustar/pax), a cache's gzipped.
 */
export interface AgentFiles {
  /** A tar whose regular files are named as the artifacts they become (`site/a.html`); other entries are ignored. */
  storeArtifacts(agentId: string, step: StepRef, tar: Readable): Promise<ArtifactsStored>;
  storeTestResults(agentId: string, step: StepRef, results: TestResultsUpload): Promise<TestCounts>;
  /** Whether `key` is saved already where this job would save it (`save_cache` then skips its upload). */
  cacheExists(agentId: string, step: StepRef, key: string): Promise<boolean>;
  /** A gzipped tar of the cache's paths, named absolute less the leading `/`. */
  saveCache(agentId: string, step: StepRef, key: string, body: Readable): Promise<CacheSaved>;
  /** The cache for `keys` (rendered), tried in order: an exact key, else the newest whose key starts with it. */
  findCache(agentId: string, step: StepRef, keys: ReadonlyArray<string>): Promise<CacheFound | null>;
  readCache(agentId: string, step: StepRef, cacheId: string): Promise<Readable>;
  /** A tar of the layer, named relative to the workspace root. */
  persistWorkspace(agentId: string, step: StepRef, tar: Readable): Promise<LayerStored>;
  /** The layers `attach_workspace` applies: those of every upstream job of the workflow, in order. */
  workspaceLayers(agentId: string, step: StepRef): Promise<WorkspaceLayer[]>;
  readWorkspaceLayer(agentId: string, step: StepRef, layerId: string): Promise<Readable>;
}

/** Gyre's side of the conversation, as an agent sees it. */
export interface AgentChannel extends AgentFiles {
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
  /** `setup_remote_docker`: asks for the task's remote Docker engine (once; asked again, the same one), and says how far it is. */
  remoteDocker(agentId: string, step: StepRef): Promise<RemoteEngine>;
}
