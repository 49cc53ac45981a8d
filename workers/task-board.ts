import type { EventStore } from '../adapters/eventstore/port.ts';
import type { Position } from '../domain/events/envelope.ts';

/**
 * Wakes agents' waiting claims in this process when a task may have become available (queued, or
 * capacity freed), here or on another server (`wakeBoardOnJobEvents`).
 */
export interface TaskBoard {
  notify(): void;
  /** Resolves when notified, after `ms`, or on abort, whichever comes first. */
  wait(ms: number, signal?: AbortSignal): Promise<void>;
}

export const createTaskBoard = (): TaskBoard => {
  let waiters = new Set<() => void>();
  return {
    notify() {
      const woken = waiters;
      waiters = new Set();
      for (const w of woken) w();
    },
    wait: (ms, signal) =>
      new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          waiters.delete(done);
          signal?.removeEventListener('abort', done);
          resolve();
        };
        const timer = setTimeout(done, ms);
        waiters.add(done);
        signal?.addEventListener('abort', done, { once: true });
      }),
  };
};

/** Job events after which a task may have become available: one queued, one ended, a job canceled. */
const availability = [{ exact: 'job.queue' }, { exact: 'job.task.finish' }, { exact: 'job.cancel' }, { exact: 'agent.register' }];

/**
 * Wakes the board for every job event that may free or add a task, on whichever server appended it:
 * the log's one tail tells every server, once the jobs read model (which claims read) holds it.
 */
export const wakeBoardOnJobEvents = (deps: {
  readonly store: EventStore;
  readonly projections: { waitFor(position: Position, timeoutMs: number, only?: ReadonlyArray<string>): Promise<boolean> };
  readonly board: TaskBoard;
  readonly log: { warn(fields: object, message: string): void };
}) => {
  const controller = new AbortController();
  const following = (async () => {
    while (!controller.signal.aborted) {
      try {
        for await (const page of deps.store.subscribe('end', { filter: { types: availability }, signal: controller.signal })) {
          if (!page.events.length) continue;
          await deps.projections.waitFor(page.next, 5000, ['jobs']);
          deps.board.notify();
        }
      } catch (err) {
        if (controller.signal.aborted) return;
        deps.log.warn({ err }, 'the task board stopped hearing job events; following again');
        // waiting claims still look again on their own meanwhile (dispatch's claimLookMs)
        await deps.board.wait(1000, controller.signal);
      }
    }
  })();
  return {
    async stop() {
      controller.abort();
      await following;
    },
  };
};
