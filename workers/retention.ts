import type { Knex } from 'knex';
import type { CommandHandler } from '../application/commands.ts';
import type { Logger } from '../application/dependencies.ts';
import { cacheDecider, cacheStream, cacheTarget } from '../domain/files/cache.ts';
import { expiryCutoffs, kindsByJob } from '../domain/files/retention.ts';
import { systemActor, type CommandContext } from '../domain/events/envelope.ts';
import { FileKind, jobDecider, jobStream, jobTarget } from '../domain/jobs/job.ts';
import { cachesDue, jobsWithFilesDue, type Cursor, type DueJob } from '../projections/retention.ts';
import { systemSettings } from '../projections/system-settings.ts';

export interface RetentionDeps {
  readonly db: Knex;
  readonly commands: CommandHandler;
  readonly log: Logger;
  /** The clock expiry is measured against. */
  readonly now?: () => Date;
  /** Jobs (or caches) read per page, and pages per kind in one sweep: a sweep's work is bounded. */
  readonly batchSize?: number;
  readonly maxBatches?: number;
}

export interface SweepResult {
  /** `job.files.expire` events this sweep recorded (another server's sweep may have recorded the rest). */
  readonly jobs: number;
  readonly caches: number;
}

/**
 * Retention: expires what has been kept longer than the system settings allow. Each job's kinds that
 * are due go in one `expireFiles` command on its stream, each cache's in one `expire`; a reactor then
 * deletes the objects. Servers sweeping at once record each expiry once: the deciders make a second
 * expire change nothing.
 */
export const createRetentionSweeper = (deps: RetentionDeps) => {
  const now = deps.now ?? (() => new Date());
  const limit = deps.batchSize ?? 100;
  const maxBatches = deps.maxBatches ?? 10;
  const context = (correlationId?: string): CommandContext => ({ actor: systemActor, request: null, ...(correlationId ? { correlationId } : {}) });

  /** Whether the last sweep stopped at its batch limit with more due. */
  let full = false;

  const expireJobs = async (cutoffs: ReturnType<typeof expiryCutoffs>): Promise<number> => {
    let recorded = 0;
    const cursors = new Map<FileKind, Cursor | undefined>(FileKind.options.map((k) => [k, undefined]));
    for (let batch = 0; batch < maxBatches && cursors.size; batch++) {
      const due: Array<{ kind: FileKind; jobs: DueJob[] }> = [];
      for (const [kind, after] of [...cursors]) {
        const jobs = await jobsWithFilesDue(deps.db, kind, cutoffs[kind], { after, limit });
        due.push({ kind, jobs });
        if (jobs.length < limit) cursors.delete(kind);
        else cursors.set(kind, jobs[jobs.length - 1]!.cursor);
      }
      for (const { job, kinds } of kindsByJob(due)) {
        try {
          const r = await deps.commands.execute({
            stream: jobStream(job.jobId),
            decider: jobDecider,
            command: { type: 'expireFiles', kinds },
            context: context(job.pipelineId),
            target: jobTarget(job),
            maxAttempts: 20,
          });
          recorded += r.events.length;
        } catch (err) {
          deps.log.warn({ err, jobId: job.jobId, kinds }, 'retention could not expire the files of a job; the next sweep tries again');
        }
      }
    }
    if (cursors.size) full = true;
    return recorded;
  };

  const expireCaches = async (before: Date): Promise<number> => {
    let recorded = 0;
    let after: Cursor | undefined;
    for (let batch = 0; batch < maxBatches; batch++) {
      const due = await cachesDue(deps.db, before, { after, limit });
      for (const c of due) {
        try {
          const r = await deps.commands.execute({
            stream: cacheStream(c.cacheId),
            decider: cacheDecider,
            command: { type: 'expire' },
            context: context(),
            target: cacheTarget(c),
          });
          recorded += r.events.length;
        } catch (err) {
          deps.log.warn({ err, cacheId: c.cacheId }, 'retention could not expire a cache; the next sweep tries again');
        }
      }
      if (due.length < limit) return recorded;
      after = due[due.length - 1]!.cursor;
    }
    full = true;
    return recorded;
  };

  return {
    async sweep(): Promise<SweepResult> {
      full = false;
      const cutoffs = expiryCutoffs(await systemSettings(deps.db), now());
      return { jobs: await expireJobs(cutoffs), caches: await expireCaches(cutoffs.cache) };
    },
    /** The last sweep used its whole budget: more may be due now. */
    wasFull: () => full,
  };
};

/** Sweeps every `intervalMs`, the first time soon after start (a server restarted often still sweeps). */
/** `startDelayMs`: until the first sweep (at most a minute by default). */
export const startRetentionSweeper = (deps: RetentionDeps & { intervalMs: number; startDelayMs?: number }) => {
  const sweeper = createRetentionSweeper(deps);
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let sweeping: Promise<unknown> = Promise.resolve();
  const loop = (delay: number) => {
    if (stopped) return;
    timer = setTimeout(() => {
      sweeping = sweeper
        .sweep()
        // a sweep that used its whole budget is followed by the next a second later, not an interval
        .then(() => loop(sweeper.wasFull() ? 1000 : deps.intervalMs))
        .catch((err: unknown) => {
          deps.log.error({ err }, 'retention sweep failed');
          loop(deps.intervalMs);
        });
    }, delay);
  };
  loop(deps.startDelayMs ?? Math.min(deps.intervalMs, 60_000));
  return {
    sweep: sweeper.sweep,
    /** Stops sweeping, after the sweep under way (the database may close next). */
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await sweeping;
    },
  };
};
