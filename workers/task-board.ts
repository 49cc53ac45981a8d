/**
 * Wakes agents' waiting claims in this process when a task may have become available (queued, or
 * capacity freed). Claims on other servers notice within their poll interval.
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
