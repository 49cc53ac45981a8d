import type { Position } from '../domain/events/envelope.ts';

/** Callers waiting until a follower of the log (projections, reactors) has passed a position. */
export interface PositionWaiters {
  /** Resolves true once `reached()` is at or past `position`, false when the time is up or on `cancelAll`. */
  waitFor(position: Position, timeoutMs: number): Promise<boolean>;
  /** Call after the followers moved: wakes the waiters they have now passed. */
  wake(): void;
  cancelAll(): void;
}

export const createPositionWaiters = (reached: () => Position): PositionWaiters => {
  let waiters: Array<{ position: Position; resolve: (ok: boolean) => void }> = [];
  return {
    waitFor(position, timeoutMs) {
      if (reached() >= position) return Promise.resolve(true);
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          waiters = waiters.filter((w) => w !== waiter);
          resolve(false);
        }, timeoutMs);
        const waiter = {
          position,
          resolve: (ok: boolean) => {
            clearTimeout(timer);
            resolve(ok);
          },
        };
        waiters.push(waiter);
      });
    },
    wake() {
      const at = reached();
      waiters = waiters.filter((w) => (w.position <= at ? (w.resolve(true), false) : true));
    },
    cancelAll() {
      for (const w of waiters) w.resolve(false);
      waiters = [];
    },
  };
};
