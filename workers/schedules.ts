import type { Logger, UseCases, WithConfigs, WithGit, WithStore, WithVault } from '../application/dependencies.ts';
import { fireDueSchedules, startScheduledRun } from '../application/schedules.ts';
import type { Position } from '../domain/events/envelope.ts';
import type { Reactor } from './reactor.ts';

/**
 * Starts the pipelines of each scheduled run decided (`schedule.trigger`, `schedule.workflow.trigger`).
 * Before it looks whether a run's pipeline exists (after a crash between the start and the checkpoint)
 * it waits for the read models to reach the end of the log, where that pipeline would be.
 */
export const scheduledRunStarter = (
  deps: UseCases &
    WithStore &
    WithGit &
    WithVault &
    WithConfigs & { log: Logger; projections: { waitFor(position: Position, timeoutMs: number): Promise<boolean> } },
): Reactor => ({
  name: 'scheduled-run-starter',
  handles: [{ exact: 'schedule.trigger' }, { exact: 'schedule.workflow.trigger' }],
  reads: ['pipelines', 'projects', 'project-follows', 'users', 'memberships', 'orbs'],
  react: (event) =>
    startScheduledRun(
      {
        ...deps,
        // the pipeline is read back once started: wait for the read models to hold it
        readYourWrites: async ({ position }) => {
          if (position) await deps.projections.waitFor(position, 30_000);
        },
        waitForReadModels: async () => {
          if (!(await deps.projections.waitFor(await deps.store.head(), 30_000)))
            throw new Error('the read models did not reach the end of the log within 30s');
        },
      },
      event,
    ),
});

export interface ScheduleWorkerDeps extends UseCases {
  readonly log: Logger;
  /** The schedules' clock (tests move it past a slot). */
  readonly now: () => number;
  readonly intervalMs: number;
}

/**
 * Every `intervalMs`, decides the runs that are due by the clock (application/schedules.ts
 * `fireDueSchedules`). Every server runs one; the schedules' streams make each slot fire once.
 */
export const startScheduleWorker = (deps: ScheduleWorkerDeps) => {
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let ticking: Promise<unknown> = Promise.resolve();
  const tick = () => fireDueSchedules(deps, new Date(deps.now()));
  const loop = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      ticking = tick()
        .catch((err: unknown) => deps.log.error({ err }, 'the schedules worker failed to look for due schedules'))
        .finally(loop);
    }, deps.intervalMs);
  };
  loop();
  return {
    /** Looks once now, beside the timer: how many runs it decided. */
    tick,
    /** Stops looking, after the look under way (the database may close next). */
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await ticking;
    },
  };
};
