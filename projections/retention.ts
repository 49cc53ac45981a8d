import type { Knex } from 'knex';
import type { FileKind } from '../domain/jobs/job.ts';
import { filesProjection } from './files.ts';
import { jobsProjection } from './jobs.ts';
import { isoTime } from './projection.ts';

/**
 * What retention may remove, read from the jobs and files read models: finished jobs whose files of a
 * kind are older than a cutoff and not yet expired, and caches saved before one. Pages are keyset on
 * (time, id), oldest first, so a sweep moves on even before the read models hear of its expiries.
 */
const { jobs, job_steps } = jobsProjection.tables;
const { job_artifacts, job_tests, workspace_layers, expired_files, caches } = filesProjection.tables;

export interface DueJob {
  readonly jobId: string;
  readonly name: string;
  readonly pipelineId: string;
  /** When the kind's newest file was kept (output: when the job stopped). */
  readonly at: string;
  /** Where the next page starts (the time at full precision). */
  readonly cursor: Cursor;
}
export interface Cursor {
  readonly at: string;
  readonly id: string;
}
export interface Page {
  readonly after?: Cursor;
  readonly limit: number;
}

/** A kind's files of each job, with the time the newest of them was kept. */
const keptAt: Record<FileKind, string> = {
  output: `select job_id, stopped_at as at from ${jobs} j where stopped_at is not null and exists (select 1 from ${job_steps} s where s.job_id = j.job_id)`,
  artifacts: `select job_id, max(stored_at) as at from ${job_artifacts} group by job_id`,
  tests: `select job_id, max(stored_at) as at from ${job_tests} group by job_id`,
  workspace: `select job_id, max(stored_at) as at from ${workspace_layers} group by job_id`,
};

/** Finished jobs whose files of `kind` were all kept before `before` and have not expired. */
export const jobsWithFilesDue = async (db: Knex, kind: FileKind, before: Date, page: Page): Promise<DueJob[]> => {
  const after = page.after ? `and (k.at, k.job_id) > (?::timestamptz, ?)` : '';
  const rows = await db.raw(
    `select k.job_id, k.at, k.at::text as cursor_at, j.name, j.pipeline_id from (${keptAt[kind]}) k
       join ${jobs} j on j.job_id = k.job_id and j.stopped_at is not null
     where k.at < ? ${after}
       and not exists (select 1 from ${expired_files} x where x.job_id = k.job_id and x.kind = ?)
     order by k.at, k.job_id limit ?`,
    [before.toISOString(), ...(page.after ? [page.after.at, page.after.id] : []), kind, page.limit],
  );
  return (rows.rows as Array<Record<string, unknown>>).map((r) => ({
    jobId: r.job_id as string,
    name: r.name as string,
    pipelineId: r.pipeline_id as string,
    at: isoTime(r.at),
    cursor: { at: r.cursor_at as string, id: r.job_id as string },
  }));
};

export interface DueCache {
  readonly cacheId: string;
  readonly key: string;
  readonly createdAt: string;
  readonly cursor: Cursor;
}
/** Caches saved before `before`, oldest first. */
export const cachesDue = async (db: Knex, before: Date, page: Page): Promise<DueCache[]> => {
  let q = db(caches).where('created_at', '<', before.toISOString());
  if (page.after) q = q.andWhereRaw('(created_at, cache_id) > (?::timestamptz, ?)', [page.after.at, page.after.id]);
  const rows = (await q
    .orderBy(['created_at', 'cache_id'])
    .limit(page.limit)
    .select('cache_id', 'key', 'created_at', db.raw('created_at::text as cursor_at'))) as Array<Record<string, unknown>>;
  return rows.map((r) => ({
    cacheId: r.cache_id as string,
    key: r.key as string,
    createdAt: isoTime(r.created_at),
    cursor: { at: r.cursor_at as string, id: r.cache_id as string },
  }));
};

/** When retention removed this kind of the job's files; null while they are kept. */
export const expiredAt = async (db: Knex, jobId: string, kind: FileKind): Promise<string | null> => {
  const r = await db(expired_files).where({ job_id: jobId, kind }).first('expired_at');
  return r ? isoTime(r.expired_at) : null;
};
