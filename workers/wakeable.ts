/**
 * What a follower loop waits with: a pause and the calls of one round end early when it is woken
 * (its task ended, the configuration changed, the server stops). Each round starts with `round()`,
 * which forgets an earlier wake and gives the round a fresh signal to pass to its calls.
 */
export const wakeable = () => {
  let current = new AbortController();
  let woken = false;
  return {
    wake() {
      woken = true;
      current.abort();
    },
    /** Starts a round: its signal aborts when the loop is woken. */
    round(): AbortSignal {
      woken = false;
      current = new AbortController();
      return current.signal;
    },
    /** Waits `ms`, or less when woken (at once when woken already this round). */
    sleep(ms: number): Promise<void> {
      return new Promise<void>((resolve) => {
        if (woken) return resolve();
        const t = setTimeout(resolve, ms);
        current.signal.addEventListener(
          'abort',
          () => {
            clearTimeout(t);
            resolve();
          },
          { once: true },
        );
      });
    },
  };
};
