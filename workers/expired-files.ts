import type { Knex } from 'knex';
import type { ObjectStore } from '../adapters/objectstore/port.ts';
import { unrecordedKinds } from '../projections/files.ts';
import type { OutputStore } from '../adapters/output/port.ts';
import type { CacheEvent } from '../domain/files/cache.ts';
import { objectKeys } from '../domain/files/keys.ts';
import type { JobEvent } from '../domain/jobs/job.ts';
import type { Reactor } from './reactor.ts';

/**
 * Deletes the objects of files retention expired: each kind of a job's files, and an expired cache's
 * object (that save's only: the key may have been saved again since). Deleting what is gone already
 * is no error, so an event delivered twice is harmless.
 */
export const expiredFilesRemover = (deps: { db: Knex; objects: ObjectStore; output: Pick<OutputStore, 'removeJob'> }): Reactor => ({
  name: 'expired-files-remover',
  handles: [{ exact: 'job.files.expire' }, { exact: 'cache.expire' }],
  reads: ['files'],
  async react(event) {
    const e = event as unknown as JobEvent | CacheEvent;
    if (e.type === 'cache.expire') {
      await deps.objects.delete(e.data.objectKey);
      return;
    }
    if (e.type !== 'job.files.expire') return;
    for (const kind of e.data.kinds) {
      if (kind === 'output') await deps.output.removeJob(e.data.jobId);
      await deps.objects.deleteMany(objectKeys.jobFiles(e.data.jobId, kind));
    }
    // every job has output: when it goes, so do objects an upload left unrecorded (a server that died
    // between writing and recording), of the kinds the finished job has no record of
    if (e.data.kinds.includes('output')) {
      for (const kind of await unrecordedKinds(deps.db, e.data.jobId)) await deps.objects.deleteMany(objectKeys.jobFiles(e.data.jobId, kind));
    }
  },
});
