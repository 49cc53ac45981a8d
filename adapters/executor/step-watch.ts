import type { StepResult, StepRun } from './port.ts';

/**
 * Watches one running step for both environments: each chunk of output restarts the no-output
 * clock; the clock running out or the signal aborting calls `kill` once, and the result then says
 * why the step ended.
 */
export const watchStep = (step: StepRun, kill: () => void) => {
  let ended: StepResult['ended'] = 'exited';
  let timer: NodeJS.Timeout | undefined;
  const stop = (why: Exclude<StepResult['ended'], 'exited'>) => {
    if (ended !== 'exited') return;
    ended = why;
    clearTimeout(timer);
    kill();
  };
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => stop('no_output_timeout'), step.noOutputTimeoutMs);
  };
  const onAbort = () => stop('aborted');
  arm();
  step.signal?.addEventListener('abort', onAbort, { once: true });
  if (step.signal?.aborted) onAbort();
  return {
    /** Kills the step as an abort would (the environment is closing). */
    abort: onAbort,
    get stopped() {
      return ended !== 'exited';
    },
    output(chunk: Buffer) {
      if (ended === 'exited') arm();
      step.onOutput(chunk);
    },
    result(exitCode: number | null): StepResult {
      clearTimeout(timer);
      step.signal?.removeEventListener('abort', onAbort);
      return ended === 'exited' ? { exitCode, ended } : { exitCode: null, ended };
    },
  };
};
