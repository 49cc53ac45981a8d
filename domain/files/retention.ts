import type { SystemSettings } from '../system/settings.ts';
import type { FileKind } from '../jobs/job.ts';

const dayMs = 86_400_000;

/** Which setting keeps each kind of file. */
export const retentionOf = {
  output: 'outputRetentionDays',
  artifacts: 'artifactRetentionDays',
  tests: 'testResultRetentionDays',
  workspace: 'workspaceRetentionDays',
  cache: 'cacheRetentionDays',
} as const satisfies Record<FileKind | 'cache', keyof SystemSettings>;

/** For each kind, the time before which its files have expired at `now`. */
export const expiryCutoffs = (settings: SystemSettings, now: Date): Record<FileKind | 'cache', Date> =>
  Object.fromEntries(Object.entries(retentionOf).map(([kind, field]) => [kind, new Date(now.getTime() - settings[field] * dayMs)])) as Record<
    FileKind | 'cache',
    Date
  >;

/** Jobs due for expiry, by kind, as one list of kinds per job: a job's kinds expire in one command. */
export const kindsByJob = <J extends { jobId: string }>(
  due: ReadonlyArray<{ kind: FileKind; jobs: ReadonlyArray<J> }>,
): Array<{ job: J; kinds: FileKind[] }> => {
  const byJob = new Map<string, { job: J; kinds: FileKind[] }>();
  for (const { kind, jobs } of due) {
    for (const job of jobs) {
      const entry = byJob.get(job.jobId) ?? { job, kinds: [] };
      if (!entry.kinds.includes(kind)) entry.kinds.push(kind);
      byJob.set(job.jobId, entry);
    }
  }
  return [...byJob.values()];
};
