import type { Position } from '../domain/events/envelope.ts';

/** Callers waiting until followers of the log (projections, reactors) have passed a position. */
export interface PositionWaiters {
  /** Resolves true once `reached()` (or the waiter's own `reached`) is at or past `position`; false when the time is up or on `cancelAll`. */
  waitFor(position: Position, timeoutMs: number, reached?: () => Position): Promise<boolean>;
  /** Call after a follower moved: wakes the waiters that are now passed. */
  wake(): void;
  cancelAll(): void;
}

export const createPositionWaiters = (reachedByAll: () => Position): PositionWaiters => {
  let waiters: Array<{ position: Position; reached: () => Position; resolve: (ok: boolean) => void }> = [];
  return {
    waitFor(position, timeoutMs, reached = reachedByAll) {
      if (reached() >= position) return Promise.resolve(true);
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          waiters = waiters.filter((w) => w !== waiter);
          resolve(false);
        }, timeoutMs);
        const waiter = {
          position,
          reached,
          resolve: (ok: boolean) => {
            clearTimeout(timer);
            resolve(ok);
          },
        };
        waiters.push(waiter);
      });
    },
    wake() {
      const waiting: typeof waiters = [];
      const ready: typeof waiters = [];
      for (const w of waiters) (w.position <= w.reached() ? ready : waiting).push(w);
      waiters = waiting;
      for (const w of ready) w.resolve(true);
    },
    cancelAll() {
      for (const w of waiters) w.resolve(false);
      waiters = [];
    },
  };
};
