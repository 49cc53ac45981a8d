import type { Readable } from 'node:stream';
import type { ObjectStore } from '../adapters/objectstore/port.ts';
import { NotFoundError, ValidationError } from '../domain/errors.ts';
import { objectKeys, testsPerChunk } from '../domain/files/keys.ts';
import type { TestResult } from '../domain/files/test-results.ts';
import { artifactOfJob, artifactsOfJob, expiredKinds, testResultsOfJob, type ArtifactRow } from '../projections/files.ts';
import type { Reads } from './dependencies.ts';

/** Reads of what jobs kept: the read models for lists, the object store for contents. */
export interface FileReads extends Reads {
  readonly objects: ObjectStore;
}

export interface Page<T> {
  readonly items: ReadonlyArray<T>;
  /** The cursor of the next page (opaque to callers), null on the last. */
  readonly next: string | null;
}

/** An artifact's address, served by Gyre (the path in CircleCI's artifact URLs: /output/job/<job>/artifacts/<node>/<path>). */
export const artifactUrl = (base: string, jobId: string, nodeIndex: number, path: string) =>
  `${base}/output/job/${jobId}/artifacts/${nodeIndex}/${path.split('/').map(encodeURIComponent).join('/')}`;

/** A job's artifacts, a page at a time, by node then path. */
export const artifactsPage = async (s: Reads, jobId: string, cursor: string | undefined, limit: number): Promise<Page<ArtifactRow>> => {
  let after: { nodeIndex: number; path: string } | undefined;
  if (cursor !== undefined) {
    const m = /^(\d{1,3})\/(.+)$/s.exec(cursor);
    if (!m) throw new ValidationError('page-token is not a token this API gave out');
    after = { nodeIndex: Number(m[1]), path: m[2]! };
  }
  const rows = await artifactsOfJob(s.db, jobId, { after, limit: limit + 1 });
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return { items, next: rows.length > limit && last ? `${last.nodeIndex}/${last.path}` : null };
};

const gone = () => new NotFoundError('the artifact is listed but its object is gone from the store', 'ARTIFACT_NOT_FOUND');

/** A kept artifact and its size, and a way to read it (whole or a byte range); a NotFoundError when it is not, or no longer, kept. */
export const findArtifact = async (s: FileReads, jobId: string, nodeIndex: number, path: string) => {
  const artifact = await artifactOfJob(s.db, jobId, nodeIndex, path);
  if (!artifact) {
    const expired = (await expiredKinds(s.db, jobId)).includes('artifacts');
    throw new NotFoundError(
      expired ? 'the artifacts of this job have expired (see artifactRetentionDays in the system settings)' : 'no such artifact',
      expired ? 'ARTIFACT_EXPIRED' : 'ARTIFACT_NOT_FOUND',
    );
  }
  const key = objectKeys.artifact(jobId, nodeIndex, path);
  const head = await s.objects.head(key);
  if (!head) throw gone();
  return {
    artifact,
    size: head.size,
    async read(range?: { start: number; end: number }): Promise<Readable> {
      const read = await s.objects.get(key, range ? { range } : undefined);
      if (!read) throw gone();
      return read.body;
    },
  };
};

const readAll = async (body: Readable): Promise<string> => {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks).toString('utf8');
};

/**
 * A job's tests over all its reports, by node then step, a page at a time; the cursor is the index of
 * the next test. Tests are kept in chunks of `testsPerChunk`: a page reads only the chunks it shows.
 */
export const testsPage = async (s: FileReads, jobId: string, cursor: string | undefined, limit: number): Promise<Page<TestResult>> => {
  if (cursor !== undefined && !/^\d{1,9}$/.test(cursor)) throw new ValidationError('page-token is not a token this API gave out');
  const from = cursor === undefined ? 0 : Number(cursor);
  const items: TestResult[] = [];
  let seen = 0;
  for (const stored of await testResultsOfJob(s.db, jobId)) {
    const total = stored.counts.passed + stored.counts.failed + stored.counts.skipped;
    if (seen + total <= from) {
      seen += total;
      continue;
    }
    for (let chunk = Math.floor(Math.max(from - seen, 0) / testsPerChunk); chunk * testsPerChunk < total; chunk++) {
      const read = await s.objects.get(objectKeys.testsChunk(stored.objectKey, chunk));
      if (!read) throw new NotFoundError('the test results are listed but their objects are gone from the store', 'TESTS_NOT_FOUND');
      const tests = JSON.parse(await readAll(read.body)) as TestResult[];
      for (const [i, t] of tests.entries()) {
        const index = seen + chunk * testsPerChunk + i;
        if (index < from) continue;
        if (items.length === limit) return { items, next: String(index) };
        items.push(t);
      }
    }
    seen += total;
  }
  return { items, next: null };
};
