import type { Knex } from 'knex';
import type { CacheEvent, CacheScope } from '../domain/files/cache.ts';
import type { FileKind, JobEvent } from '../domain/jobs/job.ts';
import { uuidFrom } from '../domain/ids.ts';
import { defineProjection, isoTime } from './projection.ts';

/**
 * What jobs kept: artifacts, test results and workspace layers of each job, the project's caches, and
 * which kinds of a job's files retention removed. Objects live in the object store (domain/files/keys.ts).
 */
export const filesProjection = defineProjection({
  name: 'files',
  version: 1,
  handles: [
    { exact: 'job.artifacts.store' },
    { exact: 'job.tests.store' },
    { exact: 'job.workspace.persist' },
    { exact: 'job.files.expire' },
    { prefix: 'cache.' },
  ],
  tables: ['job_artifacts', 'job_tests', 'workspace_layers', 'expired_files', 'caches'],
  async migrate(db, t) {
    await db.raw(`create table if not exists ${t.job_artifacts} (
      job_id text not null, node_index int not null, path text not null, size bigint not null, step_index int not null, stored_at timestamptz not null,
      primary key (job_id, node_index, path))`);
    await db.raw(`create table if not exists ${t.job_tests} (
      job_id text not null, node_index int not null, step_index int not null, object_key text not null, passed int not null, failed int not null, skipped int not null,
      problems jsonb not null, stored_at timestamptz not null, primary key (job_id, node_index, step_index))`);
    await db.raw(`create table if not exists ${t.workspace_layers} (
      layer_id text primary key, job_id text not null, workflow_id text not null, job_name text not null, node_index int not null, step_index int not null,
      object_key text not null, bytes bigint not null, files int not null, position text not null, stored_at timestamptz not null)`);
    await db.raw(`create index if not exists ${t.workspace_layers}_job on ${t.workspace_layers} (job_id)`);
    await db.raw(
      `create table if not exists ${t.expired_files} (job_id text not null, kind text not null, expired_at timestamptz not null, primary key (job_id, kind))`,
    );
    await db.raw(`create table if not exists ${t.caches} (
      cache_id text primary key, project_id text not null, scope text not null, key text not null, object_key text not null, bytes bigint not null,
      job_id text not null, created_at timestamptz not null)`);
    await db.raw(`create index if not exists ${t.caches}_key on ${t.caches} (project_id, scope, key text_pattern_ops)`);
  },
  async apply(events, trx, t) {
    for (const recorded of events) {
      if (!recorded.metadata.success) continue;
      const at = recorded.occurredAt;
      const e = recorded as unknown as JobEvent | CacheEvent;
      switch (e.type) {
        case 'job.artifacts.store':
          if (e.data.artifacts.length)
            await trx(t.job_artifacts)
              .insert(
                e.data.artifacts.map((a) => ({
                  job_id: e.data.jobId,
                  node_index: e.data.taskIndex,
                  path: a.path,
                  size: a.size,
                  step_index: e.data.stepIndex,
                  stored_at: at,
                })),
              )
              .onConflict(['job_id', 'node_index', 'path'])
              .merge();
          break;
        case 'job.tests.store':
          await trx(t.job_tests)
            .insert({
              job_id: e.data.jobId,
              node_index: e.data.taskIndex,
              step_index: e.data.stepIndex,
              object_key: e.data.objectKey,
              ...e.data.counts,
              problems: JSON.stringify(e.data.problems),
              stored_at: at,
            })
            .onConflict(['job_id', 'node_index', 'step_index'])
            .merge();
          break;
        case 'job.workspace.persist':
          await trx(t.workspace_layers)
            .insert({
              layer_id: layerId(e.data.jobId, e.data.taskIndex, e.data.stepIndex),
              job_id: e.data.jobId,
              workflow_id: e.data.workflowId,
              job_name: e.data.name,
              node_index: e.data.taskIndex,
              step_index: e.data.stepIndex,
              object_key: e.data.objectKey,
              bytes: e.data.bytes,
              files: e.data.files,
              position: recorded.position,
              stored_at: at,
            })
            .onConflict('layer_id')
            .merge();
          break;
        case 'job.files.expire': {
          const job = e.data.jobId;
          for (const kind of e.data.kinds) {
            await trx(t.expired_files).insert({ job_id: job, kind, expired_at: at }).onConflict(['job_id', 'kind']).ignore();
            if (kind === 'artifacts') await trx(t.job_artifacts).where({ job_id: job }).delete();
            if (kind === 'tests') await trx(t.job_tests).where({ job_id: job }).delete();
            if (kind === 'workspace') await trx(t.workspace_layers).where({ job_id: job }).delete();
          }
          break;
        }
        case 'cache.save':
          await trx(t.caches)
            .insert({
              cache_id: e.data.cacheId,
              project_id: e.data.projectId,
              scope: e.data.scope,
              key: e.data.key,
              object_key: e.data.objectKey,
              bytes: e.data.bytes,
              job_id: e.data.jobId,
              created_at: at,
            })
            .onConflict('cache_id')
            .merge();
          break;
        case 'cache.expire':
          await trx(t.caches).where({ cache_id: e.data.cacheId }).delete();
          break;
      }
    }
  },
});

const { job_artifacts, job_tests, workspace_layers, expired_files, caches } = filesProjection.tables;
const json = (v: unknown) => (typeof v === 'string' ? JSON.parse(v) : v);

/** A workspace layer's id: one per persisting step of a job's task. */
export const layerId = (jobId: string, nodeIndex: number, stepIndex: number) => uuidFrom(`gyre workspace layer\n${jobId}\n${nodeIndex}\n${stepIndex}`);

export interface ArtifactRow {
  readonly nodeIndex: number;
  readonly path: string;
  readonly size: number;
  readonly storedAt: string;
}
/** A job's artifacts by node, then path (byte order); `after` is the last row of the previous page. */
export const artifactsOfJob = async (db: Knex, jobId: string, page: { after?: { nodeIndex: number; path: string }; limit: number }): Promise<ArtifactRow[]> => {
  let q = db(job_artifacts).where({ job_id: jobId });
  if (page.after) {
    const { nodeIndex, path } = page.after;
    q = q.andWhere((w) => w.where('node_index', '>', nodeIndex).orWhere((x) => x.where('node_index', nodeIndex).andWhereRaw('path collate "C" > ?', [path])));
  }
  const rows = (await q.orderBy('node_index').orderByRaw('path collate "C"').limit(page.limit)) as Array<Record<string, unknown>>;
  return rows.map((r) => ({ nodeIndex: Number(r.node_index), path: r.path as string, size: Number(r.size), storedAt: isoTime(r.stored_at) }));
};
export const artifactOfJob = async (db: Knex, jobId: string, nodeIndex: number, path: string): Promise<ArtifactRow | undefined> => {
  const r = await db(job_artifacts).where({ job_id: jobId, node_index: nodeIndex, path }).first();
  return r ? { nodeIndex: Number(r.node_index), path: r.path, size: Number(r.size), storedAt: isoTime(r.stored_at) } : undefined;
};

export interface TestResultsRow {
  readonly nodeIndex: number;
  readonly stepIndex: number;
  readonly objectKey: string;
  readonly counts: { passed: number; failed: number; skipped: number };
  readonly problems: ReadonlyArray<{ file: string; reason: string }>;
}
/** Each `store_test_results` step of the job, by node then step. */
export const testResultsOfJob = async (db: Knex, jobId: string): Promise<TestResultsRow[]> =>
  ((await db(job_tests).where({ job_id: jobId }).orderBy(['node_index', 'step_index'])) as Array<Record<string, unknown>>).map((r) => ({
    nodeIndex: Number(r.node_index),
    stepIndex: Number(r.step_index),
    objectKey: r.object_key as string,
    counts: { passed: Number(r.passed), failed: Number(r.failed), skipped: Number(r.skipped) },
    problems: json(r.problems) as TestResultsRow['problems'],
  }));
/** The job's tests counted over all its reports; null when it stored none. */
export const testCountsOfJob = async (db: Knex, jobId: string): Promise<{ passed: number; failed: number; skipped: number } | null> => {
  const rows = await testResultsOfJob(db, jobId);
  if (!rows.length) return null;
  return rows.reduce((a, r) => ({ passed: a.passed + r.counts.passed, failed: a.failed + r.counts.failed, skipped: a.skipped + r.counts.skipped }), {
    passed: 0,
    failed: 0,
    skipped: 0,
  });
};

export interface LayerRow {
  readonly layerId: string;
  readonly jobId: string;
  readonly jobName: string;
  readonly objectKey: string;
  readonly bytes: number;
  readonly files: number;
}
const toLayer = (r: Record<string, unknown>): LayerRow => ({
  layerId: r.layer_id as string,
  jobId: r.job_id as string,
  jobName: r.job_name as string,
  objectKey: r.object_key as string,
  bytes: Number(r.bytes),
  files: Number(r.files),
});
/** The layers these jobs persisted, in the order they were persisted. */
export const layersOfJobs = async (db: Knex, jobIds: ReadonlyArray<string>): Promise<LayerRow[]> =>
  jobIds.length
    ? (
        (await db(workspace_layers)
          .whereIn('job_id', [...jobIds])
          .orderBy('position')) as Array<Record<string, unknown>>
      ).map(toLayer)
    : [];
export const layerById = async (db: Knex, id: string): Promise<LayerRow | undefined> => {
  const r = await db(workspace_layers).where({ layer_id: id }).first();
  return r ? toLayer(r) : undefined;
};

export interface CacheRow {
  readonly cacheId: string;
  readonly projectId: string;
  readonly scope: CacheScope;
  readonly key: string;
  readonly objectKey: string;
  readonly bytes: number;
  readonly jobId: string;
  readonly createdAt: string;
}
const toCache = (r: Record<string, unknown>): CacheRow => ({
  cacheId: r.cache_id as string,
  projectId: r.project_id as string,
  scope: r.scope as CacheScope,
  key: r.key as string,
  objectKey: r.object_key as string,
  bytes: Number(r.bytes),
  jobId: r.job_id as string,
  createdAt: isoTime(r.created_at),
});
/** A project's caches in a scope whose key is `key` or starts with it, newest first (at most `limit`). */
export const cachesStartingWith = async (db: Knex, projectId: string, scope: CacheScope, key: string, limit = 50): Promise<CacheRow[]> => {
  const escaped = key.replace(/[\\%_]/g, (c) => `\\${c}`);
  const rows = await db(caches)
    .where({ project_id: projectId, scope })
    .andWhereRaw(`key like ? escape '\\'`, [`${escaped}%`])
    .orderBy('created_at', 'desc')
    .limit(limit);
  return (rows as Array<Record<string, unknown>>).map(toCache);
};
export const cacheById = async (db: Knex, id: string): Promise<CacheRow | undefined> => {
  const r = await db(caches).where({ cache_id: id }).first();
  return r ? toCache(r) : undefined;
};

/** The kinds of the job's files retention removed. */
export const expiredKinds = async (db: Knex, jobId: string): Promise<FileKind[]> =>
  (await db(expired_files).where({ job_id: jobId }).pluck('kind')) as FileKind[];

/** The kinds of files the job has no record of, kept or expired: any object of theirs was never recorded. */
export const unrecordedKinds = async (db: Knex, jobId: string): Promise<Array<'artifacts' | 'tests' | 'workspace'>> => {
  const expired = await expiredKinds(db, jobId);
  const held = async (table: string) => (await db(table).where({ job_id: jobId }).first('job_id')) !== undefined;
  const tables = { artifacts: job_artifacts, tests: job_tests, workspace: workspace_layers } as const;
  const out: Array<'artifacts' | 'tests' | 'workspace'> = [];
  for (const kind of ['artifacts', 'tests', 'workspace'] as const) if (!expired.includes(kind) && !(await held(tables[kind]))) out.push(kind);
  return out;
};
