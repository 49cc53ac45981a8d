import type { Knex } from 'knex';
import type { Logger } from '../application/dependencies.ts';
import { runningTasks } from '../projections/jobs.ts';
import type { Dispatch } from './dispatch.ts';
import { liveAgentIds } from './dispatch.ts';

/**
 * Ends the tasks Gyre has given up on: those whose agent missed its heartbeats for a whole lease
 * (`infrastructure_fail`; the task is never given to another agent, so it never runs twice), and
 * those past their time limit whose agent did not stop them (`timedout`).
 */
export const startLeaseKeeper = (deps: { db: Knex; dispatch: Dispatch; leaseMs: number; log: Logger }) => {
  const graceMs = 60_000;
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  const sweep = async () => {
    const live = await liveAgentIds(deps.db, deps.leaseMs);
    const now = Date.now();
    for (const t of await runningTasks(deps.db)) {
      if (!t.agentId || !t.startedAt) continue;
      const started = Date.parse(t.startedAt);
      // a task claimed within the lease may belong to an agent not yet seen by this read
      if (!live.has(t.agentId) && now - started > deps.leaseMs) {
        await deps.dispatch.endTask(
          t,
          'infrastructure_fail',
          `agent ${t.agentName ?? t.agentId} stopped answering: no heartbeat for ${Math.round(deps.leaseMs / 1000)} s`,
        );
      } else if (now - started > t.timeoutMs + graceMs) {
        await deps.dispatch.endTask(t, 'timedout', `the job ran past its time limit and its agent did not stop it`);
      }
    }
  };
  let sweeping: Promise<void> = Promise.resolve();
  const loop = () => {
    if (stopped) return;
    timer = setTimeout(
      () => {
        sweeping = sweep()
          .catch((err: unknown) => deps.log.error({ err }, 'lease keeper sweep failed'))
          .finally(loop);
      },
      Math.max(250, Math.floor(deps.leaseMs / 4)),
    );
  };
  loop();
  return {
    sweep,
    /** Stops sweeping, after the sweep under way (the database may close next). */
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await sweeping;
    },
  };
};
