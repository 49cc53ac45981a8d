import { randomUUID } from 'node:crypto';
import { pipeline as pipe, Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract as tarExtract } from 'tar-stream';
import { ObjectKeyError, checkedKey, type ObjectStore } from '../adapters/objectstore/port.ts';
import {
  CacheKey,
  CacheKeys,
  maxUploadedTests,
  TestReportsSummary,
  UploadedTest,
  type ArtifactsStored,
  type CacheFound,
  type CacheSaved,
  type LayerStored,
  type StepRef,
  type TaskRef,
  type TestCounts,
  type TestResultsUpload,
  type WorkspaceLayer,
} from '../domain/agents/protocol.ts';
import { DomainError, GyreError, NotFoundError, parseInput, ValidationError } from '../domain/errors.ts';
import type { CommandContext, Position } from '../domain/events/envelope.ts';
import { artifactNameSet, uploadedArtifactName } from '../domain/files/artifact-names.ts';
import { cacheDecider, cacheId, cacheStream, cacheTarget, restoreScopes, saveScope } from '../domain/files/cache.ts';
import { pickCache } from '../domain/files/cache-keys.ts';
import { objectKeys, testsPerChunk } from '../domain/files/keys.ts';
import { jobDecider, jobStream, jobTarget, type FileRecord } from '../domain/jobs/job.ts';
import { artifactsOfJob, cacheById, cachesStartingWith, layerById, layersOfJobs, type CacheRow } from '../projections/files.ts';
import { jobRunById, stepsOfJob, taskByRef, type JobRunRow } from '../projections/jobs.ts';
import { jobsOfWorkflow, workflowById, type JobRow } from '../projections/pipelines.ts';
import { projectBySlug } from '../projections/projects.ts';
import type { UseCases } from './dependencies.ts';

/**
 * Gyre's side of the file steps (`store_artifacts`, `store_test_results`, `save_cache`,
 * `restore_cache`, `persist_to_workspace`, `attach_workspace`): bodies stream into and out of the
 * object store, and what a step kept is recorded on the job's stream once its objects are whole. Only
 * the agent holding a task moves its files; a call that records does so while its step is open.
 */
export interface JobFilesDeps extends UseCases {
  readonly objects: ObjectStore;
  /** The read models: a file recorded is in the files read model when the call answers. */
  readonly projections: { waitFor(position: Position, timeoutMs: number, only?: ReadonlyArray<string>): Promise<boolean> };
}

/** The agent asking, as registered. */
export interface FilesAgent {
  readonly agentId: string;
  readonly name: string;
}

export const maxArtifactsPerStep = 10_000;
/** Skipped artifacts listed one by one; past these, one line counts the rest. */
const maxSkippedListed = 100;

/** Only the agent that holds a task reports on it or moves its files. */
export const requireHeldTask = async (deps: Pick<UseCases, 'db'>, agentId: string, t: TaskRef) => {
  const task = await taskByRef(deps.db, t.jobId, t.taskIndex);
  if (task?.status !== 'running' || task.agentId !== agentId)
    throw new DomainError('LEASE_LOST', `task ${t.taskIndex} of job ${t.jobId} is not this agent's: stop running it`);
  return task;
};

const heldJob = async (deps: JobFilesDeps, agent: FilesAgent, t: TaskRef): Promise<JobRunRow> => {
  await requireHeldTask(deps, agent.agentId, t);
  const job = await jobRunById(deps.db, t.jobId);
  if (!job) throw new NotFoundError('no such job', 'JOB_NOT_FOUND');
  return job;
};

/** Checked before a body is taken, so a closed step's upload is refused before it is stored; the job's decider checks again when it records. */
const openStep = async (deps: JobFilesDeps, agent: FilesAgent, s: StepRef): Promise<JobRunRow> => {
  const job = await heldJob(deps, agent, s);
  const step = (await stepsOfJob(deps.db, s.jobId)).find((x) => x.taskIndex === s.taskIndex && x.stepIndex === s.stepIndex);
  if (!step || step.stoppedAt)
    throw new DomainError('STEP_NOT_STARTED', `step ${s.stepIndex} of task ${s.taskIndex} is not running: files are kept only by the step that makes them`);
  return job;
};

const contextOf = (agent: FilesAgent, job: JobRunRow): CommandContext => ({
  actor: { id: agent.agentId, type: 'agent', name: agent.name },
  request: null,
  correlationId: job.pipelineId,
});

const recordFiles = async (deps: JobFilesDeps, agent: FilesAgent, job: JobRunRow, s: StepRef, record: FileRecord) => {
  const r = await deps.commands.execute({
    stream: jobStream(s.jobId),
    decider: jobDecider,
    command: { type: 'recordFiles', taskIndex: s.taskIndex, agentId: agent.agentId, stepIndex: s.stepIndex, record },
    context: contextOf(agent, job),
    target: jobTarget({ jobId: s.jobId, name: job.name }),
    maxAttempts: 20,
  });
  if (r.position) await deps.projections.waitFor(r.position, 5000, ['files']);
};

/** Removes objects this call wrote and did not get to record; the error that stopped it is the one reported. */
const removeQuietly = async (objects: ObjectStore, keys: Iterable<string>) => {
  for (const key of keys) await objects.delete(key).catch(() => undefined);
};

/** A broken upload (not a tar, or cut off) is the caller's fault; a failing store is not. */
const uploadError = (what: string, e: unknown): Error =>
  e instanceof GyreError
    ? e
    : new ValidationError(`the ${what} upload is not a whole tar archive (${e instanceof Error ? e.message : String(e)}): nothing was kept`);

/** The artifacts of the job's node stored so far (an upload may not make a file of one's folder). */
const storedArtifactNames = async (deps: JobFilesDeps, s: TaskRef): Promise<string[]> => {
  const names: string[] = [];
  for (let after: { nodeIndex: number; path: string } | undefined; ; ) {
    const page = await artifactsOfJob(deps.db, s.jobId, { ...(after ? { after } : {}), limit: 1000 });
    names.push(...page.filter((a) => a.nodeIndex === s.taskIndex).map((a) => a.path));
    if (page.length < 1000) return names;
    after = page[page.length - 1]!;
  }
};

/**
 * `store_artifacts`: each regular file of the tar becomes an object named as its entry, written as it
 * streams past; other entries, refused names and files past the limit are skipped with the reason.
 */
export const storeArtifacts = async (deps: JobFilesDeps, agent: FilesAgent, s: StepRef, tar: Readable): Promise<ArtifactsStored> => {
  const job = await openStep(deps, agent, s);
  const before = await storedArtifactNames(deps, s);
  const names = artifactNameSet(before);
  const existed = new Set(before);
  const stored = new Map<string, number>();
  const skipped: Array<{ path: string; reason: string }> = [];
  let unlisted = 0;
  const skip = (path: string, reason: string) => (skipped.length < maxSkippedListed ? skipped.push({ path, reason }) : unlisted++);
  /**
   * Where an artifact goes, or why it cannot. A name an earlier step kept stays as it was (an upload
   * that then failed would leave it changed); named twice in one upload, the later file wins.
   */
  const placeOf = (name: string): { name: string; key: string } | { problem: string } => {
    if (existed.has(name)) return { problem: 'an earlier step of this job stored an artifact of that name: it is kept as it was' };
    const clash = names.has(name) ? null : names.clash(name);
    if (clash) return { problem: clash };
    if (!stored.has(name) && stored.size >= maxArtifactsPerStep) return { problem: `a step stores at most ${maxArtifactsPerStep} artifacts` };
    try {
      return { name, key: checkedKey(objectKeys.artifact(s.jobId, s.taskIndex, name)) };
    } catch (e) {
      if (e instanceof ObjectKeyError) return { problem: e.message };
      throw e;
    }
  };

  const extract = tarExtract();
  let broken: unknown = null;
  extract.on('error', (e: unknown) => (broken ??= e));
  const feeding = pipeline(tar, extract).catch((e: unknown) => e);
  try {
    for await (const entry of extract) {
      const h = entry.header;
      if (h.type !== 'file' && h.type !== 'contiguous-file') {
        entry.resume();
        continue;
      }
      const taken = uploadedArtifactName(h.name);
      const place = 'problem' in taken ? { problem: taken.problem } : placeOf(taken.name);
      if ('problem' in place) {
        skip(h.name, place.problem);
        entry.resume();
        continue;
      }
      const { name, key } = place;
      const info = await deps.objects.put(key, Readable.from(entry));
      names.add(name);
      stored.set(name, info.size);
    }
    const fed = await feeding;
    if (fed) throw fed;
  } catch (e) {
    await feeding;
    await removeQuietly(
      deps.objects,
      [...stored.keys()].map((n) => objectKeys.artifact(s.jobId, s.taskIndex, n)),
    );
    throw broken ? uploadError('artifacts', broken) : e;
  }
  const artifacts = [...stored].map(([path, size]) => ({ path, size }));
  try {
    await recordFiles(deps, agent, job, s, { kind: 'artifacts', artifacts });
  } catch (e) {
    await removeQuietly(
      deps.objects,
      artifacts.map((a) => objectKeys.artifact(s.jobId, s.taskIndex, a.path)),
    );
    throw e;
  }
  if (unlisted) skipped.push({ path: '', reason: `${unlisted} more files were skipped` });
  return { files: artifacts.length, bytes: artifacts.reduce((n, a) => n + a.size, 0), skipped };
};

/**
 * `store_test_results`: the tests the agent read from its reports, as they stream in, kept in chunks
 * of JSON (so neither this nor a reader of the tests API holds them all) and counted.
 */
export const storeTestResults = async (deps: JobFilesDeps, agent: FilesAgent, s: StepRef, upload: TestResultsUpload): Promise<TestCounts> => {
  const summary = parseInput(TestReportsSummary, { reports: upload.reports, problems: upload.problems }, 'test results');
  const job = await openStep(deps, agent, s);
  const prefix = objectKeys.tests(s.jobId, s.taskIndex, s.stepIndex);
  const written: string[] = [];
  const counts = { passed: 0, failed: 0, skipped: 0 };
  let chunk: UploadedTest[] = [];
  const flush = async () => {
    if (!chunk.length) return;
    const key = objectKeys.testsChunk(prefix, written.length);
    written.push(key);
    await deps.objects.put(key, Buffer.from(JSON.stringify(chunk)), { contentType: 'application/json' });
    chunk = [];
  };
  try {
    let seen = 0;
    for await (const raw of upload.tests) {
      if (++seen > maxUploadedTests) throw new ValidationError(`a step keeps at most ${maxUploadedTests} tests: split the reports over steps`);
      const test = parseInput(UploadedTest, raw, `test ${seen}`);
      counts[test.result === 'success' ? 'passed' : test.result === 'failure' ? 'failed' : 'skipped']++;
      chunk.push(test);
      if (chunk.length === testsPerChunk) await flush();
    }
    await flush();
    await recordFiles(deps, agent, job, s, { kind: 'tests', objectKey: prefix, counts, problems: summary.problems });
  } catch (e) {
    await removeQuietly(deps.objects, written);
    throw e;
  }
  return counts;
};

/** The project the job builds, and whether it builds a fork's pull request (which decides the scopes of its caches). */
const cacheSide = async (deps: JobFilesDeps, job: JobRunRow) => {
  const project = await projectBySlug(deps.db, job.spec.projectSlug.toLowerCase());
  if (!project) throw new NotFoundError(`project ${job.spec.projectSlug} is gone: its caches cannot be used`, 'PROJECT_NOT_FOUND');
  return { projectId: project.id, fromFork: job.spec.vcs.fromFork };
};

/** Whether `key` is saved already in the scope this job saves into. */
export const cacheExists = async (deps: JobFilesDeps, agent: FilesAgent, s: StepRef, key: string): Promise<boolean> => {
  const k = parseInput(CacheKey, key, 'cache key');
  const job = await heldJob(deps, agent, s);
  const { projectId, fromFork } = await cacheSide(deps, job);
  return (await cacheById(deps.db, cacheId(projectId, saveScope(fromFork), k))) !== undefined;
};

/**
 * `save_cache`: a key is saved once. The body goes to an object of its own, and the cache's stream
 * decides whose save counts; a save that lost (the key was saved before, or meanwhile by a racing
 * build) leaves nothing behind.
 */
export const saveCache = async (deps: JobFilesDeps, agent: FilesAgent, s: StepRef, key: string, body: Readable): Promise<CacheSaved> => {
  let k: string;
  let job: JobRunRow;
  try {
    k = parseInput(CacheKey, key, 'cache key');
    job = await openStep(deps, agent, s);
  } catch (e) {
    body.resume();
    throw e;
  }
  const { projectId, fromFork } = await cacheSide(deps, job);
  const scope = saveScope(fromFork);
  const id = cacheId(projectId, scope, k);
  const saved = await cacheById(deps.db, id);
  if (saved) {
    body.resume();
    return { saved: false, key: k, bytes: saved.bytes };
  }
  const objectKey = objectKeys.cache(projectId, id, randomUUID());
  const info = await deps.objects.put(objectKey, body, { contentType: 'application/gzip' });
  try {
    const r = await deps.commands.execute({
      stream: cacheStream(id),
      decider: cacheDecider,
      command: {
        type: 'save',
        save: {
          cacheId: id,
          projectId,
          scope,
          key: k,
          projectSlug: job.spec.projectSlug,
          objectKey,
          bytes: info.size,
          jobId: job.jobId,
          jobNumber: job.jobNumber,
          branch: job.spec.vcs.branch,
        },
      },
      context: contextOf(agent, job),
      target: cacheTarget({ cacheId: id, key: k }),
    });
    if (r.position) await deps.projections.waitFor(r.position, 5000, ['files']);
  } catch (e) {
    await removeQuietly(deps.objects, [objectKey]);
    if (e instanceof DomainError && e.code === 'CACHE_EXISTS') return { saved: false, key: k, bytes: info.size };
    throw e;
  }
  return { saved: true, key: k, bytes: info.size };
};

/** `restore_cache`: each key in order, in each scope the job may restore from; an exact key wins, else the newest that starts with it. */
export const findCache = async (deps: JobFilesDeps, agent: FilesAgent, s: StepRef, keys: ReadonlyArray<string>): Promise<CacheFound | null> => {
  const ks = parseInput(CacheKeys, keys, 'cache keys');
  const job = await heldJob(deps, agent, s);
  const { projectId, fromFork } = await cacheSide(deps, job);
  for (const key of ks) {
    for (const scope of restoreScopes(fromFork)) {
      // the exact key is looked up by itself: it may be older than the newest caches that start with it
      const exact = await cacheById(deps.db, cacheId(projectId, scope, key));
      const candidates: CacheRow[] = [...(exact ? [exact] : []), ...(await cachesStartingWith(deps.db, projectId, scope, key, 1))];
      const hit = pickCache([key], candidates);
      // a cache whose object is gone (removed by hand, or its expiry under way) is no cache
      if (hit && (await deps.objects.head(hit.objectKey))) return { cacheId: hit.cacheId, key: hit.key, bytes: hit.bytes };
    }
  }
  return null;
};

const noCache = () => new NotFoundError('no such cache for this job: find it first with its keys', 'CACHE_NOT_FOUND');

/** A cache's body, for a job of its project that may restore from its scope. */
export const readCache = async (deps: JobFilesDeps, agent: FilesAgent, s: StepRef, id: string): Promise<Readable> => {
  const job = await heldJob(deps, agent, s);
  const { projectId, fromFork } = await cacheSide(deps, job);
  const cache = await cacheById(deps.db, id);
  if (!cache || cache.projectId !== projectId || !restoreScopes(fromFork).includes(cache.scope)) throw noCache();
  const object = await deps.objects.get(cache.objectKey);
  if (!object) throw noCache();
  return object.body;
};

/**
 * Passes a tar through unchanged while reading its headers: counts its files, and stops it at the
 * first name that would leave the workspace.
 */
const tarCounter = () => {
  const extract = tarExtract();
  const seen = { files: 0 };
  const counter: Transform = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      if (extract.write(chunk)) done(null, chunk);
      else extract.once('drain', () => done(null, chunk));
    },
    flush(done) {
      extract.once('finish', () => done());
      extract.end(null);
    },
  });
  extract.on('error', (e: unknown) => counter.destroy(e instanceof GyreError ? e : uploadError('workspace', e)));
  extract.on('entry', (h, entry, next) => {
    const name = h.name.replace(/\\/g, '/');
    if (name.includes('\0') || name.startsWith('/') || name.split('/').includes('..')) {
      counter.destroy(
        new ValidationError(`the workspace upload names ${JSON.stringify(h.name.slice(0, 200))}, outside its root: names are relative, without ".."`),
      );
      return;
    }
    if (h.type === 'file' || h.type === 'contiguous-file') seen.files++;
    entry.on('end', () => next());
    entry.resume();
  });
  return { counter, seen };
};

/** `persist_to_workspace`: the layer's tar, stored as it arrives. */
export const persistWorkspace = async (deps: JobFilesDeps, agent: FilesAgent, s: StepRef, tar: Readable): Promise<LayerStored> => {
  const job = await openStep(deps, agent, s);
  const objectKey = objectKeys.layer(s.jobId, s.taskIndex, s.stepIndex);
  const { counter, seen } = tarCounter();
  let info: Awaited<ReturnType<typeof deps.objects.put>>;
  try {
    info = await deps.objects.put(
      objectKey,
      pipe(tar, counter, () => undefined),
      { contentType: 'application/x-tar' },
    );
  } catch (e) {
    throw uploadError('workspace', e);
  }
  try {
    await recordFiles(deps, agent, job, s, { kind: 'workspace', objectKey, bytes: info.size, files: seen.files });
  } catch (e) {
    await removeQuietly(deps.objects, [objectKey]);
    throw e;
  }
  return { files: seen.files, bytes: info.size };
};

/**
 * The job that really ran for a workflow's job: a rerun from failed carries succeeded jobs over
 * without running them, so their files are those of the same job in the workflow rerun.
 */
const ranAs = async (deps: JobFilesDeps, job: JobRow, workflowId: string): Promise<string | null> => {
  let [current, wf] = [job, workflowId];
  for (let hops = 0; hops < 1000; hops++) {
    if (await jobRunById(deps.db, current.id)) return current.id;
    const rerunOf = (await workflowById(deps.db, wf))?.rerunOf;
    if (!rerunOf) return null;
    const before = (await jobsOfWorkflow(deps.db, rerunOf)).find((j) => j.name === current.name);
    if (!before) return null;
    [current, wf] = [before, rerunOf];
  }
  return null;
};

/** The jobs this job requires, directly or through others. */
const upstreamOf = (jobs: ReadonlyArray<JobRow>, jobId: string): JobRow[] => {
  const byId = new Map(jobs.map((j) => [j.id, j]));
  const found = new Set<string>();
  const visit = (id: string) => {
    for (const d of byId.get(id)?.dependencies ?? []) {
      if (found.has(d)) continue;
      found.add(d);
      visit(d);
    }
  };
  visit(jobId);
  return jobs.filter((j) => found.has(j.id));
};

/** `attach_workspace`: the layers of every job upstream of this one, in the order they were persisted (a later layer wins). */
export const workspaceLayers = async (deps: JobFilesDeps, agent: FilesAgent, s: StepRef): Promise<WorkspaceLayer[]> => {
  const job = await heldJob(deps, agent, s);
  const upstream = upstreamOf(await jobsOfWorkflow(deps.db, job.workflowId), job.jobId);
  const ran = (await Promise.all(upstream.map((j) => ranAs(deps, j, job.workflowId)))).filter((id): id is string => id !== null);
  return (await layersOfJobs(deps.db, ran)).map((l) => ({ layerId: l.layerId, job: l.jobName, bytes: l.bytes }));
};

/** A layer's tar, for a job that may attach it. */
export const readWorkspaceLayer = async (deps: JobFilesDeps, agent: FilesAgent, s: StepRef, layerId: string): Promise<Readable> => {
  const mine = await workspaceLayers(deps, agent, s);
  const noLayer = () => new NotFoundError('no such workspace layer for this job: attach_workspace reads the layers of the jobs it requires', 'LAYER_NOT_FOUND');
  if (!mine.some((l) => l.layerId === layerId)) throw noLayer();
  const layer = await layerById(deps.db, layerId);
  const object = layer && (await deps.objects.get(layer.objectKey));
  if (!object) throw noLayer();
  return object.body;
};
